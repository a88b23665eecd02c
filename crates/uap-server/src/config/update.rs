//! A configuration change (`PUT /api/v1/config/`): the body's top-level
//! CONTRACT §2 keys replace the running ones, everything else keeps its
//! running value — secrets included, though the admin API never shows them.
//! Keys whose parts live as long as the process (the listener, UAP's own
//! database and Redis, the hashing pool, telemetry) change only on restart.

use secrecy::ExposeSecret;
use serde_json::{Map, Value};
use uap_domain::config::ConfigError;

use super::Settings;

/// Keys a running server cannot apply: changing one needs a restart.
pub const RESTART_ONLY: &[&str] = &[
    "service_name",
    "debug",
    "bind",
    "port",
    "database_url",
    "auto_migrate",
    "redis_url",
    "redis_key_prefix",
    "session_store",
    "session_cache_ttl_ms",
    "cors_allowed_origins",
    "trusted_proxies",
    "max_body_bytes",
    "address_hash_concurrency",
    "audit_retention_days",
    "encryption_key",
    "log_format",
    "otel_exporter_otlp_endpoint",
    "sentry_dsn",
    "alerts",
    "config_source",
];

/// The most keys one change may carry (CONTRACT §2 has fewer).
const MAX_KEYS: usize = 200;

/// The top-level keys holding a secret (see [`secret`]).
use super::load::SECRET_KEYS;

/// A secret's value, for comparisons (never shown); `None` for a key not in
/// [`SECRET_KEYS`].
fn secret(settings: &Settings, key: &str) -> Option<Option<String>> {
    let exposed = |s: &Option<secrecy::SecretString>| s.as_ref().map(|s| s.expose_secret().to_owned());
    Some(match key {
        "host_db_url" => exposed(&settings.host_db_url),
        "host_api_key" => exposed(&settings.host_api_key),
        "jwt_secret_key" => exposed(&settings.jwt_secret_key),
        "database_url" => Some(settings.database_url.expose_secret().to_owned()),
        "redis_url" => exposed(&settings.redis_url),
        "encryption_key" => exposed(&settings.encryption_key),
        "admin_api_key" => exposed(&settings.admin_api_key),
        "sdk_api_key" => exposed(&settings.sdk_api_key),
        "sentry_dsn" => exposed(&settings.sentry_dsn),
        _ => return None,
    })
}

/// The running settings with `changes` applied.
///
/// # Errors
/// Each mistake, naming its key: an unknown key, a wrong type, a value a
/// running server cannot take.
pub fn apply(current: &Settings, changes: &Map<String, Value>) -> Result<Settings, Vec<ConfigError>> {
    if changes.is_empty() {
        return Err(vec![ConfigError::new("body", "names no configuration key to change")]);
    }
    if changes.len() > MAX_KEYS {
        return Err(vec![ConfigError::new("body", format!("carries more than {MAX_KEYS} keys"))]);
    }
    let Value::Object(mut view) =
        serde_json::to_value(current).map_err(|e| vec![ConfigError::new("body", e.to_string())])?
    else {
        return Err(vec![ConfigError::new("body", "the running configuration is not an object")]);
    };
    for (key, value) in changes {
        view.insert(key.clone(), value.clone());
    }
    let mut candidate: Settings = serde_json::from_value(Value::Object(view)).map_err(|e| vec![describe(&e)])?;
    // What the view showed redacted keeps its running value unless changed.
    macro_rules! keep_unless_changed {
        ($($key:ident),*) => {$(
            if !changes.contains_key(stringify!($key)) {
                candidate.$key.clone_from(&current.$key);
            }
        )*};
    }
    keep_unless_changed!(
        host_db_url,
        host_api_key,
        jwt_secret_key,
        database_url,
        redis_url,
        encryption_key,
        admin_api_key,
        sdk_api_key,
        sentry_dsn,
        middleware_stack,
        alerts
    );
    let restart: Vec<ConfigError> = changes
        .keys()
        .filter(|key| RESTART_ONLY.contains(&key.as_str()))
        .filter(|key| differs(current, &candidate, key))
        .map(|key| ConfigError::new(key.clone(), "changes only on restart (edit the configuration file and restart)"))
        .collect();
    if restart.is_empty() { Ok(candidate) } else { Err(restart) }
}

