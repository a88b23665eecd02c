//! Durable write queues (audit events, middleware runs): producers put records
//! on a bounded queue (waiting when it is full — backpressure, never a drop);
//! one writer takes them in batches and writes each batch durably, retrying
//! with backoff while the database is down; shutdown closes the queue and
//! drains it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use uap_ports::{AuditEvent, AuditSink, MiddlewareLogSink, MiddlewareRun, StoreError};

/// The most records written in one batch.
const BATCH: usize = 256;

/// A durable destination for batches of `T`.
#[async_trait]
pub trait BatchSink<T>: Send + Sync + 'static {
    /// Writes a batch, all or nothing.
    ///
    /// # Errors
    /// Any store failure; the writer retries.
    async fn write(&self, batch: &[T]) -> Result<(), StoreError>;
}

/// Audit events to an [`AuditSink`].
pub struct Audit(pub Arc<dyn AuditSink>);

#[async_trait]
impl BatchSink<AuditEvent> for Audit {
    async fn write(&self, batch: &[AuditEvent]) -> Result<(), StoreError> {
        self.0.write_batch(batch).await
    }
}

/// Middleware runs to a [`MiddlewareLogSink`].
pub struct Runs(pub Arc<dyn MiddlewareLogSink>);

#[async_trait]
impl BatchSink<MiddlewareRun> for Runs {
    async fn write(&self, batch: &[MiddlewareRun]) -> Result<(), StoreError> {
        self.0.write_runs(batch).await
    }
}

/// The producer side.
#[derive(Debug)]
pub struct BatchQueue<T> {
    tx: mpsc::Sender<T>,
}

impl<T> BatchQueue<T> {
    /// Records waiting for the writer (`uap_audit_queue_depth`).
    #[must_use]
    pub fn depth(&self) -> usize {
        self.tx.max_capacity().saturating_sub(self.tx.capacity())
    }
}

impl<T> Clone for BatchQueue<T> {
    fn clone(&self) -> Self {
        Self { tx: self.tx.clone() }
    }
}

/// The writer task; [`Writer::shutdown`] drains and stops it.
#[derive(Debug)]
pub struct Writer {
    stop: oneshot::Sender<()>,
    task: JoinHandle<u64>,
}

/// Starts the writer over `sink` with room for `capacity` queued records.
#[must_use]
pub fn start<T: Send + Sync + 'static>(sink: Arc<dyn BatchSink<T>>, capacity: usize) -> (BatchQueue<T>, Writer) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(write_loop(sink, rx, stopped));
    (BatchQueue { tx }, Writer { stop, task })
}

async fn write_loop<T: Send + Sync + 'static>(
    sink: Arc<dyn BatchSink<T>>,
    mut rx: mpsc::Receiver<T>,
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
async fn write_durably<T: Send + Sync + 'static>(sink: &dyn BatchSink<T>, batch: &mut Vec<T>) -> u64 {
    let mut delay = Duration::from_millis(50);
    loop {
        match sink.write(batch).await {
            Ok(()) => break,
            Err(err) => {
                tracing::error!(error = %err, events = batch.len(), retry_in_ms = delay.as_millis() as u64, "durable write failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
    let written = batch.len() as u64;
    batch.clear();
    written
}

impl Writer {
    /// Stops accepting records, writes every queued one, and returns how many
    /// the writer wrote in its life.
    pub async fn shutdown(self) -> u64 {
        let _ = self.stop.send(());
        self.task.await.unwrap_or(0)
    }
}

impl<T: Clone + Send + Sync + 'static> BatchQueue<T> {
    async fn enqueue(&self, records: &[T]) -> Result<(), StoreError> {
        for record in records {
            self.tx
                .send(record.clone())
                .await
                .map_err(|_| StoreError::Unavailable { what: "write queue (shutting down)", source: None })?;
        }
        Ok(())
    }
}

#[async_trait]
impl AuditSink for BatchQueue<AuditEvent> {
    async fn write_batch(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        self.enqueue(events).await
    }
}

#[async_trait]
impl MiddlewareLogSink for BatchQueue<MiddlewareRun> {
    async fn write_runs(&self, runs: &[MiddlewareRun]) -> Result<(), StoreError> {
        self.enqueue(runs).await
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
    impl BatchSink<AuditEvent> for Flaky {
        async fn write(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
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
        let (queue, writer) = start(Arc::clone(&sink) as Arc<dyn BatchSink<AuditEvent>>, 4);
        for i in 0..1000 {
            queue.write_batch(&[event(i)]).await.unwrap();
        }
        assert_eq!(writer.shutdown().await, 1000);
        let written = sink.written.lock().unwrap().clone();
        assert_eq!(written, (0..1000).map(|i| i.to_string()).collect::<Vec<_>>());
        assert!(queue.write_batch(&[event(0)]).await.is_err());
    }
}
