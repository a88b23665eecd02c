//! [`RateLimitStore`] on the internal database's `uap_rate_limits` table: one
//! row per (identifier, identifier_type, organization_id), unique.
//!
//! Every attempt is one atomic step, on every engine and across processes:
//!
//! - PostgreSQL and SQLite: a single `INSERT … ON CONFLICT (identifier,
//!   identifier_type, organization_id) DO UPDATE SET … CASE … WHERE <not
//!   blocked> RETURNING attempt_count, blocked_until`. The conflicting row is
//!   locked (PostgreSQL) or the database is (SQLite) for the statement, and
//!   every `SET` expression sees the row as it was before. A returned row means
//!   the attempt was counted (a non-NULL `blocked_until` means this attempt set
//!   the block); no row means the key was blocked, and a follow-up read fetches
//!   the block's end.
//! - MySQL/MariaDB (whose `ON DUPLICATE KEY UPDATE` has no `WHERE` and evaluates
//!   its assignments in order): a transaction reads the row with `SELECT … FOR
//!   UPDATE`, decides in Rust and writes it back. A missing row is inserted
//!   outside the transaction (no gap lock is held across the insert, so two
//!   first attempts cannot deadlock); a duplicate-key error (another attempt
//!   inserted it first) or a deadlock rolls the round back and it runs again.
//!
//! A key value that the `identifier` column cannot hold faithfully — longer
//! than 255 bytes, holding a NUL (PostgreSQL text cannot), or ending in a space
//! (MySQL's PAD SPACE collations would compare it equal to the value without)
//! — is stored as the lowercase hex SHA-256 of its UTF-8 bytes instead.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::{ConnectionTrait, QueryResult, TransactionTrait};
use sha2::{Digest, Sha256};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uap_ports::{
    Admission, RateLimitCounter as Counter, RateLimitKey, RateLimitRule, RateLimitStore, Step, StoreError,
    saturating_add as plus,
};

use super::{Inner, RoundErr, db_err, in_rounds, opt_ts, read_opt_ts, read_ts, ts, utc_micros};
use crate::SqlBackend;
use crate::sql::Sql;

/// Bytes the `identifier` column holds.
const MAX_IDENTIFIER: usize = 255;
/// Bytes the `identifier_type` column holds.
const MAX_KIND: usize = 50;
/// Rounds of a PostgreSQL/SQLite step whose blocked key changed before the
/// block's end could be read.
const RETRIES: usize = 8;
/// Instants are clamped to what every engine stores (`uap_ports::LATEST` at the other end).
const EARLIEST: OffsetDateTime = datetime!(0001-01-01 00:00:00 UTC);

const INSERT: &str = "INSERT INTO uap_rate_limits (id, identifier, identifier_type, organization_id, \
                      attempt_count, window_start, blocked_until, created_at, updated_at) VALUES ";

/// Attempt counters in the internal database, scoped to one organization.
#[derive(Clone)]
pub struct SqlRateLimitStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SqlRateLimitStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlRateLimitStore")
            .field("backend", &self.inner.backend)
            .field("organization_id", &self.inner.organization_id)
            .finish()
    }
}

/// A key as stored.
struct Stored<'a> {
    identifier: Cow<'a, str>,
    kind: &'a str,
}

/// The `identifier` stored for `value` (see the module docs).
fn stored_identifier(value: &str) -> Cow<'_, str> {
    if value.len() <= MAX_IDENTIFIER && !value.contains('\0') && !value.ends_with(' ') {
        return Cow::Borrowed(value);
    }
    let digest = Sha256::digest(value.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest.iter() {
        // Writing to a String cannot fail.
        let _ = write!(hex, "{byte:02x}");
    }
    Cow::Owned(hex)
}

fn stored(key: &RateLimitKey) -> Result<Stored<'_>, StoreError> {
    let kind = key.kind.as_str();
    if kind.is_empty() || kind.len() > MAX_KIND || kind.contains('\0') || kind.ends_with(' ') {
        return Err(StoreError::Misconfigured(format!(
            "rate limit key kind {kind:?} must be 1 to {MAX_KIND} bytes, without NUL or trailing space"
        )));
    }
    Ok(Stored { identifier: stored_identifier(&key.value), kind })
}

fn minus(t: OffsetDateTime, d: Duration) -> OffsetDateTime {
    t.checked_sub(d).map_or(EARLIEST, |t| t.max(EARLIEST))
}