/// Whether `key` has another value in `candidate` than in `current`.
fn differs(current: &Settings, candidate: &Settings, key: &str) -> bool {
    if let (Some(a), Some(b)) = (secret(current, key), secret(candidate, key)) {
        return a != b;
    }
    let shown = |s: &Settings| serde_json::to_value(s).ok().and_then(|v| v.get(key).cloned());
    shown(current) != shown(candidate)
}

/// The keys `candidate` changes, each `{from, to}` as the admin API shows
/// them (secrets `"***"`): the audit record of a change.
#[must_use]
pub fn diff(current: &Settings, candidate: &Settings) -> Map<String, Value> {
    let (Ok(Value::Object(before)), Ok(Value::Object(after))) =
        (serde_json::to_value(current), serde_json::to_value(candidate))
    else {
        return Map::new();
    };
    after
        .into_iter()
        .filter(|(key, value)| before.get(key) != Some(value) || secret_changed(current, candidate, key))
        .map(|(key, to)| {
            let from = before.get(&key).cloned().unwrap_or(Value::Null);
            (key, serde_json::json!({ "from": from, "to": to }))
        })
        .collect()
}

fn secret_changed(current: &Settings, candidate: &Settings, key: &str) -> bool {
    matches!((secret(current, key), secret(candidate, key)), (Some(a), Some(b)) if a != b)
}

/// What a stored version holds: the configuration as the admin API shows it
/// and, when `encryption_key` is set, its secrets sealed with that key
/// (XChaCha20-Poly1305, random nonce; base64). Without the key the secrets
/// are not stored at all.
#[must_use]
pub fn stored_form(settings: &Settings) -> Value {
    let shown = serde_json::to_value(settings).unwrap_or(Value::Null);
    let sealed = settings.encryption_key.as_ref().and_then(|key| {
        let sealer = uap_domain::mfa::SecretBox::from_config(key.expose_secret()).ok()?;
        let plaintext = serde_json::to_vec(&secrets(settings)).ok()?;
        let (ciphertext, nonce) = sealer.seal(&plaintext, SEALED_CONTEXT).ok()?;
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        Some(serde_json::json!({ "ciphertext": b64.encode(ciphertext), "nonce": b64.encode(nonce) }))
    });
    serde_json::json!({ "settings": shown, "sealed_secrets": sealed })
}

/// The associated data of sealed configuration secrets.
const SEALED_CONTEXT: &[u8] = b"uap-configuration-secrets-v1";

/// Every secret of `settings`, exposed (only ever sealed).
fn secrets(settings: &Settings) -> Value {
    let mut map = Map::new();
    for key in SECRET_KEYS {
        if let Some(Some(value)) = secret(settings, key) {
            map.insert((*key).to_owned(), Value::String(value));
        }
    }
    let stack: Vec<Value> = settings
        .middleware_stack
        .iter()
        .map(|entry| serde_json::json!({ "name": entry.name, "enabled": entry.enabled, "options": entry.options }))
        .collect();
    map.insert("middleware_stack".to_owned(), Value::Array(stack));
    if let Some(secret) = settings.alerts.as_ref().and_then(|a| a.webhook_secret.as_ref()) {
        map.insert("alerts.webhook_secret".to_owned(), Value::String(secret.expose_secret().to_owned()));
    }
    Value::Object(map)
}

