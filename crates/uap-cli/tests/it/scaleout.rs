//! Several instances behaving as one (Redis sessions and counters, a shared
//! PostgreSQL internal database), and the fault behaviour: Redis, the host
//! database going away and coming back.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::{Value, json};
use uap_adapters_sql::testing::TestDb;

use crate::proxy::Proxy;
use crate::support::{Server, TempDir, free_port, redis_url, serve_named};

const BOB: &str = "$2y$04$bZGuP3hzkdakjw2LpcMTqe8dbQ.oYYQi/BuJ5z/CaW.j51pe8ta6i";

fn host_db(dir: &TempDir) -> String {
    let host = dir.path().join("host.db");
    let status = Command::new("sqlite3")
        .arg(&host)
        .arg(format!("CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT UNIQUE, password TEXT); INSERT INTO users (username, password) VALUES ('bob', '{BOB}');"))
        .status()
        .unwrap();
    assert!(status.success());
    format!("sqlite://{}", host.display())
}

async fn call(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn two_instances_share_sessions_and_counters() {
    let Some(redis) = redis_url() else { return };
    let Some(internal) = TestDb::postgres().await else { return };
    let dir = TempDir::new();
    let prefix = format!("uap-it-{}:", uuid::Uuid::new_v4().simple());
    let settings = format!(
        "host_db_url = \"{}\"\ndatabase_url = \"{}\"\nredis_url = \"{redis}\"\nredis_key_prefix = \"{prefix}\"\nmax_attempts = 5\n",
        host_db(&dir),
        internal.url
    );
    let a = serve_named(&dir, "a", &settings).await;
    let b = serve_named(&dir, "b", &settings).await;
    let http = reqwest::Client::new();
    let login = |server: &Server| {
        call(
            http.post(server.url("/api/v1/auth/authenticate"))
                .json(&json!({"username": "bob", "password": "bob-password"})),
        )
    };
    let validate =
        |server: &Server, token: &str| call(http.get(server.url("/api/v1/auth/validate")).bearer_auth(token));

    let (status, session) = login(&a).await;
    assert_eq!(status, 200, "{session}");
    let token = session["token"].as_str().unwrap().to_owned();
    assert_eq!(validate(&b, &token).await.0, 200, "a token from A validates on B");

    // Refresh on B: the old token is refused on A at once, the new one works there.
    let (status, refreshed) = call(http.post(b.url("/api/v1/auth/refresh")).bearer_auth(&token)).await;
    assert_eq!(status, 200, "{refreshed}");
    let new_token = refreshed["token"].as_str().unwrap().to_owned();
    assert_eq!(validate(&a, &token).await.0, 401);
    assert_eq!(validate(&a, &new_token).await.0, 200);

    // Logout on B: refused on A at once.
    assert_eq!(call(http.post(b.url("/api/v1/auth/logout")).bearer_auth(&new_token)).await.0, 200);
    assert_eq!(validate(&a, &new_token).await.0, 401);

    // 100 concurrent guesses split across both instances: 5 reach verification.
    let guesses = (0..100).map(|i| {
        let server = if i % 2 == 0 { &a } else { &b };
        call(http.post(server.url("/api/v1/auth/authenticate")).json(&json!({"username": "bob", "password": "guess"})))
    });
    let statuses: Vec<u16> = join_all(guesses).await.into_iter().map(|(s, _)| s).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 5, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 95);

    a.terminate();
    b.terminate();
    internal.cleanup().await;
}

/// A private redis-server on a free port.
struct OwnRedis {
    port: u16,
    child: Option<Child>,
    dir: TempDir,
}

impl OwnRedis {
    fn start() -> OwnRedis {
        let mut redis = OwnRedis { port: free_port(), child: None, dir: TempDir::new() };
        redis.restart();
        redis
    }

    fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::yield_now();
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn until(what: &str, seconds: u64, mut check: impl AsyncFnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < Duration::from_secs(seconds), "{what} within {seconds} s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}

#[tokio::test]
async fn redis_outage_fails_closed_then_recovers_by_itself() {
    if redis_url().is_none() {
        return;
    }
    let mut redis = OwnRedis::start();
    let dir = TempDir::new();
    let settings = format!(
        "host_db_url = \"{}\"\ndatabase_url = \"sqlite://{}?mode=rwc\"\nredis_url = \"redis://127.0.0.1:{}\"\n",
        host_db(&dir),
        dir.path().join("uap.db").display(),
        redis.port
    );
    let server = serve_named(&dir, "uap", &settings).await;
    let http = reqwest::Client::new();
    let login_body = json!({"username": "bob", "password": "bob-password"});
    let (status, session) = call(http.post(server.url("/api/v1/auth/authenticate")).json(&login_body)).await;
    assert_eq!(status, 200);
    let token = session["token"].as_str().unwrap().to_owned();

    redis.kill();
    let started = Instant::now();
    let (status, body) = call(http.get(server.url("/api/v1/auth/validate")).bearer_auth(&token)).await;
    assert_eq!(status, 503, "never 'valid' while the store is down: {body}");
    assert!(started.elapsed() < Duration::from_secs(10), "fails fast: {:?}", started.elapsed());
    assert_eq!(call(http.post(server.url("/api/v1/auth/authenticate")).json(&login_body)).await.0, 503);
    let (status, health) = call(http.get(server.url("/api/v1/config/health"))).await;
    assert_eq!(status, 503);
    assert_eq!(health["components"]["session_store"], "unhealthy", "{health}");

    redis.restart();
    let recovered = until("login works again", 20, async || {
        call(http.post(server.url("/api/v1/auth/authenticate")).json(&login_body)).await.0 == 200
    })
    .await;
    eprintln!("recovered {recovered:?} after Redis came back");
    assert_eq!(call(http.get(server.url("/api/v1/config/health"))).await.0, 200);
    assert!(server.terminate().success(), "no panic, clean exit");
}

#[tokio::test]
async fn host_database_outage_refuses_logins_but_sessions_keep_validating() {
    let Some(host) = TestDb::postgres().await else { return };
    host.execute("CREATE TABLE users (id SERIAL PRIMARY KEY, username TEXT UNIQUE, password TEXT)").await;
    host.execute(&format!("INSERT INTO users (username, password) VALUES ('bob', '{BOB}')")).await;
    let proxy = Proxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let proxied = host.url.replacen("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port), 1);
    let dir = TempDir::new();
    let settings = format!(
        "host_db_url = \"{proxied}\"\ndatabase_url = \"sqlite://{}?mode=rwc\"\n",
        dir.path().join("uap.db").display()
    );
    let server = serve_named(&dir, "uap", &settings).await;
    let http = reqwest::Client::new();
    let login_body = json!({"username": "bob", "password": "bob-password"});
    let (status, session) = call(http.post(server.url("/api/v1/auth/authenticate")).json(&login_body)).await;
    assert_eq!(status, 200);
    let token = session["token"].as_str().unwrap().to_owned();

    proxy.cut();
    let (status, body) = call(http.post(server.url("/api/v1/auth/authenticate")).json(&login_body)).await;
    assert_eq!(status, 503, "{body}");
    assert!(body["error"].as_str().unwrap().contains("host"), "names the host data source: {body}");
    assert_eq!(
        call(http.get(server.url("/api/v1/auth/validate")).bearer_auth(&token)).await.0,
        200,
        "sessions do not need the host"
    );

    proxy.restore().await;
    until("logins work again", 20, async || {
        call(http.post(server.url("/api/v1/auth/authenticate")).json(&login_body)).await.0 == 200
    })
    .await;
    server.terminate();
    drop(proxy);
    host.cleanup().await;
}
