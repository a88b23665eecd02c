//! `ApiError`: the one mapping from failures to the contract's status codes and
//! bodies. 5xx bodies are generic; the cause goes to the log.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;
use uap_domain::auth::{Dependency, LoginError, MfaFlowError};
use uap_domain::pipeline::{Block, Refusal};
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
    /// 422 `{success: false, message, validation_errors}`: a configuration
    /// change refused, every problem named.
    #[error("{message}")]
    Invalid { message: &'static str, errors: Vec<String> },
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
    /// A failure of the dependency named `what` (the 503 body says which),
    /// logged here once with its kind and cause chain.
    #[must_use]
    pub fn dependency(what: &str, err: &StoreError) -> Self {
        match err {
            StoreError::Unavailable { what: detail, source } => {
                tracing::error!(dependency = what, detail, cause = ?source.as_ref().map(ToString::to_string), "dependency unavailable");
            }
            StoreError::Misconfigured(message) => {
                tracing::error!(dependency = what, %message, "dependency misconfigured");
            }
            StoreError::Backend(source) => {
                tracing::error!(dependency = what, cause = %source, "dependency backend error");
            }
        }
        Self::Unavailable { what: what.to_owned() }
    }

    /// A session failure under the route's body shape.
    #[must_use]
    pub fn session(err: &SessionError, shape: ErrorShape) -> Self {
        match err {
            SessionError::Rejected(rejection) => {
                tracing::debug!(%rejection, "session rejected");
                Self::Unauthorized { shape, message: "Invalid or expired token" }
            }
            SessionError::Store(store) => Self::dependency(Dependency::SessionStore.name(), store),
            SessionError::Directory(store) => Self::dependency(Dependency::HostDirectory.name(), store),
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
            MfaFlowError::RateLimited { retry_after } => Self::Blocked(Block::mfa_rate_limited(retry_after)),
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
            LoginError::Unavailable { dependency, cause } => {
                tracing::error!(dependency = dependency.name(), %cause, "login dependency unavailable");
                Self::Unavailable { what: dependency.name().to_owned() }
            }
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
            Self::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Blocked(Block { refusal: Refusal::Unauthorized, .. }) => StatusCode::UNAUTHORIZED,
            Self::Blocked(Block { refusal: Refusal::Forbidden, .. }) => StatusCode::FORBIDDEN,
            Self::Blocked(Block { refusal: Refusal::RateLimited { .. }, .. }) => StatusCode::TOO_MANY_REQUESTS,
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
        if let Self::Blocked(Block { refusal: Refusal::RateLimited { retry_after: seconds }, .. }) = self {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        let body = match self {
            Self::Blocked(Block { refusal: Refusal::RateLimited { retry_after: seconds }, message, .. }) => {
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
            Self::Invalid { message, errors } => {
                json!({ "success": false, "message": message, "validation_errors": errors })
            }
            Self::Unauthorized { shape: ErrorShape::Valid, .. } => json!({ "valid": false }),
            Self::Unauthorized { shape: ErrorShape::Plain, message } => json!({ "error": message }),
            Self::BadRequest(_)
            | Self::InvalidCredentials
            | Self::Unauthorized { shape: ErrorShape::Success, .. }
            | Self::Forbidden(_)
            | Self::NotFound(_)
            | Self::Conflict(_)
            | Self::Blocked(Block { refusal: Refusal::Unauthorized | Refusal::Forbidden, .. })
            | Self::Unavailable { .. }
            | Self::Overloaded
            | Self::Internal => json!({ "success": false, "error": self.to_string() }),
        };
        response.json(body)
    }
}
