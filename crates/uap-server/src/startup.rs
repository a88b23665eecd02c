//! `Application`: builds the runtime from the configuration and serves it.
//! The same type is what the binary runs and what tests spawn on port 0.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{Condition, from_fn};
use actix_web::{App, HttpServer, web};
use secrecy::ExposeSecret;
use uap_adapters_http::AlertSender;
use uap_adapters_sql::InternalDb;
use uap_domain::AuditRecorder;
use uap_domain::auth::{AuthParts, AuthService};
use uap_domain::memory::{MemoryEventBus, MemoryMfaFactorStore, MemoryRateLimitStore, MemorySessionStore};
use uap_domain::password::{self, PasswordPolicy, StoredHash};
use uap_domain::pipeline::Pipeline;
use uap_domain::session::SessionManager;
use uap_ports::{
    Clock, ConfigStore, EventBus, IdGenerator, MfaFactorStore, MiddlewareRun, RandomIds, RateLimitStore, SessionStore,
    SystemClock,
};
use uap_redis::Redis;

use crate::admin::AdminGuard;
use crate::alerts;
use crate::client_ip::ClientIpResolver;
use crate::config::{
    AlertSettings, Config, ConfigSource, HostSource, HttpConfig, Listen, SessionBackend, Settings, apply_changes,
    stored_changes,
};
use crate::error::StartupError;
use crate::events::EventHub;
use crate::follow;
use crate::host::HostDirectory;
use crate::http;
use crate::metrics::Metrics;
use crate::observe::{self, ObservedAudit};
use crate::pipeline::{self, MiddlewareRegistry, Wiring};
use crate::request_span;
use crate::retention;
use crate::runtime::batch_queue::{self, Audit, BatchQueue, Runs, Writer};
use crate::runtime::pool::HashPool;
use crate::runtime::protected::{ProtectedDirectory, Protection};
use crate::runtime::session_cache::CachedSessionStore;
use crate::state::{AppState, Runtime, StableParts};
use crate::tls::{HstsPolicy, TlsCertificates};

/// Audit events (and middleware runs) that may wait for the writer before
/// producers wait too.
const AUDIT_QUEUE_CAPACITY: usize = 10_000;
/// How often expired session records are purged.
const PURGE_INTERVAL: Duration = Duration::from_secs(300);

/// A built, listening server.
pub struct Application {
    port: u16,
    server: Server,
    writers: Vec<Writer>,
    purge: tokio::task::JoinHandle<()>,
    retention: tokio::task::JoinHandle<()>,
    /// The gauge refresh loop and the alert evaluator.
    observers: Vec<tokio::task::JoinHandle<()>>,
    tls: Option<Arc<TlsCertificates>>,
}

/// Connects to the host data source of `config` (a database table or a host
/// user API); see [`HostDirectory::connect`].
///
/// # Errors
/// [`StartupError::HostDirectory`] / [`StartupError::HostApi`] naming the
/// table, column, URL or route at fault.
pub async fn connect_host_directory(host: &HostSource) -> Result<HostDirectory, StartupError> {
    HostDirectory::connect(host).await
}

/// Connects to (and, when `migrate`, migrates) the internal database.
///
/// # Errors
/// [`StartupError::InternalDb`].
pub async fn connect_internal_db(config: &Config, migrate: bool) -> Result<InternalDb, StartupError> {
    let db = InternalDb::connect(config.storage.database_url.expose_secret(), &config.service_name)
        .await
        .map_err(StartupError::InternalDb)?;
    if migrate {
        db.migrate().await.map_err(StartupError::InternalDb)?;
    }
    Ok(db)
}

/// What every runtime is built over: the stores, queues, hashing pool and
/// custom middleware factories outlive configuration changes (sessions stay
/// valid across a reload unless the signing key changes).
pub(crate) struct Shared {
    stores: Stores,
    runs: BatchQueue<MiddlewareRun>,
    recorder: AuditRecorder,
    metrics: Metrics,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    pool: Arc<HashPool>,
    registry: Arc<MiddlewareRegistry>,
    /// Where session ends and configuration changes are announced (Redis
    /// with several instances, in process otherwise).
    pub(crate) bus: Arc<dyn EventBus>,
    /// The SDK revocation feed of this instance.
    pub(crate) events: EventHub,
}

impl Shared {
    /// The registered custom middleware names.
    pub(crate) fn custom_middleware(&self) -> std::collections::BTreeSet<String> {
        self.registry.names()
    }
}

