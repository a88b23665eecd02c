//! Sessions: creation with role-based durations, validation (one signature
//! check plus one store lookup), refresh with rotation, reuse grace and theft
//! detection, logout, logout-all and listing.

mod jws;
mod manager;
mod policy;
mod refresh;
mod ticket;
mod token;

use time::OffsetDateTime;
use uap_ports::{SessionRecord, StoreError};

pub use manager::SessionManager;
pub use policy::SessionPolicy;
pub use ticket::{PendingLogin, TicketPurpose};
pub use token::{Claims, KeyError, TokenRejection, TokenService};

/// Who is calling: recorded on sessions and audit events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientContext {
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
}

/// What a new session is made of.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub user_id: String,
    pub roles: Vec<String>,
    pub user_data: serde_json::Value,
    pub device_id: Option<String>,
}

/// A session just created or refreshed, with the secrets to hand to the client.
#[derive(Clone)]
pub struct IssuedSession {
    pub session_id: String,
    pub token: String,
    pub expires_at: OffsetDateTime,
    pub refresh_token: Option<String>,
    pub refresh_expires_at: Option<OffsetDateTime>,
    pub user_data: std::sync::Arc<serde_json::Value>,
}

impl std::fmt::Debug for IssuedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedSession")
            .field("session_id", &self.session_id)
            .field("token", &"***")
            .field("expires_at", &self.expires_at)
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

/// Why a session operation was refused (all map to 401 for the client; the
/// distinction is for audit and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("{0}")]
    Token(#[from] TokenRejection),
    #[error("session not found")]
    NotFound,
    #[error("session expired")]
    Expired,
    #[error("session idle timeout")]
    IdleTimeout,
    #[error("session was refreshed")]
    Rotated,
    #[error("refresh token invalid")]
    RefreshInvalid,
    #[error("refresh token expired")]
    RefreshExpired,
    #[error("refresh token reused")]
    RefreshReused,
    #[error("refresh tokens are disabled")]
    RefreshDisabled,
}

/// A session operation failure.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The client's token or session is not acceptable.
    #[error("rejected: {0}")]
    Rejected(#[from] Rejection),
    /// The session store (or the audit queue) failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Signing failed (should not happen with a valid key).
    #[error("token signing failed")]
    Signing,
}

/// A validated session.
#[derive(Debug, Clone)]
pub struct ValidSession {
    pub record: SessionRecord,
}

/// One entry of `GET /sessions`.
#[derive(Debug, Clone)]
pub struct SessionSummary {
    pub record: SessionRecord,
    pub current: bool,
}
