//! Rust SDK for UAP (CONTRACT §8): a typed async [`UapClient`] for every
//! route of §3, a [`Validator`] that turns a bearer token into an
//! [`AuthenticatedUser`] — remotely (`GET /api/v1/auth/validate`, the default)
//! or, with the `local` feature, in-process against the JWKS and the
//! revocation feed — and the framework integrations: an actix-web extractor
//! (feature `actix`) and a tower layer for axum/tonic (feature `tower`).
//!
//! It speaks to UAP over HTTP only and must never depend on any `uap-*`
//! crate: a host service embeds this crate, not UAP.

mod client;
mod error;
mod models;
mod validator;
mod web;

#[cfg(feature = "actix")]
pub mod actix;
#[cfg(feature = "local")]
pub mod local;
#[cfg(feature = "tower")]
pub mod tower;

pub use client::{UapClient, UapClientBuilder};
pub use error::{Error, Result};
pub use models::{AuthenticateRequest, AuthenticatedUser, Health, Session, SessionInfo, TotpEnrollment, roles_of};
pub use validator::Validator;
pub use web::{ExcludedPaths, Rejection, bearer_token};
