//! [`AuditSink`] and [`AuditQuery`] on the internal database's
//! `uap_audit_logs` table: writes, filtered reads, the compliance report's
//! aggregates (GROUP BY in SQL) and retention deletes in batches. Every
//! statement is scoped by organization and bounds only bound parameters.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::{ConnectionTrait, QueryResult, TransactionTrait};
use time::OffsetDateTime;
use uap_ports::{
    AuditEvent, AuditEventType, AuditFilter, AuditQuery, AuditSink, AuditSummary, EventTypeStats, ShadowCounts,
    StoreError,
};

use super::{Inner, db_err, json, on_duplicate_id_do_nothing, read_json, read_opt_str, read_str, read_ts, text, ts};
use crate::SqlBackend;
use crate::sql::Sql;

/// Rows per `INSERT` (11 parameters each keeps every engine's limit far away).
const ROWS_PER_STATEMENT: usize = 500;

/// Audit events in the internal database, scoped to one organization.
#[derive(Clone)]
pub struct SqlAuditSink {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SqlAuditSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlAuditSink")
            .field("backend", &self.inner.backend)
            .field("organization_id", &self.inner.organization_id)
            .finish()
    }
}

impl SqlAuditSink {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        Self { inner }
    }

    /// `SELECT <columns> FROM uap_audit_logs WHERE organization_id = ?`.
    fn select_events(&self) -> Sql {
        let mut sql = self.inner.sql();
        sql.push(&format!(
            "SELECT id, event_type, user_id, session_id, ip_address, user_agent, success, \
             error_message, metadata, {ts} FROM uap_audit_logs WHERE organization_id = ",
            ts = self.inner.timestamp_column()
        ))
        .bind(self.inner.org());
        sql
    }

    /// `AND timestamp BETWEEN start AND end` (both optional).
    fn push_period(&self, sql: &mut Sql, start: Option<OffsetDateTime>, end: Option<OffsetDateTime>) {
        let column = self.inner.timestamp_column();
        if let Some(start) = start {
            sql.push(&format!(" AND {column} >= ")).bind(ts(self.inner.backend, start));
        }
        if let Some(end) = end {
            sql.push(&format!(" AND {column} <= ")).bind(ts(self.inner.backend, end));
        }
    }

    async fn events(&self, sql: Sql) -> Result<Vec<AuditEvent>, StoreError> {
        let rows = self.inner.conn.query_all_raw(sql.build()).await.map_err(db_err)?;
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(event) = self.event(row)? {
                events.push(event);
            }
        }
        Ok(events)
    }

    /// The text of `metadata.<key>` (NULL when absent), per engine.
    fn metadata_text(&self, key: &'static str) -> String {
        match self.inner.backend {
            SqlBackend::Postgres => format!("(metadata ->> '{key}')"),
            SqlBackend::MySql => format!("JSON_UNQUOTE(JSON_EXTRACT(metadata, '$.{key}'))"),
            SqlBackend::Sqlite => format!("json_extract(metadata, '$.{key}')"),
        }
    }

    /// The JSON type of `metadata.<key>` as text (`true`, `false`, `null`,
    /// …), the same on every backend.
    fn metadata_json_type(&self, key: &'static str) -> String {
        match self.inner.backend {
            SqlBackend::Postgres => format!("(metadata -> '{key}')::text"),
            SqlBackend::MySql => format!("JSON_UNQUOTE(JSON_EXTRACT(metadata, '$.{key}'))"),
            SqlBackend::Sqlite => format!("json_type(metadata, '$.{key}')"),
        }
    }

    /// `SHADOW_LOGIN` agreement per `metadata.hash_format` in the period.
    async fn shadow_summary(
        &self,
        start: OffsetDateTime,
        end: OffsetDateTime,
    ) -> Result<Vec<(String, ShadowCounts)>, StoreError> {
        let format = self.metadata_text("hash_format");
        let host = self.metadata_json_type("host_decision");
        let agreed = self.metadata_json_type("agreed");
        let mut sql = self.inner.sql();
        sql.push(&format!(
            "SELECT {format} AS format, COUNT(*) AS n, \
             COUNT(CASE WHEN {host} IN ('true', 'false') THEN 1 END) AS with_host, \
             COUNT(CASE WHEN {agreed} = 'true' THEN 1 END) AS agreed, \
             COUNT(CASE WHEN {agreed} = 'false' THEN 1 END) AS disagreed \
             FROM uap_audit_logs WHERE organization_id = "
        ))
        .bind(self.inner.org())
        .push(" AND event_type = ")
        .bind(AuditEventType::ShadowLogin.as_str());
        self.push_period(&mut sql, Some(start), Some(end));
        sql.push(&format!(" GROUP BY {format} ORDER BY format"));
        let rows = self.inner.conn.query_all_raw(sql.build()).await.map_err(db_err)?;
        let mut by_format: BTreeMap<String, ShadowCounts> = BTreeMap::new();
        for row in &rows {
            let label = read_opt_str(row, "format")?.filter(|f| f != "null").unwrap_or_else(|| "none".to_owned());
            *by_format.entry(label).or_default() += ShadowCounts {
                total: count(row, "n")?,
                with_host_decision: count(row, "with_host")?,
                agreed: count(row, "agreed")?,
                disagreed: count(row, "disagreed")?,
            };
        }
        Ok(by_format.into_iter().collect())
    }

    /// `(label, count)` rows of a grouped query.
    async fn counts(&self, sql: Sql, label: &str) -> Result<Vec<(Option<String>, u64)>, StoreError> {
        let rows = self.inner.conn.query_all_raw(sql.build()).await.map_err(db_err)?;
        rows.iter().map(|row| Ok((read_opt_str(row, label)?, count(row, "n")?))).collect()
    }

    /// The `limit` most recent events of this organization, newest first.
    /// Rows whose event type this build does not know are skipped (logged).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] or [`StoreError::Backend`].
    pub async fn recent(&self, limit: u64) -> Result<Vec<AuditEvent>, StoreError> {
        let mut sql = self.select_events();
        sql.push(&format!(" ORDER BY {} DESC, id DESC LIMIT ", self.inner.timestamp_column())).bind(self::limit(limit));
        self.events(sql).await
    }

    /// The number of events of this organization per event type name.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] or [`StoreError::Backend`].
    pub async fn count_by_type(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        let mut sql = self.inner.sql();
        sql.push("SELECT event_type, COUNT(*) AS n FROM uap_audit_logs WHERE organization_id = ")
            .bind(self.inner.org())
            .push(" GROUP BY event_type");
        let rows = self.inner.conn.query_all_raw(sql.build()).await.map_err(db_err)?;
        let mut counts = BTreeMap::new();
        for row in &rows {
            let n = row.try_get::<i64>("", "n").map_err(db_err)?;
            counts.insert(read_str(row, "event_type")?, u64::try_from(n).unwrap_or_default());
        }
        Ok(counts)
    }

    fn event(&self, row: &QueryResult) -> Result<Option<AuditEvent>, StoreError> {
        let name = read_str(row, "event_type")?;
        let Some(event_type) = AuditEventType::parse(&name) else {
            tracing::warn!(event_type = %name, "audit row of an unknown event type skipped");
            return Ok(None);
        };
        Ok(Some(AuditEvent {
            id: read_str(row, "id")?,
            event_type,
            user_id: read_opt_str(row, "user_id")?,
            session_id: read_opt_str(row, "session_id")?,
            ip_address: read_opt_str(row, "ip_address")?,
            user_agent: read_opt_str(row, "user_agent")?,
            success: row.try_get::<bool>("", "success").map_err(db_err)?,
            error_message: read_opt_str(row, "error_message")?,
            metadata: read_json(row, "metadata")?,
            timestamp: read_ts(row, self.inner.backend, "timestamp")?,
        }))
    }
}

