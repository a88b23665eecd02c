//! Outbound HTTP adapters of UAP, on reqwest with rustls (ring provider).
//!
//! - [`HttpCaptchaVerifier`]: a [`uap_ports::CaptchaVerifier`] for reCAPTCHA,
//!   hCaptcha and Cloudflare Turnstile ([`CaptchaProvider`]). It POSTs the
//!   form-encoded `secret`, `response` and `remoteip` to the provider's
//!   `siteverify` endpoint and reports `success`, the reCAPTCHA v3 score and the
//!   error codes. It applies no score threshold: the `captcha` middleware does.
//! - [`HttpWebhookClient`]: a [`uap_ports::WebhookClient`] that POSTs the
//!   middleware's JSON to a host URL, signed with HMAC-SHA256 when a secret is
//!   configured, and reads the host's `{action: "continue"|"block", error?}`.
//! - [`HttpUserDirectory`]: the host user API (CONTRACT §7) as a
//!   [`uap_ports::UserDirectory`], and in delegated mode a
//!   [`uap_ports::PasswordAuthority`]; see [`host_api`] for the routes.
//! - [`sign`] and [`verify_signature`]: the webhook signature scheme, for hosts'
//!   tests and documentation.
//!
//! Transport failures (timeout, refused connection, non-2xx status, redirect)
//! map to the ports' `Unavailable`; an answer that is not the documented JSON
//! (or is larger than 64 KiB; 1 MiB for the host API) maps to `BadResponse`. No reqwest type crosses a
//! port. Secrets never reach `Debug` output, the log or an error message.
//!
//! This crate must never depend on `uap-domain`, the server or another adapter.
//!
//! # Verifying a webhook signature (host side)
//!
//! When the `webhook` middleware has a `secret`, every call carries
//!
//! ```text
//! X-UAP-Timestamp: <unix seconds>
//! X-UAP-Signature: sha256=<lowercase hex of HMAC-SHA256(secret, "<timestamp>.<raw body>")>
//! ```
//!
//! The host should:
//!
//! 1. read the **raw** request body bytes, before any JSON parsing (re-encoding
//!    the JSON changes the bytes and breaks the signature);
//! 2. compute `HMAC-SHA256(secret, timestamp + "." + body)` and compare it with
//!    the header in constant time;
//! 3. reject the call when the timestamp is more than about five minutes away
//!    from its own clock, so that a captured request cannot be replayed later.
//!
//! ```
//! use uap_adapters_http::{sign, verify_signature};
//!
//! let body = br#"{"event":"pre"}"#;
//! let header = sign("whsec_test", 1_700_000_000, body);
//! assert!(verify_signature("whsec_test", 1_700_000_000, body, &header));
//! assert!(!verify_signature("whsec_test", 1_700_000_001, body, &header));
//! // The host also checks freshness itself, e.g.
//! // `(now_unix - timestamp).abs() <= 300`.
//! ```

mod alert;
mod captcha;
mod error;
pub mod host_api;
mod response;
mod signature;
mod webhook;

pub use alert::AlertSender;
pub use captcha::{CaptchaProvider, HttpCaptchaVerifier};
pub use error::BuildError;
pub use host_api::{HostApiConfig, HostApiFields, HttpUserDirectory};
pub use signature::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, verify_signature};
pub use webhook::HttpWebhookClient;
