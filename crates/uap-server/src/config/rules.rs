//! The rules a loaded [`Settings`] must satisfy, beyond its types: each
//! mistake names the key it is about. The middleware entries and the keys
//! only usable once parsed (the JWT key, `encryption_key`) are checked where
//! [`super::Config::from_settings`] parses them.

use secrecy::ExposeSecret;
use uap_adapters_http::host_api;
use uap_domain::config::ConfigError;

use super::{AlertSettings, DataSourceType, HostDbType, SessionStoreKind, Settings};

/// The shortest HS* secret accepted (RFC 7518 §3.2: at least the hash size).
const MIN_HMAC_SECRET_BYTES: usize = 32;

/// The shortest `admin_api_key` (and `sdk_api_key`) accepted.
const MIN_API_KEY_BYTES: usize = 16;

/// Every mistake of `settings` against the rules below.
pub(super) fn check(settings: &Settings) -> Vec<ConfigError> {
    settings.mistakes()
}

impl Settings {
    /// The host user API's keys (`data_source_type = "api"`).
    fn host_api_mistakes(&self) -> Vec<(&'static str, String)> {
        let mut errors = Vec::new();
        match self.host_api_base_url.as_deref() {
            None => errors.push((
                "host_api_base_url",
                "is required when data_source_type = \"api\" (e.g. https://app.example.com/uap)".to_owned(),
            )),
            Some(url) => {
                if let Err(message) = host_api::check_base_url(url) {
                    errors.push(("host_api_base_url", message));
                } else if self.host_api_verifies_password && !host_api::password_route_allowed(url) {
                    errors.push((
                        "host_api_verifies_password",
                        "sends passwords to the host: host_api_base_url must then be https:// or a loopback \
                         address (127.0.0.1, ::1, localhost)"
                            .to_owned(),
                    ));
                }
            }
        }
        if self.host_api_key.as_ref().is_none_or(|key| key.expose_secret().trim().is_empty()) {
            errors.push((
                "host_api_key",
                "is required when data_source_type = \"api\" (or host_api_key_file): every call carries it as a \
                 bearer token"
                    .to_owned(),
            ));
        }
        if self.host_api_timeout_ms == 0 {
            errors.push(("host_api_timeout_ms", "must be at least 1 millisecond".to_owned()));
        }
        errors
    }

