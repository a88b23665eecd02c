//! The MFA factor store port: sealed TOTP factors and their last used step.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::StoreError;

/// A second factor of a user, as stored: the secret is encrypted by the core
/// before it reaches the store (AEAD, random nonce per record).
#[derive(Clone, PartialEq, Eq)]
pub struct MfaFactor {
    /// Random UUID (text form).
    pub id: String,
    /// The host user's id.
    pub user_id: String,
    /// `totp`.
    pub factor_type: String,
    /// The encrypted secret.
    pub secret_ciphertext: Vec<u8>,
    /// The AEAD nonce used for `secret_ciphertext`.
    pub nonce: Vec<u8>,
    /// False until the user proved possession with a valid code.
    pub confirmed: bool,
    /// The last time step whose code was accepted (replay protection).
    pub last_used_step: Option<i64>,
    /// When the factor was enrolled.
    pub created_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
}

impl std::fmt::Debug for MfaFactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaFactor")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("factor_type", &self.factor_type)
            .field("secret_ciphertext", &"***")
            .field("confirmed", &self.confirmed)
            .field("last_used_step", &self.last_used_step)
            .finish_non_exhaustive()
    }
}

/// Second factors (`uap_mfa_factors`). One factor per (user, type).
#[async_trait]
pub trait MfaFactorStore: Send + Sync + 'static {
    /// The user's factor of `factor_type`, confirmed or not.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] or [`StoreError::Backend`].
    async fn get(&self, user_id: &str, factor_type: &str) -> Result<Option<MfaFactor>, StoreError>;

    /// Stores a new unconfirmed factor, replacing an unconfirmed one of the
    /// same user and type. Returns false (and stores nothing) when a
    /// confirmed factor exists.
    ///
    /// # Errors
    /// As [`MfaFactorStore::get`].
    async fn put_pending(&self, factor: &MfaFactor) -> Result<bool, StoreError>;

    /// Marks the factor confirmed and records `step` as used, atomically and
    /// only if it is still unconfirmed. Returns whether it changed.
    ///
    /// # Errors
    /// As [`MfaFactorStore::get`].
    async fn confirm(
        &self,
        user_id: &str,
        factor_type: &str,
        step: i64,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Records `step` as used, atomically and only if it is greater than the
    /// last used step (a code is accepted once). Returns whether it was
    /// recorded (false = replay).
    ///
    /// # Errors
    /// As [`MfaFactorStore::get`].
    async fn use_step(
        &self,
        user_id: &str,
        factor_type: &str,
        step: i64,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Removes the factor; returns whether one existed.
    ///
    /// # Errors
    /// As [`MfaFactorStore::get`].
    async fn delete(&self, user_id: &str, factor_type: &str) -> Result<bool, StoreError>;
}
