//! `GET /metrics`: the Prometheus text exposition of [`crate::metrics::Metrics`].

use actix_web::{HttpResponse, get, web};

use crate::state::AppState;

/// Prometheus text exposition. Bind it privately in production.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format")))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    state.metrics.sync_timing(&state.runtime().auth.timing().snapshot());
    match state.metrics.render() {
        Ok(body) => HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(body),
        Err(err) => {
            tracing::error!(error = %err, "metrics encoding failed");
            HttpResponse::InternalServerError().json(serde_json::json!({ "error": "metrics unavailable" }))
        }
    }
}
