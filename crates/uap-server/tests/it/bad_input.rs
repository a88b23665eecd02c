//! Bad input never gives a 5xx: readable 4xx JSON bodies instead.

use std::time::Instant;

use serde_json::{Value, json};

use crate::support::{Backend, Host, HostUser, TestApp, settings};

const BOB: &str = "$2y$04$bZGuP3hzkdakjw2LpcMTqe8dbQ.oYYQi/BuJ5z/CaW.j51pe8ta6i";
/// sha512_crypt with 999,999,999 rounds would take minutes: the password cap
/// must refuse a huge password before any hashing starts.
const COSTLY: &str = "$6$rounds=999999999$saltsalt$JWSQOHMx6XnMwH6RImDXQZQL0W4G/qYZQvdmxGaVAHKUH5cQUDVF0m1Ph/8R7/ljhYsTeTvMzfyR/ZQf5Vnc1.";

async fn post_raw(app: &TestApp, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    let response = app.client.post(app.url(path)).header("Content-Type", content_type).body(body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn malformed_requests_get_readable_4xx() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(host) = Host::new(Backend::Sqlite).await else { return };
    host.insert(HostUser { username: "bob", password_hash: BOB, role: "user", active: true }).await;
    host.insert(HostUser { username: "slow", password_hash: COSTLY, role: "user", active: true }).await;
    let app = TestApp::spawn(settings(&host.url())).await;
    let login = "/api/v1/auth/authenticate";

    let cases: Vec<(&str, &str, Vec<u8>, u16)> = vec![
        ("malformed JSON", "application/json", b"{\"username\": ".to_vec(), 400),
        ("not an object", "application/json", b"[1,2]".to_vec(), 422),
        ("wrong type", "application/json", br#"{"username": 5, "password": "x"}"#.to_vec(), 422),
        ("missing password", "application/json", br#"{"username": "bob"}"#.to_vec(), 422),
        ("missing identifier", "application/json", br#"{"password": "x"}"#.to_vec(), 400),
        ("wrong content type", "text/plain", br#"{"username":"bob","password":"x"}"#.to_vec(), 415),
        (
            "oversized body",
            "application/json",
            format!(r#"{{"username":"bob","password":"{}"}}"#, "x".repeat(70_000)).into_bytes(),
            413,
        ),
        ("invalid UTF-8", "application/json", b"{\"username\": \"\xff\xfe\", \"password\": \"x\"}".to_vec(), 400),
    ];
    for (name, content_type, body, expected) in cases {
        let (status, body) = post_raw(&app, login, content_type, body).await;
        assert_eq!(status, expected, "{name}: {body}");
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{name}: {body}");
    }

    // A 60 KB password against a very costly stored hash is refused at once.
    let started = Instant::now();
    let (status, body) = app.login("slow", &"p".repeat(60_000)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("password is longer"));
    assert!(started.elapsed().as_secs() < 10);
    let (status, _) = app.login(&"u".repeat(10_000), "x").await;
    assert_eq!(status, 400);

    // SQL-injection strings are just values.
    for evil in ["' OR '1'='1", "bob' --", "bob\"; DROP TABLE users; --", "%", "_ob", "\0bob", "bob\\"] {
        let (status, body) = app.login(evil, "bob-password").await;
        assert_eq!(status, 401, "{evil}: {body}");
    }
    assert_eq!(app.login("bob", "bob-password").await.0, 200, "table intact");

    // Batch over the cap.
    let tokens: Vec<String> = (0..1001).map(|i| format!("t{i}")).collect();
    let response = app
        .client
        .post(app.url("/api/v1/auth/validate/batch"))
        .json(&json!({ "tokens": tokens }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    // Refresh with a bad body, and with garbage tokens.
    let (status, _) = post_raw(&app, "/api/v1/auth/refresh", "application/json", b"{nope".to_vec()).await;
    assert_eq!(status, 400);
    assert_eq!(app.refresh_with("garbage").await.0, 401);
    assert_eq!(app.refresh_with(&"a.b".repeat(1000)).await.0, 401);
    let (status, _) = app.post_bearer("/api/v1/auth/logout", "garbage").await;
    assert_eq!(status, 401);

    // Unknown route: JSON 404.
    let response = app.client.get(app.url("/nope")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert!(response.json::<Value>().await.unwrap()["error"].is_string());
    app.stop().await;
}

#[tokio::test]
async fn every_response_has_security_headers_and_a_request_id() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(host) = Host::new(Backend::Sqlite).await else { return };
    let app = TestApp::spawn(settings(&host.url())).await;
    for path in [
        "/health/live",
        "/nope",
        "/api/v1/auth/validate",
        "/api/v1/config/health",
        "/.well-known/jwks.json",
        "/openapi.json",
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert!(headers.contains_key("content-security-policy"), "{path}");
        assert!(headers.contains_key("referrer-policy"), "{path}");
        assert!(!headers["x-request-id"].is_empty(), "{path}");
    }
    let response = app.client.get(app.url("/health/live")).header("X-Request-Id", "abc-123").send().await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "abc-123");
    let response =
        app.client.get(app.url("/health/live")).header("X-Request-Id", "bad id with spaces").send().await.unwrap();
    assert_ne!(response.headers()["x-request-id"], "bad id with spaces");

    let health: Value = app.client.get(app.url("/api/v1/config/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "healthy", "{health}");
    for component in ["database", "session_store", "internal_db"] {
        assert_eq!(health["components"][component], "healthy", "{health}");
    }
    assert_eq!(app.client.get(app.url("/health/ready")).send().await.unwrap().status(), 200);
    let jwks: Value = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(jwks, json!({"keys": []}));
    let openapi: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(openapi["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/api/v1/auth/authenticate",
        "/api/v1/auth/validate",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/auth/logout-all",
        "/api/v1/auth/sessions",
        "/api/v1/auth/validate/batch",
    ] {
        assert!(openapi["paths"].get(path).is_some(), "{path} missing from OpenAPI");
    }
    let docs = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("swagger"));
    app.stop().await;
}
