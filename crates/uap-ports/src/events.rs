//! The event bus port: fan-out between instances (session ends,
//! configuration changes, key rotation).

use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::StoreError;

/// Something every instance must learn at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusEvent {
    /// One session ended (logout, refresh rotation, idle timeout, theft
    /// detection, a chain ended by the host check).
    SessionEnded {
        /// The session.
        session_id: String,
        /// Its user.
        user_id: String,
    },
    /// Every session of a user that started before `before` ended
    /// (logout-all, single-device policy).
    UserSessionsEnded {
        /// The user.
        user_id: String,
        /// Sessions created before this instant are gone.
        before: OffsetDateTime,
        /// The one session kept (the new login under the single-device policy).
        keep_session_id: Option<String>,
    },
    /// A session was extended in place (a refresh with the access token): its
    /// access tokens with another `exp` are no longer accepted.
    SessionRefreshed {
        /// The session.
        session_id: String,
        /// Its user.
        user_id: String,
        /// Its new end (the `exp` of its only valid access token).
        expires_at: OffsetDateTime,
    },
    /// Every session of a refresh chain ended (theft detection, a refresh
    /// that found the host user disabled or its password changed).
    FamilyEnded {
        /// The chain (the `family_id` of its sessions).
        family_id: String,
    },
    /// A new configuration version was stored.
    ConfigChanged {
        /// The version now active.
        version: i64,
    },
    /// The signing keys changed.
    KeysRotated {
        /// The new key id.
        kid: String,
    },
}

/// Receives bus events (called on the bus's own task; must not block).
pub type BusHandler = Arc<dyn Fn(BusEvent) + Send + Sync + 'static>;

/// Fan-out between instances (Redis pub/sub; an in-process bus for one
/// instance). Delivery is at-most-once: an instance that was disconnected
/// must not rely on having seen every event (stores stay the source of truth).
#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// Sends `event` to every subscribed instance, this one included.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the bus is down.
    async fn publish(&self, event: &BusEvent) -> Result<(), StoreError>;

    /// Calls `handler` for every event from now on (resubscribing by itself
    /// after a reconnect).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the bus cannot be reached at all.
    async fn subscribe(&self, handler: BusHandler) -> Result<(), StoreError>;
}
