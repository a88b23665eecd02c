//! Unit tests of the answer mapping, request bodies and redaction.

use secrecy::ExposeSecret as _;

use super::*;

fn classify_json(status: u16, body: &str, on_401: On401) -> Result<Map<String, Value>> {
    classify(status, None, body.as_bytes(), on_401)
}

#[test]
fn every_status_maps_to_its_typed_error() {
    assert!(classify_json(200, r#"{"valid":true}"#, On401::Token).is_ok());
    assert!(matches!(
        classify_json(401, r#"{"success":false,"error":"Invalid credentials"}"#, On401::Credentials),
        Err(Error::InvalidCredentials(message)) if message == "Invalid credentials"
    ));
    assert!(matches!(classify_json(401, r#"{"valid":false}"#, On401::Token), Err(Error::Unauthorized(_))));
    match classify_json(
        401,
        r#"{"success":false,"error":"MFA required","mfa_required":true,"mfa_token":"t1"}"#,
        On401::Credentials,
    ) {
        Err(Error::MfaRequired { mfa_token }) => assert_eq!(mfa_token.expose_secret(), "t1"),
        other => panic!("{other:?}"),
    }
    match classify_json(
        401,
        r#"{"success":false,"error":"MFA enrollment required","mfa_enrollment_required":true,"enrollment_token":"e1"}"#,
        On401::Credentials,
    ) {
        Err(Error::MfaEnrollmentRequired { enrollment_token }) => assert_eq!(enrollment_token.expose_secret(), "e1"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        classify_json(403, r#"{"success":false,"error":"CAPTCHA failed"}"#, On401::Credentials),
        Err(Error::Forbidden(message)) if message == "CAPTCHA failed"
    ));
    assert!(matches!(
        classify_json(429, r#"{"success":false,"error":"slow down","retry_after":42}"#, On401::Credentials),
        Err(Error::RateLimited { retry_after: 42 })
    ));
    assert!(matches!(
        classify(429, Some(7), br#"{"success":false,"error":"slow down"}"#, On401::Credentials),
        Err(Error::RateLimited { retry_after: 7 })
    ));
    for status in [400, 404, 413, 415, 422] {
        assert!(matches!(
            classify_json(status, r#"{"error":"bad field x"}"#, On401::Token),
            Err(Error::BadRequest { status: s, message }) if s == status && message == "bad field x"
        ));
    }
    for status in [500, 502, 503, 504] {
        let err = classify_json(status, r#"{"error":"database down"}"#, On401::Token).unwrap_err();
        assert!(err.is_unavailable(), "{status}");
        assert!(
            matches!(err, Error::Unavailable { status: s, ref message } if s == status && message == "database down")
        );
    }
    // A 5xx from a proxy without JSON is still "unavailable", never "not logged in".
    assert!(classify(502, None, b"<html>Bad Gateway</html>", On401::Token).unwrap_err().is_unavailable());
    let html = classify(200, None, b"<html>", On401::Token).unwrap_err();
    assert!(matches!(html, Error::UnexpectedResponse(_)) && html.is_unavailable());
    assert!(matches!(classify_json(302, "{}", On401::Token), Err(Error::UnexpectedResponse(_))));
}

#[test]
fn secrets_stay_out_of_debug() {
    let err =
        classify_json(401, r#"{"mfa_required":true,"mfa_token":"ticket-secret"}"#, On401::Credentials).unwrap_err();
    assert!(!format!("{err:?} {err}").contains("ticket-secret"));
    let request = AuthenticateRequest::username("alice", "pw-secret").with_mfa_code("123456");
    let debug = format!("{request:?}");
    assert!(!debug.contains("pw-secret") && !debug.contains("123456"), "{debug}");
    let body = serde_json::to_value(&request).unwrap();
    assert_eq!(body, json!({"username": "alice", "password": "pw-secret", "mfa_code": "123456"}));
    let session: Session = serde_json::from_value(json!({
        "success": true, "token": "tok-secret", "session_id": "s", "expires_at": "2026-01-01T00:00:00.123456789Z",
        "refresh_token": "refresh-secret"
    }))
    .unwrap();
    let debug = format!("{session:?}");
    assert!(!debug.contains("tok-secret") && !debug.contains("refresh-secret"), "{debug}");
}

#[test]
fn malformed_tokens_are_refused_before_any_request() {
    for token in ["", "a b", "tok\u{e9}n", "tab\there"] {
        assert!(matches!(check_token(token), Err(Error::Unauthorized(_))), "{token:?}");
    }
    assert_eq!(check_token("a.b.c").unwrap(), "a.b.c");
}

#[test]
fn base_urls_must_be_http() {
    assert!(matches!(UapClient::new("ftp://x"), Err(Error::Config(_))));
    assert!(matches!(UapClient::new("localhost:8000"), Err(Error::Config(_))));
    assert_eq!(UapClient::new("http://127.0.0.1:1/").unwrap().base_url(), "http://127.0.0.1:1");
}
