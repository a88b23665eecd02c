//! TOTP second factor: enrollment, confirmation, removal and code checks.
//! Secrets are sealed (XChaCha20-Poly1305, random nonce per record, bound to
//! the user id) before they reach the store; a code is accepted once (the
//! store refuses a step not newer than the last used one); wrong codes count
//! in their own rate-limit counter, separate from the password counter.

use std::sync::Arc;

use uap_ports::{
    Admission, Clock, IdGenerator, MfaFactor, MfaFactorStore, RateLimitKey, RateLimitRule, RateLimitStore, StoreError,
};

use crate::mfa::{SecretBox, Totp, TotpSecret};
use crate::pipeline::rate_limit_seconds_until;

const TOTP: &str = "totp";

/// Why an MFA operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MfaFlowError {
    /// No confirmed (or, for confirm, no pending) factor.
    #[error("no TOTP factor enrolled")]
    NotEnrolled,
    /// A confirmed factor exists already (enroll).
    #[error("TOTP is already enrolled")]
    AlreadyEnrolled,
    /// Wrong, malformed or replayed code.
    #[error("Invalid code")]
    InvalidCode,
    /// Too many wrong codes: retry after this many seconds.
    #[error("too many invalid codes")]
    RateLimited { retry_after: u64 },
    /// The store (or the sealing) failed.
    #[error("MFA store unavailable: {0}")]
    Unavailable(String),
}

impl From<StoreError> for MfaFlowError {
    fn from(err: StoreError) -> Self {
        Self::Unavailable(err.to_string())
    }
}

/// A freshly enrolled (unconfirmed) factor, to show once.
#[derive(Clone)]
pub struct Enrollment {
    pub secret_base32: String,
    pub otpauth_uri: String,
}

impl std::fmt::Debug for Enrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enrollment(***)")
    }
}

/// The TOTP service.
pub struct MfaService {
    store: Arc<dyn MfaFactorStore>,
    sealer: SecretBox,
    totp: Totp,
    issuer: String,
    limiter: Arc<dyn RateLimitStore>,
    rule: RateLimitRule,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
}

impl std::fmt::Debug for MfaService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaService").field("issuer", &self.issuer).finish_non_exhaustive()
    }
}

fn associated(user_id: &str) -> Vec<u8> {
    format!("{user_id}:{TOTP}").into_bytes()
}

impl MfaService {
    /// The service over `store`, sealing with `sealer`, labelled `issuer` in
    /// authenticator apps; wrong codes are limited by `rule` in `limiter`.
    #[must_use]
    pub fn new(
        store: Arc<dyn MfaFactorStore>,
        sealer: SecretBox,
        issuer: String,
        limiter: Arc<dyn RateLimitStore>,
        rule: RateLimitRule,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        Self { store, sealer, totp: Totp::default(), issuer, limiter, rule, clock, ids }
    }

    /// Starts (or restarts) enrollment; the factor is active only after
    /// [`MfaService::confirm`].
    ///
    /// # Errors
    /// [`MfaFlowError::AlreadyEnrolled`] or a store failure.
    pub async fn enroll(&self, user_id: &str, account: &str) -> Result<Enrollment, MfaFlowError> {
        let secret = TotpSecret::generate().map_err(|e| MfaFlowError::Unavailable(e.to_string()))?;
        let (secret_ciphertext, nonce) = self
            .sealer
            .seal(secret.as_bytes(), &associated(user_id))
            .map_err(|e| MfaFlowError::Unavailable(e.to_string()))?;
        let now = self.clock.now();
        let factor = MfaFactor {
            id: self.ids.new_id(),
            user_id: user_id.to_owned(),
            factor_type: TOTP.to_owned(),
            secret_ciphertext,
            nonce,
            confirmed: false,
            last_used_step: None,
            created_at: now,
            updated_at: now,
        };
        if !self.store.put_pending(&factor).await? {
            return Err(MfaFlowError::AlreadyEnrolled);
        }
        Ok(Enrollment { secret_base32: secret.to_base32(), otpauth_uri: secret.otpauth_uri(&self.issuer, account) })
    }

