//! UAP's own database (PostgreSQL, MySQL/MariaDB or SQLite): migrations, the
//! SQL session store, audit sink, rate-limit counters, MFA factors and
//! middleware log. Every row carries the organization id the handle was opened
//! with, and every statement is scoped by it.

mod audit;
mod configurations;
mod mfa;
mod middleware_logs;
mod migrations;
mod rate_limits;
mod sessions;

use std::sync::Arc;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, QueryResult, RuntimeErr, SqlErr, Statement, Value};
use sea_orm_migration::MigratorTrait;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Duration, OffsetDateTime, PrimitiveDateTime, UtcOffset};
use uap_ports::StoreError;

pub use audit::SqlAuditSink;
pub use configurations::SqlConfigStore;
pub use mfa::SqlMfaFactorStore;
pub use middleware_logs::SqlMiddlewareLogSink;
pub use rate_limits::SqlRateLimitStore;
pub use sessions::SqlSessionStore;

use crate::SqlBackend;
use crate::backend::{Connected, PoolSettings, connect, map_err};
use crate::ident::quote;
use crate::sql::Sql;

/// The dependency name in [`StoreError::Unavailable`].
pub(crate) const INTERNAL: &str = "internal database";

/// A pooled connection to the internal database, scoped to one organization.
#[derive(Clone)]
pub struct InternalDb {
    inner: Arc<Inner>,
    /// The URL of an SQLite file database (migrated on its own connection).
    sqlite_file: Option<String>,
}

/// What the stores share.
pub(crate) struct Inner {
    pub conn: DatabaseConnection,
    pub backend: SqlBackend,
    pub organization_id: String,
}

impl Inner {
    /// A statement builder for this backend.
    pub(crate) fn sql(&self) -> Sql {
        Sql::new(self.backend)
    }

    /// This deployment's `organization_id`, as a bound value.
    pub(crate) fn org(&self) -> Value {
        Value::from(self.organization_id.as_str())
    }

    /// The quoted `timestamp` column (a keyword in some dialects).
    pub(crate) fn timestamp_column(&self) -> String {
        quote("timestamp", self.backend)
    }
}

impl std::fmt::Debug for InternalDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InternalDb")
            .field("backend", &self.inner.backend)
            .field("organization_id", &self.inner.organization_id)
            .finish_non_exhaustive()
    }
}

impl InternalDb {
    /// Connects to the internal database at `url` (`sqlite://path?mode=rwc`,
    /// `sqlite::memory:`, `postgres://…`, `mysql://…`). A SQLite file is
    /// created when missing and put in WAL mode; every SQLite connection waits
    /// up to 5 s for a lock.
    ///
    /// # Errors
    /// [`StoreError::Misconfigured`] naming `database_url` for an unsupported or
    /// refused URL, [`StoreError::Unavailable`] when the server cannot be
    /// reached (the URL's password is never shown).
    pub async fn connect(url: &str, organization_id: &str) -> Result<Self, StoreError> {
        let settings = PoolSettings { max_connections: 10, own_sqlite: true };
        let Connected { conn, backend } = connect("database_url", INTERNAL, url, settings).await?;
        let sqlite_file = (backend == SqlBackend::Sqlite && !url.contains(":memory:")).then(|| url.to_owned());
        Ok(Self { inner: Arc::new(Inner { conn, backend, organization_id: organization_id.to_owned() }), sqlite_file })
    }

    /// Creates or upgrades the schema; applied migrations are skipped, so
    /// running it again is a no-op.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] or [`StoreError::Backend`] when a statement fails.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let Some(url) = &self.sqlite_file else {
            return migrations::Migrator::up(&self.inner.conn, None).await.map_err(|e| map_err(INTERNAL, e));
        };
        // SQLite: migrate on a connection of its own, then drop it. A pooled
        // connection that had loaded the old schema could keep preparing
        // statements against it (an upsert's ON CONFLICT target "matching no
        // UNIQUE constraint" while the index exists); the pool opens its
        // connections lazily, after this.
        let settings = PoolSettings { max_connections: 1, own_sqlite: true };
        let Connected { conn, .. } = connect("database_url", INTERNAL, url, settings).await?;
        let result = migrations::Migrator::up(&conn, None).await.map_err(|e| map_err(INTERNAL, e));
        let _ = conn.close().await;
        result
    }

    /// Checks that the database answers.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when it does not.
    pub async fn health(&self) -> Result<(), StoreError> {
        health(&self.inner).await
    }

    /// The engine behind this handle.
    #[must_use]
    pub fn backend(&self) -> SqlBackend {
        self.inner.backend
    }

    /// The session store on this database.
    #[must_use]
    pub fn session_store(&self) -> SqlSessionStore {
        SqlSessionStore::new(Arc::clone(&self.inner))
    }

    /// The audit sink on this database.
    #[must_use]
    pub fn audit_sink(&self) -> SqlAuditSink {
        SqlAuditSink::new(Arc::clone(&self.inner))
    }

    /// The rate-limit counters on this database (atomic across processes).
    #[must_use]
    pub fn rate_limit_store(&self) -> SqlRateLimitStore {
        SqlRateLimitStore::new(Arc::clone(&self.inner))
    }

    /// The configuration versions on this database.
    #[must_use]
    pub fn config_store(&self) -> SqlConfigStore {
        SqlConfigStore::new(Arc::clone(&self.inner))
    }

    /// The MFA factor store on this database.
    #[must_use]
    pub fn mfa_store(&self) -> SqlMfaFactorStore {
        SqlMfaFactorStore::new(Arc::clone(&self.inner))
    }

    /// The middleware log sink on this database.
    #[must_use]
    pub fn middleware_log_sink(&self) -> SqlMiddlewareLogSink {
        SqlMiddlewareLogSink::new(Arc::clone(&self.inner))
    }
}

