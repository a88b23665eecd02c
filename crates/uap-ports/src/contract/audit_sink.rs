//! The [`AuditSink`] contract.
//!
//! The port only writes; the suite reads back through [`AuditReadBack`], which
//! each implementation's test provides (the SQL sink's `recent`, the in-memory
//! sink's buffer…).

use async_trait::async_trait;
use serde_json::json;
use time::{Duration, OffsetDateTime};

use super::{Ids, micros};
use crate::{AuditEvent, AuditEventType, AuditSink, StoreError};

/// Reads back what an [`AuditSink`] wrote, newest first.
#[async_trait]
pub trait AuditReadBack: Send + Sync {
    /// The `limit` most recent events, newest first.
    ///
    /// # Errors
    /// Whatever the store reports.
    async fn recent(&self, limit: u64) -> Result<Vec<AuditEvent>, StoreError>;
}

/// Runs every check of this suite: `sink` writes, `read` reads back.
///
/// # Panics
/// When the sink breaks the contract.
pub async fn run_all(sink: &dyn AuditSink, read: &dyn AuditReadBack, now: OffsetDateTime) {
    let now = micros(now);
    empty_batch_is_accepted(sink).await;
    batch_round_trips_newest_first(sink, read, now).await;
    every_event_type_round_trips(sink, read, now).await;
    large_batch_is_written_whole(sink, read, now).await;
}

fn event(id: String, event_type: AuditEventType, at: OffsetDateTime) -> AuditEvent {
    AuditEvent {
        id,
        event_type,
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

async fn written(read: &dyn AuditReadBack, ids: &[String], limit: u64) -> Vec<AuditEvent> {
    let mut found = read.recent(limit).await.expect("read back");
    found.retain(|e| ids.contains(&e.id));
    found
}

/// An empty batch is a no-op, not an error.
pub async fn empty_batch_is_accepted(sink: &dyn AuditSink) {
    assert!(sink.write_batch(&[]).await.is_ok(), "empty batch");
}

/// Every field survives the round trip; reading back is newest first.
pub async fn batch_round_trips_newest_first(sink: &dyn AuditSink, read: &dyn AuditReadBack, now: OffsetDateTime) {
    let mut ids = Ids::new(now, 101);
    let session = ids.next();
    let oldest = AuditEvent {
        user_id: Some(ids.user("carol")),
        ip_address: Some("203.0.113.9".to_owned()),
        user_agent: Some("curl/8 «ünïcödé» '); DROP TABLE x; --".to_owned()),
        success: false,
        error_message: Some("wrong_password".to_owned()),
        metadata: json!({"identifier": "carol", "hash_format": "bcrypt", "attempt": 3}),
        ..event(ids.next(), AuditEventType::FailedLogin, now - Duration::seconds(2))
    };
    let middle = AuditEvent {
        user_id: Some(ids.user("carol")),
        session_id: Some(session),
        ip_address: Some("2001:db8::7".to_owned()),
        metadata: json!({"nested": {"list": [1, 2, 3], "none": null}}),
        ..event(ids.next(), AuditEventType::Login, now - Duration::seconds(1) + Duration::microseconds(1))
    };
    let newest = event(ids.next(), AuditEventType::ConfigurationChange, now);
    let batch = vec![middle.clone(), oldest.clone(), newest.clone()];
    sink.write_batch(&batch).await.expect("write_batch");

    let got = written(read, &[oldest.id.clone(), middle.id.clone(), newest.id.clone()], 1000).await;
    assert_eq!(got, vec![newest, middle, oldest]);
}

/// Each event type is stored and read back as itself.
pub async fn every_event_type_round_trips(sink: &dyn AuditSink, read: &dyn AuditReadBack, now: OffsetDateTime) {
    let mut ids = Ids::new(now, 102);
    let batch: Vec<AuditEvent> = AuditEventType::ALL
        .iter()
        .zip(1_i64..)
        .map(|(t, n)| event(ids.next(), *t, now + Duration::milliseconds(n)))
        .collect();
    sink.write_batch(&batch).await.expect("write_batch");
    let wanted: Vec<String> = batch.iter().map(|e| e.id.clone()).collect();
    let mut got = written(read, &wanted, 1000).await;
    got.reverse();
    assert_eq!(got, batch);
}

/// A batch larger than any single statement's parameter limit is written whole.
pub async fn large_batch_is_written_whole(sink: &dyn AuditSink, read: &dyn AuditReadBack, now: OffsetDateTime) {
    let mut ids = Ids::new(now, 103);
    let batch: Vec<AuditEvent> = (0..3_500_i64)
        .map(|n| AuditEvent {
            user_id: Some(format!("user-{n}")),
            metadata: json!({"n": n}),
            ..event(ids.next(), AuditEventType::TokenRefresh, now - Duration::days(1))
        })
        .collect();
    sink.write_batch(&batch).await.expect("write_batch");
    let wanted: Vec<String> = batch.iter().map(|e| e.id.clone()).collect();
    let got = written(read, &wanted, 100_000).await;
    assert_eq!(got.len(), batch.len());
}
