//! MFA hardening through the real binary (issue #9, items 8 and 11): a user
//! of `required_roles` without a factor gets an enrollment token, not a
//! session; enrolling needs the current password; the `mfa_token` is opaque,
//! tamper-proof and purpose-bound.

use serde_json::{Value, json};

use crate::support::{Codes, Server, TempDir, audit_count, serve_sqlite};

/// bcrypt `$2y$` cost 4 of "bob-password" (PHP 8 password_hash).
const BOB: &str = "$2y$04$bZGuP3hzkdakjw2LpcMTqe8dbQ.oYYQi/BuJ5z/CaW.j51pe8ta6i";
const KEY: &str = "0000000000000000000000000000000000000000000000000000000000000001";

/// `bob` (role `user`) and `root` (role `admin`), both with "bob-password";
/// the `mfa` middleware with `required_roles`.
async fn start(required_roles: &str) -> (Server, TempDir) {
    serve_sqlite(
        &format!(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT UNIQUE, email TEXT, password TEXT, role TEXT);
             INSERT INTO users (username, email, password, role) VALUES ('bob', 'bob@example.com', '{BOB}', 'user');
             INSERT INTO users (username, email, password, role) VALUES ('root', 'root@example.com', '{BOB}', 'admin');"
        ),
        &format!(
            "bcrypt_cost = 4\nencryption_key = \"{KEY}\"\n\
             [[middleware_stack]]\nname = \"mfa\"\nenabled = true\nissuer = \"Acme\"\nrequired_roles = {required_roles}\n"
        ),
    )
    .await
}

