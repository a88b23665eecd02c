//! [`MiddlewareLogSink`] on the internal database's `uap_middleware_logs`
//! table, and the read the tests (and an admin view) need. The run's phase goes
//! to the `phase` column (added by the second migration), so `input_data` is
//! stored exactly as given.

use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::{ConnectionTrait, QueryResult, TransactionTrait, Value};
use uap_ports::{MiddlewareLogSink, MiddlewareRun, StoreError};

use super::{Inner, db_err, json, on_duplicate_id_do_nothing, read_json, read_opt_str, read_str, read_ts, text, ts};
use crate::sql::Sql;

/// Rows per `INSERT` (12 parameters each keeps every engine's limit far away).
const ROWS_PER_STATEMENT: usize = 500;

/// The phases a run can have (`MiddlewareRun::phase`).
const PHASES: [&str; 4] = ["pre_authenticate", "before_verify", "post_authenticate", "on_failure"];

/// Middleware runs in the internal database, scoped to one organization.
#[derive(Clone)]
pub struct SqlMiddlewareLogSink {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SqlMiddlewareLogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlMiddlewareLogSink")
            .field("backend", &self.inner.backend)
            .field("organization_id", &self.inner.organization_id)
            .finish()
    }
}

/// A `u32` for an `INTEGER` column (clamped at `i32::MAX`).
fn int(n: u32) -> Value {
    Value::from(i32::try_from(n).unwrap_or(i32::MAX))
}

impl SqlMiddlewareLogSink {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        Self { inner }
    }

    /// The `limit` most recent runs of this organization, newest first (ties
    /// by id, descending). Rows of a phase this build does not know are
    /// skipped (logged).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] or [`StoreError::Backend`].
    pub async fn recent(&self, limit: u64) -> Result<Vec<MiddlewareRun>, StoreError> {
        let mut sql = self.inner.sql();
        sql.push(&format!(
            "SELECT id, session_id, middleware_name, execution_order, phase, execution_time_ms, success, \
             error_message, input_data, output_data, {ts} FROM uap_middleware_logs WHERE organization_id = ",
            ts = self.inner.timestamp_column()
        ))
        .bind(self.inner.org())
        .push(&format!(" ORDER BY {} DESC, id DESC LIMIT ", self.inner.timestamp_column()))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX));
        let rows = self.inner.conn.query_all_raw(sql.build()).await.map_err(db_err)?;
        let mut runs = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(run) = self.run(row)? {
                runs.push(run);
            }
        }
        Ok(runs)
    }

    /// How many runs are older than `cutoff`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] or [`StoreError::Backend`].
    pub async fn count_before(&self, cutoff: time::OffsetDateTime) -> Result<u64, StoreError> {
        super::audit::count_older(&self.inner, "uap_middleware_logs", cutoff).await
    }

    /// Deletes at most `batch` runs older than `cutoff` (oldest first) and
    /// returns how many went; call again until it returns 0.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] or [`StoreError::Backend`].
    pub async fn delete_before(&self, cutoff: time::OffsetDateTime, batch: u64) -> Result<u64, StoreError> {
        super::audit::delete_older(&self.inner, "uap_middleware_logs", cutoff, batch).await
    }

    fn run(&self, row: &QueryResult) -> Result<Option<MiddlewareRun>, StoreError> {
        let stored = read_opt_str(row, "phase")?;
        let Some(phase) = PHASES.into_iter().find(|p| stored.as_deref() == Some(*p)) else {
            tracing::warn!(phase = ?stored, "middleware log row of an unknown phase skipped");
            return Ok(None);
        };
        let unsigned = |col: &str| -> Result<u32, StoreError> {
            let n = row.try_get::<Option<i32>>("", col).map_err(db_err)?;
            Ok(n.and_then(|n| u32::try_from(n).ok()).unwrap_or_default())
        };
        Ok(Some(MiddlewareRun {
            id: read_str(row, "id")?,
            session_id: read_opt_str(row, "session_id")?,
            middleware_name: read_str(row, "middleware_name")?,
            execution_order: unsigned("execution_order")?,
            phase,
            execution_time_ms: unsigned("execution_time_ms")?,
            success: row.try_get::<bool>("", "success").map_err(db_err)?,
            error_message: read_opt_str(row, "error_message")?,
            input_data: read_json(row, "input_data")?,
            output_data: read_json(row, "output_data")?,
            timestamp: read_ts(row, self.inner.backend, "timestamp")?,
        }))
    }
}

#[async_trait]
impl MiddlewareLogSink for SqlMiddlewareLogSink {
    /// Writes the batch in one transaction: all runs or none.
    async fn write_runs(&self, runs: &[MiddlewareRun]) -> Result<(), StoreError> {
        if runs.is_empty() {
            return Ok(());
        }
        let b = self.inner.backend;
        let txn = self.inner.conn.begin().await.map_err(db_err)?;
        for chunk in runs.chunks(ROWS_PER_STATEMENT) {
            let mut sql = Sql::new(b);
            sql.push(&format!(
                "INSERT INTO uap_middleware_logs (id, session_id, organization_id, middleware_name, \
                 execution_order, phase, execution_time_ms, success, error_message, input_data, output_data, \
                 {}) VALUES ",
                self.inner.timestamp_column()
            ));
            for (i, run) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.bind_tuple([
                    run.id.as_str().into(),
                    run.session_id.clone().into(),
                    self.inner.org(),
                    text(Some(&run.middleware_name)),
                    int(run.execution_order),
                    run.phase.into(),
                    int(run.execution_time_ms),
                    run.success.into(),
                    text(run.error_message.as_deref()),
                    json(&run.input_data),
                    json(&run.output_data),
                    ts(b, run.timestamp),
                ]);
            }
            // A retried batch (its commit reached the database, the answer
            // did not) writes nothing twice instead of failing forever.
            sql.push(on_duplicate_id_do_nothing(b));
            txn.execute_raw(sql.build()).await.map_err(db_err)?;
        }
        txn.commit().await.map_err(db_err)
    }
}
