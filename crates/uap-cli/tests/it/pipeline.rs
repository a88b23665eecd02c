//! The security pipeline through the real binary: brute-force protection
//! (atomic under 100 concurrent guesses, anti-DoS per address), IP rules
//! behind a trusted proxy, CAPTCHA and webhook against local stand-ins, and
//! TOTP MFA end to end.

use std::time::Duration;

use futures::future::join_all;
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{Codes, Server, TempDir, audit_count, free_port, serve_sqlite};

/// bcrypt `$2y$` cost 4 of "bob-password" (PHP 8 password_hash).
const BOB: &str = "$2y$04$bZGuP3hzkdakjw2LpcMTqe8dbQ.oYYQi/BuJ5z/CaW.j51pe8ta6i";

async fn start(extra: &str) -> (Server, TempDir) {
    serve_sqlite(
        &format!(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT UNIQUE, email TEXT, password TEXT, role TEXT);
             INSERT INTO users (username, email, password, role) VALUES ('bob', 'bob@example.com', '{BOB}', 'user');
             INSERT INTO users (username, email, password, role) VALUES ('root', 'root@example.com', '{BOB}', 'admin');"
        ),
        &format!("bcrypt_cost = 4\n{extra}"),
    )
    .await
}

async fn login(server: &Server, body: Value, forwarded_for: Option<&str>) -> (u16, Value, Option<String>) {
    let mut request = reqwest::Client::new().post(server.url("/api/v1/auth/authenticate")).json(&body);
    if let Some(ip) = forwarded_for {
        request = request.header("X-Forwarded-For", ip);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    (status, response.json().await.unwrap_or(Value::Null), retry_after)
}

#[tokio::test]
async fn hundred_concurrent_guesses_let_at_most_five_through() {
    let (server, dir) = start("max_attempts = 5\n").await;
    let guesses = (0..100).map(|_| login(&server, json!({"username": "bob", "password": "guess"}), None));
    let results = join_all(guesses).await;
    let unauthorized = results.iter().filter(|r| r.0 == 401).count();
    let limited = results.iter().filter(|r| r.0 == 429).count();
    assert_eq!((unauthorized, limited), (5, 95), "guesses that reached verification vs refused");
    let limited = results.iter().find(|r| r.0 == 429).unwrap();
    assert_eq!(limited.1["success"], false);
    assert!(limited.1["retry_after"].as_u64().unwrap() > 0);
    assert_eq!(limited.2.as_deref().map(|s| s.parse::<u64>().is_ok()), Some(true), "Retry-After header");
    // Even the right password is refused while blocked.
    assert_eq!(login(&server, json!({"username": "bob", "password": "bob-password"}), None).await.0, 429);
    assert!(server.terminate().success());
    assert_eq!(audit_count(&dir, "event_type = 'FAILED_LOGIN' AND error_message = 'wrong_password'").await, 5);
    assert_eq!(audit_count(&dir, "event_type = 'ACCOUNT_LOCKED'").await, 1);
}

#[tokio::test]
async fn a_lockout_from_one_address_does_not_lock_the_account_elsewhere() {
    let (server, _dir) = start("max_attempts = 3\ntrusted_proxies = [\"127.0.0.1/32\"]\n").await;
    for _ in 0..3 {
        let (status, _, _) = login(&server, json!({"username": "bob", "password": "x"}), Some("203.0.113.66")).await;
        assert_eq!(status, 401);
    }
    let attacker = login(&server, json!({"username": "bob", "password": "bob-password"}), Some("203.0.113.66")).await;
    assert_eq!(attacker.0, 429);
    let owner = login(&server, json!({"username": "bob", "password": "bob-password"}), Some("198.51.100.20")).await;
    assert_eq!(owner.0, 200, "the owner logs in from their own address");
}

#[tokio::test]
async fn ip_rules_use_the_real_client_address() {
    let extra = "trusted_proxies = [\"10.0.0.0/8\"]\n\
                 [[middleware_stack]]\nname = \"ip_rules\"\nenabled = true\ndeny = [\"203.0.113.0/24\", \"2001:db8::/32\"]\n";
    let (server, _dir) = start(extra).await;
    let ok = json!({"username": "bob", "password": "bob-password"});
    // The peer (127.0.0.1) is not a trusted proxy: a spoofed header is ignored.
    assert_eq!(login(&server, ok.clone(), Some("203.0.113.5")).await.0, 200);
    assert_eq!(login(&server, ok.clone(), None).await.0, 200);
    server.terminate();

    let extra = "trusted_proxies = [\"127.0.0.1/32\"]\n\
                 [[middleware_stack]]\nname = \"ip_rules\"\nenabled = true\ndeny = [\"203.0.113.0/24\", \"2001:db8::/32\"]\n";
    let (server, _dir) = start(extra).await;
    let (status, body, _) = login(&server, ok.clone(), Some("203.0.113.5")).await;
    assert_eq!(status, 403);
    assert_eq!(body["success"], false);
    assert_eq!(login(&server, ok.clone(), Some("2001:db8::7")).await.0, 403);
    assert_eq!(login(&server, ok.clone(), Some("198.51.100.1")).await.0, 200);
}

#[tokio::test]
async fn captcha_is_verified_with_the_provider_and_fails_closed() {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/siteverify"))
        .and(body_string_contains("response=human"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true, "score": 0.9})))
        .mount(&provider)
        .await;
    Mock::given(method("POST"))
        .and(path("/siteverify"))
        .and(body_string_contains("response=robot"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true, "score": 0.1})))
        .mount(&provider)
        .await;
    Mock::given(method("POST"))
        .and(path("/siteverify"))
        .and(body_string_contains("response=slow"))
        .respond_with(
            ResponseTemplate::new(200).set_delay(Duration::from_secs(5)).set_body_json(json!({"success": true})),
        )
        .mount(&provider)
        .await;
    let extra = format!(
        "[[middleware_stack]]\nname = \"captcha\"\nenabled = true\nprovider = \"recaptcha\"\nsecret_key = \"captcha-secret\"\n\
         threshold = 0.5\ntimeout_ms = 500\nverify_url = \"{}/siteverify\"\n",
        provider.uri()
    );
    let (server, _dir) = start(&extra).await;
    let with = |token: Option<&str>| json!({"username": "bob", "password": "bob-password", "captcha_token": token});
    assert_eq!(login(&server, with(None), None).await.0, 403, "missing token");
    assert_eq!(login(&server, with(Some("robot")), None).await.0, 403, "score under threshold");
    assert_eq!(login(&server, with(Some("slow")), None).await.0, 403, "provider timeout: fail closed");
    let (status, body, _) = login(&server, with(Some("human")), None).await;
    assert_eq!(status, 200, "{body}");
    let requests = provider.received_requests().await.unwrap();
    assert!(String::from_utf8_lossy(&requests[0].body).contains("secret=captcha-secret"));
    server.terminate();
    drop(provider);

    // Provider down entirely.
    let port = free_port();
    let extra = format!(
        "[[middleware_stack]]\nname = \"captcha\"\nenabled = true\nprovider = \"turnstile\"\nsecret_key = \"s\"\n\
         verify_url = \"http://127.0.0.1:{port}/siteverify\"\n"
    );
    let (server, _dir) = start(&extra).await;
    assert_eq!(login(&server, with(Some("human")), None).await.0, 403);
}

