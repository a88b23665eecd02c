//! The audit trail port: event types as stored (`LOGIN`, `FAILED_LOGIN`, …),
//! the record written to `uap_audit_logs`, and the `AuditSink` that writes it.

use async_trait::async_trait;
use serde_json::Value;
use time::OffsetDateTime;

use crate::StoreError;

/// The kinds of audit events (the design document's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditEventType {
    /// A successful login.
    Login,
    /// A refused login; `error_message` holds the real reason.
    FailedLogin,
    /// A session ended by its owner.
    Logout,
    /// A token presented after its session expired (or idled out).
    SessionExpired,
    /// A stored password hash was rewritten (hash upgrade).
    PasswordChange,
    /// Something that looks like an attack (a reused refresh token…).
    SuspiciousActivity,
    /// A session was refreshed.
    TokenRefresh,
    /// An account was locked by the rate limiter.
    AccountLocked,
    /// The configuration was changed.
    ConfigurationChange,
    /// A second factor was enrolled (`metadata.step`: `started`, then
    /// `confirmed` when it becomes active).
    MfaEnrolled,
    /// A second factor was removed (or a removal was refused: `success` false).
    MfaDisabled,
}

impl AuditEventType {
    /// The stored name, e.g. `FAILED_LOGIN`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Login => "LOGIN",
            Self::FailedLogin => "FAILED_LOGIN",
            Self::Logout => "LOGOUT",
            Self::SessionExpired => "SESSION_EXPIRED",
            Self::PasswordChange => "PASSWORD_CHANGE",
            Self::SuspiciousActivity => "SUSPICIOUS_ACTIVITY",
            Self::TokenRefresh => "TOKEN_REFRESH",
            Self::AccountLocked => "ACCOUNT_LOCKED",
            Self::ConfigurationChange => "CONFIGURATION_CHANGE",
            Self::MfaEnrolled => "MFA_ENROLLED",
            Self::MfaDisabled => "MFA_DISABLED",
        }
    }
}

/// One audit record. Never carries a password, a hash or a token.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// Random UUID (text form).
    pub id: String,
    /// What happened.
    pub event_type: AuditEventType,
    /// The host user concerned, when known.
    pub user_id: Option<String>,
    /// The session concerned, when any.
    pub session_id: Option<String>,
    /// Client address.
    pub ip_address: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Whether the action succeeded.
    pub success: bool,
    /// The real reason of a failure (`unknown_user`, `wrong_password`, …).
    pub error_message: Option<String>,
    /// Anything else worth keeping (identifier, hash format, …).
    pub metadata: Value,
    /// When it happened.
    pub timestamp: OffsetDateTime,
}

/// Where audit events are written. The server puts a bounded batching queue in
/// front of the durable sink.
#[async_trait]
pub trait AuditSink: Send + Sync + 'static {
    /// Writes a batch durably, all or nothing.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] or [`StoreError::Backend`]; the caller retries.
    async fn write_batch(&self, events: &[AuditEvent]) -> Result<(), StoreError>;
}
