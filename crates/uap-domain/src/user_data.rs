//! What of a host row may leave UAP as `user_data`: never the password column,
//! never a configured sensitive field, never a column whose name says it holds a
//! secret (secure by default), and only the allow-list when one is set.

use serde_json::{Map, Value};

/// Column names that hold secrets in common frameworks, matched exactly
/// (case-insensitively).
const SECRET_NAMES: &[&str] = &[
    "remember_token",
    "reset_password_token",
    "confirmation_token",
    "unlock_token",
    "user_activation_key", // WordPress
    "user_newpasswd",      // phpBB
    "user_actkey",         // phpBB
    "auth_key",            // Yii2
    "otp_secret",
    "api_key",
    "api_token",
    "private_key",
    "secret",
    "token",
    "salt",
    "password_salt",
    "password_hash",
    "encrypted_password",
    "hashed_password",
    "passwd",
    "pass",
];

/// Name prefixes of secret-bearing columns (`otp_backup_codes`, `encrypted_ssn`).
const SECRET_PREFIXES: &[&str] = &["encrypted_", "otp_"];

/// Name suffixes of secret-bearing columns: tokens and secrets of any kind
/// (`two_factor_secret`), Rails digests (`remember_digest`,
/// `activation_digest`), recovery codes (`two_factor_recovery_codes`), salts
/// and other passwords.
const SECRET_SUFFIXES: &[&str] = &["_token", "_secret", "_password", "_digest", "_codes", "_salt", "_private_key"];

/// Whether a column name looks secret-bearing: a known name, or one of
/// [`SECRET_PREFIXES`] / [`SECRET_SUFFIXES`]. Case-insensitive.
#[must_use]
pub fn looks_secret(column: &str) -> bool {
    let name = column.to_ascii_lowercase();
    SECRET_NAMES.contains(&name.as_str())
        || SECRET_PREFIXES.iter().any(|prefix| name.starts_with(prefix))
        || SECRET_SUFFIXES.iter().any(|suffix| name.ends_with(suffix))
}

/// Filters host attributes down to what may be returned to clients.
#[derive(Debug, Clone)]
pub struct UserDataFilter {
    password_field: String,
    sensitive: Vec<String>,
    allow: Option<Vec<String>>,
}

impl UserDataFilter {
    /// The filter configured by `password_field`, `sensitive_fields` and
    /// `user_data_fields` (`None`: every column that remains).
    #[must_use]
    pub fn new(password_field: impl Into<String>, sensitive: Vec<String>, allow: Option<Vec<String>>) -> Self {
        Self { password_field: password_field.into(), sensitive, allow }
    }

    /// Whether `column` may be returned.
    #[must_use]
    pub fn allows(&self, column: &str) -> bool {
        if column.eq_ignore_ascii_case(&self.password_field)
            || self.sensitive.iter().any(|s| s.eq_ignore_ascii_case(column))
        {
            return false;
        }
        match &self.allow {
            Some(allow) => allow.iter().any(|a| a == column),
            None => !looks_secret(column),
        }
    }

    /// The `user_data` object: allowed attributes, the id under `id`, and
    /// `roles` when the user has any.
    #[must_use]
    pub fn apply(&self, id_field: &str, id: &str, attributes: &Map<String, Value>, roles: &[String]) -> Value {
        let mut out: Map<String, Value> = attributes
            .iter()
            .filter(|(column, _)| self.allows(column))
            .map(|(column, value)| (column.clone(), value.clone()))
            .collect();
        if !out.contains_key(id_field) {
            out.insert(id_field.to_owned(), Value::String(id.to_owned()));
        }
        if !roles.is_empty() {
            out.insert("roles".into(), Value::from(roles.to_vec()));
        }
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn attrs() -> Map<String, Value> {
        let Value::Object(map) = json!({
            "id": 7, "username": "ann", "email": "a@x", "remember_token": "t",
            "api_key": "k", "totp_secret": "s", "encrypted_ssn": "e", "old_password": "o",
            "ssn": "123", "salt": "x"
        }) else {
            unreachable!()
        };
        map
    }

    #[test]
    fn secure_by_default() {
        let filter = UserDataFilter::new("password", vec!["ssn".into()], None);
        let data = filter.apply("id", "7", &attrs(), &[]);
        assert_eq!(data, json!({"id": 7, "username": "ann", "email": "a@x"}));
    }

    #[test]
    fn common_framework_secret_columns_are_never_returned() {
        for column in [
            "auth_key",
            "remember_digest",
            "activation_digest",
            "reset_digest",
            "two_factor_secret",
            "two_factor_recovery_codes",
            "backup_codes",
            "otp_backup_codes",
            "OTP_required_for_login",
            "user_salt",
            "user_actkey",
            "secret",
            "token",
            "private_key",
            "ssh_private_key",
            "api_token",
        ] {
            assert!(looks_secret(column), "{column} should look secret");
        }
        for column in ["username", "email", "display_name", "role", "token_count_hint", "postcode"] {
            assert!(!looks_secret(column), "{column} should not look secret");
        }
    }

    #[test]
    fn allow_list_wins_but_never_password_or_sensitive() {
        let filter = UserDataFilter::new(
            "password",
            Vec::new(),
            Some(vec!["username".into(), "api_key".into(), "password".into()]),
        );
        let mut attributes = attrs();
        attributes.insert("password".into(), json!("hash"));
        let data = filter.apply("id", "7", &attributes, &["admin".into()]);
        assert_eq!(data, json!({"id": "7", "username": "ann", "api_key": "k", "roles": ["admin"]}));
    }
}