#[tokio::test]
async fn webhook_blocks_with_the_host_message_and_is_signed() {
    let host = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/uap-hook"))
        .and(body_string_contains("\"identifier\":\"root\""))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"action": "block", "error": "Admins use SSO"})))
        .mount(&host)
        .await;
    Mock::given(method("POST"))
        .and(path("/uap-hook"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"action": "continue"})))
        .mount(&host)
        .await;
    let extra = format!(
        "[[middleware_stack]]\nname = \"webhook\"\nenabled = true\nurl = \"{}/uap-hook\"\nevents = [\"pre\", \"failure\"]\n\
         secret = \"hook-secret\"\ntimeout_ms = 1000\n",
        host.uri()
    );
    let (server, _dir) = start(&extra).await;
    let (status, body, _) = login(&server, json!({"username": "root", "password": "bob-password"}), None).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("Admins use SSO")));
    assert_eq!(login(&server, json!({"username": "bob", "password": "bob-password"}), None).await.0, 200);
    for request in host.received_requests().await.unwrap() {
        let body = String::from_utf8_lossy(&request.body).to_string();
        assert!(!body.contains("bob-password"), "the password never leaves UAP: {body}");
        let timestamp: i64 = request.headers["x-uap-timestamp"].to_str().unwrap().parse().unwrap();
        let signature = request.headers["x-uap-signature"].to_str().unwrap();
        assert!(uap_adapters_http::verify_signature("hook-secret", timestamp, &request.body, signature));
    }
}

