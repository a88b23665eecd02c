//! [`EventBus`] on Redis pub/sub: JSON [`BusEvent`]s on the channel
//! `<prefix>events`, received on a dedicated subscriber connection per
//! subscription that resubscribes by itself after a reconnect.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use fred::clients::SubscriberClient;
use fred::prelude::{ClientLike, EventInterface, PubsubInterface, Value};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;
use uap_ports::{BusEvent, BusHandler, EventBus, StoreError};

use crate::client::Redis;
use crate::error::{WHAT, map_err};

/// A [`BusEvent`] on the wire, tagged by `type`; times in RFC 3339 (to the
/// nanosecond).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireEvent {
    SessionEnded {
        session_id: String,
        user_id: String,
    },
    UserSessionsEnded {
        user_id: String,
        #[serde(with = "time::serde::rfc3339")]
        before: OffsetDateTime,
        #[serde(default)]
        keep_session_id: Option<String>,
    },
    SessionRefreshed {
        session_id: String,
        user_id: String,
        #[serde(with = "time::serde::rfc3339")]
        expires_at: OffsetDateTime,
    },
    FamilyEnded {
        family_id: String,
    },
    ConfigChanged {
        version: i64,
    },
    KeysRotated {
        kid: String,
    },
}

impl From<&BusEvent> for WireEvent {
    fn from(event: &BusEvent) -> Self {
        match event.clone() {
            BusEvent::SessionEnded { session_id, user_id } => Self::SessionEnded { session_id, user_id },
            BusEvent::UserSessionsEnded { user_id, before, keep_session_id } => {
                Self::UserSessionsEnded { user_id, before, keep_session_id }
            }
            BusEvent::SessionRefreshed { session_id, user_id, expires_at } => {
                Self::SessionRefreshed { session_id, user_id, expires_at }
            }
            BusEvent::FamilyEnded { family_id } => Self::FamilyEnded { family_id },
            BusEvent::ConfigChanged { version } => Self::ConfigChanged { version },
            BusEvent::KeysRotated { kid } => Self::KeysRotated { kid },
        }
    }
}

impl From<WireEvent> for BusEvent {
    fn from(event: WireEvent) -> Self {
        match event {
            WireEvent::SessionEnded { session_id, user_id } => Self::SessionEnded { session_id, user_id },
            WireEvent::UserSessionsEnded { user_id, before, keep_session_id } => {
                Self::UserSessionsEnded { user_id, before, keep_session_id }
            }
            WireEvent::SessionRefreshed { session_id, user_id, expires_at } => {
                Self::SessionRefreshed { session_id, user_id, expires_at }
            }
            WireEvent::FamilyEnded { family_id } => Self::FamilyEnded { family_id },
            WireEvent::ConfigChanged { version } => Self::ConfigChanged { version },
            WireEvent::KeysRotated { kid } => Self::KeysRotated { kid },
        }
    }
}

/// Instance fan-out over Redis pub/sub (at most once). Cheap to clone; the
/// subscriptions end when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct RedisEventBus {
    redis: Redis,
    subscriptions: Arc<Subscriptions>,
}

/// The subscriber connections and their tasks.
#[derive(Debug, Default)]
struct Subscriptions {
    live: Mutex<Vec<(SubscriberClient, Vec<JoinHandle<()>>)>>,
}

impl Drop for Subscriptions {
    fn drop(&mut self) {
        let live = std::mem::take(&mut *self.live.lock().unwrap_or_else(PoisonError::into_inner));
        let runtime = tokio::runtime::Handle::try_current().ok();
        for (client, tasks) in live {
            tasks.iter().for_each(JoinHandle::abort);
            if let Some(runtime) = &runtime {
                runtime.spawn(async move {
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), client.quit()).await;
                });
            }
        }
    }
}

impl RedisEventBus {
    pub(crate) fn new(redis: Redis) -> Self {
        Self { redis, subscriptions: Arc::default() }
    }

    async fn subscribe_with(
        &self,
        client: &SubscriberClient,
        handler: BusHandler,
    ) -> Result<JoinHandle<()>, StoreError> {
        let channel = self.redis.keys().events();
        let mut messages = client.message_rx();
        self.redis.run(client.subscribe(channel.clone())).await?;
        // fred resolves SUBSCRIBE once written; a PING answered on the same
        // connection proves the server has processed it.
        self.redis.run(client.ping::<Value>(None)).await?;
        Ok(tokio::spawn(async move {
            loop {
                match messages.recv().await {
                    Ok(message) if *message.channel == *channel => {
                        let Some(text) = message.value.as_string() else { continue };
                        match serde_json::from_str::<WireEvent>(&text) {
                            Ok(event) => handler(event.into()),
                            Err(err) => tracing::debug!(error = %err, "ignored an unknown bus message"),
                        }
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(missed)) => tracing::warn!(missed, "bus handler fell behind; events lost"),
                    Err(RecvError::Closed) => break,
                }
            }
        }))
    }
}

#[async_trait]
impl EventBus for RedisEventBus {
    async fn publish(&self, event: &BusEvent) -> Result<(), StoreError> {
        let payload = serde_json::to_string(&WireEvent::from(event)).map_err(StoreError::backend)?;
        let channel = self.redis.keys().events();
        self.redis.run(self.redis.cmd().publish::<i64, _, _>(channel, payload)).await.map(drop)
    }

    async fn subscribe(&self, handler: BusHandler) -> Result<(), StoreError> {
        let client = self.redis.builder().build_subscriber_client().map_err(|e| map_err(&e))?;
        let connected = tokio::time::timeout(self.redis.timeout() * 2, client.init()).await;
        let failure = match connected {
            Ok(Ok(_driver)) => None,
            Ok(Err(e)) => Some(map_err(&e)),
            Err(_) => Some(StoreError::Unavailable { what: WHAT, source: None }),
        };
        let listener = match failure {
            None => self.subscribe_with(&client, handler).await,
            Some(err) => Err(err),
        };
        let listener = match listener {
            Ok(listener) => listener,
            Err(err) => {
                let _ = tokio::time::timeout(self.redis.timeout(), client.quit()).await;
                return Err(err);
            }
        };
        let resubscriber = client.manage_subscriptions();
        let mut live = self.subscriptions.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.push((client, vec![listener, resubscriber]));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn events_round_trip_exactly() {
        let events = [
            BusEvent::SessionEnded { session_id: "s".into(), user_id: "u".into() },
            BusEvent::UserSessionsEnded {
                user_id: "u".into(),
                before: datetime!(2025-01-02 03:04:05.123_456_789 UTC),
                keep_session_id: Some("k".into()),
            },
            BusEvent::SessionRefreshed {
                session_id: "s".into(),
                user_id: "u".into(),
                expires_at: datetime!(2025-01-02 04:04:05 UTC),
            },
            BusEvent::FamilyEnded { family_id: "f".into() },
            BusEvent::ConfigChanged { version: -7 },
            BusEvent::KeysRotated { kid: "k1".into() },
        ];
        for event in events {
            let json = serde_json::to_string(&WireEvent::from(&event)).unwrap();
            let back: BusEvent = serde_json::from_str::<WireEvent>(&json).unwrap().into();
            assert_eq!(back, event, "{json}");
        }
        let json = serde_json::to_string(&WireEvent::from(&BusEvent::ConfigChanged { version: 3 })).unwrap();
        assert_eq!(json, r#"{"type":"config_changed","version":3}"#);
    }
}
