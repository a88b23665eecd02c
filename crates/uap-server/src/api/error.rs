//! `ApiError`: the one mapping from failures to the contract's status codes and
//! bodies. 5xx bodies are generic; the cause goes to the log.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;
use uap_domain::auth::{LoginError, MfaFlowError};
use uap_domain::pipeline::Block;
use uap_domain::session::SessionError;
use uap_ports::StoreError;

/// Which body family the route answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorShape {
    /// `{success: false, error}`.
    Success,
    /// `{valid: false}` (validate).
    Valid,
    /// `{error}`.
    Plain,
}

/// Every failure an HTTP handler can return.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 with a readable message.
    #[error("{0}")]
    BadRequest(String),
    /// 401 for credentials: one message for unknown user, wrong password and
    /// inactive account.
    #[error("Invalid credentials")]
    InvalidCredentials,
    /// 401 for a missing, garbled, expired or revoked token.
    #[error("{message}")]
    Unauthorized { shape: ErrorShape, message: &'static str },
    /// 403 (e.g. an admin call from outside `admin_ip_allowlist`).
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 409.
    #[error("{0}")]
    Conflict(String),
    /// A middleware refused the login: its status (401/403/429), message and
    /// Retry-After.
    #[error("{}", .0.message)]
    Blocked(Block),
    /// 401 `{success: false, error: "MFA required", mfa_required: true, mfa_token}`.
    #[error("MFA required")]
    MfaRequired { mfa_token: String },
    /// 401 `{success: false, error: "MFA enrollment required",
    /// mfa_enrollment_required: true, enrollment_token}`.
    #[error("MFA enrollment required")]
    MfaEnrollmentRequired { enrollment_token: String },
    /// 503: a dependency failed (logged with its cause).
    #[error("{what} is unavailable")]
    Unavailable { what: String },
    /// 503 with Retry-After: too much work queued.
    #[error("server is busy, retry shortly")]
    Overloaded,
    /// 500: a bug. Logged; the body says nothing more.
    #[error("internal error")]
    Internal,
}

impl ApiError {
    /// A store failure, logged here once with its cause chain.
    #[must_use]
    pub fn store(err: &StoreError) -> Self {
        match err {
            StoreError::Unavailable { what, source } => {
                tracing::error!(dependency = what, cause = ?source.as_ref().map(ToString::to_string), "dependency unavailable");
                Self::Unavailable { what: (*what).to_owned() }
            }
            StoreError::Misconfigured(message) => {
                tracing::error!(%message, "dependency misconfigured");
                Self::Unavailable { what: "a dependency".into() }
            }
            StoreError::Backend(source) => {
                tracing::error!(cause = %source, "storage backend error");
                Self::Unavailable { what: "storage".into() }
            }
        }
    }

    /// A session failure under the route's body shape.
    #[must_use]
    pub fn session(err: &SessionError, shape: ErrorShape) -> Self {
        match err {
            SessionError::Rejected(rejection) => {
                tracing::debug!(%rejection, "session rejected");
                Self::Unauthorized { shape, message: "Invalid or expired token" }
            }
            SessionError::Store(store) => Self::store(store),
            SessionError::Directory(store) => match Self::store(store) {
                Self::Unavailable { what } if what == "storage" => {
                    Self::Unavailable { what: "host user directory".into() }
                }
                other => other,
            },
            SessionError::Signing => {
                tracing::error!("token signing failed");
                Self::Internal
            }
        }
    }
}

impl ApiError {
    /// A failed TOTP enroll, confirm or removal.
    #[must_use]
    pub fn mfa(err: MfaFlowError) -> Self {
        match err {
            MfaFlowError::InvalidCode => Self::Unauthorized { shape: ErrorShape::Success, message: "Invalid code" },
            MfaFlowError::NotEnrolled => {
                Self::Unauthorized { shape: ErrorShape::Success, message: "No TOTP factor enrolled" }
            }
            MfaFlowError::AlreadyEnrolled => Self::Conflict("TOTP is already enrolled; remove it first".into()),
            MfaFlowError::RateLimited { retry_after } => Self::Blocked(Block {
                status: 429,
                message: "Too many invalid codes; try again later".into(),
                retry_after: Some(retry_after),
                reason: "mfa_rate_limited".into(),
            }),
            MfaFlowError::Unavailable(detail) => {
                tracing::error!(%detail, "MFA store unavailable");
                Self::Unavailable { what: "MFA store".into() }
            }
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(err: LoginError) -> Self {
        match err {
            LoginError::BadRequest(message) => Self::BadRequest(message),
            LoginError::InvalidCredentials => Self::InvalidCredentials,
            LoginError::Directory(store) => match Self::store(&store) {
                Self::Unavailable { what } if what == "storage" => {
                    Self::Unavailable { what: "host user directory".into() }
                }
                other => other,
            },
            LoginError::Overloaded => Self::Overloaded,
            LoginError::Session(session) => Self::session(&session, ErrorShape::Success),
            LoginError::Blocked(block) => Self::Blocked(block),
            LoginError::MfaRequired { mfa_token } => Self::MfaRequired { mfa_token },
            LoginError::MfaEnrollmentRequired { enrollment_token } => Self::MfaEnrollmentRequired { enrollment_token },
            LoginError::Mfa(err) => Self::mfa(err),
            LoginError::MfaFailed(message) => Self::Unauthorized { shape: ErrorShape::Success, message },
            LoginError::Middleware(err) => {
                tracing::error!(error = %err, "login pipeline dependency failed");
                Self::Unavailable { what: err.what }
            }
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::InvalidCredentials
            | Self::Unauthorized { .. }
            | Self::MfaRequired { .. }
            | Self::MfaEnrollmentRequired { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Blocked(block) => StatusCode::from_u16(block.status).unwrap_or(StatusCode::FORBIDDEN),
            Self::Unavailable { .. } | Self::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, Self::Overloaded) {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
        }
        if matches!(self, Self::Unauthorized { .. }) {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        if let Self::Blocked(Block { retry_after: Some(seconds), .. }) = self {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        let body = match self {
            Self::Blocked(Block { retry_after: Some(seconds), message, .. }) => {
                json!({ "success": false, "error": message, "retry_after": seconds })
            }
            Self::MfaRequired { mfa_token } => {
                json!({ "success": false, "error": "MFA required", "mfa_required": true, "mfa_token": mfa_token })
            }
            Self::MfaEnrollmentRequired { enrollment_token } => json!({
                "success": false,
                "error": "MFA enrollment required",
                "mfa_enrollment_required": true,
                "enrollment_token": enrollment_token,
            }),
            Self::Unauthorized { shape: ErrorShape::Valid, .. } => json!({ "valid": false }),
            Self::Unauthorized { shape: ErrorShape::Plain, message } => json!({ "error": message }),
            Self::Unavailable { .. } | Self::Overloaded | Self::Internal | Self::NotFound(_) => {
                json!({ "success": false, "error": self.to_string() })
            }
            _ => json!({ "success": false, "error": self.to_string() }),
        };
        response.json(body)
    }
}
