//! JWT rejection cases: every one answers 401 `{valid: false}`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jws::{HS256, HS384, JwsHeader};
use josekit::jwt::{self, JwtPayload};
use serde_json::{Value, json};

use crate::support::{Backend, Host, HostUser, SECRET, TestApp, settings};

const BOB: &str = "$2y$04$bZGuP3hzkdakjw2LpcMTqe8dbQ.oYYQi/BuJ5z/CaW.j51pe8ta6i";

fn sign(claims: Value, secret: &[u8], alg384: bool) -> String {
    let mut header = JwsHeader::new();
    header.set_token_type("JWT");
    let payload = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
    if alg384 {
        jwt::encode_with_signer(&payload, &header, &HS384.signer_from_bytes(secret).unwrap()).unwrap()
    } else {
        jwt::encode_with_signer(&payload, &header, &HS256.signer_from_bytes(secret).unwrap()).unwrap()
    }
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn forged_and_expired_tokens_are_rejected() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(host) = Host::new(Backend::Sqlite).await else { return };
    host.insert(HostUser { username: "bob", password_hash: BOB, role: "user", active: true }).await;
    let app =
        TestApp::spawn(uap_server::config::Settings { jwt_audience: Some("my-app".into()), ..settings(&host.url()) })
            .await;
    let (status, login) = app.login("bob", "bob-password").await;
    assert_eq!(status, 200, "{login}");
    let good = login["token"].as_str().unwrap().to_owned();
    assert_eq!(app.validate(&good).await.0, 200);
    let claims = claims_of(&good);
    assert!(claims["aud"] == json!("my-app") || claims["aud"] == json!(["my-app"]), "{claims}");
    assert_eq!(claims["iss"], "UAP");
    for name in ["session_id", "user_id", "device_id", "exp", "iat"] {
        assert!(claims.get(name).is_some(), "claim {name} missing: {claims}");
    }

    let with = |key: &str, value: Value| {
        let mut c = claims.clone();
        if value.is_null() {
            c.as_object_mut().unwrap().remove(key);
        } else {
            c[key] = value;
        }
        c
    };
    let now = claims["iat"].as_i64().unwrap();
    // alg "none": header {"alg":"none"} and an empty signature.
    let none =
        format!("{}.{}.", URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#), good.split('.').nth(1).unwrap());
    let mut tampered = good.clone();
    tampered.pop();
    tampered.push(if good.ends_with('A') { 'B' } else { 'A' });
    let cases = [
        ("alg none", none),
        ("other alg (HS384, same secret)", sign(claims.clone(), SECRET.as_bytes(), true)),
        ("bad signature", tampered),
        ("other secret", sign(claims.clone(), b"another-secret-of-at-least-32-bytes!!!", false)),
        ("wrong iss", sign(with("iss", json!("evil")), SECRET.as_bytes(), false)),
        ("wrong aud", sign(with("aud", json!(["other-app"])), SECRET.as_bytes(), false)),
        ("no aud", sign(with("aud", Value::Null), SECRET.as_bytes(), false)),
        ("no exp", sign(with("exp", Value::Null), SECRET.as_bytes(), false)),
        (
            "unknown session",
            sign(with("session_id", json!("00000000-0000-0000-0000-000000000000")), SECRET.as_bytes(), false),
        ),
        ("other user", sign(with("user_id", json!("999")), SECRET.as_bytes(), false)),
        ("garbage", "not.a.token".to_owned()),
        ("empty segments", "..".to_owned()),
    ];
    for (name, token) in cases {
        assert_eq!(app.validate(&token).await, (401, json!({"valid": false})), "{name}");
    }
    // No bearer at all, and a non-bearer scheme.
    let response = app.client.get(app.url("/api/v1/auth/validate")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"valid": false}));
    let response = app
        .client
        .get(app.url("/api/v1/auth/validate"))
        .header("Authorization", format!("Basic {good}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // The good token still validates after all that.
    assert_eq!(app.validate(&good).await.0, 200);

    // Batch: input order, mixed results.
    let response = app
        .client
        .post(app.url("/api/v1/auth/validate/batch"))
        .json(&json!({ "tokens": ["garbage", good, "x.y.z"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let valid: Vec<bool> = body["results"].as_array().unwrap().iter().map(|r| r["valid"].as_bool().unwrap()).collect();
    assert_eq!(valid, [false, true, false]);
    assert_eq!(body["results"][1]["user_data"]["username"], "bob");

    // A well-signed token past its `exp` is refused (and its session ended).
    let expired = sign(with("exp", json!(now - 10)), SECRET.as_bytes(), false);
    assert_eq!(app.validate(&expired).await, (401, json!({"valid": false})));

    app.stop().await;
}
