//! Which SQL engine a URL names, how to connect to it without leaking the
//! URL's password, and how driver errors become [`StoreError`]s.

use std::time::Duration;

use sea_orm::sqlx;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend, DbErr, RuntimeErr};
use uap_ports::StoreError;

/// The SQL engines this build talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SqlBackend {
    /// PostgreSQL (`postgres://`, `postgresql://`).
    Postgres,
    /// MySQL or MariaDB (`mysql://`, `mariadb://`).
    MySql,
    /// SQLite (`sqlite://path?mode=rwc`, `sqlite::memory:`).
    Sqlite,
}

impl SqlBackend {
    /// Recognises the engine from a URL's scheme and returns it with the URL
    /// normalised for the driver (`mariadb://` becomes `mysql://`).
    ///
    /// # Errors
    /// [`StoreError::Misconfigured`] naming `key` for an unknown scheme, or for
    /// SQL Server and Oracle, which this build does not support.
    pub fn from_url(key: &str, url: &str) -> Result<(Self, String), StoreError> {
        let scheme = url.split(':').next().unwrap_or_default().to_ascii_lowercase();
        let rest = &url[scheme.len()..];
        match scheme.as_str() {
            "postgres" | "postgresql" => Ok((Self::Postgres, url.to_owned())),
            "mysql" => Ok((Self::MySql, url.to_owned())),
            "mariadb" => Ok((Self::MySql, format!("mysql{rest}"))),
            "sqlite" => Ok((Self::Sqlite, url.to_owned())),
            "sqlserver" | "mssql" | "oracle" => Err(StoreError::Misconfigured(format!(
                "{key}: {scheme} is not supported by this build (supported: postgresql, mysql, \
                 mariadb, sqlite)"
            ))),
            _ => Err(StoreError::Misconfigured(format!(
                "{key}: {:?} is not a database URL this build supports (postgres://, mysql://, \
                 mariadb://, sqlite://)",
                redact_url(url)
            ))),
        }
    }

    /// The engine's lower-case name, e.g. `postgresql`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Postgres => "postgresql",
            Self::MySql => "mysql",
            Self::Sqlite => "sqlite",
        }
    }

    pub(crate) const fn db_backend(self) -> DbBackend {
        match self {
            Self::Postgres => DbBackend::Postgres,
            Self::MySql => DbBackend::MySql,
            Self::Sqlite => DbBackend::Sqlite,
        }
    }
}

