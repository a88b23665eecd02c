//! Retention (`audit_retention_days`): deletes `uap_audit_logs` and
//! `uap_middleware_logs` rows older than the cutoff, in batches by primary
//! key so locks stay short. `uap audit cleanup` runs it once with a progress
//! bar; the server runs it once a day, the first time a while after start-up.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use time::{Duration, OffsetDateTime};
use uap_adapters_sql::InternalDb;
use uap_ports::{AuditQuery, Clock, StoreError};

/// Rows per `DELETE`.
pub const BATCH: u64 = 5_000;
/// How long after start-up the server first cleans up.
const FIRST_RUN_AFTER: StdDuration = StdDuration::from_secs(600);
/// How often the server cleans up.
const EVERY: StdDuration = StdDuration::from_secs(86_400);

/// What a cleanup deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deleted {
    pub audit_logs: u64,
    pub middleware_logs: u64,
}

/// The table a progress report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    AuditLogs,
    MiddlewareLogs,
}

/// The oldest instant kept: `now` − `days`.
#[must_use]
pub fn cutoff(now: OffsetDateTime, days: u32) -> OffsetDateTime {
    now - Duration::days(i64::from(days))
}

/// Deletes rows older than `cutoff` in batches of `batch`, calling
/// `progress(table, deleted_so_far)` after each batch.
///
/// # Errors
/// The first store failure (rows deleted before it stay deleted).
pub async fn cleanup(
    db: &InternalDb,
    cutoff: OffsetDateTime,
    batch: u64,
    mut progress: impl FnMut(Table, u64),
) -> Result<Deleted, StoreError> {
    let audit = db.audit_sink();
    let runs = db.middleware_log_sink();
    let mut deleted = Deleted::default();
    loop {
        let n = audit.delete_before(cutoff, batch).await?;
        if n == 0 {
            break;
        }
        deleted.audit_logs += n;
        progress(Table::AuditLogs, deleted.audit_logs);
    }
    loop {
        let n = runs.delete_before(cutoff, batch).await?;
        if n == 0 {
            break;
        }
        deleted.middleware_logs += n;
        progress(Table::MiddlewareLogs, deleted.middleware_logs);
    }
    Ok(deleted)
}

/// The server's daily cleanup (spawned by `Application::build`).
pub async fn daily(db: Arc<InternalDb>, days: u32, clock: Arc<dyn Clock>) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + FIRST_RUN_AFTER, EVERY);
    loop {
        tick.tick().await;
        match cleanup(&db, cutoff(clock.now(), days), BATCH, |_, _| {}).await {
            Ok(deleted) => tracing::info!(
                audit_logs = deleted.audit_logs,
                middleware_logs = deleted.middleware_logs,
                retention_days = days,
                "audit retention cleanup done"
            ),
            Err(err) => tracing::warn!(error = %err, "audit retention cleanup failed; retrying tomorrow"),
        }
    }
}
