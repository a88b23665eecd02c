//! Integration tests of the HTTP adapters, with wiremock standing in for the
//! CAPTCHA providers and for a host's webhook.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests fail loudly")]

mod captcha;
mod support;
mod webhook;
