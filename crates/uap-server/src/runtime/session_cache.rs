//! An in-process read cache in front of the SQL session store, so validate
//! (the hot path) is a signature check plus a map lookup. Every write through
//! this instance updates or drops the cached record at once (a logout takes
//! effect immediately here); other instances' writes arrive over the event bus
//! (the session manager announces every end and extension there), and in any
//! case a cached record is trusted for at most `ttl` — the bound on staleness
//! when an announcement is lost.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use time::OffsetDateTime;
use uap_ports::{BusEvent, EventBus, RotateOutcome, SessionRecord, SessionState, SessionStore, StoreError};

/// Records kept at most; past it the cache starts over (cheap, rare).
const MAX_ENTRIES: usize = 200_000;

struct Entry {
    record: SessionRecord,
    cached_at: Instant,
}

/// The cached map, shared with the bus subscription. `generation` moves on
/// every invalidation, so a read that raced with one does not put a stale
/// record back.
#[derive(Default)]
struct Cache {
    entries: RwLock<HashMap<String, Entry>>,
    generation: AtomicU64,
}

impl Cache {
    fn get(&self, id: &str, ttl: Duration) -> Option<SessionRecord> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries.get(id).filter(|e| e.cached_at.elapsed() < ttl).map(|e| e.record.clone())
    }

    fn put(&self, record: SessionRecord) {
        insert(&mut self.entries.write().unwrap_or_else(PoisonError::into_inner), record);
    }

    fn drop_where(&self, predicate: impl Fn(&SessionRecord) -> bool) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.retain(|_, e| !predicate(&e.record));
    }

    /// Caches `record` read at `generation`, unless an invalidation came since.
    fn put_if_current(&self, record: SessionRecord, generation: u64) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if self.generation.load(Ordering::Acquire) == generation {
            insert(&mut entries, record);
        }
    }

    fn apply(&self, event: &BusEvent) {
        match event {
            BusEvent::SessionEnded { session_id, .. } => self.drop_where(|r| &r.session_id == session_id),
            BusEvent::UserSessionsEnded { user_id, keep_session_id, .. } => {
                self.drop_where(|r| &r.user_id == user_id && Some(&r.session_id) != keep_session_id.as_ref());
            }
            BusEvent::SessionRefreshed { session_id, .. } => self.drop_where(|r| &r.session_id == session_id),
            BusEvent::FamilyEnded { family_id } => self.drop_where(|r| &r.family_id == family_id),
            BusEvent::ConfigChanged { .. } | BusEvent::KeysRotated { .. } => {}
        }
    }
}

/// Caches `record`, starting over when the map is full.
fn insert(entries: &mut HashMap<String, Entry>, record: SessionRecord) {
    if entries.len() >= MAX_ENTRIES {
        entries.clear();
    }
    entries.insert(record.session_id.clone(), Entry { record, cached_at: Instant::now() });
}

/// [`SessionStore`] decorator with a read cache.
pub struct CachedSessionStore {
    inner: Arc<dyn SessionStore>,
    cache: Arc<Cache>,
    ttl: Duration,
    stats: Option<CacheStats>,
}

/// The counters a lookup bumps (`uap_session_cache_hits_total`,
/// `uap_session_cache_misses_total`): one atomic add per `get`.
#[derive(Clone, Debug)]
pub struct CacheStats {
    pub hits: prometheus::IntCounter,
    pub misses: prometheus::IntCounter,
}

impl CachedSessionStore {
    /// Caches `inner`'s records for up to `ttl`; with a `bus`, what other
    /// instances announce is dropped from the cache.
    ///
    /// # Errors
    /// When the bus subscription cannot be made.
    pub async fn new(
        inner: Arc<dyn SessionStore>,
        ttl: Duration,
        bus: Option<Arc<dyn EventBus>>,
    ) -> Result<Self, StoreError> {
        let cache = Arc::new(Cache::default());
        if let Some(bus) = &bus {
            let subscriber = Arc::clone(&cache);
            bus.subscribe(Arc::new(move |event| subscriber.apply(&event))).await?;
        }
        Ok(Self { inner, cache, ttl, stats: None })
    }

