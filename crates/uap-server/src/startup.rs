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
use uap_adapters_sql::{
    ColumnPurpose, ConfigValue, HostTableConfig, InternalDb, OptionalColumn, RoleTableConfig, SqlUserDirectory,
};
use uap_domain::AuditRecorder;
use uap_domain::auth::{AuthParts, AuthService, AuthSettings};
use uap_domain::config::{SessionStoreKind, Settings};
use uap_domain::memory::{MemoryMfaFactorStore, MemoryRateLimitStore, MemorySessionStore};
use uap_domain::password;
use uap_domain::pipeline::Pipeline;
use uap_domain::session::{SessionManager, SessionPolicy, TokenService};
use uap_ports::{Clock, EventBus, MfaFactorStore, RateLimitStore, SessionStore, StoreError, SystemClock};
use uap_redis::{DEFAULT_TIMEOUT, Redis, RedisConfig};

use crate::admin::AdminGuard;
use crate::alerts;
use crate::batch_queue::{self, Audit, Runs, Writer};
use crate::client_ip::ClientIpResolver;
use crate::http;
use crate::metrics::Metrics;
use crate::observe::{self, ObservedAudit};
use crate::pipeline::{self, MiddlewareRegistry, Wiring};
use crate::pool::HashPool;
use crate::protected::{ProtectedDirectory, Protection};
use crate::request_span;
use crate::retention;
use crate::session_cache::CachedSessionStore;
use crate::state::AppState;
use crate::tls::{HstsPolicy, TlsCertificates};

/// Audit events (and middleware runs) that may wait for the writer before
/// producers wait too.
const AUDIT_QUEUE_CAPACITY: usize = 10_000;
/// How often expired session records are purged.
const PURGE_INTERVAL: Duration = Duration::from_secs(300);

