//! Throw-away databases for integration tests (feature `testing`).
//!
//! Each [`TestDb`] is a fresh, uniquely named database (`uap_t_<random>`):
//! created with `CREATE DATABASE` on the PostgreSQL server of
//! `UAP_TEST_POSTGRES_URL` or the MySQL/MariaDB server of `UAP_TEST_MYSQL_URL`,
//! or a temporary SQLite file. When a server URL is not set the constructor
//! prints `skipping: … not set` and returns `None`, unless
//! `UAP_REQUIRE_INTEGRATION=1`, which turns the missing service into a test
//! failure. Call [`TestDb::cleanup`] at the end of a test to drop it.
#![allow(clippy::panic, reason = "test support: a failed setup step is a test failure")]

use std::path::PathBuf;

use sea_orm::{ConnectionTrait, DatabaseConnection};
use tokio::sync::OnceCell;

use crate::SqlBackend;
use crate::backend::{PoolSettings, connect, redact_url};
use crate::ident::quote;

/// A fresh database for one test.
#[derive(Debug)]
pub struct TestDb {
    /// Its URL, for `SqlUserDirectory::connect` / `InternalDb::connect`.
    pub url: String,
    /// Its engine.
    pub backend: SqlBackend,
    /// `(server admin URL, database name)` to drop it on a server.
    server: Option<(String, String)>,
    /// The SQLite file (and its `-wal`/`-shm` companions) to remove.
    file: Option<PathBuf>,
    conn: OnceCell<DatabaseConnection>,
}

/// Installs rustls's ring crypto provider for the process (both ring and
/// aws-lc may be linked, and then rustls cannot choose). Idempotent.
pub fn install_crypto_provider() {
    // An error only means a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn unique_name() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("uap_t_{}", &id[..16])
}

/// `url` with its database (path) replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (head, query) = match url.find('?') {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    let authority_start = head.find("://").map_or(0, |i| i + 3);
    let host_start = head[authority_start..].rfind('@').map_or(authority_start, |i| authority_start + i + 1);
    let path_start = head[host_start..].find('/').map_or(head.len(), |i| host_start + i);
    format!("{}/{name}{query}", &head[..path_start])
}

fn require_integration() -> bool {
    std::env::var("UAP_REQUIRE_INTEGRATION").is_ok_and(|v| v == "1")
}

impl TestDb {
    /// A fresh PostgreSQL database on the server of `UAP_TEST_POSTGRES_URL`.
    ///
    /// # Panics
    /// When the server refuses, or when the variable is unset and
    /// `UAP_REQUIRE_INTEGRATION=1`.
    pub async fn postgres() -> Option<Self> {
        Self::on_server("UAP_TEST_POSTGRES_URL", SqlBackend::Postgres).await
    }

    /// A fresh MySQL/MariaDB database on the server of `UAP_TEST_MYSQL_URL`.
    ///
    /// # Panics
    /// As [`TestDb::postgres`].
    pub async fn mysql() -> Option<Self> {
        Self::on_server("UAP_TEST_MYSQL_URL", SqlBackend::MySql).await
    }

    /// A fresh SQLite database in a temporary file.
    #[must_use]
    pub fn sqlite() -> Self {
        let path = std::env::temp_dir().join(format!("{}.db", unique_name()));
        Self {
            url: format!("sqlite://{}?mode=rwc", path.display()),
            backend: SqlBackend::Sqlite,
            server: None,
            file: Some(path),
            conn: OnceCell::new(),
        }
    }

    async fn on_server(var: &'static str, backend: SqlBackend) -> Option<Self> {
        let Some(admin_url) = std::env::var(var).ok().filter(|v| !v.is_empty()) else {
            assert!(!require_integration(), "{var} is not set but UAP_REQUIRE_INTEGRATION=1");
            eprintln!("skipping: {var} not set");
            return None;
        };
        install_crypto_provider();
        let name = unique_name();
        let admin = Self::admin(var, &admin_url).await;
        let create = match backend {
            SqlBackend::Postgres => format!("CREATE DATABASE {}", quote(&name, backend)),
            SqlBackend::MySql | SqlBackend::Sqlite => {
                format!("CREATE DATABASE {} CHARACTER SET utf8mb4", quote(&name, backend))
            }
        };
        if let Err(e) = admin.execute_unprepared(&create).await {
            panic!("{var}: cannot create a database on {}: {e}", redact_url(&admin_url));
        }
        let _ = admin.close().await;
        Some(Self {
            url: with_database(&admin_url, &name),
            backend,
            server: Some((admin_url, name)),
            file: None,
            conn: OnceCell::new(),
        })
    }

    async fn admin(var: &'static str, url: &str) -> DatabaseConnection {
        let settings = PoolSettings { max_connections: 1, own_sqlite: false };
        match connect(var, "test database server", url, settings).await {
            Ok(c) => c.conn,
            Err(e) => panic!("{var}: {e} ({:?})", std::error::Error::source(&e)),
        }
    }

    async fn conn(&self) -> &DatabaseConnection {
        self.conn
            .get_or_init(|| async {
                let settings = PoolSettings { max_connections: 2, own_sqlite: true };
                match connect("test database", "test database", &self.url, settings).await {
                    Ok(c) => c.conn,
                    Err(e) => panic!("cannot connect to {}: {e}", redact_url(&self.url)),
                }
            })
            .await
    }

    /// Runs one setup statement (DDL or an insert with literal values).
    ///
    /// # Panics
    /// When the statement fails.
    pub async fn execute(&self, sql: &str) {
        if let Err(e) = self.conn().await.execute_unprepared(sql).await {
            panic!("setup statement failed: {e}\n{sql}");
        }
    }

    /// Drops the database (best effort). Dropping a `TestDb` without calling
    /// this (a test that panicked) does the same on a helper thread.
    pub async fn cleanup(mut self) {
        if let Some(conn) = self.conn.take() {
            let _ = conn.close().await;
        }
        remove(self.backend, self.server.take(), self.file.take()).await;
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (server, file) = (self.server.take(), self.file.take());
        if server.is_none() && file.is_none() {
            return;
        }
        let backend = self.backend;
        // The test's runtime may be unwinding: use a runtime of our own.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                rt.block_on(remove(backend, server, file));
            }
        })
        .join();
    }
}

/// Drops a server database and removes a SQLite file with its companions.
async fn remove(backend: SqlBackend, server: Option<(String, String)>, file: Option<PathBuf>) {
    if let Some((admin_url, name)) = server {
        let drop = match backend {
            SqlBackend::Postgres => {
                format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote(&name, backend))
            }
            SqlBackend::MySql | SqlBackend::Sqlite => {
                format!("DROP DATABASE IF EXISTS {}", quote(&name, backend))
            }
        };
        let settings = PoolSettings { max_connections: 1, own_sqlite: false };
        if let Ok(admin) = connect("admin", "test database server", &admin_url, settings).await {
            if let Err(e) = admin.conn.execute_unprepared(&drop).await {
                eprintln!("could not drop test database {name}: {e}");
            }
            let _ = admin.conn.close().await;
        }
    }
    if let Some(path) = file {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_is_replaced() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("mysql://root:p/w@127.0.0.1:3306/test?ssl-mode=disabled", "x"),
            "mysql://root:p/w@127.0.0.1:3306/x?ssl-mode=disabled"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}
