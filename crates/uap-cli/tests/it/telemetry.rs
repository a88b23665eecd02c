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
