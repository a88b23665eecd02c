//! Shared helpers: the test Redis, unique prefixes and their cleanup,
//! bounded polling.

use std::future::Future;
use std::time::Duration;

use fred::prelude::{Builder, ClientLike, Config, KeysInterface};
use futures::StreamExt;
use uap_ports::contract::rate_limit::Task;
use uap_redis::{Redis, RedisConfig};

/// Whether a missing service must fail the test.
pub fn require_integration() -> bool {
    std::env::var("UAP_REQUIRE_INTEGRATION").is_ok_and(|v| v == "1")
}

/// `UAP_TEST_REDIS_URL`, or `None` after printing why the test is skipped
/// (a failure under `UAP_REQUIRE_INTEGRATION=1`).
pub fn test_url() -> Option<String> {
    match std::env::var("UAP_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(!require_integration(), "UAP_TEST_REDIS_URL is not set but UAP_REQUIRE_INTEGRATION=1");
            eprintln!("skipping: UAP_TEST_REDIS_URL not set");
            None
        }
    }
}

/// A key prefix no other test uses.
pub fn unique_prefix() -> String {
    format!("uap-test:{}:", uuid::Uuid::new_v4())
}

/// Connects to `url` under `prefix`.
pub async fn connect(url: &str, prefix: &str) -> Redis {
    let config = RedisConfig { key_prefix: prefix.to_owned(), ..RedisConfig::new(url) };
    Redis::connect(config).await.unwrap_or_else(|e| panic!("connect: {e}"))
}

/// A connection to the test Redis under a fresh prefix, whose keys
/// [`TestRedis::cleanup`] deletes.
pub struct TestRedis {
    pub url: String,
    pub prefix: String,
    pub redis: Redis,
}

impl TestRedis {
    /// `None` when the test is skipped (see [`test_url`]).
    pub async fn new() -> Option<Self> {
        let url = test_url()?;
        let prefix = unique_prefix();
        let redis = connect(&url, &prefix).await;
        Some(Self { url, prefix, redis })
    }

    /// Another connection (another "instance") on the same prefix.
    pub async fn second(&self) -> Redis {
        connect(&self.url, &self.prefix).await
    }

    /// A plain fred client on the test Redis, for looking behind the stores.
    pub async fn raw(&self) -> fred::prelude::Client {
        raw_client(&self.url).await
    }

    /// Deletes every key under the prefix (SCAN + DEL).
    pub async fn cleanup(self) {
        let raw = self.raw().await;
        let pattern = format!("{}*", self.prefix);
        let keys: Vec<_> = raw.scan_buffered(pattern, Some(500), None).collect().await;
        for key in keys {
            let _: i64 = raw.del(key.expect("scan")).await.expect("del");
        }
        let left: Vec<_> = raw.scan_buffered(format!("{}*", self.prefix), Some(500), None).collect().await;
        assert!(left.is_empty(), "keys left under {}", self.prefix);
        raw.quit().await.expect("quit");
    }
}

/// A connected fred client on `url` (fred's own URL syntax).
pub async fn raw_client(url: &str) -> fred::prelude::Client {
    let client = Builder::from_config(Config::from_url(url).expect("url")).build().expect("client");
    client.init().await.expect("raw connect");
    client
}

/// A spawner for the contract suites' concurrency checks.
pub fn spawned<T: Send + 'static>(task: Task<T>) -> Task<T> {
    let handle = tokio::spawn(task);
    Box::pin(async move { handle.await.expect("task panicked") })
}

/// Polls `check` every 50 ms until it yields `Some`, for at most `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
