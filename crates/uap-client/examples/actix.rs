//! A small actix-web service protected by UAP.
//!
//! ```text
//! UAP_URL=http://127.0.0.1:8000 cargo run -p uap-client --features actix --example actix
//! curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/me
//! ```
//!
//! `/me` needs a valid token, `/admin` a user with the `admin` role, `/health`
//! is public.

use actix_web::{App, HttpResponse, HttpServer, get, web};
use uap_client::actix::{RequireRoles, Roles};
use uap_client::{AuthenticatedUser, UapClient, Validator};

/// Users with the `admin` role.
struct Admin;

impl Roles for Admin {
    const ROLES: &'static [&'static str] = &["admin"];
}

#[get("/health")]
async fn health() -> &'static str {
    "ok"
}

#[get("/me")]
async fn me(user: AuthenticatedUser) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "user_id": user.user_id, "roles": user.roles }))
}

#[get("/admin")]
async fn admin(user: RequireRoles<Admin>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "admin": user.user_id }))
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let base_url = std::env::var("UAP_URL").unwrap_or_else(|_| "http://127.0.0.1:8000".into());
    let validator = Validator::remote(UapClient::new(base_url)?);
    HttpServer::new(move || {
        App::new().app_data(web::Data::new(validator.clone())).service(health).service(me).service(admin)
    })
    .bind(("127.0.0.1", 8080))?
    .run()
    .await?;
    Ok(())
}
