//! The port contracts against `UAP_TEST_REDIS_URL`, and what the contracts do
//! not pin: expiries, prefixes, two instances, logout-all racing refreshes.

use std::sync::Arc;

use fred::prelude::KeysInterface;
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uap_ports::contract::{micros, rate_limit, session_store};
use uap_ports::{
    Clock, RateLimitKey, RateLimitRule, RateLimitStore, RotateOutcome, SessionRecord, SessionState, SessionStore,
    StoreError, SystemClock,
};
use uap_redis::{Redis, RedisConfig};

use crate::support::{TestRedis, spawned};

fn now() -> OffsetDateTime {
    micros(SystemClock.now())
}

pub fn record(id: &str, user: &str, now: OffsetDateTime) -> SessionRecord {
    SessionRecord {
        session_id: id.to_owned(),
        user_id: user.to_owned(),
        device_id: None,
        created_at: now,
        expires_at: now + Duration::hours(1),
        last_activity: now,
        ip_address: None,
        user_agent: None,
        user_data: std::sync::Arc::new(json!({"id": 1})),
        family_id: id.to_owned(),
        refresh_expires_at: Some(now + Duration::days(1)),
        state: SessionState::Active,
        auth_time: now,
        credential_fingerprint: None,
    }
}

#[tokio::test]
async fn session_contract() {
    let Some(t) = TestRedis::new().await else { return };
    session_store::run_all(&t.redis.session_store(), SystemClock.now()).await;
    t.cleanup().await;
}

#[tokio::test]
async fn rate_limit_contract() {
    let Some(t) = TestRedis::new().await else { return };
    rate_limit::run_all(&t.redis.rate_limit_store(), SystemClock.now()).await;
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_attempts_on_one_client() {
    let Some(t) = TestRedis::new().await else { return };
    let store: Arc<dyn RateLimitStore> = Arc::new(t.redis.rate_limit_store());
    rate_limit::concurrent_attempts(store, SystemClock.now(), spawned).await;
    t.cleanup().await;
}

/// Two instances (two pools) counting on one key still admit exactly five.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_attempts_across_two_instances() {
    let Some(t) = TestRedis::new().await else { return };
    let (a, b) = (t.redis.rate_limit_store(), t.second().await.rate_limit_store());
    let rule = RateLimitRule { max_attempts: 5, window: Duration::minutes(1), block: Duration::minutes(5) };
    let key = RateLimitKey { kind: "ip".into(), value: "10.0.0.1".into() };
    let now = now();
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let key = key.clone();
            tokio::spawn(async move { store.attempt(&key, rule, now).await.expect("attempt") })
        })
        .collect();
    let mut allowed = 0;
    for task in tasks {
        allowed += usize::from(matches!(task.await.unwrap(), uap_ports::Admission::Allowed { .. }));
    }
    assert_eq!(allowed, 5);
    assert_eq!(a.attempts(&key, rule, now).await.unwrap(), 6);
    t.cleanup().await;
}

/// Records, pointers and indexes expire: the index never before its members.
#[tokio::test]
async fn every_key_expires() {
    let Some(t) = TestRedis::new().await else { return };
    let store = t.redis.session_store();
    let raw = t.raw().await;
    let now = now();
    let short = SessionRecord { refresh_expires_at: None, ..record("s-short", "u-ttl", now) };
    let long = record("s-long", "u-ttl", now);
    store.create(&long).await.unwrap();
    store.create(&short).await.unwrap();
    let p = &t.prefix;
    let expire_time = |key: String| {
        let raw = raw.clone();
        async move { raw.pexpire_time::<i64, _>(key).await.unwrap() }
    };
    // Unix ms: retain_until, then 5 minutes of grace.
    let expected = |retain_until: OffsetDateTime| {
        i64::try_from(retain_until.unix_timestamp_nanos() / 1_000_000).unwrap() + 1 + 5 * 60 * 1000
    };
    let (long_at, short_at) = (expected(long.retain_until()), expected(short.retain_until()));
    assert_eq!(expire_time(format!("{p}{{u:u-ttl}}:session:s-long")).await, long_at, "refresh expiry + grace");
    assert_eq!(expire_time(format!("{p}{{u:u-ttl}}:session:s-short")).await, short_at, "expiry + grace");
    assert_eq!(expire_time(format!("{p}{{u:u-ttl}}:sessions")).await, long_at, "the index lives as its last member");
    assert_eq!(expire_time(format!("{p}session:s-long")).await, long_at, "a pointer expires with its record");
    assert_eq!(expire_time(format!("{p}session:s-short")).await, short_at);
    assert_eq!(expire_time(format!("{p}family:s-long")).await, long_at, "a family pointer with its last member");

    let ttl = |key: String| {
        let raw = raw.clone();
        async move { raw.pttl::<i64, _>(key).await.unwrap() }
    };
    let limits = t.redis.rate_limit_store();
    let key = RateLimitKey { kind: "ip".into(), value: "ttl".into() };
    let rule = RateLimitRule { max_attempts: 1, window: Duration::seconds(60), block: Duration::seconds(600) };
    limits.attempt(&key, rule, now).await.unwrap();
    let counter = format!("{p}rl:2:ip:ttl");
    assert!((60_000..=61_000).contains(&ttl(counter.clone()).await), "a window's counter expires after it");
    limits.attempt(&key, rule, now).await.unwrap();
    assert!((600_000..=601_000).contains(&ttl(counter.clone()).await), "a blocked counter after the block");

    store.delete_user_sessions("u-ttl", None).await.unwrap();
    let gone: i64 = raw.exists(vec![format!("{p}session:s-long"), format!("{p}session:s-short")]).await.unwrap();
    assert_eq!(gone, 0, "pointers of ended sessions are deleted");
    t.cleanup().await;
}

