//! [`MemoryEventBus`]: the event bus of a single instance (no Redis), so
//! in-process listeners — the session cache, the SDK revocation feed — hear
//! what this instance does.

use std::sync::{PoisonError, RwLock};

use async_trait::async_trait;
use uap_ports::{BusEvent, BusHandler, EventBus, StoreError};

/// Calls every subscribed handler at once, on the publishing task.
#[derive(Default)]
pub struct MemoryEventBus {
    handlers: RwLock<Vec<BusHandler>>,
}

impl std::fmt::Debug for MemoryEventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let handlers = self.handlers.read().unwrap_or_else(PoisonError::into_inner).len();
        f.debug_struct("MemoryEventBus").field("handlers", &handlers).finish()
    }
}

impl MemoryEventBus {
    /// A bus with no subscriber yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl EventBus for MemoryEventBus {
    async fn publish(&self, event: &BusEvent) -> Result<(), StoreError> {
        let handlers = self.handlers.read().unwrap_or_else(PoisonError::into_inner).clone();
        for handler in handlers {
            handler(event.clone());
        }
        Ok(())
    }

    async fn subscribe(&self, handler: BusHandler) -> Result<(), StoreError> {
        self.handlers.write().unwrap_or_else(PoisonError::into_inner).push(handler);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn every_subscriber_hears_every_event() {
        futures::executor::block_on(async {
            let bus = MemoryEventBus::new();
            let heard = Arc::new(Mutex::new(Vec::new()));
            for n in 0..2 {
                let heard = Arc::clone(&heard);
                bus.subscribe(Arc::new(move |event| heard.lock().unwrap().push((n, event)))).await.unwrap();
            }
            let event = BusEvent::KeysRotated { kid: "k".into() };
            bus.publish(&event).await.unwrap();
            assert_eq!(*heard.lock().unwrap(), vec![(0, event.clone()), (1, event)]);
        });
    }
}