    fn mistakes(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let mut fail = |key: &str, message: String| errors.push(ConfigError::new(key, message));

        if self.service_name.trim().is_empty() {
            fail("service_name", "must not be empty".into());
        }
        match self.data_source_type {
            DataSourceType::Api => {
                for (key, message) in self.host_api_mistakes() {
                    fail(key, message);
                }
            }
            DataSourceType::Database => match &self.host_db_url {
                None => fail(
                    "host_db_url",
                    "is required when data_source_type = \"database\" (e.g. postgres://user:pass@host/db)".into(),
                ),
                Some(url) => {
                    if let Err(message) = check_host_db_type(url.expose_secret(), self.host_db_type) {
                        fail("host_db_type", message);
                    }
                }
            },
        }
        for (key, value) in [
            ("host_user_table", &self.host_user_table),
            ("username_field", &self.username_field),
            ("password_field", &self.password_field),
            ("id_field", &self.id_field),
        ] {
            if value.trim().is_empty() {
                fail(key, "must not be empty".into());
            }
        }
        if self.identifier_fields.as_ref().is_some_and(Vec::is_empty) {
            fail("identifier_fields", "must list at least one column".into());
        }
        if self.session_duration == 0 {
            fail("session_duration", "must be at least 1 second".into());
        }
        if self.max_session_duration == 0 {
            fail("max_session_duration", "must be at least 1 second".into());
        }
        if self.jwt_expiration == 0 {
            fail("jwt_expiration", "must be at least 1 second".into());
        }
        if self.refresh_tokens && self.refresh_token_duration == 0 {
            fail("refresh_token_duration", "must be at least 1 second when refresh_tokens = true".into());
        }
        if self.refresh_tokens && self.refresh_chain_max_seconds == 0 {
            fail("refresh_chain_max_seconds", "must be at least 1 second when refresh_tokens = true".into());
        }
        if self.jwt_algorithm.is_symmetric() {
            match &self.jwt_secret_key {
                None => {
                    fail("jwt_secret_key", format!("is required for jwt_algorithm = {}", self.jwt_algorithm.name()))
                }
                Some(key) if key.expose_secret().len() < MIN_HMAC_SECRET_BYTES => {
                    fail("jwt_secret_key", format!("must be at least {MIN_HMAC_SECRET_BYTES} bytes long"))
                }
                Some(_) => {}
            }
        } else if self.jwt_private_key_file.is_none() {
            fail(
                "jwt_private_key_file",
                format!("is required for jwt_algorithm = {} (a PEM private key)", self.jwt_algorithm.name()),
            );
        }
        if self.admin_api_key.as_ref().is_some_and(|key| key.expose_secret().len() < MIN_API_KEY_BYTES) {
            fail("admin_api_key", format!("must be at least {MIN_API_KEY_BYTES} bytes long"));
        }
        if self.sdk_api_key.as_ref().is_some_and(|key| key.expose_secret().len() < MIN_API_KEY_BYTES) {
            fail("sdk_api_key", format!("must be at least {MIN_API_KEY_BYTES} bytes long"));
        }
        if self.argon2_iterations == 0 {
            fail("argon2_iterations", "must be at least 1".into());
        }
        if !(1..=255).contains(&self.argon2_parallelism) {
            fail("argon2_parallelism", "must be between 1 and 255".into());
        }
        if self.argon2_memory_kib < 8 * self.argon2_parallelism.max(1) {
            fail("argon2_memory_kib", "must be at least 8 × argon2_parallelism".into());
        }
        if !(4..=31).contains(&self.bcrypt_cost) {
            fail("bcrypt_cost", "must be between 4 and 31".into());
        }
        if self.max_body_bytes < 1024 {
            fail("max_body_bytes", "must be at least 1024".into());
        }
        if matches!(self.session_store, SessionStoreKind::Redis) && self.redis_url.is_none() {
            fail("redis_url", "is required for session_store = \"redis\" (e.g. redis://127.0.0.1:6379)".into());
        }
        if self.redis_url.is_some() && self.redis_key_prefix.is_empty() {
            fail("redis_key_prefix", "must not be empty (default \"uap:\")".into());
        }
        match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(_), None) => fail("tls_key_file", "is required with tls_cert_file".into()),
            (None, Some(_)) => fail("tls_cert_file", "is required with tls_key_file".into()),
            _ => {}
        }
        if let Some(url) = &self.otel_exporter_otlp_endpoint
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            fail("otel_exporter_otlp_endpoint", "must be an http:// or https:// URL (OTLP/HTTP)".into());
        }

        for (key, value) in [
            ("max_attempts", u64::from(self.max_attempts)),
            ("rate_limit_window", self.rate_limit_window),
            ("block_duration", self.block_duration),
        ] {
            if value == 0 {
                errors.push(ConfigError::new(key, "must be at least 1"));
            }
        }
        if self.address_max_failures == 1 {
            errors.push(ConfigError::new("address_max_failures", "must be 0 (off) or at least 2"));
        }
        if self.refusal_floor_max_ms > 10_000 {
            errors.push(ConfigError::new("refusal_floor_max_ms", "must be at most 10000 (10 s)"));
        }
        if self.address_ipv6_prefix > 128 {
            errors.push(ConfigError::new("address_ipv6_prefix", "must be between 0 and 128"));
        }
        if let Some(alerts) = &self.alerts {
            errors.append(&mut alerts.mistakes());
        }
        // The password module's own limits, once the basic ranges hold.
        if errors.iter().all(|e| !e.key.starts_with("argon2_") && e.key != "bcrypt_cost")
            && let Err(err) = super::password_policy(self).validate()
        {
            let key = if err.to_string().contains("bcrypt") { "bcrypt_cost" } else { "argon2_memory_kib" };
            errors.push(ConfigError::new(key, err.to_string()));
        }
        errors
    }
}

