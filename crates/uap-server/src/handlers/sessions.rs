//! `POST /refresh`, `POST /logout`, `POST /logout-all`, `GET /sessions`.

use actix_web::{HttpRequest, HttpResponse, get, post, web};

use crate::api::{
    ApiError, ErrorShape, FailureResponse, LogoutAllResponse, LogoutResponse, RefreshRequest, SessionInfo,
    SessionResponse, SessionsResponse, rfc3339,
};
use crate::handlers::{client, require_bearer};
use crate::state::AppState;

/// Refreshes the session after re-reading the host user. With a refresh
/// token: rotation (new access and refresh tokens; the old ones stop
/// working, a parallel tab within the grace gets the same successor). With
/// the Bearer access token: a new access token only, the old one refused at
/// once; the refresh token stays as it is.
#[utoipa::path(
    post,
    path = "/api/v1/auth/refresh",
    tag = "auth",
    security(("bearer" = [])),
    request_body(content = Option<RefreshRequest>, description = "Optional: `{refresh_token}`; without it the Bearer token is used"),
    responses(
        (status = 200, description = "New tokens", body = SessionResponse),
        (status = 401, description = "Invalid, expired, spent or reused token; the chain ended (host user gone, disabled or password changed; refresh_chain_max_seconds)", body = FailureResponse),
        (status = 503, description = "The host user directory is unreachable (nothing ended; retry)", body = FailureResponse),
    )
)]
#[post("/refresh")]
pub async fn refresh(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let refresh_token = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let parsed: RefreshRequest =
            serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?;
        parsed.refresh_token
    };
    let client = client(&request, &state);
    let issued = match refresh_token {
        Some(refresh_token) => state.runtime().auth.refresh_with_refresh_token(&refresh_token, &client).await,
        None => {
            let token = require_bearer(&request, ErrorShape::Success)?;
            state.runtime().auth.refresh_with_token(token, &client).await
        }
    }
    .map_err(|err| ApiError::session(&err, ErrorShape::Success))?;
    Ok(HttpResponse::Ok().json(SessionResponse {
        success: true,
        token: issued.token,
        user_data: None,
        expires_at: rfc3339(issued.expires_at),
        session_id: issued.session_id,
        refresh_token: issued.refresh_token,
        refresh_expires_at: issued.refresh_expires_at.map(rfc3339),
    }))
}

/// Ends the Bearer token's session.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`success: true` when a session ended; `success: false, message: \"Session not found\"` when it was already gone", body = LogoutResponse),
        (status = 401, description = "Missing or garbled token", body = FailureResponse),
    )
)]
#[post("/logout")]
pub async fn logout(state: web::Data<AppState>, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let token = require_bearer(&request, ErrorShape::Success)?;
    let client = client(&request, &state);
    let ended = state
        .runtime()
        .auth
        .sessions()
        .logout(token, &client)
        .await
        .map_err(|err| ApiError::session(&err, ErrorShape::Success))?;
    let (success, message) = if ended { (true, "Logged out successfully") } else { (false, "Session not found") };
    Ok(HttpResponse::Ok().json(LogoutResponse { success, message: message.into() }))
}

/// Ends every session of the Bearer token's user.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout-all",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Sessions ended", body = LogoutAllResponse),
        (status = 401, description = "Invalid token", body = FailureResponse),
    )
)]
#[post("/logout-all")]
pub async fn logout_all(state: web::Data<AppState>, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let token = require_bearer(&request, ErrorShape::Success)?;
    let client = client(&request, &state);
    let ended = state
        .runtime()
        .auth
        .sessions()
        .logout_all(token, &client)
        .await
        .map_err(|err| ApiError::session(&err, ErrorShape::Success))?;
    Ok(HttpResponse::Ok().json(LogoutAllResponse { success: true, ended }))
}

/// Lists the live sessions of the Bearer token's user.
#[utoipa::path(
    get,
    path = "/api/v1/auth/sessions",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Live sessions, newest first", body = SessionsResponse),
        (status = 401, description = "Invalid token", body = FailureResponse),
    )
)]
#[get("/sessions")]
pub async fn list_sessions(state: web::Data<AppState>, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let token = require_bearer(&request, ErrorShape::Success)?;
    let client = client(&request, &state);
    let sessions = state
        .runtime()
        .auth
        .sessions()
        .list(token, &client)
        .await
        .map_err(|err| ApiError::session(&err, ErrorShape::Success))?;
    let sessions = sessions
        .into_iter()
        .map(|s| SessionInfo {
            session_id: s.record.session_id,
            device_id: s.record.device_id,
            created_at: rfc3339(s.record.created_at),
            last_activity: rfc3339(s.record.last_activity),
            expires_at: rfc3339(s.record.expires_at),
            ip_address: s.record.ip_address,
            user_agent: s.record.user_agent,
            current: s.current,
        })
        .collect();
    Ok(HttpResponse::Ok().json(SessionsResponse { sessions }))
}
