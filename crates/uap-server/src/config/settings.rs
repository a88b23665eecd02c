//! The wire shape of the configuration (CONTRACT §2): every key with its
//! default, as figment deserializes it from defaults < TOML < `UAP_*` env.
//! Nothing reads it but [`super::Config::from_settings`], which checks it
//! once and turns it into typed parts; the admin config API shows it
//! (secrets redacted).

use std::collections::BTreeMap;

use ipnet::IpNet;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use uap_domain::config::{AuthType, JwtAlgorithm};
use uap_domain::password::{HashUpgrade, PasswordTransform, PreferredAlgorithm, UpgradeFamily, UpgradeFormat};

use super::middleware::MiddlewareEntry;
use super::redact;

/// `data_source_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DataSourceType {
    #[default]
    Database,
    Api,
}

/// `host_db_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostDbType {
    Postgresql,
    Mysql,
    Sqlite,
    Sqlserver,
    Oracle,
}

/// `session_store`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SessionStoreKind {
    #[default]
    Auto,
    Memory,
    Database,
    Redis,
}

/// `log_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Json,
    Pretty,
}

/// `mode`: whether logins are answered or only judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Logins start sessions.
    #[default]
    Enforce,
    /// Logins are judged, never answered with a session, and nothing is
    /// written to the host (CONTRACT §3 shadow mode).
    Shadow,
}

/// `config_source`: what wins at start-up when the internal database holds
/// configuration versions made through the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ConfigSource {
    /// The file (and environment); versions made later are followed.
    #[default]
    File,
    /// The newest stored version, applied over the file.
    Database,
}

