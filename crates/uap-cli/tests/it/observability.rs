//! Metrics, structured logs and alerts through the real binary (issue #11,
//! items 4, 6 and 8): metric values that move after a scripted flow, a full
//! flow whose captured output holds no secret, and an alert posted, signed,
//! to a local receiver.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use uap_adapters_sql::testing::TestDb;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{Codes, Server, TempDir, free_port, uap};

/// bcrypt `$2y$` cost 4 of "bob-password" (weak under `bcrypt_cost = 5`:
/// upgraded on login).
const BOB: &str = "$2y$04$bZGuP3hzkdakjw2LpcMTqe8dbQ.oYYQi/BuJ5z/CaW.j51pe8ta6i";
const BOB_PASSWORD: &str = "bob-password";
/// md5_crypt of "frank-password".
const FRANK: &str = r"$1$s5H6oQWK$4VRfLlKotz8vXH0RWoVvT/";
const WRONG_PASSWORD: &str = "wrong-Passw0rd-never-logged";
const JWT_SECRET: &str = "jwt-secret-observability-0123456789abcdef";
const ADMIN_KEY: &str = "admin-key-observability-0123456789";
const AEAD_KEY: &str = "5e0c1b2a3d4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f80912a3b4c5";
const ALERT_SECRET: &str = "alert-webhook-secret-0123456789";

fn sqlite(db: &Path, sql: &str) {
    let out = std::process::Command::new("sqlite3").arg(db).arg(sql).output().unwrap();
    assert!(out.status.success(), "sqlite3: {}", String::from_utf8_lossy(&out.stderr));
}

/// A host database with bob (bcrypt) and frank (md5_crypt); `uap.toml`
/// with `extra` appended; the internal database is `database_url` or a
/// SQLite file.
fn setup(extra: &str, database_url: Option<&str>) -> (TempDir, PathBuf, u16) {
    let dir = TempDir::new();
    let host = dir.path().join("host.db");
    sqlite(
        &host,
        &format!(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT UNIQUE, email TEXT, password TEXT, role TEXT);
             INSERT INTO users (username, email, password, role) VALUES ('bob', 'bob@example.com', '{BOB}', 'user');
             INSERT INTO users (username, email, password, role) VALUES ('frank', 'frank@example.com', '{FRANK}', 'user');"
        ),
    );
    let internal = database_url
        .map_or_else(|| format!("sqlite://{}?mode=rwc", dir.path().join("uap.db").display()), str::to_owned);
    let port = free_port();
    let config = dir.path().join("uap.toml");
    std::fs::write(
        &config,
        format!(
            "port = {port}\nhost_db_url = \"sqlite://{}\"\ndatabase_url = \"{internal}\"\n\
             jwt_secret_key = \"{JWT_SECRET}\"\npassword_hash_algorithm = \"bcrypt\"\nbcrypt_cost = 5\n{extra}",
            host.display(),
        ),
    )
    .unwrap();
    (dir, config, port)
}

