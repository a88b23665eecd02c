//! Sessions: creation with role-based durations, validation (one signature
//! check plus one store lookup), refresh (by refresh token: rotation, reuse
//! grace and theft detection; by access token: extension in place) within the
//! chain's limits, logout, logout-all and listing.

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
pub use token::{Claims, KeyError, TokenService};

/// Why a token was refused. Never shown to the client in detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    #[error("malformed token or bad signature")]
    Invalid,
    #[error("token expired")]
    Expired,
    #[error("wrong issuer or audience")]
    WrongIssuerOrAudience,
    #[error("required claim missing")]
    MissingClaim,
}

/// Who is calling: recorded on sessions and audit events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientContext {
    /// The client's address (after `trusted_proxies`), when known.
    pub ip_address: Option<std::net::IpAddr>,
    pub user_agent: Option<String>,
}

/// What a new session is made of.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub user_id: String,
    pub roles: Vec<String>,
    pub user_data: serde_json::Value,
    pub device_id: Option<String>,
    /// The keyed fingerprint of the host password hash the login saw
    /// ([`SessionManager::credential_fingerprint`]); `None` ends the chain
    /// at its first refresh.
    pub credential_fingerprint: Option<String>,
}

/// How a refresh was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshBy {
    /// `Authorization: Bearer` with the access token: extends in place.
    AccessToken,
    /// Body `{refresh_token}`: rotates to a successor.
    RefreshToken,
}

/// A refresh the session rules allow, waiting for the host user to be read
/// again.
#[derive(Debug, Clone)]
pub struct PendingRefresh {
    record: SessionRecord,
    by: RefreshBy,
}

impl PendingRefresh {
    /// The session being refreshed.
    #[must_use]
    pub fn record(&self) -> &SessionRecord {
        &self.record
    }

    /// How the refresh was asked for.
    #[must_use]
    pub fn by(&self) -> RefreshBy {
        self.by
    }
}

/// Where a refresh-token refresh stands after the session rules.
#[derive(Debug)]
pub enum RefreshStep {
    /// A spent refresh token within the grace: the successor's tokens again.
    Ready(IssuedSession),
    /// The host user must be checked before the refresh completes.
    Check(PendingRefresh),
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
    #[error("refresh chain reached refresh_chain_max_seconds")]
    ChainEnded,
    #[error("host user gone, disabled or its password changed")]
    HostUserChanged,
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
    /// The host user directory failed while a refresh re-read the user: 503,
    /// and nothing ended.
    #[error("host user directory: {0}")]
    Directory(StoreError),
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
