//! What a login request carries, and the caps checked before any hashing (a
//! 60 KB password against a costly crypt hash must not become a CPU DoS).

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::LoginError;
use crate::config::AuthType;

pub use crate::password::MAX_PASSWORD_BYTES;
/// The longest identifier accepted, in bytes.
pub const MAX_IDENTIFIER_BYTES: usize = 320;

/// The identifier fields and the password of a login.
#[derive(Debug)]
pub struct Credentials {
    pub username: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub identifier: Option<String>,
    pub password: SecretString,
}

/// A login request as the engine sees it.
#[derive(Debug)]
pub struct LoginRequest {
    pub credentials: Credentials,
    pub device_id: Option<String>,
    pub metadata: Option<Value>,
    pub captcha_token: Option<String>,
    pub mfa_code: Option<String>,
}

impl Credentials {
    /// The identifier this `auth_type` logs in with, checked for presence and
    /// length, and the password checked for length.
    ///
    /// # Errors
    /// [`LoginError::BadRequest`] naming the missing or over-long field.
    pub fn identifier_for(&self, auth_type: AuthType) -> Result<&str, LoginError> {
        let (name, value) = match auth_type {
            AuthType::UsernamePassword => ("username", self.username.as_ref().or(self.identifier.as_ref())),
            AuthType::EmailPassword => {
                ("email", self.email.as_ref().or(self.identifier.as_ref()).or(self.username.as_ref()))
            }
            AuthType::PhonePassword => {
                ("phone", self.phone.as_ref().or(self.identifier.as_ref()).or(self.username.as_ref()))
            }
            AuthType::Custom => (
                "identifier",
                self.identifier.as_ref().or(self.username.as_ref()).or(self.email.as_ref()).or(self.phone.as_ref()),
            ),
        };
        let value = value.map(|v| v.trim()).filter(|v| !v.is_empty());
        let Some(value) = value else {
            return Err(LoginError::BadRequest(format!("{name} is required")));
        };
        if value.len() > MAX_IDENTIFIER_BYTES {
            return Err(LoginError::BadRequest(format!("{name} is longer than {MAX_IDENTIFIER_BYTES} bytes")));
        }
        let password = self.password.expose_secret();
        if password.is_empty() {
            return Err(LoginError::BadRequest("password is required".into()));
        }
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(LoginError::BadRequest(format!("password is longer than {MAX_PASSWORD_BYTES} bytes")));
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(username: Option<&str>, email: Option<&str>, password: &str) -> Credentials {
        Credentials {
            username: username.map(Into::into),
            email: email.map(Into::into),
            phone: None,
            identifier: None,
            password: SecretString::from(password),
        }
    }

    #[test]
    fn picks_the_field_of_the_auth_type() {
        let c = creds(Some("ann"), Some("a@x"), "pw");
        assert_eq!(c.identifier_for(AuthType::UsernamePassword).ok(), Some("ann"));
        assert_eq!(c.identifier_for(AuthType::EmailPassword).ok(), Some("a@x"));
        assert_eq!(c.identifier_for(AuthType::Custom).ok(), Some("ann"));
        assert!(matches!(c.identifier_for(AuthType::PhonePassword), Ok("ann")));
    }

    fn error_of(c: &Credentials) -> String {
        match c.identifier_for(AuthType::UsernamePassword) {
            Err(LoginError::BadRequest(m)) => m,
            other => format!("unexpected: {other:?}"),
        }
    }

    #[test]
    fn missing_and_oversized_fields_are_bad_requests() {
        assert_eq!(error_of(&creds(None, None, "pw")), "username is required");
        assert_eq!(error_of(&creds(Some("ann"), None, "")), "password is required");
        let long = "x".repeat(MAX_PASSWORD_BYTES + 1);
        assert!(error_of(&creds(Some("ann"), None, &long)).starts_with("password is longer"));
        let long = "x".repeat(MAX_IDENTIFIER_BYTES + 1);
        assert!(error_of(&creds(Some(&long), None, "pw")).starts_with("username is longer"));
    }
}
