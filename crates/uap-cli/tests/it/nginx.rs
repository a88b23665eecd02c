//! Debian's nginx with `deploy/nginx/uap.conf` in front of two `uap serve`
//! instances that share Redis (sessions, rate-limit counters) and one SQLite
//! host database, each with its own SQLite internal database (so each
//! instance's audit trail shows which requests it answered).
//!
//! The configuration is used as committed except for what cannot exist here:
//! the upstream servers `uap-1:8000` / `uap-2:8000` become the two loopback
//! ports, `listen 80` / `listen 443 ssl` become free loopback ports, and the
//! certificate under `/etc/nginx/tls/` becomes a generated self-signed one.
//! The client connects from 127.0.0.2 and nginx reaches UAP from 127.0.0.1,
//! so "the client's address" and "nginx's address" differ.
//!
//! Also here: the `UAP_*` environment that the image, `deploy/compose.yaml`
//! and `deploy/k8s/` set is fed to the real binary (`uap migrate`, which
//! loads and validates the whole configuration), and the Kubernetes Secret's
//! placeholders must stop it.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Server, TempDir, free_port, redis_url, sqlite, uap};

/// bcrypt (cost 4) of "bob-password".
const BOB: &str = "$2y$04$bZGuP3hzkdakjw2LpcMTqe8dbQ.oYYQi/BuJ5z/CaW.j51pe8ta6i";

/// The address the test's client connects from.
const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// What a client puts in the forwarding headers to pose as someone else.
const SPOOFED_XFF: &str = "203.0.113.66";
const SPOOFED_FORWARDED: &str = "for=203.0.113.77";

fn required() -> bool {
    std::env::var("UAP_REQUIRE_INTEGRATION").as_deref() == Ok("1")
}

fn nginx_binary() -> Option<PathBuf> {
    let path = PathBuf::from("/usr/sbin/nginx");
    if path.exists() {
        return Some(path);
    }
    assert!(!required(), "/usr/sbin/nginx is required (UAP_REQUIRE_INTEGRATION=1; Debian: apt-get install nginx)");
    eprintln!("skipping: /usr/sbin/nginx not installed");
    None
}

/// `text` with `from` replaced by `to`; panics when `from` is not in `text`,
/// so a change to uap.conf cannot silently leave a part untested.
fn rewrite(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "deploy/nginx/uap.conf no longer contains `{from}`");
    text.replace(from, to)
}

/// A running nginx; stopped on drop.
struct Nginx {
    child: Child,
    https_port: u16,
    prefix: PathBuf,
}

