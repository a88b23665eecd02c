//! The typed `middleware_stack` entries (CONTRACT §4): each built-in
//! middleware's keys, as the server parses and checks them once.

use ipnet::IpNet;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Map, Value};

/// `rate_limit` `key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitKeyKind {
    #[default]
    IpIdentifier,
    Ip,
    Identifier,
}

/// `captcha` `provider`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptchaProviderKind {
    Recaptcha,
    Hcaptcha,
    Turnstile,
}

/// `webhook` `events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookEvent {
    Pre,
    Post,
    Failure,
}

/// `rate_limit` keys (defaults from the top-level settings).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    pub max_attempts: Option<u32>,
    pub window_seconds: Option<u64>,
    pub block_duration: Option<u64>,
    #[serde(default)]
    pub key: RateLimitKeyKind,
}

/// `captcha` keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptchaSpec {
    pub provider: CaptchaProviderKind,
    pub secret_key: SecretString,
    pub threshold: Option<f64>,
    pub verify_url: Option<String>,
    #[serde(default)]
    pub after_failures: u32,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default)]
    pub key: RateLimitKeyKind,
}

/// `ip_rules` keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpRulesSpec {
    #[serde(default)]
    pub allow: Vec<IpNet>,
    #[serde(default)]
    pub deny: Vec<IpNet>,
}

/// `mfa` keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfaSpec {
    #[serde(default)]
    pub required_roles: Vec<String>,
    pub issuer: Option<String>,
}

/// `webhook` keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSpec {
    pub url: String,
    pub events: Vec<WebhookEvent>,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default)]
    pub fail_open: bool,
    pub secret: Option<SecretString>,
}

fn default_timeout_ms() -> u64 {
    3000
}

/// A validated, enabled entry.
#[derive(Debug, Clone)]
pub enum MiddlewareSpec {
    RateLimit(RateLimitSpec),
    Captcha(CaptchaSpec),
    IpRules(IpRulesSpec),
    Mfa(MfaSpec),
    Webhook(WebhookSpec),
    /// A middleware registered by an embedding program, with its raw keys.
    Custom {
        name: String,
        options: Map<String, Value>,
    },
}

/// The built-in names.
pub const BUILT_IN: &[&str] = &["rate_limit", "captcha", "ip_rules", "mfa", "webhook"];
