//! Shadow mode through the real binary (issue #12 item 3): the whole check
//! runs, no session is issued, nothing is written to the host even under
//! `write_back`, every refusal gets the same 200 body, each attempt is audited
//! as `SHADOW_LOGIN`, and the compliance report counts agreement per hash
//! format — over HTTP and in `uap audit report`.

use serde_json::{Value, json};

use crate::support::{Server, TempDir, audit_count, run, serve_in, sqlite, uap};

const ADMIN_KEY: &str = "admin-key-0123456789abcdef";
/// bcrypt `$2y$` cost 4 of "bob-password": weak under `bcrypt_cost = 5`, so
/// `write_back` would rewrite it in enforce mode.
const BOB: &str = "$2y$04$bZGuP3hzkdakjw2LpcMTqe8dbQ.oYYQi/BuJ5z/CaW.j51pe8ta6i";
/// md5_crypt of "frank-password".
const FRANK: &str = r"$1$s5H6oQWK$4VRfLlKotz8vXH0RWoVvT/";

async fn judge(server: &Server, username: &str, password: &str, host_decision: Option<bool>) -> Value {
    let mut body = json!({ "username": username, "password": password });
    if let Some(decision) = host_decision {
        body["host_decision"] = json!(decision);
    }
    let response =
        reqwest::Client::new().post(server.url("/api/v1/auth/authenticate")).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200, "{username}");
    response.json().await.unwrap()
}

fn answer(would_accept: bool) -> Value {
    json!({ "success": false, "shadow": true, "would_accept": would_accept })
}

#[tokio::test]
async fn shadow_mode_judges_without_sessions_or_writes_and_reports_agreement() {
    let dir = TempDir::new();
    let host = dir.path().join("host.db");
    sqlite(
        &host,
        &format!(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT UNIQUE, password TEXT, is_active INTEGER); \
             INSERT INTO users (username, password, is_active) VALUES ('bob', '{BOB}', 1), ('frank', '{FRANK}', 1), \
             ('ina', '{BOB}', 0);"
        ),
    );
    let server = serve_in(
        &dir,
        &format!("sqlite://{}", host.display()),
        &format!(
            "mode = \"shadow\"\nhash_upgrade = \"write_back\"\nbcrypt_cost = 5\nadmin_api_key = \"{ADMIN_KEY}\"\nmax_attempts = 50\n"
        ),
    )
    .await;

    // Accepted, the host agreeing; no token, no session.
    assert_eq!(judge(&server, "bob", "bob-password", Some(true)).await, answer(true));
    assert_eq!(judge(&server, "frank", "frank-password", Some(true)).await, answer(true));
    // Every refusal has the same body: wrong password, unknown user, inactive.
    assert_eq!(judge(&server, "bob", "wrong", Some(false)).await, answer(false));
    assert_eq!(judge(&server, "nobody", "bob-password", Some(false)).await, answer(false));
    assert_eq!(judge(&server, "ina", "bob-password", None).await, answer(false));
    // Disagreements: the host let frank in with a password UAP refuses, and
    // refused bob where UAP accepts.
    assert_eq!(judge(&server, "frank", "old-password", Some(true)).await, answer(false));
    assert_eq!(judge(&server, "bob", "bob-password", Some(false)).await, answer(true));

    let stored = sqlite(&host, "SELECT password FROM users WHERE username = 'bob'");
    assert_eq!(stored, BOB, "nothing written to the host under write_back");
    // Audit rows reach the database through a batching writer: wait for all.
    for _ in 0..60 {
        if audit_count(&dir, "event_type = 'SHADOW_LOGIN'").await == 7 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(audit_count(&dir, "event_type = 'SHADOW_LOGIN'").await, 7);
    let uap_db = dir.path().join("uap.db");
    assert_eq!(sqlite(&uap_db, "SELECT COUNT(*) FROM uap_sessions"), "0", "no session issued");
    assert_eq!(audit_count(&dir, "event_type IN ('LOGIN', 'FAILED_LOGIN', 'PASSWORD_CHANGE')").await, 0);
    let row = sqlite(
        &uap_db,
        "SELECT success, error_message, json_extract(metadata, '$.reason'), json_extract(metadata, '$.hash_format'), \
         json_type(metadata, '$.agreed') FROM uap_audit_logs WHERE event_type = 'SHADOW_LOGIN' \
         AND json_extract(metadata, '$.identifier') = 'ina'",
    );
    assert_eq!(row, "0|inactive|inactive|bcrypt cost 4|null", "the real reason is kept");

    let response = reqwest::Client::new()
        .get(server.url("/api/v1/audit/report"))
        .header("X-API-Key", ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let report: Value = response.json().await.unwrap();
    let shadow = &report["shadow"];
    assert_eq!(
        (&shadow["total"], &shadow["with_host_decision"], &shadow["agreed"], &shadow["disagreed"]),
        (&json!(7), &json!(6), &json!(4), &json!(2)),
        "{shadow}"
    );
    assert_eq!(shadow["by_hash_format"]["md5_crypt"], json!({ "total": 2, "agreed": 1, "disagreed": 1 }), "{shadow}");
    assert_eq!(shadow["by_hash_format"]["none"]["total"], 1, "the unknown user reached no hash: {shadow}");
    assert_eq!(report["authentication_statistics"]["SHADOW_LOGIN"]["total"], 7);
    drop(server);

    // The same numbers from the command line.
    let output = run(uap()
        .args(["audit", "report", "--from", "2000-01-01", "--to", "2999-12-31", "--config"])
        .arg(dir.path().join("uap.toml")));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed["shadow"], report["shadow"]);
}

#[tokio::test]
async fn shadow_verdicts_follow_the_middleware_and_the_rate_limit() {
    let dir = TempDir::new();
    let host = dir.path().join("host.db");
    sqlite(
        &host,
        &format!(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT UNIQUE, password TEXT); \
             INSERT INTO users (username, password) VALUES ('bob', '{BOB}');"
        ),
    );
    let server = serve_in(&dir, &format!("sqlite://{}", host.display()), "mode = \"shadow\"\nmax_attempts = 2\n").await;
    assert_eq!(judge(&server, "bob", "wrong", None).await, answer(false));
    assert_eq!(judge(&server, "bob", "wrong", None).await, answer(false));
    // Blocked as enforce mode would be: still the uniform 200, not a 429.
    assert_eq!(judge(&server, "bob", "bob-password", Some(true)).await, answer(false));
    assert_eq!(audit_count(&dir, "event_type = 'SHADOW_LOGIN' AND json_extract(metadata, '$.agreed') = 0").await, 1);

    // A malformed request is still a 400.
    let response = reqwest::Client::new()
        .post(server.url("/api/v1/auth/authenticate"))
        .json(&json!({ "password": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}
