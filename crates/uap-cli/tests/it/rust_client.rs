//! The Rust SDK (`crates/uap-client`, issue #13 items 2 and 5) against the
//! real binary: every auth route through `UapClient`, the actix-web extractor
//! and the tower layer in-process in front of a real `uap serve`, and local
//! mode (EdDSA tokens, the revocation feed) with two validators.

use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, test, web};
use axum::routing::get;
use axum::{Extension, Router};
use http_body_util::BodyExt as _;
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;
use uap_client::actix::{RequireRoles, Roles};
use uap_client::local::LocalConfig;
use uap_client::tower::UapAuthLayer;
use uap_client::{AuthenticateRequest, AuthenticatedUser, Error, UapClient, Validator};

use crate::support::{Codes, Server, TempDir, serve_in, serve_sqlite, sqlite};

/// bcrypt `$2y$` cost 4 of "bob-password".
const BOB: &str = "$2y$04$bZGuP3hzkdakjw2LpcMTqe8dbQ.oYYQi/BuJ5z/CaW.j51pe8ta6i";

fn host_sql() -> String {
    format!(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT UNIQUE, email TEXT, password TEXT, role TEXT);
         INSERT INTO users (username, email, password, role) VALUES ('bob', 'bob@example.com', '{BOB}', 'user');
         INSERT INTO users (username, email, password, role) VALUES ('root', 'root@example.com', '{BOB}', 'admin');"
    )
}

async fn start() -> (Server, TempDir, UapClient) {
    let (server, dir) = serve_sqlite(&host_sql(), "").await;
    let client = UapClient::new(server.url("")).unwrap();
    (server, dir, client)
}

async fn login(client: &UapClient, username: &str) -> String {
    let session = client
        .authenticate(
            &AuthenticateRequest::username(username, "bob-password").with_device_id(format!("{username}-laptop")),
        )
        .await
        .unwrap();
    session.token.expose_secret().to_owned()
}

#[tokio::test]
async fn login_validate_refresh_sessions_logout_and_logout_all() {
    let (_server, _dir, client) = start().await;
    assert!(client.health().await.unwrap().is_healthy());
    assert!(matches!(
        client.authenticate(&AuthenticateRequest::username("bob", "wrong")).await,
        Err(Error::InvalidCredentials(message)) if message == "Invalid credentials"
    ));

    let session = client.authenticate(&AuthenticateRequest::username("bob", "bob-password")).await.unwrap();
    assert_eq!(session.user_data.as_ref().unwrap()["username"], "bob");
    assert!(session.user_data.as_ref().unwrap().get("password").is_none());
    assert_eq!(session.roles(), vec!["user".to_owned()]);
    let token = session.token.expose_secret().to_owned();

    let user = client.validate(&token).await.unwrap();
    assert_eq!(user.session_id, session.session_id);
    assert_eq!(user.user_id, "1");
    assert_eq!(user.roles, vec!["user".to_owned()]);
    let batch = client.validate_batch(&[token.as_str(), "garbage"]).await.unwrap();
    assert_eq!(batch[0].as_ref().map(|u| u.session_id.clone()), Some(session.session_id.clone()));
    assert!(batch[1].is_none());

    // Refresh by refresh token: a new session, the old token stops working.
    let refreshed = client.refresh_with_refresh_token(session.refresh_token.as_ref().unwrap()).await.unwrap();
    let token2 = refreshed.token.expose_secret().to_owned();
    assert!(matches!(client.validate(&token).await, Err(Error::Unauthorized(_))));
    assert_eq!(client.validate(&token2).await.unwrap().session_id, refreshed.session_id);
    // Refresh by access token: the session is extended, the old token ends.
    let extended = client.refresh(&token2).await.unwrap();
    let token3 = extended.token.expose_secret().to_owned();
    assert!(matches!(client.validate(&token2).await, Err(Error::Unauthorized(_))));
    client.validate(&token3).await.unwrap();

    let other = login(&client, "bob").await;
    let sessions = client.sessions(&token3).await.unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s.current).count(), 1);
    assert!(sessions.iter().any(|s| s.device_id.as_deref() == Some("bob-laptop")));

    assert!(client.logout(&other).await.unwrap());
    assert!(!client.logout(&other).await.unwrap(), "already gone");
    assert!(matches!(client.validate(&other).await, Err(Error::Unauthorized(_))));

    let third = login(&client, "bob").await;
    assert_eq!(client.logout_all(&third).await.unwrap(), 2);
    for token in [&token3, &third] {
        assert!(matches!(client.validate(token).await, Err(Error::Unauthorized(_))));
    }
    assert!(matches!(client.sessions(&third).await, Err(Error::Unauthorized(_))));
    assert_eq!(client.jwks().await.unwrap(), json!({"keys": []}), "HS256: no public keys");
}

struct Admin;

impl Roles for Admin {
    const ROLES: &'static [&'static str] = &["admin"];
}

