//! MFA routes: `POST /mfa/verify` completes a login that answered "MFA
//! required"; `/mfa/totp/*` enroll, confirm (a session, or the enrollment
//! token of a login that answered "MFA enrollment required") and remove
//! (a session) a TOTP factor.

use actix_web::{HttpRequest, HttpResponse, delete, post, web};
use secrecy::SecretString;
use uap_domain::auth::MAX_PASSWORD_BYTES;

use crate::api::{
    ApiError, EnrollResponse, ErrorShape, FailureResponse, MfaCodeRequest, MfaConfirmRequest, MfaEnrollRequest,
    MfaVerifyRequest, SessionResponse, SuccessResponse,
};
use crate::handlers::authenticate::logged_in;
use crate::handlers::{bearer, client, require_bearer};
use crate::state::AppState;

fn service(state: &AppState) -> Result<(), ApiError> {
    state.runtime().auth.mfa().map(|_| ()).ok_or_else(|| ApiError::NotFound("MFA is not enabled".into()))
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
    let success = state.runtime().auth.complete_mfa(&body.mfa_token, &body.code, &client).await?;
    Ok(logged_in(success))
}

/// Starts TOTP enrollment: a new secret and its `otpauth://` URI (show
/// once). Needs the account's current password, and either a session
/// (Bearer) or the `enrollment_token` of an "MFA enrollment required" login
/// (as the Bearer token or in the body).
#[utoipa::path(
    post,
    path = "/api/v1/auth/mfa/totp/enroll",
    tag = "mfa",
    security(("bearer" = [])),
    request_body = MfaEnrollRequest,
    responses(
        (status = 200, body = EnrollResponse),
        (status = 401, description = "Invalid token or wrong password", body = FailureResponse),
        (status = 409, description = "Already enrolled", body = FailureResponse),
        (status = 422, description = "No password"),
        (status = 429, description = "Too many attempts"),
    )
)]
#[post("/mfa/totp/enroll")]
pub async fn enroll(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Json<MfaEnrollRequest>,
) -> Result<HttpResponse, ApiError> {
    service(&state)?;
    let body = body.into_inner();
    if body.password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::BadRequest(format!("password is longer than {MAX_PASSWORD_BYTES} bytes")));
    }
    let client = client(&request, &state);
    let enroller = state.runtime().auth.enroller(bearer(&request), body.enrollment_token.as_deref(), &client).await?;
    let enrollment = state.runtime().auth.enroll_totp(&enroller, SecretString::from(body.password), &client).await?;
    Ok(HttpResponse::Ok()
        .json(EnrollResponse { secret: enrollment.secret_base32, otpauth_uri: enrollment.otpauth_uri }))
}

/// Activates the enrolled factor with a current code. With an
/// `enrollment_token` this also completes the login: the answer is the
/// session, as `/authenticate`.
#[utoipa::path(
    post,
    path = "/api/v1/auth/mfa/totp/confirm",
    tag = "mfa",
    security(("bearer" = [])),
    request_body = MfaConfirmRequest,
    responses(
        (status = 200, description = "`SuccessResponse`, or `SessionResponse` after an enrollment token", body = SuccessResponse),
        (status = 401, description = "Invalid code or token", body = FailureResponse),
        (status = 429, description = "Too many invalid codes"),
    )
)]
#[post("/mfa/totp/confirm")]
pub async fn confirm(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Json<MfaConfirmRequest>,
) -> Result<HttpResponse, ApiError> {
    service(&state)?;
    let client = client(&request, &state);
    let enroller = state.runtime().auth.enroller(bearer(&request), body.enrollment_token.as_deref(), &client).await?;
    match state.runtime().auth.confirm_totp(enroller, &body.code, &client).await? {
        Some(login) => Ok(logged_in(login)),
        None => Ok(HttpResponse::Ok().json(SuccessResponse { success: true })),
    }
}

/// Removes the factor; needs a session and a current code.
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
    service(&state)?;
    let token = require_bearer(&request, ErrorShape::Success)?;
    state.runtime().auth.disable_totp(token, &body.code, &client(&request, &state)).await?;
    Ok(HttpResponse::Ok().json(SuccessResponse { success: true }))
}
