//! End-to-end tests of the HTTP surface: the real `Application` on a random
//! port, real HTTP, real host databases.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests fail loudly")]

mod bad_input;
mod custom;
mod flow;
mod formats;
mod openapi;
mod support;
mod tokens;