/// The changes that bring `current` to a version another instance stored
/// (its [`stored_form`]): every shown key that differs (restart-only keys
/// excepted: each instance keeps its own listener, databases…), and — when the
/// version carries sealed secrets and `current` has the same
/// `encryption_key` — the secrets and `middleware_stack` that differ.
/// Shown values that hold a redacted secret are skipped (without a sealing
/// key, secrets stay as this instance has them).
///
/// # Errors
/// When the sealed secrets cannot be opened with this instance's key.
pub fn stored_changes(current: &Settings, stored: &Value) -> Result<Map<String, Value>, String> {
    let Ok(Value::Object(running)) = serde_json::to_value(current) else {
        return Err("the running configuration is not an object".into());
    };
    let mut changes: Map<String, Value> = stored["settings"]
        .as_object()
        .map(|shown| {
            shown
                .iter()
                .filter(|(key, value)| {
                    running.get(*key) != Some(value) && !holds_redacted(value) && !RESTART_ONLY.contains(&key.as_str())
                })
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect()
        })
        .unwrap_or_default();
    let sealed = &stored["sealed_secrets"];
    if let (Some(key), Some(ciphertext), Some(nonce)) =
        (&current.encryption_key, sealed["ciphertext"].as_str(), sealed["nonce"].as_str())
    {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let sealer = uap_domain::mfa::SecretBox::from_config(key.expose_secret()).map_err(|e| e.to_string())?;
        let (ciphertext, nonce) = (b64.decode(ciphertext), b64.decode(nonce));
        let (Ok(ciphertext), Ok(nonce)) = (ciphertext, nonce) else {
            return Err("the sealed secrets are not base64".into());
        };
        let plaintext = sealer.open(&ciphertext, &nonce, SEALED_CONTEXT).map_err(|e| e.to_string())?;
        let secrets: Map<String, Value> = serde_json::from_slice(&plaintext).map_err(|e| e.to_string())?;
        for (key, value) in secrets {
            if key == "middleware_stack" {
                let stack: Vec<Value> = value.as_array().into_iter().flatten().map(flattened).collect();
                let mine: Vec<Value> = secrets_stack(current);
                if stack != mine {
                    changes.insert(key, Value::Array(stack));
                }
            } else if !RESTART_ONLY.contains(&key.as_str())
                && secret(current, &key).is_some_and(|mine| mine.as_deref() != value.as_str())
            {
                changes.insert(key, value);
            }
        }
    }
    Ok(changes)
}

/// `{name, enabled, options}` as a `middleware_stack` entry table.
fn flattened(entry: &Value) -> Value {
    let mut table = entry["options"].as_object().cloned().unwrap_or_default();
    table.insert("name".into(), entry["name"].clone());
    table.insert("enabled".into(), entry["enabled"].clone());
    Value::Object(table)
}

/// This instance's `middleware_stack`, unredacted, as entry tables.
fn secrets_stack(settings: &Settings) -> Vec<Value> {
    settings
        .middleware_stack
        .iter()
        .map(|entry| {
            flattened(&serde_json::json!({ "name": entry.name, "enabled": entry.enabled, "options": entry.options }))
        })
        .collect()
}

/// Whether a shown value is or holds `"***"`.
fn holds_redacted(value: &Value) -> bool {
    match value {
        Value::String(text) => text == super::redact::REDACTED,
        Value::Array(items) => items.iter().any(holds_redacted),
        Value::Object(map) => map.values().any(holds_redacted),
        _ => false,
    }
}

