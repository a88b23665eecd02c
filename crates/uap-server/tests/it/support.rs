//! Spawning the real `Application` on 127.0.0.1:0 against a real host
//! database (SQLite always; PostgreSQL and MariaDB when their URLs are set).

use std::time::Duration;

use actix_web::dev::ServerHandle;
use serde_json::{Value, json};
use uap_adapters_sql::testing::TestDb;
use uap_server::Application;
use uap_server::config::Settings;

pub const SECRET: &str = "an-hs256-secret-long-enough-to-also-sign-hs384-and-hs512-tokens!";

/// Which host database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    Mysql,
}

impl Backend {
    /// A fresh database, or None (with a visible skip message) when the
    /// service is not configured.
    pub async fn database(self) -> Option<TestDb> {
        match self {
            Backend::Sqlite => Some(TestDb::sqlite()),
            Backend::Postgres => TestDb::postgres().await,
            Backend::Mysql => TestDb::mysql().await,
        }
    }

    fn users_ddl(self) -> &'static str {
        match self {
            Backend::Sqlite => {
                "CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, username VARCHAR(100) NOT NULL UNIQUE, \
                 email VARCHAR(255), password VARCHAR(512), role VARCHAR(50), is_active BOOLEAN NOT NULL DEFAULT 1, \
                 remember_token VARCHAR(100), created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)"
            }
            Backend::Postgres => {
                "CREATE TABLE users (id SERIAL PRIMARY KEY, username VARCHAR(100) NOT NULL UNIQUE, \
                 email VARCHAR(255), password VARCHAR(512), role VARCHAR(50), is_active BOOLEAN NOT NULL DEFAULT TRUE, \
                 remember_token VARCHAR(100), created_at TIMESTAMPTZ DEFAULT NOW())"
            }
            Backend::Mysql => {
                "CREATE TABLE users (id INT AUTO_INCREMENT PRIMARY KEY, username VARCHAR(100) NOT NULL UNIQUE, \
                 email VARCHAR(255), password VARCHAR(512), role VARCHAR(50), is_active TINYINT(1) NOT NULL DEFAULT 1, \
                 remember_token VARCHAR(100), created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)"
            }
        }
    }
}

/// A host user to insert.
pub struct HostUser<'a> {
    pub username: &'a str,
    pub password_hash: &'a str,
    pub role: &'a str,
    pub active: bool,
}

fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// A host database with a `users` table.
pub struct Host {
    pub db: TestDb,
    pub backend: Backend,
}

impl Host {
    pub async fn new(backend: Backend) -> Option<Host> {
        let db = backend.database().await?;
        db.execute(backend.users_ddl()).await;
        Some(Host { db, backend })
    }

    pub async fn insert(&self, user: HostUser<'_>) {
        let active = if user.active { "1" } else { "0" };
        let active =
            if self.backend == Backend::Postgres { if user.active { "TRUE" } else { "FALSE" } } else { active };
        let sql = format!(
            "INSERT INTO users (username, email, password, role, is_active, remember_token) VALUES ({}, {}, {}, {}, {active}, 'tok')",
            quote(user.username),
            quote(&format!("{}@example.com", user.username)),
            quote(user.password_hash),
            quote(user.role),
        );
        self.db.execute(&sql).await;
    }

    pub fn url(&self) -> String {
        self.db.url.clone()
    }
}

/// A running server and a client for it.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    handle: ServerHandle,
    _internal: tempfile_dir::Dir,
}

mod tempfile_dir {
    /// A temporary directory removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Settings for a test server against `host_url`.
pub fn settings(host_url: &str) -> Settings {
    Settings {
        port: 0,
        host_db_url: Some(host_url.into()),
        jwt_secret_key: Some(SECRET.into()),
        argon2_memory_kib: 64,
        argon2_iterations: 1,
        bcrypt_cost: 4,
        ..Settings::default()
    }
}

impl TestApp {
    pub async fn spawn(settings: Settings) -> TestApp {
        Self::spawn_with(settings, uap_server::pipeline::MiddlewareRegistry::default()).await
    }

    pub async fn spawn_with(mut settings: Settings, registry: uap_server::pipeline::MiddlewareRegistry) -> TestApp {
        let dir = std::env::temp_dir().join(format!("uap-it-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        settings.database_url = format!("sqlite://{}?mode=rwc", dir.join("uap.db").display()).into();
        let app = Application::from_settings(settings, registry).await.expect("server starts");
        let base = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        TestApp { base, client, handle, _internal: tempfile_dir::Dir(dir) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn login(&self, username: &str, password: &str) -> (u16, Value) {
        let response = self
            .client
            .post(self.url("/api/v1/auth/authenticate"))
            .json(&json!({ "username": username, "password": password, "device_id": "test-device" }))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn validate(&self, token: &str) -> (u16, Value) {
        let response = self.client.get(self.url("/api/v1/auth/validate")).bearer_auth(token).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_bearer(&self, path: &str, token: &str) -> (u16, Value) {
        let response = self.client.post(self.url(path)).bearer_auth(token).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn refresh_with(&self, refresh_token: &str) -> (u16, Value) {
        let response = self
            .client
            .post(self.url("/api/v1/auth/refresh"))
            .json(&json!({ "refresh_token": refresh_token }))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}