/// A `COUNT(*)` column.
fn count(row: &QueryResult, col: &str) -> Result<u64, StoreError> {
    Ok(u64::try_from(row.try_get::<i64>("", col).map_err(db_err)?).unwrap_or_default())
}

/// A bound `LIMIT`.
fn limit(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Deletes at most `batch` rows of `table` (this organization's) older than
/// `cutoff`, oldest first, by primary key; returns how many went. MySQL
/// takes `DELETE … ORDER BY … LIMIT`; PostgreSQL and SQLite delete the ids a
/// limited sub-select picked.
pub(crate) async fn delete_older(
    inner: &Inner,
    table: &'static str,
    cutoff: OffsetDateTime,
    batch: u64,
) -> Result<u64, StoreError> {
    let column = inner.timestamp_column();
    let mut sql = inner.sql();
    if inner.backend == SqlBackend::MySql {
        sql.push(&format!("DELETE FROM {table} WHERE organization_id = "))
            .bind(inner.org())
            .push(&format!(" AND {column} < "))
            .bind(ts(inner.backend, cutoff))
            .push(&format!(" ORDER BY {column}, id LIMIT "))
            .bind(limit(batch));
    } else {
        sql.push(&format!("DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE organization_id = "))
            .bind(inner.org())
            .push(&format!(" AND {column} < "))
            .bind(ts(inner.backend, cutoff))
            .push(&format!(" ORDER BY {column}, id LIMIT "))
            .bind(limit(batch))
            .push(")");
    }
    let result = inner.conn.execute_raw(sql.build()).await.map_err(db_err)?;
    Ok(result.rows_affected())
}

/// How many rows of `table` (this organization's) are older than `cutoff`.
pub(crate) async fn count_older(inner: &Inner, table: &'static str, cutoff: OffsetDateTime) -> Result<u64, StoreError> {
    let mut sql = inner.sql();
    sql.push(&format!("SELECT COUNT(*) AS n FROM {table} WHERE organization_id = "))
        .bind(inner.org())
        .push(&format!(" AND {} < ", inner.timestamp_column()))
        .bind(ts(inner.backend, cutoff));
    let row = inner.conn.query_one_raw(sql.build()).await.map_err(db_err)?;
    row.map_or(Ok(0), |row| count(&row, "n"))
}

/// How many skipped-upgrade reasons may be shown (`error_message` up to its
/// first `:`).
fn reason_label(error: Option<&str>) -> String {
    error.and_then(|e| e.split(':').next()).map_or_else(|| "unknown".to_owned(), |r| r.trim().to_owned())
}

#[async_trait]
impl AuditQuery for SqlAuditSink {
    async fn list(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError> {
        let mut sql = self.select_events();
        if let Some(user_id) = &filter.user_id {
            sql.push(" AND user_id = ").bind(user_id.as_str());
        }
        if let Some(event_type) = filter.event_type {
            sql.push(" AND event_type = ").bind(event_type.as_str());
        }
        self.push_period(&mut sql, filter.start, filter.end);
        sql.push(&format!(" ORDER BY {} DESC, id DESC LIMIT ", self.inner.timestamp_column()))
            .bind(limit(filter.limit));
        self.events(sql).await
    }

    async fn summary(&self, start: OffsetDateTime, end: OffsetDateTime) -> Result<AuditSummary, StoreError> {
        let period = |this: &Self, sql: &mut Sql| this.push_period(sql, Some(start), Some(end));

        let mut sql = self.inner.sql();
        sql.push(
            "SELECT event_type, COUNT(*) AS n, COUNT(CASE WHEN success THEN 1 END) AS ok \
             FROM uap_audit_logs WHERE organization_id = ",
        )
        .bind(self.inner.org());
        period(self, &mut sql);
        sql.push(" GROUP BY event_type ORDER BY event_type");
        let rows = self.inner.conn.query_all_raw(sql.build()).await.map_err(db_err)?;
        let statistics = rows
            .iter()
            .map(|row| {
                Ok(EventTypeStats {
                    event_type: read_str(row, "event_type")?,
                    total: count(row, "n")?,
                    successful: count(row, "ok")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;

        let mut sql = self.inner.sql();
        sql.push("SELECT ip_address, COUNT(*) AS n FROM uap_audit_logs WHERE organization_id = ")
            .bind(self.inner.org())
            .push(" AND event_type = ")
            .bind(AuditEventType::FailedLogin.as_str());
        period(self, &mut sql);
        sql.push(
            " GROUP BY ip_address ORDER BY n DESC, CASE WHEN ip_address IS NULL THEN 1 ELSE 0 END, ip_address LIMIT 10",
        );
        let top_failed_login_sources = self.counts(sql, "ip_address").await?;

        let weak = self.metadata_text("hash_upgrade_recommended");
        let mut sql = self.inner.sql();
        sql.push(&format!("SELECT {weak} AS family, COUNT(*) AS n FROM uap_audit_logs WHERE organization_id = "))
            .bind(self.inner.org())
            .push(" AND event_type = ")
            .bind(AuditEventType::Login.as_str())
            .push(" AND success = ")
            .bind(true);
        period(self, &mut sql);
        sql.push(&format!(" AND {weak} IS NOT NULL GROUP BY {weak} ORDER BY family"));
        let weak_hash_logins =
            self.counts(sql, "family").await?.into_iter().map(|(f, n)| (f.unwrap_or_default(), n)).collect();

        let reason = self.metadata_text("reason");
        let mut sql = self.inner.sql();
        sql.push("SELECT success, error_message, COUNT(*) AS n FROM uap_audit_logs WHERE organization_id = ")
            .bind(self.inner.org())
            .push(" AND event_type = ")
            .bind(AuditEventType::PasswordChange.as_str());
        period(self, &mut sql);
        sql.push(&format!(" AND {reason} = ")).bind("hash_upgrade").push(" GROUP BY success, error_message");
        let rows = self.inner.conn.query_all_raw(sql.build()).await.map_err(db_err)?;
        let mut hash_upgrades_done = 0;
        let mut skipped: BTreeMap<String, u64> = BTreeMap::new();
        for row in &rows {
            let n = count(row, "n")?;
            if row.try_get::<bool>("", "success").map_err(db_err)? {
                hash_upgrades_done += n;
            } else {
                *skipped.entry(reason_label(read_opt_str(row, "error_message")?.as_deref())).or_default() += n;
            }
        }

        let filter = AuditFilter {
            user_id: None,
            event_type: Some(AuditEventType::SuspiciousActivity),
            start: Some(start),
            end: Some(end),
            limit: 10,
        };
        let latest_suspicious = self.list(&filter).await?;
        let shadow_by_hash_format = self.shadow_summary(start, end).await?;
        Ok(AuditSummary {
            statistics,
            top_failed_login_sources,
            weak_hash_logins,
            hash_upgrades_done,
            hash_upgrades_skipped: skipped.into_iter().collect(),
            latest_suspicious,
            shadow_by_hash_format,
        })
    }

    async fn count_before(&self, cutoff: OffsetDateTime) -> Result<u64, StoreError> {
        count_older(&self.inner, "uap_audit_logs", cutoff).await
    }

    async fn delete_before(&self, cutoff: OffsetDateTime, batch: u64) -> Result<u64, StoreError> {
        delete_older(&self.inner, "uap_audit_logs", cutoff, batch).await
    }
}

#[async_trait]
impl AuditSink for SqlAuditSink {
    async fn write_batch(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let b = self.inner.backend;
        let txn = self.inner.conn.begin().await.map_err(db_err)?;
        for chunk in events.chunks(ROWS_PER_STATEMENT) {
            let mut sql = Sql::new(b);
            sql.push(&format!(
                "INSERT INTO uap_audit_logs (id, organization_id, event_type, user_id, \
                 session_id, ip_address, user_agent, success, error_message, metadata, {}) VALUES ",
                self.inner.timestamp_column()
            ));
            for (i, e) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.bind_tuple([
                    e.id.as_str().into(),
                    self.inner.org(),
                    e.event_type.as_str().into(),
                    e.user_id.clone().into(),
                    e.session_id.clone().into(),
                    text(e.ip_address.as_deref()),
                    text(e.user_agent.as_deref()),
                    e.success.into(),
                    text(e.error_message.as_deref()),
                    json(&e.metadata),
                    ts(b, e.timestamp),
                ]);
            }
            sql.push(on_duplicate_id_do_nothing(b));
            txn.execute_raw(sql.build()).await.map_err(db_err)?;
        }
        txn.commit().await.map_err(db_err)
    }
}