impl std::fmt::Display for SqlBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `url` with its password (and any `password=` style query parameter)
/// replaced by `***`, fit for messages and logs.
///
/// ```
/// use uap_adapters_sql::redact_url;
/// assert_eq!(
///     redact_url("postgres://app:s3cret@db:5432/app"),
///     "postgres://app:***@db:5432/app"
/// );
/// ```
#[must_use]
pub fn redact_url(url: &str) -> String {
    let (head, query) = match url.find(['?', '#']) {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    let head = match split_password(head) {
        Some((before, _, after)) => format!("{before}***{after}"),
        None => head.to_owned(),
    };
    format!("{head}{}", redact_query(query))
}

/// Splits `scheme://user:password@host…` (no query part) into the text before
/// the password, the password, and the text after it. The userinfo ends at the
/// last `@`, so passwords holding `@` or `/` unencoded are still found.
fn split_password(head: &str) -> Option<(&str, &str, &str)> {
    let start = head.find("://")? + 3;
    let at = start + head[start..].rfind('@')?;
    let colon = start + head[start..at].find(':')?;
    Some((&head[..=colon], &head[colon + 1..at], &head[at..]))
}

fn redact_query(query: &str) -> String {
    let Some(params) = query.strip_prefix('?') else {
        return query.to_owned();
    };
    let redacted: Vec<String> = params
        .split('&')
        .map(|pair| {
            let key = pair.split('=').next().unwrap_or_default();
            let secret = matches!(
                key.to_ascii_lowercase().as_str(),
                "password" | "pass" | "pwd" | "sslpassword" | "sqlcipher_key" | "key"
            );
            if secret && pair.contains('=') { format!("{key}=***") } else { pair.to_owned() }
        })
        .collect();
    format!("?{}", redacted.join("&"))
}

/// Percent-decodes a URL component (as the drivers do with the password).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded =
            (bytes[i] == b'%').then(|| s.get(i + 1..i + 3)).flatten().and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match decoded {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// How to size and tune a pool.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolSettings {
    /// Upper bound of pooled connections (SQLite in-memory always uses 1).
    pub max_connections: u32,
    /// UAP's own SQLite database: create the file, use WAL. Never for a host
    /// database, whose journal mode belongs to the host application.
    pub own_sqlite: bool,
}

/// A connected pool and what it talks to.
pub(crate) struct Connected {
    pub conn: DatabaseConnection,
    pub backend: SqlBackend,
}

const TIMEOUT: Duration = Duration::from_secs(5);

/// Opens a pool on `url`. `key` names the configuration key in messages and
/// `what` the dependency in [`StoreError::Unavailable`]. The password is taken
/// out of the URL and handed to the driver separately, so no layer below ever
/// sees (or logs) it inside a URL.
pub(crate) async fn connect(
    key: &'static str,
    what: &'static str,
    url: &str,
    settings: PoolSettings,
) -> Result<Connected, StoreError> {
    open(key, what, url, settings, false).await
}

/// Opens a one-connection pool on `url` that cannot write: SQLite opened
/// read-only (a missing file is an error, never created), PostgreSQL with
/// `default_transaction_read_only = on`, MySQL/MariaDB with
/// `SET SESSION TRANSACTION READ ONLY` on its single, kept-open connection.
pub(crate) async fn connect_read_only(
    key: &'static str,
    what: &'static str,
    url: &str,
) -> Result<Connected, StoreError> {
    let settings = PoolSettings { max_connections: 1, own_sqlite: false };
    let connected = open(key, what, url, settings, true).await?;
    if connected.backend == SqlBackend::MySql {
        let stmt = sea_orm::Statement::from_string(DbBackend::MySql, "SET SESSION TRANSACTION READ ONLY");
        sea_orm::ConnectionTrait::execute_raw(&connected.conn, stmt).await.map_err(|e| map_err(what, e))?;
    }
    Ok(connected)
}

async fn open(
    key: &'static str,
    what: &'static str,
    url: &str,
    settings: PoolSettings,
    read_only: bool,
) -> Result<Connected, StoreError> {
    let (backend, url) = SqlBackend::from_url(key, url)?;
    let (head, query) = match url.find(['?', '#']) {
        Some(i) => url.split_at(i),
        None => (url.as_str(), ""),
    };
    let (driver_url, password) = match split_password(head) {
        Some((before, password, after)) => {
            (format!("{}{after}{query}", &before[..before.len() - 1]), Some(percent_decode(password)))
        }
        None => (url.clone(), None),
    };
    let in_memory = backend == SqlBackend::Sqlite && url.contains(":memory:");

    let mut opt = ConnectOptions::new(driver_url);
    opt.max_connections(settings.max_connections.max(1))
        .min_connections(0)
        .connect_timeout(TIMEOUT)
        .acquire_timeout(TIMEOUT)
        // A ping on every checkout would double the cost of a login lookup;
        // only connections idle long enough to have been dropped are checked.
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        .sqlx_logging(false);
    if in_memory || read_only {
        // Each connection would open its own empty database: keep exactly one,
        // forever. Read-only: the session setting lives on that one connection.
        opt.max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None);
    }
    // One closure per engine: sea-orm keeps only the last one set.
    let pg_password = password.clone();
    opt.map_sqlx_postgres_opts(move |o| {
        let o = if read_only { o.options([("default_transaction_read_only", "on")]) } else { o };
        match &pg_password {
            Some(password) => o.password(password),
            None => o,
        }
    });
    if let Some(password) = password {
        opt.map_sqlx_mysql_opts(move |o| o.password(&password));
    }
    let own_sqlite = settings.own_sqlite;
    opt.map_sqlx_sqlite_opts(move |o| {
        let o = o.busy_timeout(TIMEOUT);
        if read_only {
            o.read_only(true).create_if_missing(false)
        } else if own_sqlite && !in_memory {
            // WAL with synchronous = NORMAL (SQLite's recommended pairing): a
            // commit survives a crash of UAP, only an OS crash or power loss
            // can drop the last transactions — and no fsync per login, which
            // cost ~8 ms each and kept the hashing threads waiting.
            o.create_if_missing(true).journal_mode(SqliteJournalMode::Wal).synchronous(SqliteSynchronous::Normal)
        } else {
            o
        }
    });

    if own_sqlite && !in_memory {
        // Switching a file to WAL needs an exclusive lock and does not wait on
        // the busy timeout: done by several pool connections opening at once
        // under load, it fails now and then with "database is locked". Switch
        // it once, alone; later connections find it in WAL already (a no-op).
        let mut first = opt.clone();
        first.max_connections(1).min_connections(1);
        let single = Database::connect(first).await.map_err(|err| connect_error(key, what, &url, &err))?;
        let _ = single.close().await;
        // No connection before it is needed: one opened now would keep the
        // schema it loaded, and a migration run next (on its own connection,
        // see `InternalDb::migrate`) must be seen by every pooled connection.
        opt.connect_lazy(true);
    }
    let conn = Database::connect(opt).await.map_err(|err| connect_error(key, what, &url, &err))?;
    Ok(Connected { conn, backend })
}

