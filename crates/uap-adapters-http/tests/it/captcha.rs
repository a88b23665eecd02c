//! `HttpCaptchaVerifier` against wiremock standing in for each provider.

use std::time::Duration;

use serde_json::json;
use uap_adapters_http::{BuildError, CaptchaProvider, HttpCaptchaVerifier};
use uap_ports::{CaptchaError, CaptchaVerdict, CaptchaVerifier};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::support::{init, refused_url};

const SECRET: &str = "s3cret-key";
const TIMEOUT: Duration = Duration::from_secs(5);

/// A verifier for `provider` pointed at `server`'s `/siteverify`.
fn verifier(provider: CaptchaProvider, server: &MockServer, timeout: Duration) -> HttpCaptchaVerifier {
    init();
    HttpCaptchaVerifier::new(provider, SECRET.to_owned(), Some(format!("{}/siteverify", server.uri())), timeout)
        .unwrap()
}

/// Mounts a provider that expects exactly one form POST carrying `token` and
/// the secret, and answers `answer`.
async fn provider_answering(token: &str, answer: serde_json::Value) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/siteverify"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string_contains(format!("response={token}")))
        .and(body_string_contains(format!("secret={SECRET}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer))
        .expect(1)
        .mount(&server)
        .await;
    server
}

async fn check(provider: CaptchaProvider, token: &str, answer: serde_json::Value) -> CaptchaVerdict {
    let server = provider_answering(token, answer).await;
    verifier(provider, &server, TIMEOUT).verify(token, Some("203.0.113.7")).await.unwrap()
}

#[tokio::test]
async fn recaptcha_v2_success() {
    let answer = json!({"success": true, "challenge_ts": "2026-01-01T00:00:00Z", "hostname": "example.com"});
    let verdict = check(CaptchaProvider::Recaptcha, "tok-v2", answer).await;
    assert_eq!(verdict, CaptchaVerdict { success: true, score: None, error_codes: vec![] });
}

#[tokio::test]
async fn recaptcha_v2_failure_propagates_error_codes() {
    let answer = json!({"success": false, "error-codes": ["invalid-input-response", "timeout-or-duplicate"]});
    let verdict = check(CaptchaProvider::Recaptcha, "tok-bad", answer).await;
    assert!(!verdict.success);
    assert_eq!(verdict.error_codes, ["invalid-input-response", "timeout-or-duplicate"]);
}

#[tokio::test]
async fn recaptcha_v3_reports_the_score_without_applying_a_threshold() {
    let answer = json!({"success": true, "score": 0.3, "action": "login", "hostname": "example.com"});
    let verdict = check(CaptchaProvider::Recaptcha, "tok-v3", answer).await;
    assert!(verdict.success, "a low score is the middleware's business");
    assert_eq!(verdict.score, Some(0.3));
}

#[tokio::test]
async fn hcaptcha_success_does_not_report_its_risk_score() {
    let answer = json!({"success": true, "hostname": "example.com", "credit": false, "score": 0.9, "score_reason": []});
    let verdict = check(CaptchaProvider::Hcaptcha, "tok-h", answer).await;
    assert_eq!(verdict, CaptchaVerdict { success: true, score: None, error_codes: vec![] });
}

#[tokio::test]
async fn hcaptcha_failure_propagates_error_codes() {
    let answer = json!({"success": false, "error-codes": ["invalid-or-already-seen-response"]});
    let verdict = check(CaptchaProvider::Hcaptcha, "tok-h-bad", answer).await;
    assert!(!verdict.success);
    assert_eq!(verdict.error_codes, ["invalid-or-already-seen-response"]);
}

#[tokio::test]
async fn turnstile_success() {
    let answer = json!({"success": true, "error-codes": [], "challenge_ts": "2026-01-01T00:00:00.000Z",
        "hostname": "example.com", "action": "login", "cdata": ""});
    let verdict = check(CaptchaProvider::Turnstile, "tok-t", answer).await;
    assert_eq!(verdict, CaptchaVerdict { success: true, score: None, error_codes: vec![] });
}

#[tokio::test]
async fn turnstile_failure_propagates_error_codes() {
    let answer = json!({"success": false, "error-codes": ["timeout-or-duplicate"], "messages": []});
    let verdict = check(CaptchaProvider::Turnstile, "tok-t-bad", answer).await;
    assert!(!verdict.success);
    assert_eq!(verdict.error_codes, ["timeout-or-duplicate"]);
}

#[tokio::test]
async fn sends_remoteip_only_when_known_and_encodes_the_form() {
    init();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string_contains("response=a%2Bb%2Fc%3D%26x"))
        .and(body_string_contains("remoteip=2001%3Adb8%3A%3A1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("response=no-ip"))
        .and(|request: &Request| !String::from_utf8_lossy(&request.body).contains("remoteip"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"success": true})))
        .expect(1)
        .mount(&server)
        .await;
    let verifier = verifier(CaptchaProvider::Recaptcha, &server, TIMEOUT);

    assert!(verifier.verify("a+b/c=&x", Some("2001:db8::1")).await.unwrap().success);
    assert!(verifier.verify("no-ip", None).await.unwrap().success);
}

async fn unavailable(template: ResponseTemplate, timeout: Duration) -> String {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(template).mount(&server).await;
    match verifier(CaptchaProvider::Hcaptcha, &server, timeout).verify("tok", None).await {
        Err(CaptchaError::Unavailable(message)) => message,
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn provider_500_is_unavailable() {
    let message = unavailable(ResponseTemplate::new(500).set_body_string("oops"), TIMEOUT).await;
    assert!(message.contains("500"), "{message}");
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let template = ResponseTemplate::new(302).insert_header("location", "http://127.0.0.1:9/elsewhere");
    let message = unavailable(template, TIMEOUT).await;
    assert!(message.contains("302"), "{message}");
}

#[tokio::test]
async fn a_provider_slower_than_the_timeout_is_unavailable() {
    let template = ResponseTemplate::new(200).set_body_json(json!({"success": true})).set_delay(Duration::from_secs(3));
    let message = unavailable(template, Duration::from_millis(200)).await;
    assert!(message.contains("200 ms"), "{message}");
}

#[tokio::test]
async fn connection_refused_is_unavailable() {
    init();
    let verifier =
        HttpCaptchaVerifier::new(CaptchaProvider::Turnstile, SECRET.to_owned(), Some(refused_url()), TIMEOUT).unwrap();
    match verifier.verify("tok", None).await {
        Err(CaptchaError::Unavailable(message)) => assert!(!message.contains(SECRET), "{message}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

async fn bad_response(template: ResponseTemplate) -> String {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(template).mount(&server).await;
    match verifier(CaptchaProvider::Recaptcha, &server, TIMEOUT).verify("tok", None).await {
        Err(CaptchaError::BadResponse(message)) => message,
        other => panic!("expected BadResponse, got {other:?}"),
    }
}

#[tokio::test]
async fn garbage_json_is_a_bad_response() {
    let message = bad_response(ResponseTemplate::new(200).set_body_string("<html>not json</html>")).await;
    assert!(message.contains("not json"), "{message}");
}

#[tokio::test]
async fn an_answer_without_success_is_a_bad_response() {
    bad_response(ResponseTemplate::new(200).set_body_json(json!({"score": 0.9}))).await;
}

#[tokio::test]
async fn an_oversized_answer_is_a_bad_response() {
    let huge = format!(r#"{{"success": true, "hostname": "{}"}}"#, "x".repeat(100 * 1024));
    let message = bad_response(ResponseTemplate::new(200).set_body_string(huge)).await;
    assert!(message.contains("64 KiB"), "{message}");
}

#[test]
fn construction_rejects_bad_configuration() {
    let new = |secret: &str, url: Option<&str>, timeout| {
        HttpCaptchaVerifier::new(CaptchaProvider::Recaptcha, secret.to_owned(), url.map(str::to_owned), timeout)
    };
    assert!(matches!(new("", None, TIMEOUT), Err(BuildError::EmptySecret)));
    assert!(matches!(new(SECRET, None, Duration::ZERO), Err(BuildError::ZeroTimeout)));
    assert!(matches!(new(SECRET, Some("not a url"), TIMEOUT), Err(BuildError::InvalidUrl { .. })));
    assert!(matches!(new(SECRET, Some("ftp://example.com/verify"), TIMEOUT), Err(BuildError::InvalidUrl { .. })));
}

#[test]
fn providers_have_config_names_and_default_urls() {
    for (provider, name, url) in [
        (CaptchaProvider::Recaptcha, "recaptcha", "https://www.google.com/recaptcha/api/siteverify"),
        (CaptchaProvider::Hcaptcha, "hcaptcha", "https://api.hcaptcha.com/siteverify"),
        (CaptchaProvider::Turnstile, "turnstile", "https://challenges.cloudflare.com/turnstile/v0/siteverify"),
    ] {
        assert_eq!(serde_json::from_value::<CaptchaProvider>(json!(name)).unwrap(), provider);
        assert_eq!(serde_json::to_value(provider).unwrap(), json!(name));
        assert_eq!(provider.to_string(), name);
        assert_eq!(provider.default_verify_url(), url);
    }
    assert!(serde_json::from_value::<CaptchaProvider>(json!("Recaptcha")).is_err());
}

#[test]
fn debug_hides_the_secret() {
    init();
    let verifier = HttpCaptchaVerifier::new(CaptchaProvider::Hcaptcha, SECRET.to_owned(), None, TIMEOUT).unwrap();
    let debug = format!("{verifier:?}");
    assert!(!debug.contains(SECRET), "{debug}");
    assert!(debug.contains("***") && debug.contains("api.hcaptcha.com"), "{debug}");
}
