//! MFA routes: `POST /mfa/verify` completes a login that answered "MFA
//! required"; `/mfa/totp/*` (Bearer) enroll, confirm and remove a TOTP factor.

use actix_web::{HttpRequest, HttpResponse, delete, post, web};
use uap_domain::auth::{MfaFlowError, MfaService};
use uap_domain::pipeline::Block;
use uap_domain::session::ValidSession;

use crate::api::{
    ApiError, EnrollResponse, ErrorShape, FailureResponse, MfaCodeRequest, MfaVerifyRequest, SessionResponse,
    SuccessResponse,
};
use crate::handlers::authenticate::logged_in;
use crate::handlers::{client, require_bearer};
use crate::state::AppState;

fn service(state: &AppState) -> Result<&MfaService, ApiError> {
    state.auth.mfa().map(AsRef::as_ref).ok_or_else(|| ApiError::NotFound("MFA is not enabled".into()))
}

fn flow_error(err: MfaFlowError) -> ApiError {
    match err {
        MfaFlowError::InvalidCode => ApiError::Unauthorized { shape: ErrorShape::Success, message: "Invalid code" },
        MfaFlowError::NotEnrolled => {
            ApiError::Unauthorized { shape: ErrorShape::Success, message: "No TOTP factor enrolled" }
        }
        MfaFlowError::AlreadyEnrolled => ApiError::Conflict("TOTP is already enrolled; remove it first".into()),
        MfaFlowError::RateLimited { retry_after } => ApiError::Blocked(Block {
            status: 429,
            message: "Too many invalid codes; try again later".into(),
            retry_after: Some(retry_after),
            reason: "mfa_rate_limited".into(),
        }),
        MfaFlowError::Unavailable(detail) => {
            tracing::error!(%detail, "MFA store unavailable");
            ApiError::Unavailable { what: "MFA store".into() }
        }
    }
}

async fn session(state: &AppState, request: &HttpRequest) -> Result<ValidSession, ApiError> {
    let token = require_bearer(request, ErrorShape::Success)?;
    state
        .auth
        .sessions()
        .validate(token, &client(request, state))
        .await
        .map_err(|err| ApiError::session(&err, ErrorShape::Success))
}

/// Completes a login with the `mfa_token` of the "MFA required" answer and a
/// TOTP code. The token is single-use and lives 5 minutes.
#[utoipa::path(
    post,
    path = "/api/v1/auth/mfa/verify",
    tag = "mfa",
    request_body = MfaVerifyRequest,
    responses(
        (status = 200, description = "Logged in", body = SessionResponse),
        (status = 401, description = "Invalid code or token", body = FailureResponse),
        (status = 429, description = "Too many invalid codes"),
    )
)]
#[post("/mfa/verify")]
pub async fn verify(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Json<MfaVerifyRequest>,
) -> Result<HttpResponse, ApiError> {
    let client = client(&request, &state);
    let success = state.auth.complete_mfa(&body.mfa_token, &body.code, &client).await?;
    Ok(logged_in(success))
}

/// Starts TOTP enrollment: a new secret and its `otpauth://` URI (show once).
#[utoipa::path(
    post,
    path = "/api/v1/auth/mfa/totp/enroll",
    tag = "mfa",
    security(("bearer" = [])),
    responses(
        (status = 200, body = EnrollResponse),
        (status = 401, description = "Invalid token", body = FailureResponse),
        (status = 409, description = "Already enrolled", body = FailureResponse),
    )
)]
#[post("/mfa/totp/enroll")]
pub async fn enroll(state: web::Data<AppState>, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let mfa = service(&state)?;
    let session = session(&state, &request).await?;
    let record = &session.record;
    let account = ["email", "username"]
        .iter()
        .find_map(|field| record.user_data.get(*field).and_then(|v| v.as_str()))
        .unwrap_or(&record.user_id)
        .to_owned();
    let enrollment = mfa.enroll(&record.user_id, &account).await.map_err(flow_error)?;
    Ok(HttpResponse::Ok()
        .json(EnrollResponse { secret: enrollment.secret_base32, otpauth_uri: enrollment.otpauth_uri }))
}

/// Activates the enrolled factor with a current code.
#[utoipa::path(
    post,
    path = "/api/v1/auth/mfa/totp/confirm",
    tag = "mfa",
    security(("bearer" = [])),
    request_body = MfaCodeRequest,
    responses((status = 200, body = SuccessResponse), (status = 401, description = "Invalid code or token", body = FailureResponse))
)]
#[post("/mfa/totp/confirm")]
pub async fn confirm(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Json<MfaCodeRequest>,
) -> Result<HttpResponse, ApiError> {
    let mfa = service(&state)?;
    let session = session(&state, &request).await?;
    mfa.confirm(&session.record.user_id, &body.code).await.map_err(flow_error)?;
    Ok(HttpResponse::Ok().json(SuccessResponse { success: true }))
}

/// Removes the factor; needs a current code.
#[utoipa::path(
    delete,
    path = "/api/v1/auth/mfa/totp",
    tag = "mfa",
    security(("bearer" = [])),
    request_body = MfaCodeRequest,
    responses((status = 200, body = SuccessResponse), (status = 401, description = "Invalid code or token", body = FailureResponse))
)]
#[delete("/mfa/totp")]
pub async fn remove(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Json<MfaCodeRequest>,
) -> Result<HttpResponse, ApiError> {
    let mfa = service(&state)?;
    let session = session(&state, &request).await?;
    mfa.remove(&session.record.user_id, &body.code).await.map_err(flow_error)?;
    Ok(HttpResponse::Ok().json(SuccessResponse { success: true }))
}
