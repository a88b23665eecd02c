//! The session store port: session records, their states (active, rotated)
//! and the atomic operations the session manager relies on.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use time::OffsetDateTime;

use crate::StoreError;

/// Where a session is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionState {
    /// Its token validates and its refresh token may be spent.
    Active,
    /// Its refresh token was spent for `successor_id` at `at`: its token no
    /// longer validates; the record is kept to recognise a reused refresh token.
    Rotated {
        /// The session that replaced this one.
        successor_id: String,
        /// When the rotation happened.
        at: OffsetDateTime,
    },
}

/// One session as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    /// Random UUID (text form).
    pub session_id: String,
    /// The host user's id.
    pub user_id: String,
    /// The device the client named at login, if any.
    pub device_id: Option<String>,
    /// When the login (or the refresh that made this record) happened.
    pub created_at: OffsetDateTime,
    /// When the access token stops being valid.
    pub expires_at: OffsetDateTime,
    /// Last validate (coarse: the core does not write on every request).
    pub last_activity: OffsetDateTime,
    /// Client address at login.
    pub ip_address: Option<String>,
    /// Client user agent at login.
    pub user_agent: Option<String>,
    /// The `user_data` returned by validate (sensitive fields already removed).
    /// Shared: every validate hands it out without copying it, and a store may
    /// keep one copy for all sessions of a user.
    pub user_data: Arc<Value>,
    /// The session that started the refresh chain (itself for a login).
    pub family_id: String,
    /// When the refresh token stops being accepted; `None` without refresh tokens.
    pub refresh_expires_at: Option<OffsetDateTime>,
    /// Active or rotated.
    pub state: SessionState,
    /// The login that started the refresh chain (successors inherit it): the
    /// chain's absolute end and the access-token cap count from here.
    pub auth_time: OffsetDateTime,
    /// A keyed fingerprint of the host user's stored password hash at login
    /// (never the hash itself): a refresh whose host row no longer matches it
    /// (password changed) ends the chain. `None` fails closed.
    pub credential_fingerprint: Option<String>,
}

impl SessionRecord {
    /// The instant after which the record is useless and may be purged.
    #[must_use]
    pub fn retain_until(&self) -> OffsetDateTime {
        match self.refresh_expires_at {
            Some(refresh) if refresh > self.expires_at => refresh,
            _ => self.expires_at,
        }
    }
}

/// The outcome of an atomic refresh rotation.
#[derive(Debug, Clone, PartialEq)]
pub enum RotateOutcome {
    /// The old session was active; it is now rotated and the successor stored.
    Rotated,
    /// The old session had already been rotated (a reused refresh token).
    AlreadyRotated {
        /// The successor created by the first rotation.
        successor_id: String,
        /// When that rotation happened.
        at: OffsetDateTime,
    },
    /// No such session.
    NotFound,
}

/// Session records. Implementations: in-memory, SQL (internal database), Redis.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Stores a new session.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] or [`StoreError::Backend`].
    async fn create(&self, record: &SessionRecord) -> Result<(), StoreError>;

    /// Loads a session by id.
    ///
    /// # Errors
    /// As [`SessionStore::create`].
    async fn get(&self, session_id: &str) -> Result<Option<SessionRecord>, StoreError>;

    /// Loads a session that its token says belongs to `user_id`; `None` when
    /// it does not exist or belongs to someone else. Stores that key records
    /// by user answer this in one step (the validate hot path); the default
    /// is [`SessionStore::get`] plus the ownership check.
    ///
    /// # Errors
    /// As [`SessionStore::create`].
    async fn get_owned(&self, session_id: &str, user_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self.get(session_id).await?.filter(|record| record.user_id == user_id))
    }

    /// Records activity on a session (idle timeout).
    ///
    /// # Errors
    /// As [`SessionStore::create`].
    async fn touch(&self, session_id: &str, at: OffsetDateTime) -> Result<(), StoreError>;

    /// Ends one session; returns whether it existed.
    ///
    /// # Errors
    /// As [`SessionStore::create`].
    async fn delete(&self, session_id: &str) -> Result<bool, StoreError>;

    /// Ends every session of a user except `keep` (when given), removing its
    /// rotated records too; returns how many *active* sessions ended.
    ///
    /// # Errors
    /// As [`SessionStore::create`].
    async fn delete_user_sessions(&self, user_id: &str, keep: Option<&str>) -> Result<u64, StoreError>;

    /// Ends every session of a refresh chain, removing its rotated records too;
    /// returns how many *active* sessions ended.
    ///
    /// # Errors
    /// As [`SessionStore::create`].
    async fn delete_family(&self, family_id: &str) -> Result<u64, StoreError>;

    /// Lists the records of a user (any state; the caller filters).
    ///
    /// # Errors
    /// As [`SessionStore::create`].
    async fn list_user_sessions(&self, user_id: &str) -> Result<Vec<SessionRecord>, StoreError>;

    /// Atomically marks `old_id` rotated to `successor` and stores `successor`,
    /// only if `old_id` is still active.
    ///
    /// # Errors
    /// As [`SessionStore::create`].
    async fn rotate(
        &self,
        old_id: &str,
        successor: &SessionRecord,
        at: OffsetDateTime,
    ) -> Result<RotateOutcome, StoreError>;

    /// Atomically extends an active session in place (a refresh by access
    /// token): only if `session_id` is active and its `expires_at` is still
    /// `expected_expires_at`, sets `expires_at`, `user_data` and
    /// `last_activity = at` (everything else, the refresh expiry included,
    /// stays). Returns whether it did; `false` for an unknown, rotated or
    /// already extended session.
    ///
    /// # Errors
    /// As [`SessionStore::create`].
    async fn extend(
        &self,
        session_id: &str,
        expected_expires_at: OffsetDateTime,
        expires_at: OffsetDateTime,
        user_data: &Arc<Value>,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Deletes records whose [`SessionRecord::retain_until`] is before `now`.
    ///
    /// # Errors
    /// As [`SessionStore::create`].
    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError>;

    /// How many active sessions have not expired at `now`
    /// (`uap_active_sessions`, read every few seconds): `None` when the
    /// store cannot count cheaply.
    ///
    /// # Errors
    /// As [`SessionStore::create`].
    async fn count_active(&self, now: OffsetDateTime) -> Result<Option<u64>, StoreError> {
        let _ = now;
        Ok(None)
    }

    /// Checks that the store answers.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when it does not.
    async fn health(&self) -> Result<(), StoreError>;
}