pub(crate) async fn health(inner: &Inner) -> Result<(), StoreError> {
    let stmt = Statement::from_string(inner.backend.db_backend(), "SELECT 1");
    inner.conn.execute_raw(stmt).await.map(|_| ()).map_err(|e| StoreError::unavailable(INTERNAL, e))
}

/// The clause that makes a batch `INSERT` keyed by `id` idempotent: a batch
/// retried after its commit reached the database but the answer did not
/// (the connection died) inserts nothing twice and does not fail on the key.
pub(crate) fn on_duplicate_id_do_nothing(backend: SqlBackend) -> &'static str {
    match backend {
        SqlBackend::Postgres | SqlBackend::Sqlite => " ON CONFLICT (id) DO NOTHING",
        SqlBackend::MySql => " ON DUPLICATE KEY UPDATE id = id",
    }
}

/// Maps a driver error of the internal database.
pub(crate) fn db_err(err: DbErr) -> StoreError {
    map_err(INTERNAL, err)
}

/// Whether `err` means another writer got there first and the step can simply
/// run again: a unique-key violation (a concurrent insert won), or a deadlock
/// or serialization failure whose transaction the engine rolled back
/// (SQLSTATE 40001 — MySQL/MariaDB error 1213 — or PostgreSQL's 40P01).
pub(crate) fn lost_race(err: &DbErr) -> bool {
    if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
        return true;
    }
    let (DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))) = err else {
        return false;
    };
    e.as_database_error().and_then(|d| d.code()).is_some_and(|code| code == "40001" || code == "40P01")
}

/// Rounds of a step that keeps losing races before it gives up.
const ROUNDS: usize = 8;

/// Why one round of a step failed.
pub(crate) enum RoundErr {
    /// A driver error: the round runs again if it [lost a race](lost_race).
    Db(DbErr),
    /// Anything else: final.
    Store(StoreError),
}

impl From<DbErr> for RoundErr {
    fn from(err: DbErr) -> Self {
        Self::Db(err)
    }
}

