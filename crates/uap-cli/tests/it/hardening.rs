//! Secure defaults through the real binary: secret-bearing host columns never
//! leave UAP, a write-back never exceeds the width a SQLite column declares,
//! and `uap demo` keeps its secrets owner-only.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::{Value, json};

use crate::support::{Server, TempDir, free_port, serve_in, sqlite, uap};

/// bcrypt `$2y$` cost 4 of "bob-password" (PHP 8 password_hash).
const BOB: &str = "$2y$04$bZGuP3hzkdakjw2LpcMTqe8dbQ.oYYQi/BuJ5z/CaW.j51pe8ta6i";
/// Django 5.2 `make_password("password")`, PBKDF2 with 1000 iterations (84 characters).
const DJANGO: &str = "pbkdf2_sha256$1000$socjXmeaGmaEZMRl7Rs13n$/DrG9Ug9ivbPMTfoAUQJLR44RpQa9xzkrVJDiBXunT0=";

async fn serve(dir: &TempDir, extra: &str) -> Server {
    serve_in(dir, &format!("sqlite://{}", dir.path().join("host.db").display()), extra).await
}

async fn login(server: &Server, username: &str, password: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(server.url("/api/v1/auth/authenticate"))
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn secret_columns_of_common_frameworks_are_not_returned() {
    let dir = TempDir::new();
    let secrets = [
        "auth_key",
        "remember_digest",
        "activation_digest",
        "two_factor_secret",
        "two_factor_recovery_codes",
        "backup_codes",
        "otp_required_for_login",
        "user_salt",
        "user_actkey",
        "secret",
        "token",
        "private_key",
        "api_token",
    ];
    let columns: String = secrets.iter().map(|c| format!(", {c} TEXT")).collect();
    let values: String = secrets.iter().map(|c| format!(", 'value-of-{c}'")).collect();
    let names: String = secrets.iter().map(|c| format!(", {c}")).collect();
    sqlite(
        &dir.path().join("host.db"),
        &format!(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT UNIQUE, password TEXT, display_name TEXT{columns});
             INSERT INTO users (username, password, display_name{names}) VALUES ('bob', '{BOB}', 'Bob'{values});"
        ),
    );
    let server = serve(&dir, "").await;
    let (status, body) = login(&server, "bob", "bob-password").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user_data"], json!({"id": 1, "username": "bob", "display_name": "Bob"}));
    assert!(!body.to_string().contains("value-of-"), "{body}");
}

#[tokio::test]
async fn write_back_respects_the_width_a_sqlite_column_declares() {
    let dir = TempDir::new();
    let host = dir.path().join("host.db");
    sqlite(
        &host,
        &format!(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, username VARCHAR(150) UNIQUE, password VARCHAR(90));
             INSERT INTO users (username, password) VALUES ('carol', '{DJANGO}');"
        ),
    );
    // Django's argon2 target (`argon2$argon2id$v=19$m=19456,…`) is over 90 characters.
    let server = serve(&dir, "hash_upgrade = \"write_back\"\nhash_upgrade_format = \"host\"\n").await;
    let (status, body) = login(&server, "carol", "password").await;
    assert_eq!(status, 200, "{body}");
    assert!(server.terminate().success());
    assert_eq!(sqlite(&host, "SELECT password FROM users WHERE username = 'carol'"), DJANGO, "row not rewritten");
    let audited = sqlite(
        &dir.path().join("uap.db"),
        "SELECT error_message FROM uap_audit_logs WHERE event_type = 'PASSWORD_CHANGE' AND success = 0",
    );
    assert!(audited.starts_with("column_too_narrow: holds 90"), "{audited:?}");
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn demo_files_are_owner_only() {
    let parent = TempDir::new();
    let dir = parent.path().join("demo");
    let port = free_port();
    let mut command = uap();
    command.args(["demo", "--port", &port.to_string(), "--dir"]).arg(&dir);
    let server = Server::start(command, port).await;
    // A login writes the internal database (session, audit) and its WAL.
    assert_eq!(login(&server, "bob", "bob-password").await.0, 200);
    assert_eq!(mode(&dir), 0o700, "demo directory");
    for name in ["uap.toml", "host.db", "uap.db", "uap.db-wal", "uap.db-shm"] {
        let path = dir.join(name);
        // SQLite may not have created (or may have removed) its WAL files.
        if !path.exists() && (name.ends_with("-wal") || name.ends_with("-shm")) {
            continue;
        }
        assert_eq!(mode(&path), 0o600, "{name}");
    }
    assert!(server.terminate().success());
}

#[tokio::test]
async fn pretty_logs_to_a_file_carry_no_colour_codes() {
    let dir = TempDir::new();
    let port = free_port();
    let log = dir.path().join("stderr.log");
    let mut child = uap()
        .args(["demo", "--port", &port.to_string(), "--dir"])
        .arg(dir.path().join("demo"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !client.get(format!("http://127.0.0.1:{port}/health/live")).send().await.is_ok_and(|r| r.status() == 200) {
        assert!(std::time::Instant::now() < deadline, "demo did not start");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let written = std::fs::read_to_string(&log).unwrap();
    assert!(written.contains("UAP listening"), "{written}");
    assert!(!written.contains('\u{1b}'), "escape codes in {written:?}");
}