/// A serde message naming the key, without the offending value (it may be
/// a secret).
fn describe(err: &serde_json::Error) -> ConfigError {
    let text = err.to_string();
    let text = text.split(" at line ").next().unwrap_or(&text);
    if let Some(rest) = text.strip_prefix("unknown field `")
        && let Some((key, _)) = rest.split_once('`')
    {
        return ConfigError::new(key, "is not a configuration key");
    }
    let text = if text.starts_with("invalid type") || text.starts_with("invalid value") {
        text.split(':').next().unwrap_or("invalid value")
    } else {
        text
    };
    ConfigError::new("body", text)
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;
    use serde_json::json;

    use super::*;

    fn running() -> Settings {
        Settings {
            host_db_url: Some(SecretString::from("postgres://u:hunter2@h/db")),
            jwt_secret_key: Some(SecretString::from("0123456789abcdef0123456789abcdef")),
            ..Settings::default()
        }
    }

    fn changes(value: Value) -> Map<String, Value> {
        let Value::Object(map) = value else { panic!("an object") };
        map
    }

    #[test]
    fn named_keys_change_and_secrets_are_kept() {
        let current = running();
        let next = apply(&current, &changes(json!({"max_attempts": 3, "host_user_table": "accounts"}))).unwrap();
        assert_eq!((next.max_attempts, next.host_user_table.as_str()), (3, "accounts"));
        assert_eq!(
            next.host_db_url.as_ref().map(|s| s.expose_secret().to_owned()),
            Some("postgres://u:hunter2@h/db".into())
        );
        assert_eq!(next.jwt_secret_key.as_ref().map(|s| s.expose_secret().len()), Some(32));
        let diff = diff(&current, &next);
        assert_eq!(diff.keys().collect::<Vec<_>>(), vec!["host_user_table", "max_attempts"]);
        assert_eq!(diff["max_attempts"], json!({"from": 5, "to": 3}));
    }

    #[test]
    fn a_changed_secret_is_in_the_diff_but_never_shown() {
        let current = running();
        let next = apply(&current, &changes(json!({"jwt_secret_key": "fedcba9876543210fedcba9876543210"}))).unwrap();
        let diff = diff(&current, &next);
        assert_eq!(diff["jwt_secret_key"], json!({"from": "***", "to": "***"}));
        assert!(!serde_json::to_string(&diff).unwrap().contains("fedcba"));
    }

    #[test]
    fn the_stored_form_shows_no_secret_and_seals_them_only_with_a_key() {
        let plain = stored_form(&running());
        assert!(plain["sealed_secrets"].is_null());
        assert_eq!(plain["settings"]["host_db_url"], "***");
        let keyed = Settings { encryption_key: Some(SecretString::from("7".repeat(64))), ..running() };
        let stored = stored_form(&keyed);
        let text = stored.to_string();
        assert!(!text.contains("hunter2") && !text.contains("0123456789abcdef"), "{text}");
        assert!(stored["sealed_secrets"]["ciphertext"].as_str().is_some_and(|c| c.len() > 40));
    }

    #[test]
    fn another_instance_reads_the_changes_back_with_the_same_key() {
        let key = Some(SecretString::from("7".repeat(64)));
        let mine = Settings { encryption_key: key.clone(), ..running() };
        let theirs = apply(
            &mine,
            &changes(json!({"host_user_table": "accounts", "jwt_secret_key": "fedcba9876543210fedcba9876543210"})),
        )
        .unwrap();
        let found = stored_changes(&mine, &stored_form(&theirs)).unwrap();
        assert_eq!(found.keys().collect::<Vec<_>>(), vec!["host_user_table", "jwt_secret_key"]);
        let next = apply(&mine, &found).unwrap();
        assert_eq!(
            next.jwt_secret_key.as_ref().map(|s| s.expose_secret().to_owned()),
            Some("fedcba9876543210fedcba9876543210".into())
        );
        // Without the sealing key only the shown keys travel.
        let plain = Settings { encryption_key: None, ..running() };
        let theirs = apply(&plain, &changes(json!({"max_attempts": 9}))).unwrap();
        assert_eq!(
            stored_changes(&plain, &stored_form(&theirs)).unwrap().keys().collect::<Vec<_>>(),
            vec!["max_attempts"]
        );
        assert!(stored_changes(&plain, &stored_form(&plain)).unwrap().is_empty());
    }

    #[test]
    fn unknown_keys_wrong_types_and_restart_only_keys_are_named() {
        let current = running();
        let keys = |value| apply(&current, &changes(value)).unwrap_err().into_iter().map(|e| e.key).collect::<Vec<_>>();
        assert_eq!(keys(json!({"sesion_duration": 5})), vec!["sesion_duration"]);
        assert_eq!(keys(json!({"port": 9999, "bind": "0.0.0.0"})), vec!["port", "bind"], "in the body's order");
        assert_eq!(keys(json!({})), vec!["body"]);
        let err = apply(&current, &changes(json!({"max_attempts": "many"}))).unwrap_err();
        assert!(err[0].message.starts_with("invalid type"), "{err:?}");
        // The same value is no change.
        assert!(apply(&current, &changes(json!({"port": 8000}))).is_ok());
    }
}
