//! The SDK revocation feed `GET /api/v1/auth/events` through the real binary
//! (issue #13 item 1): its guard, one event for every way a session ends,
//! key rotation, resuming with `Last-Event-ID`, heartbeats, and a logout on
//! one instance heard by a feed on another.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Server, TempDir, redis_url, serve_named, sqlite};

const SDK_KEY: &str = "sdk-key-0123456789abcdef";
const ADMIN_KEY: &str = "admin-key-0123456789abcdef";

/// bcrypt `$2y$` cost 4 of "bob-password".
const BOB: &str = "$2y$04$bZGuP3hzkdakjw2LpcMTqe8dbQ.oYYQi/BuJ5z/CaW.j51pe8ta6i";

/// A directory with the host database `host.db` (bob, id 1).
fn host(dir: &TempDir) -> String {
    let db = dir.path().join("host.db");
    sqlite(
        &db,
        &format!(
            "CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, username TEXT UNIQUE, password TEXT, role TEXT); \
             INSERT OR IGNORE INTO users (username, password, role) VALUES ('bob', '{BOB}', 'user');"
        ),
    );
    format!("sqlite://{}", db.display())
}

/// `uap serve` named `name` in `dir` over its host database, with `extra`.
async fn start(dir: &TempDir, name: &str, extra: &str) -> Server {
    let settings = format!(
        "host_db_url = \"{}\"\ndatabase_url = \"sqlite://{}?mode=rwc\"\n{extra}",
        host(dir),
        dir.path().join(format!("{name}.db")).display()
    );
    serve_named(dir, name, &settings).await
}

/// One server-sent event.
#[derive(Debug)]
struct Frame {
    id: Option<String>,
    event: String,
    data: Value,
}

/// An open feed connection.
struct Feed {
    response: reqwest::Response,
    buffer: String,
}

impl Feed {
    async fn open(server: &Server, last_event_id: Option<&str>) -> Feed {
        let mut request = reqwest::Client::new().get(server.url("/api/v1/auth/events")).header("X-API-Key", SDK_KEY);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Feed { response, buffer: String::new() }
    }

    /// The next frame (heartbeats included), within `within`.
    async fn frame(&mut self, within: Duration) -> Frame {
        let deadline = Instant::now() + within;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let raw: String = self.buffer.drain(..end + 2).collect();
                return parse(&raw);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = tokio::time::timeout(left, self.response.chunk())
                .await
                .unwrap_or_else(|_| panic!("no event within {within:?}; buffered {:?}", self.buffer))
                .unwrap()
                .expect("the feed stays open");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The next frame other than a heartbeat.
    async fn event(&mut self) -> Frame {
        loop {
            let frame = self.frame(Duration::from_secs(5)).await;
            if frame.event != "heartbeat" {
                return frame;
            }
        }
    }

    /// Skips to the next `name` event (within 5 s) and returns it.
    async fn expect(&mut self, name: &str) -> Frame {
        let frame = self.event().await;
        assert_eq!(frame.event, name, "{frame:?}");
        frame
    }
}

fn parse(raw: &str) -> Frame {
    let mut frame = Frame { id: None, event: String::new(), data: Value::Null };
    for line in raw.lines() {
        match line.split_once(": ") {
            Some(("id", id)) => frame.id = Some(id.to_owned()),
            Some(("event", event)) => event.clone_into(&mut frame.event),
            Some(("data", data)) => frame.data = serde_json::from_str(data).unwrap(),
            _ if line.is_empty() => {}
            _ => panic!("unexpected line {line:?} in {raw:?}"),
        }
    }
    frame
}

async fn call(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn login(server: &Server) -> Value {
    let body = json!({"username": "bob", "password": "bob-password"});
    let (status, session) =
        call(reqwest::Client::new().post(server.url("/api/v1/auth/authenticate")).json(&body)).await;
    assert_eq!(status, 200, "{session}");
    session
}

async fn post_with_token(server: &Server, path: &str, token: &Value) -> Value {
    let token = token.as_str().unwrap();
    let (status, body) = call(reqwest::Client::new().post(server.url(path)).bearer_auth(token)).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

async fn refresh_with(server: &Server, refresh_token: &Value) -> (u16, Value) {
    let body = json!({ "refresh_token": refresh_token });
    call(reqwest::Client::new().post(server.url("/api/v1/auth/refresh")).json(&body)).await
}

fn ended(session: &Value) -> Value {
    json!({ "session_id": session["session_id"], "user_id": "1" })
}

/// The claims of a session's token.
fn claims(session: &Value) -> Value {
    let payload = session["token"].as_str().unwrap().split('.').nth(1).unwrap();
    serde_json::from_slice(&data_encoding::BASE64URL_NOPAD.decode(payload.as_bytes()).unwrap()).unwrap()
}

/// `session` with its token's `session_id` claim (the login body has none).
fn with_session_id(mut session: Value) -> Value {
    session["session_id"] = claims(&session)["session_id"].clone();
    session
}

#[tokio::test]
async fn the_feed_needs_its_key_and_is_absent_without_one() {
    let dir = TempDir::new();
    let off = start(&dir, "off", "").await;
    let (status, body) = call(reqwest::Client::new().get(off.url("/api/v1/auth/events"))).await;
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].as_str().unwrap().contains("sdk_api_key"), "{body}");

    let on = start(&dir, "on", &format!("sdk_api_key = \"{SDK_KEY}\"\n")).await;
    let http = reqwest::Client::new();
    for key in [None, Some("wrong-key-0123456789"), Some("")] {
        let mut request = http.get(on.url("/api/v1/auth/events"));
        if let Some(key) = key {
            request = request.header("X-API-Key", key);
        }
        let (status, body) = call(request).await;
        assert_eq!(status, 401, "{key:?}: {body}");
        assert!(!body.to_string().contains(SDK_KEY));
    }
    let mut feed = Feed::open(&on, None).await;
    let ready = feed.expect("ready").await;
    assert_eq!(ready.data["heartbeat_seconds"], 15);
    assert!(ready.id.is_none());

    // Too short a key is a configuration mistake naming the key.
    let short = dir.path().join("short.toml");
    std::fs::write(&short, "host_db_url = \"sqlite://h.db\"\njwt_secret_key = \"0123456789abcdef0123456789abcdef\"\nsdk_api_key = \"short\"\n")
        .unwrap();
    let output = crate::support::run(crate::support::uap().args(["check", "--config"]).arg(&short));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("sdk_api_key: must be at least 16 bytes"), "{stderr}");
    assert!(!stderr.contains("\"short\""), "{stderr}");
}

