//! Building audit events and handing them to the sink.

use std::sync::Arc;

use serde_json::Value;
use uap_ports::{AuditEvent, AuditEventType, AuditSink, Clock, IdGenerator, StoreError};

use crate::session::ClientContext;

/// Records audit events through an [`AuditSink`] (in the server: a bounded
/// batching queue, so recording waits only when the queue is full).
#[derive(Clone)]
pub struct AuditRecorder {
    sink: Arc<dyn AuditSink>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
}

impl std::fmt::Debug for AuditRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditRecorder")
    }
}

/// The parts of an event that vary.
#[derive(Debug, Default)]
pub struct EventDetails<'a> {
    pub user_id: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub error: Option<&'a str>,
    pub metadata: Value,
}

impl AuditRecorder {
    /// A recorder writing to `sink`.
    #[must_use]
    pub fn new(sink: Arc<dyn AuditSink>, clock: Arc<dyn Clock>, ids: Arc<dyn IdGenerator>) -> Self {
        Self { sink, clock, ids }
    }

    /// Records one event.
    ///
    /// # Errors
    /// When the sink refuses it (closed during shutdown).
    pub async fn record(
        &self,
        event_type: AuditEventType,
        success: bool,
        client: &ClientContext,
        details: EventDetails<'_>,
    ) -> Result<(), StoreError> {
        let event = AuditEvent {
            id: self.ids.new_id(),
            event_type,
            user_id: details.user_id.map(str::to_owned),
            session_id: details.session_id.map(str::to_owned),
            ip_address: client.ip_address.map(|ip| ip.to_string()),
            user_agent: client.user_agent.clone(),
            success,
            error_message: details.error.map(str::to_owned),
            metadata: if details.metadata.is_null() { Value::Object(Default::default()) } else { details.metadata },
            timestamp: self.clock.now(),
        };
        self.sink.write_batch(std::slice::from_ref(&event)).await
    }
}
