//! The configuration. [`Settings`] is the wire shape of CONTRACT §2, loaded
//! by [`load`] (defaults < TOML < `UAP_*` env); [`Config::from_settings`]
//! checks it once — every mistake at once, each naming its key — and turns
//! it into the typed parts the runtime is built from. Nothing after that
//! re-validates: a `Config` is correct by construction, which is what lets
//! the config API build a candidate runtime from one and swap it in.

mod load;
mod middleware;
mod redact;
mod rules;
mod settings;
mod update;

use std::collections::BTreeSet;
use std::num::NonZeroUsize;
use std::time::Duration;

use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use uap_adapters_http::{HostApiConfig, HostApiFields};
use uap_adapters_sql::{ColumnPurpose, ConfigValue, HostTableConfig, OptionalColumn, RoleTableConfig};
use uap_domain::auth::AuthSettings;
use uap_domain::config::{ConfigError, MiddlewareSpec};
use uap_domain::mfa::SecretBox;
use uap_domain::password::{Argon2Params, HashUpgrade, PasswordPolicy};
use uap_domain::pipeline::{AddressBudget, rate_limit_rule};
use uap_domain::session::{SessionPolicy, TokenService};
use uap_domain::user_data::UserDataFilter;
use uap_ports::RateLimitRule;
use uap_redis::{DEFAULT_TIMEOUT, RedisConfig};

pub use load::{SettingsError, from_figment, load, load_settings};
pub use middleware::MiddlewareEntry;
pub use settings::{
    AlertSettings, ConfigSource, DataSourceType, HostDbType, LogFormat, Mode, SessionStoreKind, Settings,
};
pub use update::{RESTART_ONLY, apply as apply_changes, diff as changes_between, stored_changes, stored_form};

/// Pooled connections to the host database.
const HOST_MAX_CONNECTIONS: u32 = 16;

/// The checked configuration, in the parts the runtime is built from.
pub struct Config {
    /// What was loaded, as given (the admin config API shows it redacted).
    pub settings: Settings,
    /// `service_name`: the default JWT issuer and organization id.
    pub service_name: String,
    /// `bind`:`port`.
    pub listen: Listen,
    /// Where users are looked up.
    pub host: HostSource,
    /// The login rules (identifier, password policy, user data filter).
    pub auth: AuthSettings,
    /// Session lifetimes and refresh rules.
    pub sessions: SessionPolicy,
    /// Signs and verifies session tokens (HMAC secret or key pair).
    pub tokens: TokenService,
    /// UAP's own database, Redis and where sessions live.
    pub storage: Storage,
    /// Brute-force protection shared by the built-in middlewares.
    pub limits: Limits,
    /// The enabled middlewares in order (`rate_limit` first when implied).
    pub middleware: Vec<MiddlewareSpec>,
    /// The TOTP sealing key, present exactly when an `mfa` entry is enabled.
    pub mfa_key: Option<SecretBox>,
    /// CORS, proxies, body limit, TLS.
    pub http: HttpConfig,
    /// `admin_api_key` (none: admin routes answer 404) and `admin_ip_allowlist`.
    pub admin: AdminConfig,
    /// `sdk_api_key` (none: the revocation feed answers 404).
    pub sdk_api_key: Option<SecretString>,
    /// `audit_retention_days`.
    pub audit_retention_days: u32,
    /// Logs, traces, error reports.
    pub telemetry: TelemetryConfig,
    /// `[alerts]`.
    pub alerts: Option<AlertSettings>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("service_name", &self.service_name)
            .field("listen", &self.listen)
            .field("storage", &self.storage.sessions)
            .field("middleware", &self.middleware.len())
            .finish_non_exhaustive()
    }
}

/// The listen address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    pub bind: String,
    /// 0 = any free port.
    pub port: u16,
}

/// Where users are looked up.
pub enum HostSource {
    /// A host database table (`data_source_type = "database"`).
    Database {
        /// `host_db_url` (a secret: its password is never shown).
        url: SecretString,
        /// The table, its columns and the role table.
        table: HostTableConfig,
    },
    /// A host user API (`data_source_type = "api"`, CONTRACT §7).
    Api(HostApiConfig),
}

/// UAP's own state.
pub struct Storage {
    /// `database_url`.
    pub database_url: SecretString,
    /// `auto_migrate`.
    pub auto_migrate: bool,
    /// `redis_url` and `redis_key_prefix`, when Redis is configured (it then
    /// also carries the event bus).
    pub redis: Option<RedisConfig>,
    /// `session_store`, resolved.
    pub sessions: SessionBackend,
}