/// Two prefixes on one Redis never see each other's sessions or counters.
#[tokio::test]
async fn prefixes_are_isolated() {
    let Some(t) = TestRedis::new().await else { return };
    let other = TestRedis::new().await.unwrap();
    let (a, b) = (t.redis.session_store(), other.redis.session_store());
    let now = now();
    a.create(&record("shared-id", "shared-user", now)).await.unwrap();
    assert_eq!(b.get("shared-id").await.unwrap(), None);
    assert!(b.list_user_sessions("shared-user").await.unwrap().is_empty());
    assert_eq!(b.delete_user_sessions("shared-user", None).await.unwrap(), 0);
    assert!(a.get("shared-id").await.unwrap().is_some());
    t.cleanup().await;
    other.cleanup().await;
}

/// Logout-all racing refreshes of every session of the user: each refresh
/// either ran first (and its successor is ended with the rest) or finds its
/// session gone, so nothing survives and exactly one active session per
/// chain is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logout_all_wins_against_concurrent_refreshes() {
    let Some(t) = TestRedis::new().await else { return };
    let store = t.redis.session_store();
    let now = now();
    for i in 0..20 {
        store.create(&record(&format!("race-{i}"), "racer", now)).await.unwrap();
    }
    let refreshes: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let successor = record(&format!("race-{i}-next"), "racer", now);
                store.rotate(&format!("race-{i}"), &successor, now).await.unwrap()
            })
        })
        .collect();
    let ended = store.delete_user_sessions("racer", None).await.unwrap();
    for refresh in refreshes {
        let outcome = refresh.await.unwrap();
        assert!(matches!(outcome, RotateOutcome::Rotated | RotateOutcome::NotFound), "{outcome:?}");
    }
    assert_eq!(ended, 20, "one active session per chain");
    assert!(store.list_user_sessions("racer").await.unwrap().is_empty());
    for i in 0..20 {
        assert_eq!(store.get(&format!("race-{i}-next")).await.unwrap(), None);
    }
    t.cleanup().await;
}

/// A refresh retried with the same successor reports the first rotation
/// and leaves that successor reachable.
#[tokio::test]
async fn retried_rotation_keeps_its_successor() {
    let Some(t) = TestRedis::new().await else { return };
    let store = t.redis.session_store();
    let now = now();
    store.create(&record("retry-old", "retry-user", now)).await.unwrap();
    let successor = record("retry-new", "retry-user", now);
    assert_eq!(store.rotate("retry-old", &successor, now).await.unwrap(), RotateOutcome::Rotated);
    let again = store.rotate("retry-old", &successor, now).await.unwrap();
    assert_eq!(again, RotateOutcome::AlreadyRotated { successor_id: "retry-new".into(), at: now });
    assert_eq!(store.get("retry-new").await.unwrap(), Some(successor));
    let other = record("retry-other", "retry-user", now);
    assert!(matches!(store.rotate("retry-old", &other, now).await.unwrap(), RotateOutcome::AlreadyRotated { .. }));
    assert_eq!(store.get("retry-other").await.unwrap(), None);
    let pointer: i64 = t.raw().await.exists(format!("{}session:retry-other", t.prefix)).await.unwrap();
    assert_eq!(pointer, 0, "the refused successor's pointer is gone");
    t.cleanup().await;
}

/// Records survive whatever their ids and user ids hold (hash-tag braces,
/// glob characters, the escape character, nothing at all).
pub async fn odd_ids_round_trip(store: &dyn SessionStore) {
    let now = now();
    let odd = [("a}{b", "u}{:x"), ("%7D", "%"), ("", ""), ("s:1", "{u:x}"), ("id*?[", "user*?[\\")];
    for (id, user) in odd {
        let r = record(id, user, now);
        store.create(&r).await.unwrap();
        assert_eq!(store.get(id).await.unwrap(), Some(r.clone()), "{id:?}/{user:?}");
        assert_eq!(store.list_user_sessions(user).await.unwrap(), vec![r], "{user:?}");
    }
    let purged = store.purge_expired(now + Duration::days(2)).await.unwrap();
    assert!(purged >= 5, "purge finds odd users too: {purged}");
    for (id, user) in odd {
        assert_eq!(store.get(id).await.unwrap(), None, "{id:?}");
        assert!(store.list_user_sessions(user).await.unwrap().is_empty(), "{user:?}");
    }
}

#[tokio::test]
async fn odd_ids() {
    let Some(t) = TestRedis::new().await else { return };
    odd_ids_round_trip(&t.redis.session_store()).await;
    t.cleanup().await;
}

#[tokio::test]
async fn bad_configuration_is_misconfigured() {
    let config = RedisConfig { key_prefix: "a{b}".into(), ..RedisConfig::new("redis://127.0.0.1:1") };
    assert!(matches!(Redis::connect(config).await, Err(StoreError::Misconfigured(_))));
    match Redis::connect(RedisConfig::new("redis://:hunter2@127.0.0.1:badport")).await {
        Err(StoreError::Misconfigured(message)) => assert!(!message.contains("hunter2"), "{message}"),
        other => panic!("{other:?}"),
    }
}
