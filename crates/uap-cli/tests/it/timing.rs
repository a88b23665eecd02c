//! Refused logins through the real binary (issue #9 items 2, 14, 15): cheap
//! and unusable stored formats also verify the dummy hash, the response
//! floor is exported, an over-budget phpass row is refused and audited, and
//! a phpass password over 72 bytes is not rewritten to bcrypt. Deterministic
//! signals only (`/metrics` counters, the audit log, the host row): no
//! wall-clock assertion.

use serde_json::json;

use crate::support::{Server, TempDir, serve_sqlite};

/// `openssl passwd -1 -salt uapmd5 md5-password`.
const MD5_CRYPT: &str = "$1$uapmd5$fD/T8Xn6Xg2go.ny.QpeR1";
/// phpass 2^8 of "phpass-password".
const PHPASS: &str = "$P$6uapsalt14Nmltx8YM974ZuB4tjvvD1";
/// phpass 2^8 of "L" × 40 + "o" × 40 (80 bytes).
const PHPASS_LONG: &str = "$P$6uaptestsIiFmCHuYHh7pDZBFW9Bcw.";
/// `{SSHA}` of "ssha-password" with salt "saltsalt".
const SSHA: &str = "{SSHA}w3tyjF8HgtqcQ1Amsq3+usmoEdlzYWx0c2FsdA==";
/// phpass at 2^24 iterations, the most verified.
const PHPASS_MAX: &str = "$P$M9IQRaTwmfeRo7ud9Fh4E2PdI0S3r.L";

/// A host table of cheap, unusable and over-budget rows, served with the
/// default argon2id (the dummy) and `hash_upgrade = "write_back"`.
async fn start() -> (Server, TempDir) {
    let rows = [
        ("md5", MD5_CRYPT),
        ("php", PHPASS),
        ("long", PHPASS_LONG),
        ("ssha", SSHA),
        ("odd", "{ROT13}cynva"),
        ("max", PHPASS_MAX),
    ];
    let mut sql = String::from("CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT UNIQUE, password TEXT);\n");
    for (username, hash) in rows {
        sql.push_str(&format!("INSERT INTO users (username, password) VALUES ('{username}', '{hash}');\n"));
    }
    serve_sqlite(&sql, "rate_limit_enabled = false\nhash_upgrade = \"write_back\"\n").await
}

async fn login(server: &Server, username: &str, password: &str) -> u16 {
    let response = reqwest::Client::new()
        .post(server.url("/api/v1/auth/authenticate"))
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

/// The value of one sample line of `/metrics` (`name{labels} value`).
async fn metric(server: &Server, sample: &str) -> Option<f64> {
    let text = reqwest::get(server.url("/metrics")).await.unwrap().text().await.unwrap();
    text.lines().find_map(|line| line.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
}

async fn dummy_runs(server: &Server, reason: &str) -> f64 {
    metric(server, &format!("uap_password_dummy_verifications_total{{reason=\"{reason}\"}}")).await.unwrap_or(0.0)
}

fn sqlite(path: &std::path::Path, query: &str) -> String {
    let out = std::process::Command::new("sqlite3").arg(path).arg(query).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test]
async fn cheap_and_unusable_refusals_verify_the_dummy_and_the_floor_is_exported() {
    let (server, dir) = start().await;
    // Right passwords: not padded, no dummy.
    assert_eq!(login(&server, "md5", "md5-password").await, 200);
    assert_eq!(login(&server, "ssha", "ssha-password").await, 200);
    assert_eq!(dummy_runs(&server, "cheaper_format").await, 0.0);

    for user in ["md5", "php", "ssha"] {
        assert_eq!(login(&server, user, "wrong-password").await, 401, "{user}");
    }
    assert_eq!(dummy_runs(&server, "cheaper_format").await, 3.0);
    assert_eq!(login(&server, "odd", "plain").await, 401);
    assert_eq!(dummy_runs(&server, "unusable_hash").await, 1.0);
    assert_eq!(login(&server, "ghost", "whatever").await, 401);
    assert_eq!(dummy_runs(&server, "unknown_user").await, 1.0);

    let floor = metric(&server, "uap_login_refusal_floor_seconds").await.expect("the floor gauge");
    assert!(floor > 0.0, "the floor follows the dummy's verifications: {floor}");

    assert!(server.terminate().success());
    let reasons = sqlite(
        &dir.path().join("uap.db"),
        "SELECT error_message FROM uap_audit_logs WHERE event_type = 'FAILED_LOGIN' ORDER BY timestamp, rowid",
    );
    assert_eq!(
        reasons.lines().collect::<Vec<_>>(),
        ["wrong_password", "wrong_password", "wrong_password", "unsupported_hash_format", "unknown_user"]
    );
}

#[tokio::test]
async fn an_over_budget_phpass_row_is_refused_unhashed_and_audited() {
    let (server, dir) = start().await;
    // 2^24 MD5 iterations over a 1 KiB password took 36 s before the budget.
    assert_eq!(login(&server, "max", &"a".repeat(1024)).await, 401);
    assert_eq!(dummy_runs(&server, "unusable_hash").await, 1.0, "the dummy ran instead");
    assert!(server.terminate().success());
    let rows = sqlite(
        &dir.path().join("uap.db"),
        "SELECT error_message FROM uap_audit_logs WHERE event_type = 'FAILED_LOGIN'",
    );
    assert_eq!(rows, "hash_over_budget");
}

#[tokio::test]
async fn a_phpass_password_over_72_bytes_is_not_rewritten_to_bcrypt() {
    let (server, dir) = start().await;
    let long = format!("{}{}", "L".repeat(40), "o".repeat(40));
    assert_eq!(login(&server, "long", &long).await, 200);
    // A short phpass password is still upgraded.
    assert_eq!(login(&server, "php", "phpass-password").await, 200);
    assert!(server.terminate().success());
    let host = dir.path().join("host.db");
    assert_eq!(sqlite(&host, "SELECT password FROM users WHERE username = 'long'"), PHPASS_LONG);
    assert!(sqlite(&host, "SELECT password FROM users WHERE username = 'php'").starts_with("$2y$"));
    let audit = sqlite(
        &dir.path().join("uap.db"),
        "SELECT success || '|' || error_message FROM uap_audit_logs WHERE event_type = 'PASSWORD_CHANGE' \
         AND error_message IS NOT NULL",
    );
    assert_eq!(audit, "0|password_too_long_for_bcrypt");
}