/// Where sessions, rate-limit counters and MFA tickets live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionBackend {
    /// In process (`session_store = "memory"`).
    Memory,
    /// The internal database, read through a cache of this TTL (`None`: no cache).
    Database { cache_ttl: Option<Duration> },
    /// Redis (`session_store = "redis"`, or `auto` with `redis_url`).
    Redis,
}

/// The brute-force limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `max_attempts` per `rate_limit_window`, blocked for `block_duration`:
    /// the default of `rate_limit` entries, CAPTCHA's failure counter and MFA.
    pub rule: RateLimitRule,
    /// `address_max_failures` / `address_ipv6_prefix` (`None`: off).
    pub address_budget: Option<AddressBudget>,
    /// `address_hash_concurrency` (`None`: no per-address cap).
    pub address_hash_concurrency: Option<NonZeroUsize>,
}

/// The HTTP listener's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    pub cors_allowed_origins: Vec<String>,
    /// Peers allowed to set `X-Forwarded-For` / `Forwarded`.
    pub trusted_proxies: Vec<IpNet>,
    pub max_body_bytes: usize,
    /// `tls_cert_file` and `tls_key_file` (none: plain HTTP).
    pub tls: Option<TlsFiles>,
}

/// The PEM files served over TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: String,
    pub key: String,
}

/// The admin API's guard settings.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub api_key: Option<SecretString>,
    pub allowlist: Vec<IpNet>,
}

/// Logs, traces and error reports.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    pub debug: bool,
    pub log_format: LogFormat,
    /// OTLP/HTTP collector base URL.
    pub otlp_endpoint: Option<String>,
    pub sentry_dsn: Option<SecretString>,
}

impl Config {
    /// Checks `settings` and turns it into typed parts. `custom` names the
    /// middlewares an embedding program registered. Reads the JWT private
    /// key file.
    ///
    /// # Errors
    /// Every mistake at once, each naming its key.
    pub fn from_settings(settings: Settings, custom: &BTreeSet<String>) -> Result<Self, Vec<ConfigError>> {
        let mut errors = rules::check(&settings);
        let middleware = middleware::specs(&settings.middleware_stack, settings.rate_limit_enabled, custom)
            .unwrap_or_else(|mut mistakes| {
                errors.append(&mut mistakes);
                Vec::new()
            });
        let mfa = middleware.iter().any(|s| matches!(s, MiddlewareSpec::Mfa(_)));
        let mfa_key = match (&settings.encryption_key, mfa) {
            (Some(key), true) => SecretBox::from_config(key.expose_secret())
                .map_err(|e| errors.push(ConfigError::new("encryption_key", e.to_string())))
                .ok(),
            (None, true) => {
                errors.push(ConfigError::new(
                    "encryption_key",
                    "is required by the mfa middleware (32 bytes as 64 hex characters or base64)",
                ));
                None
            }
            (_, false) => None,
        };
        let tokens = if errors.iter().any(|e| e.key.starts_with("jwt_")) {
            None
        } else {
            token_service(&settings).map_err(|e| errors.push(e)).ok()
        };
        let host = match (settings.data_source_type, &settings.host_db_url) {
            _ if !errors.is_empty() => None,
            (DataSourceType::Api, _) => host_api(&settings).map(HostSource::Api),
            (DataSourceType::Database, Some(url)) => {
                Some(HostSource::Database { url: url.clone(), table: host_table(&settings) })
            }
            (DataSourceType::Database, None) => None,
        };
        let (Some(tokens), Some(host), true) = (tokens, host, errors.is_empty()) else {
            return Err(errors);
        };
        Ok(Self {
            service_name: settings.service_name.clone(),
            listen: Listen { bind: settings.bind.clone(), port: settings.port },
            host,
            auth: auth_settings(&settings),
            sessions: session_policy(&settings),
            tokens,
            storage: storage(&settings),
            limits: limits(&settings),
            middleware,
            mfa_key,
            http: HttpConfig {
                cors_allowed_origins: settings.cors_allowed_origins.clone(),
                trusted_proxies: settings.trusted_proxies.clone(),
                max_body_bytes: settings.max_body_bytes,
                tls: match (&settings.tls_cert_file, &settings.tls_key_file) {
                    (Some(cert), Some(key)) => Some(TlsFiles { cert: cert.clone(), key: key.clone() }),
                    _ => None,
                },
            },
            admin: AdminConfig {
                api_key: settings.admin_api_key.clone(),
                allowlist: settings.admin_ip_allowlist.clone(),
            },
            sdk_api_key: settings.sdk_api_key.clone(),
            audit_retention_days: settings.audit_retention_days,
            telemetry: TelemetryConfig {
                debug: settings.debug,
                log_format: settings.log_format,
                otlp_endpoint: settings.otel_exporter_otlp_endpoint.clone(),
                sentry_dsn: settings.sentry_dsn.clone(),
            },
            alerts: settings.alerts.clone(),
            settings,
        })
    }
}