impl From<StoreError> for RoundErr {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

/// Runs `round` until it succeeds, fails for good, or has lost `ROUNDS`
/// races in a row (then a [`StoreError::Backend`] naming `what`). Each round
/// must be a whole transaction or a single statement, so a lost one left
/// nothing behind.
pub(crate) async fn in_rounds<T, F, Fut>(what: &'static str, mut round: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, RoundErr>>,
{
    for _ in 0..ROUNDS {
        match round().await {
            Ok(value) => return Ok(value),
            Err(RoundErr::Db(e)) if lost_race(&e) => {}
            Err(RoundErr::Db(e)) => return Err(db_err(e)),
            Err(RoundErr::Store(e)) => return Err(e),
        }
    }
    Err(StoreError::backend(format!("{what} kept losing races with concurrent writers")))
}

/// `t` in UTC, truncated to whole microseconds (what every engine keeps).
pub(crate) fn utc_micros(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(UtcOffset::UTC);
    t - Duration::nanoseconds(i64::from(t.nanosecond() % 1_000))
}

/// A timestamp parameter: `TIMESTAMPTZ` on PostgreSQL, `DATETIME` (UTC) on
/// MySQL; on SQLite fixed-width
/// RFC 3339 text, so that text order is time order.
pub(crate) fn ts(backend: SqlBackend, t: OffsetDateTime) -> Value {
    let t = utc_micros(t);
    match backend {
        SqlBackend::Sqlite => {
            let fixed = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
            // Formatting a UTC time with this description cannot fail for
            // years 0..=9999; fall back to the variable-width form otherwise.
            let text = t.format(fixed).or_else(|_| t.format(&Rfc3339)).unwrap_or_default();
            Value::from(text)
        }
        // DATETIME, not TIMESTAMP: sqlx types an `OffsetDateTime` parameter as
        // TIMESTAMP, which MySQL turns into NULL past 2038-01-19.
        SqlBackend::MySql => Value::from(PrimitiveDateTime::new(t.date(), t.time())),
        SqlBackend::Postgres => Value::from(t),
    }
}

/// An optional timestamp parameter.
pub(crate) fn opt_ts(backend: SqlBackend, t: Option<OffsetDateTime>) -> Value {
    match (t, backend) {
        (Some(t), _) => ts(backend, t),
        (None, SqlBackend::Sqlite) => Value::String(None),
        (None, SqlBackend::MySql) => Value::TimeDateTime(None),
        (None, SqlBackend::Postgres) => Value::TimeDateTimeWithTimeZone(None),
    }
}

/// A JSON parameter, NUL characters replaced (see [`text`]).
pub(crate) fn json(value: &serde_json::Value) -> Value {
    Value::Json(Some(Box::new(without_nul(value.clone()))))
}

/// An optional free-text parameter (user agent, error message…) with NUL
/// characters replaced by U+FFFD: PostgreSQL stores no NUL in text or JSONB,
/// and one client-supplied NUL must not make a whole audit batch fail forever.
pub(crate) fn text(value: Option<&str>) -> Value {
    Value::from(value.map(|s| s.replace('\0', "\u{fffd}")))
}

fn without_nul(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value as J;
    let clean = |s: String| {
        if s.contains('\0') { s.replace('\0', "\u{fffd}") } else { s }
    };
    match value {
        J::String(s) => J::String(clean(s)),
        J::Array(items) => J::Array(items.into_iter().map(without_nul).collect()),
        J::Object(map) => J::Object(map.into_iter().map(|(k, v)| (clean(k), without_nul(v))).collect()),
        other => other,
    }
}

/// Reads an optional timestamp column written by [`ts`].
pub(crate) fn read_opt_ts(
    row: &QueryResult,
    backend: SqlBackend,
    col: &str,
) -> Result<Option<OffsetDateTime>, StoreError> {
    match backend {
        SqlBackend::Sqlite => row
            .try_get::<Option<String>>("", col)
            .map_err(db_err)?
            .map(|s| {
                OffsetDateTime::parse(&s, &Rfc3339)
                    .map_err(|e| StoreError::backend(format!("column {col} holds {s:?}, not RFC 3339: {e}")))
            })
            .transpose(),
        SqlBackend::Postgres | SqlBackend::MySql => row
            .try_get::<Option<OffsetDateTime>>("", col)
            .map(|t| t.map(|t| t.to_offset(UtcOffset::UTC)))
            .map_err(db_err),
    }
}

/// Reads a timestamp column written by [`ts`].
pub(crate) fn read_ts(row: &QueryResult, backend: SqlBackend, col: &str) -> Result<OffsetDateTime, StoreError> {
    read_opt_ts(row, backend, col)?.ok_or_else(|| StoreError::backend(format!("column {col} is NULL")))
}

/// Reads a text column.
pub(crate) fn read_str(row: &QueryResult, col: &str) -> Result<String, StoreError> {
    row.try_get::<String>("", col).map_err(db_err)
}

/// Reads an optional text column.
pub(crate) fn read_opt_str(row: &QueryResult, col: &str) -> Result<Option<String>, StoreError> {
    row.try_get::<Option<String>>("", col).map_err(db_err)
}

/// Reads a JSON column (NULL reads as JSON null).
pub(crate) fn read_json(row: &QueryResult, col: &str) -> Result<serde_json::Value, StoreError> {
    Ok(row.try_get::<Option<serde_json::Value>>("", col).map_err(db_err)?.unwrap_or(serde_json::Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json as j;
    use time::macros::datetime;

    #[test]
    fn nul_characters_are_replaced() {
        let v = j!({"a\0": ["x\0y", 1, null, {"k": "\0"}]});
        let Value::Json(Some(clean)) = json(&v) else { panic!() };
        assert_eq!(*clean, j!({"a\u{fffd}": ["x\u{fffd}y", 1, null, {"k": "\u{fffd}"}]}));
        assert_eq!(text(Some("a\0b")), Value::from(Some("a\u{fffd}b".to_owned())));
        assert_eq!(text(None), Value::String(None));
    }

    #[test]
    fn sqlite_timestamps_are_fixed_width_and_sort_as_time() {
        let texts: Vec<String> = [
            datetime!(2025-01-01 00:00:00 UTC),
            datetime!(2025-01-01 00:00:00.5 UTC),
            datetime!(2025-01-01 00:00:00.123_456_789 +02:00),
            datetime!(2025-01-01 00:00:01 UTC),
        ]
        .into_iter()
        .map(|t| match ts(SqlBackend::Sqlite, t) {
            Value::String(Some(s)) => s,
            other => panic!("{other:?}"),
        })
        .collect();
        assert_eq!(texts[0], "2025-01-01T00:00:00.000000Z");
        assert_eq!(texts[1], "2025-01-01T00:00:00.500000Z");
        assert_eq!(texts[2], "2024-12-31T22:00:00.123456Z");
        assert!(texts.iter().all(|t| t.len() == 27));
        assert!(texts[2] < texts[0] && texts[0] < texts[1] && texts[1] < texts[3]);
    }
}
