//! `UapClient` against wiremock: what each method sends and how it reads
//! each answer.

use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};
use serde_json::json;
use uap_client::{AuthenticateRequest, Error, UapClient};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn session_body() -> serde_json::Value {
    json!({"success": true, "token": "t.o.k", "session_id": "s1", "expires_at": "2026-12-03T10:00:00.123456789Z",
           "user_data": {"id": 7, "username": "alice", "roles": ["admin"]},
           "refresh_token": "r1", "refresh_expires_at": "2027-01-02T10:00:00Z"})
}

async fn client(server: &MockServer) -> UapClient {
    UapClient::builder(server.uri()).timeout(Duration::from_secs(5)).user_agent("tests/1").build().unwrap()
}

#[tokio::test]
async fn authenticate_sends_the_identifier_and_password_and_reads_the_session() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/auth/authenticate"))
        .and(header("user-agent", "tests/1"))
        .and(body_json(json!({"email": "a@x.io", "password": "pw", "device_id": "d1", "metadata": {"app": "web"},
                               "captcha_token": "c1"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(session_body()))
        .expect(1)
        .mount(&server)
        .await;
    let request = AuthenticateRequest::email("a@x.io", "pw")
        .with_device_id("d1")
        .with_metadata(json!({"app": "web"}))
        .with_captcha_token("c1");
    let session = client(&server).await.authenticate(&request).await.unwrap();
    assert_eq!(session.token.expose_secret(), "t.o.k");
    assert_eq!(session.session_id, "s1");
    assert_eq!(session.expires_at.unix_timestamp(), 1_796_292_000);
    assert_eq!(session.roles(), vec!["admin".to_owned()]);
    assert_eq!(session.refresh_token.as_ref().map(|t| t.expose_secret().to_owned()), Some("r1".into()));
}

#[tokio::test]
async fn login_failures_are_typed() {
    let server = MockServer::start().await;
    let cases = [
        (401, json!({"success": false, "error": "Invalid credentials"})),
        (401, json!({"success": false, "error": "MFA required", "mfa_required": true, "mfa_token": "m1"})),
        (
            401,
            json!({"success": false, "error": "MFA enrollment required", "mfa_enrollment_required": true, "enrollment_token": "e1"}),
        ),
        (403, json!({"success": false, "error": "CAPTCHA verification failed"})),
        (429, json!({"success": false, "error": "Too many attempts", "retry_after": 30})),
        (422, json!({"error": "username: too long"})),
        (503, json!({"error": "host database unavailable"})),
        (200, json!({"success": false, "shadow": true, "would_accept": true})),
    ];
    let client = client(&server).await;
    let mut errors = Vec::new();
    for (status, body) in cases {
        server.reset().await;
        Mock::given(path("/api/v1/auth/authenticate"))
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
            .mount(&server)
            .await;
        errors.push(client.authenticate(&AuthenticateRequest::username("alice", "pw")).await.unwrap_err());
    }
    assert!(matches!(&errors[0], Error::InvalidCredentials(m) if m == "Invalid credentials"));
    assert!(matches!(&errors[1], Error::MfaRequired { mfa_token } if mfa_token.expose_secret() == "m1"));
    assert!(
        matches!(&errors[2], Error::MfaEnrollmentRequired { enrollment_token } if enrollment_token.expose_secret() == "e1")
    );
    assert!(matches!(&errors[3], Error::Forbidden(m) if m == "CAPTCHA verification failed"));
    assert!(matches!(&errors[4], Error::RateLimited { retry_after: 30 }));
    assert!(matches!(&errors[5], Error::BadRequest { status: 422, message } if message == "username: too long"));
    assert!(matches!(&errors[6], Error::Unavailable { status: 503, .. }) && errors[6].is_unavailable());
    assert!(matches!(&errors[7], Error::Shadow { would_accept: true }));
    assert!(!errors[..6].iter().any(Error::is_unavailable));
}

#[tokio::test]
async fn mfa_verify_posts_the_ticket_and_code() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/auth/mfa/verify"))
        .and(body_json(json!({"mfa_token": "m1", "code": "123456"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(session_body()))
        .expect(1)
        .mount(&server)
        .await;
    let session = client(&server).await.mfa_verify(&SecretString::from("m1"), "123456").await.unwrap();
    assert_eq!(session.session_id, "s1");
}

#[tokio::test]
async fn validate_reads_the_user_and_maps_401_and_503() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/auth/validate"))
        .and(header("authorization", "Bearer good"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "valid": true, "session_id": "s1", "user_id": "7", "expires_at": "2026-12-03T10:00:00Z",
            "user_data": {"id": 7, "role": "editor"}})))
        .mount(&server)
        .await;
    Mock::given(path("/api/v1/auth/validate"))
        .and(header("authorization", "Bearer down"))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({"error": "session store unavailable"})))
        .mount(&server)
        .await;
    Mock::given(path("/api/v1/auth/validate"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"valid": false})))
        .mount(&server)
        .await;
    let client = client(&server).await;
    let user = client.validate("good").await.unwrap();
    assert_eq!((user.user_id.as_str(), user.session_id.as_str()), ("7", "s1"));
    assert_eq!(user.roles, vec!["editor".to_owned()]);
    assert!(user.has_role("editor") && !user.has_role("admin"));
    assert!(matches!(client.validate("bad").await, Err(Error::Unauthorized(_))));
    let down = client.validate("down").await.unwrap_err();
    assert!(down.is_unavailable(), "{down:?}");
    // Not even sent: a token that cannot be a header value.
    assert!(matches!(client.validate("not a token").await, Err(Error::Unauthorized(_))));
}

