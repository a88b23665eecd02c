//! Redis going away mid-service: calls fail closed and fast, nothing hangs,
//! and service resumes by itself once Redis is back.

use std::time::{Duration, Instant};

use time::Duration as Span;
use uap_ports::contract::micros;
use uap_ports::{
    BusEvent, Clock, EventBus, RateLimitKey, RateLimitRule, RateLimitStore, SessionStore, StoreError, SystemClock,
};
use uap_redis::{Redis, RedisConfig};

use crate::contract::record;
use crate::events::{forwarding, next};
use crate::server::{RedisServer, binaries_available, free_port};
use crate::support::{connect, eventually, unique_prefix};

fn unavailable<T: std::fmt::Debug>(result: &Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Unavailable { what: "redis", .. }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_fail_closed_while_redis_is_down_and_recover() {
    if !binaries_available() {
        return;
    }
    let mut server = RedisServer::start(free_port(), &[]).await;
    let redis = connect(&format!("redis://127.0.0.1:{}", server.port), &unique_prefix()).await;
    let (sessions, limits) = (redis.session_store(), redis.rate_limit_store());
    let now = micros(SystemClock.now());
    sessions.create(&record("before", "u", now)).await.unwrap();
    assert!(sessions.get("before").await.unwrap().is_some());

    server.kill();
    let key = RateLimitKey { kind: "ip".into(), value: "x".into() };
    let rule = RateLimitRule { max_attempts: 3, window: Span::minutes(1), block: Span::minutes(1) };
    // Keep calling for three seconds: through several reconnect attempts.
    let started = Instant::now();
    let (mut slowest, mut calls, mut waited) = (Duration::ZERO, 0, 0);
    while started.elapsed() < Duration::from_secs(3) {
        let call = Instant::now();
        let got = sessions.get("before").await;
        assert!(unavailable(&got), "get while down must fail closed: {got:?}");
        let attempt = limits.attempt(&key, rule, now).await;
        assert!(unavailable(&attempt), "attempt while down: {attempt:?}");
        assert!(unavailable(&sessions.health().await));
        let took = call.elapsed();
        slowest = slowest.max(took);
        calls += 3;
        waited += usize::from(took > Duration::from_millis(100));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("down: {calls} calls all Unavailable; {waited} round(s) over 100 ms, the slowest {slowest:?}");
    assert!(slowest < Duration::from_secs(5), "a call took {slowest:?} while Redis was down");

    server.restart().await;
    let restarted = Instant::now();
    let healthy = eventually(Duration::from_secs(15), || async { redis.health().await.ok() }).await;
    assert!(healthy.is_some(), "no recovery within 15 s");
    eprintln!("recovered {:?} after redis-server was back", restarted.elapsed());
    assert_eq!(sessions.get("before").await.unwrap(), None, "the restarted Redis kept nothing");
    let after = record("after", "u", now);
    sessions.create(&after).await.unwrap();
    assert_eq!(sessions.get("after").await.unwrap(), Some(after));
    assert!(matches!(limits.attempt(&key, rule, now).await, Ok(uap_ports::Admission::Allowed { attempt: 1 })));
}

#[tokio::test]
async fn connecting_to_nothing_fails_fast() {
    let config = RedisConfig {
        timeout: Duration::from_secs(1),
        ..RedisConfig::new(format!("redis://127.0.0.1:{}", free_port()))
    };
    let started = Instant::now();
    let result = Redis::connect(config).await;
    eprintln!("connect to a dead port failed after {:?}", started.elapsed());
    assert!(unavailable(&result), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_resume_after_a_restart() {
    if !binaries_available() {
        return;
    }
    let mut server = RedisServer::start(free_port(), &[]).await;
    let url = format!("redis://127.0.0.1:{}", server.port);
    let prefix = unique_prefix();
    let (publisher, listener) = (connect(&url, &prefix).await.event_bus(), connect(&url, &prefix).await.event_bus());
    let (handler, mut received) = forwarding();
    listener.subscribe(handler).await.unwrap();
    let event = BusEvent::ConfigChanged { version: 1 };
    publisher.publish(&event).await.unwrap();
    assert_eq!(next(&mut received).await, Some(event));

    server.kill();
    assert!(unavailable(&publisher.publish(&BusEvent::ConfigChanged { version: 2 }).await));
    server.restart().await;
    let event = BusEvent::ConfigChanged { version: 3 };
    // Publish until the listener hears it: its connection may come back after
    // the publisher's.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut delivered = None;
    while delivered.is_none() && Instant::now() < deadline {
        if publisher.publish(&event).await.is_ok() {
            delivered = tokio::time::timeout(Duration::from_millis(200), received.recv()).await.ok().flatten();
        } else {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert_eq!(delivered, Some(event), "the subscriber resubscribed by itself");
}

#[tokio::test]
async fn refused_credentials_are_misconfigured_and_never_echoed() {
    if !binaries_available() {
        return;
    }
    let server = RedisServer::start(free_port(), &["--requirepass".to_owned(), "s3cret-pw".to_owned()]).await;
    let url = |password: &str| format!("redis://:{password}@127.0.0.1:{}", server.port);
    match Redis::connect(RedisConfig::new(url("wrong-pw"))).await {
        Err(StoreError::Misconfigured(message)) => assert!(!message.contains("wrong-pw"), "{message}"),
        other => panic!("expected Misconfigured, got {other:?}"),
    }
    let redis = Redis::connect(RedisConfig::new(url("s3cret-pw"))).await.unwrap();
    redis.health().await.unwrap();
    assert!(!format!("{redis:?}").contains("s3cret-pw"));
}
