//! The event bus: what one instance publishes, every subscribed instance
//! (itself included) receives.

use std::sync::Arc;
use std::time::Duration;

use time::macros::datetime;
use tokio::sync::mpsc;
use uap_ports::{BusEvent, BusHandler, EventBus};

use crate::support::TestRedis;

/// A handler that forwards events to the returned receiver.
pub fn forwarding() -> (BusHandler, mpsc::UnboundedReceiver<BusEvent>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Arc::new(move |event| drop(tx.send(event))), rx)
}

/// The next event, waiting at most five seconds.
pub async fn next(rx: &mut mpsc::UnboundedReceiver<BusEvent>) -> Option<BusEvent> {
    tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.ok().flatten()
}

#[tokio::test]
async fn events_reach_every_instance() {
    let Some(t) = TestRedis::new().await else { return };
    let publisher = t.redis.event_bus();
    let listener = t.second().await.event_bus();
    let (to_listener, mut at_listener) = forwarding();
    let (to_publisher, mut at_publisher) = forwarding();
    listener.subscribe(to_listener).await.unwrap();
    publisher.subscribe(to_publisher).await.unwrap();

    let events = [
        BusEvent::SessionEnded { session_id: "s1".into(), user_id: "u1".into() },
        BusEvent::UserSessionsEnded {
            user_id: "u1".into(),
            before: datetime!(2025-05-06 07:08:09.123_456 UTC),
            keep_session_id: None,
        },
        BusEvent::SessionRefreshed {
            session_id: "s1".into(),
            user_id: "u1".into(),
            expires_at: datetime!(2025-05-06 08:08:09 UTC),
        },
        BusEvent::ConfigChanged { version: 42 },
        BusEvent::KeysRotated { kid: "kid-2".into() },
    ];
    for event in &events {
        publisher.publish(event).await.unwrap();
    }
    for event in &events {
        assert_eq!(next(&mut at_listener).await.as_ref(), Some(event), "the other instance");
        assert_eq!(next(&mut at_publisher).await.as_ref(), Some(event), "the publishing instance");
    }

    // Another prefix is another bus.
    let stranger = TestRedis::new().await.unwrap();
    stranger.redis.event_bus().publish(&BusEvent::ConfigChanged { version: 1 }).await.unwrap();
    publisher.publish(&BusEvent::ConfigChanged { version: 2 }).await.unwrap();
    assert_eq!(next(&mut at_listener).await, Some(BusEvent::ConfigChanged { version: 2 }));
    stranger.cleanup().await;
    t.cleanup().await;
}
