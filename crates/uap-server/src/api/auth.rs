//! Bodies of `/api/v1/auth/*` (CONTRACT §3).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// `POST /authenticate` body. Send the identifier your `auth_type` uses.
#[derive(Deserialize, ToSchema)]
pub struct AuthenticateRequest {
    pub username: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// For `auth_type = "custom"`: matched against each of `identifier_fields`.
    pub identifier: Option<String>,
    pub password: String,
    pub device_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    /// Required when the `captcha` middleware demands it.
    pub captcha_token: Option<String>,
    /// A TOTP code, to complete MFA in one step.
    pub mfa_code: Option<String>,
    /// Shadow mode only: the host application's own verdict on this
    /// attempt, compared with UAP's in the audit trail and the report.
    pub host_decision: Option<bool>,
}

impl std::fmt::Debug for AuthenticateRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthenticateRequest")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("phone", &self.phone)
            .field("identifier", &self.identifier)
            .field("password", &"***")
            .field("device_id", &self.device_id)
            .finish_non_exhaustive()
    }
}

/// A successful login or refresh.
#[derive(Serialize, ToSchema)]
pub struct SessionResponse {
    pub success: bool,
    pub token: String,
    /// The host row minus the password and sensitive fields (login only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub user_data: Option<Arc<Value>>,
    pub expires_at: String,
    pub session_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_expires_at: Option<String>,
}

/// `{success: false, error}` (401/403/429/400…).
#[derive(Serialize, ToSchema)]
pub struct FailureResponse {
    pub success: bool,
    pub error: String,
}

/// Shadow mode's answer, the same for every refusal: `{success: false,
/// shadow: true, would_accept}`.
#[derive(Serialize, ToSchema)]
pub struct ShadowResponse {
    pub success: bool,
    pub shadow: bool,
    /// Whether UAP would have started a session (or asked for a second factor).
    pub would_accept: bool,
}

/// `GET /validate` answer.
#[derive(Serialize, ToSchema)]
pub struct ValidateResponse {
    pub valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub user_data: Option<Arc<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The host user's id (an addition to CONTRACT §3: SDKs need it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// `POST /validate/batch` body.
#[derive(Deserialize, ToSchema)]
pub struct BatchValidateRequest {
    /// At most 1000 tokens.
    pub tokens: Vec<String>,
}

/// `POST /validate/batch` answer, in input order.
#[derive(Serialize, ToSchema)]
pub struct BatchValidateResponse {
    pub results: Vec<ValidateResponse>,
}

/// `POST /refresh` optional body (else the Bearer token is used).
#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: Option<String>,
}

/// `POST /logout` answer.
#[derive(Serialize, ToSchema)]
pub struct LogoutResponse {
    pub success: bool,
    pub message: String,
}

/// `POST /logout-all` answer.
#[derive(Serialize, ToSchema)]
pub struct LogoutAllResponse {
    pub success: bool,
    pub ended: u64,
}

/// One session of `GET /sessions`.
#[derive(Serialize, ToSchema)]
pub struct SessionInfo {
    pub session_id: String,
    pub device_id: Option<String>,
    pub created_at: String,
    pub last_activity: String,
    pub expires_at: String,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub current: bool,
}

/// `GET /sessions` answer.
#[derive(Serialize, ToSchema)]
pub struct SessionsResponse {
    pub sessions: Vec<SessionInfo>,
}

/// `GET /api/v1/config/health` answer.
#[derive(Serialize, ToSchema)]
pub struct HealthResponse {
    pub status: &'static str,
    /// Component name → "healthy" | "unhealthy".
    #[schema(value_type = Object)]
    pub components: Value,
    pub timestamp: String,
}

/// `401` when a second factor is due.
#[derive(Serialize, ToSchema)]
pub struct MfaRequiredResponse {
    pub success: bool,
    /// "MFA required".
    pub error: String,
    pub mfa_required: bool,
    /// Short-lived, single-use: send it with a code to `POST /mfa/verify`.
    pub mfa_token: String,
}

/// `401` for a user of `mfa.required_roles` without a factor: no session.
#[derive(Serialize, ToSchema)]
pub struct MfaEnrollmentRequiredResponse {
    pub success: bool,
    /// "MFA enrollment required".
    pub error: String,
    pub mfa_enrollment_required: bool,
    /// Opens only `POST /mfa/totp/enroll` and `POST /mfa/totp/confirm` (as the
    /// Bearer token or the body's `enrollment_token`); 10 minutes, and
    /// spent by the confirm that completes the login.
    pub enrollment_token: String,
}

/// `429` when rate-limited (with a `Retry-After` header).
#[derive(Serialize, ToSchema)]
pub struct RateLimitedResponse {
    pub success: bool,
    pub error: String,
    /// Seconds until the next attempt may succeed.
    pub retry_after: u64,
}

/// `POST /mfa/verify` body.
#[derive(Deserialize, ToSchema)]
pub struct MfaVerifyRequest {
    pub mfa_token: String,
    pub code: String,
}

/// `POST /mfa/totp/enroll` body.
#[derive(Deserialize, ToSchema)]
pub struct MfaEnrollRequest {
    /// The account's current password.
    pub password: String,
    /// The `enrollment_token` of an "MFA enrollment required" login, when
    /// not sent as the Bearer token.
    pub enrollment_token: Option<String>,
}

/// `POST /mfa/totp/confirm` body.
#[derive(Deserialize, ToSchema)]
pub struct MfaConfirmRequest {
    pub code: String,
    /// The `enrollment_token` of an "MFA enrollment required" login, when
    /// not sent as the Bearer token.
    pub enrollment_token: Option<String>,
}

/// A TOTP code (`DELETE`).
#[derive(Deserialize, ToSchema)]
pub struct MfaCodeRequest {
    pub code: String,
}

/// `POST /mfa/totp/enroll` answer: show once, as a QR code of `otpauth_uri`.
#[derive(Serialize, ToSchema)]
pub struct EnrollResponse {
    /// Base32, for manual entry.
    pub secret: String,
    pub otpauth_uri: String,
}

/// `{success: true}`.
#[derive(Serialize, ToSchema)]
pub struct SuccessResponse {
    pub success: bool,
}