    /// Activates a pending factor with a valid code.
    ///
    /// # Errors
    /// [`MfaFlowError::NotEnrolled`], [`MfaFlowError::InvalidCode`],
    /// [`MfaFlowError::RateLimited`] or a store failure.
    pub async fn confirm(&self, user_id: &str, code: &str) -> Result<(), MfaFlowError> {
        let factor = self.store.get(user_id, TOTP).await?.filter(|f| !f.confirmed).ok_or(MfaFlowError::NotEnrolled)?;
        let step = self.matching_step(&factor, code).await?;
        if self.store.confirm(user_id, TOTP, step, self.clock.now()).await? {
            self.reset_counter(user_id).await;
            Ok(())
        } else {
            Err(MfaFlowError::NotEnrolled)
        }
    }

    /// Whether the user has an active (confirmed) factor.
    ///
    /// # Errors
    /// A store failure.
    pub async fn is_enrolled(&self, user_id: &str) -> Result<bool, MfaFlowError> {
        Ok(self.store.get(user_id, TOTP).await?.is_some_and(|f| f.confirmed))
    }

    /// Checks a code against the active factor; each code is accepted once.
    ///
    /// # Errors
    /// As [`MfaService::confirm`].
    pub async fn check_code(&self, user_id: &str, code: &str) -> Result<(), MfaFlowError> {
        let factor = self.store.get(user_id, TOTP).await?.filter(|f| f.confirmed).ok_or(MfaFlowError::NotEnrolled)?;
        let step = self.matching_step(&factor, code).await?;
        if !self.store.use_step(user_id, TOTP, step, self.clock.now()).await? {
            return Err(MfaFlowError::InvalidCode);
        }
        self.reset_counter(user_id).await;
        Ok(())
    }

    /// Removes the active factor after a valid code.
    ///
    /// # Errors
    /// As [`MfaService::confirm`].
    pub async fn remove(&self, user_id: &str, code: &str) -> Result<(), MfaFlowError> {
        self.check_code(user_id, code).await?;
        self.store.delete(user_id, TOTP).await?;
        Ok(())
    }

    /// Counts one attempt in the user's wrong-code counter (kind `mfa`),
    /// which only a valid code resets. Password checks of the enroll route
    /// count here too.
    ///
    /// # Errors
    /// [`MfaFlowError::RateLimited`] once the limit is reached, or a store
    /// failure.
    pub async fn count_attempt(&self, user_id: &str) -> Result<(), MfaFlowError> {
        let now = self.clock.now();
        let key = RateLimitKey { kind: "mfa".into(), value: user_id.to_owned() };
        match self.limiter.attempt(&key, self.rule, now).await? {
            Admission::Allowed { .. } => Ok(()),
            Admission::Blocked { until, .. } => {
                Err(MfaFlowError::RateLimited { retry_after: rate_limit_seconds_until(until, now) })
            }
        }
    }

    /// Counts the attempt, then verifies the code (±1 step).
    async fn matching_step(&self, factor: &MfaFactor, code: &str) -> Result<i64, MfaFlowError> {
        self.count_attempt(&factor.user_id).await?;
        let now = self.clock.now();
        let plain = self
            .sealer
            .open(&factor.secret_ciphertext, &factor.nonce, &associated(&factor.user_id))
            .map_err(|e| MfaFlowError::Unavailable(e.to_string()))?;
        let secret = TotpSecret::from_bytes(plain).map_err(|e| MfaFlowError::Unavailable(e.to_string()))?;
        self.totp.verify(&secret, code.trim(), now.unix_timestamp()).ok_or(MfaFlowError::InvalidCode)
    }

    async fn reset_counter(&self, user_id: &str) {
        let key = RateLimitKey { kind: "mfa".into(), value: user_id.to_owned() };
        if let Err(err) = self.limiter.reset(&key).await {
            tracing::warn!(error = %err, "could not reset the MFA attempt counter");
        }
    }
}