/// Builds the runtime of `config` over `shared`: connects to the host data
/// source and checks its table and every configured field, builds the
/// middleware stack, the session manager and the login service. Nothing is
/// swapped in here; a failure leaves the caller's runtime as it was.
///
/// # Errors
/// [`StartupError`] naming the table, column, URL or middleware at fault.
pub(crate) async fn build_runtime(
    shared: &Shared,
    config: Config,
    version: Option<i64>,
) -> Result<Runtime, StartupError> {
    let host = connect_host_directory(&config.host).await?;
    let (entries, mfa) = pipeline::build(&Wiring {
        config: &config,
        rate_limits: Arc::clone(&shared.stores.rate_limits),
        mfa_factors: Arc::clone(&shared.stores.mfa_factors),
        clock: Arc::clone(&shared.clock),
        ids: Arc::clone(&shared.ids),
        audit: shared.recorder.clone(),
        registry: &shared.registry,
    })?;
    let pipeline = Arc::new(Pipeline::new(
        entries,
        Arc::new(shared.runs.clone()),
        Arc::new(shared.metrics.clone()),
        Arc::clone(&shared.clock),
        Arc::clone(&shared.ids),
    ));
    let mut protected = ProtectedDirectory::new(host.directory(), Protection::default(), shared.metrics.host.clone());
    if let HostDirectory::Api(_) = &host {
        protected = protected.host_api(host.authority());
    }
    let directory = Arc::new(protected);
    // Delegated mode: the host's password check, behind the same protections.
    let authority = host.authority().map(|_| Arc::clone(&directory) as Arc<dyn uap_ports::PasswordAuthority>);
    let dummy_hash = dummy_hash(&config.auth.policy).await?;
    let sessions = SessionManager::new(
        Arc::clone(&shared.stores.sessions),
        config.tokens,
        config.sessions,
        Arc::clone(&shared.clock),
        Arc::clone(&shared.ids),
        shared.recorder.clone(),
        Arc::clone(&shared.bus),
    );
    let auth = AuthService::new(AuthParts {
        directory,
        authority,
        sessions,
        pool: Arc::clone(&shared.pool) as Arc<dyn uap_ports::BlockingPool>,
        settings: config.auth,
        dummy_hash,
        audit: shared.recorder.clone(),
        pipeline,
        mfa,
        tickets: Arc::clone(&shared.stores.rate_limits),
        clock: Arc::clone(&shared.clock),
    });
    let admin = AdminGuard::new(config.admin.api_key.as_ref(), config.admin.allowlist);
    let sdk_key = config.sdk_api_key.as_ref().map(|key| crate::admin::digest(key.expose_secret().as_bytes()));
    Ok(Runtime { auth, admin, settings: config.settings, version, host, sdk_key })
}

/// The session, rate-limit and MFA-factor stores of the chosen backend.
#[derive(Clone)]
struct Stores {
    sessions: Arc<dyn SessionStore>,
    rate_limits: Arc<dyn RateLimitStore>,
    mfa_factors: Arc<dyn MfaFactorStore>,
}

/// The audit and middleware-run queues with their writers.
struct AuditQueues {
    audit: batch_queue::BatchQueue<uap_ports::AuditEvent>,
    runs: batch_queue::BatchQueue<uap_ports::MiddlewareRun>,
    writers: Vec<Writer>,
}

