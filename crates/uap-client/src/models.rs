//! Typed requests and answers of the routes of CONTRACT §3.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// `POST /api/v1/auth/authenticate`: one identifier field, the password and
/// the optional extras. Build it with [`AuthenticateRequest::username`],
/// [`AuthenticateRequest::email`], [`AuthenticateRequest::phone`] or
/// [`AuthenticateRequest::identifier`], then the `with_*` methods.
#[derive(Debug, Clone, Serialize)]
pub struct AuthenticateRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    identifier: Option<String>,
    #[serde(serialize_with = "expose")]
    password: SecretString,
    #[serde(skip_serializing_if = "Option::is_none")]
    device_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "expose_opt")]
    captcha_token: Option<SecretString>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "expose_opt")]
    mfa_code: Option<SecretString>,
}

fn expose<S: Serializer>(secret: &SecretString, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.expose_secret())
}

#[expect(clippy::ref_option, reason = "serde's serialize_with passes &Option<T>")]
fn expose_opt<S: Serializer>(secret: &Option<SecretString>, serializer: S) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => serializer.serialize_str(secret.expose_secret()),
        None => serializer.serialize_none(),
    }
}

impl AuthenticateRequest {
    fn with_password(password: impl Into<SecretString>) -> Self {
        Self {
            username: None,
            email: None,
            phone: None,
            identifier: None,
            password: password.into(),
            device_id: None,
            metadata: None,
            captcha_token: None,
            mfa_code: None,
        }
    }

    /// Log in by `username` (`auth_type = "username_password"`).
    pub fn username(username: impl Into<String>, password: impl Into<SecretString>) -> Self {
        Self { username: Some(username.into()), ..Self::with_password(password) }
    }

    /// Log in by `email` (`auth_type = "email_password"`).
    pub fn email(email: impl Into<String>, password: impl Into<SecretString>) -> Self {
        Self { email: Some(email.into()), ..Self::with_password(password) }
    }

    /// Log in by `phone` (`auth_type = "phone_password"`).
    pub fn phone(phone: impl Into<String>, password: impl Into<SecretString>) -> Self {
        Self { phone: Some(phone.into()), ..Self::with_password(password) }
    }

    /// Log in by `identifier` (`auth_type = "custom"`: matched against each of
    /// `identifier_fields`).
    pub fn identifier(identifier: impl Into<String>, password: impl Into<SecretString>) -> Self {
        Self { identifier: Some(identifier.into()), ..Self::with_password(password) }
    }

    /// The device the session is for (single-device policy, `GET /sessions`).
    #[must_use]
    pub fn with_device_id(mut self, device_id: impl Into<String>) -> Self {
        self.device_id = Some(device_id.into());
        self
    }

    /// Free-form metadata, audited with the attempt.
    #[must_use]
    pub fn with_metadata(mut self, metadata: Value) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// The CAPTCHA provider's token, when the `captcha` middleware asks for one.
    #[must_use]
    pub fn with_captcha_token(mut self, token: impl Into<SecretString>) -> Self {
        self.captcha_token = Some(token.into());
        self
    }

    /// A TOTP code, to complete MFA in one step.
    #[must_use]
    pub fn with_mfa_code(mut self, code: impl Into<SecretString>) -> Self {
        self.mfa_code = Some(code.into());
        self
    }
}

/// A session issued by `/authenticate`, `/mfa/verify`, `/refresh` or a TOTP
/// confirm after an enrollment token. `user_data` only comes with a login.
#[derive(Debug, Clone, Deserialize)]
pub struct Session {
    /// The bearer token (a JWT).
    pub token: SecretString,
    /// The session's id.
    #[serde(default)]
    pub session_id: String,
    /// When the session ends.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The host row minus password and sensitive fields (login only).
    #[serde(default)]
    pub user_data: Option<Map<String, Value>>,
    /// The refresh token, when `refresh_tokens` is on.
    #[serde(default)]
    pub refresh_token: Option<SecretString>,
    /// When the refresh token stops working.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub refresh_expires_at: Option<OffsetDateTime>,
}

impl Session {
    /// The user's roles in `user_data` (see [`roles_of`]).
    #[must_use]
    pub fn roles(&self) -> Vec<String> {
        self.user_data.as_ref().map(roles_of).unwrap_or_default()
    }
}

