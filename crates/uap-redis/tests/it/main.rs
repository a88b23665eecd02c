//! Integration tests of the Redis adapters: the port contracts against the
//! Redis at `UAP_TEST_REDIS_URL` (a fresh key prefix per test, its keys deleted
//! afterwards), against a 3-master Redis Cluster started by the test, and
//! fault tests that stop and restart their own `redis-server`. Without the URL
//! (or without `redis-server`) those tests print `skipping:` and pass, unless
//! `UAP_REQUIRE_INTEGRATION=1`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests fail loudly")]

mod cluster;
mod contract;
mod events;
mod faults;
mod sentinel;
mod server;
mod support;
