//! `uap serve` against a PostgreSQL or MariaDB `users` table holding bcrypt,
//! Django and phpass hashes: those users log in and their tokens validate.

use serde_json::{Value, json};
use uap_adapters_sql::testing::TestDb;

use crate::support::{Server, TempDir, free_port, run, uap};

/// (username, password, stored hash, origin)
pub const HOST_USERS: &[(&str, &str, &str)] = &[
    // PHP 8 password_hash(PASSWORD_BCRYPT, cost 10)
    ("bob", "bob-password", "$2y$10$dLXlvQUCNMJwqrVJCLqb7uqA8AMTE5aYjeZHllKtlCUFoeRxAX1MW"),
    // Django 5.2 make_password (PBKDF2PasswordHasher)
    (
        "carol",
        "carol-password",
        "pbkdf2_sha256$1000000$zQHdGlq2huZJr1BvgDTGo3$7ciHMXLftQ7nZeqVrjhqtXLHa1DHRWauBj9vEI43gEk=",
    ),
    // passlib 1.7.4 phpass (WordPress $P$)
    ("erin", "erin-password", "$P$B1FE6Xl.3BI8l4nJGUUmxUA4PaoqYt."),
];

pub async fn host_db(postgres: bool) -> Option<TestDb> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let db = if postgres { TestDb::postgres().await? } else { TestDb::mysql().await? };
    let id = if postgres { "id SERIAL PRIMARY KEY" } else { "id INT AUTO_INCREMENT PRIMARY KEY" };
    db.execute(&format!(
        "CREATE TABLE users ({id}, username VARCHAR(64) NOT NULL UNIQUE, email VARCHAR(128), password VARCHAR(255), is_active BOOLEAN NOT NULL DEFAULT TRUE)"
    ))
    .await;
    for (username, _, hash) in HOST_USERS {
        db.execute(&format!(
            "INSERT INTO users (username, email, password) VALUES ('{username}', '{username}@example.com', '{hash}')"
        ))
        .await;
    }
    Some(db)
}

pub fn write_config(dir: &TempDir, host_url: &str, port: u16, extra: &str) -> std::path::PathBuf {
    let path = dir.path().join("uap.toml");
    let text = format!(
        "port = {port}\nhost_db_url = \"{host_url}\"\ndatabase_url = \"sqlite://{}?mode=rwc\"\njwt_secret_key = \"0123456789abcdef0123456789abcdef\"\n{extra}",
        dir.path().join("uap.db").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

async fn serve_against(postgres: bool) {
    let Some(db) = host_db(postgres).await else { return };
    let dir = TempDir::new();
    let port = free_port();
    let config = write_config(&dir, &db.url, port, "");
    let out = run(uap().arg("migrate").arg("--config").arg(&config));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut command = uap();
    command.arg("serve").arg("--config").arg(&config);
    let server = Server::start(command, port).await;
    let client = reqwest::Client::new();
    for (username, password, _) in HOST_USERS {
        let login: Value = client
            .post(server.url("/api/v1/auth/authenticate"))
            .json(&json!({ "username": username, "password": password }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(login["success"], true, "{username}: {login}");
        let valid = client
            .get(server.url("/api/v1/auth/validate"))
            .bearer_auth(login["token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(valid.status(), 200, "{username}");
        let wrong = client
            .post(server.url("/api/v1/auth/authenticate"))
            .json(&json!({ "username": username, "password": "nope" }))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "{username}");
    }
    assert!(server.terminate().success());
    db.cleanup().await;
}

#[tokio::test]
async fn serve_against_postgres() {
    serve_against(true).await;
}

#[tokio::test]
async fn serve_against_mariadb() {
    serve_against(false).await;
}

#[tokio::test]
async fn hash_reads_stdin() {
    use std::io::Write;
    use std::process::Stdio;
    let mut child =
        uap().args(["hash", "--algorithm", "bcrypt"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let hash = String::from_utf8(out.stdout).unwrap();
    assert!(hash.starts_with("$2"), "{hash}");
    let out = run(uap().args(["hash", "--algorithm", "rot13"]));
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn bad_config_exits_2_naming_the_key() {
    let dir = TempDir::new();
    let path = dir.path().join("uap.toml");
    std::fs::write(
        &path,
        "host_db_url = \"sqlite://x.db\"\njwt_secret_key = \"0123456789abcdef0123456789abcdef\"\nsesion_duration = 5\n",
    )
    .unwrap();
    let out = run(uap().arg("serve").arg("--config").arg(&path));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("sesion_duration"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one clear line: {stderr}");
}