async fn actix_call(validator: &Validator, uri: &str, token: Option<&str>) -> (u16, Value) {
    async fn me(user: AuthenticatedUser) -> HttpResponse {
        HttpResponse::Ok().json(json!({"user_id": user.user_id, "roles": user.roles}))
    }
    async fn admin(user: RequireRoles<Admin>) -> HttpResponse {
        HttpResponse::Ok().json(json!({"admin": user.user_id}))
    }
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(validator.clone()))
            .route("/me", web::get().to(me))
            .route("/admin", web::get().to(admin)),
    )
    .await;
    let mut request = test::TestRequest::get().uri(uri);
    if let Some(token) = token {
        request = request.insert_header(("Authorization", format!("Bearer {token}")));
    }
    let response = test::call_service(&app, request.to_request()).await;
    let status = response.status().as_u16();
    (status, serde_json::from_slice(&test::read_body(response).await).unwrap())
}

#[actix_web::test]
async fn the_actix_extractor_in_front_of_a_real_uap() {
    let (server, _dir, client) = start().await;
    let validator = Validator::remote(client.clone());
    let bob = login(&client, "bob").await;
    let root = login(&client, "root").await;
    assert_eq!(actix_call(&validator, "/me", Some(&bob)).await, (200, json!({"user_id": "1", "roles": ["user"]})));
    assert_eq!(actix_call(&validator, "/admin", Some(&root)).await, (200, json!({"admin": "2"})));
    assert_eq!(actix_call(&validator, "/admin", Some(&bob)).await.0, 403);
    assert_eq!(actix_call(&validator, "/me", None).await.0, 401);
    assert_eq!(actix_call(&validator, "/me", Some("not.a.token")).await.0, 401);
    client.logout(&bob).await.unwrap();
    assert_eq!(actix_call(&validator, "/me", Some(&bob)).await.0, 401);
    drop(server);
    assert_eq!(
        actix_call(&validator, "/me", Some(&root)).await,
        (503, json!({"error": "Authentication service unavailable"})),
        "UAP down is a 503, never 'not logged in'"
    );
}

async fn tower_call(app: Router, uri: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = http::Request::get(uri);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = app.oneshot(request.body(axum::body::Body::empty()).unwrap()).await.unwrap();
    let status = response.status().as_u16();
    (status, serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap())
}

#[tokio::test]
async fn the_tower_layer_in_front_of_a_real_uap() {
    async fn me(Extension(user): Extension<AuthenticatedUser>) -> axum::Json<Value> {
        axum::Json(json!({"user_id": user.user_id}))
    }
    let (server, _dir, client) = start().await;
    let validator = Validator::remote(client.clone());
    let app = Router::new()
        .route("/me", get(me))
        .route("/health", get(|| async { axum::Json(json!({"ok": true})) }))
        .layer(UapAuthLayer::new(validator.clone()).exclude(["/health"]))
        .merge(Router::new().route("/admin", get(me)).layer(UapAuthLayer::new(validator).require_roles(["admin"])));
    let bob = login(&client, "bob").await;
    let root = login(&client, "root").await;
    assert_eq!(tower_call(app.clone(), "/me", Some(&bob)).await, (200, json!({"user_id": "1"})));
    assert_eq!(tower_call(app.clone(), "/admin", Some(&root)).await, (200, json!({"user_id": "2"})));
    assert_eq!(tower_call(app.clone(), "/admin", Some(&bob)).await.0, 403);
    assert_eq!(tower_call(app.clone(), "/me", None).await.0, 401);
    assert_eq!(tower_call(app.clone(), "/health", None).await, (200, json!({"ok": true})));
    client.logout_all(&bob).await.unwrap();
    assert_eq!(tower_call(app.clone(), "/me", Some(&bob)).await.0, 401);
    drop(server);
    assert_eq!(tower_call(app.clone(), "/me", Some(&root)).await.0, 503);
    assert_eq!(tower_call(app, "/health", None).await.0, 200);
}

const SDK_KEY: &str = "sdk-key-0123456789abcdef";

/// `uap serve` signing EdDSA tokens (a fresh `openssl genpkey` key) with the feed on.
async fn start_local() -> (Server, TempDir, UapClient) {
    let dir = TempDir::new();
    let key = dir.path().join("ed25519.pem");
    let status = std::process::Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&key)
        .status()
        .expect("openssl is installed");
    assert!(status.success());
    let host = dir.path().join("host.db");
    sqlite(&host, &host_sql());
    let extra = format!(
        "sdk_api_key = \"{SDK_KEY}\"\njwt_algorithm = \"EdDSA\"\njwt_private_key_file = \"{}\"\n",
        key.display()
    );
    let server = serve_in(&dir, &format!("sqlite://{}", host.display()), &extra).await;
    let client = UapClient::new(server.url("")).unwrap();
    (server, dir, client)
}