impl SqlRateLimitStore {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        Self { inner }
    }

    /// Appends ` WHERE identifier = ? AND identifier_type = ? AND organization_id = ?`.
    fn where_key(&self, sql: &mut Sql, key: &Stored<'_>) {
        sql.push(" WHERE identifier = ")
            .bind(key.identifier.as_ref())
            .push(" AND identifier_type = ")
            .bind(key.kind)
            .push(" AND organization_id = ")
            .bind(self.inner.org());
    }

    fn count(row: &QueryResult) -> Result<u32, StoreError> {
        let n = row.try_get::<i32>("", "attempt_count").map_err(db_err)?;
        Ok(u32::try_from(n).unwrap_or_default())
    }

    /// `SELECT attempt_count, window_start, blocked_until … WHERE <key>`.
    fn select(&self, key: &Stored<'_>) -> Sql {
        let mut sql = self.inner.sql();
        sql.push("SELECT attempt_count, window_start, blocked_until FROM uap_rate_limits");
        self.where_key(&mut sql, key);
        sql
    }

    fn counter(&self, row: &QueryResult) -> Result<Counter, StoreError> {
        let b = self.inner.backend;
        Ok(Counter {
            count: Self::count(row)?,
            window_start: read_ts(row, b, "window_start")?,
            blocked_until: read_opt_ts(row, b, "blocked_until")?,
        })
    }

    async fn read(&self, key: &Stored<'_>) -> Result<Option<Counter>, StoreError> {
        let row = self.inner.conn.query_one_raw(self.select(key).build()).await.map_err(db_err)?;
        row.map(|row| self.counter(&row)).transpose()
    }

    /// The `INSERT` of a new row in state `c` (MySQL/MariaDB; the start of the upsert elsewhere).
    fn insert(&self, key: &Stored<'_>, c: Counter, now: OffsetDateTime) -> Sql {
        let b = self.inner.backend;
        let mut sql = self.inner.sql();
        sql.push(INSERT).bind_tuple([
            uuid::Uuid::new_v4().to_string().into(),
            key.identifier.as_ref().into(),
            key.kind.into(),
            self.inner.org(),
            i64::from(c.count).into(),
            ts(b, c.window_start),
            opt_ts(b, c.blocked_until),
            ts(b, now),
            ts(b, now),
        ]);
        sql
    }

    /// The `UPDATE` of an existing row to state `c` (MySQL/MariaDB).
    fn update(&self, key: &Stored<'_>, c: Counter, now: OffsetDateTime) -> Sql {
        let b = self.inner.backend;
        let mut sql = self.inner.sql();
        sql.push("UPDATE uap_rate_limits SET attempt_count = ")
            .bind(i64::from(c.count))
            .push(", window_start = ")
            .bind(ts(b, c.window_start))
            .push(", blocked_until = ")
            .bind(opt_ts(b, c.blocked_until))
            .push(", updated_at = ")
            .bind(ts(b, now));
        self.where_key(&mut sql, key);
        sql
    }

    /// The single-statement step of PostgreSQL and SQLite (module docs).
    fn upsert(&self, key: &Stored<'_>, rule: RateLimitRule, now: OffsetDateTime) -> Sql {
        let b = self.inner.backend;
        let max = rule.attempts_allowed();
        let blocked_at = plus(now, rule.block);
        let first = Counter { count: 1, window_start: now, blocked_until: (max < 1).then_some(blocked_at) };
        let until = ts(b, blocked_at);
        let cutoff = ts(b, minus(now, rule.window));
        let mut sql = self.insert(key, first, now);
        sql.push(
            " ON CONFLICT (identifier, identifier_type, organization_id) DO UPDATE SET attempt_count = CASE WHEN \
             uap_rate_limits.blocked_until IS NOT NULL OR uap_rate_limits.window_start <= ",
        )
        .bind(cutoff.clone())
        .push(
            " THEN 1 ELSE uap_rate_limits.attempt_count + 1 END, window_start = CASE WHEN \
             uap_rate_limits.blocked_until IS NOT NULL OR uap_rate_limits.window_start <= ",
        )
        .bind(cutoff.clone())
        .push(
            " THEN excluded.window_start ELSE uap_rate_limits.window_start END, blocked_until = CASE WHEN \
             uap_rate_limits.blocked_until IS NOT NULL OR uap_rate_limits.window_start <= ",
        )
        .bind(cutoff)
        .push(" THEN excluded.blocked_until WHEN uap_rate_limits.attempt_count + 1 > ")
        .bind(i64::from(max))
        .push(" THEN ")
        .bind(until)
        .push(
            " ELSE NULL END, updated_at = excluded.updated_at WHERE uap_rate_limits.blocked_until IS NULL OR \
             uap_rate_limits.blocked_until <= ",
        )
        .bind(ts(b, now))
        .push(" RETURNING attempt_count, blocked_until");
        sql
    }

    async fn attempt_upsert(
        &self,
        key: &Stored<'_>,
        rule: RateLimitRule,
        now: OffsetDateTime,
    ) -> Result<Admission, StoreError> {
        for _ in 0..RETRIES {
            let row = self.inner.conn.query_one_raw(self.upsert(key, rule, now).build()).await.map_err(db_err)?;
            if let Some(row) = row {
                return Ok(match read_opt_ts(&row, self.inner.backend, "blocked_until")? {
                    Some(until) => Admission::Blocked { until, newly_blocked: true },
                    None => Admission::Allowed { attempt: Self::count(&row)? },
                });
            }
            // Not counted: the key was blocked. A reset or a later attempt may
            // have changed it since; then count again.
            if let Some(Counter { blocked_until: Some(until), .. }) = self.read(key).await?
                && until > now
            {
                return Ok(Admission::Blocked { until, newly_blocked: false });
            }
        }
        Err(StoreError::backend("rate limit counter kept changing under a blocked attempt"))
    }

    /// One round of the MySQL/MariaDB step (module docs); [`in_rounds`] runs
    /// it again when it lost a race.
    async fn attempt_locked(
        &self,
        key: &Stored<'_>,
        rule: RateLimitRule,
        now: OffsetDateTime,
    ) -> Result<Admission, RoundErr> {
        let txn = self.inner.conn.begin().await?;
        let mut select = self.select(key);
        select.push(" FOR UPDATE");
        let current = match txn.query_one_raw(select.build()).await? {
            Some(row) => Some(self.counter(&row)?),
            None => None,
        };
        let Some(current) = current else {
            // Insert outside the transaction: no gap lock is held across it.
            txn.commit().await?;
            return match rule.step(None, now) {
                Step::Counted(fresh, admission) => {
                    self.inner.conn.execute_raw(self.insert(key, fresh, now).build()).await?;
                    Ok(admission)
                }
                Step::Blocked(until) => Ok(Admission::Blocked { until, newly_blocked: false }),
            };
        };
        let admission = match rule.step(Some(current), now) {
            Step::Blocked(until) => Admission::Blocked { until, newly_blocked: false },
            Step::Counted(next, admission) => {
                txn.execute_raw(self.update(key, next, now).build()).await?;
                admission
            }
        };
        txn.commit().await?;
        Ok(admission)
    }
}

