//! [`AuditSink`] on the internal database's `uap_audit_logs` table, and the
//! reads the admin API and the tests need.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::{ConnectionTrait, QueryResult, TransactionTrait};
use uap_ports::{AuditEvent, AuditEventType, AuditSink, StoreError};

use super::{Inner, db_err, json, read_json, read_opt_str, read_str, read_ts, text, ts};
use crate::sql::Sql;

/// Rows per `INSERT` (11 parameters each keeps every engine's limit far away).
const ROWS_PER_STATEMENT: usize = 500;

const ALL_TYPES: [AuditEventType; 11] = [
    AuditEventType::Login,
    AuditEventType::FailedLogin,
    AuditEventType::Logout,
    AuditEventType::SessionExpired,
    AuditEventType::PasswordChange,
    AuditEventType::SuspiciousActivity,
    AuditEventType::TokenRefresh,
    AuditEventType::AccountLocked,
    AuditEventType::ConfigurationChange,
    AuditEventType::MfaEnrolled,
    AuditEventType::MfaDisabled,
];

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

    /// The `limit` most recent events of this organization, newest first.
    /// Rows whose event type this build does not know are skipped (logged).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] or [`StoreError::Backend`].
    pub async fn recent(&self, limit: u64) -> Result<Vec<AuditEvent>, StoreError> {
        let mut sql = self.inner.sql();
        sql.push(&format!(
            "SELECT id, event_type, user_id, session_id, ip_address, user_agent, success, \
             error_message, metadata, {ts} FROM uap_audit_logs WHERE organization_id = ",
            ts = self.inner.timestamp_column()
        ))
        .bind(self.inner.org())
        .push(&format!(" ORDER BY {} DESC, id DESC LIMIT ", self.inner.timestamp_column()))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX));
        let rows = self.inner.conn.query_all_raw(sql.build()).await.map_err(db_err)?;
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(event) = self.event(row)? {
                events.push(event);
            }
        }
        Ok(events)
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
        let Some(event_type) = ALL_TYPES.into_iter().find(|t| t.as_str() == name) else {
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
            txn.execute_raw(sql.build()).await.map_err(db_err)?;
        }
        txn.commit().await.map_err(db_err)
    }
}