#[tokio::test]
async fn every_way_a_session_ends_reaches_the_feed() {
    let dir = TempDir::new();
    let server = start(&dir, "uap", &format!("sdk_api_key = \"{SDK_KEY}\"\nrefresh_reuse_grace_seconds = 1\n")).await;
    let mut feed = Feed::open(&server, None).await;
    feed.expect("ready").await;

    // Logout.
    let session = with_session_id(login(&server).await);
    post_with_token(&server, "/api/v1/auth/logout", &session["token"]).await;
    let frame = feed.expect("session_ended").await;
    assert_eq!(frame.data, ended(&session));
    assert!(frame.id.is_some());

    // Refresh rotation ends the old session.
    let session = with_session_id(login(&server).await);
    let (status, rotated) = refresh_with(&server, &session["refresh_token"]).await;
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(feed.expect("session_ended").await.data, ended(&session));

    // A refresh with the access token keeps the session, not the old token.
    let extended = post_with_token(&server, "/api/v1/auth/refresh", &rotated["token"]).await;
    let rotated = with_session_id(rotated);
    let frame = feed.expect("session_refreshed").await;
    assert_eq!(frame.data["session_id"], rotated["session_id"]);
    assert_eq!(frame.data["expires_at"], claims(&extended)["exp"], "the new token's exp");

    // Theft: the spent refresh token again, after the grace, ends the chain.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let (status, _) = refresh_with(&server, &session["refresh_token"]).await;
    assert_eq!(status, 401);
    assert_eq!(feed.expect("session_ended").await.data, ended(&rotated));

    // Logout-all.
    let first = login(&server).await;
    login(&server).await;
    let before_logout_all = uap_ports::Clock::now(&uap_ports::SystemClock);
    post_with_token(&server, "/api/v1/auth/logout-all", &first["token"]).await;
    let frame = feed.expect("user_sessions_ended").await;
    assert_eq!(frame.data["user_id"], "1");
    assert_eq!(frame.data["keep_session_id"], Value::Null);
    let before = time::OffsetDateTime::parse(
        frame.data["before"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!((before - before_logout_all).abs() < time::Duration::seconds(2));
}

#[tokio::test]
async fn single_device_logins_and_idle_sessions_reach_the_feed() {
    let dir = TempDir::new();
    let server =
        start(&dir, "uap", &format!("sdk_api_key = \"{SDK_KEY}\"\nmulti_device_sessions = false\nidle_timeout = 1\n"))
            .await;
    let mut feed = Feed::open(&server, None).await;
    feed.expect("ready").await;
    login(&server).await;
    let second = with_session_id(login(&server).await);
    let frame = feed.expect("user_sessions_ended").await;
    assert_eq!(frame.data["keep_session_id"], second["session_id"]);

    // Quiet for longer than idle_timeout: the next validation ends it.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let token = second["token"].as_str().unwrap();
    let (status, _) = call(reqwest::Client::new().get(server.url("/api/v1/auth/validate")).bearer_auth(token)).await;
    assert_eq!(status, 401);
    assert_eq!(feed.expect("session_ended").await.data, ended(&second));
}

#[tokio::test]
async fn last_event_id_resumes_and_an_unknown_one_resyncs() {
    let dir = TempDir::new();
    let server = start(&dir, "uap", &format!("sdk_api_key = \"{SDK_KEY}\"\n")).await;
    let mut feed = Feed::open(&server, None).await;
    feed.expect("ready").await;
    let mut sessions = Vec::new();
    for _ in 0..3 {
        let session = with_session_id(login(&server).await);
        post_with_token(&server, "/api/v1/auth/logout", &session["token"]).await;
        sessions.push(session);
    }
    let mut ids = Vec::new();
    for session in &sessions {
        let frame = feed.expect("session_ended").await;
        assert_eq!(frame.data, ended(session));
        ids.push(frame.id.unwrap());
    }
    drop(feed);

    // Resuming after the first: the other two, then ready.
    let mut resumed = Feed::open(&server, Some(&ids[0])).await;
    for (session, id) in sessions.iter().zip(&ids).skip(1) {
        let frame = resumed.expect("session_ended").await;
        assert_eq!((frame.data, frame.id.as_ref()), (ended(session), Some(id)));
    }
    resumed.expect("ready").await;

    // An id this instance never gave: resync first.
    let mut lost = Feed::open(&server, Some("another-instance.7")).await;
    lost.expect("resync").await;
    lost.expect("ready").await;
}

#[tokio::test]
async fn an_idle_feed_gets_a_heartbeat_every_15_seconds() {
    let dir = TempDir::new();
    let server = start(&dir, "uap", &format!("sdk_api_key = \"{SDK_KEY}\"\n")).await;
    let mut feed = Feed::open(&server, None).await;
    feed.expect("ready").await;
    let opened = Instant::now();
    let beat = feed.frame(Duration::from_secs(17)).await;
    assert_eq!(beat.event, "heartbeat", "{beat:?}");
    assert!(beat.data["time"].is_string());
    assert!(opened.elapsed() >= Duration::from_secs(14), "{:?}", opened.elapsed());
}

#[tokio::test]
async fn a_new_signing_key_is_announced() {
    let dir = TempDir::new();
    let keys: Vec<_> = ["k1.pem", "k2.pem"]
        .into_iter()
        .map(|name| {
            let path = dir.path().join(name);
            let status = std::process::Command::new("openssl")
                .args(["genpkey", "-algorithm", "ed25519", "-out"])
                .arg(&path)
                .status()
                .expect("openssl is installed");
            assert!(status.success());
            path
        })
        .collect();
    let server = start(
        &dir,
        "uap",
        &format!(
            "sdk_api_key = \"{SDK_KEY}\"\nadmin_api_key = \"{ADMIN_KEY}\"\njwt_algorithm = \"EdDSA\"\njwt_private_key_file = \"{}\"\n",
            keys[0].display()
        ),
    )
    .await;
    let http = reqwest::Client::new();
    let jwks = |server: &Server| call(http.get(server.url("/.well-known/jwks.json")));
    let (_, before) = jwks(&server).await;
    let mut feed = Feed::open(&server, None).await;
    feed.expect("ready").await;
    let change = json!({ "jwt_private_key_file": keys[1].display().to_string() });
    let (status, body) =
        call(http.put(server.url("/api/v1/config/")).header("X-API-Key", ADMIN_KEY).json(&change)).await;
    assert_eq!(status, 200, "{body}");
    let frame = feed.expect("keys_rotated").await;
    let (_, after) = jwks(&server).await;
    assert_eq!(frame.data["kid"], after["keys"][0]["kid"]);
    assert_ne!(before["keys"][0]["kid"], after["keys"][0]["kid"]);
}

#[tokio::test]
async fn a_logout_on_one_instance_reaches_a_feed_on_another_within_a_second() {
    let Some(redis) = redis_url() else { return };
    let dir = TempDir::new();
    let prefix = format!("uap-it-{}:", uuid::Uuid::new_v4().simple());
    let shared = format!("sdk_api_key = \"{SDK_KEY}\"\nredis_url = \"{redis}\"\nredis_key_prefix = \"{prefix}\"\n");
    let a = start(&dir, "a", &shared).await;
    let b_dir = TempDir::new();
    let b = start(&b_dir, "b", &shared).await;
    let mut feed = Feed::open(&a, None).await;
    feed.expect("ready").await;

    let session = with_session_id(login(&b).await);
    let logged_out = Instant::now();
    post_with_token(&b, "/api/v1/auth/logout", &session["token"]).await;
    let frame = feed.expect("session_ended").await;
    let latency = logged_out.elapsed();
    assert_eq!(frame.data, ended(&session));
    assert!(latency < Duration::from_secs(1), "heard after {latency:?}");
    eprintln!("logout on B heard by a feed on A after {latency:?}");
}