impl Application {
    /// Connects every dependency, migrates, and binds the listener.
    ///
    /// # Errors
    /// [`StartupError`] naming the key, table, column or address at fault.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        Self::build_with(config, MiddlewareRegistry::default()).await
    }

    /// Checks `settings` (with the names `registry` holds) and builds.
    ///
    /// # Errors
    /// [`StartupError::Invalid`] listing every configuration mistake, else
    /// as [`Application::build_with`].
    pub async fn from_settings(settings: Settings, registry: MiddlewareRegistry) -> Result<Self, StartupError> {
        let config = Config::from_settings(settings, &registry.names()).map_err(StartupError::Invalid)?;
        Self::build_with(config, registry).await
    }

    /// As [`Application::build`], with the custom middlewares of an
    /// embedding program (their names checked by
    /// [`Config::from_settings`]).
    ///
    /// # Errors
    /// As [`Application::build`]; also a failing custom middleware factory.
    pub async fn build_with(config: Config, registry: MiddlewareRegistry) -> Result<Self, StartupError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let ids: Arc<dyn IdGenerator> = Arc::new(RandomIds);
        let metrics = Metrics::new().map_err(|e| StartupError::Config(format!("metrics: {e}")))?;
        let internal_db = Arc::new(connect_internal_db(&config, config.storage.auto_migrate).await?);
        let redis = match &config.storage.redis {
            Some(redis) => Some(Redis::connect(redis.clone()).await.map_err(StartupError::Redis)?),
            None => None,
        };
        // A `ConfigChanged` from another instance wakes the follower.
        let wake = Arc::new(tokio::sync::Notify::new());
        let bus = event_bus(redis.as_ref(), Arc::clone(&wake)).await?;
        let events = EventHub::new(ids.new_id(), Arc::clone(&clock));
        events.listen(bus.as_ref()).await.map_err(StartupError::Redis)?;
        // Only other instances' announcements are news to the read cache.
        let peers = redis.is_some().then(|| Arc::clone(&bus));
        let stores = stores(config.storage.sessions, redis.as_ref(), &internal_db, peers, &metrics).await?;
        let queues = audit_queues(&internal_db);
        let recorder = AuditRecorder::new(
            Arc::new(ObservedAudit::new(Arc::new(queues.audit.clone()), metrics.clone())),
            Arc::clone(&clock),
            Arc::clone(&ids),
        );
        let mut pool =
            HashPool::per_core().map_err(|e| StartupError::Config(format!("cannot start the hashing threads: {e}")))?;
        if let Some(limit) = config.limits.address_hash_concurrency {
            pool = pool.with_key_limit(limit.get());
        }
        let shared = Shared {
            stores: stores.clone(),
            runs: queues.runs.clone(),
            recorder: recorder.clone(),
            metrics: metrics.clone(),
            clock: Arc::clone(&clock),
            ids,
            pool: Arc::new(pool),
            registry: Arc::new(registry),
            bus,
            events: events.clone(),
        };
        // What outlives the runtime, taken before the configuration is consumed.
        let (listen, http, telemetry) = (config.listen.clone(), config.http.clone(), config.telemetry.clone());
        let (retention_days, alerts, service) =
            (config.audit_retention_days, config.alerts.clone(), config.service_name.clone());
        let backend = config.storage.sessions;
        let (config, version, seen) = config_source(config, &internal_db, &shared).await?;
        let runtime = Box::pin(build_runtime(&shared, config, version)).await?;
        let stable = StableParts {
            metrics,
            audit_query: Arc::new(internal_db.audit_sink()),
            config_store: Arc::new(internal_db.config_store()),
            internal_db,
            client_ip: ClientIpResolver::new(http.trusted_proxies.clone()),
            clock: Arc::clone(&clock),
            audit: recorder,
        };
        let tls = match &http.tls {
            Some(files) => Some(TlsCertificates::load(&files.cert, &files.key).map_err(StartupError::Config)?),
            None => None,
        };
        let state = web::Data::new(AppState::new(runtime, stable, shared, tls.clone()));
        let observed = telemetry.otlp_endpoint.is_some() || telemetry.sentry_dsn.is_some();
        let (server, port) = serve(&listen, &http, tls.as_ref(), observed, state.clone())?;

        let retention =
            tokio::spawn(retention::daily(Arc::clone(&state.internal_db), retention_days, Arc::clone(&clock)));
        let mut observers = vec![tokio::spawn(observe::refresh_loop(
            observe::Sources {
                metrics: state.metrics.clone(),
                store: Arc::clone(&stores.sessions),
                audit_queue: queues.audit,
                host: {
                    let state = state.clone();
                    Arc::new(move || state.runtime().host.clone())
                },
                clock: Arc::clone(&clock),
            },
            observe::REFRESH_INTERVAL,
        ))];
        observers.push(tokio::spawn(follow::follow(state.clone(), wake, seen)));
        observers.push(tokio::spawn(close_feed_on_signal(events)));
        if let Some(alerts) = alerts {
            observers.push(alerts_task(alerts, &state, &clock, service)?);
        }
        let purge = tokio::spawn(purge_loop(Arc::clone(&stores.sessions), clock));
        tracing::info!(port, tls = tls.is_some(), session_store = ?backend, "UAP listening");
        Ok(Self { port, server, writers: queues.writers, purge, retention, observers, tls })
    }

    /// The bound port (useful with `port = 0`).
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The served TLS certificates (`None` over plain HTTP); a configuration
    /// reload swaps them with [`TlsCertificates::reload`].
    #[must_use]
    pub fn tls(&self) -> Option<Arc<TlsCertificates>> {
        self.tls.clone()
    }

    /// A handle to stop the server (tests; signals are handled already).
    #[must_use]
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT/SIGTERM or [`ServerHandle::stop`], then drains the
    /// audit queue so no event is lost.
    ///
    /// # Errors
    /// An I/O error of the HTTP server.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        self.purge.abort();
        self.retention.abort();
        for task in &self.observers {
            task.abort();
        }
        let mut written = 0;
        for writer in self.writers {
            written += writer.shutdown().await;
        }
        tracing::info!(records_written = written, "UAP stopped");
        served
    }
}