/// Why the server could not start. Each names what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("internal database (database_url): {0}")]
    InternalDb(#[source] StoreError),
    #[error("host database (host_db_url): {0}")]
    HostDirectory(#[source] StoreError),
    #[error("Redis (redis_url): {0}")]
    Redis(#[source] StoreError),
    #[error("{0}")]
    Config(String),
    #[error("cannot listen on {address}: {source}")]
    Bind { address: String, source: std::io::Error },
}

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

/// The host table as the SQL adapter needs it. Optional columns left at their
/// default are used only when the table has them; changed ones must exist.
fn host_table_config(settings: &Settings) -> HostTableConfig {
    let defaults = Settings::default();
    let optional = |key, purpose, name: &str, default: &str| {
        if name == default {
            OptionalColumn::if_present(key, purpose, name)
        } else {
            OptionalColumn::required(key, purpose, name)
        }
    };
    let mut columns = vec![
        optional("email_field", ColumnPurpose::Email, &settings.email_field, &defaults.email_field),
        optional("phone_field", ColumnPurpose::Phone, &settings.phone_field, &defaults.phone_field),
        optional("role_field", ColumnPurpose::Role, &settings.role_field, &defaults.role_field),
    ];
    if let Some(active) = settings.active_column() {
        columns.push(optional("active_field", ColumnPurpose::Active, active, &defaults.active_field));
    }
    HostTableConfig {
        table: ConfigValue::new("host_user_table", &settings.host_user_table),
        id_field: ConfigValue::new("id_field", &settings.id_field),
        password_field: ConfigValue::new("password_field", &settings.password_field),
        identifier_fields: settings
            .identifier_columns()
            .into_iter()
            .map(|(key, column)| ConfigValue::new(key, column))
            .collect(),
        optional: columns,
        role_table: settings
            .host_role_table
            .as_ref()
            .map(|table| RoleTableConfig::new(table, &settings.role_user_id_field, &settings.role_name_field)),
        max_connections: 16,
    }
}

/// Connects to the host database configured in `settings`.
///
/// # Errors
/// [`StartupError::HostDirectory`] naming the table/column/URL at fault.
pub async fn connect_host_directory(settings: &Settings) -> Result<SqlUserDirectory, StartupError> {
    let url = settings.host_db_url.as_ref().ok_or_else(|| StartupError::Config("host_db_url: is required".into()))?;
    SqlUserDirectory::connect(url.expose_secret(), host_table_config(settings))
        .await
        .map_err(StartupError::HostDirectory)
}

/// Connects to (and, when `migrate`, migrates) the internal database.
///
/// # Errors
/// [`StartupError::InternalDb`].
pub async fn connect_internal_db(settings: &Settings, migrate: bool) -> Result<InternalDb, StartupError> {
    let db = InternalDb::connect(settings.database_url.expose_secret(), &settings.service_name)
        .await
        .map_err(StartupError::InternalDb)?;
    if migrate {
        db.migrate().await.map_err(StartupError::InternalDb)?;
    }
    Ok(db)
}

fn token_service(settings: &Settings) -> Result<TokenService, StartupError> {
    let key: Vec<u8> = if settings.jwt_algorithm.is_symmetric() {
        settings
            .jwt_secret_key
            .as_ref()
            .map(|k| k.expose_secret().as_bytes().to_vec())
            .ok_or_else(|| StartupError::Config("jwt_secret_key: is required".into()))?
    } else {
        let path = settings
            .jwt_private_key_file
            .as_ref()
            .ok_or_else(|| StartupError::Config("jwt_private_key_file: is required".into()))?;
        std::fs::read(path)
            .map_err(|e| StartupError::Config(format!("jwt_private_key_file: cannot read {path}: {e}")))?
    };
    TokenService::new(settings.jwt_algorithm, &key, settings.issuer().to_owned(), settings.jwt_audience.clone())
        .map_err(|e| StartupError::Config(e.to_string()))
}

impl Application {
    /// Connects every dependency, migrates, and binds the listener.
    ///
    /// # Errors
    /// [`StartupError`] naming the key, table, column or address at fault.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        Self::build_with(settings, MiddlewareRegistry::default()).await
    }

    /// As [`Application::build`], with the custom middlewares of an
    /// embedding program (named in `middleware_stack`).
    ///
    /// # Errors
    /// As [`Application::build`]; also an unknown or failing custom middleware.
    pub async fn build_with(settings: Settings, registry: MiddlewareRegistry) -> Result<Self, StartupError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        settings.validate().map_err(|errors| {
            StartupError::Config(errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
        })?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let tokens = token_service(&settings)?;
        let internal_db = Arc::new(connect_internal_db(&settings, settings.auto_migrate).await?);
        let metrics = Metrics::new().map_err(|e| StartupError::Config(format!("metrics: {e}")))?;
        let host = Arc::new(connect_host_directory(&settings).await?);
        let directory = Arc::new(ProtectedDirectory::new(
            Arc::clone(&host) as Arc<dyn uap_ports::UserDirectory>,
            Protection::default(),
            metrics.host.clone(),
        ));

        let redis = match &settings.redis_url {
            Some(url) => Some(connect_redis(url.expose_secret(), &settings).await?),
            None => None,
        };
        let bus: Option<Arc<dyn EventBus>> = redis.as_ref().map(|r| Arc::new(r.event_bus()) as Arc<dyn EventBus>);
        if let Some(bus) = &bus {
            bus.subscribe(Arc::new(|event| tracing::debug!(?event, "event from the bus")))
                .await
                .map_err(StartupError::Redis)?;
        }
        type Stores = (Arc<dyn SessionStore>, Arc<dyn RateLimitStore>, Arc<dyn MfaFactorStore>);
        let (store, rate_limits, mfa_factors): Stores = match (&redis, settings.session_store) {
            (_, SessionStoreKind::Memory) => (
                Arc::new(MemorySessionStore::new()),
                Arc::new(MemoryRateLimitStore::new()),
                Arc::new(MemoryMfaFactorStore::new()),
            ),
            (Some(redis), SessionStoreKind::Redis | SessionStoreKind::Auto) => {
                (Arc::new(redis.session_store()), Arc::new(redis.rate_limit_store()), Arc::new(internal_db.mfa_store()))
            }
            (None, SessionStoreKind::Redis) => {
                return Err(StartupError::Config("redis_url: is required for session_store = \"redis\"".into()));
            }
            (_, SessionStoreKind::Auto | SessionStoreKind::Database) => (
                cached(Arc::new(internal_db.session_store()), &settings, bus.clone(), &metrics).await?,
                Arc::new(internal_db.rate_limit_store()),
                Arc::new(internal_db.mfa_store()),
            ),
        };
        let (audit_queue, audit_writer) =
            batch_queue::start(Arc::new(Audit(Arc::new(internal_db.audit_sink()))), AUDIT_QUEUE_CAPACITY);
        let (runs_queue, runs_writer) =
            batch_queue::start(Arc::new(Runs(Arc::new(internal_db.middleware_log_sink()))), AUDIT_QUEUE_CAPACITY);
        let observed_audit = ObservedAudit::new(Arc::new(audit_queue.clone()), metrics.clone());
        let recorder = AuditRecorder::new(Arc::new(observed_audit), Arc::clone(&clock));
        let admin_audit = recorder.clone();
        let audit_query = Arc::new(internal_db.audit_sink());
        let (entries, mfa) = pipeline::build(&Wiring {
            settings: &settings,
            rate_limits: Arc::clone(&rate_limits),
            mfa_factors,
            clock: Arc::clone(&clock),
            audit: recorder.clone(),
            registry: &registry,
        })?;
        let pipeline =
            Arc::new(Pipeline::new(entries, Arc::new(runs_queue), Arc::new(metrics.clone()), Arc::clone(&clock)));

        let policy = settings.password_policy();
        let dummy = tokio::task::spawn_blocking(move || password::dummy_hash(&policy))
            .await
            .map_err(|e| StartupError::Config(format!("password_hash_algorithm: {e}")))?
            .map_err(|e| StartupError::Config(format!("password_hash_algorithm: {e}")))?;

        let sessions = SessionManager::new(
            Arc::clone(&store),
            tokens,
            SessionPolicy::from_settings(&settings),
            Arc::clone(&clock),
            recorder.clone(),
        );
        let mut pool =
            HashPool::per_core().map_err(|e| StartupError::Config(format!("cannot start the hashing threads: {e}")))?;
        if settings.address_hash_concurrency > 0 {
            pool = pool.with_key_limit(settings.address_hash_concurrency);
        }
        let auth = AuthService::new(AuthParts {
            directory,
            sessions,
            pool: Arc::new(pool),
            settings: AuthSettings::from_settings(&settings),
            dummy_hash: dummy,
            audit: recorder,
            pipeline,
            mfa,
            tickets: rate_limits,
            clock: Arc::clone(&clock),
        });
        let state = web::Data::new(AppState {
            auth,
            metrics,
            internal_db,
            client_ip: ClientIpResolver::new(settings.trusted_proxies.clone()),
            clock: Arc::clone(&clock),
            admin: AdminGuard::from_settings(&settings),
            audit: admin_audit,
            audit_query,
        });

        let tls = match (&settings.tls_cert_file, &settings.tls_key_file) {
            (Some(cert), Some(key)) => Some(TlsCertificates::load(cert, key).map_err(StartupError::Config)?),
            _ => None,
        };
        let hsts = web::Data::new(HstsPolicy { tls: tls.is_some(), trusted_proxies: settings.trusted_proxies.clone() });
        let observed = settings.otel_exporter_otlp_endpoint.is_some() || settings.sentry_dsn.is_some();
        let address = format!("{}:{}", settings.bind, settings.port);
        let listener =
            TcpListener::bind(&address).map_err(|source| StartupError::Bind { address: address.clone(), source })?;
        let port =
            listener.local_addr().map_err(|source| StartupError::Bind { address: address.clone(), source })?.port();
        let max_body = settings.max_body_bytes;
        let origins = settings.cors_allowed_origins.clone();
        let app_state = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .app_data(hsts.clone())
                .wrap(http::cors(&origins))
                .wrap(from_fn(http::add_headers))
                .wrap(Condition::new(observed, from_fn(request_span::observe)))
                .configure(http::configure(max_body))
        });
        let server = match &tls {
            Some(certificates) => {
                server.listen_rustls_0_23(listener, certificates.server_config().map_err(StartupError::Config)?)
            }
            None => server.listen(listener),
        }
        .map_err(|source| StartupError::Bind { address, source })?
        .shutdown_timeout(10)
        .run();

        let retention = tokio::spawn(retention::daily(
            Arc::clone(&state.internal_db),
            settings.audit_retention_days,
            Arc::clone(&clock),
        ));
        let mut observers = vec![tokio::spawn(observe::refresh_loop(
            observe::Sources {
                metrics: state.metrics.clone(),
                store: Arc::clone(&store),
                audit_queue,
                host,
                clock: Arc::clone(&clock),
            },
            observe::REFRESH_INTERVAL,
        ))];
        if let Some(alerts) = settings.alerts.clone() {
            let sender = match (&alerts.webhook_url, &alerts.webhook_secret) {
                (Some(url), Some(secret)) => Some(
                    AlertSender::new(url.clone(), secret.clone())
                        .map_err(|e| StartupError::Config(format!("alerts.webhook_url: {e}")))?,
                ),
                _ => None,
            };
            let service = settings.service_name.clone();
            observers.push(tokio::spawn(alerts::run(
                alerts,
                state.metrics.clone(),
                sender,
                Arc::clone(&clock),
                service,
            )));
        }
        let purge = tokio::spawn(purge_loop(Arc::clone(&store), clock));
        tracing::info!(port, tls = tls.is_some(), session_store = ?settings.session_store, "UAP listening");
        Ok(Self { port, server, writers: vec![audit_writer, runs_writer], purge, retention, observers, tls })
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

/// The `database` store behind the read cache (unless `session_cache_ttl_ms = 0`).
async fn cached(
    store: Arc<dyn SessionStore>,
    settings: &Settings,
    bus: Option<Arc<dyn EventBus>>,
    metrics: &Metrics,
) -> Result<Arc<dyn SessionStore>, StartupError> {
    if settings.session_cache_ttl_ms == 0 {
        return Ok(store);
    }
    let ttl = Duration::from_millis(settings.session_cache_ttl_ms);
    let cached =
        CachedSessionStore::new(store, ttl, bus).await.map_err(StartupError::Redis)?.with_stats(metrics.cache.clone());
    Ok(Arc::new(cached))
}

/// Connects to Redis (`redis_url`, `redis_key_prefix`).
async fn connect_redis(url: &str, settings: &Settings) -> Result<Redis, StartupError> {
    let config =
        RedisConfig { url: url.to_owned(), key_prefix: settings.redis_key_prefix.clone(), timeout: DEFAULT_TIMEOUT };
    Redis::connect(config).await.map_err(StartupError::Redis)
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