#[tokio::test]
#[allow(clippy::disallowed_methods, reason = "codes are computed against the server's wall clock")]
async fn totp_enrollment_and_login() {
    let key = "0000000000000000000000000000000000000000000000000000000000000001";
    let extra = format!(
        "encryption_key = \"{key}\"\n[[middleware_stack]]\nname = \"mfa\"\nenabled = true\nissuer = \"Acme\"\n"
    );
    let (server, dir) = start(&extra).await;
    let client = reqwest::Client::new();
    let password = json!({"username": "bob", "password": "bob-password"});
    let (status, body, _) = login(&server, password.clone(), None).await;
    assert_eq!(status, 200);
    let token = body["token"].as_str().unwrap().to_owned();

    let enroll: Value = client
        .post(server.url("/api/v1/auth/mfa/totp/enroll"))
        .bearer_auth(&token)
        .json(&json!({"password": "bob-password"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let uri = enroll["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/Acme:bob%40example.com?"), "{uri}");
    let codes = Codes::of(&enroll);
    let code = |offset: i64| codes.at(offset);

    let confirm = |code: String| {
        client.post(server.url("/api/v1/auth/mfa/totp/confirm")).bearer_auth(&token).json(&json!({"code": code})).send()
    };
    assert_eq!(confirm("000000".into()).await.unwrap().status(), 401);
    assert_eq!(confirm(code(-1)).await.unwrap().status(), 200, "±1 step accepted");

    // Password alone: 401 MFA required with a ticket.
    let (status, body, _) = login(&server, password.clone(), None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "MFA required");
    assert_eq!(body["mfa_required"], true);
    let ticket = body["mfa_token"].as_str().unwrap().to_owned();
    let verify = |ticket: String, code: String| {
        client.post(server.url("/api/v1/auth/mfa/verify")).json(&json!({"mfa_token": ticket, "code": code})).send()
    };
    let response = verify(ticket.clone(), "123456".into()).await.unwrap();
    assert_eq!(response.status(), 401);
    let response = verify(ticket.clone(), code(0)).await.unwrap();
    assert_eq!(response.status(), 200);
    let session: Value = response.json().await.unwrap();
    assert!(session["token"].is_string());
    // Replay of the same code is refused.
    assert_eq!(verify(ticket, code(0)).await.unwrap().status(), 401);

    // One step with mfa_code (the next step's code: the current one is spent).
    let mut one_step = password.clone();
    one_step["mfa_code"] = json!(code(1));
    assert_eq!(login(&server, one_step, None).await.0, 200);

    // The OpenAPI document lists the MFA routes.
    let openapi: Value = client.get(server.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    for route in [
        "/api/v1/auth/mfa/verify",
        "/api/v1/auth/mfa/totp/enroll",
        "/api/v1/auth/mfa/totp/confirm",
        "/api/v1/auth/mfa/totp",
    ] {
        assert!(openapi["paths"].get(route).is_some(), "{route}");
    }
    // Middleware runs are timed and logged; the histogram is exported.
    let metrics = client.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("uap_middleware_execution_seconds_count{middleware_name=\"mfa\"}"), "{metrics}");
    assert!(server.terminate().success());
    let out = std::process::Command::new("sqlite3")
        .arg(dir.path().join("uap.db"))
        .arg("SELECT COUNT(*), MIN(middleware_name) FROM uap_middleware_logs WHERE middleware_name = 'mfa'")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.trim().ends_with("|mfa") && !text.starts_with('0'), "{text}");
    let secrets = std::process::Command::new("sqlite3")
        .arg(dir.path().join("uap.db"))
        .arg("SELECT hex(secret_ciphertext) FROM uap_mfa_factors")
        .output()
        .unwrap();
    let stored = String::from_utf8_lossy(&secrets.stdout).to_lowercase();
    assert!(!stored.contains(&hex::encode(codes.secret.as_bytes())), "the TOTP secret is encrypted at rest");
}
