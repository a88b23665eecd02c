//! `GET`/`PUT /api/v1/config/` through the real binary (issue #11 item 2):
//! secrets shown as `"***"`; a change validated by building the candidate
//! runtime (a missing table, an unknown key, a restart-only key are refused
//! with 422 and the running configuration keeps serving); an accepted change
//! applied without a restart, sessions kept unless the signing key changes,
//! stored as a version with its secrets sealed, audited with a redacted diff.

use serde_json::{Value, json};

use crate::support::{Server, TempDir, audit_count, redis_url, serve_in, serve_sqlite, sqlite};

const KEY: &str = "admin-key-for-config-tests-0123";
const JWT: &str = "0123456789abcdef0123456789abcdef";
const SEALING: &str = "7777777777777777777777777777777777777777777777777777777777777777";
/// bcrypt `$2y$` cost 4 of "bob-password".
const BOB: &str = "$2y$04$bZGuP3hzkdakjw2LpcMTqe8dbQ.oYYQi/BuJ5z/CaW.j51pe8ta6i";

fn host_sql() -> String {
    format!(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT UNIQUE, password TEXT);
         INSERT INTO users (username, password) VALUES ('bob', '{BOB}');
         CREATE TABLE accounts (id INTEGER PRIMARY KEY, username TEXT UNIQUE, password TEXT);
         INSERT INTO accounts (username, password) VALUES ('carol', '{BOB}');"
    )
}

fn extra() -> String {
    format!("admin_api_key = \"{KEY}\"\nencryption_key = \"{SEALING}\"\nrefusal_floor_max_ms = 0\nbcrypt_cost = 4\n")
}

async fn start() -> (Server, TempDir) {
    serve_sqlite(&host_sql(), &extra()).await
}

/// Two instances over one host database and one internal database (and,
/// with `settings`, one Redis).
async fn two_instances(settings: &str) -> (Server, Server, TempDir) {
    let dir = TempDir::new();
    let host = dir.path().join("host.db");
    sqlite(&host, &host_sql());
    let host_url = format!("sqlite://{}", host.display());
    let extra = format!("{}{settings}", extra());
    let a = serve_in(&dir, &host_url, &extra).await;
    let b = serve_in(&dir, &host_url, &extra).await;
    (a, b, dir)
}

