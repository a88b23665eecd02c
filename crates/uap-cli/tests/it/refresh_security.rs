//! Refresh and session lifetime through the real binary (issue #9 items 1,
//! 6, 12, 13, 16, 18, 19): every refresh re-reads the host user, a chain has
//! an absolute end, the idle rule applies to refresh, an expired access token
//! changes nothing, a refresh by access token gives an access token only and
//! ends the old one at once, a role's duration is not capped by
//! `jwt_expiration`, and theft detection on one instance reaches the others.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use uap_adapters_sql::testing::TestDb;

use crate::proxy::Proxy;
use crate::support::{Server, TempDir, audit_count, serve_named};

/// bcrypt `$2y$` cost 4 of "bob-password".
const BOB: &str = "$2y$04$bZGuP3hzkdakjw2LpcMTqe8dbQ.oYYQi/BuJ5z/CaW.j51pe8ta6i";
/// Another stored hash: the password was changed on the host.
const CHANGED: &str = "$2y$04$Q8qZzjK1xTn4hB0n3pDfVeJ9yU3c2bR6m5wKa7L1sE8vT0gH4iJ2u";

const USERS: &str = "CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT UNIQUE, email TEXT, password TEXT, \
                     role TEXT, is_active INTEGER NOT NULL DEFAULT 1)";

/// The API of one running instance, with the test's directory.
struct Uap {
    server: Server,
    dir: TempDir,
    api: Api,
}