/// The configuration to start with: the file's, or with `config_source =
/// "database"` the newest stored version applied over it; with the stored
/// version it is (`None`: the file's) and the newest version already
/// accounted for (later ones are followed).
///
/// # Errors
/// The internal database failing, or a stored version that does not apply.
async fn config_source(
    config: Config,
    internal_db: &InternalDb,
    shared: &Shared,
) -> Result<(Config, Option<i64>, i64), StartupError> {
    let latest = internal_db.config_store().latest().await.map_err(StartupError::InternalDb)?;
    let Some(latest) = latest else {
        return Ok((config, None, 0));
    };
    if config.settings.config_source == ConfigSource::File {
        return Ok((config, None, latest.version));
    }
    let at = |e: String| StartupError::Config(format!("config_source = \"database\": version {}: {e}", latest.version));
    let changes = stored_changes(&config.settings, &latest.data).map_err(at)?;
    if changes.is_empty() {
        return Ok((config, Some(latest.version), latest.version));
    }
    let candidate = apply_changes(&config.settings, &changes).map_err(StartupError::Invalid)?;
    let config = Config::from_settings(candidate, &shared.custom_middleware()).map_err(StartupError::Invalid)?;
    tracing::info!(version = latest.version, "configuration version from the internal database applied over the file");
    Ok((config, Some(latest.version), latest.version))
}

/// Ends the revocation feed's connections when the process is asked to
/// stop, so the HTTP server's graceful shutdown does not wait for them.
async fn close_feed_on_signal(events: EventHub) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
    #[cfg(not(unix))]
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    events.close();
}

/// The event bus: Redis pub/sub with several instances (sessions ended
/// elsewhere, config changes — a `ConfigChanged` wakes the configuration
/// follower), else the in-process bus.
async fn event_bus(redis: Option<&Redis>, wake: Arc<tokio::sync::Notify>) -> Result<Arc<dyn EventBus>, StartupError> {
    let Some(redis) = redis else {
        return Ok(Arc::new(MemoryEventBus::new()));
    };
    let bus: Arc<dyn EventBus> = Arc::new(redis.event_bus());
    bus.subscribe(Arc::new(move |event| {
        tracing::debug!(?event, "event from the bus");
        if matches!(event, uap_ports::BusEvent::ConfigChanged { .. }) {
            wake.notify_one();
        }
    }))
    .await
    .map_err(StartupError::Redis)?;
    Ok(bus)
}

/// The stores of `backend`; the `database` session store behind the read
/// cache (when it has a TTL), which hears revocations from `bus`.
async fn stores(
    backend: SessionBackend,
    redis: Option<&Redis>,
    internal_db: &InternalDb,
    bus: Option<Arc<dyn EventBus>>,
    metrics: &Metrics,
) -> Result<Stores, StartupError> {
    Ok(match (backend, redis) {
        (SessionBackend::Memory, _) => Stores {
            sessions: Arc::new(MemorySessionStore::new()),
            rate_limits: Arc::new(MemoryRateLimitStore::new()),
            mfa_factors: Arc::new(MemoryMfaFactorStore::new()),
        },
        (SessionBackend::Redis, Some(redis)) => Stores {
            sessions: Arc::new(redis.session_store()),
            rate_limits: Arc::new(redis.rate_limit_store()),
            mfa_factors: Arc::new(internal_db.mfa_store()),
        },
        (SessionBackend::Redis, None) => {
            return Err(StartupError::Config("session_store: \"redis\" without a Redis connection".into()));
        }
        (SessionBackend::Database { cache_ttl }, _) => {
            let store: Arc<dyn SessionStore> = Arc::new(internal_db.session_store());
            let sessions: Arc<dyn SessionStore> = match cache_ttl {
                Some(ttl) => Arc::new(
                    CachedSessionStore::new(store, ttl, bus)
                        .await
                        .map_err(StartupError::Redis)?
                        .with_stats(metrics.cache.clone()),
                ),
                None => store,
            };
            Stores {
                sessions,
                rate_limits: Arc::new(internal_db.rate_limit_store()),
                mfa_factors: Arc::new(internal_db.mfa_store()),
            }
        }
    })
}

