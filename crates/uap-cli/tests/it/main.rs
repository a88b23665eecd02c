//! End-to-end tests of the `uap` binary: the real process, real HTTP, real
//! host databases.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests fail loudly")]

mod address_protection;
mod audit;
mod check;
mod config_api;
mod demo;
mod discover;
mod events;
mod hardening;
mod host_api;
mod mfa_security;
mod nginx;
mod observability;
mod pipeline;
mod proxy;
mod refresh_security;
mod rust_client;
mod scaleout;
mod serve;
mod shadow;
mod support;
mod telemetry;
mod timing;
