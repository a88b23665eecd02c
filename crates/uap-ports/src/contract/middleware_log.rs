//! The [`MiddlewareLogSink`] contract.
//!
//! The port only writes; the suite reads back through [`MiddlewareReadBack`],
//! which each implementation's test provides. Pinned: every field round-trips
//! (the phase included, `input_data` unchanged); an empty batch is a no-op; a
//! large batch is written whole.

use async_trait::async_trait;
use serde_json::json;
use time::{Duration, OffsetDateTime};

use super::{Ids, micros};
use crate::{MiddlewareLogSink, MiddlewareRun, StoreError};

/// Reads back what a [`MiddlewareLogSink`] wrote, newest first.
#[async_trait]
pub trait MiddlewareReadBack: Send + Sync {
    /// The `limit` most recent runs, newest first.
    ///
    /// # Errors
    /// Whatever the store reports.
    async fn recent(&self, limit: u64) -> Result<Vec<MiddlewareRun>, StoreError>;
}

/// Runs every check of this suite: `sink` writes, `read` reads back.
///
/// # Panics
/// When the sink breaks the contract.
pub async fn run_all(sink: &dyn MiddlewareLogSink, read: &dyn MiddlewareReadBack, now: OffsetDateTime) {
    let now = micros(now);
    empty_batch_is_accepted(sink).await;
    runs_round_trip_newest_first(sink, read, now).await;
    large_batch_is_written_whole(sink, read, now).await;
}

fn run(id: String, name: &str, phase: &'static str, at: OffsetDateTime) -> MiddlewareRun {
    MiddlewareRun {
        id,
        session_id: None,
        middleware_name: name.to_owned(),
        execution_order: 0,
        phase,
        execution_time_ms: 0,
        success: true,
        error_message: None,
        input_data: json!({}),
        output_data: json!({}),
        timestamp: at,
    }
}

async fn written(read: &dyn MiddlewareReadBack, ids: &[String], limit: u64) -> Vec<MiddlewareRun> {
    let mut found = read.recent(limit).await.expect("read back");
    found.retain(|r| ids.contains(&r.id));
    found
}

/// An empty batch is a no-op, not an error.
pub async fn empty_batch_is_accepted(sink: &dyn MiddlewareLogSink) {
    assert!(sink.write_runs(&[]).await.is_ok(), "empty batch");
}

/// Every field survives the round trip, for each phase; newest first.
pub async fn runs_round_trip_newest_first(
    sink: &dyn MiddlewareLogSink,
    read: &dyn MiddlewareReadBack,
    now: OffsetDateTime,
) {
    let mut ids = Ids::new(now, 401);
    let pre = MiddlewareRun {
        execution_order: 1,
        execution_time_ms: 3,
        success: false,
        error_message: Some("rate_limited: «ünïcödé» '); DROP TABLE x; --".to_owned()),
        input_data: json!({"identifier": ids.user("alice"), "ip": "2001:db8::1", "nested": {"n": 3, "none": null}}),
        output_data: json!({"action": "block", "retry_after": 300}),
        ..run(ids.next(), "rate_limit", "pre_authenticate", now)
    };
    let post = MiddlewareRun {
        session_id: Some(ids.next()),
        execution_order: 4,
        execution_time_ms: 1_234_567,
        input_data: json!(null),
        output_data: json!(["a", 1, true]),
        ..run(ids.next(), "webhook", "post_authenticate", now + Duration::milliseconds(1))
    };
    let failure = MiddlewareRun {
        execution_order: 2,
        success: false,
        error_message: Some("captcha_failed".to_owned()),
        input_data: json!({"phase": "someone else's key"}),
        ..run(ids.next(), "captcha", "on_failure", now + Duration::milliseconds(2) + Duration::microseconds(3))
    };
    let verify = MiddlewareRun {
        execution_order: 1,
        output_data: json!({"action": "block", "refusal": "rate_limited"}),
        ..run(ids.next(), "rate_limit", "before_verify", now + Duration::milliseconds(3))
    };
    let batch = [pre.clone(), post.clone(), failure.clone(), verify.clone()];
    sink.write_runs(&batch).await.expect("write_runs");
    let wanted: Vec<String> = batch.iter().map(|r| r.id.clone()).collect();
    assert_eq!(written(read, &wanted, 100).await, [verify, failure, post, pre]);
}

/// A batch larger than any one statement's row limit is written whole.
pub async fn large_batch_is_written_whole(
    sink: &dyn MiddlewareLogSink,
    read: &dyn MiddlewareReadBack,
    now: OffsetDateTime,
) {
    let mut ids = Ids::new(now, 402);
    let at = now + Duration::seconds(10);
    let batch: Vec<MiddlewareRun> = (0..1_200_u32)
        .map(|n| MiddlewareRun { execution_order: n, ..run(ids.next(), "ip_rules", "pre_authenticate", at) })
        .collect();
    sink.write_runs(&batch).await.expect("write_runs");
    let wanted: Vec<String> = batch.iter().map(|r| r.id.clone()).collect();
    assert_eq!(written(read, &wanted, 5_000).await.len(), batch.len());
}
