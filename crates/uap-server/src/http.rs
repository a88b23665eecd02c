//! The actix-web application: routes, JSON error bodies for every extractor
//! failure, security headers, request ids, CORS, body limits.

use std::time::Instant;

use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::{InternalError, JsonPayloadError};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::{Condition, Next};
use actix_web::{HttpResponse, web};
use serde_json::json;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::admin;
use crate::handlers::{audit, authenticate, config, events, health, metrics, mfa, sessions, validate};
use crate::openapi::ApiDoc;
use crate::state::AppState;
use crate::tls::{HSTS, HstsPolicy};

/// Registers every route and extractor configuration.
pub fn configure(max_body_bytes: usize) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(json_config(max_body_bytes))
            .app_data(web::PayloadConfig::new(max_body_bytes))
            .service(
                web::scope("/api/v1/auth")
                    .service(authenticate::authenticate)
                    .service(validate::validate)
                    .service(validate::validate_batch)
                    .service(sessions::refresh)
                    .service(sessions::logout)
                    .service(sessions::logout_all)
                    .service(sessions::list_sessions)
                    .service(mfa::verify)
                    .service(mfa::enroll)
                    .service(mfa::confirm)
                    .service(mfa::remove)
                    .service(events::events),
            )
            .service(
                web::scope("/api/v1/audit")
                    .wrap(actix_web::middleware::from_fn(admin::guard))
                    .service(audit::logs)
                    .service(audit::report),
            )
            .service(
                web::resource(["/api/v1/config/", "/api/v1/config"])
                    .wrap(actix_web::middleware::from_fn(admin::guard))
                    .route(web::get().to(config::show))
                    .route(web::put().to(config::update)),
            )
            .service(metrics::metrics)
            .service(health::config_health)
            .service(health::live)
            .service(health::ready)
            .service(health::jwks)
            .service(web::redirect("/docs", "/docs/"))
            .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", ApiDoc::openapi()))
            .default_service(web::to(not_found));
    }
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(json!({ "success": false, "error": "Not found" }))
}

/// JSON bodies: size limit and readable 400/413/415/422 errors instead of
/// actix's plain-text defaults.
fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default().limit(limit).error_handler(move |err, _request| {
        let (status, message) = match &err {
            JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, format!("request body is larger than {limit} bytes"))
            }
            JsonPayloadError::ContentType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json".to_owned())
            }
            JsonPayloadError::Deserialize(e) if e.is_data() => {
                (StatusCode::UNPROCESSABLE_ENTITY, format!("invalid request body: {e}"))
            }
            JsonPayloadError::Deserialize(e) => (StatusCode::BAD_REQUEST, format!("malformed JSON: {e}")),
            other => (StatusCode::BAD_REQUEST, format!("unreadable request body: {other}")),
        };
        let response = HttpResponse::build(status).json(json!({ "success": false, "error": message }));
        InternalError::from_response(err, response).into()
    })
}

/// CORS for `cors_allowed_origins`; absent when none are configured.
pub fn cors(origins: &[String]) -> Condition<Cors> {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "DELETE", "OPTIONS"])
        .allowed_headers(["authorization", "content-type", "x-api-key", "x-request-id"])
        .expose_headers(["x-request-id", "retry-after"])
        .max_age(600);
    for origin in origins {
        cors = if origin == "*" { cors.allow_any_origin() } else { cors.allowed_origin(origin) };
    }
    Condition::new(!origins.is_empty(), cors)
}

/// The request id: the caller's `X-Request-Id` when it is short and plain,
/// else a new UUID.
fn request_id(request: &ServiceRequest) -> HeaderValue {
    request
        .headers()
        .get("x-request-id")
        .filter(|v| {
            let bytes = v.as_bytes();
            !bytes.is_empty()
                && bytes.len() <= 64
                && bytes.iter().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(b))
        })
        .cloned()
        .unwrap_or_else(|| {
            HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).unwrap_or(HeaderValue::from_static("unknown"))
        })
}

const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";
const DOCS_CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; frame-ancestors 'none'";

/// The HTTP method as a metric label (a fixed set).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::HEAD => "HEAD",
        Method::PATCH => "PATCH",
        _ => "OTHER",
    }
}

/// Whether the access log (target `uap::access`, INFO) is on.
#[must_use]
pub fn access_log_enabled() -> bool {
    tracing::enabled!(target: "uap::access", tracing::Level::INFO)
}

/// The user a handler identified, for the access log (set as a response
/// extension by handlers that know it).
#[derive(Debug, Clone)]
pub struct LoggedUser(pub String);

/// Security headers and `X-Request-Id` on every response, HTTP metrics by
/// route template (`uap_http_requests_total`,
/// `uap_http_request_duration_seconds`) and, at INFO, one access-log record
/// per request (target `uap::access`). Use with
/// `actix_web::middleware::from_fn`. `Strict-Transport-Security` when the
/// app's [`HstsPolicy`] says the request came over HTTPS.
pub async fn add_headers(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let id = request_id(&request);
    let docs = request.path().starts_with("/docs");
    let method = method_label(request.method());
    let access_log = access_log_enabled();
    // Only with the access log on: the client address (no work otherwise).
    let client = if access_log {
        request.app_data::<web::Data<AppState>>().and_then(|state| state.client_ip.resolve(request.request()))
    } else {
        None
    };
    let hsts = request.app_data::<web::Data<HstsPolicy>>().is_some_and(|policy| policy.applies(&request));
    let outcome = next.call(request).await;
    let elapsed = started.elapsed();
    // Handlers turn their errors into responses, so `Err` is rare here (no
    // route template, no state): it is logged, not counted.
    let (status, route, user) = match &outcome {
        Ok(response) => {
            let route = response.request().match_pattern();
            let status = response.status();
            if let Some(state) = response.request().app_data::<web::Data<AppState>>() {
                let route = route.as_deref().unwrap_or("unmatched");
                state.metrics.record_http(method, route, status.as_str(), elapsed.as_secs_f64());
            }
            let user = if access_log { response.response().extensions().get::<LoggedUser>().cloned() } else { None };
            (status, route, user)
        }
        Err(err) => (err.as_response_error().status_code(), None, None),
    };
    if access_log {
        tracing::info!(
            target: "uap::access",
            request_id = id.to_str().unwrap_or_default(),
            method,
            route = route.as_deref().unwrap_or("unmatched"),
            status = status.as_u16(),
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            client_address = client.map(|ip| ip.to_string()),
            user_id = user.as_ref().map(|u| u.0.as_str()),
            "request"
        );
    }
    let mut response = outcome?;
    let headers = response.headers_mut();
    let csp = if docs { DOCS_CSP } else { API_CSP };
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("content-security-policy", csp),
        ("cache-control", "no-store"),
    ] {
        headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    headers.insert(HeaderName::from_static("x-request-id"), id);
    if hsts {
        headers.insert(HeaderName::from_static("strict-transport-security"), HeaderValue::from_static(HSTS));
    }
    Ok(response)
}
