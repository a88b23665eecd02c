//! `middleware_stack` entries: each a table with `name` and `enabled` plus its
//! own keys. Parsed once into the domain's typed specs; every mistake names
//! the entry (`middleware_stack[2] (captcha)`) and the key.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use uap_domain::config::{BUILT_IN_MIDDLEWARE, ConfigError, MiddlewareSpec, RateLimitKeyKind, RateLimitSpec};

/// One raw entry of `middleware_stack`.
#[derive(Clone, Deserialize, Default)]
pub struct MiddlewareEntry {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    #[serde(flatten)]
    pub options: Map<String, Value>,
}

impl serde::Serialize for MiddlewareEntry {
    /// `name`, `enabled` and the options, secret ones as `"***"`.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(Some(self.options.len() + 2))?;
        map.serialize_entry("name", &self.name)?;
        map.serialize_entry("enabled", &self.enabled)?;
        for (key, value) in &self.options {
            if super::redact::is_secret_option(key) && !value.is_null() {
                map.serialize_entry(key, super::redact::REDACTED)?;
            } else {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

impl std::fmt::Debug for MiddlewareEntry {
    /// Option values may be secrets (`secret_key`, `secret`): only keys shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MiddlewareEntry")
            .field("name", &self.name)
            .field("enabled", &self.enabled)
            .field("options", &self.options.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn parse<T: DeserializeOwned>(label: &str, options: &Map<String, Value>) -> Result<T, ConfigError> {
    serde_json::from_value(Value::Object(options.clone())).map_err(|e| ConfigError::new(label, describe_serde(&e)))
}

/// A serde message without the offending value (it may be a secret).
fn describe_serde(err: &serde_json::Error) -> String {
    let text = err.to_string();
    // serde_json appends " at line N column M": irrelevant for config.
    let text = text.split(" at line ").next().unwrap_or(&text).to_owned();
    if text.starts_with("invalid type") || text.starts_with("invalid value") {
        text.split(':').next().unwrap_or("invalid value").to_owned()
    } else {
        text
    }
}

/// The enabled middlewares of `stack` in order, checked. `custom` lists the
/// names an embedding program registered. When `rate_limit_enabled` is true
/// and no `rate_limit` entry is listed, one with the top-level settings comes
/// first.
///
/// # Errors
/// Every mistake, each naming its entry and key.
pub(crate) fn specs(
    stack: &[MiddlewareEntry],
    rate_limit_enabled: bool,
    custom: &BTreeSet<String>,
) -> Result<Vec<MiddlewareSpec>, Vec<ConfigError>> {
    let mut specs = Vec::new();
    let mut errors = Vec::new();
    for (index, entry) in stack.iter().enumerate() {
        let at = format!("middleware_stack[{index}]");
        let Some(name) = entry.name.clone() else {
            errors.push(ConfigError::new(at, "missing `name` (e.g. name = \"rate_limit\")"));
            continue;
        };
        let label = format!("{at} ({name})");
        let Some(enabled) = entry.enabled else {
            errors.push(ConfigError::new(label, "missing `enabled` (true or false)"));
            continue;
        };
        let spec = match name.as_str() {
            "rate_limit" => parse(&label, &entry.options).map(MiddlewareSpec::RateLimit),
            "captcha" => parse(&label, &entry.options).map(MiddlewareSpec::Captcha),
            "ip_rules" => parse(&label, &entry.options).map(MiddlewareSpec::IpRules),
            "mfa" => parse(&label, &entry.options).map(MiddlewareSpec::Mfa),
            "webhook" => parse(&label, &entry.options).map(MiddlewareSpec::Webhook),
            other if custom.contains(other) => {
                Ok(MiddlewareSpec::Custom { name: other.to_owned(), options: entry.options.clone() })
            }
            other => Err(ConfigError::new(
                label.clone(),
                format!(
                    "unknown middleware {other:?} (built in: {}; custom ones must be registered by the embedding program)",
                    BUILT_IN_MIDDLEWARE.join(", ")
                ),
            )),
        };
        match spec.and_then(|spec| check(&label, spec)) {
            Ok(spec) if enabled => specs.push(spec),
            Ok(_) => {}
            Err(err) => errors.push(err),
        }
    }
    let listed = stack.iter().any(|e| e.name.as_deref() == Some("rate_limit"));
    if rate_limit_enabled && !listed {
        specs.insert(
            0,
            MiddlewareSpec::RateLimit(RateLimitSpec {
                max_attempts: None,
                window_seconds: None,
                block_duration: None,
                key: RateLimitKeyKind::IpIdentifier,
            }),
        );
    }
    if errors.is_empty() { Ok(specs) } else { Err(errors) }
}

/// Value rules beyond types.
fn check(label: &str, spec: MiddlewareSpec) -> Result<MiddlewareSpec, ConfigError> {
    let fail = |message: &str| Err(ConfigError::new(label, message));
    match &spec {
        MiddlewareSpec::RateLimit(s) => {
            if s.max_attempts == Some(0) || s.window_seconds == Some(0) || s.block_duration == Some(0) {
                return fail("max_attempts, window_seconds and block_duration must be at least 1");
            }
        }
        MiddlewareSpec::Captcha(s) => {
            if s.threshold.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
                return fail("threshold must be between 0.0 and 1.0");
            }
            if s.verify_url.as_deref().is_some_and(|u| !u.starts_with("http://") && !u.starts_with("https://")) {
                return fail("verify_url must be an http:// or https:// URL");
            }
            if s.timeout_ms == 0 {
                return fail("timeout_ms must be at least 1");
            }
        }
        MiddlewareSpec::Webhook(s) => {
            if !s.url.starts_with("http://") && !s.url.starts_with("https://") {
                return fail("url must be an http:// or https:// URL");
            }
            if s.events.is_empty() {
                return fail("events must list at least one of \"pre\", \"post\", \"failure\"");
            }
            if s.timeout_ms == 0 {
                return fail("timeout_ms must be at least 1");
            }
        }
        MiddlewareSpec::IpRules(_) | MiddlewareSpec::Mfa(_) | MiddlewareSpec::Custom { .. } => {}
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn entry(value: Value) -> MiddlewareEntry {
        serde_json::from_value(value).unwrap()
    }

    fn specs(entries: Vec<Value>) -> Result<Vec<MiddlewareSpec>, Vec<ConfigError>> {
        let stack: Vec<MiddlewareEntry> = entries.into_iter().map(entry).collect();
        super::specs(&stack, true, &BTreeSet::from(["audit_to_siem".to_owned()]))
    }

    #[test]
    fn rate_limit_is_on_by_default() {
        let specs = specs(vec![]).unwrap();
        assert!(matches!(specs.as_slice(), [MiddlewareSpec::RateLimit(_)]));
    }

    #[test]
    fn entries_parse_in_order_and_disabled_ones_are_skipped() {
        let specs = specs(vec![
            json!({"name": "ip_rules", "enabled": true, "deny": ["10.0.0.0/8", "2001:db8::/32"]}),
            json!({"name": "captcha", "enabled": false, "provider": "hcaptcha", "secret_key": "s"}),
            json!({"name": "rate_limit", "enabled": true, "max_attempts": 3, "key": "ip"}),
            json!({"name": "audit_to_siem", "enabled": true, "url": "x"}),
        ])
        .unwrap();
        assert!(matches!(specs[0], MiddlewareSpec::IpRules(_)));
        assert!(
            matches!(&specs[1], MiddlewareSpec::RateLimit(s) if s.max_attempts == Some(3) && s.key == RateLimitKeyKind::Ip)
        );
        assert!(matches!(&specs[2], MiddlewareSpec::Custom { name, .. } if name == "audit_to_siem"));
        assert_eq!(specs.len(), 3);
    }

    #[test]
    fn mistakes_name_the_entry_and_hide_secrets() {
        let errors = specs(vec![
            json!({"enabled": true}),
            json!({"name": "captcha", "provider": "recaptcha", "secret_key": "s"}),
            json!({"name": "captcha", "enabled": true, "provider": "recaptcha", "secret_key": 12345}),
            json!({"name": "webhook", "enabled": true, "url": "ftp://x", "events": ["pre"]}),
            json!({"name": "teleport", "enabled": true}),
            json!({"name": "ip_rules", "enabled": true, "allow": ["not-a-cidr"]}),
            json!({"name": "rate_limit", "enabled": true, "max_atempts": 3}),
        ])
        .unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(text[0].starts_with("middleware_stack[0]: missing `name`"), "{text:?}");
        assert!(text[1].starts_with("middleware_stack[1] (captcha): missing `enabled`"), "{text:?}");
        assert!(text[2].starts_with("middleware_stack[2] (captcha): invalid type"), "{text:?}");
        assert!(!text[2].contains("12345"), "{text:?}");
        assert!(text[3].contains("url must be"), "{text:?}");
        assert!(text[4].contains("unknown middleware \"teleport\""), "{text:?}");
        assert!(text[5].starts_with("middleware_stack[5] (ip_rules)"), "{text:?}");
        assert!(text[6].contains("max_atempts"), "{text:?}");
    }

    #[test]
    fn debug_hides_option_values() {
        let e = entry(json!({"name": "captcha", "enabled": true, "provider": "recaptcha", "secret_key": "hunter2"}));
        assert!(!format!("{e:?}").contains("hunter2"));
    }
}