async fn post(server: &Server, route: &str, bearer: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = reqwest::Client::new().post(server.url(route)).json(&body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The status of a request with `token` as Bearer.
async fn status_with(server: &Server, method: reqwest::Method, route: &str, token: &str, body: Value) -> u16 {
    let request = reqwest::Client::new().request(method, server.url(route)).bearer_auth(token).json(&body);
    request.send().await.unwrap().status().as_u16()
}

/// Whether `GET /validate` accepts `token` as a session.
async fn validates(server: &Server, token: &str) -> bool {
    let response =
        reqwest::Client::new().get(server.url("/api/v1/auth/validate")).bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status == 200, body["valid"] == json!(true), "{status} {body}");
    status == 200
}

async fn login(server: &Server, user: &str) -> (u16, Value) {
    post(server, "/api/v1/auth/authenticate", None, json!({"username": user, "password": "bob-password"})).await
}

/// Every base64url segment of a token, decoded and joined (a JWT's header
/// and payload included), as text.
fn decoded(token: &str) -> String {
    let bytes: Vec<u8> = token
        .split('.')
        .filter_map(|part| data_encoding::BASE64URL_NOPAD.decode(part.trim_end_matches('=').as_bytes()).ok())
        .flatten()
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Flips one character in the middle of a token.
fn tampered(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let middle = chars.len() / 2;
    chars[middle] = if chars[middle] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[tokio::test]
async fn the_mfa_token_is_opaque_and_tamper_proof() {
    let (server, _dir) = start("[]").await;
    let (status, session) = login(&server, "bob").await;
    assert_eq!(status, 200);
    let bearer = session["token"].as_str().unwrap().to_owned();
    let (status, enroll) =
        post(&server, "/api/v1/auth/mfa/totp/enroll", Some(&bearer), json!({"password": "bob-password"})).await;
    assert_eq!(status, 200, "{enroll}");
    let codes = Codes::of(&enroll);
    let (status, _) =
        post(&server, "/api/v1/auth/mfa/totp/confirm", Some(&bearer), json!({"code": codes.at(-1)})).await;
    assert_eq!(status, 200);

    let (status, challenge) = login(&server, "bob").await;
    assert_eq!((status, &challenge["mfa_required"]), (401, &json!(true)), "{challenge}");
    let mfa_token = challenge["mfa_token"].as_str().unwrap().to_owned();
    assert_ne!(mfa_token.split('.').count(), 3, "not a JWT: {mfa_token}");
    let readable = decoded(&mfa_token);
    for clear in ["user_data", "roles", "bob@example.com", "\"user\"", "\"bob\""] {
        assert!(!readable.contains(clear), "{clear} is readable in the mfa_token: {readable}");
    }

    // Altered: refused, and the original still completes the login once.
    let server = &server;
    let verify = |token: String, code: String| async move {
        post(server, "/api/v1/auth/mfa/verify", None, json!({"mfa_token": token, "code": code})).await
    };
    let (status, body) = verify(tampered(&mfa_token), codes.at(0)).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = verify(mfa_token.clone(), codes.at(0)).await;
    assert_eq!(status, 200, "{body}");
    assert!(validates(server, body["token"].as_str().unwrap()).await, "{body}");
    // Spent: the same ticket with the next code is refused.
    assert_eq!(verify(mfa_token, codes.at(1)).await.0, 401);
}

#[tokio::test]
async fn a_required_role_without_a_factor_gets_an_enrollment_token_not_a_session() {
    let (server, dir) = start("[\"admin\"]").await;
    let (status, body) = login(&server, "root").await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["success"], false);
    assert_eq!(body["error"], "MFA enrollment required");
    assert_eq!(body["mfa_enrollment_required"], true);
    assert!(body.get("token").is_none() && body.get("mfa_token").is_none(), "no session: {body}");
    let enrollment = body["enrollment_token"].as_str().unwrap().to_owned();
    assert!(!decoded(&enrollment).contains("root@example.com"), "opaque");

    // It is not a session token.
    assert!(!validates(&server, &enrollment).await);
    use reqwest::Method;
    for (method, route) in [
        (Method::POST, "/api/v1/auth/refresh"),
        (Method::GET, "/api/v1/auth/sessions"),
        (Method::POST, "/api/v1/auth/logout"),
        (Method::POST, "/api/v1/auth/logout-all"),
    ] {
        assert_eq!(status_with(&server, method, route, &enrollment, json!({})).await, 401, "{route}");
    }
    let batch = post(&server, "/api/v1/auth/validate/batch", None, json!({"tokens": [enrollment]})).await;
    assert_eq!(batch.1["results"][0]["valid"], false, "{batch:?}");
    assert_eq!(
        status_with(&server, Method::DELETE, "/api/v1/auth/mfa/totp", &enrollment, json!({"code": "123456"})).await,
        401
    );
    // Nor an mfa_token.
    let (status, _) =
        post(&server, "/api/v1/auth/mfa/verify", None, json!({"mfa_token": enrollment, "code": "123456"})).await;
    assert_eq!(status, 401);

    // Enroll: the password is required and checked.
    let enroll_route = "/api/v1/auth/mfa/totp/enroll";
    let (status, body) = post(&server, enroll_route, Some(&enrollment), json!({})).await;
    assert!(status == 400 || status == 422, "missing password: {status} {body}");
    let (status, body) = post(&server, enroll_route, Some(&enrollment), json!({"password": "guess"})).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("Invalid credentials")));
    let (status, _) =
        post(&server, enroll_route, Some(&tampered(&enrollment)), json!({"password": "bob-password"})).await;
    assert_eq!(status, 401, "altered enrollment token");
    let (status, enroll) = post(&server, enroll_route, Some(&enrollment), json!({"password": "bob-password"})).await;
    assert_eq!(status, 200, "{enroll}");
    assert!(enroll["otpauth_uri"].as_str().unwrap().starts_with("otpauth://totp/Acme:root%40example.com?"));
    let codes = Codes::of(&enroll);

    // Confirm with the enrollment token (in the body): the factor is active
    // and the login completes.
    let confirm = "/api/v1/auth/mfa/totp/confirm";
    let (status, _) = post(&server, confirm, None, json!({"code": "000000", "enrollment_token": enrollment})).await;
    assert_eq!(status, 401);
    let (status, session) =
        post(&server, confirm, None, json!({"code": codes.at(-1), "enrollment_token": enrollment})).await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["success"], true);
    assert_eq!(session["user_data"]["email"], "root@example.com");
    let token = session["token"].as_str().unwrap().to_owned();
    assert!(validates(&server, &token).await);
    // Spent.
    let (status, _) = post(&server, confirm, Some(&enrollment), json!({"code": codes.at(0)})).await;
    assert_eq!(status, 401);

    // The next login asks for the code; its mfa_token opens no enrollment.
    let (status, challenge) = login(&server, "root").await;
    assert_eq!((status, &challenge["mfa_required"]), (401, &json!(true)), "{challenge}");
    let mfa_token = challenge["mfa_token"].as_str().unwrap().to_owned();
    let (status, _) = post(&server, enroll_route, Some(&mfa_token), json!({"password": "bob-password"})).await;
    assert_eq!(status, 401, "an mfa_token is no enrollment token");
    let body = json!({"password": "bob-password", "enrollment_token": mfa_token});
    assert_eq!(post(&server, enroll_route, None, body).await.0, 401);

    // Disabling needs the session and a current code; it is audited.
    let remove = "/api/v1/auth/mfa/totp";
    assert_eq!(status_with(&server, Method::DELETE, remove, &token, json!({"code": "000000"})).await, 401);
    assert_eq!(status_with(&server, Method::DELETE, remove, &token, json!({"code": codes.at(0)})).await, 200);
    // Without a factor again, the spent enrollment token still cannot enroll.
    let (status, body) = post(&server, enroll_route, Some(&enrollment), json!({"password": "bob-password"})).await;
    assert_eq!(status, 401, "spent: {body}");

    assert!(server.terminate().success());
    // root is user 2.
    let wrong = "event_type = 'FAILED_LOGIN' AND error_message = 'mfa_enroll_wrong_password' AND user_id = '2'";
    assert_eq!(audit_count(&dir, wrong).await, 1);
    assert_eq!(
        audit_count(&dir, "event_type = 'MFA_ENROLLED' AND success AND user_id = '2'").await,
        2,
        "started, confirmed"
    );
    assert_eq!(audit_count(&dir, "event_type = 'MFA_DISABLED' AND success AND user_id = '2'").await, 1);
    assert_eq!(
        audit_count(&dir, "event_type = 'MFA_DISABLED' AND NOT success AND error_message = 'invalid_code'").await,
        1
    );
    assert_eq!(audit_count(&dir, "event_type = 'LOGIN' AND user_id = '2'").await, 1, "only the confirmed login");
}

#[tokio::test]
async fn a_stolen_session_token_cannot_enroll_without_the_password() {
    let (server, _dir) = start("[\"admin\"]").await;
    // bob is not in required_roles: a session as before.
    let (status, session) = login(&server, "bob").await;
    assert_eq!(status, 200, "{session}");
    let stolen = session["token"].as_str().unwrap().to_owned();
    let enroll = |password: &'static str| {
        let stolen = stolen.clone();
        let server = &server;
        async move { post(server, "/api/v1/auth/mfa/totp/enroll", Some(&stolen), json!({"password": password})).await.0 }
    };
    assert_eq!(enroll("guess").await, 401);
    assert_eq!(enroll("bob-password").await, 200, "the owner, with the password");
    // Guesses are limited (max_attempts = 5 per user, every enroll counts):
    // after that even the right password is refused.
    for _ in 0..3 {
        assert_eq!(enroll("guess").await, 401);
    }
    assert_eq!(enroll("bob-password").await, 429);
}
