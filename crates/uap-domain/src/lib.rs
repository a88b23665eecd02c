//! UAP's rules: the authentication engine, sessions and their tokens, password
//! formats, the typed configuration and its validation.
//!
//! Everything here is I/O-free: the outside world is reached through the
//! traits of `uap-ports` only. This crate must never depend on actix, sea-orm,
//! sqlx, fred, reqwest, hyper, utoipa or tokio's I/O; `cargo xtask ci` checks it.

pub mod auth;
pub mod config;
pub mod memory;
pub mod mfa;
pub mod password;
pub mod pipeline;
pub mod session;
pub mod user_data;

pub mod audit;

pub use audit::{AuditRecorder, EventDetails};
