//! The admin guard and the audit surface through the real binary (issue #11
//! items 1 and 3): 404 / 403 / 401 in the contract's order, `API_ACCESS`
//! rows without the key, the compliance report's numbers after a scripted
//! sequence of logins, the logs filters, `uap audit report` and
//! `uap audit cleanup`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Server, TempDir, free_port, run, uap};

const KEY: &str = "admin-key-for-tests-0123456789";
/// bcrypt `$2y$` cost 4 of "bob-password" (weak under `bcrypt_cost = 5`:
/// upgraded on login).
const BOB: &str = "$2y$04$bZGuP3hzkdakjw2LpcMTqe8dbQ.oYYQi/BuJ5z/CaW.j51pe8ta6i";
/// md5_crypt of "frank-password" (weak, but never rewritten: nothing stronger
/// verifies in crypt(3)).
const FRANK: &str = r"$1$s5H6oQWK$4VRfLlKotz8vXH0RWoVvT/";

fn sqlite(db: &std::path::Path, sql: &str) -> String {
    let out = std::process::Command::new("sqlite3").arg(db).arg(sql).output().unwrap();
    assert!(out.status.success(), "sqlite3: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A host database with bob (bcrypt) and frank (md5_crypt), and `uap.toml`.
fn setup(extra: &str) -> (TempDir, std::path::PathBuf, u16) {
    let dir = TempDir::new();
    let host = dir.path().join("host.db");
    sqlite(
        &host,
        &format!(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT UNIQUE, password TEXT, role TEXT);
             INSERT INTO users (username, password, role) VALUES ('bob', '{BOB}', 'user');
             INSERT INTO users (username, password, role) VALUES ('frank', '{FRANK}', 'user');"
        ),
    );
    let port = free_port();
    let config = dir.path().join("uap.toml");
    std::fs::write(
        &config,
        format!(
            "port = {port}\nhost_db_url = \"sqlite://{}\"\ndatabase_url = \"sqlite://{}?mode=rwc\"\n\
             jwt_secret_key = \"0123456789abcdef0123456789abcdef\"\npassword_hash_algorithm = \"bcrypt\"\n\
             bcrypt_cost = 5\n{extra}",
            host.display(),
            dir.path().join("uap.db").display()
        ),
    )
    .unwrap();
    (dir, config, port)
}

async fn start(extra: &str) -> (Server, TempDir, std::path::PathBuf) {
    let (dir, config, port) = setup(extra);
    let mut command = uap();
    command.arg("serve").arg("--config").arg(&config);
    (Server::start(command, port).await, dir, config)
}

/// GET `path` with optional headers; status and JSON body.
async fn get(server: &Server, path: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = reqwest::Client::new().get(server.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn admin(server: &Server, path: &str) -> (u16, Value) {
    get(server, path, &[("X-API-Key", KEY)]).await
}

async fn login(server: &Server, username: &str, password: &str, from: Option<&str>) -> u16 {
    let mut request = reqwest::Client::new()
        .post(server.url("/api/v1/auth/authenticate"))
        .json(&json!({"username": username, "password": password}));
    if let Some(ip) = from {
        request = request.header("X-Forwarded-For", ip);
    }
    request.send().await.unwrap().status().as_u16()
}

/// Polls `GET path` (admin) until `done` holds for the body (the audit queue
/// writes asynchronously); panics after 20 s.
async fn admin_until(server: &Server, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = admin(server, path).await;
        assert_eq!(status, 200, "{body}");
        if done(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "condition never held; last body: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn logs(body: &Value) -> &Vec<Value> {
    body["logs"].as_array().unwrap()
}

#[tokio::test]
async fn admin_routes_are_404_when_no_key_is_configured() {
    let (server, _dir, _) = start("").await;
    for path in ["/api/v1/audit/logs", "/api/v1/audit/report"] {
        let (status, body) = get(&server, path, &[("X-API-Key", KEY)]).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(body["error"].is_string(), "{body}");
        assert_eq!(get(&server, path, &[]).await.0, 404);
    }
    assert!(server.terminate().success());
}

#[tokio::test]
async fn a_missing_or_wrong_key_is_401_and_every_call_is_audited_without_the_key() {
    let (server, dir, _) = start(&format!("admin_api_key = \"{KEY}\"\n")).await;
    let path = "/api/v1/audit/logs?event_type=API_ACCESS";
    let wrong = format!("{KEY}x");
    let bearer_wrong = format!("Bearer {wrong}");
    let bearer_right = format!("Bearer {KEY}");
    for (headers, status) in [
        (vec![], 401),
        (vec![("X-API-Key", wrong.as_str())], 401),
        (vec![("Authorization", bearer_wrong.as_str())], 401),
        (vec![("X-API-Key", "")], 401),
        (vec![("X-API-Key", KEY)], 200),
        (vec![("Authorization", bearer_right.as_str())], 200),
    ] {
        let (got, body) = get(&server, path, &headers).await;
        assert_eq!(got, status, "{headers:?}: {body}");
        if status == 401 {
            assert_eq!(body["success"], false);
            assert!(body["error"].is_string(), "{body}");
        }
    }
    // The six calls above are the oldest API_ACCESS rows (polling adds more).
    let body = admin_until(&server, path, |b| logs(b).len() >= 6).await;
    let mut rows = logs(&body).clone();
    rows.reverse();
    let outcomes: Vec<&str> = rows[..6].iter().map(|r| r["metadata"]["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["unauthorized", "unauthorized", "unauthorized", "unauthorized", "ok", "ok"]);
    for row in &rows[..6] {
        assert_eq!(row["event_type"], "API_ACCESS");
        assert_eq!(row["ip_address"], "127.0.0.1");
        assert_eq!(row["metadata"]["route"], "/api/v1/audit/logs");
        assert_eq!(row["metadata"]["method"], "GET");
    }
    assert_eq!(rows[0]["success"], false);
    assert_eq!(rows[0]["metadata"]["status"], 401);
    assert_eq!(rows[5]["success"], true);
    assert!(server.terminate().success());
    // Nowhere in the internal database: not the key, not the wrong one.
    let dump = sqlite(&dir.path().join("uap.db"), ".dump uap_audit_logs");
    assert!(dump.contains("API_ACCESS") && !dump.contains("admin-key-for-tests"), "the key leaked");
}

#[tokio::test]
async fn outside_the_allowlist_is_403_even_with_the_key() {
    let extra = format!(
        "admin_api_key = \"{KEY}\"\nadmin_ip_allowlist = [\"10.0.0.0/8\"]\ntrusted_proxies = [\"127.0.0.1/32\"]\n"
    );
    let (server, _dir, _) = start(&extra).await;
    let path = "/api/v1/audit/logs";
    let (status, body) = get(&server, path, &[("X-API-Key", KEY)]).await;
    assert_eq!(status, 403, "127.0.0.1 is outside 10.0.0.0/8: {body}");
    assert_eq!(body["success"], false);
    // 403 comes before the key check: a wrong key from outside is 403 too.
    assert_eq!(get(&server, path, &[("X-API-Key", "nope")]).await.0, 403);
    // A client forwarded by a trusted proxy is judged by its own address.
    assert_eq!(get(&server, path, &[("X-API-Key", KEY), ("X-Forwarded-For", "10.1.2.3")]).await.0, 200);
    assert_eq!(get(&server, path, &[("X-API-Key", "nope"), ("X-Forwarded-For", "10.1.2.3")]).await.0, 401);
    assert_eq!(get(&server, path, &[("X-API-Key", KEY), ("X-Forwarded-For", "192.0.2.1")]).await.0, 403);
    assert_eq!(get(&server, path, &[("X-API-Key", KEY), ("X-Forwarded-For", "10.1.2.3, garbage")]).await.0, 403);
    assert!(server.terminate().success());
}

/// Drops what differs between two reports of the same data taken at
/// different moments: the generation time, and the API_ACCESS rows the admin
/// calls themselves add.
fn comparable(mut report: Value) -> Value {
    let object = report.as_object_mut().unwrap();
    object.remove("generated_at");
    object["authentication_statistics"].as_object_mut().unwrap().remove("API_ACCESS");
    report
}

#[tokio::test]
async fn report_and_logs_after_a_scripted_sequence() {
    let extra = format!(
        "admin_api_key = \"{KEY}\"\ntrusted_proxies = [\"127.0.0.1/32\"]\nmax_attempts = 3\n\
         hash_upgrade = \"write_back\"\n"
    );
    let (server, dir, config) = start(&extra).await;
    // 3 good logins for bob (the first on cost 4, upgraded then), 2 for frank
    // (md5_crypt both times).
    for _ in 0..3 {
        assert_eq!(login(&server, "bob", "bob-password", None).await, 200);
    }
    for _ in 0..2 {
        assert_eq!(login(&server, "frank", "frank-password", None).await, 200);
    }
    // Wrong passwords: 2 from 203.0.113.7, 3 from 198.51.100.9 — which locks
    // bob out there: the 4th attempt is refused.
    for _ in 0..2 {
        assert_eq!(login(&server, "bob", "wrong", Some("203.0.113.7")).await, 401);
    }
    for _ in 0..3 {
        assert_eq!(login(&server, "bob", "wrong", Some("198.51.100.9")).await, 401);
    }
    assert_eq!(login(&server, "bob", "bob-password", Some("198.51.100.9")).await, 429);

    // The queue writes in order: once the last events are in, all are.
    let report = admin_until(&server, "/api/v1/audit/report", |r| {
        r["lockouts"] == 1 && r["authentication_statistics"]["FAILED_LOGIN"]["total"].as_u64() >= Some(6)
    })
    .await;
    let stats = &report["authentication_statistics"];
    assert_eq!(stats["LOGIN"], json!({"total": 5, "successful": 5, "failure_rate": 0.0}), "{report}");
    let failed = stats["FAILED_LOGIN"]["total"].as_u64().unwrap();
    assert_eq!(stats["FAILED_LOGIN"]["successful"], 0);
    assert_eq!(stats["FAILED_LOGIN"]["failure_rate"], 100.0);
    assert_eq!(stats["ACCOUNT_LOCKED"]["total"], 1);
    assert_eq!(stats["PASSWORD_CHANGE"], json!({"total": 1, "successful": 1, "failure_rate": 0.0}));
    let sources = report["top_failed_login_sources"].as_array().unwrap();
    assert_eq!(sources[0]["ip_address"], "198.51.100.9");
    assert_eq!(sources[1], json!({"ip_address": "203.0.113.7", "count": 2}));
    assert_eq!(sources.len(), 2, "{report}");
    assert_eq!(
        sources[0]["count"].as_u64().unwrap() + 2,
        failed,
        "every failed login is from one of the two addresses"
    );
    // The three wrong passwords and the refused attempt (a failed login too,
    // with the block's reason; the lockout is audited once).
    assert_eq!(sources[0]["count"], 4, "{report}");
    assert_eq!(failed, 6);
    let weak: Vec<(&String, &Value)> = report["weak_hash_logins"].as_object().unwrap().iter().collect();
    assert_eq!(weak.len(), 2, "{report}");
    assert_eq!(weak[0], (&"bcrypt cost 4".to_owned(), &json!(1)), "bob's later logins use the upgraded hash");
    assert_eq!(weak[1], (&"md5_crypt".to_owned(), &json!(2)), "frank's hash is never rewritten");
    assert_eq!(report["hash_upgrades"], json!({"done": 1, "skipped": 0, "by_reason": {}}));
    assert_eq!(report["lockouts"], 1);
    assert_eq!(report["suspicious_activity"], json!({"count": 0, "latest": []}));
    assert!(report["period"]["start_date"].is_string() && report["generated_at"].is_string());

    // Logs: filters, limit, newest first.
    let (status, body) = admin(&server, "/api/v1/audit/logs?event_type=LOGIN&user_id=1").await;
    assert_eq!(status, 200);
    let bob = logs(&body);
    assert_eq!(bob.len(), 3, "{body}");
    assert!(bob.iter().all(|r| r["user_id"] == "1" && r["event_type"] == "LOGIN" && r["success"] == true));
    let times: Vec<&str> = bob.iter().map(|r| r["timestamp"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");
    for field in ["id", "session_id", "ip_address", "error_message", "metadata"] {
        assert!(bob[0].get(field).is_some(), "{field} missing: {}", bob[0]);
    }
    let (_, body) = admin(&server, "/api/v1/audit/logs?event_type=FAILED_LOGIN&limit=2").await;
    assert_eq!(logs(&body).len(), 2);
    assert_eq!(logs(&body)[0]["ip_address"], "198.51.100.9");
    assert!(logs(&body)[0]["error_message"].is_string());
    let (_, body) = admin(&server, "/api/v1/audit/logs?start_date=2999-01-01").await;
    assert!(logs(&body).is_empty());
    let (_, body) = admin(&server, "/api/v1/audit/logs?end_date=2000-01-01").await;
    assert!(logs(&body).is_empty());
    let (_, body) =
        admin(&server, "/api/v1/audit/logs?event_type=LOGIN&start_date=2000-01-01&end_date=2999-12-31").await;
    assert_eq!(logs(&body).len(), 5);
    for (query, parameter) in [
        ("limit=1001", "limit"),
        ("limit=0", "limit"),
        ("event_type=NOPE", "event_type"),
        ("start_date=yesterday", "start_date"),
        ("end_date=2026-13-01", "end_date"),
    ] {
        let (status, body) = admin(&server, &format!("/api/v1/audit/logs?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body["error"].as_str().unwrap().starts_with(parameter), "{query}: {body}");
    }
    let (status, body) = admin(&server, "/api/v1/audit/report?start_date=2026-02-30").await;
    assert_eq!(status, 400, "{body}");
    assert!(server.terminate().success());

    // `uap audit report` prints the same report from the database.
    let out =
        run(uap().args(["audit", "report", "--from", "2000-01-01", "--to", "2999-12-31", "--config"]).arg(&config));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut expected = comparable(report);
    expected["period"] = json!({"start_date": "2000-01-01T00:00:00Z", "end_date": "2999-12-31T23:59:59.999999Z"});
    assert_eq!(comparable(cli), expected);
    drop(dir);
}

#[tokio::test]
async fn cleanup_deletes_only_rows_past_retention() {
    let (dir, config, _) = setup("audit_retention_days = 30\n");
    let out = run(uap().arg("migrate").arg("--config").arg(&config));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let db = dir.path().join("uap.db");
    let now = sqlite(&db, "SELECT strftime('%Y-%m-%dT%H:%M:%S.000000Z', 'now')");
    let days_ago = |n: u32| sqlite(&db, &format!("SELECT strftime('%Y-%m-%dT%H:%M:%S.000000Z', 'now', '-{n} days')"));
    let mut sql = String::new();
    for (n, at) in [(1, days_ago(400)), (2, days_ago(31)), (3, days_ago(29)), (4, now.clone())] {
        sql.push_str(&format!(
            "INSERT INTO uap_audit_logs (id, organization_id, event_type, success, metadata, \"timestamp\") \
             VALUES ('00000000-0000-4000-8000-00000000000{n}', 'UAP', 'LOGIN', 1, '{{}}', '{at}');"
        ));
    }
    // Another deployment's old row in the same database stays.
    sql.push_str(&format!(
        "INSERT INTO uap_audit_logs (id, organization_id, event_type, success, metadata, \"timestamp\") \
         VALUES ('00000000-0000-4000-8000-000000000009', 'other', 'LOGIN', 1, '{{}}', '{}');",
        days_ago(400)
    ));
    for (n, at) in [(5, days_ago(45)), (6, now.clone())] {
        sql.push_str(&format!(
            "INSERT INTO uap_middleware_logs (id, organization_id, middleware_name, execution_order, success, \
             phase, \"timestamp\") VALUES ('00000000-0000-4000-8000-00000000000{n}', 'UAP', 'rate_limit', 0, 1, \
             'pre_authenticate', '{at}');"
        ));
    }
    sqlite(&db, &sql);

    let out = run(uap().args(["audit", "cleanup", "--config"]).arg(&config));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("deleted 2 audit log rows and 1 middleware log rows"), "{stdout}");
    assert!(stdout.contains("(30 days)"), "{stdout}");
    assert_eq!(
        sqlite(&db, "SELECT group_concat(substr(id, 36), ',') FROM (SELECT id FROM uap_audit_logs ORDER BY id)"),
        "3,4,9"
    );
    assert_eq!(sqlite(&db, "SELECT substr(id, 36) FROM uap_middleware_logs"), "6");

    // Again: nothing left to delete.
    let out = run(uap().args(["audit", "cleanup", "--config"]).arg(&config));
    assert!(String::from_utf8_lossy(&out.stdout).contains("deleted 0 audit log rows and 0 middleware log rows"));

    // `uap audit report` over the remaining rows; bad dates are usage errors.
    let out = run(uap().args(["audit", "report", "--config"]).arg(&config));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["authentication_statistics"]["LOGIN"]["total"], 2, "the last 30 days: rows 3 and 4");
    let out = run(uap().args(["audit", "report", "--from", "last tuesday", "--config"]).arg(&config));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: --from:"), "{stderr}");
}