impl AlertSettings {
    fn mistakes(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if !(1..=3600).contains(&self.interval_seconds) {
            errors.push(ConfigError::new("alerts.interval_seconds", "must be between 1 and 3600"));
        }
        if self.error_rate.is_some_and(|r| !(0.0..=1.0).contains(&r)) {
            errors.push(ConfigError::new("alerts.error_rate", "must be between 0 and 1"));
        }
        if self.p95_latency_ms.is_some_and(|ms| !ms.is_finite() || ms <= 0.0) {
            errors.push(ConfigError::new("alerts.p95_latency_ms", "must be a positive number of milliseconds"));
        }
        match (&self.webhook_url, &self.webhook_secret) {
            (Some(url), _) if !url.starts_with("http://") && !url.starts_with("https://") => {
                errors.push(ConfigError::new("alerts.webhook_url", "must be an http:// or https:// URL"));
            }
            (Some(_), None) => {
                errors.push(ConfigError::new("alerts.webhook_secret", "is required with alerts.webhook_url"));
            }
            _ => {}
        }
        errors
    }
}

/// The host database kind named by a URL scheme.
#[must_use]
pub fn host_db_type_of(url: &str) -> Option<HostDbType> {
    let scheme = url.split_once(':').map(|(scheme, _)| scheme.to_ascii_lowercase())?;
    match scheme.as_str() {
        "postgres" | "postgresql" => Some(HostDbType::Postgresql),
        "mysql" | "mariadb" => Some(HostDbType::Mysql),
        "sqlite" => Some(HostDbType::Sqlite),
        "sqlserver" | "mssql" => Some(HostDbType::Sqlserver),
        "oracle" => Some(HostDbType::Oracle),
        _ => None,
    }
}

