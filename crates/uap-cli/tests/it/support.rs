//! Running the `uap` binary.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub fn uap() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_uap"));
    // Keep the tests' own UAP_* variables (service URLs) out of the config.
    for (key, _) in std::env::vars() {
        if key.starts_with("UAP_") && !key.starts_with("UAP_TEST_") && key != "UAP_REQUIRE_INTEGRATION" {
            command.env_remove(key);
        }
    }
    command
}

pub fn run(command: &mut Command) -> Output {
    command.stdin(Stdio::null()).output().expect("uap runs")
}

/// A fresh temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("uap-cli-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running `uap` process; killed on drop.
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub stdout: mpsc::Receiver<String>,
}

impl Server {
    /// Starts `command` and waits until `/health/live` answers.
    pub async fn start(mut command: Command, port: u16) -> Server {
        let mut child =
            command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("uap starts");
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let server = Server { child, port, stdout: rx };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let live = client.get(server.url("/health/live")).send().await;
            if live.is_ok_and(|r| r.status() == 200) {
                return server;
            }
            assert!(Instant::now() < deadline, "uap did not become live on port {port}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Lines printed so far.
    pub fn printed(&self) -> Vec<String> {
        self.stdout.try_iter().collect()
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "uap did not stop on SIGTERM");
            std::thread::yield_now();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `sqlite3 <db> <sql>` (the Debian client) and returns what it printed.
pub fn sqlite(db: &Path, sql: &str) -> String {
    let out = Command::new("sqlite3").arg(db).arg(sql).output().expect("sqlite3 runs");
    assert!(out.status.success(), "sqlite3: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// TOTP codes for a secret enrolled through `POST /mfa/totp/enroll`, against
/// the wall clock (the server's).
pub struct Codes {
    /// The enrolled secret.
    pub secret: uap_domain::mfa::TotpSecret,
    totp: uap_domain::mfa::Totp,
}

impl Codes {
    /// The codes of the `secret` in an enroll answer.
    pub fn of(enroll: &serde_json::Value) -> Self {
        let secret = uap_domain::mfa::TotpSecret::from_bytes(
            data_encoding::BASE32_NOPAD.decode(enroll["secret"].as_str().unwrap().as_bytes()).unwrap(),
        )
        .unwrap();
        Self { secret, totp: uap_domain::mfa::Totp::default() }
    }

    /// The code `offset` steps from now.
    #[allow(clippy::disallowed_methods, reason = "codes are computed against the server's wall clock")]
    pub fn at(&self, offset: i64) -> String {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        self.totp.code_at_step(&self.secret, self.totp.step_at(now) + offset)
    }
}

/// `uap serve` with `dir/<name>.toml`: a free port, a test JWT secret, bcrypt
/// cost 4, then `settings` (the host and internal databases included).
pub async fn serve_named(dir: &TempDir, name: &str, settings: &str) -> Server {
    let port = free_port();
    let config = dir.path().join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!("port = {port}\njwt_secret_key = \"0123456789abcdef0123456789abcdef\"\nbcrypt_cost = 4\n{settings}"),
    )
    .unwrap();
    let mut command = uap();
    command.arg("serve").arg("--config").arg(&config);
    Server::start(command, port).await
}

/// `UAP_TEST_REDIS_URL`, or `None` with a visible skip message (a failure
/// when `UAP_REQUIRE_INTEGRATION=1`).
pub fn redis_url() -> Option<String> {
    match std::env::var("UAP_TEST_REDIS_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var("UAP_REQUIRE_INTEGRATION").as_deref() == Ok("1") => {
            panic!("UAP_TEST_REDIS_URL is required (UAP_REQUIRE_INTEGRATION=1)")
        }
        Err(_) => {
            eprintln!("skipping: UAP_TEST_REDIS_URL not set");
            None
        }
    }
}

/// The audit rows of the internal database `dir/uap.db` matching `filter`,
/// waiting up to 3 s for the first one (events reach the database through a
/// batching writer).
pub async fn audit_count(dir: &TempDir, filter: &str) -> usize {
    let db = dir.path().join("uap.db");
    let count = || -> usize {
        sqlite(&db, &format!("SELECT COUNT(*) FROM uap_audit_logs WHERE {filter}")).parse().expect("a count")
    };
    for _ in 0..60 {
        match count() {
            0 => tokio::time::sleep(Duration::from_millis(50)).await,
            found => return found,
        }
    }
    count()
}

/// `uap serve` with `dir/uap.toml`: a free port, the host database at
/// `host_url`, the internal database `dir/uap.db`, a test JWT secret, then
/// `extra` (top-level keys before any `[[middleware_stack]]` table).
pub async fn serve_in(dir: &TempDir, host_url: &str, extra: &str) -> Server {
    let port = free_port();
    let config = dir.path().join("uap.toml");
    std::fs::write(
        &config,
        format!(
            "port = {port}\nhost_db_url = \"{host_url}\"\ndatabase_url = \"sqlite://{}?mode=rwc\"\n\
             jwt_secret_key = \"0123456789abcdef0123456789abcdef\"\n{extra}",
            dir.path().join("uap.db").display()
        ),
    )
    .unwrap();
    let mut command = uap();
    command.arg("serve").arg("--config").arg(&config);
    Server::start(command, port).await
}

/// A fresh directory with the SQLite host database `host.db` made by
/// `host_sql`, and [`serve_in`] over it.
pub async fn serve_sqlite(host_sql: &str, extra: &str) -> (Server, TempDir) {
    let dir = TempDir::new();
    let host = dir.path().join("host.db");
    sqlite(&host, host_sql);
    let server = serve_in(&dir, &format!("sqlite://{}", host.display()), extra).await;
    (server, dir)
}
