//! `uap demo` serves, and the `curl` it prints logs in.

use std::process::Command;

use serde_json::Value;

use crate::support::{Server, TempDir, free_port, run, uap};

#[tokio::test]
async fn version_and_help() {
    let out = run(uap().arg("--version"));
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("uap "));
    let out = run(uap().arg("no-such-command"));
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn demo_prints_a_working_curl() {
    let dir = TempDir::new();
    let port = free_port();
    let mut command = uap();
    command.args(["demo", "--port", &port.to_string(), "--dir"]).arg(dir.path());
    let server = Server::start(command, port).await;
    let printed = server.printed().join("\n");
    assert!(printed.contains("bob-password"), "{printed}");
    for format in
        ["argon2id", "bcrypt", "Django", "Werkzeug", "phpass", "md5_crypt", "sha512_crypt", "LDAP", "WordPress 6.8"]
    {
        assert!(printed.contains(format), "{format} missing from:\n{printed}");
    }
    let curl = printed.lines().find(|l| l.starts_with("curl ") && l.contains("authenticate")).expect("a curl line");
    let out = Command::new("sh").args(["-c", curl]).output().unwrap();
    let body: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(body["success"], true, "{curl}\n{}", String::from_utf8_lossy(&out.stdout));
    let token = body["token"].as_str().unwrap();

    let client = reqwest::Client::new();
    let valid: Value =
        client.get(server.url("/api/v1/auth/validate")).bearer_auth(token).send().await.unwrap().json().await.unwrap();
    assert_eq!(valid["valid"], true);
    assert_eq!(valid["user_data"]["username"], "bob");
    assert!(valid["user_data"].get("remember_token").is_none());

    // Every demo user logs in with the printed password (inactive mallory must not).
    for (user, expected) in [
        ("alice", 200),
        ("carol", 200),
        ("dave", 200),
        ("erin", 200),
        ("frank", 200),
        ("grace", 200),
        ("heidi", 200),
        ("ivan", 200),
        ("admin", 200),
        ("walter", 200),
        ("mallory", 401),
    ] {
        let response = client
            .post(server.url("/api/v1/auth/authenticate"))
            .json(&serde_json::json!({ "username": user, "password": format!("{user}-password") }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), expected, "{user}");
    }
    let status = server.terminate();
    assert!(status.success(), "demo exits cleanly on SIGTERM: {status:?}");

    // Audit events were drained to the internal database on shutdown.
    let audit = Command::new("sqlite3")
        .arg(dir.path().join("uap.db"))
        .arg("SELECT event_type, COUNT(*) FROM uap_audit_logs GROUP BY event_type ORDER BY event_type")
        .output()
        .expect("sqlite3 is installed (.ci/run installs it)");
    let text = String::from_utf8_lossy(&audit.stdout);
    assert!(text.contains("FAILED_LOGIN|1\n"), "{text}");
    assert!(text.contains("\nLOGIN|11\n"), "{text}");
}
