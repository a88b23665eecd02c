//! Rate-limit counters in one process (the `session_store = "memory"` setup
//! and tests): the same semantics as the shared stores, atomic under one lock.
//! Counters are not shared between instances.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};
use uap_ports::{Admission, RateLimitKey, RateLimitRule, RateLimitStore, StoreError};

/// One key's counter.
#[derive(Debug, Clone, Copy)]
struct Counter {
    count: u32,
    window_start: OffsetDateTime,
    blocked_until: Option<OffsetDateTime>,
}

/// Attempt counters in a process-local map. Each call takes the lock once and
/// never holds it across an await, so every attempt is one atomic step.
#[derive(Default)]
pub struct MemoryRateLimitStore {
    counters: Mutex<HashMap<RateLimitKey, Counter>>,
}

impl std::fmt::Debug for MemoryRateLimitStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryRateLimitStore").field("keys", &self.len()).finish()
    }
}

/// `t + d`, saturating instead of overflowing.
fn plus(t: OffsetDateTime, d: Duration) -> OffsetDateTime {
    t.checked_add(d).unwrap_or(if d.is_negative() { OffsetDateTime::UNIX_EPOCH } else { LATEST })
}

const LATEST: OffsetDateTime = time::macros::datetime!(9999-12-31 23:59:59 UTC);

impl MemoryRateLimitStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<RateLimitKey, Counter>> {
        self.counters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many keys have a counter.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no key has a counter.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl RateLimitStore for MemoryRateLimitStore {
    async fn attempt(
        &self,
        key: &RateLimitKey,
        rule: RateLimitRule,
        now: OffsetDateTime,
    ) -> Result<Admission, StoreError> {
        let mut counters = self.lock();
        let current = counters.get(key).copied();
        let (count, window_start) = match current {
            Some(Counter { blocked_until: Some(until), .. }) if until > now => {
                return Ok(Admission::Blocked { until, newly_blocked: false });
            }
            Some(c) if c.blocked_until.is_none() && plus(c.window_start, rule.window) > now => {
                (c.count.saturating_add(1), c.window_start)
            }
            // No counter, the window has passed, or a block has ended.
            _ => (1, now),
        };
        let (blocked_until, admission) = if count > rule.max_attempts {
            let until = plus(now, rule.block);
            (Some(until), Admission::Blocked { until, newly_blocked: true })
        } else {
            (None, Admission::Allowed { attempt: count })
        };
        counters.insert(key.clone(), Counter { count, window_start, blocked_until });
        Ok(admission)
    }

    async fn blocked_until(
        &self,
        key: &RateLimitKey,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        Ok(self.lock().get(key).and_then(|c| c.blocked_until).filter(|until| *until > now))
    }

    async fn attempts(&self, key: &RateLimitKey, rule: RateLimitRule, now: OffsetDateTime) -> Result<u32, StoreError> {
        Ok(match self.lock().get(key) {
            Some(c) if c.blocked_until.is_none_or(|until| until > now) && plus(c.window_start, rule.window) > now => {
                c.count
            }
            _ => 0,
        })
    }

    async fn reset(&self, key: &RateLimitKey) -> Result<(), StoreError> {
        self.lock().remove(key);
        Ok(())
    }
}
