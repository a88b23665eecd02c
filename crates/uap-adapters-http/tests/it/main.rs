//! Integration tests of the HTTP adapters, with wiremock standing in for the
//! CAPTCHA providers, a host's webhook and a host's user API.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests fail loudly")]

mod captcha;
mod host_api;
mod support;
mod webhook;