/// Waits (up to 10 s) until `server` runs configuration `version` (asking
/// the admin API: failed logins would trip the rate limit).
async fn reaches_version(server: &Server, version: i64) -> bool {
    for _ in 0..100 {
        if get_config(server).await.1["version"] == version {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

async fn call(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn login(server: &Server, username: &str) -> (u16, Value) {
    let body = json!({ "username": username, "password": "bob-password" });
    call(reqwest::Client::new().post(server.url("/api/v1/auth/authenticate")).json(&body)).await
}

async fn get_config(server: &Server) -> (u16, Value) {
    call(reqwest::Client::new().get(server.url("/api/v1/config/")).header("X-API-Key", KEY)).await
}

async fn put_config(server: &Server, body: Value) -> (u16, Value) {
    call(reqwest::Client::new().put(server.url("/api/v1/config/")).header("X-API-Key", KEY).json(&body)).await
}

async fn validate(server: &Server, token: &str) -> u16 {
    call(reqwest::Client::new().get(server.url("/api/v1/auth/validate")).bearer_auth(token)).await.0
}

fn errors(body: &Value) -> String {
    body["validation_errors"].as_array().map(|e| format!("{e:?}")).unwrap_or_default()
}

#[tokio::test]
async fn a_change_is_validated_then_applied_without_restart() {
    let (server, dir) = start().await;
    let (status, shown) = get_config(&server).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["version"], Value::Null);
    let configuration = &shown["configuration"];
    for secret in ["host_db_url", "jwt_secret_key", "admin_api_key", "encryption_key", "database_url"] {
        assert_eq!(configuration[secret], "***", "{secret}");
    }
    assert_eq!(configuration["host_user_table"], "users");
    let text = shown.to_string();
    assert!(!text.contains(JWT) && !text.contains(KEY) && !text.contains(SEALING), "{text}");
    assert_eq!(call(reqwest::Client::new().get(server.url("/api/v1/config/"))).await.0, 401, "without the key");

    let (status, session) = login(&server, "bob").await;
    assert_eq!(status, 200, "{session}");
    let token = session["token"].as_str().unwrap().to_owned();

    // Refused: the running configuration keeps serving.
    let (status, body) = put_config(&server, json!({ "host_user_table": "no_such_table" })).await;
    assert_eq!((status, body["success"].clone()), (422, json!(false)), "{body}");
    assert!(errors(&body).contains("no_such_table"), "{body}");
    let (status, body) = put_config(&server, json!({ "sesion_duration": 60 })).await;
    assert_eq!(status, 422);
    assert!(errors(&body).contains("sesion_duration"), "{body}");
    let (status, body) = put_config(&server, json!({ "port": 1, "max_attempts": 2 })).await;
    assert_eq!(status, 422);
    assert!(errors(&body).contains("port: changes only on restart"), "{body}");
    let (status, body) = put_config(&server, json!({ "session_duration": 0 })).await;
    assert_eq!(status, 422);
    assert!(errors(&body).contains("session_duration"), "{body}");
    assert_eq!(login(&server, "bob").await.0, 200, "still the old table");
    assert_eq!(get_config(&server).await.1["version"], Value::Null);

    // Accepted: a new table, at once, without a restart.
    let (status, body) = put_config(&server, json!({ "host_user_table": "accounts", "max_attempts": 7 })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["success"].clone(), body["version"].clone()), (json!(true), json!(1)));
    let (status, before) = login(&server, "carol").await;
    assert_eq!(status, 200, "the new table");
    assert_eq!(login(&server, "bob").await.0, 401, "bob is not in accounts");
    assert_eq!(validate(&server, &token).await, 200, "sessions survive a change that keeps the signing key");
    let (_, shown) = get_config(&server).await;
    assert_eq!(
        (shown["version"].clone(), shown["configuration"]["host_user_table"].clone()),
        (json!(1), json!("accounts"))
    );
    assert_eq!(shown["configuration"]["max_attempts"], 7);
    assert_eq!(shown["configuration"]["jwt_secret_key"], "***", "secrets kept, still hidden");

    // A hot reload shows in the next login's expiry.
    let (status, body) = put_config(&server, json!({ "session_duration": 120 })).await;
    assert_eq!((status, body["version"].clone()), (200, json!(2)), "{body}");
    let (_, after) = login(&server, "carol").await;
    let expiry = |session: &Value| {
        let text = session["expires_at"].as_str().unwrap().to_owned();
        time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339).unwrap()
    };
    // The first login got the default hour; the next, a moment later, 120 s.
    let shorter = (expiry(&before) - expiry(&after)).whole_seconds();
    assert!((3470..=3481).contains(&shorter), "expiry {shorter} s earlier, session_duration 3600 → 120");

    // Stored as a version: shown fields redacted, secrets only sealed.
    let db = dir.path().join("uap.db");
    let stored = sqlite(
        &db,
        "SELECT version || ' ' || is_active || ' ' || config_data FROM uap_configurations ORDER BY version DESC LIMIT 1",
    );
    assert!(stored.starts_with("2 1 "), "{stored}");
    assert_eq!(sqlite(&db, "SELECT COUNT(*) FROM uap_configurations WHERE is_active"), "1");
    assert!(!stored.contains(JWT) && !stored.contains(KEY) && !stored.contains("host.db"), "{stored}");
    assert!(stored.contains("\"sealed_secrets\":{\"ciphertext\""), "{stored}");

    // Audited: one applied change with its diff, the refusals.
    let applied = "event_type = 'CONFIGURATION_CHANGE' AND success";
    assert_eq!(audit_count(&dir, applied).await, 2);
    let diff = sqlite(&db, &format!("SELECT group_concat(metadata) FROM uap_audit_logs WHERE {applied}"));
    assert!(diff.contains("\"host_user_table\":{\"from\":\"users\",\"to\":\"accounts\"}"), "{diff}");
    assert!(!diff.contains(JWT) && !diff.contains(KEY), "{diff}");
    assert_eq!(audit_count(&dir, "event_type = 'CONFIGURATION_CHANGE' AND NOT success").await, 4);
}

#[tokio::test]
async fn a_new_signing_key_ends_the_old_tokens() {
    let (server, _dir) = start().await;
    let (_, session) = login(&server, "bob").await;
    let token = session["token"].as_str().unwrap().to_owned();
    let (status, body) = put_config(&server, json!({ "jwt_secret_key": "fedcba9876543210fedcba9876543210" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(validate(&server, &token).await, 401, "signed with the old key");
    let (status, fresh) = login(&server, "bob").await;
    assert_eq!(status, 200);
    assert_eq!(validate(&server, fresh["token"].as_str().unwrap()).await, 200);
}

#[tokio::test]
async fn a_change_on_one_instance_reaches_the_other_over_the_bus() {
    let Some(redis) = redis_url() else { return };
    let prefix = format!("uap-config-{}:", uuid::Uuid::new_v4().simple());
    let (a, b, _dir) = two_instances(&format!("redis_url = \"{redis}\"\nredis_key_prefix = \"{prefix}\"\n")).await;
    assert_eq!(login(&b, "carol").await.0, 401);
    let (status, body) = put_config(&a, json!({ "host_user_table": "accounts" })).await;
    assert_eq!(status, 200, "{body}");
    assert!(reaches_version(&b, 1).await, "the other instance took the change");
    assert_eq!(login(&b, "carol").await.0, 200);
    assert_eq!(login(&b, "bob").await.0, 401);
}

#[tokio::test]
async fn without_a_bus_the_other_instance_finds_the_change_by_polling() {
    let (a, b, _dir) = two_instances("").await;
    let (status, body) =
        put_config(&a, json!({ "host_user_table": "accounts", "jwt_secret_key": "fedcba9876543210fedcba9876543210" }))
            .await;
    assert_eq!(status, 200, "{body}");
    assert!(reaches_version(&b, 1).await, "the other instance polled the change");
    // The sealed signing key travelled too: a token from one instance is
    // valid on the other.
    let (_, session) = login(&b, "carol").await;
    assert_eq!(validate(&a, session["token"].as_str().unwrap()).await, 200);
}

#[tokio::test]
async fn config_source_decides_whether_the_stored_version_wins_at_start_up() {
    let dir = TempDir::new();
    let host = dir.path().join("host.db");
    sqlite(&host, &host_sql());
    let host_url = format!("sqlite://{}", host.display());
    let first = serve_in(&dir, &host_url, &extra()).await;
    let (status, body) = put_config(&first, json!({ "host_user_table": "accounts" })).await;
    assert_eq!(status, 200, "{body}");
    drop(first);

    let from_file = serve_in(&dir, &host_url, &extra()).await;
    let (_, shown) = get_config(&from_file).await;
    assert_eq!(
        (shown["version"].clone(), shown["configuration"]["host_user_table"].clone()),
        (Value::Null, json!("users"))
    );
    assert_eq!(login(&from_file, "bob").await.0, 200, "config_source = \"file\": the file wins");
    drop(from_file);

    let from_database = serve_in(&dir, &host_url, &format!("{}config_source = \"database\"\n", extra())).await;
    let (_, shown) = get_config(&from_database).await;
    assert_eq!(
        (shown["version"].clone(), shown["configuration"]["host_user_table"].clone()),
        (json!(1), json!("accounts"))
    );
    assert_eq!(login(&from_database, "carol").await.0, 200, "config_source = \"database\": the stored version wins");
}
