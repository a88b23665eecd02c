//! Issue #11 items 5, 7 and 9 through the real binary: HTTPS with a test
//! certificate and `Strict-Transport-Security`, OpenTelemetry spans sent to
//! an OTLP/HTTP receiver started here, and 5xx reported to a Sentry stand-in.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Server, TempDir, free_port, run, uap};

/// bcrypt `$2y$` cost 4 of "bob-password" (PHP 8 password_hash).
const BOB: &str = "$2y$04$bZGuP3hzkdakjw2LpcMTqe8dbQ.oYYQi/BuJ5z/CaW.j51pe8ta6i";
const PASSWORD: &str = "bob-password";
const JWT_SECRET: &str = "0123456789abcdef0123456789abcdef";

/// A SQLite host database holding `bob`; its path.
fn host_db(dir: &TempDir) -> std::path::PathBuf {
    let host = dir.path().join("host.db");
    let status = Command::new("sqlite3")
        .arg(&host)
        .arg(format!(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT UNIQUE, email TEXT, password TEXT, role TEXT);
             INSERT INTO users (username, email, password, role) VALUES ('bob', 'bob@example.com', '{BOB}', 'user');"
        ))
        .status()
        .unwrap();
    assert!(status.success());
    host
}

/// Writes `uap.toml` (SQLite host and internal databases, `extra` appended);
/// the `uap serve` command and the port.
fn serve_command(dir: &TempDir, extra: &str) -> (Command, u16) {
    let host = host_db(dir);
    let port = free_port();
    let config = dir.path().join("uap.toml");
    std::fs::write(
        &config,
        format!(
            "port = {port}\nhost_db_url = \"sqlite://{}\"\ndatabase_url = \"sqlite://{}?mode=rwc\"\n\
             jwt_secret_key = \"{JWT_SECRET}\"\nbcrypt_cost = 4\n{extra}",
            host.display(),
            dir.path().join("uap.db").display()
        ),
    )
    .unwrap();
    let mut command = uap();
    command.arg("serve").arg("--config").arg(&config);
    (command, port)
}

// ---------------------------------------------------------------- TLS (item 9)

/// A self-signed certificate for 127.0.0.1 and localhost written to `dir`:
/// (cert path, key path, cert PEM).
fn test_certificate(dir: &TempDir, name: &str) -> (String, String, String) {
    let generated = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let cert_pem = generated.cert.pem();
    let cert = dir.path().join(format!("{name}.crt"));
    let key = dir.path().join(format!("{name}.key"));
    std::fs::write(&cert, &cert_pem).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    (cert.display().to_string(), key.display().to_string(), cert_pem)
}

fn https_client(cert_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .build()
        .unwrap()
}

