//! `HttpWebhookClient` against wiremock standing in for a host's webhook.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use time::OffsetDateTime;
use uap_adapters_http::HttpWebhookClient;
use uap_ports::{Clock, SystemClock, WebhookAction, WebhookCall, WebhookClient, WebhookError};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

use crate::support::{init, refused_url};

const SECRET: &str = "whsec_host";
const NOW: i64 = 1_700_000_000;
const TIMEOUT: Duration = Duration::from_secs(5);

struct FixedClock(OffsetDateTime);

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        self.0
    }
}

fn client() -> HttpWebhookClient {
    init();
    HttpWebhookClient::with_clock(Arc::new(FixedClock(OffsetDateTime::from_unix_timestamp(NOW).unwrap()))).unwrap()
}

fn payload() -> Value {
    json!({"event": "pre", "username": "alice", "client_ip": "203.0.113.7", "metadata": {"device": "ios"}})
}

fn call<'a>(url: &'a str, body: &'a Value, secret: Option<&'a str>) -> WebhookCall<'a> {
    WebhookCall { url, body, secret, timeout: TIMEOUT }
}

/// Matches when `X-UAP-Signature` is `sha256=<hex HMAC-SHA256(secret, "<X-UAP-Timestamp>.<raw body>")>`
/// and the timestamp lies within `window` of `around`. Computed here with the
/// hmac crate, independently of the adapter's `sign`.
struct SignatureMatches {
    secret: &'static str,
    around: i64,
    window: i64,
}

impl Match for SignatureMatches {
    fn matches(&self, request: &Request) -> bool {
        let text = |name: &str| request.headers.get(name).and_then(|value| value.to_str().ok());
        let (Some(timestamp), Some(signature)) = (text("x-uap-timestamp"), text("x-uap-signature")) else {
            return false;
        };
        let Ok(seconds) = timestamp.parse::<i64>() else { return false };
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.as_bytes()).unwrap();
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(&request.body);
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        signature == expected && (seconds - self.around).abs() <= self.window
    }
}

/// A host that expects one signed POST of `payload()` and answers `answer`.
async fn host_answering(answer: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .and(header("content-type", "application/json"))
        .and(header("user-agent", concat!("uap-webhook/", env!("CARGO_PKG_VERSION"))))
        .and(header("x-uap-timestamp", NOW.to_string().as_str()))
        .and(SignatureMatches { secret: SECRET, around: NOW, window: 0 })
        .and(body_json(payload()))
        .respond_with(answer)
        .expect(1)
        .mount(&server)
        .await;
    server
}

async fn decision(answer: ResponseTemplate) -> Result<WebhookAction, WebhookError> {
    let server = host_answering(answer).await;
    let url = format!("{}/hook", server.uri());
    client().call(call(&url, &payload(), Some(SECRET))).await
}

#[tokio::test]
async fn continue_is_read_from_a_signed_call() {
    let answer = ResponseTemplate::new(200).set_body_json(json!({"action": "continue", "note": "ignored"}));
    assert_eq!(decision(answer).await.unwrap(), WebhookAction::Continue);
}

#[tokio::test]
async fn block_carries_the_hosts_error() {
    let answer =
        ResponseTemplate::new(200).set_body_json(json!({"action": "block", "error": "outside business hours"}));
    let expected = WebhookAction::Block { error: Some("outside business hours".to_owned()) };
    assert_eq!(decision(answer).await.unwrap(), expected);
}

#[tokio::test]
async fn block_without_error() {
    let answer = ResponseTemplate::new(200).set_body_json(json!({"action": "block"}));
    assert_eq!(decision(answer).await.unwrap(), WebhookAction::Block { error: None });
}

#[tokio::test]
async fn the_wall_clock_signs_with_a_current_timestamp() {
    init();
    let server = MockServer::start().await;
    let now = SystemClock.now().unix_timestamp();
    Mock::given(method("POST"))
        .and(SignatureMatches { secret: SECRET, around: now, window: 60 })
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"action": "continue"})))
        .expect(1)
        .mount(&server)
        .await;
    let client = HttpWebhookClient::new().unwrap();
    assert_eq!(client.call(call(&server.uri(), &payload(), Some(SECRET))).await.unwrap(), WebhookAction::Continue);
}

#[tokio::test]
async fn no_signature_headers_without_a_secret() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header("content-type", "application/json"))
        .and(body_json(payload()))
        .and(|request: &Request| {
            !request.headers.contains_key("x-uap-signature") && !request.headers.contains_key("x-uap-timestamp")
        })
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"action": "continue"})))
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(client().call(call(&server.uri(), &payload(), None)).await.unwrap(), WebhookAction::Continue);
}

async fn bad_response(answer: ResponseTemplate) -> String {
    match decision(answer).await {
        Err(WebhookError::BadResponse(message)) => message,
        other => panic!("expected BadResponse, got {other:?}"),
    }
}

#[tokio::test]
async fn garbage_is_a_bad_response() {
    let message = bad_response(ResponseTemplate::new(200).set_body_string("OK")).await;
    assert!(message.contains("OK"), "{message}");
}

#[tokio::test]
async fn an_unknown_action_is_a_bad_response() {
    bad_response(ResponseTemplate::new(200).set_body_json(json!({"action": "allow"}))).await;
    bad_response(ResponseTemplate::new(200).set_body_json(json!({"decision": "continue"}))).await;
}

#[tokio::test]
async fn a_non_string_error_is_a_bad_response() {
    bad_response(ResponseTemplate::new(200).set_body_json(json!({"action": "block", "error": 42}))).await;
}

#[tokio::test]
async fn an_oversized_answer_is_a_bad_response() {
    let huge = format!(r#"{{"action": "continue", "pad": "{}"}}"#, "x".repeat(100 * 1024));
    let message = bad_response(ResponseTemplate::new(200).set_body_string(huge)).await;
    assert!(message.contains("64 KiB"), "{message}");
}

async fn unavailable(url: &str, timeout: Duration) -> String {
    let body = payload();
    match client().call(WebhookCall { url, body: &body, secret: Some(SECRET), timeout }).await {
        Err(WebhookError::Unavailable(message)) => message,
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn host_500_is_unavailable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({"action": "continue"})))
        .mount(&server)
        .await;
    let message = unavailable(&server.uri(), TIMEOUT).await;
    assert!(message.contains("500"), "{message}");
}

#[tokio::test]
async fn a_host_slower_than_the_timeout_is_unavailable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"action": "continue"})).set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let message = unavailable(&server.uri(), Duration::from_millis(200)).await;
    assert!(message.contains("200 ms"), "{message}");
}

#[tokio::test]
async fn connection_refused_is_unavailable() {
    let url = format!("{}?token=host-credential", refused_url());
    let message = unavailable(&url, TIMEOUT).await;
    assert!(!message.contains("host-credential"), "the URL stays out of the message: {message}");
}

#[test]
fn debug_shows_no_internals() {
    init();
    assert_eq!(format!("{:?}", HttpWebhookClient::new().unwrap()), "HttpWebhookClient { .. }");
}