/// Starts `uap serve` with stdout and stderr captured in `log`.
async fn start_logged(config: &Path, port: u16, log: &Path) -> Server {
    let file = File::create(log).unwrap();
    let mut command = uap();
    command.arg("serve").arg("--config").arg(config);
    let child = command.stdin(Stdio::null()).stdout(file.try_clone().unwrap()).stderr(file).spawn().unwrap();
    let (_, stdout) = std::sync::mpsc::channel();
    let server = Server { child, port, stdout };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if client.get(server.url("/health/live")).send().await.is_ok_and(|r| r.status() == 200) {
            return server;
        }
        assert!(Instant::now() < deadline, "uap did not become live; log:\n{}", read(log));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// SIGTERM, then waits for a clean exit; shows the log's end if it does not come.
async fn stop(mut server: Server, log: &Path) {
    let pid = server.child.id().to_string();
    std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "uap exited with {status}");
            return;
        }
        if Instant::now() > deadline {
            let output = read(log);
            let tail: Vec<&str> = output.lines().rev().take(40).collect();
            panic!("uap did not stop on SIGTERM; last lines (newest first):\n{}", tail.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn read(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

async fn call(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn login(server: &Server, username: &str, password: &str) -> (u16, Value) {
    let body = json!({"username": username, "password": password});
    call(reqwest::Client::new().post(server.url("/api/v1/auth/authenticate")).json(&body)).await
}

async fn post(server: &Server, route: &str, bearer: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = reqwest::Client::new().post(server.url(route)).json(&body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    call(request).await
}

async fn validate(server: &Server, token: &str) -> u16 {
    call(reqwest::Client::new().get(server.url("/api/v1/auth/validate")).bearer_auth(token)).await.0
}

/// One sample of the Prometheus text: name and labels.
type Sample = (String, BTreeMap<String, String>);

/// Parses `GET /metrics` into samples (label order does not matter).
async fn scrape(server: &Server) -> Vec<(Sample, f64)> {
    let text = reqwest::get(server.url("/metrics")).await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => {
                    let labels = rest
                        .trim_end_matches('}')
                        .split("\",")
                        .filter(|p| !p.is_empty())
                        .map(|pair| {
                            let (k, v) = pair.split_once('=').unwrap();
                            (k.to_owned(), v.trim_matches('"').to_owned())
                        })
                        .collect();
                    (name.to_owned(), labels)
                }
                None => (series.to_owned(), BTreeMap::new()),
            };
            ((name, labels), value.parse::<f64>().unwrap_or(f64::NAN))
        })
        .collect()
}

/// The value of `name{labels}` (0 when absent).
fn value(samples: &[(Sample, f64)], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .find(|((n, l), _)| n == name && labels.iter().all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v)))
        .map_or(0.0, |(_, v)| *v)
}