    /// Counts hits and misses in `stats`.
    #[must_use]
    pub fn with_stats(mut self, stats: CacheStats) -> Self {
        self.stats = Some(stats);
        self
    }
}

#[async_trait]
impl SessionStore for CachedSessionStore {
    async fn create(&self, record: &SessionRecord) -> Result<(), StoreError> {
        self.inner.create(record).await?;
        self.cache.put(record.clone());
        Ok(())
    }

    async fn get(&self, session_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        if let Some(record) = self.cache.get(session_id, self.ttl) {
            if let Some(stats) = &self.stats {
                stats.hits.inc();
            }
            return Ok(Some(record));
        }
        if let Some(stats) = &self.stats {
            stats.misses.inc();
        }
        let generation = self.cache.generation.load(Ordering::Acquire);
        let record = self.inner.get(session_id).await?;
        if let Some(record) = &record
            && record.state == SessionState::Active
        {
            self.cache.put_if_current(record.clone(), generation);
        }
        Ok(record)
    }

    async fn touch(&self, session_id: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        self.inner.touch(session_id, at).await?;
        self.cache.drop_where(|r| r.session_id == session_id);
        Ok(())
    }

    async fn delete(&self, session_id: &str) -> Result<bool, StoreError> {
        let existed = self.inner.delete(session_id).await?;
        self.cache.drop_where(|r| r.session_id == session_id);
        Ok(existed)
    }

    async fn delete_user_sessions(&self, user_id: &str, keep: Option<&str>) -> Result<u64, StoreError> {
        let ended = self.inner.delete_user_sessions(user_id, keep).await?;
        self.cache.drop_where(|r| r.user_id == user_id && Some(r.session_id.as_str()) != keep);
        Ok(ended)
    }

    async fn delete_family(&self, family_id: &str) -> Result<u64, StoreError> {
        let ended = self.inner.delete_family(family_id).await?;
        self.cache.drop_where(|r| r.family_id == family_id);
        Ok(ended)
    }

    async fn list_user_sessions(&self, user_id: &str) -> Result<Vec<SessionRecord>, StoreError> {
        self.inner.list_user_sessions(user_id).await
    }

    async fn rotate(
        &self,
        old_id: &str,
        successor: &SessionRecord,
        at: OffsetDateTime,
    ) -> Result<RotateOutcome, StoreError> {
        let outcome = self.inner.rotate(old_id, successor, at).await?;
        self.cache.drop_where(|r| r.session_id == old_id);
        if outcome == RotateOutcome::Rotated {
            self.cache.put(successor.clone());
        }
        Ok(outcome)
    }

    async fn extend(
        &self,
        session_id: &str,
        expected_expires_at: OffsetDateTime,
        expires_at: OffsetDateTime,
        user_data: &Arc<serde_json::Value>,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let extended = self.inner.extend(session_id, expected_expires_at, expires_at, user_data, at).await?;
        self.cache.drop_where(|r| r.session_id == session_id);
        Ok(extended)
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        self.cache.drop_where(|r| r.retain_until() < now);
        self.inner.purge_expired(now).await
    }

