//! The authentication engine: identifier extraction per `auth_type`, host
//! lookup, active check, password verification on the blocking pool with equal
//! cost for unknown users, the hash-upgrade decision, session creation, audit.

mod credentials;
mod engine;
mod mfa;
mod mfa_login;
mod refresh;
mod shadow;
mod timing;

pub use credentials::{Credentials, LoginRequest, MAX_IDENTIFIER_BYTES, MAX_PASSWORD_BYTES};
pub use engine::{AuthParts, AuthService, AuthSettings};
pub use mfa::{Enrollment, MfaFlowError, MfaService};
pub use mfa_login::Enroller;
pub use shadow::{NO_HASH, ShadowVerdict};
pub use timing::{DummyReason, MAX_FLOOR, RefusalTiming, TimingSnapshot};

use crate::pipeline::{Block, MiddlewareError};
use crate::session::{IssuedSession, SessionError};

/// Why a login did not produce a session.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The request is malformed (missing identifier, over-long field): 400.
    #[error("{0}")]
    BadRequest(String),
    /// Unknown user, wrong password, inactive account, unusable stored hash —
    /// one answer for all (the audit log keeps the real reason): 401.
    #[error("Invalid credentials")]
    InvalidCredentials,
    /// A dependency failed: 503 naming it (the cause goes to the log).
    #[error("{} is unavailable", .dependency.name())]
    Unavailable { dependency: Dependency, cause: String },
    /// Too many password checks queued: 503 with Retry-After.
    #[error("too many login attempts in progress")]
    Overloaded,
    /// A middleware refused the login (401/403/429 with its message).
    #[error("{}", .0.message)]
    Blocked(Block),
    /// The password was right; a second factor is due (401 "MFA required").
    #[error("MFA required")]
    MfaRequired { mfa_token: String },
    /// The password was right but the user's role requires a second factor
    /// and none is enrolled: no session; the token only opens the TOTP
    /// enroll and confirm routes (401 "MFA enrollment required").
    #[error("MFA enrollment required")]
    MfaEnrollmentRequired { enrollment_token: String },
    /// An enroll, confirm or disable step failed (401, 409 or 429).
    #[error(transparent)]
    Mfa(MfaFlowError),
    /// `POST /mfa/verify` failed (401 with the message).
    #[error("{0}")]
    MfaFailed(&'static str),
    /// A middleware's dependency failed (503).
    #[error(transparent)]
    Middleware(#[from] MiddlewareError),
    /// The session could not be created.
    #[error(transparent)]
    Session(#[from] SessionError),
}

/// What a login depends on, named when it fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependency {
    /// The host database or host API.
    HostDirectory,
    /// The blocking threads that verify passwords.
    HashingPool,
    /// Where sessions are kept.
    SessionStore,
    /// The queue the audit trail is written through.
    AuditQueue,
    /// Where TOTP factors are kept.
    MfaStore,
}

impl Dependency {
    /// Its name in the 503 body and the log.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::HostDirectory => "host user directory",
            Self::HashingPool => "password hashing pool",
            Self::SessionStore => "session store",
            Self::AuditQueue => "audit queue",
            Self::MfaStore => "MFA store",
        }
    }
}

impl LoginError {
    /// `dependency` failed with `cause` (its whole chain is kept for the log).
    pub fn unavailable(dependency: Dependency, cause: &(dyn std::error::Error + 'static)) -> Self {
        Self::Unavailable { dependency, cause: uap_ports::error_chain(cause) }
    }
}

/// A successful login.
#[derive(Debug, Clone)]
pub struct LoginSuccess {
    pub session: IssuedSession,
    pub user_id: String,
}
