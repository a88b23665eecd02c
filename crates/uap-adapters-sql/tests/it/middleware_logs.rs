//! The SQL middleware log sink: the shared contract, organization scoping, and
//! one transaction per batch.

use async_trait::async_trait;
use serde_json::json;
use time::macros::datetime;
use uap_adapters_sql::SqlMiddlewareLogSink;
use uap_adapters_sql::testing::TestDb;
use uap_ports::contract::middleware_log::{self, MiddlewareReadBack};
use uap_ports::{Clock, MiddlewareLogSink, MiddlewareRun, StoreError, SystemClock};

use crate::support::migrated;

per_backend!(middleware_log_contract, runs_are_per_organization, a_failed_batch_writes_nothing);

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

/// A batch spanning two statements whose second fails leaves no row behind.
async fn a_failed_batch_writes_nothing(db: &TestDb) {
    let sink = migrated(db, "org").await.middleware_log_sink();
    let mut batch: Vec<MiddlewareRun> = (1..=600).map(run).collect();
    batch[550].id = batch[0].id.clone();
    assert!(sink.write_runs(&batch).await.is_err(), "a duplicate id fails the batch");
    assert!(sink.recent(1_000).await.unwrap().is_empty(), "the first statement was rolled back");
    sink.write_runs(&batch[..500]).await.unwrap();
    assert_eq!(sink.recent(1_000).await.unwrap().len(), 500);
}
