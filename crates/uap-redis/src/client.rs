//! [`Redis`]: the connected client pool, its connection policy, and the
//! command helpers the stores share (fail-fast options, bounded waits,
//! cached Lua scripts).

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fred::clients::WithOptions;
use fred::prelude::{
    Builder, Client, ClientLike, ConnectionConfig, Options, PerformanceConfig, Pool, ReconnectPolicy, Value,
};
use fred::types::config::UnresponsiveConfig;
use fred::types::{ClusterHash, ConnectHandle, CustomCommand};
use sha1::{Digest, Sha1};
use tokio::runtime::{Handle, RuntimeFlavor};
use uap_ports::StoreError;

use crate::config::{RedisConfig, check_prefix, fred_config, redact};
use crate::error::{WHAT, map_err};
use crate::events::RedisEventBus;
use crate::keys::Keys;
use crate::rate_limit::RedisRateLimitStore;
use crate::sessions::RedisSessionStore;

/// Connections per pool; each multiplexes many concurrent commands.
const POOL_SIZE: usize = 4;
/// Reconnect backoff: 100 ms doubling up to 1 s, forever.
const RECONNECT_MIN_MS: u32 = 100;
const RECONNECT_MAX_MS: u32 = 1_000;
/// Slack on top of the command timeout before this crate gives up on its own.
const SLACK: Duration = Duration::from_millis(500);

/// Tells the [`Redis`] values of this process apart (for [`LOCAL`]).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// How long a failed attempt at a thread's own connection is not repeated.
const LOCAL_RETRY: Duration = Duration::from_secs(1);

/// A thread's own connection to one [`Redis`] (see [`Redis::local_cmd`]).
enum Slot {
    Opening,
    Open(Client, ConnectHandle),
    Failed(Instant),
}

thread_local! {
    /// Connections opened on this thread's own single-threaded runtime (an
    /// actix worker), per [`Redis`] id. They live as long as the thread (for
    /// the server, as long as the process).
    static LOCAL: RefCell<Vec<(u64, Slot)>> = const { RefCell::new(Vec::new()) };
}

/// A Redis deployment (standalone, Sentinel or Cluster) shared by this
/// process's stores and event bus: a pool of connections that reconnect by
/// themselves. Cheap to clone; the connections close when the last clone is
/// dropped.
#[derive(Clone)]
pub struct Redis {
    inner: Arc<Inner>,
}

struct Inner {
    id: u64,
    pool: Pool,
    /// What the event bus builds its subscriber connections from.
    builder: Builder,
    keys: Keys,
    options: Options,
    timeout: Duration,
    clustered: bool,
    url: String,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let (pool, wait) = (self.pool.clone(), self.timeout);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = tokio::time::timeout(wait, pool.quit()).await;
            });
        }
    }
}

impl fmt::Debug for Redis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redis")
            .field("url", &redact(&self.inner.url))
            .field("keys", &self.inner.keys)
            .field("clustered", &self.inner.clustered)
            .finish_non_exhaustive()
    }
}

/// A Lua script, sent by hash and, when the server lacks it, in full.
pub(crate) struct Script {
    lua: &'static str,
    sha: String,
}

impl Script {
    pub(crate) fn new(lua: &'static str) -> Self {
        let sha = Sha1::digest(lua.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        Self { lua, sha }
    }
}

impl Redis {
    /// Connects to the deployment `config.url` names and waits until every
    /// pooled connection is up.
    ///
    /// # Errors
    /// [`StoreError::Misconfigured`] for a bad URL or key prefix, or
    /// credentials Redis refuses; [`StoreError::Unavailable`] when Redis
    /// cannot be reached within about twice `config.timeout`.
    pub async fn connect(config: RedisConfig) -> Result<Self, StoreError> {
        check_prefix(&config.key_prefix)?;
        let mut fred = fred_config(&config.url)?;
        // Report a failed first connection instead of retrying it forever.
        fred.fail_fast = true;
        let clustered = fred.server.is_clustered();
        let timeout = config.timeout.max(Duration::from_millis(1));
        let mut builder = Builder::from_config(fred);
        builder
            .set_policy(ReconnectPolicy::new_exponential(0, RECONNECT_MIN_MS, RECONNECT_MAX_MS, 2))
            .set_performance_config(PerformanceConfig { default_command_timeout: timeout, ..Default::default() })
            .set_connection_config(ConnectionConfig {
                connection_timeout: timeout,
                internal_command_timeout: timeout,
                // A command is written once: a script re-sent after a
                // reconnect could count an attempt twice.
                max_command_attempts: 1,
                // Bounded queue: beyond it a command fails (Backpressure).
                max_command_buffer_len: 10_000,
                unresponsive: UnresponsiveConfig { max_timeout: Some(timeout * 2), interval: timeout / 2 },
                ..Default::default()
            });
        let pool = builder.build_pool(POOL_SIZE).map_err(|e| map_err(&e))?;
        let started = tokio::time::timeout(timeout * 2 + SLACK, pool.init()).await;
        let failure = match started {
            Ok(Ok(_driver)) => None,
            Ok(Err(e)) => Some(map_err(&e)),
            Err(_) => Some(StoreError::Unavailable { what: WHAT, source: None }),
        };
        if let Some(err) = failure {
            let _ = tokio::time::timeout(timeout, pool.quit()).await;
            tracing::warn!(url = %redact(&config.url), error = %err, "redis connect failed");
            return Err(err);
        }
        let options = Options { timeout: Some(timeout), fail_fast: true, max_attempts: Some(1), ..Default::default() };
        Ok(Self {
            inner: Arc::new(Inner {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                pool,
                builder,
                keys: Keys::new(&config.key_prefix),
                options,
                timeout,
                clustered,
                url: config.url,
            }),
        })
    }