impl Nginx {
    async fn start(binary: &Path, dir: &TempDir, upstreams: [u16; 2], cert_pem: &str, key_pem: &str) -> Nginx {
        let prefix = dir.path().join("nginx");
        let tls = prefix.join("tls");
        std::fs::create_dir_all(&tls).unwrap();
        std::fs::write(tls.join("tls.crt"), cert_pem).unwrap();
        std::fs::write(tls.join("tls.key"), key_pem).unwrap();
        let (http_port, https_port) = (free_port(), free_port());

        let conf =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/nginx/uap.conf")).unwrap();
        let conf = rewrite(&conf, "server uap-1:8000 ", &format!("server 127.0.0.1:{} ", upstreams[0]));
        let conf = rewrite(&conf, "server uap-2:8000 ", &format!("server 127.0.0.1:{} ", upstreams[1]));
        let conf = rewrite(&conf, "listen 80;", &format!("listen 127.0.0.1:{http_port};"));
        let conf = rewrite(&conf, "listen 443 ssl;", &format!("listen 127.0.0.1:{https_port} ssl;"));
        let conf = rewrite(&conf, "/etc/nginx/tls/", &format!("{}/", tls.display()));
        std::fs::write(prefix.join("uap.conf"), conf).unwrap();
        let p = prefix.display();
        std::fs::write(
            prefix.join("nginx.conf"),
            format!(
                "daemon off;\nworker_processes 1;\npid {p}/nginx.pid;\nerror_log {p}/error.log info;\n\
                 events {{ worker_connections 256; }}\n\
                 http {{\n  access_log {p}/access.log;\n  client_body_temp_path {p}/client_body;\n  \
                 proxy_temp_path {p}/proxy;\n  fastcgi_temp_path {p}/fastcgi;\n  uwsgi_temp_path {p}/uwsgi;\n  \
                 scgi_temp_path {p}/scgi;\n  include {p}/uap.conf;\n}}\n"
            ),
        )
        .unwrap();
        let child = Command::new(binary)
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(prefix.join("nginx.conf"))
            .arg("-e")
            .arg(prefix.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("nginx starts");
        let mut nginx = Nginx { child, https_port, prefix };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", https_port)).is_err() {
            if let Some(status) = nginx.child.try_wait().unwrap() {
                panic!("nginx exited with {status}:\n{}", nginx.error_log());
            }
            assert!(Instant::now() < deadline, "nginx did not listen on {https_port}:\n{}", nginx.error_log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        nginx
    }

    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.https_port)
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.prefix.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    /// SIGTERM: the master stops its workers (SIGKILL would orphan them).
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::yield_now();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two UAP instances (shared Redis, shared host DB, own internal DBs) behind nginx.
struct Stack {
    instances: [Server; 2],
    internal_dbs: [PathBuf; 2],
    nginx: Nginx,
    client: reqwest::Client,
    _dir: TempDir,
}

impl Stack {
    async fn start(nginx_binary: &Path, redis: &str, trusted_proxies: &str) -> Stack {
        let dir = TempDir::new();
        let host = dir.path().join("host.db");
        sqlite(
            &host,
            &format!(
                "CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT UNIQUE, password TEXT); \
                 INSERT INTO users (username, password) VALUES ('bob', '{BOB}');"
            ),
        );
        let prefix = format!("uap-it-nginx-{}:", uuid::Uuid::new_v4().simple());
        let mut servers = Vec::new();
        let mut internal_dbs = Vec::new();
        for name in ["uap-1", "uap-2"] {
            let port = free_port();
            let internal = dir.path().join(format!("{name}.db"));
            let config = dir.path().join(format!("{name}.toml"));
            std::fs::write(
                &config,
                format!(
                    "port = {port}\nhost_db_url = \"sqlite://{}\"\ndatabase_url = \"sqlite://{}?mode=rwc\"\n\
                     jwt_secret_key = \"0123456789abcdef0123456789abcdef\"\nbcrypt_cost = 4\n\
                     redis_url = \"{redis}\"\nsession_store = \"redis\"\nredis_key_prefix = \"{prefix}\"\n\
                     max_attempts = 3\ntrusted_proxies = {trusted_proxies}\n",
                    host.display(),
                    internal.display()
                ),
            )
            .unwrap();
            let mut command = uap();
            command.arg("serve").arg("--config").arg(&config);
            servers.push(Server::start(command, port).await);
            internal_dbs.push(internal);
        }
        let instances: [Server; 2] = servers.try_into().ok().expect("two instances");
        let internal_dbs: [PathBuf; 2] = internal_dbs.try_into().unwrap();

        let generated =
            rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        let cert_pem = generated.cert.pem();
        let nginx = Nginx::start(
            nginx_binary,
            &dir,
            [instances[0].port, instances[1].port],
            &cert_pem,
            &generated.signing_key.serialize_pem(),
        )
        .await;
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
            .local_address(CLIENT)
            .build()
            .unwrap();
        Stack { instances, internal_dbs, nginx, client, _dir: dir }
    }

    /// A login through nginx carrying spoofed forwarding headers.
    async fn login(&self, password: &str) -> (u16, Value, reqwest::header::HeaderMap) {
        let response = self
            .client
            .post(self.nginx.url("/api/v1/auth/authenticate"))
            .header("X-Forwarded-For", SPOOFED_XFF)
            .header("Forwarded", SPOOFED_FORWARDED)
            .json(&json!({"username": "bob", "password": password}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, response.json().await.unwrap_or(Value::Null), headers)
    }

    /// `sql` on instance `i`'s internal database, polled until `done` accepts
    /// the answer (the audit writer batches) or 20 s pass.
    async fn audit(&self, i: usize, sql: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let answer = if self.internal_dbs[i].exists() { sqlite(&self.internal_dbs[i], sql) } else { String::new() };
            if done(&answer) || Instant::now() > deadline {
                return answer;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn prerequisites() -> Option<(PathBuf, String)> {
    let redis = redis_url()?;
    let nginx = nginx_binary()?;
    Some((nginx, redis))
}

#[tokio::test]
async fn nginx_spreads_logins_passes_the_real_client_address_and_the_rate_limit_holds() {
    let Some((nginx, redis)) = prerequisites() else { return };
    let stack = Stack::start(&nginx, &redis, "[\"127.0.0.1/32\"]").await;

    // Logins through nginx: round-robin reaches both instances, and both
    // record the client that connected to nginx, not what it claimed.
    let mut tokens = Vec::new();
    for _ in 0..4 {
        let (status, body, headers) = stack.login("bob-password").await;
        assert_eq!(status, 200, "{body}");
        // X-Forwarded-Proto: https from the trusted nginx turns HSTS on.
        assert!(headers.contains_key("strict-transport-security"), "no HSTS behind TLS-terminating nginx: {headers:?}");
        tokens.push(body["token"].as_str().unwrap().to_owned());
    }
    for i in 0..2 {
        let ips = stack
            .audit(i, "SELECT ip_address FROM uap_audit_logs WHERE event_type = 'LOGIN';", |a| !a.is_empty())
            .await;
        assert!(!ips.is_empty(), "instance {} answered no login through nginx", i + 1);
        for ip in ips.lines() {
            assert_eq!(ip, CLIENT.to_string(), "instance {} recorded {ip}", i + 1);
        }
    }
    let sessions =
        stack.client.get(stack.nginx.url("/api/v1/auth/sessions")).bearer_auth(&tokens[0]).send().await.unwrap();
    let sessions: Value = sessions.json().await.unwrap();
    let listed = sessions["sessions"].as_array().unwrap();
    assert_eq!(listed.len(), 4, "{sessions}");
    assert!(listed.iter().all(|s| s["ip_address"] == json!(CLIENT.to_string())), "{sessions}");

    // Wrong passwords through nginx: attempts 1..=3 are answered normally, every
    // later one gets UAP's 429 (its JSON body, not nginx's), whichever
    // instance answers: the counters are shared through Redis.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let (status, body, headers) = stack.login("wrong-password").await;
        if status == 429 {
            assert!(body["retry_after"].is_number() && headers.contains_key("retry-after"), "not UAP's 429: {body}");
        }
        statuses.push(status);
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429, 429]);
    for i in 0..2 {
        let limited = stack
            .audit(
                i,
                "SELECT COUNT(*) FROM uap_audit_logs WHERE event_type = 'FAILED_LOGIN' AND error_message = 'rate_limited';",
                |a| a != "0" && !a.is_empty(),
            )
            .await;
        assert_ne!(limited, "0", "instance {} refused no login as rate-limited: the limit did not span both", i + 1);
    }

    // What nginx keeps private, and what it must not: /metrics and the admin
    // routes are not routed, the public health summary is.
    for path in ["/metrics", "/api/v1/audit/logs", "/api/v1/audit", "/api/v1/config/", "/api/v1/config"] {
        let status = stack.client.get(stack.nginx.url(path)).send().await.unwrap().status();
        assert_eq!(status, 404, "{path} is reachable through nginx");
    }
    let health = stack.client.get(stack.nginx.url("/api/v1/config/health")).send().await.unwrap().status();
    assert_eq!(health, 200);
    let direct = reqwest::get(stack.instances[0].url("/metrics")).await.unwrap().status();
    assert_eq!(direct, 200, "/metrics on the instance itself");
}

#[tokio::test]
async fn without_trusted_proxies_uap_sees_nginx_and_ignores_the_headers() {
    let Some((nginx, redis)) = prerequisites() else { return };
    let stack = Stack::start(&nginx, &redis, "[]").await;
    for _ in 0..2 {
        let (status, body, headers) = stack.login("bob-password").await;
        assert_eq!(status, 200, "{body}");
        assert!(!headers.contains_key("strict-transport-security"), "an untrusted peer turned HSTS on");
    }
    let mut recorded = Vec::new();
    for i in 0..2 {
        let ips = stack
            .audit(i, "SELECT ip_address FROM uap_audit_logs WHERE event_type = 'LOGIN';", |a| !a.is_empty())
            .await;
        recorded.extend(ips.lines().map(str::to_owned));
    }
    assert_eq!(recorded, ["127.0.0.1", "127.0.0.1"], "UAP must record nginx's own address when nginx is not trusted");
}

// ------------------------------------------------- the deploy files' environment

/// The repository's `deploy/` directory.
fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// A YAML scalar as written on one line: quotes removed, compose's
/// `${NAME:-default}` replaced by its default.
fn scalar(raw: &str) -> String {
    let raw = raw.trim();
    let value = if let Some(inner) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        inner.replace("\\\"", "\"")
    } else if let Some(inner) = raw.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        inner.replace("''", "'")
    } else {
        raw.to_owned()
    };
    match value.strip_prefix("${").and_then(|v| v.strip_suffix('}')).and_then(|v| v.split_once(":-")) {
        Some((_, default)) => default.to_owned(),
        None => value,
    }
}

/// `KEY=VALUE` pairs of the Dockerfile's `ENV` instructions.
fn dockerfile_env(text: &str) -> Vec<(String, String)> {
    let mut env = Vec::new();
    let mut in_env = false;
    for line in text.lines() {
        let trimmed = line.trim();
        let body = if let Some(rest) = trimmed.strip_prefix("ENV ") {
            rest
        } else if in_env {
            trimmed
        } else {
            continue;
        };
        in_env = body.ends_with('\\');
        for pair in body.trim_end_matches('\\').split_whitespace() {
            let (key, value) = pair.split_once('=').expect("ENV KEY=VALUE");
            env.push((key.to_owned(), value.to_owned()));
        }
    }
    env
}

/// Every `UAP_*: value` mapping entry and every `- name: UAP_*` / `value:`
/// pair of a YAML file, in order.
fn yaml_env(text: &str) -> Vec<(String, String)> {
    let mut env = Vec::new();
    let mut lines = text.lines().map(str::trim).peekable();
    while let Some(line) = lines.next() {
        if let Some(name) = line.strip_prefix("- name: ").filter(|n| n.starts_with("UAP_")) {
            let value = lines.next().and_then(|l| l.strip_prefix("value: ")).expect("value: after - name:");
            env.push((name.to_owned(), scalar(value)));
        } else if let Some((key, value)) = line.split_once(": ").filter(|(k, _)| k.starts_with("UAP_")) {
            env.push((key.to_owned(), scalar(value)));
        }
    }
    env
}

/// `uap migrate` with `env` as a container would get it, the secret files
/// and the internal database swapped for local ones holding `secrets`.
fn migrate_with(env: &[(String, String)], secrets: &[(&str, String)]) -> std::process::Output {
    let dir = TempDir::new();
    let host = dir.path().join("host.db");
    sqlite(&host, "CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT, password TEXT);");
    let internal = format!("sqlite://{}?mode=rwc", dir.path().join("uap.db").display());
    let mut command = uap();
    command.current_dir(dir.path()).arg("migrate");
    let mut seen_files = 0;
    for (key, value) in env {
        let value = if let Some(secret) = key.strip_prefix("UAP_").and_then(|k| k.strip_suffix("_FILE")) {
            seen_files += 1;
            let content = match secret {
                "DATABASE_URL" => internal.clone(),
                "HOST_DB_URL" => format!("sqlite://{}", host.display()),
                "REDIS_URL" => "redis://127.0.0.1:6379".to_owned(),
                other => secrets
                    .iter()
                    .find(|(k, _)| *k == other)
                    .unwrap_or_else(|| panic!("no test secret for {key}"))
                    .1
                    .clone(),
            };
            let file = dir.path().join(secret.to_lowercase());
            std::fs::write(&file, content).unwrap();
            file.display().to_string()
        } else if key == "UAP_DATABASE_URL" {
            internal.clone()
        } else {
            value.clone()
        };
        command.env(key, value);
    }
    assert!(seen_files >= 3, "the secrets are expected as UAP_*_FILE paths: {env:?}");
    let output = command.stdin(Stdio::null()).output().unwrap();
    drop(dir);
    output
}

#[test]
fn uap_accepts_the_environment_the_image_compose_and_kubernetes_set() {
    let deploy = deploy_dir();
    let image = dockerfile_env(&std::fs::read_to_string(deploy.join("docker/Dockerfile")).unwrap());
    assert!(image.iter().any(|(k, v)| k == "UAP_BIND" && v == "0.0.0.0"), "{image:?}");
    let compose = yaml_env(&std::fs::read_to_string(deploy.join("compose.yaml")).unwrap());
    let mut kubernetes = yaml_env(&std::fs::read_to_string(deploy.join("k8s/configmap.yaml")).unwrap());
    kubernetes.extend(yaml_env(&std::fs::read_to_string(deploy.join("k8s/deployment.yaml")).unwrap()));
    let secrets = [("JWT_SECRET_KEY", "k".repeat(48)), ("ADMIN_API_KEY", "a".repeat(32))];

    for (name, overlay) in [("compose.yaml", &compose), ("k8s/", &kubernetes)] {
        assert!(overlay.len() >= 8, "{name}: too few UAP_* variables found: {overlay:?}");
        let env: Vec<(String, String)> = image.iter().chain(overlay.iter()).cloned().collect();
        let output = migrate_with(&env, &secrets);
        assert!(
            output.status.success(),
            "uap refuses the environment of the image + {name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    // The Secret's placeholders must stop the start, naming the keys.
    let placeholders = yaml_env(&std::fs::read_to_string(deploy.join("k8s/secret.yaml")).unwrap());
    assert!(placeholders.is_empty(), "the Secret holds no UAP_* variables, only file contents");
    let secret_yaml = std::fs::read_to_string(deploy.join("k8s/secret.yaml")).unwrap();
    let placeholder = |key: &str| {
        let line = secret_yaml.lines().find_map(|l| l.trim().strip_prefix(&format!("{key}: "))).unwrap();
        scalar(line)
    };
    let env: Vec<(String, String)> = image.iter().chain(kubernetes.iter()).cloned().collect();
    let output = migrate_with(
        &env,
        &[("JWT_SECRET_KEY", placeholder("jwt_secret_key")), ("ADMIN_API_KEY", placeholder("admin_api_key"))],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "uap started with the Secret's placeholders");
    assert!(stderr.contains("jwt_secret_key") && stderr.contains("admin_api_key"), "{stderr}");
}