    async fn count_active(&self, now: OffsetDateTime) -> Result<Option<u64>, StoreError> {
        self.inner.count_active(now).await
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.inner.health().await
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;
    use uap_domain::memory::MemorySessionStore;

    use super::*;

    #[tokio::test]
    async fn meets_the_session_store_contract() {
        let inner: Arc<dyn SessionStore> = Arc::new(MemorySessionStore::new());
        let cached = CachedSessionStore::new(inner, Duration::from_secs(60), None).await.unwrap();
        uap_ports::contract::session_store::run_all(&cached, datetime!(2026-01-01 00:00 UTC)).await;
    }

    #[tokio::test]
    async fn writes_through_this_instance_are_seen_at_once() {
        let inner: Arc<dyn SessionStore> = Arc::new(MemorySessionStore::new());
        let cached = CachedSessionStore::new(Arc::clone(&inner), Duration::from_secs(60), None).await.unwrap();
        let now = datetime!(2026-01-01 00:00 UTC);
        let record = SessionRecord {
            session_id: "s1".into(),
            user_id: "u1".into(),
            device_id: None,
            created_at: now,
            expires_at: now + time::Duration::hours(1),
            last_activity: now,
            ip_address: None,
            user_agent: None,
            user_data: Arc::new(serde_json::json!({})),
            family_id: "s1".into(),
            refresh_expires_at: None,
            state: SessionState::Active,
            auth_time: now,
            credential_fingerprint: None,
        };
        cached.create(&record).await.unwrap();
        assert!(cached.get("s1").await.unwrap().is_some());
        assert!(cached.delete("s1").await.unwrap());
        assert_eq!(cached.get("s1").await.unwrap(), None);
        cached.create(&record).await.unwrap();
        assert_eq!(cached.delete_user_sessions("u1", None).await.unwrap(), 1);
        assert_eq!(cached.get("s1").await.unwrap(), None);
    }

    fn chain_record(id: &str, family: &str, now: OffsetDateTime) -> SessionRecord {
        SessionRecord {
            session_id: id.into(),
            user_id: "u1".into(),
            device_id: None,
            created_at: now,
            expires_at: now + time::Duration::hours(1),
            last_activity: now,
            ip_address: None,
            user_agent: None,
            user_data: Arc::new(serde_json::json!({"roles": ["admin"]})),
            family_id: family.into(),
            refresh_expires_at: Some(now + time::Duration::days(1)),
            state: SessionState::Active,
            auth_time: now,
            credential_fingerprint: Some("fp".into()),
        }
    }

    /// Two instances over one SQL store and one bus: a chain ended or a
    /// session extended on one (and announced, as the session manager does)
    /// is seen at once by the other, even when the first never had the
    /// records cached (theft detection after a restart).
    #[tokio::test]
    async fn chain_ends_and_extends_reach_the_other_instances() {
        let db = uap_adapters_sql::testing::TestDb::sqlite();
        let internal = uap_adapters_sql::InternalDb::connect(&db.url, "org-cache").await.unwrap();
        internal.migrate().await.unwrap();
        let sql: Arc<dyn SessionStore> = Arc::new(internal.session_store());
        let bus: Arc<dyn EventBus> = Arc::new(uap_domain::memory::MemoryEventBus::new());
        let ttl = Duration::from_secs(600);
        let a = CachedSessionStore::new(Arc::clone(&sql), ttl, Some(Arc::clone(&bus))).await.unwrap();
        let b = CachedSessionStore::new(Arc::clone(&sql), ttl, Some(Arc::clone(&bus))).await.unwrap();
        let now = uap_ports::contract::micros(uap_ports::Clock::now(&uap_ports::SystemClock));

        let root = chain_record("11111111-0000-4000-8000-000000000001", "11111111-0000-4000-8000-000000000001", now);
        let other = chain_record("11111111-0000-4000-8000-000000000002", "11111111-0000-4000-8000-000000000002", now);
        b.create(&root).await.unwrap();
        b.create(&other).await.unwrap();
        assert!(b.get(&root.session_id).await.unwrap().is_some(), "cached on b");

        // Extended through a: b drops its copy with the old expiry.
        let later = now + time::Duration::hours(2);
        let data = Arc::new(serde_json::json!({"roles": ["user"]}));
        assert!(a.extend(&root.session_id, root.expires_at, later, &data, now).await.unwrap());
        let refreshed =
            BusEvent::SessionRefreshed { session_id: root.session_id.clone(), user_id: "u1".into(), expires_at: later };
        bus.publish(&refreshed).await.unwrap();
        let seen = b.get(&root.session_id).await.unwrap().unwrap();
        assert_eq!((seen.expires_at, seen.user_data), (later, data));

        // Theft detected on a, which never cached the chain: b rejects it at once.
        assert_eq!(a.delete_family(&root.family_id).await.unwrap(), 1);
        bus.publish(&BusEvent::FamilyEnded { family_id: root.family_id.clone() }).await.unwrap();
        assert_eq!(b.get(&root.session_id).await.unwrap(), None, "the chain is gone on b too");
        assert!(b.get(&other.session_id).await.unwrap().is_some(), "another chain stays");
        db.cleanup().await;
    }
}
