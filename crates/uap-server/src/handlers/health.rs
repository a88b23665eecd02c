//! Health: `/api/v1/config/health`, `/health/live`, `/health/ready`, and the
//! JWKS document.

use actix_web::{HttpResponse, get, web};
use serde_json::{Map, Value, json};

use crate::api::{HealthResponse, rfc3339};
use crate::state::AppState;

async fn components(state: &AppState) -> (bool, Value) {
    let runtime = state.runtime();
    let (database, session_store, internal_db) = futures::join!(
        runtime.auth.directory().health(),
        runtime.auth.sessions().store().health(),
        state.internal_db.health(),
    );
    let mut all_ok = true;
    let mut map = Map::new();
    for (name, result) in [("database", database), ("session_store", session_store), ("internal_db", internal_db)] {
        if let Err(err) = &result {
            tracing::warn!(component = name, error = %err, "health check failed");
            all_ok = false;
        }
        map.insert(name.into(), Value::from(if result.is_ok() { "healthy" } else { "unhealthy" }));
    }
    (all_ok, Value::Object(map))
}

async fn health_response(state: &AppState) -> HttpResponse {
    let (ok, components) = components(state).await;
    let body = HealthResponse {
        status: if ok { "healthy" } else { "unhealthy" },
        components,
        timestamp: rfc3339(state.clock.now()),
    };
    if ok { HttpResponse::Ok().json(body) } else { HttpResponse::ServiceUnavailable().json(body) }
}

/// Component health: 200 healthy, 503 when any component is down.
#[utoipa::path(
    get,
    path = "/api/v1/config/health",
    tag = "operations",
    responses(
        (status = 200, description = "All components healthy", body = HealthResponse),
        (status = 503, description = "A component is down", body = HealthResponse),
    )
)]
#[get("/api/v1/config/health")]
pub async fn config_health(state: web::Data<AppState>) -> HttpResponse {
    health_response(&state).await
}

/// Readiness: the same checks as `/api/v1/config/health`.
#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "operations",
    responses((status = 200, body = HealthResponse), (status = 503, body = HealthResponse))
)]
#[get("/health/ready")]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    health_response(&state).await
}

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/health/live",
    tag = "operations",
    responses((status = 200, description = "`{status: \"alive\"}`"))
)]
#[get("/health/live")]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "alive" }))
}

/// Public keys of asymmetric `jwt_algorithm`s; `{keys: []}` for HS*.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "operations",
    responses((status = 200, description = "JWK set"))
)]
#[get("/.well-known/jwks.json")]
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(state.runtime().auth.sessions().tokens().jwks())
}
