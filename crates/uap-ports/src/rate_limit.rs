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

/// The latest instant a store keeps (every SQL engine can hold it).
pub const LATEST: OffsetDateTime = time::macros::datetime!(9999-12-31 23:59:59 UTC);

/// `t + d`, saturating at [`LATEST`] (and the epoch for negative spans)
/// instead of overflowing.
#[must_use]
pub fn saturating_add(t: OffsetDateTime, d: Duration) -> OffsetDateTime {
    t.checked_add(d).map_or(if d.is_negative() { OffsetDateTime::UNIX_EPOCH } else { LATEST }, |t| t.min(LATEST))
}

/// One key's counter, as every store keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitCounter {
    /// Attempts in the current window (the one that crossed the limit included).
    pub count: u32,
    /// When the current window started.
    pub window_start: OffsetDateTime,
    /// When the block ends, once over the limit.
    pub blocked_until: Option<OffsetDateTime>,
}

/// What one attempt does to a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The key is blocked until then: nothing changes.
    Blocked(OffsetDateTime),
    /// Write this counter; answer this.
    Counted(RateLimitCounter, Admission),
}

impl RateLimitRule {
    /// `max_attempts`, kept below what a signed 32-bit count can exceed by one
    /// (the SQL column), the same in every store.
    #[must_use]
    pub fn attempts_allowed(self) -> u32 {
        self.max_attempts.min(i32::MAX.unsigned_abs() - 1)
    }

    /// The one rule of every store (the Redis script mirrors it): an attempt
    /// at `now` on a key whose counter is `current`. A blocked key stays
    /// blocked until its block ends; an ended block or a passed window starts
    /// a fresh window.
    #[must_use]
    pub fn step(self, current: Option<RateLimitCounter>, now: OffsetDateTime) -> Step {
        let (count, window_start) = match current {
            Some(RateLimitCounter { blocked_until: Some(until), .. }) if until > now => return Step::Blocked(until),
            Some(c) if c.blocked_until.is_none() && saturating_add(c.window_start, self.window) > now => {
                (c.count.saturating_add(1), c.window_start)
            }
            // No counter, the window has passed, or a block has ended.
            _ => (1, now),
        };
        if count > self.attempts_allowed() {
            let until = saturating_add(now, self.block);
            Step::Counted(
                RateLimitCounter { count, window_start, blocked_until: Some(until) },
                Admission::Blocked { until, newly_blocked: true },
            )
        } else {
            Step::Counted(
                RateLimitCounter { count, window_start, blocked_until: None },
                Admission::Allowed { attempt: count },
            )
        }
    }

    /// The attempts counted in the current window of `current` at `now`
    /// (0 when none, when the window has passed or a block has ended).
    #[must_use]
    pub fn attempts_in_window(self, current: Option<RateLimitCounter>, now: OffsetDateTime) -> u32 {
        match current {
            Some(c)
                if c.blocked_until.is_none_or(|until| until > now)
                    && saturating_add(c.window_start, self.window) > now =>
            {
                c.count
            }
            _ => 0,
        }
    }
}

impl RateLimitCounter {
    /// When the block of this counter ends, if it is blocked at `now`.
    #[must_use]
    pub fn blocked_at(self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        self.blocked_until.filter(|until| *until > now)
    }
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
