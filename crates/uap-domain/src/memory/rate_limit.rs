//! Rate-limit counters in one process (the `session_store = "memory"` setup
//! and tests): the same semantics as the shared stores, atomic under one lock.
//! Counters are not shared between instances.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use time::OffsetDateTime;
use uap_ports::{
    Admission, RateLimitCounter as Counter, RateLimitKey, RateLimitRule, RateLimitStore, Step, StoreError,
};

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
        match rule.step(counters.get(key).copied(), now) {
            Step::Blocked(until) => Ok(Admission::Blocked { until, newly_blocked: false }),
            Step::Counted(counter, admission) => {
                counters.insert(key.clone(), counter);
                Ok(admission)
            }
        }
    }

    async fn blocked_until(
        &self,
        key: &RateLimitKey,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        Ok(self.lock().get(key).and_then(|c| c.blocked_at(now)))
    }

    async fn attempts(&self, key: &RateLimitKey, rule: RateLimitRule, now: OffsetDateTime) -> Result<u32, StoreError> {
        Ok(rule.attempts_in_window(self.lock().get(key).copied(), now))
    }

    async fn reset(&self, key: &RateLimitKey) -> Result<(), StoreError> {
        self.lock().remove(key);
        Ok(())
    }
}
