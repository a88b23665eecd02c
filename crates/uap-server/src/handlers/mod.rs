//! HTTP handlers, one module per use case.

pub mod audit;
pub mod authenticate;
pub mod config;
pub mod events;
pub mod health;
pub mod metrics;
pub mod mfa;
pub mod sessions;
pub mod validate;

use actix_web::HttpRequest;
use actix_web::http::header;
use uap_domain::session::ClientContext;

use crate::api::{ApiError, ErrorShape};
use crate::state::AppState;

/// The longest user agent kept.
const MAX_USER_AGENT: usize = 512;

/// The Bearer token of `Authorization`, if any.
pub(crate) fn bearer(request: &HttpRequest) -> Option<&str> {
    let value = request.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The Bearer token, or 401 in the route's shape.
pub(crate) fn require_bearer(request: &HttpRequest, shape: ErrorShape) -> Result<&str, ApiError> {
    bearer(request).ok_or(ApiError::Unauthorized { shape, message: "Missing bearer token" })
}

/// Address and user agent of the caller.
pub(crate) fn client(request: &HttpRequest, state: &AppState) -> ClientContext {
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(MAX_USER_AGENT).collect());
    ClientContext { ip_address: state.client_ip.resolve(request), user_agent }
}
