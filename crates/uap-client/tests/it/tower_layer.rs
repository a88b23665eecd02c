//! The tower layer around an axum router against a fake UAP.

use axum::routing::get;
use axum::{Extension, Router};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;
use uap_client::tower::UapAuthLayer;
use uap_client::{AuthenticatedUser, UapClient, Validator};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::actix_extractor::fake_uap;

async fn me(Extension(user): Extension<AuthenticatedUser>) -> axum::Json<Value> {
    axum::Json(json!({"user_id": user.user_id}))
}

fn app(validator: &Validator) -> Router {
    let admin =
        Router::new().route("/admin", get(me)).layer(UapAuthLayer::new(validator.clone()).require_roles(["admin"]));
    Router::new()
        .route("/me", get(me))
        .route("/public/info", get(|| async { axum::Json(json!({"public": true})) }))
        .layer(UapAuthLayer::new(validator.clone()).exclude(["/public/*"]))
        .merge(admin)
}

async fn call(app: Router, uri: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = http::Request::get(uri);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = app.oneshot(request.body(axum::body::Body::empty()).unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn the_layer_inserts_the_user_and_answers_401_403_503_itself() {
    let uap = fake_uap().await;
    let validator = Validator::remote(UapClient::new(uap.uri()).unwrap());
    let app = app(&validator);
    assert_eq!(call(app.clone(), "/me", Some("user")).await, (200, json!({"user_id": "user"})));
    assert_eq!(call(app.clone(), "/me", None).await, (401, json!({"error": "Not authenticated"})));
    assert_eq!(call(app.clone(), "/me", Some("forged")).await, (401, json!({"error": "Invalid or expired token"})));
    assert_eq!(
        call(app.clone(), "/me", Some("down")).await,
        (503, json!({"error": "Authentication service unavailable"}))
    );
    assert_eq!(call(app.clone(), "/admin", Some("admin")).await, (200, json!({"user_id": "admin"})));
    assert_eq!(
        call(app.clone(), "/admin", Some("user")).await,
        (403, json!({"error": "Forbidden: requires role admin"}))
    );
    assert_eq!(call(app, "/public/info", None).await, (200, json!({"public": true})));
}

#[tokio::test]
async fn excluded_paths_never_ask_uap() {
    let uap = MockServer::start().await;
    Mock::given(path("/api/v1/auth/validate")).respond_with(ResponseTemplate::new(500)).expect(0).mount(&uap).await;
    let validator = Validator::remote(UapClient::new(uap.uri()).unwrap());
    assert_eq!(call(app(&validator), "/public/info", Some("whatever")).await.0, 200);
}
