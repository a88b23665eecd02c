//! A small axum service protected by UAP through the tower layer.
//!
//! ```text
//! UAP_URL=http://127.0.0.1:8000 cargo run -p uap-client --features tower --example axum
//! curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8081/me
//! ```
//!
//! `/me` needs a valid token, `/admin/*` a user with the `admin` role,
//! `/health` is public.

use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{Value, json};
use uap_client::tower::UapAuthLayer;
use uap_client::{AuthenticatedUser, UapClient, Validator};

async fn me(Extension(user): Extension<AuthenticatedUser>) -> Json<Value> {
    Json(json!({ "user_id": user.user_id, "roles": user.roles }))
}

async fn admin(Extension(user): Extension<AuthenticatedUser>) -> Json<Value> {
    Json(json!({ "admin": user.user_id }))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let base_url = std::env::var("UAP_URL").unwrap_or_else(|_| "http://127.0.0.1:8000".into());
    let validator = Validator::remote(UapClient::new(base_url)?);
    let admin_routes = Router::new()
        .route("/admin/stats", get(admin))
        .layer(UapAuthLayer::new(validator.clone()).require_roles(["admin"]));
    let app = Router::new()
        .route("/me", get(me))
        .route("/health", get(|| async { "ok" }))
        .layer(UapAuthLayer::new(validator).exclude(["/health"]))
        .merge(admin_routes);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8081").await?;
    axum::serve(listener, app).await?;
    Ok(())
}
