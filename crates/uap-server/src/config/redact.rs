//! Secrets as the admin API shows them: `"***"` when set, `null` when not.
//! A `middleware_stack` option is a secret when its key says so
//! ([`is_secret_option`]).

use secrecy::SecretString;
use serde::Serializer;

/// What a set secret is shown as.
pub const REDACTED: &str = "***";

/// A secret that is always set.
pub fn always<S: Serializer>(_: &SecretString, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(REDACTED)
}

/// A secret that may be unset.
#[expect(clippy::ref_option, reason = "the signature serde's serialize_with calls")]
pub fn optional<S: Serializer>(value: &Option<SecretString>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(_) => serializer.serialize_str(REDACTED),
        None => serializer.serialize_none(),
    }
}

/// Whether a middleware option holds a secret: `secret`, `secret_key`,
/// `*_secret`, `*_password`, `*_token`, `api_key`, `*_api_key`.
#[must_use]
pub fn is_secret_option(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.contains("secret") || key.contains("password") || key.ends_with("token") || key.ends_with("api_key")
}
