//! `POST /api/v1/auth/authenticate`.

use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, ResponseError, post, web};
use secrecy::SecretString;
use uap_domain::auth::{Credentials, LoginRequest, LoginSuccess};

use crate::api::{
    ApiError, AuthenticateRequest, FailureResponse, RateLimitedResponse, SessionResponse, ShadowResponse, rfc3339,
};
use crate::config::Mode;
use crate::handlers::client;
use crate::state::AppState;

/// The longest `device_id` accepted.
const MAX_DEVICE_ID: usize = 255;

/// Logs a user in against the host user store.
#[utoipa::path(
    post,
    path = "/api/v1/auth/authenticate",
    tag = "auth",
    request_body = AuthenticateRequest,
    responses(
        (status = 200, description = "Logged in; in shadow mode (`mode = \"shadow\"`) every judged attempt gets `ShadowResponse`", body = SessionResponse),
        (status = 400, description = "Missing or over-long field", body = FailureResponse),
        (status = 401, description = "Invalid credentials (unknown user, wrong password or inactive account alike), `MfaRequiredResponse` when a second factor is due, or `MfaEnrollmentRequiredResponse` for a user of `mfa.required_roles` without one", body = FailureResponse),
        (status = 403, description = "Blocked by a middleware (CAPTCHA, IP rule, webhook)", body = FailureResponse),
        (status = 429, description = "Rate-limited; `Retry-After` header", body = RateLimitedResponse),
        (status = 503, description = "Host data source unavailable or overloaded", body = FailureResponse),
    )
)]
#[post("/authenticate")]
pub async fn authenticate(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Json<AuthenticateRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if body.device_id.as_ref().is_some_and(|d| d.len() > MAX_DEVICE_ID) {
        return Err(ApiError::BadRequest(format!("device_id is longer than {MAX_DEVICE_ID} bytes")));
    }
    let client = client(&request, &state);
    let login = LoginRequest {
        credentials: Credentials {
            username: body.username,
            email: body.email,
            phone: body.phone,
            identifier: body.identifier,
            password: SecretString::from(body.password),
        },
        device_id: body.device_id,
        metadata: body.metadata,
        captcha_token: body.captcha_token,
        mfa_code: body.mfa_code,
    };
    let started = Instant::now();
    let runtime = state.runtime();
    if runtime.settings.mode == Mode::Shadow {
        let verdict = runtime.auth.judge(login, body.host_decision, &client).await.map_err(ApiError::from);
        let status = verdict.as_ref().map_or_else(|e| e.status_code().as_u16(), |_| 200);
        state.metrics.record("shadow", status, started.elapsed().as_secs_f64());
        let verdict = verdict?;
        return Ok(HttpResponse::Ok().json(ShadowResponse {
            success: false,
            shadow: true,
            would_accept: verdict.would_accept,
        }));
    }
    let result = runtime.auth.authenticate(login, &client).await.map_err(ApiError::from);
    let status = result.as_ref().map_or_else(|e| e.status_code().as_u16(), |_| 200);
    state.metrics.record("password", status, started.elapsed().as_secs_f64());
    Ok(logged_in(result?))
}

/// The 200 body of a completed login.
pub(crate) fn logged_in(success: LoginSuccess) -> HttpResponse {
    let session = success.session;
    let mut response = HttpResponse::Ok().json(SessionResponse {
        success: true,
        token: session.token,
        user_data: Some(session.user_data),
        expires_at: rfc3339(session.expires_at),
        session_id: session.session_id,
        refresh_token: session.refresh_token,
        refresh_expires_at: session.refresh_expires_at.map(rfc3339),
    });
    response.extensions_mut().insert(crate::http::LoggedUser(success.user_id));
    response
}