/// Starts `command` serving HTTPS and waits until `/health/live` answers.
async fn start_https(mut command: Command, port: u16, client: &reqwest::Client) -> Server {
    let child = command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::inherit()).spawn().unwrap();
    let (_tx, stdout) = std::sync::mpsc::channel();
    let mut server = Server { child, port, stdout };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let live = client.get(format!("https://127.0.0.1:{port}/health/live")).send().await;
        if live.is_ok_and(|r| r.status() == 200) {
            return server;
        }
        assert!(server.child.try_wait().unwrap().is_none(), "uap exited before serving HTTPS");
        assert!(Instant::now() < deadline, "uap did not serve HTTPS on port {port}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn https_with_a_pem_certificate_sends_hsts() {
    let dir = TempDir::new();
    let (cert, key, cert_pem) = test_certificate(&dir, "server");
    let (command, port) = serve_command(&dir, &format!("tls_cert_file = \"{cert}\"\ntls_key_file = \"{key}\"\n"));
    let client = https_client(&cert_pem);
    let server = start_https(command, port, &client).await;

    let response = client.get(format!("https://127.0.0.1:{port}/health/live")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["strict-transport-security"], "max-age=31536000");
    assert!(response.headers().contains_key("x-request-id"));
    let login = client
        .post(format!("https://127.0.0.1:{port}/api/v1/auth/authenticate"))
        .json(&serde_json::json!({ "username": "bob", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    assert_eq!(login.headers()["strict-transport-security"], "max-age=31536000");

    // Plain HTTP on the TLS port gets no answer.
    let plain = reqwest::Client::new().get(server.url("/health/live")).send().await;
    assert!(plain.is_err() || plain.is_ok_and(|r| r.status() == 400), "plain HTTP must not be served");
}

#[tokio::test]
async fn a_configuration_change_reloads_the_certificate_without_a_restart() {
    const KEY: &str = "admin-key-for-tls-tests-0123456";
    let dir = TempDir::new();
    let (cert, key, first_pem) = test_certificate(&dir, "first");
    let (next_cert, next_key, next_pem) = test_certificate(&dir, "next");
    let settings = format!("tls_cert_file = \"{cert}\"\ntls_key_file = \"{key}\"\nadmin_api_key = \"{KEY}\"\n");
    let (command, port) = serve_command(&dir, &settings);
    let first = https_client(&first_pem);
    let _server = start_https(command, port, &first).await;
    let url = |path: &str| format!("https://127.0.0.1:{port}{path}");

    // A pair that does not match is refused; the served certificate stays.
    let mismatched = serde_json::json!({ "tls_cert_file": next_cert, "tls_key_file": key });
    let refused = first.put(url("/api/v1/config/")).header("X-API-Key", KEY).json(&mismatched).send().await.unwrap();
    assert_eq!(refused.status(), 422);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(body["validation_errors"].to_string().contains("tls_key_file"), "{body}");
    assert_eq!(first.get(url("/health/live")).send().await.unwrap().status(), 200);

    let change = serde_json::json!({ "tls_cert_file": next_cert, "tls_key_file": next_key });
    let applied = first.put(url("/api/v1/config/")).header("X-API-Key", KEY).json(&change).send().await.unwrap();
    assert_eq!(applied.status(), 200);
    // New connections get the new certificate: a client trusting only it
    // connects, one trusting only the old one does not.
    let next = https_client(&next_pem);
    assert_eq!(next.get(url("/health/live")).send().await.unwrap().status(), 200);
    let fresh_first = https_client(&first_pem);
    assert!(fresh_first.get(url("/health/live")).send().await.is_err(), "the old certificate is no longer served");
}

#[tokio::test]
async fn hsts_behind_a_trusted_proxy_only_when_it_says_https() {
    let dir = TempDir::new();
    let (command, port) = serve_command(&dir, "trusted_proxies = [\"127.0.0.1/32\"]\n");
    let server = Server::start(command, port).await;
    let client = reqwest::Client::new();
    let hsts = |proto: Option<&'static str>| {
        let mut request = client.get(server.url("/health/live"));
        if let Some(proto) = proto {
            request = request.header("x-forwarded-proto", proto);
        }
        async move { request.send().await.unwrap().headers().get("strict-transport-security").cloned() }
    };
    assert_eq!(hsts(Some("https")).await.unwrap(), "max-age=31536000");
    assert_eq!(hsts(Some("HTTPS, http")).await.unwrap(), "max-age=31536000");
    assert!(hsts(Some("http")).await.is_none());
    assert!(hsts(None).await.is_none());
}

#[tokio::test]
async fn x_forwarded_proto_from_an_untrusted_peer_is_ignored() {
    let dir = TempDir::new();
    let (command, port) = serve_command(&dir, "");
    let server = Server::start(command, port).await;
    let response = reqwest::Client::new()
        .get(server.url("/health/live"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(!response.headers().contains_key("strict-transport-security"));
}

#[test]
fn a_key_that_does_not_match_the_certificate_is_named_at_start_up() {
    let dir = TempDir::new();
    let (cert, _, _) = test_certificate(&dir, "one");
    let (_, other_key, _) = test_certificate(&dir, "two");
    let (mut command, _) =
        serve_command(&dir, &format!("tls_cert_file = \"{cert}\"\ntls_key_file = \"{other_key}\"\n"));
    let out = run(&mut command);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tls_key_file") && stderr.contains("does not match"), "{stderr}");
    assert!(!stderr.contains("PRIVATE KEY"), "{stderr}");

    let other = TempDir::new();
    let (mut command, _) =
        serve_command(&other, &format!("tls_cert_file = \"{cert}\"\ntls_key_file = \"/nonexistent.key\"\n"));
    let out = run(&mut command);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("tls_key_file: cannot read"));
}

// ------------------------------------------------------ OpenTelemetry (item 5)

mod otlp {
    use std::collections::HashMap;

    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use opentelemetry_proto::tonic::trace::v1::Span;
    use prost::Message as _;
    use wiremock::MockServer;

    /// Every span the receiver got.
    pub async fn spans(receiver: &MockServer) -> Vec<Span> {
        let mut spans = Vec::new();
        for request in receiver.received_requests().await.unwrap_or_default() {
            assert_eq!(request.url.path(), "/v1/traces");
            assert_eq!(request.headers["content-type"], "application/x-protobuf");
            let export = ExportTraceServiceRequest::decode(request.body.as_slice()).unwrap();
            for resource in export.resource_spans {
                for scope in resource.scope_spans {
                    spans.extend(scope.spans);
                }
            }
        }
        spans
    }

    fn text(value: Option<&AnyValue>) -> String {
        match value.and_then(|v| v.value.as_ref()) {
            Some(any_value::Value::StringValue(s)) => s.clone(),
            Some(any_value::Value::IntValue(i)) => i.to_string(),
            Some(any_value::Value::BoolValue(b)) => b.to_string(),
            Some(any_value::Value::DoubleValue(d)) => d.to_string(),
            other => format!("{other:?}"),
        }
    }

    /// A span's attributes as text.
    pub fn attributes(span: &Span) -> HashMap<String, String> {
        span.attributes.iter().map(|KeyValue { key, value }| (key.clone(), text(value.as_ref()))).collect()
    }

    /// Every attribute value of the span and its events, as text.
    pub fn all_values(span: &Span) -> Vec<String> {
        let mut values: Vec<String> = span.attributes.iter().map(|kv| text(kv.value.as_ref())).collect();
        for event in &span.events {
            values.push(event.name.clone());
            values.extend(event.attributes.iter().map(|kv| text(kv.value.as_ref())));
        }
        values
    }
}

#[tokio::test]
async fn login_spans_reach_an_otlp_receiver_under_the_callers_trace() {
    let receiver = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/v1/traces"))
        .respond_with(wiremock::ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let dir = TempDir::new();
    let (command, port) = serve_command(
        &dir,
        &format!(
            "otel_exporter_otlp_endpoint = \"{}\"\n\
             middleware_stack = [{{ name = \"rate_limit\", enabled = true }}]\n",
            receiver.uri()
        ),
    );
    let server = Server::start(command, port).await;
    let client = reqwest::Client::new();
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let login: serde_json::Value = client
        .post(server.url("/api/v1/auth/authenticate"))
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .header("x-request-id", "otel-login-1")
        .json(&serde_json::json!({ "username": "bob", "password": PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(login["success"], true, "{login}");
    let token = login["token"].as_str().unwrap().to_owned();
    let valid = client.get(server.url("/api/v1/auth/validate")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(valid.status(), 200);
    // SIGTERM flushes the exporter's queue.
    assert!(server.terminate().success());

    let spans = otlp::spans(&receiver).await;
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    let request = spans
        .iter()
        .find(|s| s.name == "POST /api/v1/auth/authenticate")
        .unwrap_or_else(|| panic!("no login request span in {names:?}"));
    assert_eq!(hex::encode(&request.trace_id), trace_id, "traceparent's trace is honoured");
    assert_eq!(hex::encode(&request.parent_span_id), caller_span, "the caller's span is the parent");
    let attributes = otlp::attributes(request);
    assert_eq!(attributes["http.route"], "/api/v1/auth/authenticate");
    assert_eq!(attributes["http.request.method"], "POST");
    assert_eq!(attributes["http.response.status_code"], "200");
    assert_eq!(attributes["request_id"], "otel-login-1");

    // Each step is a descendant of the request span, in the same trace.
    let by_id: std::collections::HashMap<&[u8], &opentelemetry_proto::tonic::trace::v1::Span> =
        spans.iter().map(|s| (s.span_id.as_slice(), s)).collect();
    let descends_from_request = |span: &opentelemetry_proto::tonic::trace::v1::Span| {
        let mut current = span;
        while let Some(parent) = by_id.get(current.parent_span_id.as_slice()) {
            if parent.span_id == request.span_id {
                return true;
            }
            current = parent;
        }
        false
    };
    for step in ["uap.host_lookup", "uap.hash_verify", "uap.session_store", "uap.middleware"] {
        let span = spans
            .iter()
            .find(|s| s.name == step && s.trace_id == request.trace_id)
            .unwrap_or_else(|| panic!("no {step} span in the login trace: {names:?}"));
        assert!(descends_from_request(span), "{step} is not under the request span");
    }
    let middleware = spans.iter().find(|s| s.name == "uap.middleware").unwrap();
    assert_eq!(otlp::attributes(middleware)["middleware"], "rate_limit");
    let validate = spans.iter().find(|s| s.name == "GET /api/v1/auth/validate").expect("validate request span");
    assert_ne!(validate.trace_id, request.trace_id, "a request without traceparent starts its own trace");

    // Never a password, token or secret.
    for span in &spans {
        for value in otlp::all_values(span) {
            for secret in [PASSWORD, token.as_str(), JWT_SECRET, BOB] {
                assert!(!value.contains(secret), "span {} carries a secret: {value}", span.name);
            }
        }
    }
}

#[tokio::test]
async fn without_an_endpoint_nothing_is_exported() {
    let receiver = wiremock::MockServer::start().await;
    let dir = TempDir::new();
    let (command, port) = serve_command(&dir, "");
    let server = Server::start(command, port).await;
    let login = reqwest::Client::new()
        .post(server.url("/api/v1/auth/authenticate"))
        .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        .json(&serde_json::json!({ "username": "bob", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    assert!(server.terminate().success());
    assert!(receiver.received_requests().await.unwrap_or_default().is_empty());
}

// ------------------------------------------------------------- Sentry (item 7)

#[tokio::test]
async fn a_5xx_is_reported_to_sentry_with_its_request_id_and_a_4xx_is_not() {
    let sentry = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/api/42/envelope/"))
        .respond_with(wiremock::ResponseTemplate::new(200))
        .mount(&sentry)
        .await;
    let dir = TempDir::new();
    let dsn = format!("http://0123456789abcdef@{}/42", sentry.address());
    let dsn_file = dir.path().join("sentry.dsn");
    std::fs::write(&dsn_file, format!("{dsn}\n")).unwrap();
    let (command, port) = serve_command(&dir, &format!("sentry_dsn_file = \"{}\"\n", dsn_file.display()));
    let server = Server::start(command, port).await;
    let client = reqwest::Client::new();
    let login = |request_id: &'static str, password: &'static str| {
        client
            .post(server.url("/api/v1/auth/authenticate"))
            .header("x-request-id", request_id)
            .json(&serde_json::json!({ "username": "bob", "password": password }))
            .send()
    };
    assert_eq!(login("sentry-401", "wrong-password").await.unwrap().status(), 401);
    // The host table disappears: the directory fails and login answers 5xx.
    let status = Command::new("sqlite3").arg(dir.path().join("host.db")).arg("DROP TABLE users;").status().unwrap();
    assert!(status.success());
    let failed = login("sentry-5xx", PASSWORD).await.unwrap();
    assert!(failed.status().is_server_error(), "{}", failed.status());
    assert_eq!(failed.headers()["x-request-id"], "sentry-5xx");

    let deadline = Instant::now() + Duration::from_secs(30);
    let bodies = loop {
        let bodies: Vec<String> = sentry
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .collect();
        if bodies.iter().any(|b| b.contains("sentry-5xx")) {
            break bodies;
        }
        assert!(Instant::now() < deadline, "no Sentry event for the 5xx: {bodies:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let event = bodies.iter().find(|b| b.contains("sentry-5xx")).unwrap();
    assert!(event.contains(r#""request_id":"sentry-5xx""#), "{event}");
    assert!(event.contains("/api/v1/auth/authenticate"), "{event}");
    assert!(event.contains(&format!(r#""http.status_code":"{}""#, failed.status().as_u16())), "{event}");
    for secret in [PASSWORD, JWT_SECRET, BOB] {
        assert!(!event.contains(secret), "the event carries a secret: {event}");
    }
    // Events leave in order: the earlier 401 would have arrived first.
    assert!(!bodies.iter().any(|b| b.contains("sentry-401")), "a 4xx was reported");
}

#[test]
fn an_invalid_sentry_dsn_is_named_without_echoing_it() {
    let dir = TempDir::new();
    let (mut command, _) = serve_command(&dir, "sentry_dsn = \"not-a-dsn-secret-value\"\n");
    let out = run(&mut command);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("sentry_dsn"), "{stderr}");
    assert!(!stderr.contains("not-a-dsn-secret-value"), "{stderr}");
}