/// Maps a failed connect: the server refusing us (bad credentials, unknown
/// database, unreadable file, bad URL) is a configuration error naming `key`;
/// anything else (refused, timed out) means the dependency is unavailable.
fn connect_error(key: &'static str, what: &'static str, url: &str, err: &DbErr) -> StoreError {
    let shown = redact_url(url);
    let mut detail = err.to_string().replace(url, &shown);
    if let Some((_, password, _)) = split_password(url) {
        for secret in [password.to_owned(), percent_decode(password)] {
            if secret.len() >= 4 {
                detail = detail.replace(&secret, "***");
            }
        }
    }
    let message = format!("{key}: cannot connect to {shown}: {detail}");
    let refused_by_server = match err {
        DbErr::Conn(RuntimeErr::SqlxError(e)) => {
            matches!(**e, sqlx::Error::Database(_) | sqlx::Error::Configuration(_))
        }
        DbErr::Conn(RuntimeErr::Internal(_)) => true,
        _ => false,
    };
    if refused_by_server {
        StoreError::Misconfigured(message)
    } else {
        StoreError::Unavailable { what, source: Some(message.into()) }
    }
}

/// Maps a driver error on an established pool: connectivity failures become
/// [`StoreError::Unavailable`], everything else [`StoreError::Backend`].
pub(crate) fn map_err(what: &'static str, err: DbErr) -> StoreError {
    let unavailable = match &err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            matches!(
                **e,
                sqlx::Error::Io(_)
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::WorkerCrashed
            )
        }
        _ => false,
    };
    if unavailable { StoreError::unavailable(what, err) } else { StoreError::backend(err) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_password_in_userinfo() {
        let cases = [
            ("postgres://app:s3cret@db:5432/app", "postgres://app:***@db:5432/app"),
            ("postgresql://app:s3cret@db/app?sslmode=require", "postgresql://app:***@db/app?sslmode=require"),
            ("mysql://root:p%40ss@127.0.0.1:3306/x", "mysql://root:***@127.0.0.1:3306/x"),
            ("mysql://root:p@ss/word@host/db", "mysql://root:***@host/db"),
            ("mariadb://u:@h/db", "mariadb://u:***@h/db"),
            ("postgres://postgres@127.0.0.1:5432/test", "postgres://postgres@127.0.0.1:5432/test"),
            ("postgres://host/db?user=a&password=hunter2&x=1", "postgres://host/db?user=a&password=***&x=1"),
            ("sqlite://uap.db?mode=rwc", "sqlite://uap.db?mode=rwc"),
            ("sqlite::memory:", "sqlite::memory:"),
            ("", ""),
        ];
        for (url, want) in cases {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }

    #[test]
    fn redacted_url_never_contains_the_password() {
        for password in ["hunter2", "p@ss/w:rd", "x%2Fy", "::::", "@@@"] {
            let url = format!("postgres://user:{password}@db.example:5432/app?sslmode=disable");
            let shown = redact_url(&url);
            assert!(!shown.contains(password), "{shown}");
            assert!(shown.contains("db.example:5432/app"), "{shown}");
        }
    }

    #[test]
    fn schemes() {
        let (b, u) = SqlBackend::from_url("k", "mariadb://root@h/db").unwrap();
        assert_eq!((b, u.as_str()), (SqlBackend::MySql, "mysql://root@h/db"));
        assert_eq!(SqlBackend::from_url("k", "postgresql://h/db").unwrap().0, SqlBackend::Postgres);
        assert_eq!(SqlBackend::from_url("k", "sqlite::memory:").unwrap().0, SqlBackend::Sqlite);
        let err = SqlBackend::from_url("host_db_url", "sqlserver://sa:pw@h/db").unwrap_err();
        assert!(err.to_string().contains("not supported by this build"), "{err}");
        assert!(err.to_string().starts_with("host_db_url: "), "{err}");
        let err = SqlBackend::from_url("host_db_url", "ftp://u:topsecret@h/db").unwrap_err();
        assert!(!err.to_string().contains("topsecret"), "{err}");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("p%40ss%2Fx"), "p@ss/x");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