/// The password module's view of the configuration. In shadow mode nothing
/// is written to the host: `write_back` reports instead.
#[must_use]
pub fn password_policy(settings: &Settings) -> PasswordPolicy {
    let upgrade = match (settings.mode, settings.hash_upgrade) {
        (Mode::Shadow, HashUpgrade::WriteBack) => HashUpgrade::Report,
        (_, upgrade) => upgrade,
    };
    PasswordPolicy {
        preferred: settings.password_hash_algorithm,
        argon2: Argon2Params {
            memory_kib: settings.argon2_memory_kib,
            iterations: settings.argon2_iterations,
            parallelism: settings.argon2_parallelism,
        },
        bcrypt_cost: settings.bcrypt_cost,
        upgrade,
        upgrade_format: settings.hash_upgrade_format,
        upgrade_skip: settings.hash_upgrade_skip.clone(),
        legacy_plain_digests: settings.legacy_plain_digests,
        transform: settings.password_transform,
    }
}

fn seconds(secs: u64) -> time::Duration {
    time::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX))
}

fn auth_settings(settings: &Settings) -> AuthSettings {
    AuthSettings {
        auth_type: settings.auth_type,
        identifier_fields: settings.identifier_columns().into_iter().map(|(_, column)| column).collect(),
        case_insensitive: settings.identifier_case_insensitive,
        id_field: settings.id_field.clone(),
        filter: UserDataFilter::new(
            settings.password_field.clone(),
            settings.sensitive_fields.clone(),
            settings.user_data_fields.clone(),
        ),
        policy: password_policy(settings),
        address_ipv6_prefix: settings.address_ipv6_prefix,
        refusal_floor_max: Duration::from_millis(settings.refusal_floor_max_ms),
    }
}

fn session_policy(settings: &Settings) -> SessionPolicy {
    SessionPolicy {
        default_duration: seconds(settings.session_duration),
        max_duration: seconds(settings.max_session_duration),
        role_durations: settings
            .role_session_durations
            .iter()
            .map(|(role, secs)| (role.to_lowercase(), seconds(*secs)))
            .collect(),
        idle_timeout: (settings.idle_timeout > 0).then(|| seconds(settings.idle_timeout)),
        multi_device: settings.multi_device_sessions,
        refresh_tokens: settings.refresh_tokens,
        refresh_duration: seconds(settings.refresh_token_duration),
        refresh_grace: seconds(settings.refresh_reuse_grace_seconds),
        chain_max: seconds(settings.refresh_chain_max_seconds),
    }
}

/// The JWT signer: the HS* secret, or the PEM private key read from
/// `jwt_private_key_file` (the rules have checked that the right one is set).
fn token_service(settings: &Settings) -> Result<TokenService, ConfigError> {
    let key: Vec<u8> = match (&settings.jwt_secret_key, &settings.jwt_private_key_file) {
        (Some(secret), _) if settings.jwt_algorithm.is_symmetric() => secret.expose_secret().as_bytes().to_vec(),
        (_, Some(path)) if !settings.jwt_algorithm.is_symmetric() => std::fs::read(path)
            .map_err(|e| ConfigError::new("jwt_private_key_file", format!("cannot read {path}: {e}")))?,
        _ => return Err(ConfigError::new("jwt_algorithm", "has no key (jwt_secret_key or jwt_private_key_file)")),
    };
    let issuer = settings.jwt_issuer.clone().unwrap_or_else(|| settings.service_name.clone());
    TokenService::new(settings.jwt_algorithm, &key, issuer, settings.jwt_audience.clone())
        .map_err(|e| ConfigError::new(e.key, e.message))
}

/// The host table as the SQL adapter needs it. Optional columns left at their
/// default are used only when the table has them; changed ones must exist.
fn host_table(settings: &Settings) -> HostTableConfig {
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
    // Set explicitly or not at all: it must exist.
    if let Some(inactive) = settings.inactive_column() {
        columns.push(OptionalColumn::required("inactive_field", ColumnPurpose::Inactive, inactive));
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
        max_connections: HOST_MAX_CONNECTIONS,
    }
}

