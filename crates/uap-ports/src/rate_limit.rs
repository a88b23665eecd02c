//! The rate-limit store port: atomic attempt counters shared by instances.

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

use crate::StoreError;

/// What a counter is about: `identifier_type` (`ip`, `identifier`,
/// `ip_identifier`, `mfa`, …) and the value (an address, an identifier, both).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RateLimitKey {
    /// The kind of key, stored as `identifier_type`.
    pub kind: String,
    /// The key itself, stored as `identifier` (stores that cannot hold it as
    /// is — over 255 bytes, NUL, trailing space — store its SHA-256 instead).
    pub value: String,
}

/// The limits of one counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitRule {
    /// Attempts allowed within `window`; the next one is refused.
    pub max_attempts: u32,
    /// Attempts older than this (counted from the first of the window) are
    /// forgotten.
    pub window: Duration,
    /// How long a key stays blocked once over the limit.
    pub block: Duration,
}

/// The answer to an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The attempt may proceed; `attempt` is its number within the window
    /// (1-based).
    Allowed {
        /// This attempt's number.
        attempt: u32,
    },
    /// Refused until `until`. `newly_blocked` is true for the one attempt that
    /// crossed the limit (audit ACCOUNT_LOCKED once).
    Blocked {
        /// When the block ends.
        until: OffsetDateTime,
        /// Whether this attempt started the block.
        newly_blocked: bool,
    },
}

/// Attempt counters, shared by every instance using the same store. Counting
/// is atomic: N concurrent attempts on one key with `max_attempts = M` admit
/// at most M.
#[async_trait]
pub trait RateLimitStore: Send + Sync + 'static {
    /// Records an attempt on `key` at `now` and says whether it may proceed.
    /// A blocked key stays blocked (not counted further) until its block ends;
    /// then it starts a fresh window.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] or [`StoreError::Backend`] (callers fail closed).
    async fn attempt(
        &self,
        key: &RateLimitKey,
        rule: RateLimitRule,
        now: OffsetDateTime,
    ) -> Result<Admission, StoreError>;

    /// Whether `key` is blocked at `now`, without counting an attempt.
    ///
    /// # Errors
    /// As [`RateLimitStore::attempt`].
    async fn blocked_until(
        &self,
        key: &RateLimitKey,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError>;

    /// The number of attempts in the current window of `key` (0 when none or
    /// when the window has passed).
    ///
    /// # Errors
    /// As [`RateLimitStore::attempt`].
    async fn attempts(&self, key: &RateLimitKey, rule: RateLimitRule, now: OffsetDateTime) -> Result<u32, StoreError>;

    /// Forgets `key` (a successful login resets its counter).
    ///
    /// # Errors
    /// As [`RateLimitStore::attempt`].
    async fn reset(&self, key: &RateLimitKey) -> Result<(), StoreError>;
}
