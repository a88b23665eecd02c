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
const DAILY: StdDuration = StdDuration::from_secs(86_400);

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

/// How many rows a cleanup at `cutoff` would delete.
///
/// # Errors
/// What the store reports.
pub async fn pending(db: &InternalDb, cutoff: OffsetDateTime) -> Result<Deleted, StoreError> {
    Ok(Deleted {
        audit_logs: db.audit_sink().count_before(cutoff).await?,
        middleware_logs: db.middleware_log_sink().count_before(cutoff).await?,
    })
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
    every(db, days, clock, FIRST_RUN_AFTER, DAILY).await;
}

/// Cleans up `first` from now, then every `period`.
async fn every(db: Arc<InternalDb>, days: u32, clock: Arc<dyn Clock>, first: StdDuration, period: StdDuration) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + first, period);
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

#[cfg(test)]
mod tests {
    use serde_json::json;
    use uap_adapters_sql::testing::TestDb;
    use uap_ports::{AuditEvent, AuditEventType, AuditFilter, AuditQuery, AuditSink, SystemClock};

    use super::*;

    fn event(n: u32, at: OffsetDateTime) -> AuditEvent {
        AuditEvent {
            id: format!("00000000-0000-4000-8000-{n:012}"),
            event_type: AuditEventType::Login,
            user_id: None,
            session_id: None,
            ip_address: None,
            user_agent: None,
            success: true,
            error_message: None,
            metadata: json!({}),
            timestamp: at,
        }
    }

    /// The server's loop runs the cleanup on its schedule: rows past
    /// retention go, newer ones stay.
    #[tokio::test]
    async fn the_loop_deletes_rows_past_retention() {
        let db = TestDb::sqlite();
        let internal = Arc::new(InternalDb::connect(&db.url, "UAP").await.unwrap());
        internal.migrate().await.unwrap();
        let now = SystemClock.now();
        let sink = internal.audit_sink();
        sink.write_batch(&[event(1, now - Duration::days(40)), event(2, now - Duration::days(20))]).await.unwrap();
        assert_eq!(pending(&internal, cutoff(now, 30)).await.unwrap().audit_logs, 1);
        let task = tokio::spawn(every(
            Arc::clone(&internal),
            30,
            Arc::new(SystemClock),
            StdDuration::from_millis(10),
            StdDuration::from_secs(3600),
        ));
        let all = AuditFilter { user_id: None, event_type: None, start: None, end: None, limit: 10 };
        let deadline = std::time::Instant::now() + StdDuration::from_secs(10);
        while sink.list(&all).await.unwrap().len() != 1 {
            assert!(std::time::Instant::now() < deadline, "the loop never cleaned up");
            tokio::time::sleep(StdDuration::from_millis(10)).await;
        }
        task.abort();
        assert_eq!(sink.list(&all).await.unwrap()[0].id, event(2, now).id);
        db.cleanup().await;
    }
}
