//! The SQL middleware log sink: the shared contract, organization scoping, and
//! idempotent batches.

use async_trait::async_trait;
use serde_json::json;
use time::macros::datetime;
use uap_adapters_sql::SqlMiddlewareLogSink;
use uap_adapters_sql::testing::TestDb;
use uap_ports::contract::middleware_log::{self, MiddlewareReadBack};
use uap_ports::{Clock, MiddlewareLogSink, MiddlewareRun, StoreError, SystemClock};

use crate::support::migrated;

per_backend!(middleware_log_contract, runs_are_per_organization, a_retried_batch_is_written_once);

struct ReadBack(SqlMiddlewareLogSink);

#[async_trait]
impl MiddlewareReadBack for ReadBack {
    async fn recent(&self, limit: u64) -> Result<Vec<MiddlewareRun>, StoreError> {
        self.0.recent(limit).await
    }
}

fn run(n: u32) -> MiddlewareRun {
    MiddlewareRun {
        id: format!("00000000-0000-4000-8000-{n:012}"),
        session_id: None,
        middleware_name: "rate_limit".to_owned(),
        execution_order: 0,
        phase: "pre_authenticate",
        execution_time_ms: 1,
        success: true,
        error_message: None,
        input_data: json!({"ip": "127.0.0.1"}),
        output_data: json!({"action": "continue"}),
        timestamp: datetime!(2025-01-01 00:00:00 UTC),
    }
}

async fn middleware_log_contract(db: &TestDb) {
    let sink = migrated(db, "org-contract").await.middleware_log_sink();
    middleware_log::run_all(&sink, &ReadBack(sink.clone()), SystemClock.now()).await;
}

async fn runs_are_per_organization(db: &TestDb) {
    let a = migrated(db, "org-a").await.middleware_log_sink();
    let b = migrated(db, "org-b").await.middleware_log_sink();
    a.write_runs(&[run(1)]).await.unwrap();
    assert_eq!(a.recent(10).await.unwrap(), [run(1)]);
    assert!(b.recent(10).await.unwrap().is_empty());
}

/// A batch retried after some or all of it was written (its commit reached
/// the database, the answer was lost) succeeds and writes every run once —
/// across the statements of a batch over 500 runs.
async fn a_retried_batch_is_written_once(db: &TestDb) {
    let sink = migrated(db, "org").await.middleware_log_sink();
    let batch: Vec<MiddlewareRun> = (1..=600).map(run).collect();
    sink.write_runs(&batch[..300]).await.unwrap();
    sink.write_runs(&batch).await.expect("the retry");
    sink.write_runs(&batch).await.expect("and again");
    let mut ids: Vec<String> = sink.recent(1_000).await.unwrap().into_iter().map(|r| r.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 600);
    assert_eq!(sink.recent(1_000).await.unwrap().len(), 600, "no run written twice");
}