#[tokio::test]
async fn validate_batch_keeps_the_order() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/auth/validate/batch"))
        .and(body_json(json!({"tokens": ["a", "b"]})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"results": [
            {"valid": false},
            {"valid": true, "session_id": "s2", "user_id": "u2", "user_data": {"roles": ["x"]}, "expires_at": "2026-12-03T10:00:00Z"}
        ]})))
        .mount(&server)
        .await;
    let results = client(&server).await.validate_batch(&["a", "b"]).await.unwrap();
    assert!(results[0].is_none());
    assert_eq!(results[1].as_ref().map(|u| u.user_id.as_str()), Some("u2"));
}

#[tokio::test]
async fn refresh_by_token_or_refresh_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/auth/refresh"))
        .and(header("authorization", "Bearer old"))
        .respond_with(ResponseTemplate::new(200).set_body_json(session_body()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/auth/refresh"))
        .and(body_json(json!({"refresh_token": "r0"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(session_body()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/auth/refresh"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"success": false, "error": "Refresh token reused"})),
        )
        .mount(&server)
        .await;
    let client = client(&server).await;
    assert_eq!(client.refresh("old").await.unwrap().session_id, "s1");
    assert_eq!(client.refresh_with_refresh_token(&SecretString::from("r0")).await.unwrap().session_id, "s1");
    assert!(matches!(
        client.refresh_with_refresh_token(&SecretString::from("spent")).await,
        Err(Error::Unauthorized(m)) if m == "Refresh token reused"
    ));
}

#[tokio::test]
async fn logout_logout_all_and_sessions() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/auth/logout"))
        .and(header("authorization", "Bearer live"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"success": true, "message": "Logged out successfully"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/auth/logout"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"success": false, "message": "Session not found"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/auth/logout-all"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true, "ended": 3})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/auth/sessions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"sessions": [{
            "session_id": "s1", "device_id": null, "created_at": "2026-12-03T09:00:00Z", "last_activity": "2026-12-03T09:30:00Z",
            "expires_at": "2026-12-03T10:00:00Z", "ip_address": "127.0.0.1", "user_agent": "curl", "current": true}]})))
        .mount(&server)
        .await;
    let client = client(&server).await;
    assert!(client.logout("live").await.unwrap());
    assert!(!client.logout("gone").await.unwrap());
    assert_eq!(client.logout_all("live").await.unwrap(), 3);
    let sessions = client.sessions("live").await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert!(sessions[0].current);
    assert_eq!(sessions[0].ip_address.as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn totp_enroll_confirm_and_disable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/auth/mfa/totp/enroll"))
        .and(header("authorization", "Bearer t"))
        .and(body_json(json!({"password": "pw"})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"secret": "JBSWY3DP", "otpauth_uri": "otpauth://totp/x?secret=JBSWY3DP"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/auth/mfa/totp/confirm"))
        .and(header("authorization", "Bearer t"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/auth/mfa/totp/confirm"))
        .and(header("authorization", "Bearer enrollment"))
        .respond_with(ResponseTemplate::new(200).set_body_json(session_body()))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/api/v1/auth/mfa/totp"))
        .and(body_json(json!({"code": "654321"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .mount(&server)
        .await;
    let client = client(&server).await;
    let enrollment = client.totp_enroll("t", &SecretString::from("pw")).await.unwrap();
    assert_eq!(enrollment.secret.expose_secret(), "JBSWY3DP");
    assert!(!format!("{enrollment:?}").contains("JBSWY3DP"));
    assert!(client.totp_confirm("t", "123456").await.unwrap().is_none());
    assert_eq!(client.totp_confirm("enrollment", "123456").await.unwrap().map(|s| s.session_id), Some("s1".into()));
    client.totp_disable("t", "654321").await.unwrap();
}

#[tokio::test]
async fn health_reads_a_503_with_the_health_shape_as_an_answer() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/config/health"))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({
            "status": "unhealthy", "components": {"database": "unhealthy"}, "timestamp": "2026-12-03T10:00:00Z"})))
        .mount(&server)
        .await;
    Mock::given(path("/.well-known/jwks.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"keys": []})))
        .mount(&server)
        .await;
    let client = client(&server).await;
    let health = client.health().await.unwrap();
    assert!(!health.is_healthy());
    assert_eq!(health.components["database"], "unhealthy");
    assert_eq!(client.jwks().await.unwrap(), json!({"keys": []}));
}

#[tokio::test]
async fn no_answer_is_a_transport_error_never_unauthorized() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let client = UapClient::new(format!("http://127.0.0.1:{port}")).unwrap();
    let err = client.validate("a.b.c").await.unwrap_err();
    assert!(matches!(err, Error::Transport(_)) && err.is_unavailable(), "{err:?}");
}