/// The whole configuration. Field docs give the default.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// ["UAP"] name used as the default JWT issuer and organization id.
    pub service_name: String,
    /// [false] more detail in logs (never secrets).
    pub debug: bool,
    /// ["127.0.0.1"] listen address.
    pub bind: String,
    /// [8000] listen port (0 = any free port).
    pub port: u16,

    /// [username_password]
    pub auth_type: AuthType,
    /// ["username"]
    pub username_field: String,
    /// ["password"]
    pub password_field: String,
    /// ["email"]
    pub email_field: String,
    /// ["phone"]
    pub phone_field: String,
    /// ["id"]
    pub id_field: String,
    /// ["role"]
    pub role_field: String,
    /// ["is_active"; "" disables]
    pub active_field: String,
    /// [""; none] rows where this column is set (not NULL/false/0/'', e.g. a
    /// timestamp or a reason code) cannot log in.
    pub inactive_field: String,
    /// [[]] columns never returned in `user_data`.
    pub sensitive_fields: Vec<String>,
    /// [none = all that remain] allow-list for `user_data`.
    pub user_data_fields: Option<Vec<String>>,
    /// [false] compare identifiers case-insensitively.
    pub identifier_case_insensitive: bool,
    /// [derived from auth_type] columns a login identifier is matched against.
    pub identifier_fields: Option<Vec<String>>,

    /// [enforce] `shadow`: judge mirrored logins without issuing sessions.
    pub mode: Mode,
    /// [database]
    pub data_source_type: DataSourceType,
    /// [inferred from the URL scheme]
    pub host_db_type: Option<HostDbType>,
    /// The host database URL (secret: its password is never shown).
    #[serde(serialize_with = "redact::optional")]
    pub host_db_url: Option<SecretString>,
    /// ["users"]
    pub host_user_table: String,
    /// [none]
    pub host_role_table: Option<String>,
    /// ["user_id"]
    pub role_user_id_field: String,
    /// ["role_name"]
    pub role_name_field: String,
    /// [none] the host user API's base URL (`data_source_type = "api"`).
    pub host_api_base_url: Option<String>,
    /// [none] the bearer key every host API call carries (secret; or
    /// `host_api_key_file`).
    #[serde(serialize_with = "redact::optional")]
    pub host_api_key: Option<SecretString>,
    /// [5000] how long one host API call may take, in milliseconds.
    pub host_api_timeout_ms: u64,
    /// [false] delegated mode: the host checks passwords (`POST /auth/verify`).
    pub host_api_verifies_password: bool,

    /// [3600] seconds.
    pub session_duration: u64,
    /// [86400] seconds; caps every role duration.
    pub max_session_duration: u64,
    /// [0 = off] seconds without activity after which a session ends.
    pub idle_timeout: u64,
    /// [true] false = a new login ends the user's other sessions.
    pub multi_device_sessions: bool,
    /// [{admin = 7200, user = 3600, guest = 1800}] seconds per role.
    pub role_session_durations: BTreeMap<String, u64>,

    /// ["argon2id"]
    pub password_hash_algorithm: PreferredAlgorithm,
    /// [19456]
    pub argon2_memory_kib: u32,
    /// [2]
    pub argon2_iterations: u32,
    /// [1]
    pub argon2_parallelism: u32,
    /// [report]
    pub hash_upgrade: HashUpgrade,
    /// [host]
    pub hash_upgrade_format: UpgradeFormat,
    /// [12]
    pub bcrypt_cost: u32,
    /// [[]]
    pub hash_upgrade_skip: Vec<UpgradeFamily>,
    /// [false]
    pub legacy_plain_digests: bool,
    /// [none]
    pub password_transform: PasswordTransform,

    /// [true]
    pub refresh_tokens: bool,
    /// [2592000] seconds.
    pub refresh_token_duration: u64,
    /// [10] seconds.
    pub refresh_reuse_grace_seconds: u64,
    /// [2592000] seconds: a refresh chain ends this long after its login,
    /// however often it is refreshed.
    pub refresh_chain_max_seconds: u64,

    /// Required for HS* (secret).
    #[serde(serialize_with = "redact::optional")]
    pub jwt_secret_key: Option<SecretString>,
    /// [HS256]
    pub jwt_algorithm: JwtAlgorithm,
    /// PEM private key for RS256/ES256/EdDSA.
    pub jwt_private_key_file: Option<String>,
    /// [3600] seconds: the longest an access token lives (the session may end sooner).
    pub jwt_expiration: u64,
    /// [service_name]
    pub jwt_issuer: Option<String>,
    /// [none]
    pub jwt_audience: Option<String>,

    /// ["sqlite://uap.db?mode=rwc"] UAP's internal database (secret-bearing URL).
    #[serde(serialize_with = "redact::always")]
    pub database_url: SecretString,
    /// [true]
    pub auto_migrate: bool,
    /// [file] whether the newest configuration version stored through the
    /// admin API wins over the file at start-up.
    pub config_source: ConfigSource,
    /// [none]
    #[serde(serialize_with = "redact::optional")]
    pub redis_url: Option<SecretString>,
    /// [auto]
    pub session_store: SessionStoreKind,
    /// ["uap:"] prefix of every Redis key.
    pub redis_key_prefix: String,
    /// [1000] how long this instance trusts a cached session record of the
    /// `database` store (0 = no cache).
    pub session_cache_ttl_ms: u64,

    /// [true] brute-force protection even when no `rate_limit` entry is listed.
    pub rate_limit_enabled: bool,
    /// [5] attempts per key within the window.
    pub max_attempts: u32,
    /// [300] seconds.
    pub rate_limit_window: u64,
    /// [900] seconds a key stays blocked.
    pub block_duration: u64,
    /// [100] failed logins per client address (across identifiers) within
    /// `rate_limit_window`; the address then gets 429 for `block_duration`.
    /// Part of `rate_limit`; 0 turns it off, otherwise at least 2.
    pub address_max_failures: u32,
    /// [64] IPv6 clients are counted per network of this prefix length.
    pub address_ipv6_prefix: u8,
    /// [2] password checks of one client address queued or running at once
    /// (0 = no per-address cap).
    pub address_hash_concurrency: usize,
    /// [2000] the most a refused login waits for the response floor, in
    /// milliseconds (0 = no floor; the dummy verification still runs).
    pub refusal_floor_max_ms: u64,
    /// [[]] the ordered login pipeline (CONTRACT §4).
    pub middleware_stack: Vec<MiddlewareEntry>,
    /// AEAD key (32 bytes, hex or base64) for TOTP secrets at rest; required
    /// by the `mfa` middleware.
    #[serde(serialize_with = "redact::optional")]
    pub encryption_key: Option<SecretString>,

    /// [[]]
    pub cors_allowed_origins: Vec<String>,
    /// [[]] peers allowed to set X-Forwarded-For.
    pub trusted_proxies: Vec<IpNet>,
    /// [65536]
    pub max_body_bytes: usize,
    /// [2555] days audit and middleware-log rows are kept (`uap audit
    /// cleanup`, and the server once a day).
    pub audit_retention_days: u32,
    /// [none: admin routes answer 404] the admin API key (secret, at least
    /// 16 bytes), sent as `X-API-Key` or `Authorization: Bearer`.
    #[serde(serialize_with = "redact::optional")]
    pub admin_api_key: Option<SecretString>,
    /// [["127.0.0.1/32", "::1/128"]] client addresses (after
    /// `trusted_proxies`) allowed to call admin routes.
    pub admin_ip_allowlist: Vec<IpNet>,
    /// [none: the revocation feed answers 404] the key SDKs present as
    /// `X-API-Key` to `GET /api/v1/auth/events` (secret, at least 16 bytes).
    #[serde(serialize_with = "redact::optional")]
    pub sdk_api_key: Option<SecretString>,
    /// [json]
    pub log_format: LogFormat,
    /// [none: no trace is exported] OTLP/HTTP collector base URL, e.g.
    /// `http://otel-collector:4318` (spans go to `<url>/v1/traces`).
    pub otel_exporter_otlp_endpoint: Option<String>,
    /// [none: nothing is reported] Sentry DSN (secret; `sentry_dsn_file`).
    #[serde(serialize_with = "redact::optional")]
    pub sentry_dsn: Option<SecretString>,
    /// [none: plain HTTP] PEM certificate chain; serves HTTPS with `tls_key_file`.
    pub tls_cert_file: Option<String>,
    /// [none: plain HTTP] PEM private key of `tls_cert_file`.
    pub tls_key_file: Option<String>,
    /// [none: no alerts] thresholds evaluated every `interval_seconds`
    /// (docs/operations.md, Alerts).
    pub alerts: Option<AlertSettings>,
}

