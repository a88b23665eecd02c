//! Integration tests of the SDK against fake UAPs (wiremock, and a small
//! hand-written server for the endless event stream).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests fail loudly")]

mod actix_extractor;
mod client;
mod local;
mod support;
mod tower_layer;