    /// Whether Redis answers (`PING`).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when it does not.
    pub async fn health(&self) -> Result<(), StoreError> {
        let pong: String = self.run(self.cmd().ping(None)).await?;
        if pong.eq_ignore_ascii_case("PONG") {
            Ok(())
        } else {
            Err(crate::error::malformed(format!("PING answered {pong:?}")))
        }
    }

    /// The session store on this deployment.
    #[must_use]
    pub fn session_store(&self) -> RedisSessionStore {
        RedisSessionStore::new(self.clone())
    }

    /// The rate-limit store on this deployment.
    #[must_use]
    pub fn rate_limit_store(&self) -> RedisRateLimitStore {
        RedisRateLimitStore::new(self.clone())
    }

    /// The event bus on this deployment's channel `<prefix>events`.
    #[must_use]
    pub fn event_bus(&self) -> RedisEventBus {
        RedisEventBus::new(self.clone())
    }

    pub(crate) fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    pub(crate) fn clustered(&self) -> bool {
        self.inner.clustered
    }

    pub(crate) fn builder(&self) -> &Builder {
        &self.inner.builder
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// A connected client of the pool, with the fail-fast options.
    pub(crate) fn cmd(&self) -> WithOptions<Client> {
        self.inner.pool.next_connected().with_options(&self.inner.options)
    }

    /// For the hot read (validate): a connection driven by the calling
    /// thread's own runtime when that runtime is single-threaded (each actix
    /// worker's is). fred drives every connection from a task; with the
    /// shared pool that task runs on the main runtime's threads, so each
    /// command crossed threads twice (measured: about 5 % of the CPU of a
    /// Redis validate). The connection is opened in the background on first
    /// use; until it is up, or when it cannot be opened (retried after
    /// [`LOCAL_RETRY`]), and off such runtimes, the pool serves.
    pub(crate) fn local_cmd(&self) -> WithOptions<Client> {
        let single = Handle::try_current().is_ok_and(|h| matches!(h.runtime_flavor(), RuntimeFlavor::CurrentThread));
        if !single {
            return self.cmd();
        }
        let id = self.inner.id;
        let ready = LOCAL.with(|local| {
            let mut local = local.borrow_mut();
            // A connection whose task ended (its runtime is gone) is dropped.
            local.retain(|(_, slot)| !matches!(slot, Slot::Open(_, task) if task.is_finished()));
            match local.iter_mut().find(|(owner, _)| *owner == id).map(|(_, slot)| slot) {
                Some(Slot::Open(client, _)) => Some(client.clone()),
                Some(slot) if matches!(&*slot, Slot::Failed(at) if at.elapsed() >= LOCAL_RETRY) => {
                    *slot = Slot::Opening;
                    self.open_local();
                    None
                }
                Some(_) => None,
                None => {
                    local.push((id, Slot::Opening));
                    self.open_local();
                    None
                }
            }
        });
        ready.map_or_else(|| self.cmd(), |client| client.with_options(&self.inner.options))
    }

    /// Opens this thread's connection for [`Redis::local_cmd`] in a task of
    /// the current (single-threaded) runtime, which records the outcome.
    fn open_local(&self) {
        let (id, wait) = (self.inner.id, self.inner.timeout * 2);
        let client = self.inner.builder.build();
        tokio::spawn(async move {
            let opened = match client {
                Ok(client) => match tokio::time::timeout(wait, client.init()).await {
                    Ok(Ok(task)) => Some((client, task)),
                    _ => {
                        let _ = tokio::time::timeout(wait, client.quit()).await;
                        None
                    }
                },
                Err(_) => None,
            };
            LOCAL.with(|local| {
                let mut local = local.borrow_mut();
                if let Some((_, slot)) = local.iter_mut().find(|(owner, _)| *owner == id) {
                    *slot = opened.map_or_else(|| Slot::Failed(Instant::now()), |(c, task)| Slot::Open(c, task));
                }
            });
        });
    }

    /// A client of the pool, for commands without options (`SCAN`).
    pub(crate) fn client(&self) -> &Client {
        self.inner.pool.next_connected()
    }

    /// Awaits a command with this crate's own deadline on top of fred's.
    ///
    /// fred's command futures are large (6.6 KB for `HMGET`); the command
    /// is boxed once here so that the futures around it — each store
    /// method's, boxed again by `async_trait` — stay small instead of
    /// copying it at every layer (measured: 3–5 % of the validate CPU).
    pub(crate) fn run<T, F>(&self, command: F) -> impl Future<Output = Result<T, StoreError>> + use<T, F>
    where
        F: Future<Output = Result<T, fred::error::Error>>,
    {
        let command = Box::pin(command);
        let deadline = self.inner.timeout + SLACK;
        async move {
            match tokio::time::timeout(deadline, command).await {
                Ok(result) => result.map_err(|e| map_err(&e)),
                Err(_) => Err(StoreError::Unavailable { what: WHAT, source: None }),
            }
        }
    }

    /// Runs `script` (by hash; in full when the server lost it, e.g. after a
    /// restart). All `keys` must share one hash slot.
    pub(crate) async fn eval(
        &self,
        script: &Script,
        keys: Vec<String>,
        args: Vec<String>,
    ) -> Result<Value, StoreError> {
        let by_hash = Box::pin(self.script_command("EVALSHA", &script.sha, &keys, &args));
        match tokio::time::timeout(self.inner.timeout + SLACK, by_hash).await {
            Ok(Err(e)) if e.details().starts_with("NOSCRIPT") => {
                self.run(self.script_command("EVAL", script.lua, &keys, &args)).await
            }
            Ok(result) => result.map_err(|e| map_err(&e)),
            Err(_) => Err(StoreError::Unavailable { what: WHAT, source: None }),
        }
    }

    /// `EVAL`/`EVALSHA` as a custom command: fred's `LuaInterface` ignores
    /// per-command options (fail fast, timeout), custom commands honour them.
    async fn script_command(
        &self,
        name: &'static str,
        body: &str,
        keys: &[String],
        args: &[String],
    ) -> Result<Value, fred::error::Error> {
        let slot = keys.first().map(|key| fred::util::redis_keyslot(key.as_bytes()));
        let command = CustomCommand::new_static(name, ClusterHash::from(slot), false);
        let mut values: Vec<Value> = Vec::with_capacity(2 + keys.len() + args.len());
        values.push(body.into());
        values.push(Value::Integer(i64::try_from(keys.len()).unwrap_or(i64::MAX)));
        values.extend(keys.iter().map(|k| Value::from(k.as_str())));
        values.extend(args.iter().map(|a| Value::from(a.as_str())));
        self.cmd().custom(command, values).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `UAP_TEST_REDIS_URL`, or `None` after saying why the test is skipped
    /// (a failure under `UAP_REQUIRE_INTEGRATION=1`).
    fn test_url() -> Option<String> {
        match std::env::var("UAP_TEST_REDIS_URL") {
            Ok(url) if !url.is_empty() => Some(url),
            _ => {
                let required = std::env::var("UAP_REQUIRE_INTEGRATION").is_ok_and(|v| v == "1");
                assert!(!required, "UAP_TEST_REDIS_URL is not set but UAP_REQUIRE_INTEGRATION=1");
                eprintln!("skipping: UAP_TEST_REDIS_URL not set");
                None
            }
        }
    }

    fn slot(redis: &Redis) -> Option<&'static str> {
        LOCAL.with(|local| {
            local.borrow().iter().find(|(id, _)| *id == redis.inner.id).map(|(_, slot)| match slot {
                Slot::Opening => "opening",
                Slot::Open(..) => "open",
                Slot::Failed(_) => "failed",
            })
        })
    }

    #[tokio::test]
    async fn a_single_threaded_runtime_gets_its_own_connection_in_the_background() {
        let Some(url) = test_url() else { return };
        let redis = Redis::connect(RedisConfig::new(url)).await.unwrap();
        assert_eq!(slot(&redis), None);
        // The first command goes through the pool while the connection opens.
        let pong: String = redis.local_cmd().ping(None).await.unwrap();
        assert_eq!(pong, "PONG");
        for _ in 0..200 {
            if slot(&redis) == Some("open") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(slot(&redis), Some("open"));
        let pong: String = redis.local_cmd().ping(None).await.unwrap();
        assert_eq!(pong, "PONG");
        // Another `Redis` on the same thread gets a connection of its own.
        let other = Redis::connect(RedisConfig::new(redis.inner.url.clone())).await.unwrap();
        let _ = other.local_cmd();
        assert_eq!(slot(&other), Some("opening"));
        assert_eq!(slot(&redis), Some("open"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_multi_threaded_runtime_uses_the_pool() {
        let Some(url) = test_url() else { return };
        let redis = Redis::connect(RedisConfig::new(url)).await.unwrap();
        let pong: String = redis.local_cmd().ping(None).await.unwrap();
        assert_eq!(pong, "PONG");
        assert_eq!(slot(&redis), None);
    }
}