/// Scrapes until `done` holds (gauges refresh every few seconds); panics
/// after 30 s with the last failure.
async fn metrics_until(server: &Server, done: impl Fn(&[(Sample, f64)]) -> Result<(), String>) -> Vec<(Sample, f64)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let samples = scrape(server).await;
        match done(&samples) {
            Ok(()) => return samples,
            Err(why) => assert!(Instant::now() < deadline, "metrics never settled: {why}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn expect(samples: &[(Sample, f64)], name: &str, labels: &[(&str, &str)], want: f64) -> Result<(), String> {
    let got = value(samples, name, labels);
    if (got - want).abs() < f64::EPSILON { Ok(()) } else { Err(format!("{name}{labels:?} = {got}, want {want}")) }
}

#[tokio::test]
async fn metric_values_move_after_a_scripted_flow() {
    let (dir, config, port) = setup("max_attempts = 3\nhash_upgrade = \"write_back\"\n", None);
    let log = dir.path().join("uap.log");
    let server = start_logged(&config, port, &log).await;
    let before = scrape(&server).await;
    assert_eq!(value(&before, "uap_active_sessions", &[]), 0.0);

    // Wrong passwords for frank until the rate limit answers 429.
    let mut refused = 0;
    loop {
        let (status, body) = login(&server, "frank", WRONG_PASSWORD).await;
        if status == 429 {
            break;
        }
        assert_eq!(status, 401, "{body}");
        refused += 1;
        assert!(refused <= 5, "no rate limit after {refused} failures");
    }
    let (status, session) = login(&server, "bob", BOB_PASSWORD).await;
    assert_eq!(status, 200, "{session}");
    let token = session["token"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        assert_eq!(validate(&server, &token).await, 200);
    }

    let refused = f64::from(refused);
    let after = metrics_until(&server, |m| {
        let auth = "/api/v1/auth/authenticate";
        expect(m, "uap_http_requests_total", &[("method", "POST"), ("route", auth), ("status", "200")], 1.0)?;
        expect(m, "uap_http_requests_total", &[("method", "POST"), ("route", auth), ("status", "401")], refused)?;
        expect(m, "uap_http_requests_total", &[("method", "POST"), ("route", auth), ("status", "429")], 1.0)?;
        let validate = "/api/v1/auth/validate";
        expect(m, "uap_http_requests_total", &[("method", "GET"), ("route", validate), ("status", "200")], 3.0)?;
        expect(m, "uap_http_request_duration_seconds_count", &[("route", validate)], 3.0)?;
        expect(m, "uap_authentication_requests_total", &[("method", "password"), ("status", "200")], 1.0)?;
        expect(m, "uap_password_verifications_total", &[("format", "bcrypt"), ("outcome", "match")], 1.0)?;
        expect(m, "uap_password_verifications_total", &[("format", "md5_crypt"), ("outcome", "mismatch")], refused)?;
        expect(m, "uap_password_hash_upgrades_total", &[("from", "bcrypt"), ("to", "bcrypt")], 1.0)?;
        expect(m, "uap_login_attempts_total", &[("outcome", "success")], 1.0)?;
        expect(m, "uap_login_attempts_total", &[("outcome", "failure")], refused + 1.0)?;
        expect(m, "uap_rate_limit_blocks_total", &[("reason", "rate_limited")], 1.0)?;
        expect(m, "uap_security_events_total", &[("event", "ACCOUNT_LOCKED")], 1.0)?;
        expect(m, "uap_active_sessions", &[], 1.0)?;
        let lookups = value(m, "uap_session_cache_hits_total", &[]) + value(m, "uap_session_cache_misses_total", &[]);
        if lookups < 3.0 || value(m, "uap_session_cache_hits_total", &[]) < 1.0 {
            return Err(format!("session cache lookups: {lookups}"));
        }
        if value(m, "uap_cache_hit_rate", &[]) > 0.0 { Ok(()) } else { Err("uap_cache_hit_rate is 0".into()) }
    })
    .await;
    for name in [
        "uap_authentication_requests_total",
        "uap_authentication_duration_seconds_count",
        "uap_active_sessions",
        "uap_middleware_execution_seconds_count",
        "uap_database_connections_active",
        "uap_cache_hit_rate",
        "uap_audit_queue_depth",
        "uap_host_directory_lookups_in_flight",
    ] {
        assert!(after.iter().any(|((n, _), _)| n == name), "{name} missing");
    }
    assert!(value(&after, "uap_middleware_execution_seconds_count", &[("middleware_name", "rate_limit")]) > 0.0);
    // No raw path is a label: routes are templates.
    assert!(after.iter().all(|((_, l), _)| l.get("route").is_none_or(|r| !r.contains(&token))));

    // Logout: the active-session gauge comes back down.
    let (status, _) = post(&server, "/api/v1/auth/logout", Some(&token), json!({})).await;
    assert_eq!(status, 200);
    metrics_until(&server, |m| expect(m, "uap_active_sessions", &[], 0.0)).await;
    stop(server, &log).await;
    // The lockout is also a WARN security_event record (JSON lines by default).
    let output = read(&log);
    let locked = output.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).any(|r| {
        r["message"] == "security_event"
            && r["event"] == "ACCOUNT_LOCKED"
            && r["level"] == "WARN"
            && r["client_address"] == "127.0.0.1"
    });
    assert!(locked, "no ACCOUNT_LOCKED security_event:\n{output}");
}

/// The internal database on PostgreSQL as a role with a password, when
/// `UAP_TEST_POSTGRES_URL` is set: (database, role, password, URL).
async fn postgres_with_password() -> Option<(TestDb, String, String, String)> {
    let db = TestDb::postgres().await?;
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let role = format!("uap_obs_{}", &suffix[..12]);
    let password = format!("db-pass-{suffix}");
    db.execute(&format!("CREATE ROLE {role} LOGIN PASSWORD '{password}'")).await;
    let name = db.url.rsplit('/').next().unwrap().split('?').next().unwrap().to_owned();
    db.execute(&format!("ALTER DATABASE \"{name}\" OWNER TO {role}")).await;
    db.execute(&format!("GRANT ALL ON SCHEMA public TO {role}")).await;
    let (scheme, rest) = db.url.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let url = format!("{scheme}://{role}:{password}@{host}");
    Some((db, role, password, url))
}

