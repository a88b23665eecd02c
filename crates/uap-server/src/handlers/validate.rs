//! `GET /validate` and `POST /validate/batch`: the hot path. One signature
//! check and one store lookup per token; no audit write on success.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use futures::{StreamExt, TryStreamExt, stream};
use uap_domain::session::{SessionError, ValidSession};

use crate::api::{ApiError, BatchValidateRequest, BatchValidateResponse, ErrorShape, ValidateResponse, rfc3339};
use crate::handlers::{client, require_bearer};
use crate::state::AppState;

/// The most tokens in one batch.
pub const MAX_BATCH: usize = 1000;

fn valid(session: ValidSession) -> ValidateResponse {
    let record = session.record;
    ValidateResponse {
        valid: true,
        user_data: Some(record.user_data),
        expires_at: Some(rfc3339(record.expires_at)),
        session_id: Some(record.session_id),
        user_id: Some(record.user_id),
    }
}

/// Validates the Bearer token and returns its session's user data.
#[utoipa::path(
    get,
    path = "/api/v1/auth/validate",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Valid session", body = ValidateResponse),
        (status = 401, description = "Missing, garbled, expired or revoked token: {valid: false}"),
        (status = 503, description = "Session store unavailable"),
    )
)]
#[get("/validate")]
pub async fn validate(state: web::Data<AppState>, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let token = require_bearer(&request, ErrorShape::Valid)?;
    let client = client(&request, &state);
    match state.runtime().auth.sessions().validate(token, &client).await {
        Ok(session) => {
            // The access log's user id; skipped (no allocation) when that log is off.
            let user =
                crate::http::access_log_enabled().then(|| crate::http::LoggedUser(session.record.user_id.clone()));
            let mut response = HttpResponse::Ok().json(valid(session));
            if let Some(user) = user {
                response.extensions_mut().insert(user);
            }
            Ok(response)
        }
        Err(err) => Err(ApiError::session(&err, ErrorShape::Valid)),
    }
}

/// Validates up to 1000 tokens; results in input order.
#[utoipa::path(
    post,
    path = "/api/v1/auth/validate/batch",
    tag = "auth",
    request_body = BatchValidateRequest,
    responses(
        (status = 200, description = "One result per token", body = BatchValidateResponse),
        (status = 400, description = "More than 1000 tokens"),
        (status = 503, description = "Session store unavailable"),
    )
)]
#[post("/validate/batch")]
pub async fn validate_batch(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Json<BatchValidateRequest>,
) -> Result<HttpResponse, ApiError> {
    let tokens = body.into_inner().tokens;
    if tokens.len() > MAX_BATCH {
        return Err(ApiError::BadRequest(format!("at most {MAX_BATCH} tokens per batch (got {})", tokens.len())));
    }
    let client = client(&request, &state);
    let runtime = state.runtime();
    let sessions = runtime.auth.sessions();
    let results: Vec<ValidateResponse> = stream::iter(tokens)
        .map(|token| {
            let client = &client;
            async move {
                match sessions.validate(&token, client).await {
                    Ok(session) => Ok(valid(session)),
                    Err(SessionError::Rejected(_)) => Ok(ValidateResponse {
                        valid: false,
                        user_data: None,
                        expires_at: None,
                        session_id: None,
                        user_id: None,
                    }),
                    Err(err) => Err(ApiError::session(&err, ErrorShape::Plain)),
                }
            }
        })
        .buffered(16)
        .try_collect()
        .await?;
    Ok(HttpResponse::Ok().json(BatchValidateResponse { results }))
}