/// The batching writers of audit events and middleware runs.
fn audit_queues(internal_db: &InternalDb) -> AuditQueues {
    let (audit, audit_writer) =
        batch_queue::start(Arc::new(Audit(Arc::new(internal_db.audit_sink()))), AUDIT_QUEUE_CAPACITY);
    let (runs, runs_writer) =
        batch_queue::start(Arc::new(Runs(Arc::new(internal_db.middleware_log_sink()))), AUDIT_QUEUE_CAPACITY);
    AuditQueues { audit, runs, writers: vec![audit_writer, runs_writer] }
}

/// The preferred-scheme hash verified for refusals (on a blocking thread:
/// it costs one hash), parsed.
async fn dummy_hash(policy: &PasswordPolicy) -> Result<StoredHash, StartupError> {
    let policy = policy.clone();
    let failed = |e: &dyn std::fmt::Display| StartupError::Config(format!("password_hash_algorithm: {e}"));
    tokio::task::spawn_blocking(move || {
        let hash = password::dummy_hash(&policy).map_err(|e| failed(&e))?;
        StoredHash::parse(&hash, &policy).ok_or_else(|| failed(&"the new hash is not recognised"))
    })
    .await
    .map_err(|e| failed(&e))?
}

/// Binds the listener and starts the HTTP server (over `tls` when set).
fn serve(
    listen: &Listen,
    http: &HttpConfig,
    tls: Option<&Arc<TlsCertificates>>,
    observed: bool,
    state: web::Data<AppState>,
) -> Result<(Server, u16), StartupError> {
    let hsts = web::Data::new(HstsPolicy { tls: tls.is_some(), trusted_proxies: http.trusted_proxies.clone() });
    let address = format!("{}:{}", listen.bind, listen.port);
    let listener =
        TcpListener::bind(&address).map_err(|source| StartupError::Bind { address: address.clone(), source })?;
    let port = listener.local_addr().map_err(|source| StartupError::Bind { address: address.clone(), source })?.port();
    let max_body = http.max_body_bytes;
    let origins = http.cors_allowed_origins.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(hsts.clone())
            .wrap(http::cors(&origins))
            .wrap(from_fn(http::add_headers))
            .wrap(Condition::new(observed, from_fn(request_span::observe)))
            .configure(http::configure(max_body))
    });
    let server = match tls {
        Some(certificates) => {
            server.listen_rustls_0_23(listener, certificates.server_config().map_err(StartupError::Config)?)
        }
        None => server.listen(listener),
    }
    .map_err(|source| StartupError::Bind { address, source })?
    .shutdown_timeout(10)
    .run();
    Ok((server, port))
}

/// The alert evaluator of `[alerts]`.
fn alerts_task(
    alerts: AlertSettings,
    state: &AppState,
    clock: &Arc<dyn Clock>,
    service: String,
) -> Result<tokio::task::JoinHandle<()>, StartupError> {
    let sender = match (&alerts.webhook_url, &alerts.webhook_secret) {
        (Some(url), Some(secret)) => Some(
            AlertSender::new(url.clone(), secret.clone())
                .map_err(|e| StartupError::Config(format!("alerts.webhook_url: {e}")))?,
        ),
        _ => None,
    };
    Ok(tokio::spawn(alerts::run(alerts, state.metrics.clone(), sender, Arc::clone(clock), service)))
}

async fn purge_loop(store: Arc<dyn SessionStore>, clock: Arc<dyn Clock>) {
    let mut tick = tokio::time::interval(PURGE_INTERVAL);
    loop {
        tick.tick().await;
        match store.purge_expired(clock.now()).await {
            Ok(0) => {}
            Ok(purged) => tracing::debug!(purged, "expired sessions purged"),
            Err(err) => tracing::warn!(error = %err, "session purge failed"),
        }
    }
}
