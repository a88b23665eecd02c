//! The actix-web extractor and role guard against a fake UAP.

use actix_web::{App, HttpResponse, test, web};
use serde_json::{Value, json};
use uap_client::actix::{RequireRoles, Roles};
use uap_client::{AuthenticatedUser, UapClient, Validator};
use wiremock::matchers::{header, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

struct Admin;

impl Roles for Admin {
    const ROLES: &'static [&'static str] = &["admin"];
}

async fn me(user: AuthenticatedUser) -> HttpResponse {
    HttpResponse::Ok().json(json!({"user_id": user.user_id}))
}

async fn admin(user: RequireRoles<Admin>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"admin": user.user_id}))
}

/// A fake UAP: `Bearer admin` and `Bearer user` are valid, `Bearer down`
/// gets 503, anything else 401.
pub async fn fake_uap() -> MockServer {
    let server = MockServer::start().await;
    for (token, roles) in [("admin", json!(["admin"])), ("user", json!(["user"]))] {
        Mock::given(path("/api/v1/auth/validate"))
            .and(header("authorization", format!("Bearer {token}").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "valid": true, "session_id": "s", "user_id": token, "user_data": {"roles": roles},
                "expires_at": "2099-01-01T00:00:00Z"})))
            .mount(&server)
            .await;
    }
    Mock::given(path("/api/v1/auth/validate"))
        .and(header("authorization", "Bearer down"))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({"error": "session store unavailable"})))
        .mount(&server)
        .await;
    Mock::given(path("/api/v1/auth/validate"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"valid": false})))
        .mount(&server)
        .await;
    server
}

async fn call(validator: Option<Validator>, uri: &str, token: Option<&str>) -> (u16, Value) {
    let mut app = App::new().route("/me", web::get().to(me)).route("/admin", web::get().to(admin));
    if let Some(validator) = validator {
        app = app.app_data(web::Data::new(validator));
    }
    let app = test::init_service(app).await;
    let mut request = test::TestRequest::get().uri(uri);
    if let Some(token) = token {
        request = request.insert_header(("Authorization", format!("Bearer {token}")));
    }
    let response = test::call_service(&app, request.to_request()).await;
    let status = response.status().as_u16();
    let body: Value = serde_json::from_slice(&test::read_body(response).await).unwrap();
    (status, body)
}

#[actix_web::test]
async fn the_extractor_answers_401_403_503_as_json() {
    let uap = fake_uap().await;
    let validator = Validator::remote(UapClient::new(uap.uri()).unwrap());
    let v = || Some(validator.clone());
    assert_eq!(call(v(), "/me", Some("user")).await, (200, json!({"user_id": "user"})));
    assert_eq!(call(v(), "/me", None).await, (401, json!({"error": "Not authenticated"})));
    assert_eq!(call(v(), "/me", Some("forged")).await, (401, json!({"error": "Invalid or expired token"})));
    assert_eq!(call(v(), "/me", Some("down")).await, (503, json!({"error": "Authentication service unavailable"})));
    assert_eq!(call(v(), "/admin", Some("admin")).await, (200, json!({"admin": "admin"})));
    assert_eq!(call(v(), "/admin", Some("user")).await, (403, json!({"error": "Forbidden: requires role admin"})));
    assert_eq!(call(v(), "/admin", None).await.0, 401);
    // Not registered: a server misconfiguration, never "not logged in".
    assert_eq!(call(None, "/me", Some("user")).await.0, 503);
}

#[actix_web::test]
async fn uap_unreachable_is_503() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let validator = Validator::remote(UapClient::new(format!("http://127.0.0.1:{port}")).unwrap());
    assert_eq!(call(Some(validator), "/me", Some("user")).await.0, 503);
}