#[tokio::test]
async fn a_full_flow_logs_json_records_and_no_secret() {
    let pg = postgres_with_password().await;
    let extra = format!(
        "log_format = \"json\"\ndebug = true\nrefresh_reuse_grace_seconds = 0\nadmin_api_key = \"{ADMIN_KEY}\"\nencryption_key = \"{AEAD_KEY}\"\n\
         [[middleware_stack]]\nname = \"mfa\"\nenabled = true\nissuer = \"Acme\"\n"
    );
    let (dir, config, port) = setup(&extra, pg.as_ref().map(|(_, _, _, url)| url.as_str()));
    let log = dir.path().join("uap.log");
    let server = start_logged(&config, port, &log).await;
    let mut issued: Vec<String> = Vec::new();

    // Login, enroll and confirm a second factor.
    let (status, session) = login(&server, "bob", BOB_PASSWORD).await;
    assert_eq!(status, 200, "{session}");
    let bearer = session["token"].as_str().unwrap().to_owned();
    issued.push(bearer.clone());
    issued.push(session["refresh_token"].as_str().unwrap().to_owned());
    let (status, enroll) =
        post(&server, "/api/v1/auth/mfa/totp/enroll", Some(&bearer), json!({"password": BOB_PASSWORD})).await;
    assert_eq!(status, 200, "{enroll}");
    issued.push(enroll["secret"].as_str().unwrap().to_owned());
    let codes = Codes::of(&enroll);
    let (status, _) =
        post(&server, "/api/v1/auth/mfa/totp/confirm", Some(&bearer), json!({"code": codes.at(-1)})).await;
    assert_eq!(status, 200);

    // A wrong password, then a login with the second factor.
    assert_eq!(login(&server, "bob", WRONG_PASSWORD).await.0, 401);
    let (status, challenge) = login(&server, "bob", BOB_PASSWORD).await;
    assert_eq!((status, &challenge["mfa_required"]), (401, &json!(true)), "{challenge}");
    let mfa_token = challenge["mfa_token"].as_str().unwrap().to_owned();
    issued.push(mfa_token.clone());
    let (status, session) =
        post(&server, "/api/v1/auth/mfa/verify", None, json!({"mfa_token": mfa_token, "code": codes.at(0)})).await;
    assert_eq!(status, 200, "{session}");
    let token = session["token"].as_str().unwrap().to_owned();
    let refresh_token = session["refresh_token"].as_str().unwrap().to_owned();
    issued.extend([token.clone(), refresh_token.clone()]);

    // Validate, refresh, validate the new token, the admin API, logout.
    assert_eq!(validate(&server, &token).await, 200);
    let (status, refreshed) =
        post(&server, "/api/v1/auth/refresh", None, json!({"refresh_token": refresh_token})).await;
    assert_eq!(status, 200, "{refreshed}");
    let new_token = refreshed["token"].as_str().unwrap().to_owned();
    issued.extend([new_token.clone(), refreshed["refresh_token"].as_str().unwrap().to_owned()]);
    assert_eq!(validate(&server, &new_token).await, 200);
    let (status, _) =
        call(reqwest::Client::new().get(server.url("/api/v1/audit/logs")).header("X-API-Key", ADMIN_KEY)).await;
    assert_eq!(status, 200);
    assert_eq!(post(&server, "/api/v1/auth/logout", Some(&new_token), json!({})).await.0, 200);
    assert_eq!(validate(&server, &new_token).await, 401);
    // The refresh token reused after its rotation: suspicious activity.
    assert_eq!(post(&server, "/api/v1/auth/refresh", None, json!({"refresh_token": refresh_token})).await.0, 401);
    stop(server, &log).await;

    let output = read(&log);
    let mut secrets: Vec<(&str, String)> = vec![
        ("password", BOB_PASSWORD.to_owned()),
        ("wrong password", WRONG_PASSWORD.to_owned()),
        ("JWT secret", JWT_SECRET.to_owned()),
        ("admin key", ADMIN_KEY.to_owned()),
        ("AEAD key", AEAD_KEY.to_owned()),
    ];
    secrets.extend(issued.iter().map(|t| ("issued token/secret", t.clone())));
    // A JWT's signature alone is as sensitive as the whole token.
    secrets.extend(issued.iter().filter_map(|t| t.rsplit('.').next()).map(|s| ("token part", s.to_owned())));
    if let Some((_, _, password, _)) = &pg {
        secrets.push(("DB password", password.clone()));
    }
    for (what, secret) in &secrets {
        assert!(!output.contains(secret.as_str()), "the {what} appears in the output:\n{output}");
    }

    // JSON lines: one access record per request (route template, status,
    // request id, latency, client address, user id where known), one
    // auth_attempt per login, a security_event for the reused refresh token.
    let records: Vec<Value> = output.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(!records.is_empty(), "no JSON lines:\n{output}");
    let of = |message: &str| records.iter().filter(|r| r["message"] == message).cloned().collect::<Vec<_>>();
    let access = of("request");
    let validated = access
        .iter()
        .find(|r| r["route"] == "/api/v1/auth/validate" && r["status"] == 200)
        .unwrap_or_else(|| panic!("no validate access record:\n{output}"));
    assert_eq!(validated["method"], "GET");
    assert_eq!(validated["user_id"], "1", "{validated}");
    assert_eq!(validated["client_address"], "127.0.0.1", "{validated}");
    assert!(validated["request_id"].as_str().is_some_and(|id| !id.is_empty()), "{validated}");
    assert!(validated["latency_ms"].as_f64().is_some(), "{validated}");
    assert!(access.iter().any(|r| r["route"] == "/api/v1/auth/authenticate" && r["status"] == 401));
    let attempts = of("auth_attempt");
    assert!(
        attempts.iter().any(|r| r["outcome"] == "failure" && r["reason"] == "wrong_password" && r["user_id"] == "1")
    );
    assert!(attempts.iter().any(|r| r["outcome"] == "success" && r["user_id"] == "1"));
    assert!(
        of("security_event").iter().any(|r| r["event"] == "SUSPICIOUS_ACTIVITY" && r["level"] == "WARN"),
        "{output}"
    );

    if let Some((db, role, _, _)) = pg {
        db.execute(&format!("REASSIGN OWNED BY {role} TO CURRENT_USER")).await;
        db.execute(&format!("DROP OWNED BY {role}")).await;
        db.execute(&format!("DROP ROLE {role}")).await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn failed_logins_over_the_threshold_fire_a_signed_alert() {
    let receiver = MockServer::start().await;
    Mock::given(method("POST")).and(path("/alerts")).respond_with(ResponseTemplate::new(204)).mount(&receiver).await;
    let extra = format!(
        "[alerts]\nfailed_auth_per_minute = 2\ninterval_seconds = 1\nwebhook_url = \"{}/alerts\"\n\
         webhook_secret = \"{ALERT_SECRET}\"\n",
        receiver.uri()
    );
    let (dir, config, port) = setup(&extra, None);
    let log = dir.path().join("uap.log");
    let server = start_logged(&config, port, &log).await;
    let metrics = scrape(&server).await;
    assert_eq!(value(&metrics, "uap_alert_active", &[("alert", "failed_auth_per_minute")]), 0.0);

    for user in ["nobody-1", "nobody-2", "nobody-3"] {
        assert_eq!(login(&server, user, WRONG_PASSWORD).await.0, 401);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let alert = loop {
        let received = receiver.received_requests().await.unwrap_or_default();
        if let Some(request) = received.first() {
            break request.clone();
        }
        assert!(Instant::now() < deadline, "no alert received; log:\n{}", read(&log));
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let header = |name: &str| alert.headers.get(name).and_then(|v| v.to_str().ok()).unwrap().to_owned();
    let timestamp: i64 = header("x-uap-timestamp").parse().unwrap();
    let signature = header("x-uap-signature");
    assert!(uap_adapters_http::verify_signature(ALERT_SECRET, timestamp, &alert.body, &signature), "bad signature");
    assert!(!uap_adapters_http::verify_signature("another-secret", timestamp, &alert.body, &signature));
    let body: Value = serde_json::from_slice(&alert.body).unwrap();
    assert_eq!(body["alert"], "failed_auth_per_minute", "{body}");
    assert_eq!(body["state"], "firing");
    assert_eq!(body["threshold"], 2.0);
    assert_eq!(body["value"], 3.0);

    let metrics = scrape(&server).await;
    assert_eq!(value(&metrics, "uap_alert_active", &[("alert", "failed_auth_per_minute")]), 1.0);
    stop(server, &log).await;
    let output = read(&log);
    let warned = output.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).any(|r| {
        r["message"] == "alert"
            && r["level"] == "WARN"
            && r["alert"] == "failed_auth_per_minute"
            && r["state"] == "firing"
    });
    assert!(warned, "no WARN alert record:\n{output}");
    assert!(!output.contains(ALERT_SECRET));
}
