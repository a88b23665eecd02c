//! [`SessionStore`] on the internal database's `uap_sessions` table.

use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::{ConnectionTrait, QueryResult, TransactionTrait};
use time::OffsetDateTime;
use uap_ports::{RotateOutcome, SessionRecord, SessionState, SessionStore, StoreError};

use super::{Inner, db_err, json, opt_ts, read_json, read_opt_str, read_opt_ts, read_str, read_ts, text, ts};
use crate::sql::Sql;

/// The columns read back into a [`SessionRecord`].
const COLUMNS: &str = "session_id, user_id, device_id, created_at, expires_at, last_activity, \
                       ip_address, user_agent, user_data, family_id, refresh_expires_at, state, \
                       successor_id, rotated_at, auth_time, credential_fingerprint";

const INSERT: &str = "INSERT INTO uap_sessions (session_id, user_id, device_id, organization_id, \
                      created_at, expires_at, last_activity, ip_address, user_agent, user_data, \
                      family_id, refresh_expires_at, state, successor_id, rotated_at, \
                      retain_until, auth_time, credential_fingerprint) VALUES ";

/// Session records in the internal database, scoped to one organization.
#[derive(Clone)]
pub struct SqlSessionStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SqlSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlSessionStore")
            .field("backend", &self.inner.backend)
            .field("organization_id", &self.inner.organization_id)
            .finish()
    }
}

impl SqlSessionStore {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        Self { inner }
    }

    /// `INSERT` of one record.
    fn insert(&self, record: &SessionRecord) -> Sql {
        let b = self.inner.backend;
        let (state, successor, rotated_at) = match &record.state {
            SessionState::Active => ("active", None, None),
            SessionState::Rotated { successor_id, at } => ("rotated", Some(successor_id.clone()), Some(*at)),
        };
        let mut sql = self.inner.sql();
        sql.push(INSERT).bind_tuple([
            record.session_id.as_str().into(),
            record.user_id.as_str().into(),
            text(record.device_id.as_deref()),
            self.inner.org(),
            ts(b, record.created_at),
            ts(b, record.expires_at),
            ts(b, record.last_activity),
            text(record.ip_address.as_deref()),
            text(record.user_agent.as_deref()),
            json(&record.user_data),
            record.family_id.as_str().into(),
            opt_ts(b, record.refresh_expires_at),
            state.into(),
            successor.into(),
            opt_ts(b, rotated_at),
            ts(b, record.retain_until()),
            ts(b, record.auth_time),
            text(record.credential_fingerprint.as_deref()),
        ]);
        sql
    }

    /// `SELECT <COLUMNS> FROM uap_sessions WHERE <column> = ? AND organization_id = ?`
    fn select_where(&self, column: &str, value: &str) -> Sql {
        let mut sql = self.inner.sql();
        sql.push("SELECT ")
            .push(COLUMNS)
            .push(" FROM uap_sessions WHERE ")
            .push(column)
            .push(" = ")
            .bind(value)
            .push(" AND organization_id = ")
            .bind(self.inner.org());
        sql
    }

    fn record(&self, row: &QueryResult) -> Result<SessionRecord, StoreError> {
        let b = self.inner.backend;
        let state = match read_str(row, "state")?.as_str() {
            "active" => SessionState::Active,
            "rotated" => SessionState::Rotated {
                successor_id: read_opt_str(row, "successor_id")?.unwrap_or_default(),
                at: read_ts(row, b, "rotated_at")?,
            },
            other => {
                return Err(StoreError::backend(format!("unknown session state {other:?}")));
            }
        };
        let created_at = read_ts(row, b, "created_at")?;
        Ok(SessionRecord {
            session_id: read_str(row, "session_id")?,
            user_id: read_str(row, "user_id")?,
            device_id: read_opt_str(row, "device_id")?,
            created_at,
            expires_at: read_ts(row, b, "expires_at")?,
            last_activity: read_ts(row, b, "last_activity")?,
            ip_address: read_opt_str(row, "ip_address")?,
            user_agent: read_opt_str(row, "user_agent")?,
            user_data: Arc::new(read_json(row, "user_data")?),
            family_id: read_str(row, "family_id")?,
            refresh_expires_at: read_opt_ts(row, b, "refresh_expires_at")?,
            state,
            // Rows written before the column existed: the record's own creation.
            auth_time: read_opt_ts(row, b, "auth_time")?.unwrap_or(created_at),
            credential_fingerprint: read_opt_str(row, "credential_fingerprint")?,
        })
    }

    async fn execute(&self, sql: Sql) -> Result<u64, StoreError> {
        self.inner.conn.execute_raw(sql.build()).await.map(|r| r.rows_affected()).map_err(db_err)
    }

    /// Runs a `DELETE … WHERE …` twice: first for the active records (the
    /// sessions that end, counted), then for the rest (spent, rotated records).
    /// A rotation between the two cannot resurrect anything: it only acts on
    /// active records, which are gone by then.
    async fn delete_counting_active(&self, delete: Sql) -> Result<u64, StoreError> {
        let mut active = delete.clone();
        active.push(" AND state = ").bind("active");
        let ended = self.execute(active).await?;
        self.execute(delete).await?;
        Ok(ended)
    }
}

#[async_trait]
impl SessionStore for SqlSessionStore {
    async fn create(&self, record: &SessionRecord) -> Result<(), StoreError> {
        self.execute(self.insert(record)).await.map(|_| ())
    }

    async fn get(&self, session_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let sql = self.select_where("session_id", session_id);
        let row = self.inner.conn.query_one_raw(sql.build()).await.map_err(db_err)?;
        row.map(|r| self.record(&r)).transpose()
    }