impl std::ops::Deref for Uap {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

/// Requests to one instance.
struct Api {
    base: String,
    http: reqwest::Client,
}

/// `uap serve` over a SQLite host database holding bob (user) and root
/// (admin), both with the password "bob-password".
async fn start(extra: &str) -> Uap {
    let dir = TempDir::new();
    host_sql(
        &dir,
        &format!(
            "{USERS}; INSERT INTO users (username, email, password, role) VALUES ('bob', 'bob@example.com', '{BOB}', 'user'), ('root', 'root@example.com', '{BOB}', 'admin');"
        ),
    );
    let host = dir.path().join("host.db");
    let settings = format!(
        "host_db_url = \"sqlite://{}\"\ndatabase_url = \"sqlite://{}?mode=rwc\"\n{extra}",
        host.display(),
        dir.path().join("uap.db").display()
    );
    let server = serve_named(&dir, "uap", &settings).await;
    Uap { api: Api::of(&server), server, dir }
}

/// Runs SQL on the host database (the host application changing a user).
fn host_sql(dir: &TempDir, sql: &str) {
    let status = std::process::Command::new("sqlite3").arg(dir.path().join("host.db")).arg(sql).status().unwrap();
    assert!(status.success(), "{sql}");
}

async fn call(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

impl Api {
    fn of(server: &Server) -> Api {
        Api { base: server.url(""), http: reqwest::Client::new() }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn login(&self, username: &str) -> Value {
        let body = json!({"username": username, "password": "bob-password"});
        let (status, session) = call(self.http.post(self.url("/api/v1/auth/authenticate")).json(&body)).await;
        assert_eq!(status, 200, "{session}");
        session
    }

    async fn validate(&self, token: &str) -> (u16, Value) {
        call(self.http.get(self.url("/api/v1/auth/validate")).bearer_auth(token)).await
    }

    async fn refresh_with_token(&self, token: &str) -> (u16, Value) {
        call(self.http.post(self.url("/api/v1/auth/refresh")).bearer_auth(token)).await
    }

    async fn refresh_with_refresh_token(&self, refresh_token: &str) -> (u16, Value) {
        let body = json!({ "refresh_token": refresh_token });
        call(self.http.post(self.url("/api/v1/auth/refresh")).json(&body)).await
    }
}

fn text<'a>(body: &'a Value, field: &str) -> &'a str {
    body[field].as_str().unwrap_or_else(|| panic!("no {field} in {body}"))
}

/// The `exp` claim of a token.
fn exp_of(token: &str) -> i64 {
    let payload = token.split('.').nth(1).unwrap();
    let payload = data_encoding::BASE64URL_NOPAD.decode(payload.as_bytes()).unwrap();
    serde_json::from_slice::<Value>(&payload).unwrap()["exp"].as_i64().unwrap()
}

fn unix_now() -> i64 {
    uap_ports::Clock::now(&uap_ports::SystemClock).unix_timestamp()
}

/// Polls `check` until it holds (at most `seconds`).
async fn until(what: &str, seconds: u64, mut check: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < Duration::from_secs(seconds), "{what} within {seconds} s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Lets wall-clock time pass: the rule under test is about time itself
/// (idle timeout, chain end), there is no other condition to wait for.
async fn let_time_pass(seconds: u64) {
    tokio::time::sleep(Duration::from_millis(seconds * 1000 + 200)).await;
}

#[tokio::test]
async fn a_disabled_user_cannot_refresh_and_the_chain_ends() {
    let uap = start("").await;
    let session = uap.login("bob").await;
    let (status, rotated) = uap.refresh_with_refresh_token(text(&session, "refresh_token")).await;
    assert_eq!(status, 200, "{rotated}");

    host_sql(&uap.dir, "UPDATE users SET is_active = 0 WHERE username = 'bob'");
    let (status, body) = uap.refresh_with_refresh_token(text(&rotated, "refresh_token")).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(uap.validate(text(&rotated, "token")).await.0, 401, "the chain's live session ended");
    host_sql(&uap.dir, "UPDATE users SET is_active = 1 WHERE username = 'bob'");
    assert_eq!(uap.refresh_with_refresh_token(text(&rotated, "refresh_token")).await.0, 401, "ended for good");
    assert_eq!(uap.refresh_with_token(text(&rotated, "token")).await.0, 401);
    assert_eq!(
        audit_count(&uap.dir, "event_type = 'SESSION_EXPIRED' AND error_message = 'host_user_inactive'").await,
        1
    );
}

#[tokio::test]
async fn a_changed_password_ends_the_chain() {
    let uap = start("").await;
    let session = uap.login("bob").await;
    host_sql(&uap.dir, &format!("UPDATE users SET password = '{CHANGED}' WHERE username = 'bob'"));
    let (status, body) = uap.refresh_with_token(text(&session, "token")).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(uap.refresh_with_refresh_token(text(&session, "refresh_token")).await.0, 401);
    assert_eq!(uap.validate(text(&session, "token")).await.0, 401);
    assert_eq!(
        audit_count(&uap.dir, "event_type = 'SESSION_EXPIRED' AND error_message = 'credentials_changed'").await,
        1
    );
}

#[tokio::test]
async fn a_removed_role_changes_the_refreshed_sessions_roles_and_duration() {
    let uap = start("").await;
    let session = uap.login("root").await;
    assert!((exp_of(text(&session, "token")) - unix_now() - 7200).abs() <= 5, "admin duration");

    host_sql(&uap.dir, "UPDATE users SET role = 'user' WHERE username = 'root'");
    let (status, rotated) = uap.refresh_with_refresh_token(text(&session, "refresh_token")).await;
    assert_eq!(status, 200, "{rotated}");
    assert!((exp_of(text(&rotated, "token")) - unix_now() - 3600).abs() <= 5, "user duration now: {rotated}");
    let (status, valid) = uap.validate(text(&rotated, "token")).await;
    assert_eq!(status, 200);
    assert_eq!(valid["user_data"]["role"], "user", "{valid}");
    assert!(valid["user_data"].get("password").is_none());

    // The same through a refresh by access token.
    host_sql(&uap.dir, "UPDATE users SET role = 'guest' WHERE username = 'root'");
    let (status, extended) = uap.refresh_with_token(text(&rotated, "token")).await;
    assert_eq!(status, 200, "{extended}");
    assert!((exp_of(text(&extended, "token")) - unix_now() - 1800).abs() <= 5, "guest duration: {extended}");
    assert_eq!(uap.validate(text(&extended, "token")).await.1["user_data"]["role"], "guest");
}

#[tokio::test]
async fn an_admin_token_lives_its_role_duration_beyond_jwt_expiration() {
    let uap = start("jwt_expiration = 3600\n").await;
    let session = uap.login("root").await;
    let exp = exp_of(text(&session, "token"));
    assert!((exp - unix_now() - 7200).abs() <= 5, "exp {exp} is about now + 7200");
    let (status, valid) = uap.validate(text(&session, "token")).await;
    assert_eq!(status, 200);
    assert_eq!(text(&valid, "expires_at"), text(&session, "expires_at"));
}

#[tokio::test]
async fn a_refresh_chain_ends_at_refresh_chain_max_seconds() {
    let uap = start("refresh_chain_max_seconds = 3\n").await;
    let session = uap.login("bob").await;
    let (status, rotated) = uap.refresh_with_refresh_token(text(&session, "refresh_token")).await;
    assert_eq!(status, 200, "{rotated}");
    let refresh_exp = &text(&rotated, "refresh_expires_at")[..19];
    assert_eq!(refresh_exp, &text(&session, "refresh_expires_at")[..19], "capped at login + 3 s, not now + 30 days");

    let_time_pass(3).await;
    assert_eq!(uap.refresh_with_refresh_token(text(&rotated, "refresh_token")).await.0, 401);
    assert_eq!(uap.refresh_with_token(text(&rotated, "token")).await.0, 401);
    assert_eq!(uap.validate(text(&rotated, "token")).await.0, 200, "the access token lives on to its own exp");
}

#[tokio::test]
async fn the_idle_timeout_applies_to_refresh() {
    let uap = start("idle_timeout = 2\n").await;
    let session = uap.login("bob").await;
    let_time_pass(3).await;
    let (status, body) = uap.refresh_with_refresh_token(text(&session, "refresh_token")).await;
    assert_eq!(status, 401, "an idle session is not revived: {body}");
    assert_eq!(uap.refresh_with_refresh_token(text(&session, "refresh_token")).await.0, 401, "it ended");
    assert_eq!(audit_count(&uap.dir, "event_type = 'SESSION_EXPIRED' AND error_message = 'idle_timeout'").await, 1);
}

#[tokio::test]
async fn an_expired_access_token_leaves_the_refresh_token_working() {
    let uap = start("session_duration = 3\nrole_session_durations = { user = 3 }\n").await;
    let session = uap.login("bob").await;
    let token = text(&session, "token");
    until("the access token expires", 10, async || uap.validate(token).await.0 == 401).await;
    assert_eq!(uap.validate(token).await.0, 401, "still just expired");
    assert_eq!(audit_count(&uap.dir, "event_type = 'SESSION_EXPIRED'").await, 0, "nothing ended");
    let (status, rotated) = uap.refresh_with_refresh_token(text(&session, "refresh_token")).await;
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(uap.validate(text(&rotated, "token")).await.0, 200);
}

#[tokio::test]
async fn an_access_token_refresh_gives_an_access_token_only_and_ends_the_old_one() {
    let uap = start("").await;
    let session = uap.login("bob").await;
    let old = text(&session, "token");
    let (status, extended) = uap.refresh_with_token(old).await;
    assert_eq!(status, 200, "{extended}");
    assert!(extended.get("refresh_token").is_none() && extended.get("refresh_expires_at").is_none(), "{extended}");
    assert_eq!(extended["session_id"], session["session_id"], "the same session");
    assert_eq!(uap.validate(old).await.0, 401, "the old access token is refused at once");
    assert_eq!(uap.refresh_with_token(old).await.0, 401, "no grace for access tokens");
    assert_eq!(uap.validate(text(&extended, "token")).await.0, 200);

    // The login's refresh token still works, and rotates.
    let (status, rotated) = uap.refresh_with_refresh_token(text(&session, "refresh_token")).await;
    assert_eq!(status, 200, "{rotated}");
    assert!(rotated.get("refresh_token").is_some());
    assert_eq!(uap.validate(text(&extended, "token")).await.0, 401, "rotated away");
}

#[tokio::test]
async fn an_unreachable_host_database_during_refresh_is_503_and_ends_nothing() {
    let Some(host) = TestDb::postgres().await else { return };
    host.execute(
        "CREATE TABLE users (id SERIAL PRIMARY KEY, username TEXT UNIQUE, password TEXT, role TEXT, \
         is_active BOOLEAN NOT NULL DEFAULT TRUE)",
    )
    .await;
    host.execute(&format!("INSERT INTO users (username, password, role) VALUES ('bob', '{BOB}', 'user')")).await;
    let proxy = Proxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let proxied = host.url.replacen("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port), 1);
    let dir = TempDir::new();
    let settings = format!(
        "host_db_url = \"{proxied}\"\ndatabase_url = \"sqlite://{}?mode=rwc\"\n",
        dir.path().join("uap.db").display()
    );
    let server = serve_named(&dir, "uap", &settings).await;
    let uap = Uap { api: Api::of(&server), server, dir };
    let session = uap.login("bob").await;

    proxy.cut();
    let (status, body) = uap.refresh_with_refresh_token(text(&session, "refresh_token")).await;
    assert_eq!(status, 503, "{body}");
    assert!(text(&body, "error").contains("host"), "names the host data source: {body}");
    assert_eq!(uap.refresh_with_token(text(&session, "token")).await.0, 503);
    assert_eq!(uap.validate(text(&session, "token")).await.0, 200, "nothing ended");

    proxy.restore().await;
    let refresh_token = text(&session, "refresh_token");
    until("refresh works again", 20, async || uap.refresh_with_refresh_token(refresh_token).await.0 == 200).await;
    uap.server.terminate();
    drop(proxy);
    host.cleanup().await;
}

/// Three instances over one internal database with the Redis bus and a long
/// session cache: refresh-token theft detected on an instance that never saw
/// the chain still reaches the one that has it cached.
#[tokio::test]
async fn theft_detected_on_one_instance_is_rejected_on_the_others_at_once() {
    let Ok(redis) = std::env::var("UAP_TEST_REDIS_URL") else {
        let required = std::env::var("UAP_REQUIRE_INTEGRATION").as_deref() == Ok("1");
        assert!(!required, "UAP_TEST_REDIS_URL is required (UAP_REQUIRE_INTEGRATION=1)");
        eprintln!("skipping: UAP_TEST_REDIS_URL not set");
        return;
    };
    let Some(internal) = TestDb::postgres().await else { return };
    let dir = TempDir::new();
    host_sql(&dir, &format!("{USERS}; INSERT INTO users (username, password, role) VALUES ('bob', '{BOB}', 'user');"));
    let prefix = format!("uap-it-{}:", uuid::Uuid::new_v4().simple());
    let settings = format!(
        "host_db_url = \"sqlite://{}\"\ndatabase_url = \"{}\"\nsession_store = \"database\"\n\
         redis_url = \"{redis}\"\nredis_key_prefix = \"{prefix}\"\nsession_cache_ttl_ms = 600000\n\
         refresh_reuse_grace_seconds = 0\n",
        dir.path().join("host.db").display(),
        internal.url
    );
    let a = serve_named(&dir, "a", &settings).await;
    let b = serve_named(&dir, "b", &settings).await;
    let c = serve_named(&dir, "c", &settings).await;
    let (a_api, b_api, c_api) = (Api::of(&a), Api::of(&b), Api::of(&c));

    let session = a_api.login("bob").await;
    let (status, rotated) = a_api.refresh_with_refresh_token(text(&session, "refresh_token")).await;
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(b_api.validate(text(&rotated, "token")).await.0, 200, "cached on b");

    // The spent refresh token, replayed on c after the grace: theft.
    let (status, body) = c_api.refresh_with_refresh_token(text(&session, "refresh_token")).await;
    assert_eq!(status, 401, "{body}");
    until("b drops the chain", 5, async || b_api.validate(text(&rotated, "token")).await.0 == 401).await;
    assert_eq!(a_api.validate(text(&rotated, "token")).await.0, 401);
    for server in [a, b, c] {
        server.terminate();
    }
    internal.cleanup().await;
}