/// `[alerts]`: each threshold is optional; a crossing logs a WARN `alert`
/// record and, with `webhook_url`, POSTs a signed JSON alert.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertSettings {
    /// [none] failed logins in the last minute above which the alert fires.
    pub failed_auth_per_minute: Option<u64>,
    /// [none] 95th-percentile HTTP latency (ms) over the last interval.
    pub p95_latency_ms: Option<f64>,
    /// [none] share (0..=1) of 5xx responses over the last interval.
    pub error_rate: Option<f64>,
    /// [none] active sessions above which the alert fires.
    pub active_sessions: Option<u64>,
    /// [60] seconds between evaluations (1..=3600).
    pub interval_seconds: u64,
    /// [none] an http(s) URL receiving each crossing and recovery.
    pub webhook_url: Option<String>,
    /// [none] HMAC key of `X-UAP-Signature` (required with `webhook_url`).
    #[serde(serialize_with = "redact::optional")]
    pub webhook_secret: Option<SecretString>,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            failed_auth_per_minute: None,
            p95_latency_ms: None,
            error_rate: None,
            active_sessions: None,
            interval_seconds: 60,
            webhook_url: None,
            webhook_secret: None,
        }
    }
}

/// `admin_ip_allowlist`'s default: the loopback addresses.
fn default_admin_allowlist() -> Vec<IpNet> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    vec![IpNet::from(IpAddr::V4(Ipv4Addr::LOCALHOST)), IpNet::from(IpAddr::V6(Ipv6Addr::LOCALHOST))]
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            service_name: "UAP".into(),
            debug: false,
            bind: "127.0.0.1".into(),
            port: 8000,
            auth_type: AuthType::default(),
            username_field: "username".into(),
            password_field: "password".into(),
            email_field: "email".into(),
            phone_field: "phone".into(),
            id_field: "id".into(),
            role_field: "role".into(),
            active_field: "is_active".into(),
            inactive_field: String::new(),
            sensitive_fields: Vec::new(),
            user_data_fields: None,
            identifier_case_insensitive: false,
            identifier_fields: None,
            mode: Mode::default(),
            data_source_type: DataSourceType::default(),
            host_db_type: None,
            host_db_url: None,
            host_user_table: "users".into(),
            host_role_table: None,
            role_user_id_field: "user_id".into(),
            role_name_field: "role_name".into(),
            host_api_base_url: None,
            host_api_key: None,
            host_api_timeout_ms: 5000,
            host_api_verifies_password: false,
            session_duration: 3600,
            max_session_duration: 86_400,
            idle_timeout: 0,
            multi_device_sessions: true,
            role_session_durations: BTreeMap::from([
                ("admin".into(), 7200),
                ("user".into(), 3600),
                ("guest".into(), 1800),
            ]),
            password_hash_algorithm: PreferredAlgorithm::Argon2id,
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            hash_upgrade: HashUpgrade::default(),
            hash_upgrade_format: UpgradeFormat::default(),
            bcrypt_cost: 12,
            hash_upgrade_skip: Vec::new(),
            legacy_plain_digests: false,
            password_transform: PasswordTransform::default(),
            refresh_tokens: true,
            refresh_token_duration: 2_592_000,
            refresh_reuse_grace_seconds: 10,
            refresh_chain_max_seconds: 2_592_000,
            jwt_secret_key: None,
            jwt_algorithm: JwtAlgorithm::default(),
            jwt_private_key_file: None,
            jwt_expiration: 3600,
            jwt_issuer: None,
            jwt_audience: None,
            database_url: SecretString::from("sqlite://uap.db?mode=rwc"),
            auto_migrate: true,
            config_source: ConfigSource::default(),
            redis_url: None,
            session_store: SessionStoreKind::default(),
            redis_key_prefix: "uap:".into(),
            session_cache_ttl_ms: 1000,
            rate_limit_enabled: true,
            max_attempts: 5,
            rate_limit_window: 300,
            block_duration: 900,
            address_max_failures: 100,
            refusal_floor_max_ms: 2000,
            address_ipv6_prefix: 64,
            address_hash_concurrency: 2,
            middleware_stack: Vec::new(),
            encryption_key: None,
            cors_allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            max_body_bytes: 65_536,
            audit_retention_days: 2555,
            admin_api_key: None,
            admin_ip_allowlist: default_admin_allowlist(),
            sdk_api_key: None,
            log_format: LogFormat::default(),
            alerts: None,
            otel_exporter_otlp_endpoint: None,
            sentry_dsn: None,
            tls_cert_file: None,
            tls_key_file: None,
        }
    }
}

impl Settings {
    /// The columns a login identifier is matched against, with the key that
    /// named each (for error messages).
    #[must_use]
    pub fn identifier_columns(&self) -> Vec<(&'static str, String)> {
        if let Some(fields) = &self.identifier_fields {
            return fields.iter().map(|f| ("identifier_fields", f.clone())).collect();
        }
        match self.auth_type {
            AuthType::UsernamePassword | AuthType::Custom => {
                vec![("username_field", self.username_field.clone())]
            }
            AuthType::EmailPassword => vec![("email_field", self.email_field.clone())],
            AuthType::PhonePassword => vec![("phone_field", self.phone_field.clone())],
        }
    }

    /// The active column, unless disabled with `""`.
    #[must_use]
    pub fn active_column(&self) -> Option<&str> {
        Some(self.active_field.as_str()).filter(|f| !f.is_empty())
    }

    /// The inactive column, unless left unset (`""`).
    #[must_use]
    pub fn inactive_column(&self) -> Option<&str> {
        Some(self.inactive_field.as_str()).filter(|f| !f.is_empty())
    }
}