/// The host API as the HTTP adapter needs it (`None` when the rules have
/// already reported a missing key). Disabled optional fields (`""`) are
/// `None`.
fn host_api(settings: &Settings) -> Option<HostApiConfig> {
    let optional = |name: &str| Some(name.to_owned()).filter(|n| !n.is_empty());
    Some(HostApiConfig {
        base_url: settings.host_api_base_url.clone()?,
        api_key: settings.host_api_key.clone()?,
        timeout: Duration::from_millis(settings.host_api_timeout_ms),
        fields: HostApiFields {
            id: settings.id_field.clone(),
            password: settings.password_field.clone(),
            role: optional(&settings.role_field),
            active: settings.active_column().map(str::to_owned),
            inactive: settings.inactive_column().map(str::to_owned),
        },
        verifies_password: settings.host_api_verifies_password,
    })
}

fn storage(settings: &Settings) -> Storage {
    let redis = settings.redis_url.as_ref().map(|url| RedisConfig {
        url: url.expose_secret().to_owned(),
        key_prefix: settings.redis_key_prefix.clone(),
        timeout: DEFAULT_TIMEOUT,
    });
    let sessions = match (settings.session_store, redis.is_some()) {
        (SessionStoreKind::Memory, _) => SessionBackend::Memory,
        (SessionStoreKind::Redis, _) | (SessionStoreKind::Auto, true) => SessionBackend::Redis,
        (SessionStoreKind::Database | SessionStoreKind::Auto, _) => SessionBackend::Database {
            cache_ttl: (settings.session_cache_ttl_ms > 0)
                .then(|| Duration::from_millis(settings.session_cache_ttl_ms)),
        },
    };
    Storage { database_url: settings.database_url.clone(), auto_migrate: settings.auto_migrate, redis, sessions }
}

fn limits(settings: &Settings) -> Limits {
    Limits {
        rule: rate_limit_rule(settings.max_attempts, settings.rate_limit_window, settings.block_duration),
        address_budget: (settings.address_max_failures > 0).then_some(AddressBudget {
            max_failures: settings.address_max_failures,
            ipv6_prefix: settings.address_ipv6_prefix,
        }),
        address_hash_concurrency: NonZeroUsize::new(settings.address_hash_concurrency),
    }
}

#[cfg(test)]
mod tests {
    use uap_adapters_sql::testing::TestDb;

    use super::*;
    use crate::host::HostDirectory;

    fn settings(host_db_url: &str, inactive_field: &str) -> Settings {
        Settings {
            host_db_url: Some(host_db_url.into()),
            jwt_secret_key: Some("0123456789abcdef0123456789abcdef".into()),
            inactive_field: inactive_field.into(),
            ..Settings::default()
        }
    }

    fn host(settings: Settings) -> HostSource {
        match Config::from_settings(settings, &BTreeSet::new()) {
            Ok(config) => config.host,
            Err(errors) => panic!("{errors:?}"),
        }
    }

    #[test]
    fn inactive_field_is_a_required_column_when_set_and_absent_when_not() {
        let HostSource::Database { table, .. } = host(settings("sqlite://h.db", "locked_at")) else {
            panic!("a database source");
        };
        let inactive: Vec<_> = table.optional.iter().filter(|c| c.purpose == ColumnPurpose::Inactive).collect();
        assert_eq!(inactive, [&OptionalColumn::required("inactive_field", ColumnPurpose::Inactive, "locked_at")]);
        let HostSource::Database { table, .. } = host(settings("sqlite://h.db", "")) else {
            panic!("a database source");
        };
        assert!(table.optional.iter().all(|c| c.purpose != ColumnPurpose::Inactive), "{:?}", table.optional);
    }

    #[test]
    fn inactive_field_reaches_the_host_api_fields() {
        let mut with_api = settings("sqlite://h.db", "locked_at");
        with_api.data_source_type = settings::DataSourceType::Api;
        with_api.host_api_base_url = Some("http://127.0.0.1:1".into());
        with_api.host_api_key = Some("host-api-key-0123456789".into());
        let HostSource::Api(api) = host(with_api) else { panic!("an API source") };
        assert_eq!(api.fields.inactive.as_deref(), Some("locked_at"));
    }

    #[tokio::test]
    async fn a_missing_inactive_column_stops_start_up_naming_key_table_and_column() {
        let db = TestDb::sqlite();
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT, password TEXT)").await;
        let Err(err) = HostDirectory::connect(&host(settings(&db.url, "locked_at"))).await else {
            panic!("start-up should fail without the column");
        };
        let message = err.to_string();
        assert!(
            message.contains("inactive_field: column \"locked_at\" does not exist in table \"users\""),
            "{message}"
        );
        db.execute("ALTER TABLE users ADD COLUMN locked_at DATETIME").await;
        let connected = HostDirectory::connect(&host(settings(&db.url, "locked_at"))).await;
        assert!(connected.is_ok(), "{:?}", connected.err());
        db.cleanup().await;
    }
}
