//! The host user directory port: find a user by identifier, complete it after
//! a password check, the compare-and-set password upgrade, health. Implemented
//! by the SQL adapter and the host API adapter. And the password authority
//! port, for hosts that verify passwords themselves (delegated mode).

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::StoreError;

/// How to find one host user: the submitted identifier matched against each of
/// the listed columns (or API fields), first match wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserQuery {
    /// The value the user typed (username, e-mail, phone…).
    pub value: String,
    /// The logical fields to match it against, in order. Already validated
    /// against the configuration by the core.
    pub fields: Vec<String>,
    /// Compare case-insensitively (`LOWER(col) = LOWER(?)`).
    pub case_insensitive: bool,
}

/// A user row (or API object) as the host stores it.
#[derive(Clone, PartialEq)]
pub struct HostUser {
    /// The `id_field` value, as text.
    pub id: String,
    /// The stored password hash; `None` when the column is NULL or empty.
    pub password_hash: Option<String>,
    /// The `active_field` value; `None` when no such column is used.
    pub active: Option<bool>,
    /// Role names: from the role table when configured, else the `role_field`
    /// value when the row has one.
    pub roles: Vec<String>,
    /// Every other column of the row, password column excluded. The core
    /// removes sensitive fields before anything leaves UAP.
    pub attributes: Map<String, Value>,
}

impl std::fmt::Debug for HostUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostUser")
            .field("id", &self.id)
            .field("password_hash", &self.password_hash.as_ref().map(|_| "***"))
            .field("active", &self.active)
            .field("roles", &self.roles)
            .field("attributes", &self.attributes.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The result of a compare-and-set password write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordUpdate {
    /// The row held the expected hash and now holds the new one.
    Updated,
    /// The row no longer held the expected hash (changed meanwhile); nothing written.
    Stale,
    /// The column cannot hold the new value; nothing written.
    ColumnTooNarrow {
        /// The reflected maximum length of the password column.
        max_len: usize,
    },
    /// This directory is read-only (for example a host API without a write route).
    Unsupported,
}

/// The host application's user store, read-only to UAP except for the
/// compare-and-set password upgrade.
#[async_trait]
pub trait UserDirectory: Send + Sync + 'static {
    /// Finds the user whose listed field equals the query value.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the host data source does not answer,
    /// [`StoreError::Backend`] for any other driver failure.
    async fn find_user(&self, query: &UserQuery) -> Result<Option<HostUser>, StoreError>;

    /// Whether the lookup left something of `user` for [`UserDirectory::complete`]
    /// to fetch (a decorator skips its protections when not: there is no
    /// call to protect). The default: nothing is ever deferred.
    fn defers(&self, user: &HostUser) -> bool {
        let _ = user;
        false
    }

    /// Fetches what the lookup deferred, once the user's password has been
    /// checked (for example a host API's roles route, which the lookup does
    /// not call so that a wrong password costs one call only). Does nothing
    /// for a user [`UserDirectory::defers`] says is complete; the default
    /// returns `user` as it is.
    ///
    /// # Errors
    /// As [`UserDirectory::find_user`].
    async fn complete(&self, user: HostUser) -> Result<HostUser, StoreError> {
        Ok(user)
    }

    /// Replaces the stored hash of `user_id` with `new_hash` only if it still
    /// equals `expected_old` (compare-and-set).
    ///
    /// # Errors
    /// As [`UserDirectory::find_user`].
    async fn update_password_hash(
        &self,
        user_id: &str,
        expected_old: &str,
        new_hash: &str,
    ) -> Result<PasswordUpdate, StoreError>;

    /// Checks that the host data source answers.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when it does not.
    async fn health(&self) -> Result<(), StoreError>;
}

/// The verdict of a host that verifies passwords itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Delegated {
    /// The password is right; the user as the host describes it (no
    /// password hash: `password_hash` is `None`).
    Accepted(HostUser),
    /// Unknown user or wrong password (the host does not say which).
    Refused,
}

/// A host that checks passwords itself (the host API's delegated mode), for
/// hashes UAP cannot read. The password crosses this port only.
#[async_trait]
pub trait PasswordAuthority: Send + Sync + 'static {
    /// Asks the host whether `password` is the password of the user the
    /// query finds.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the host does not answer,
    /// [`StoreError::Backend`] for an answer that is not the documented one.
    async fn verify_password(&self, query: &UserQuery, password: &str) -> Result<Delegated, StoreError>;
}
