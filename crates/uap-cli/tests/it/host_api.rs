//! `data_source_type = "api"`: the real binary against a host user API
//! (CONTRACT §7) played by wiremock, and by the reference host in
//! `examples/host_api.py`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use uap_domain::password::{self, Argon2Params, PasswordPolicy, PreferredAlgorithm};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{Server, TempDir, audit_count, free_port, run, serve_named, sqlite, uap};

const KEY: &str = "host-api-bearer-key-42";

fn policy() -> PasswordPolicy {
    PasswordPolicy {
        argon2: Argon2Params { memory_kib: 1024, iterations: 1, parallelism: 1 },
        bcrypt_cost: 4,
        ..PasswordPolicy::default()
    }
}

fn hash(algorithm: PreferredAlgorithm, password: &str) -> String {
    password::hash_with(&policy(), algorithm, password).unwrap()
}

/// A host API with `GET /health` answering 200 (start-up checks it).
async fn host() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/health"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

/// `POST /auth/validate` with the bearer key and `body` answers `template`.
async fn validate(host: &MockServer, body: Value, template: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path("/auth/validate"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .and(body_json(body))
        .respond_with(template)
        .mount(host)
        .await;
}

fn user(value: &Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(value)
}

/// The settings of an API source at `base_url` (internal database in `dir`).
fn api_settings(dir: &TempDir, base_url: &str, extra: &str) -> String {
    format!(
        "data_source_type = \"api\"\nhost_api_base_url = \"{base_url}\"\nhost_api_key = \"{KEY}\"\n\
         database_url = \"sqlite://{}?mode=rwc\"\n{extra}",
        dir.path().join("uap.db").display()
    )
}

async fn serve_api(dir: &TempDir, host: &MockServer, extra: &str) -> Server {
    serve_named(dir, "uap", &api_settings(dir, &host.uri(), extra)).await
}

/// As [`serve_api`], with the log (stderr) written to `dir/uap.log`.
async fn serve_logged(dir: &TempDir, host: &MockServer, extra: &str) -> (Server, PathBuf) {
    let port = free_port();
    let config = dir.path().join("uap.toml");
    let settings = api_settings(dir, &host.uri(), extra);
    std::fs::write(
        &config,
        format!("port = {port}\njwt_secret_key = \"0123456789abcdef0123456789abcdef\"\n{settings}"),
    )
    .unwrap();
    let log = dir.path().join("uap.log");
    let child = uap()
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let server = Server { child, port, stdout: std::sync::mpsc::channel().1 };
    let client = reqwest::Client::new();
    for _ in 0..600 {
        if client.get(server.url("/health/live")).send().await.is_ok_and(|r| r.status() == 200) {
            return (server, log);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("uap did not become live: {}", std::fs::read_to_string(&log).unwrap_or_default());
}

async fn login(server: &Server, username: &str, password: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(server.url("/api/v1/auth/authenticate"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Seconds from now to the RFC 3339 `expires_at` of `body`.
fn lifetime(body: &Value) -> i64 {
    let expires = time::OffsetDateTime::parse(
        body["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    #[allow(clippy::disallowed_methods, reason = "compared with the server's wall clock")]
    let now = time::OffsetDateTime::now_utc();
    (expires - now).whole_seconds()
}

#[tokio::test]
async fn logs_users_in_with_bcrypt_and_argon2_and_refuses_uniformly() {
    let host = host().await;
    let bob = json!({"id": 1, "username": "bob", "email": "bob@example.com", "password": hash(PreferredAlgorithm::Bcrypt, "bob-pw"),
        "role": "user", "is_active": true, "ssn": "078-05-1120", "remember_token": "rt-secret"});
    let ann = json!({"id": "a-2", "username": "ann", "password": hash(PreferredAlgorithm::Argon2id, "ann-pw"), "role": "user"});
    let off = json!({"id": 3, "username": "off", "password": hash(PreferredAlgorithm::Bcrypt, "off-pw"), "is_active": false, "role": "user"});
    validate(&host, json!({"username": "bob"}), user(&bob)).await;
    validate(&host, json!({"username": "ann"}), user(&ann)).await;
    validate(&host, json!({"username": "off"}), user(&off)).await;
    validate(&host, json!({"username": "ghost"}), ResponseTemplate::new(404)).await;
    let dir = TempDir::new();
    let (server, log) = serve_logged(&dir, &host, "sensitive_fields = [\"ssn\"]\n").await;

    let (status, body) = login(&server, "bob", "bob-pw").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["user_data"],
        json!({"id": 1, "username": "bob", "email": "bob@example.com", "role": "user", "is_active": true, "roles": ["user"]}),
        "the hash, sensitive_fields and secret-looking keys are never returned"
    );
    let (status, body) = login(&server, "ann", "ann-pw").await;
    assert_eq!(status, 200, "argon2id: {body}");
    assert_eq!(body["user_data"]["id"], "a-2");

    for (username, password) in [("ghost", "x"), ("bob", "wrong"), ("off", "off-pw")] {
        let (status, body) = login(&server, username, password).await;
        assert_eq!((status, &body), (401, &json!({"success": false, "error": "Invalid credentials"})), "{username}");
    }
    for reason in ["unknown_user", "wrong_password", "inactive"] {
        assert_eq!(audit_count(&dir, &format!("event_type = 'FAILED_LOGIN' AND error_message = '{reason}'")).await, 1);
    }
    let health: Value = reqwest::get(server.url("/api/v1/config/health")).await.unwrap().json().await.unwrap();
    assert_eq!(health["components"]["database"], "healthy", "{health}");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("UAP listening") && !logged.contains(KEY), "the key is never logged");
}

#[tokio::test]
async fn roles_route_sets_the_duration_and_refresh_re_reads_by_id() {
    let host = host().await;
    let carol = json!({"id": 7, "username": "carol", "password": hash(PreferredAlgorithm::Bcrypt, "carol-pw")});
    validate(&host, json!({"username": "carol"}), user(&carol)).await;
    validate(&host, json!({"id": "7"}), user(&carol)).await;
    Mock::given(method("GET"))
        .and(path("/users/7/roles"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"roles": ["admin"]})))
        .mount(&host)
        .await;
    let dir = TempDir::new();
    let server = serve_api(&dir, &host, "role_session_durations = { admin = 7200, user = 600 }\n").await;

    let (status, body) = login(&server, "carol", "carol-pw").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user_data"]["roles"], json!(["admin"]));
    assert!((7100..=7200).contains(&lifetime(&body)), "admin's duration: {}", lifetime(&body));

    let refreshed: Value = reqwest::Client::new()
        .post(server.url("/api/v1/auth/refresh"))
        .json(&json!({"refresh_token": body["refresh_token"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(refreshed["success"], true, "{refreshed}");
    let by_id = host
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/auth/validate" && r.body_json::<Value>().ok() == Some(json!({"id": "7"})))
        .count();
    assert_eq!(by_id, 1, "the refresh re-reads the user by id");
}

#[tokio::test]
async fn host_failures_are_503_then_the_breaker_opens() {
    let host = host().await;
    validate(&host, json!({"username": "boom"}), ResponseTemplate::new(500)).await;
    let slow = json!({"id": 1, "password": "x"});
    validate(&host, json!({"username": "slow"}), user(&slow).set_delay(Duration::from_secs(3))).await;
    let dir = TempDir::new();
    let (server, log) = serve_logged(&dir, &host, "host_api_timeout_ms = 300\nrate_limit_enabled = false\n").await;

    let (status, body) = login(&server, "slow", "pw").await;
    assert_eq!(status, 503, "a timeout: {body}");
    assert!(body["error"].as_str().unwrap().contains("host user directory"), "{body}");
    for _ in 0..4 {
        let (status, body) = login(&server, "boom", "pw").await;
        assert_eq!(status, 503, "{body}");
    }
    let calls = || async {
        host.received_requests().await.unwrap().iter().filter(|r| r.url.path() == "/auth/validate").count()
    };
    assert_eq!(calls().await, 5);
    let (status, _) = login(&server, "boom", "pw").await;
    assert_eq!(status, 503);
    assert_eq!(calls().await, 5, "five failures opened the circuit: no call reaches the host");
    let logged = std::fs::read_to_string(&log).unwrap();
    for expected in ["host user API", "POST /auth/validate: host answered HTTP 500", "no answer within 300 ms"] {
        assert!(logged.contains(expected), "{expected} not in the log:\n{logged}");
    }
    assert!(!logged.contains(KEY));
    assert_eq!(audit_count(&dir, "event_type = 'FAILED_LOGIN'").await, 0, "never a credential failure");
}

#[tokio::test]
async fn the_rate_limit_middleware_applies() {
    let host = host().await;
    let bob = json!({"id": 1, "username": "bob", "password": hash(PreferredAlgorithm::Bcrypt, "bob-pw")});
    validate(&host, json!({"username": "bob"}), user(&bob)).await;
    let dir = TempDir::new();
    let server = serve_api(&dir, &host, "max_attempts = 2\n").await;
    for _ in 0..2 {
        assert_eq!(login(&server, "bob", "wrong").await.0, 401);
    }
    let (status, body) = login(&server, "bob", "bob-pw").await;
    assert_eq!(status, 429, "{body}");
}

#[tokio::test]
async fn delegated_mode_logs_in_refuses_and_refreshes_without_a_hash() {
    let host = host().await;
    let verify = |body: Value, template: ResponseTemplate| {
        Mock::given(method("POST"))
            .and(path("/auth/verify"))
            .and(header("authorization", format!("Bearer {KEY}").as_str()))
            .and(body_json(body))
            .respond_with(template)
    };
    let dee = json!({"id": 4, "username": "dee", "role": "admin", "is_active": true});
    verify(json!({"username": "dee", "password": "dee-pw"}), user(&json!({"valid": true, "user": dee})))
        .mount(&host)
        .await;
    verify(json!({"username": "dee", "password": "wrong"}), user(&json!({"valid": false}))).mount(&host).await;
    verify(json!({"username": "ghost", "password": "x"}), ResponseTemplate::new(404)).mount(&host).await;
    validate(&host, json!({"id": "4"}), user(&dee)).await;
    let dir = TempDir::new();
    let server = serve_api(&dir, &host, "host_api_verifies_password = true\n").await;

    let (status, body) = login(&server, "dee", "dee-pw").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user_data"]["roles"], json!(["admin"]));
    for (username, password) in [("dee", "wrong"), ("ghost", "x")] {
        let (status, body) = login(&server, username, password).await;
        assert_eq!((status, &body), (401, &json!({"success": false, "error": "Invalid credentials"})), "{username}");
    }
    let refreshed: Value = reqwest::Client::new()
        .post(server.url("/api/v1/auth/refresh"))
        .json(&json!({"refresh_token": body["refresh_token"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(refreshed["success"], true, "no hash needed to refresh: {refreshed}");
}

#[test]
fn delegated_mode_refuses_plain_http_to_another_host() {
    let dir = TempDir::new();
    let config = dir.path().join("uap.toml");
    let settings = api_settings(&dir, "http://10.1.2.3:8080/uap", "host_api_verifies_password = true\n");
    std::fs::write(&config, format!("jwt_secret_key = \"0123456789abcdef0123456789abcdef\"\n{settings}")).unwrap();
    let out = run(uap().arg("serve").arg("--config").arg(&config));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("host_api_verifies_password") && stderr.contains("https://"), "{stderr}");
    assert!(!stderr.contains(KEY), "{stderr}");
}

#[tokio::test]
async fn uap_check_reaches_health_and_fetches_one_user() {
    let host = host().await;
    let bob =
        json!({"id": 1, "username": "bob", "password": hash(PreferredAlgorithm::Bcrypt, "bob-pw"), "role": "user"});
    validate(&host, json!({"username": "bob"}), user(&bob)).await;
    validate(&host, json!({"username": "ghost"}), ResponseTemplate::new(404)).await;
    let dir = TempDir::new();
    let config = dir.path().join("uap.toml");
    let settings = api_settings(&dir, &host.uri(), "");
    std::fs::write(&config, format!("jwt_secret_key = \"0123456789abcdef0123456789abcdef\"\n{settings}")).unwrap();
    let check = |extra: &[&str]| run(uap().arg("check").arg("--config").arg(&config).args(extra));

    let out = check(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("GET /health answered 200"), "{stdout}");
    let out = check(&["--identifier", "bob"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("id 1") && stdout.contains("bcrypt cost 4"), "{stdout}");
    let out = check(&["--identifier", "ghost"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&host.uri()) && stderr.contains("ghost"), "{stderr}");

    // A host whose health route fails: exit 1 naming the URL, never the key.
    let down = MockServer::start().await;
    Mock::given(method("GET")).and(path("/health")).respond_with(ResponseTemplate::new(503)).mount(&down).await;
    let settings = api_settings(&dir, &down.uri(), "");
    std::fs::write(&config, format!("jwt_secret_key = \"0123456789abcdef0123456789abcdef\"\n{settings}")).unwrap();
    let out = check(&[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&down.uri()) && stderr.contains("GET /health") && stderr.contains("503"), "{stderr}");
    assert!(!stderr.contains(KEY), "{stderr}");
}

/// The reference host of `examples/host_api.py` (python3, stdlib only).
struct PythonHost(std::process::Child);

impl Drop for PythonHost {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_python_reference_host_logs_a_user_in() {
    let dir = TempDir::new();
    let db = dir.path().join("app.db");
    let stored = hash(PreferredAlgorithm::Bcrypt, "py-pw");
    sqlite(
        &db,
        &format!(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT UNIQUE, email TEXT, password TEXT, role TEXT, is_active INTEGER);
             INSERT INTO users VALUES (1, 'pat', 'pat@example.com', '{stored}', 'admin', 1);"
        ),
    );
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/host_api.py");
    let port = free_port();
    let child = std::process::Command::new("python3")
        .arg(&script)
        .env("HOST_API_DB", &db)
        .env("HOST_API_PORT", port.to_string())
        .env("HOST_API_KEY", KEY)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("python3 runs");
    let _host = PythonHost(child);
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        let health = reqwest::Client::new().get(format!("{base}/health")).bearer_auth(KEY).send().await;
        if health.is_ok_and(|r| r.status() == 200) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let unauthorized = reqwest::Client::new().get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(unauthorized.status(), 401, "the reference host checks the key");

    let server = serve_named(&dir, "uap", &api_settings(&dir, &base, "")).await;
    let (status, body) = login(&server, "pat", "py-pw").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user_data"]["roles"], json!(["admin"]));
    assert_eq!(login(&server, "pat", "wrong").await.0, 401);
    assert_eq!(login(&server, "nobody", "x").await.0, 401);
}

const ADMIN: &str = "admin-key-for-host-api-tests-01";

#[tokio::test]
async fn a_configuration_change_switches_a_database_source_to_the_api() {
    let sam = hash(PreferredAlgorithm::Bcrypt, "sam-pw");
    let host_sql = format!(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT UNIQUE, password TEXT);
         INSERT INTO users (username, password) VALUES ('sam', '{sam}');"
    );
    let extra = format!(
        "admin_api_key = \"{ADMIN}\"\nencryption_key = \"{}\"\nrate_limit_enabled = false\nbcrypt_cost = 4\n",
        "7".repeat(64)
    );
    let (server, _dir) = crate::support::serve_sqlite(&host_sql, &extra).await;
    let put = |body: Value| {
        let request = reqwest::Client::new().put(server.url("/api/v1/config/")).header("X-API-Key", ADMIN).json(&body);
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };
    assert_eq!(login(&server, "sam", "sam-pw").await.0, 200);

    // A host API whose health route fails: refused, the database keeps serving.
    let down = MockServer::start().await;
    Mock::given(method("GET")).and(path("/health")).respond_with(ResponseTemplate::new(500)).mount(&down).await;
    let (status, body) =
        put(json!({"data_source_type": "api", "host_api_base_url": down.uri(), "host_api_key": KEY})).await;
    assert_eq!(status, 422, "{body}");
    let errors = body["validation_errors"].to_string();
    assert!(errors.contains("GET /health") && errors.contains(&down.uri()) && !errors.contains(KEY), "{errors}");
    assert_eq!(login(&server, "sam", "sam-pw").await.0, 200, "the running source is untouched");

    let api = host().await;
    let tia = json!({"id": 9, "username": "tia", "password": hash(PreferredAlgorithm::Bcrypt, "tia-pw")});
    validate(&api, json!({"username": "tia"}), user(&tia)).await;
    let (status, body) =
        put(json!({"data_source_type": "api", "host_api_base_url": api.uri(), "host_api_key": KEY})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(login(&server, "tia", "tia-pw").await.0, 200, "users now come from the API");
    assert_eq!(login(&server, "sam", "sam-pw").await.0, 401, "the API does not know sam (wiremock's 404)");
    let shown: Value = reqwest::Client::new()
        .get(server.url("/api/v1/config/"))
        .header("X-API-Key", ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["configuration"]["host_api_key"], "***", "{shown}");
    assert!(!shown.to_string().contains(KEY));
}

#[test]
fn uap_check_identifier_on_a_database_source() {
    let dir = TempDir::new();
    let db = dir.path().join("host.db");
    let stored = hash(PreferredAlgorithm::Argon2id, "x");
    sqlite(
        &db,
        &format!(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT, password TEXT, role TEXT);
             INSERT INTO users VALUES (5, 'uma', '{stored}', 'editor');"
        ),
    );
    let config = dir.path().join("uap.toml");
    std::fs::write(
        &config,
        format!(
            "host_db_url = \"sqlite://{}\"\njwt_secret_key = \"0123456789abcdef0123456789abcdef\"\n\
             database_url = \"sqlite://{}?mode=rwc\"\n",
            db.display(),
            dir.path().join("uap.db").display()
        ),
    )
    .unwrap();
    let out = run(uap().arg("check").arg("--config").arg(&config).args(["--identifier", "uma"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("id 5") && stdout.contains("roles: editor") && stdout.contains("argon2id"), "{stdout}");
    let out = run(uap().arg("check").arg("--config").arg(&config).args(["--identifier", "nobody"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nobody"));
}

#[tokio::test]
async fn delegated_mode_with_mfa_rechecks_the_password_with_the_host() {
    let host = host().await;
    let verify = |body: Value, answer: Value| {
        Mock::given(method("POST"))
            .and(path("/auth/verify"))
            .and(body_json(body))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
    };
    let dee = json!({"id": 4, "username": "dee", "email": "dee@example.com", "is_active": true});
    let accepted = json!({"valid": true, "user": dee});
    verify(json!({"username": "dee", "password": "dee-pw"}), accepted.clone()).mount(&host).await;
    // The enroll route's re-check asks by id.
    verify(json!({"id": "4", "password": "dee-pw"}), accepted).expect(1).mount(&host).await;
    verify(json!({"id": "4", "password": "guess"}), json!({"valid": false})).expect(1).mount(&host).await;
    Mock::given(method("GET"))
        .and(path("/users/4/roles"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"roles": ["admin"]})))
        .mount(&host)
        .await;
    let dir = TempDir::new();
    let extra = format!(
        "host_api_verifies_password = true\nencryption_key = \"{}\"\n\
         [[middleware_stack]]\nname = \"mfa\"\nenabled = true\nissuer = \"Acme\"\nrequired_roles = [\"admin\"]\n",
        "7".repeat(64)
    );
    let server = serve_api(&dir, &host, &extra).await;
    let post = |route: &str, body: Value| {
        let request = reqwest::Client::new().post(server.url(route)).json(&body);
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };

    let (status, body) = login(&server, "dee", "dee-pw").await;
    assert_eq!((status, body["mfa_enrollment_required"].as_bool()), (401, Some(true)), "roles from the roles route");
    let enrollment = body["enrollment_token"].as_str().unwrap().to_owned();
    let enroll = "/api/v1/auth/mfa/totp/enroll";
    let (status, _) = post(enroll, json!({"password": "guess", "enrollment_token": enrollment})).await;
    assert_eq!(status, 401, "the host refused the password");
    let (status, enrolled) = post(enroll, json!({"password": "dee-pw", "enrollment_token": enrollment})).await;
    assert_eq!(status, 200, "{enrolled}");
    let codes = crate::support::Codes::of(&enrolled);
    let confirm = "/api/v1/auth/mfa/totp/confirm";
    let (status, session) = post(confirm, json!({"code": codes.at(0), "enrollment_token": enrollment})).await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["user_data"]["roles"], json!(["admin"]));

    // The next login asks for the code; completing it keeps the roles.
    let (status, challenge) = login(&server, "dee", "dee-pw").await;
    assert_eq!(status, 401, "{challenge}");
    let mfa_token = challenge["mfa_token"].as_str().unwrap();
    let (status, session) = post("/api/v1/auth/mfa/verify", json!({"mfa_token": mfa_token, "code": codes.at(1)})).await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["user_data"]["roles"], json!(["admin"]));
    host.verify().await;
}
