//! Loading the configuration: built-in defaults < TOML file < `UAP_*`
//! environment (`__` for nesting), with `*_FILE` indirection for secrets.
//! The only place that reads the process environment.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Value};
use uap_domain::config::ConfigError;

use super::{Config, Settings};

/// Keys whose value may come from a file named by `<key>_file`
/// (or `UAP_<KEY>_FILE`), so secrets stay out of the environment.
/// They are also the top-level keys holding a secret.
pub(super) const SECRET_KEYS: &[&str] = &[
    "jwt_secret_key",
    "host_db_url",
    "host_api_key",
    "database_url",
    "redis_url",
    "encryption_key",
    "admin_api_key",
    "sdk_api_key",
    "sentry_dsn",
];

/// `UAP_*` variables that are not configuration keys: test wiring and the log
/// filter.
const RESERVED_ENV: &[&str] = &["require_integration", "log"];

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// Unreadable file, bad TOML, unknown key or wrong type.
    #[error("configuration: {0}")]
    Load(String),
    /// Loaded but invalid: every mistake, each naming its key.
    #[error("configuration: {}", join(.0))]
    Invalid(Vec<ConfigError>),
}

fn join(errors: &[ConfigError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// Where the TOML file is: the explicit path, else `uap.toml` in the working
/// directory when it exists.
fn config_file(explicit: Option<&Path>) -> Option<PathBuf> {
    match explicit {
        Some(path) => Some(path.to_path_buf()),
        None => Some(PathBuf::from("uap.toml")).filter(|p| p.exists()),
    }
}

/// The environment provider: `UAP_` prefix, `__` nesting, reserved names out.
fn env_provider() -> Env {
    Env::prefixed("UAP_")
        .filter(|key| {
            let key = key.as_str().to_ascii_lowercase();
            !key.starts_with("test_") && !RESERVED_ENV.contains(&key.as_str())
        })
        .split("__")
}

/// Loads the configuration and checks it ([`Config::from_settings`], no
/// custom middleware).
///
/// # Errors
/// [`SettingsError`] naming the file, key or rule at fault.
pub fn load(explicit_file: Option<&Path>) -> Result<Config, SettingsError> {
    Config::from_settings(load_settings(explicit_file)?, &std::collections::BTreeSet::new())
        .map_err(SettingsError::Invalid)
}

/// Loads the configuration as given, without checking its rules (an
/// embedding program checks it with its own middleware names).
///
/// # Errors
/// [`SettingsError::Load`] naming the file or key at fault.
pub fn load_settings(explicit_file: Option<&Path>) -> Result<Settings, SettingsError> {
    // Maps with built-in entries are seeded so that a file or the environment
    // adds to them (`UAP_ROLE_SESSION_DURATIONS__ADMIN=60` keeps `user` and
    // `guest`) instead of replacing them.
    let defaults = Settings::default();
    let mut figment = Figment::from(Serialized::default("role_session_durations", defaults.role_session_durations));
    if let Some(path) = config_file(explicit_file) {
        if !path.exists() {
            return Err(SettingsError::Load(format!("config file {} does not exist", path.display())));
        }
        figment = figment.merge(Toml::file_exact(&path));
    }
    from_figment(figment.merge(env_provider()))
}

/// Resolves `*_file` secrets and deserializes.
///
/// # Errors
/// As [`load_settings`].
pub fn from_figment(figment: Figment) -> Result<Settings, SettingsError> {
    let mut dict: Dict = figment.extract().map_err(|e| SettingsError::Load(describe(&e)))?;
    for key in SECRET_KEYS {
        let file_key = format!("{key}_file");
        if let Some(value) = dict.remove(&file_key) {
            let path = value
                .as_str()
                .ok_or_else(|| SettingsError::Load(format!("{file_key}: must be a file path")))?
                .to_owned();
            let secret = std::fs::read_to_string(&path)
                .map_err(|e| SettingsError::Load(format!("{file_key}: cannot read {path}: {e}")))?;
            dict.insert((*key).to_owned(), Value::from(secret.trim_end_matches(['\r', '\n']).to_owned()));
        }
    }
    Figment::from(Serialized::defaults(dict)).extract().map_err(|e| SettingsError::Load(describe(&e)))
}

/// One line per figment error, naming the key (never echoing a value, which
/// may be a secret).
fn describe(error: &figment::Error) -> String {
    error
        .clone()
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let kind = e.kind.to_string();
            if key.is_empty() { kind } else { format!("{key}: {kind}") }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
#[expect(clippy::result_large_err, reason = "figment's Jail closures return figment::Error")]
mod tests {
    use figment::Jail;

    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn toml_then_env_with_nesting_and_file_secrets() {
        Jail::expect_with(|jail| {
            jail.create_file("secret.txt", &format!("{SECRET}\n"))?;
            jail.create_file(
                "uap.toml",
                "host_db_url = \"sqlite://host.db\"\nport = 9000\njwt_secret_key_file = \"secret.txt\"\n",
            )?;
            jail.set_env("UAP_PORT", "9100");
            jail.set_env("UAP_ROLE_SESSION_DURATIONS__ADMIN", "60");
            jail.set_env("UAP_TEST_POSTGRES_URL", "postgres://ignored");
            jail.set_env("UAP_REQUIRE_INTEGRATION", "1");
            let settings = load(None).map_err(|e| e.to_string())?.settings;
            assert_eq!(settings.port, 9100);
            assert_eq!(settings.role_session_durations.get("admin"), Some(&60));
            assert_eq!(settings.role_session_durations.get("guest"), Some(&1800));
            use secrecy::ExposeSecret;
            assert_eq!(settings.jwt_secret_key.as_ref().map(|s| s.expose_secret().to_owned()), Some(SECRET.into()));
            Ok(())
        });
    }

    #[test]
    fn alerts_come_from_a_table_or_nested_env_and_an_unknown_alert_key_is_named() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "uap.toml",
                "host_db_url = \"sqlite://host.db\"\n[alerts]\nfailed_auth_per_minute = 20\ninterval_seconds = 5\n",
            )?;
            jail.set_env("UAP_JWT_SECRET_KEY", SECRET);
            jail.set_env("UAP_ALERTS__ERROR_RATE", "0.25");
            let settings = load(None).map_err(|e| e.to_string())?.settings;
            let alerts = settings.alerts.ok_or("no [alerts]")?;
            assert_eq!(alerts.failed_auth_per_minute, Some(20));
            assert_eq!(alerts.interval_seconds, 5);
            assert_eq!(alerts.error_rate, Some(0.25));
            assert_eq!(alerts.active_sessions, None);
            jail.create_file("uap.toml", "host_db_url = \"sqlite://host.db\"\n[alerts]\nfailed_auths = 1\n")?;
            let err = load(None).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("failed_auths"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn unknown_key_is_named() {
        Jail::expect_with(|jail| {
            jail.create_file("uap.toml", "host_db_url = \"sqlite://h.db\"\nsesion_duration = 5\n")?;
            let err = load(None).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("sesion_duration"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn invalid_values_name_their_keys_and_hide_secrets() {
        Jail::expect_with(|jail| {
            jail.set_env("UAP_HOST_DB_URL", "postgres://u:hunter2@h/db");
            jail.set_env("UAP_JWT_SECRET_KEY", "short-secret-value");
            jail.set_env("UAP_PORT", "not-a-number");
            let err = load(None).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("port"), "{err}");
            assert!(!err.contains("hunter2") && !err.contains("short-secret-value"), "{err}");
            jail.set_env("UAP_PORT", "8000");
            let err = load(None).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("jwt_secret_key: must be at least 32 bytes"), "{err}");
            assert!(!err.contains("short-secret-value"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let settings = Settings {
            jwt_secret_key: Some(SECRET.into()),
            host_db_url: Some("postgres://u:hunter2@h/db".into()),
            ..Settings::default()
        };
        let debug = format!("{settings:?}");
        assert!(!debug.contains(SECRET) && !debug.contains("hunter2"), "{debug}");
        let settings = Settings { admin_api_key: Some("admin-key-0123456789".into()), ..Settings::default() };
        let debug = format!("{settings:?}");
        assert!(!debug.contains("admin-key-0123456789"), "{debug}");
    }

    #[test]
    fn admin_key_from_file_and_allowlist_from_env() {
        Jail::expect_with(|jail| {
            jail.create_file("admin.key", "admin-key-0123456789\n")?;
            jail.create_file(
                "uap.toml",
                &format!("host_db_url = \"sqlite://h.db\"\njwt_secret_key = \"{SECRET}\"\nadmin_api_key_file = \"admin.key\"\n"),
            )?;
            jail.set_env("UAP_ADMIN_IP_ALLOWLIST", "[\"10.0.0.0/8\"]");
            let settings = load(None).map_err(|e| e.to_string())?.settings;
            use secrecy::ExposeSecret;
            assert_eq!(
                settings.admin_api_key.as_ref().map(|k| k.expose_secret().to_owned()),
                Some("admin-key-0123456789".into())
            );
            assert_eq!(
                settings.admin_ip_allowlist,
                vec!["10.0.0.0/8".parse::<ipnet::IpNet>().map_err(|e| e.to_string())?]
            );
            jail.create_file("uap.toml", &format!("host_db_url = \"sqlite://h.db\"\njwt_secret_key = \"{SECRET}\"\n"))?;
            jail.set_env("UAP_ADMIN_API_KEY", "short");
            let err = load(None).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("admin_api_key: must be at least 16 bytes"), "{err}");
            assert!(!err.contains("short\""), "{err}");
            Ok(())
        });
    }
}