    async fn touch(&self, session_id: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        let mut sql = self.inner.sql();
        sql.push("UPDATE uap_sessions SET last_activity = ")
            .bind(ts(self.inner.backend, at))
            .push(" WHERE session_id = ")
            .bind(session_id)
            .push(" AND organization_id = ")
            .bind(self.inner.org());
        self.execute(sql).await.map(|_| ())
    }

    async fn delete(&self, session_id: &str) -> Result<bool, StoreError> {
        let mut sql = self.inner.sql();
        sql.push("DELETE FROM uap_sessions WHERE session_id = ")
            .bind(session_id)
            .push(" AND organization_id = ")
            .bind(self.inner.org());
        Ok(self.execute(sql).await? > 0)
    }

    async fn delete_user_sessions(&self, user_id: &str, keep: Option<&str>) -> Result<u64, StoreError> {
        let mut sql = self.inner.sql();
        sql.push("DELETE FROM uap_sessions WHERE user_id = ")
            .bind(user_id)
            .push(" AND organization_id = ")
            .bind(self.inner.org());
        if let Some(keep) = keep {
            sql.push(" AND session_id <> ").bind(keep);
        }
        self.delete_counting_active(sql).await
    }

    async fn delete_family(&self, family_id: &str) -> Result<u64, StoreError> {
        let mut sql = self.inner.sql();
        sql.push("DELETE FROM uap_sessions WHERE family_id = ")
            .bind(family_id)
            .push(" AND organization_id = ")
            .bind(self.inner.org());
        self.delete_counting_active(sql).await
    }

    async fn list_user_sessions(&self, user_id: &str) -> Result<Vec<SessionRecord>, StoreError> {
        let mut sql = self.select_where("user_id", user_id);
        sql.push(" ORDER BY created_at, session_id");
        let rows = self.inner.conn.query_all_raw(sql.build()).await.map_err(db_err)?;
        rows.iter().map(|r| self.record(r)).collect()
    }

    async fn rotate(
        &self,
        old_id: &str,
        successor: &SessionRecord,
        at: OffsetDateTime,
    ) -> Result<RotateOutcome, StoreError> {
        let txn = self.inner.conn.begin().await.map_err(db_err)?;
        let mut mark = self.inner.sql();
        mark.push("UPDATE uap_sessions SET state = 'rotated', successor_id = ")
            .bind(successor.session_id.as_str())
            .push(", rotated_at = ")
            .bind(ts(self.inner.backend, at))
            .push(" WHERE session_id = ")
            .bind(old_id)
            .push(" AND organization_id = ")
            .bind(self.inner.org())
            .push(" AND state = 'active'");
        let marked = txn.execute_raw(mark.build()).await.map_err(db_err)?;
        if marked.rows_affected() == 1 {
            txn.execute_raw(self.insert(successor).build()).await.map_err(db_err)?;
            txn.commit().await.map_err(db_err)?;
            return Ok(RotateOutcome::Rotated);
        }
        let row = txn.query_one_raw(self.select_where("session_id", old_id).build()).await.map_err(db_err)?;
        txn.commit().await.map_err(db_err)?;
        match row.map(|r| self.record(&r)).transpose()? {
            None => Ok(RotateOutcome::NotFound),
            Some(SessionRecord { state: SessionState::Rotated { successor_id, at }, .. }) => {
                Ok(RotateOutcome::AlreadyRotated { successor_id, at })
            }
            Some(_) => Err(StoreError::backend("session stayed active through a conditional rotation")),
        }
    }

    async fn extend(
        &self,
        session_id: &str,
        expected_expires_at: OffsetDateTime,
        expires_at: OffsetDateTime,
        user_data: &Arc<serde_json::Value>,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let b = self.inner.backend;
        let mut sql = self.inner.sql();
        sql.push("UPDATE uap_sessions SET expires_at = ")
            .bind(ts(b, expires_at))
            .push(", user_data = ")
            .bind(json(user_data))
            .push(", last_activity = ")
            .bind(ts(b, at))
            .push(", retain_until = CASE WHEN refresh_expires_at IS NOT NULL AND refresh_expires_at > ")
            .bind(ts(b, expires_at))
            .push(" THEN refresh_expires_at ELSE ")
            .bind(ts(b, expires_at))
            .push(" END WHERE session_id = ")
            .bind(session_id)
            .push(" AND organization_id = ")
            .bind(self.inner.org())
            .push(" AND state = 'active' AND expires_at = ")
            .bind(ts(b, expected_expires_at));
        Ok(self.execute(sql).await? == 1)
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let mut sql = self.inner.sql();
        sql.push("DELETE FROM uap_sessions WHERE organization_id = ")
            .bind(self.inner.org())
            .push(" AND retain_until < ")
            .bind(ts(self.inner.backend, now));
        self.execute(sql).await
    }

    /// One `COUNT(*)` over `idx_uap_sessions_expires_at`.
    async fn count_active(&self, now: OffsetDateTime) -> Result<Option<u64>, StoreError> {
        let mut sql = self.inner.sql();
        sql.push("SELECT COUNT(*) AS n FROM uap_sessions WHERE expires_at > ")
            .bind(ts(self.inner.backend, now))
            .push(" AND organization_id = ")
            .bind(self.inner.org())
            .push(" AND state = ")
            .bind("active");
        let row = self.inner.conn.query_one_raw(sql.build()).await.map_err(db_err)?;
        let n = row.map(|r| r.try_get::<i64>("", "n")).transpose().map_err(db_err)?.unwrap_or_default();
        Ok(Some(u64::try_from(n).unwrap_or_default()))
    }

    async fn health(&self) -> Result<(), StoreError> {
        super::health(&self.inner).await
    }
}