fn check_host_db_type(url: &str, declared: Option<HostDbType>) -> Result<(), String> {
    let inferred = host_db_type_of(url);
    let kind = match (declared, inferred) {
        (Some(declared), Some(inferred)) if declared != inferred => {
            return Err(format!("is {declared:?} but host_db_url is a {inferred:?} URL"));
        }
        (Some(kind), _) | (None, Some(kind)) => kind,
        (None, None) => {
            return Err("cannot be inferred from host_db_url: use a postgres://, mysql:// or sqlite:// URL".into());
        }
    };
    match kind {
        HostDbType::Sqlserver | HostDbType::Oracle => {
            Err(format!("{kind:?} is not supported by this build (postgresql, mysql, sqlite are)"))
        }
        HostDbType::Postgresql | HostDbType::Mysql | HostDbType::Sqlite => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use uap_domain::config::JwtAlgorithm;

    use super::*;

    fn valid() -> Settings {
        Settings {
            host_db_url: Some(SecretString::from("postgres://u:p@localhost/app")),
            jwt_secret_key: Some(SecretString::from("0123456789abcdef0123456789abcdef")),
            ..Settings::default()
        }
    }

    fn keys(settings: &Settings) -> Vec<String> {
        check(settings).into_iter().map(|e| e.key).collect()
    }

    #[test]
    fn defaults_plus_url_and_secret_are_valid() {
        assert!(keys(&valid()).is_empty());
    }

    #[test]
    fn missing_host_url_and_secret_name_their_keys() {
        let keys = keys(&Settings::default());
        assert!(keys.contains(&"host_db_url".to_string()));
        assert!(keys.contains(&"jwt_secret_key".to_string()));
    }

    #[test]
    fn the_host_api_source_names_its_keys() {
        let api = |url: Option<&str>, key: Option<&str>, delegated: bool| Settings {
            data_source_type: DataSourceType::Api,
            host_db_url: None,
            host_api_base_url: url.map(str::to_owned),
            host_api_key: key.map(SecretString::from),
            host_api_verifies_password: delegated,
            ..valid()
        };
        assert!(keys(&api(Some("http://10.0.0.5:8080/uap"), Some("k"), false)).is_empty(), "no host_db_url needed");
        assert_eq!(keys(&api(None, None, false)), ["host_api_base_url", "host_api_key"]);
        assert_eq!(keys(&api(Some("ftp://host"), Some("k"), false)), ["host_api_base_url"]);
        assert_eq!(keys(&api(Some("/relative"), Some(" "), false)), ["host_api_base_url", "host_api_key"]);
        assert_eq!(keys(&api(Some("http://app.internal"), Some("k"), true)), ["host_api_verifies_password"]);
        for fine in ["https://app.example.com", "http://127.0.0.1:9000", "http://[::1]:9000", "http://localhost"] {
            assert!(keys(&api(Some(fine), Some("k"), true)).is_empty(), "{fine}");
        }
        let slow = Settings { host_api_timeout_ms: 0, ..api(Some("https://h"), Some("k"), false) };
        assert_eq!(keys(&slow), ["host_api_timeout_ms"]);
    }

    #[test]
    fn alert_thresholds_are_checked() {
        let alerts = AlertSettings {
            interval_seconds: 0,
            error_rate: Some(1.5),
            p95_latency_ms: Some(-1.0),
            webhook_url: Some("https://ops.example/alerts".into()),
            ..Default::default()
        };
        let settings = Settings { alerts: Some(alerts), ..valid() };
        assert_eq!(
            keys(&settings),
            vec!["alerts.interval_seconds", "alerts.error_rate", "alerts.p95_latency_ms", "alerts.webhook_secret"]
        );
        let fine = AlertSettings { failed_auth_per_minute: Some(10), ..Default::default() };
        assert!(keys(&Settings { alerts: Some(fine), ..valid() }).is_empty());
    }

    #[test]
    fn address_limits_are_checked() {
        let settings = Settings { address_max_failures: 1, address_ipv6_prefix: 129, ..valid() };
        assert_eq!(keys(&settings), vec!["address_max_failures", "address_ipv6_prefix"]);
        let off =
            Settings { address_max_failures: 0, address_ipv6_prefix: 128, address_hash_concurrency: 0, ..valid() };
        assert!(keys(&off).is_empty());
    }

    #[test]
    fn refusal_floor_is_bounded() {
        let settings = Settings { refusal_floor_max_ms: 10_001, ..valid() };
        assert_eq!(keys(&settings), vec!["refusal_floor_max_ms"]);
        assert!(keys(&Settings { refusal_floor_max_ms: 0, ..valid() }).is_empty());
    }

    #[test]
    fn short_admin_api_key_is_refused() {
        let settings = Settings { admin_api_key: Some(SecretString::from("too-short")), ..valid() };
        assert_eq!(keys(&settings), vec!["admin_api_key"]);
        let settings = Settings { admin_api_key: Some(SecretString::from("sixteen-bytes-ok")), ..valid() };
        assert!(keys(&settings).is_empty());
    }

    #[test]
    fn short_secret_is_refused() {
        let settings = Settings { jwt_secret_key: Some(SecretString::from("short")), ..valid() };
        assert_eq!(keys(&settings), vec!["jwt_secret_key"]);
    }

    #[test]
    fn tls_needs_both_files_and_otlp_an_http_url() {
        let settings = Settings { tls_cert_file: Some("cert.pem".into()), ..valid() };
        assert_eq!(keys(&settings), vec!["tls_key_file"]);
        let settings = Settings { tls_key_file: Some("key.pem".into()), ..valid() };
        assert_eq!(keys(&settings), vec!["tls_cert_file"]);
        let settings = Settings { otel_exporter_otlp_endpoint: Some("collector:4317".into()), ..valid() };
        assert_eq!(keys(&settings), vec!["otel_exporter_otlp_endpoint"]);
        let settings = Settings { otel_exporter_otlp_endpoint: Some("http://127.0.0.1:4318".into()), ..valid() };
        assert!(keys(&settings).is_empty());
    }

    #[test]
    fn asymmetric_needs_a_key_file() {
        let settings = Settings { jwt_algorithm: JwtAlgorithm::ES256, ..valid() };
        assert_eq!(keys(&settings), vec!["jwt_private_key_file"]);
    }

    #[test]
    fn mismatched_db_type_is_named() {
        let settings = Settings { host_db_type: Some(HostDbType::Mysql), ..valid() };
        assert_eq!(keys(&settings), vec!["host_db_type"]);
        let settings = Settings { host_db_url: Some(SecretString::from("oracle://x/y")), ..valid() };
        assert_eq!(keys(&settings), vec!["host_db_type"]);
    }

    #[test]
    fn scheme_inference() {
        assert_eq!(host_db_type_of("postgresql://x"), Some(HostDbType::Postgresql));
        assert_eq!(host_db_type_of("mariadb://x"), Some(HostDbType::Mysql));
        assert_eq!(host_db_type_of("sqlite://x.db"), Some(HostDbType::Sqlite));
        assert_eq!(host_db_type_of("nonsense"), None);
    }
}
