//! Shared helpers of the integration tests.

use uap_adapters_sql::testing::TestDb;
use uap_adapters_sql::{ColumnPurpose, HostTableConfig, InternalDb, OptionalColumn, SqlBackend, SqlUserDirectory};
use uap_ports::contract::rate_limit::Task;
use uap_ports::{HostUser, StoreError, UserDirectory, UserQuery};

/// Installs the rustls crypto provider once (ring and aws-lc may both be linked).
pub fn init() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The internal database of `db` for organization `org`, migrated.
pub async fn migrated(db: &TestDb, org: &str) -> InternalDb {
    let internal = InternalDb::connect(&db.url, org).await.expect("connect");
    internal.migrate().await.expect("migrate");
    internal
}

/// A spawner for the contract suites' concurrency checks: the task runs on
/// the tokio runtime at once.
pub fn spawned<T: Send + 'static>(task: Task<T>) -> Task<T> {
    let handle = tokio::spawn(task);
    Box::pin(async move { handle.await.expect("task panicked") })
}

/// `template` with engine-specific types: `{ts}` a timestamp without zone,
/// `{json}`, `{uuid}`, `{blob}`, `{double}`, `{decimal}`.
pub fn ddl(backend: SqlBackend, template: &str) -> String {
    let pick = |pg: &str, my: &str, lite: &str| match backend {
        SqlBackend::Postgres => pg.to_owned(),
        SqlBackend::MySql => my.to_owned(),
        SqlBackend::Sqlite => lite.to_owned(),
    };
    template
        .replace("{ts}", &pick("TIMESTAMP", "DATETIME", "DATETIME"))
        .replace("{json}", &pick("JSONB", "JSON", "TEXT"))
        .replace("{uuid}", &pick("UUID", "CHAR(36)", "TEXT"))
        .replace("{blob}", &pick("BYTEA", "BLOB", "BLOB"))
        .replace("{double}", &pick("DOUBLE PRECISION", "DOUBLE", "REAL"))
        .replace("{decimal}", &pick("NUMERIC(10,2)", "DECIMAL(10,2)", "NUMERIC(10,2)"))
}

/// The Laravel-like `users` table most tests use, with four users:
/// alice (admin, active), bob (inactive), carol (NULL password), dave (empty password).
pub async fn users_table(db: &TestDb) {
    db.execute(&ddl(
        db.backend,
        "CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            username VARCHAR(150) NOT NULL,
            email VARCHAR(254),
            password VARCHAR(255),
            is_active BOOLEAN NOT NULL DEFAULT TRUE,
            role VARCHAR(32),
            remember_token VARCHAR(100),
            created_at {ts},
            score {double},
            balance {decimal},
            profile {json}
        )",
    ))
    .await;
    db.execute(
        "INSERT INTO users (id, username, email, password, is_active, role, remember_token, \
         created_at, score, balance, profile) VALUES
         (1, 'alice', 'alice@example.com', '$2y$10$abcdefghijklmnopqrstuu5Xg6JmKX5Vf9Q0sD4OF.bW1Q3nVvmu', \
          TRUE, 'admin', 'tok-123', '2024-01-02 03:04:05', 1.5, 12.50, '{\"theme\": \"dark\", \"n\": 3}'),
         (2, 'bob', 'bob@example.com', 'pbkdf2_sha256$600000$salt$hash', FALSE, 'user', NULL, \
          NULL, NULL, NULL, NULL),
         (3, 'carol', 'carol@example.com', NULL, TRUE, NULL, NULL, NULL, NULL, NULL, NULL),
         (4, 'dave', NULL, '', TRUE, 'user', NULL, NULL, NULL, NULL, NULL)",
    )
    .await;
}

/// The usual configuration of [`users_table`]: log in with username or e-mail;
/// e-mail, phone, role and active columns at their defaults.
pub fn users_config() -> HostTableConfig {
    HostTableConfig::new("users", "id", "password", &["username", "email"])
        .with_optional(OptionalColumn::if_present("email_field", ColumnPurpose::Email, "email"))
        .with_optional(OptionalColumn::if_present("phone_field", ColumnPurpose::Phone, "phone"))
        .with_optional(OptionalColumn::if_present("role_field", ColumnPurpose::Role, "role"))
        .with_optional(OptionalColumn::if_present("active_field", ColumnPurpose::Active, "is_active"))
}

pub async fn directory(db: &TestDb, config: HostTableConfig) -> SqlUserDirectory {
    match SqlUserDirectory::connect(&db.url, config).await {
        Ok(d) => d,
        Err(e) => panic!("connect: {e}"),
    }
}

pub async fn connect_err(db: &TestDb, config: HostTableConfig) -> String {
    match SqlUserDirectory::connect(&db.url, config).await {
        Ok(_) => panic!("connect should have failed"),
        Err(StoreError::Misconfigured(message)) => message,
        Err(other) => panic!("expected Misconfigured, got {other:?}"),
    }
}

pub fn query(value: &str, fields: &[&str]) -> UserQuery {
    UserQuery {
        value: value.to_owned(),
        fields: fields.iter().map(|f| (*f).to_owned()).collect(),
        case_insensitive: false,
    }
}

pub async fn find(dir: &SqlUserDirectory, value: &str, fields: &[&str]) -> Option<HostUser> {
    dir.find_user(&query(value, fields)).await.expect("find_user")
}
