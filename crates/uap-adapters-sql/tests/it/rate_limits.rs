//! The SQL rate-limit store: the shared contract, organization scoping, far
//! timestamps, and atomic counting under 100 concurrent attempts — on one pool
//! and across two pools (two instances sharing the database).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uap_adapters_sql::SqlRateLimitStore;
use uap_adapters_sql::testing::TestDb;
use uap_ports::contract::rate_limit;
use uap_ports::{Admission, Clock, RateLimitKey, RateLimitRule, RateLimitStore, StoreError, SystemClock};

use crate::support::{migrated, spawned};

per_backend!(rate_limit_contract, counters_are_per_organization, far_blocks_round_trip, bad_kinds_are_refused);
per_backend_parallel!(concurrent_attempts_on_one_pool, concurrent_attempts_across_two_pools);

fn key(value: &str) -> RateLimitKey {
    RateLimitKey { kind: "ip".to_owned(), value: value.to_owned() }
}

async fn rate_limit_contract(db: &TestDb) {
    let store = migrated(db, "org-contract").await.rate_limit_store();
    rate_limit::run_all(&store, SystemClock.now()).await;
}

async fn counters_are_per_organization(db: &TestDb) {
    let a = migrated(db, "org-a").await.rate_limit_store();
    let b = migrated(db, "org-b").await.rate_limit_store();
    let now = datetime!(2025-01-01 00:00:00 UTC);
    let rule = RateLimitRule { max_attempts: 1, window: Duration::minutes(1), block: Duration::minutes(5) };
    let k = key("10.0.0.1");
    assert_eq!(a.attempt(&k, rule, now).await.unwrap(), Admission::Allowed { attempt: 1 });
    let until = now + Duration::minutes(5);
    assert_eq!(a.attempt(&k, rule, now).await.unwrap(), Admission::Blocked { until, newly_blocked: true });
    assert_eq!(b.blocked_until(&k, now).await.unwrap(), None);
    assert_eq!(b.attempts(&k, rule, now).await.unwrap(), 0);
    assert_eq!(b.attempt(&k, rule, now).await.unwrap(), Admission::Allowed { attempt: 1 });
    b.reset(&k).await.unwrap();
    assert_eq!(a.blocked_until(&k, now).await.unwrap(), Some(until), "b's reset leaves a alone");
}

/// Blocks past 2038 (MySQL `TIMESTAMP`'s end) and sub-second instants survive.
async fn far_blocks_round_trip(db: &TestDb) {
    let store = migrated(db, "org").await.rate_limit_store();
    let now = datetime!(2037-12-31 23:59:59.123_456 UTC);
    let rule = RateLimitRule { max_attempts: 1, window: Duration::days(1), block: Duration::days(3650) };
    let k = key("far");
    assert_eq!(store.attempt(&k, rule, now).await.unwrap(), Admission::Allowed { attempt: 1 });
    let until = datetime!(2047-12-29 23:59:59.123_456 UTC);
    let at = now + Duration::microseconds(1);
    assert_eq!(
        store.attempt(&k, rule, at).await.unwrap(),
        Admission::Blocked { until: until + Duration::microseconds(1), newly_blocked: true }
    );
    assert_eq!(store.blocked_until(&k, now).await.unwrap(), Some(until + Duration::microseconds(1)));
    // Nanoseconds are truncated to the microseconds every engine keeps.
    let k = key("nanos");
    let t = datetime!(2025-06-01 10:00:00.123_456_789 UTC);
    store.attempt(&k, rule, t).await.unwrap();
    let blocked = store.attempt(&k, rule, t).await.unwrap();
    assert_eq!(blocked, Admission::Blocked { until: datetime!(2035-05-30 10:00:00.123_456 UTC), newly_blocked: true });
}

async fn bad_kinds_are_refused(db: &TestDb) {
    let store = migrated(db, "org").await.rate_limit_store();
    let rule = RateLimitRule { max_attempts: 1, window: Duration::minutes(1), block: Duration::minutes(1) };
    let k = RateLimitKey { kind: "k".repeat(51), value: "v".to_owned() };
    let err = store.attempt(&k, rule, SystemClock.now()).await.unwrap_err();
    assert!(matches!(err, StoreError::Misconfigured(_)), "{err:?}");
}

async fn concurrent_attempts_on_one_pool(db: &TestDb) {
    let store: Arc<dyn RateLimitStore> = Arc::new(migrated(db, "org").await.rate_limit_store());
    let tally = rate_limit::concurrent_attempts(store, SystemClock.now(), spawned).await;
    eprintln!("{}: one pool: {tally:?}", db.backend);
}

/// Alternates between stores, as requests alternate between instances.
struct RoundRobin {
    stores: Vec<SqlRateLimitStore>,
    next: AtomicUsize,
}

impl RoundRobin {
    fn pick(&self) -> &SqlRateLimitStore {
        &self.stores[self.next.fetch_add(1, Ordering::Relaxed) % self.stores.len()]
    }
}

#[async_trait]
impl RateLimitStore for RoundRobin {
    async fn attempt(
        &self,
        key: &RateLimitKey,
        rule: RateLimitRule,
        now: OffsetDateTime,
    ) -> Result<Admission, StoreError> {
        self.pick().attempt(key, rule, now).await
    }

    async fn blocked_until(
        &self,
        key: &RateLimitKey,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        self.pick().blocked_until(key, now).await
    }

    async fn attempts(&self, key: &RateLimitKey, rule: RateLimitRule, now: OffsetDateTime) -> Result<u32, StoreError> {
        self.pick().attempts(key, rule, now).await
    }

    async fn reset(&self, key: &RateLimitKey) -> Result<(), StoreError> {
        self.pick().reset(key).await
    }
}

async fn concurrent_attempts_across_two_pools(db: &TestDb) {
    let stores = vec![migrated(db, "org").await.rate_limit_store(), migrated(db, "org").await.rate_limit_store()];
    let store: Arc<dyn RateLimitStore> = Arc::new(RoundRobin { stores, next: AtomicUsize::new(0) });
    let tally = rate_limit::concurrent_attempts(store, SystemClock.now(), spawned).await;
    eprintln!("{}: two pools: {tally:?}", db.backend);
}