/// A local-mode validator with its own client and feed connection, once live.
async fn local_validator(server: &Server) -> Validator {
    let validator =
        Validator::local(UapClient::new(server.url("")).unwrap(), LocalConfig::new(SDK_KEY).issuer("UAP")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !validator.is_feed_live() {
        assert!(Instant::now() < deadline, "the revocation feed became live");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    validator
}

/// How long until every validator rejects `token` (at most `limit`).
async fn rejected_by_all(validators: &[&Validator], token: &str, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    loop {
        let mut all = true;
        for validator in validators {
            all &= matches!(validator.validate(token).await, Err(Error::Unauthorized(_)));
        }
        if all {
            return Some(start.elapsed());
        }
        if start.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn local_mode_two_validators_reject_a_revoked_session_within_a_second() {
    let (server, _dir, client) = start_local().await;
    assert_eq!(client.jwks().await.unwrap()["keys"][0]["alg"], "EdDSA");
    let (a, b) = (local_validator(&server).await, local_validator(&server).await);
    let bob = login(&client, "bob").await;
    let other = login(&client, "bob").await;
    let root = login(&client, "root").await;
    for validator in [&a, &b] {
        for token in [&bob, &other, &root] {
            let user = validator.validate(token).await.unwrap();
            assert!(!user.roles.is_empty() && !user.session_id.is_empty());
            // Now from the session cache, in-process.
            assert_eq!(validator.validate(token).await.unwrap(), user);
        }
        assert_eq!(validator.cached_validations(), 3);
    }
    assert!(matches!(a.validate("eyJhbGciOiJub25lIn0.e30.").await, Err(Error::Unauthorized(_))));

    // A logout: both local validators reject the token within 1 s.
    assert!(client.logout(&bob).await.unwrap());
    let latency = rejected_by_all(&[&a, &b], &bob, Duration::from_secs(1)).await;
    let latency = latency.expect("a logged-out session rejected by both validators within 1 s");
    eprintln!("logout → rejected by two local validators in {} ms", latency.as_millis());
    a.validate(&other).await.unwrap();

    // logout-all, and a refresh with the access token (the old token ends).
    let fresh = login(&client, "root").await;
    b.validate(&fresh).await.unwrap();
    assert_eq!(client.logout_all(&other).await.unwrap(), 1);
    assert!(rejected_by_all(&[&a, &b], &other, Duration::from_secs(1)).await.is_some(), "logout-all within 1 s");
    let extended = client.refresh(&fresh).await.unwrap();
    assert!(rejected_by_all(&[&a, &b], &fresh, Duration::from_secs(1)).await.is_some(), "refresh within 1 s");
    assert_eq!(b.validate(extended.token.expose_secret()).await.unwrap().session_id, extended.session_id);
    a.validate(&root).await.unwrap();

    // UAP gone: the feed drops and nothing is "valid because offline".
    drop(server);
    let deadline = Instant::now() + Duration::from_secs(5);
    while a.is_feed_live() {
        assert!(Instant::now() < deadline, "the feed was seen down");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let err = a.validate(&root).await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
}

#[tokio::test]
async fn mfa_enrollment_verify_and_disable_through_the_client() {
    let key = "0000000000000000000000000000000000000000000000000000000000000001";
    let extra = format!(
        "encryption_key = \"{key}\"\n[[middleware_stack]]\nname = \"mfa\"\nenabled = true\nissuer = \"Acme\"\nrequired_roles = [\"admin\"]\n"
    );
    let (server, _dir) = serve_sqlite(&host_sql(), &extra).await;
    let client = UapClient::new(server.url("")).unwrap();
    let login = AuthenticateRequest::username("root", "bob-password");

    let Err(Error::MfaEnrollmentRequired { enrollment_token }) = client.authenticate(&login).await else {
        panic!("an admin without a factor must enroll first");
    };
    let enrollment_token = enrollment_token.expose_secret().to_owned();
    assert!(matches!(
        client.totp_enroll(&enrollment_token, &"wrong".to_owned().into()).await,
        Err(Error::Unauthorized(_))
    ));
    let enrollment = client.totp_enroll(&enrollment_token, &"bob-password".to_owned().into()).await.unwrap();
    assert!(enrollment.otpauth_uri.expose_secret().starts_with("otpauth://"));
    let codes = Codes::of(&json!({ "secret": enrollment.secret.expose_secret() }));
    let session = client.totp_confirm(&enrollment_token, &codes.at(-1)).await.unwrap().expect("the login completes");
    client.validate(session.token.expose_secret()).await.unwrap();

    let Err(Error::MfaRequired { mfa_token }) = client.authenticate(&login).await else {
        panic!("a second factor is due");
    };
    assert!(matches!(client.mfa_verify(&mfa_token, "000000").await, Err(Error::InvalidCredentials(_))));
    let Err(Error::MfaRequired { mfa_token }) = client.authenticate(&login).await else { panic!("MFA again") };
    let verified = client.mfa_verify(&mfa_token, &codes.at(0)).await.unwrap();
    assert_eq!(verified.roles(), vec!["admin".to_owned()]);
    client.totp_disable(verified.token.expose_secret(), &codes.at(1)).await.unwrap();
}
