//! The configuration values the rules use, in their typed form: the login
//! identifier kind, the JWT algorithm, the middleware specs, and the error
//! that names a configuration key. The wire shape of CONTRACT §2 (every key,
//! its default, loading and validation) is the server's: it parses it once
//! into these types and the policies of `auth`, `session`, `password` and
//! `user_data`.

mod middleware;

use serde::{Deserialize, Serialize};

pub use middleware::{
    BUILT_IN as BUILT_IN_MIDDLEWARE, CaptchaProviderKind, CaptchaSpec, IpRulesSpec, MfaSpec, MiddlewareSpec,
    RateLimitKeyKind, RateLimitSpec, WebhookEvent, WebhookSpec,
};

/// One configuration mistake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    /// The configuration key at fault.
    pub key: String,
    /// What is wrong with it, and what would be right.
    pub message: String,
}

impl ConfigError {
    /// A mistake of `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self { key: key.into(), message: message.into() }
    }
}

/// `auth_type`: which identifier a login carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AuthType {
    #[default]
    UsernamePassword,
    EmailPassword,
    PhonePassword,
    Custom,
}

/// `jwt_algorithm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
pub enum JwtAlgorithm {
    #[default]
    HS256,
    HS384,
    HS512,
    RS256,
    ES256,
    EdDSA,
}

impl JwtAlgorithm {
    /// The JOSE `alg` name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
        }
    }

    /// Whether the algorithm signs with a shared secret.
    #[must_use]
    pub const fn is_symmetric(self) -> bool {
        matches!(self, Self::HS256 | Self::HS384 | Self::HS512)
    }
}
