//! The audit pipeline: producers put events on a bounded queue (waiting when it
//! is full — backpressure, never a drop); one writer takes them in batches and
//! writes each batch durably, retrying with backoff while the database is down;
//! shutdown closes the queue and drains it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use uap_ports::{AuditEvent, AuditSink, StoreError};

/// The most events written in one batch.
const BATCH: usize = 256;

/// The producer side: an [`AuditSink`] that enqueues.
#[derive(Debug, Clone)]
pub struct AuditQueue {
    tx: mpsc::Sender<AuditEvent>,
}

/// The writer task; [`AuditWriter::shutdown`] drains and stops it.
#[derive(Debug)]
pub struct AuditWriter {
    stop: oneshot::Sender<()>,
    task: JoinHandle<u64>,
}

/// Starts the writer over `sink` with room for `capacity` queued events.
#[must_use]
pub fn start(sink: Arc<dyn AuditSink>, capacity: usize) -> (AuditQueue, AuditWriter) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(write_loop(sink, rx, stopped));
    (AuditQueue { tx }, AuditWriter { stop, task })
}

async fn write_loop(
    sink: Arc<dyn AuditSink>,
    mut rx: mpsc::Receiver<AuditEvent>,
    mut stopped: oneshot::Receiver<()>,
) -> u64 {
    let mut written = 0;
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            received = rx.recv_many(&mut batch, BATCH) => {
                if received == 0 {
                    return written;
                }
                written += write_durably(sink.as_ref(), &mut batch).await;
            }
            _ = &mut stopped => {
                rx.close();
                while rx.recv_many(&mut batch, BATCH).await > 0 {
                    written += write_durably(sink.as_ref(), &mut batch).await;
                }
                return written;
            }
        }
    }
}

/// Writes `batch` until it succeeds, then empties it.
async fn write_durably(sink: &dyn AuditSink, batch: &mut Vec<AuditEvent>) -> u64 {
    let mut delay = Duration::from_millis(50);
    loop {
        match sink.write_batch(batch).await {
            Ok(()) => break,
            Err(err) => {
                tracing::error!(error = %err, events = batch.len(), retry_in_ms = delay.as_millis() as u64, "audit write failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
    let written = batch.len() as u64;
    batch.clear();
    written
}

impl AuditWriter {
    /// Stops accepting events, writes every queued one, and returns how many
    /// events the writer wrote in its life.
    pub async fn shutdown(self) -> u64 {
        let _ = self.stop.send(());
        self.task.await.unwrap_or(0)
    }
}

#[async_trait]
impl AuditSink for AuditQueue {
    async fn write_batch(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        for event in events {
            self.tx
                .send(event.clone())
                .await
                .map_err(|_| StoreError::Unavailable { what: "audit queue (shutting down)", source: None })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::json;
    use time::OffsetDateTime;
    use uap_ports::AuditEventType;

    use super::*;

    /// Fails the first `failures` writes, then records.
    #[derive(Default)]
    struct Flaky {
        failures: AtomicUsize,
        written: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl AuditSink for Flaky {
        async fn write_batch(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
            if self.failures.load(Ordering::SeqCst) > 0 {
                self.failures.fetch_sub(1, Ordering::SeqCst);
                return Err(StoreError::Unavailable { what: "test db", source: None });
            }
            self.written.lock().unwrap().extend(events.iter().map(|e| e.id.clone()));
            Ok(())
        }
    }

    fn event(i: usize) -> AuditEvent {
        AuditEvent {
            id: i.to_string(),
            event_type: AuditEventType::Login,
            user_id: None,
            session_id: None,
            ip_address: None,
            user_agent: None,
            success: true,
            error_message: None,
            metadata: json!({}),
            timestamp: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[tokio::test]
    async fn no_event_is_lost_through_failures_backpressure_and_shutdown() {
        let sink = Arc::new(Flaky { failures: AtomicUsize::new(3), ..Flaky::default() });
        let (queue, writer) = start(Arc::clone(&sink) as Arc<dyn AuditSink>, 4);
        for i in 0..1000 {
            queue.write_batch(&[event(i)]).await.unwrap();
        }
        assert_eq!(writer.shutdown().await, 1000);
        let written = sink.written.lock().unwrap().clone();
        assert_eq!(written, (0..1000).map(|i| i.to_string()).collect::<Vec<_>>());
        assert!(queue.write_batch(&[event(0)]).await.is_err());
    }
}