/// The user behind a valid token, as `GET /validate` describes them.
#[derive(Clone, PartialEq)]
pub struct AuthenticatedUser {
    /// The host user's id.
    pub user_id: String,
    /// The session the token belongs to.
    pub session_id: String,
    /// The host row minus password and sensitive fields (plus `roles`).
    pub user_data: Map<String, Value>,
    /// The user's roles (see [`roles_of`]).
    pub roles: Vec<String>,
    /// When the session ends.
    pub expires_at: Option<OffsetDateTime>,
}

impl fmt::Debug for AuthenticatedUser {
    // user_data is the host's row: it may hold personal data, keep it out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthenticatedUser")
            .field("user_id", &self.user_id)
            .field("session_id", &self.session_id)
            .field("roles", &self.roles)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl AuthenticatedUser {
    /// Whether the user holds `role`.
    #[must_use]
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|held| held == role)
    }

    /// Whether the user holds any of `roles`.
    #[must_use]
    pub fn has_any_role<S: AsRef<str>>(&self, roles: &[S]) -> bool {
        roles.iter().any(|role| self.has_role(role.as_ref()))
    }

    /// The user of a `{valid: true, user_data, expires_at, session_id, user_id?}`
    /// body for `token`, or `None` when the body does not say valid.
    pub(crate) fn from_validation(body: &Value, token: &str) -> Option<Self> {
        if body.get("valid") != Some(&Value::Bool(true)) {
            return None;
        }
        let user_data = match body.get("user_data") {
            Some(Value::Object(map)) => map.clone(),
            _ => Map::new(),
        };
        let user_id = string_of(body.get("user_id"))
            .or_else(|| string_of(claims_of(token).get("user_id")))
            .or_else(|| string_of(user_data.get("id")))
            .unwrap_or_default();
        let expires_at = body.get("expires_at").and_then(Value::as_str).and_then(parse_time);
        Some(Self {
            user_id,
            session_id: string_of(body.get("session_id")).unwrap_or_default(),
            roles: roles_of(&user_data),
            user_data,
            expires_at,
        })
    }
}

fn string_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// The unverified claims of a JWT (read only from a token UAP just called valid).
pub(crate) fn claims_of(token: &str) -> Map<String, Value> {
    token
        .split('.')
        .nth(1)
        .and_then(|payload| URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok())
        .and_then(|bytes| serde_json::from_slice::<Map<String, Value>>(&bytes).ok())
        .unwrap_or_default()
}

/// An RFC 3339 timestamp.
pub(crate) fn parse_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

/// The user's roles: `user_data["roles"]` (a list, from a role table or the
/// host API) or else `user_data["role"]` (a single role column).
#[must_use]
pub fn roles_of(user_data: &Map<String, Value>) -> Vec<String> {
    if let Some(Value::Array(roles)) = user_data.get("roles") {
        return roles
            .iter()
            .filter_map(|role| match role {
                Value::String(text) => Some(text.clone()),
                Value::Null => None,
                other => Some(other.to_string()),
            })
            .collect();
    }
    match user_data.get("role") {
        Some(Value::String(role)) if !role.is_empty() => vec![role.clone()],
        _ => Vec::new(),
    }
}

/// One entry of `GET /sessions`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct SessionInfo {
    /// The session's id.
    pub session_id: String,
    /// The device it was opened for.
    pub device_id: Option<String>,
    /// When it was opened.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Its last recorded activity.
    #[serde(with = "time::serde::rfc3339")]
    pub last_activity: OffsetDateTime,
    /// When it ends.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The client address at login.
    pub ip_address: Option<String>,
    /// The client's user agent at login.
    pub user_agent: Option<String>,
    /// Whether this is the session of the token that asked.
    #[serde(default)]
    pub current: bool,
}

/// `GET /api/v1/config/health`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Health {
    /// `healthy` or `unhealthy`.
    pub status: String,
    /// Component name → `healthy` | `unhealthy`.
    #[serde(default)]
    pub components: Map<String, Value>,
    /// When UAP checked.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub timestamp: Option<OffsetDateTime>,
}

impl Health {
    /// Whether every component is up.
    #[must_use]
    pub fn is_healthy(&self) -> bool {
        self.status == "healthy"
    }
}

/// `POST /mfa/totp/enroll`: show once, as a QR code of `otpauth_uri`.
#[derive(Debug, Clone, Deserialize)]
pub struct TotpEnrollment {
    /// Base32, for manual entry.
    pub secret: SecretString,
    /// `otpauth://` URI (it holds the secret).
    pub otpauth_uri: SecretString,
}
