//! Domain tests: in-memory ports, a manual clock, no runtime beyond a
//! blocking executor.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests fail loudly")]

mod budgets;
mod delegated;
mod fakes;
mod login;
mod memory_store;
mod password_vectors;
mod pipeline;
mod sessions;
mod timing;
