//! The login pipeline: the ordered `middleware_stack` around the credential
//! check (CONTRACT §4). `pre_authenticate` may block or challenge,
//! `post_authenticate` runs after a successful credential check and may still
//! block or demand a second factor, `on_failure` sees every refused login.
//!
//! The built-in middlewares live beside this file; an embedding program adds
//! its own by implementing [`Middleware`] and registering it by name.

mod captcha;
mod ip_rules;
mod mfa;
mod orchestrator;
mod rate_limit;
mod webhook;

use std::net::IpAddr;

use async_trait::async_trait;
use serde_json::Value;

pub use captcha::{AfterFailures, CaptchaMiddleware};
pub use ip_rules::IpRulesMiddleware;
pub use mfa::{MfaMiddleware, MfaPolicy};
pub use orchestrator::{NoObserver, Pipeline, PipelineEntry, RunObserver};
pub use rate_limit::{
    AddressBudget, RateLimitMiddleware, address_key, rate_limit_key, rule as rate_limit_rule,
    seconds_until as rate_limit_seconds_until,
};
pub use webhook::WebhookMiddleware;

/// What the pipeline knows of a login attempt. Never the password.
#[derive(Debug, Clone)]
pub struct LoginAttempt {
    /// The identifier as submitted (trimmed).
    pub identifier: String,
    /// The client address (after `trusted_proxies`).
    pub ip: Option<IpAddr>,
    /// The client user agent.
    pub user_agent: Option<String>,
    /// `device_id` from the request.
    pub device_id: Option<String>,
    /// `metadata` from the request.
    pub metadata: Option<Value>,
    /// `captcha_token` from the request.
    pub captcha_token: Option<String>,
    /// `mfa_code` from the request (one-step MFA).
    pub mfa_code: Option<String>,
}

/// The user a successful credential check found.
#[derive(Debug, Clone)]
pub struct VerifiedUser {
    pub user_id: String,
    pub roles: Vec<String>,
    pub user_data: Value,
}

/// Why a credential check failed (the real reason, as audited).
#[derive(Debug, Clone)]
pub struct LoginFailure {
    pub reason: String,
    pub user_id: Option<String>,
}

/// Why a middleware refused a login; the HTTP layer picks the status
/// (401, 403, 429 with `Retry-After`), so no middleware can answer a
/// refusal with a success status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The credentials or the second factor are not good enough (401).
    Unauthorized,
    /// The login is not allowed (403).
    Forbidden,
    /// Too many attempts: retry after this many seconds (429).
    RateLimited { retry_after: u64 },
}

/// A refusal decided by a middleware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub refusal: Refusal,
    /// Shown to the client as `error`.
    pub message: String,
    /// The audit reason (`rate_limited`, `ip_denied`, `captcha_failed`, …).
    pub reason: String,
}

impl Block {
    /// A forbidden login with `message`.
    #[must_use]
    pub fn forbidden(message: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { refusal: Refusal::Forbidden, message: message.into(), reason: reason.into() }
    }

    /// An unauthorized login with `message`.
    #[must_use]
    pub fn unauthorized(message: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { refusal: Refusal::Unauthorized, message: message.into(), reason: reason.into() }
    }

    /// Too many attempts; retry after `retry_after` seconds.
    #[must_use]
    pub fn rate_limited(retry_after: u64, message: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { refusal: Refusal::RateLimited { retry_after }, message: message.into(), reason: reason.into() }
    }

    /// Too many wrong second-factor codes: the one answer of the login's
    /// `mfa` step, `POST /mfa/verify` and the TOTP routes.
    #[must_use]
    pub fn mfa_rate_limited(retry_after: u64) -> Self {
        Self::rate_limited(retry_after, "Too many invalid codes; try again later", "mfa_rate_limited")
    }

    /// `Retry-After` seconds, for a rate limit.
    #[must_use]
    pub const fn retry_after(&self) -> Option<u64> {
        match self.refusal {
            Refusal::RateLimited { retry_after } => Some(retry_after),
            Refusal::Unauthorized | Refusal::Forbidden => None,
        }
    }
}

/// A second step the client must complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    /// A TOTP code (`POST /mfa/verify` with the `mfa_token`).
    Mfa,
    /// A factor must be enrolled first (the TOTP enroll and confirm routes
    /// with the `enrollment_token`).
    MfaEnrollment,
}

/// A middleware's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Go on.
    Continue,
    /// Refuse the login.
    Block(Block),
    /// Ask for more.
    Challenge(Challenge),
}

/// A middleware that could not decide (its dependency failed). The pipeline
/// fails closed: the login is refused with 503.
#[derive(Debug, thiserror::Error)]
#[error("{what} is unavailable: {detail}")]
pub struct MiddlewareError {
    pub what: String,
    pub detail: String,
}

impl MiddlewareError {
    /// A failure of `what`.
    pub fn unavailable(what: impl Into<String>, detail: impl std::fmt::Display) -> Self {
        Self { what: what.into(), detail: detail.to_string() }
    }
}

/// One step of the login pipeline. Every hook defaults to "nothing to do".
#[async_trait]
pub trait Middleware: Send + Sync + 'static {
    /// Before the credential check: may block or challenge.
    ///
    /// # Errors
    /// [`MiddlewareError`] when a dependency fails (the login gets 503).
    async fn pre_authenticate(&self, _attempt: &LoginAttempt) -> Result<Decision, MiddlewareError> {
        Ok(Decision::Continue)
    }

    /// After the host lookup, before the password is verified: `user_id` is
    /// the row the identifier resolved to (`None` for an unknown user). May
    /// block (e.g. a budget per resolved user, shared by every spelling of
    /// the identifier that reaches the same row).
    ///
    /// # Errors
    /// As [`Middleware::pre_authenticate`].
    async fn before_verify(
        &self,
        _attempt: &LoginAttempt,
        _user_id: Option<&str>,
    ) -> Result<Decision, MiddlewareError> {
        Ok(Decision::Continue)
    }

    /// After a successful credential check, before the session exists.
    ///
    /// # Errors
    /// As [`Middleware::pre_authenticate`].
    async fn post_authenticate(
        &self,
        _attempt: &LoginAttempt,
        _user: &VerifiedUser,
    ) -> Result<Decision, MiddlewareError> {
        Ok(Decision::Continue)
    }

    /// After a refused login (wrong credentials or a block).
    ///
    /// # Errors
    /// As [`Middleware::pre_authenticate`]; errors here are logged only.
    async fn on_failure(&self, _attempt: &LoginAttempt, _failure: &LoginFailure) -> Result<(), MiddlewareError> {
        Ok(())
    }
}
