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
    /// A call to an admin route (`metadata`: `route`, `method`, `outcome`).
    ApiAccess,
    /// Host user data was read by an operator. The design names it; UAP has
    /// no trigger for it (it never exposes user rows outside a login).
    DataAccess,
    /// A login judged in shadow mode (`success`: it would have been accepted;
    /// `metadata`: `would_accept`, `host_decision`, `agreed`, `hash_format`,
    /// `reason`).
    ShadowLogin,
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
            Self::ApiAccess => "API_ACCESS",
            Self::DataAccess => "DATA_ACCESS",
            Self::ShadowLogin => "SHADOW_LOGIN",
        }
    }

    /// The event type stored as `name`, if this build knows it.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// Every event type, in declaration order.
    pub const ALL: [Self; 14] = [
        Self::Login,
        Self::FailedLogin,
        Self::Logout,
        Self::SessionExpired,
        Self::PasswordChange,
        Self::SuspiciousActivity,
        Self::TokenRefresh,
        Self::AccountLocked,
        Self::ConfigurationChange,
        Self::MfaEnrolled,
        Self::MfaDisabled,
        Self::ApiAccess,
        Self::DataAccess,
        Self::ShadowLogin,
    ];
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

/// What `AuditQuery::list` selects. Every bound is optional except `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this host user's events.
    pub user_id: Option<String>,
    /// Only this event type.
    pub event_type: Option<AuditEventType>,
    /// Events at or after this instant.
    pub start: Option<OffsetDateTime>,
    /// Events at or before this instant.
    pub end: Option<OffsetDateTime>,
    /// At most this many events (the newest).
    pub limit: u64,
}

/// Counts of one event type in a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTypeStats {
    /// The stored event type name.
    pub event_type: String,
    /// Events of this type.
    pub total: u64,
    /// Of which `success` is true.
    pub successful: u64,
}

/// Aggregates of the audit trail over a period (the compliance report's
/// numbers), computed by the store.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditSummary {
    /// Per event type, by name.
    pub statistics: Vec<EventTypeStats>,
    /// `FAILED_LOGIN` counts per client address, most first (ties by
    /// address), at most 10.
    pub top_failed_login_sources: Vec<(Option<String>, u64)>,
    /// Successful `LOGIN`s whose metadata carries `hash_upgrade_recommended`,
    /// per stored format label.
    pub weak_hash_logins: Vec<(String, u64)>,
    /// `PASSWORD_CHANGE` events with `metadata.reason = "hash_upgrade"`
    /// that succeeded.
    pub hash_upgrades_done: u64,
    /// Hash upgrades that were skipped, per `error_message`.
    pub hash_upgrades_skipped: Vec<(String, u64)>,
    /// The newest `SUSPICIOUS_ACTIVITY` events (at most 10).
    pub latest_suspicious: Vec<AuditEvent>,
    /// `SHADOW_LOGIN` agreement, per `metadata.hash_format`.
    pub shadow_by_hash_format: Vec<(String, ShadowCounts)>,
}

/// Shadow-mode judgements and how they compare with the host's own verdicts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShadowCounts {
    /// `SHADOW_LOGIN` events.
    pub total: u64,
    /// Of which the host sent its own verdict (`host_decision`).
    pub with_host_decision: u64,
    /// Of those, UAP's verdict was the host's.
    pub agreed: u64,
    /// Of those, it was not.
    pub disagreed: u64,
}

impl std::ops::AddAssign for ShadowCounts {
    fn add_assign(&mut self, other: Self) {
        self.total += other.total;
        self.with_host_decision += other.with_host_decision;
        self.agreed += other.agreed;
        self.disagreed += other.disagreed;
    }
}

/// Reads and prunes the audit trail (the admin API, `uap audit`).
#[async_trait]
pub trait AuditQuery: Send + Sync + 'static {
    /// Events matching `filter`, newest first (ties by id, descending).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] or [`StoreError::Backend`].
    async fn list(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError>;

    /// The aggregates of events with `start <= timestamp <= end`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] or [`StoreError::Backend`].
    async fn summary(&self, start: OffsetDateTime, end: OffsetDateTime) -> Result<AuditSummary, StoreError>;

    /// How many audit rows are older than `cutoff` (what a cleanup would delete).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] or [`StoreError::Backend`].
    async fn count_before(&self, cutoff: OffsetDateTime) -> Result<u64, StoreError>;

    /// Deletes at most `batch` audit rows older than `cutoff` (oldest
    /// first) and returns how many went; call again until it returns 0.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] or [`StoreError::Backend`].
    async fn delete_before(&self, cutoff: OffsetDateTime, batch: u64) -> Result<u64, StoreError>;
}