#[async_trait]
impl RateLimitStore for SqlRateLimitStore {
    async fn attempt(
        &self,
        key: &RateLimitKey,
        rule: RateLimitRule,
        now: OffsetDateTime,
    ) -> Result<Admission, StoreError> {
        let key = stored(key)?;
        let now = utc_micros(now);
        match self.inner.backend {
            SqlBackend::Postgres | SqlBackend::Sqlite => self.attempt_upsert(&key, rule, now).await,
            SqlBackend::MySql => in_rounds("rate limit attempt", || self.attempt_locked(&key, rule, now)).await,
        }
    }

    async fn blocked_until(
        &self,
        key: &RateLimitKey,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        let now = utc_micros(now);
        let current = self.read(&stored(key)?).await?;
        Ok(current.and_then(|c| c.blocked_at(now)))
    }

    async fn attempts(&self, key: &RateLimitKey, rule: RateLimitRule, now: OffsetDateTime) -> Result<u32, StoreError> {
        let now = utc_micros(now);
        Ok(rule.attempts_in_window(self.read(&stored(key)?).await?, now))
    }

    async fn reset(&self, key: &RateLimitKey) -> Result<(), StoreError> {
        let key = stored(key)?;
        let mut sql = self.inner.sql();
        sql.push("DELETE FROM uap_rate_limits");
        self.where_key(&mut sql, &key);
        self.inner.conn.execute_raw(sql.build()).await.map(|_| ()).map_err(db_err)
    }
}

#[cfg(test)]
mod tests {
    use uap_ports::LATEST;

    use super::*;

    #[test]
    fn identifiers_the_column_cannot_hold_are_hashed() {
        assert_eq!(stored_identifier("10.0.0.1"), "10.0.0.1");
        let exact = "a".repeat(255);
        assert_eq!(stored_identifier(&exact), exact.as_str());
        let long = "a".repeat(256);
        let hashed = stored_identifier(&long);
        assert_eq!(hashed.len(), 64);
        assert!(hashed.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(stored_identifier(&"a".repeat(257)), hashed);
        assert_eq!(stored_identifier("").len(), 0);
        assert_eq!(stored_identifier("abc "), "5488613c42b0d34d60f7aa9e94be317a3ee102a2bbd91ccc73cc79fbc2269955");
        assert_eq!(stored_identifier("a\0"), "ffe9aaeaa2a2d5048174df0b80599ef0197ec024c4b051bc9860cff58ef7f9f3");
        assert_eq!(
            stored_identifier(&"é".repeat(128)),
            stored_identifier(&"é".repeat(128)),
            "256 bytes in 128 characters is hashed, deterministically"
        );
        assert_eq!(stored_identifier(&"é".repeat(128)).len(), 64);
    }

    #[test]
    fn kinds_must_fit() {
        let key = |kind: &str| RateLimitKey { kind: kind.to_owned(), value: "v".to_owned() };
        assert!(stored(&key("ip_identifier")).is_ok());
        for bad in ["", "x ", "a\0", &"k".repeat(51)] {
            assert!(matches!(stored(&key(bad)), Err(StoreError::Misconfigured(_))), "{bad:?}");
        }
    }

    #[test]
    fn extreme_durations_are_clamped() {
        let now = datetime!(2025-01-01 00:00:00 UTC);
        assert_eq!(plus(now, Duration::MAX), LATEST);
        assert_eq!(minus(now, Duration::MAX), EARLIEST);
        let rule = RateLimitRule { max_attempts: u32::MAX, window: Duration::MAX, block: Duration::MAX };
        assert!(matches!(rule.step(None, now), Step::Counted(_, Admission::Allowed { attempt: 1 })));
    }
}
