//! End-to-end tests of the `uap` binary: the real process, real HTTP, real
//! host databases.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests fail loudly")]

mod check;
mod demo;
mod pipeline;
mod proxy;
mod scaleout;
mod serve;
mod support;
mod timing;
