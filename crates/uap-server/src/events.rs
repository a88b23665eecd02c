//! The revocation feed (`GET /api/v1/auth/events`, server-sent events) for
//! SDKs that check tokens in-process: what the event bus says about sessions
//! and signing keys, numbered per instance and kept for a bounded replay
//! window, so a client reconnecting with `Last-Event-ID` loses nothing — or is
//! told to `resync` when it may have.
//!
//! Every instance hears every session end over the bus (Redis pub/sub with
//! several instances, the in-process bus with one), so a client connected to
//! instance A learns of a logout done on B. A consumer too slow to keep up is
//! disconnected (its backlog never grows past [`CONSUMER_BACKLOG`]); it
//! reconnects with its last id.
//!
//! Frames: `ready` once per connection after any replay, `heartbeat` every
//! [`HEARTBEAT`], `resync` when the requested id is unknown or too old, and the
//! numbered `session_ended`, `user_sessions_ended`, `session_refreshed`,
//! `keys_rotated` (ids `<instance>.<sequence>`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::{broadcast, watch};
use uap_ports::{BusEvent, Clock, EventBus, StoreError};

/// How often an idle connection gets a `heartbeat`.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// Events kept for replay, at most…
const REPLAY_EVENTS: usize = 4096;
/// …and for at most this long.
const REPLAY_AGE: Duration = Duration::from_secs(600);
/// Events a connection may fall behind by before it is dropped.
pub const CONSUMER_BACKLOG: usize = 1024;

/// One numbered event of the feed.
#[derive(Debug)]
struct FeedEvent {
    seq: u64,
    name: &'static str,
    data: Value,
    at: Instant,
}

/// The replay window and the next sequence number (one lock: an event is
/// numbered, kept and sent in one step, so subscribers see them in order).
struct Recent {
    events: VecDeque<Arc<FeedEvent>>,
    next: u64,
}

struct Inner {
    instance: String,
    recent: Mutex<Recent>,
    sender: broadcast::Sender<Arc<FeedEvent>>,
    closed: watch::Sender<bool>,
    /// Stamps heartbeats.
    clock: Arc<dyn Clock>,
}

/// The feed of this instance. Cheap to clone.
#[derive(Clone)]
pub struct EventHub {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EventHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventHub").field("instance", &self.inner.instance).finish_non_exhaustive()
    }
}

/// Where a new connection starts.
pub struct Subscription {
    /// Replayed events (and `resync`, when needed) then `ready`, as one chunk.
    pub opening: Bytes,
    receiver: broadcast::Receiver<Arc<FeedEvent>>,
    closed: watch::Receiver<bool>,
}

impl EventHub {
    /// An empty feed; `instance` prefixes its event ids.
    #[must_use]
    pub fn new(instance: String, clock: Arc<dyn Clock>) -> Self {
        let (sender, _) = broadcast::channel(CONSUMER_BACKLOG);
        let (closed, _) = watch::channel(false);
        let recent = Mutex::new(Recent { events: VecDeque::new(), next: 1 });
        Self { inner: Arc::new(Inner { instance, recent, sender, closed, clock }) }
    }

    /// Feeds on every event of `bus` from now on.
    ///
    /// # Errors
    /// When the bus cannot be subscribed to.
    pub async fn listen(&self, bus: &dyn EventBus) -> Result<(), StoreError> {
        let hub = self.clone();
        bus.subscribe(Arc::new(move |event| hub.publish(&event))).await
    }

    /// Numbers, keeps and sends `event` when SDKs care about it.
    pub fn publish(&self, event: &BusEvent) {
        let Some((name, data)) = feed_form(event) else { return };
        let mut recent = self.inner.recent.lock().unwrap_or_else(PoisonError::into_inner);
        let event = Arc::new(FeedEvent { seq: recent.next, name, data, at: Instant::now() });
        recent.next += 1;
        while recent.events.len() >= REPLAY_EVENTS || recent.events.front().is_some_and(|e| e.at.elapsed() > REPLAY_AGE)
        {
            recent.events.pop_front();
        }
        recent.events.push_back(Arc::clone(&event));
        // No receiver is not an error: nobody is connected.
        let _ = self.inner.sender.send(event);
    }

    /// Ends every open connection (the server is stopping).
    pub fn close(&self) {
        self.inner.closed.send_replace(true);
    }

    /// A new connection, resuming after `last_event_id` when given.
    #[must_use]
    pub fn subscribe(&self, last_event_id: Option<&str>) -> Subscription {
        let recent = self.inner.recent.lock().unwrap_or_else(PoisonError::into_inner);
        // Subscribed under the lock: every event is either replayed or received.
        let receiver = self.inner.sender.subscribe();
        let mut opening = String::new();
        if let Some(last) = last_event_id {
            match self.resume_point(&recent, last) {
                Some(after) => {
                    for event in recent.events.iter().filter(|e| e.seq > after) {
                        opening.push_str(&self.frame(event));
                    }
                }
                None => opening.push_str(&unnumbered("resync", &json!({}))),
            }
        }
        drop(recent);
        opening.push_str(&unnumbered(
            "ready",
            &json!({ "instance": self.inner.instance, "heartbeat_seconds": HEARTBEAT.as_secs() }),
        ));
        Subscription { opening: Bytes::from(opening), receiver, closed: self.inner.closed.subscribe() }
    }

    /// The sequence number to replay after, when `last` is one of this
    /// instance's ids still covered by the window (or the latest one).
    fn resume_point(&self, recent: &Recent, last: &str) -> Option<u64> {
        let (instance, seq) = last.trim().rsplit_once('.')?;
        let seq: u64 = seq.parse().ok()?;
        if instance != self.inner.instance || seq >= recent.next {
            return None;
        }
        let oldest_kept = recent.events.front().map_or(recent.next, |e| e.seq);
        // Everything after `seq` must still be here.
        (seq + 1 >= oldest_kept).then_some(seq)
    }

    fn frame(&self, event: &FeedEvent) -> String {
        format!("id: {}.{}\nevent: {}\ndata: {}\n\n", self.inner.instance, event.seq, event.name, event.data)
    }
}

/// An event without an id (it does not move the client's `Last-Event-ID`).
fn unnumbered(name: &str, data: &Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// The SDK form of a bus event; `None` for what SDKs need not know.
fn feed_form(event: &BusEvent) -> Option<(&'static str, Value)> {
    Some(match event {
        BusEvent::SessionEnded { session_id, user_id } => {
            ("session_ended", json!({ "session_id": session_id, "user_id": user_id }))
        }
        BusEvent::UserSessionsEnded { user_id, before, keep_session_id } => (
            "user_sessions_ended",
            json!({ "user_id": user_id, "before": rfc3339(*before), "keep_session_id": keep_session_id }),
        ),
        BusEvent::SessionRefreshed { session_id, user_id, expires_at } => (
            "session_refreshed",
            json!({ "session_id": session_id, "user_id": user_id, "expires_at": expires_at.unix_timestamp() }),
        ),
        BusEvent::KeysRotated { kid } => ("keys_rotated", json!({ "kid": kid })),
        BusEvent::FamilyEnded { .. } | BusEvent::ConfigChanged { .. } => return None,
    })
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

impl Subscription {
    /// The live part: each event, a heartbeat every `heartbeat` (the
    /// server uses [`HEARTBEAT`]); ends when the hub closes or the consumer
    /// fell [`CONSUMER_BACKLOG`] events behind.
    pub fn live(
        self,
        hub: EventHub,
        heartbeat: Duration,
    ) -> impl futures::Stream<Item = Result<Bytes, std::convert::Infallible>> {
        let state = Live {
            opening: Some(self.opening),
            receiver: self.receiver,
            closed: self.closed,
            heartbeat: tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat),
            hub,
        };
        futures::stream::unfold(state, |mut live| async move {
            let chunk = live.next().await?;
            Some((Ok(chunk), live))
        })
    }
}

struct Live {
    opening: Option<Bytes>,
    receiver: broadcast::Receiver<Arc<FeedEvent>>,
    closed: watch::Receiver<bool>,
    heartbeat: tokio::time::Interval,
    hub: EventHub,
}

impl Live {
    async fn next(&mut self) -> Option<Bytes> {
        if let Some(opening) = self.opening.take() {
            return Some(opening);
        }
        if *self.closed.borrow() {
            return None;
        }
        tokio::select! {
            biased;
            _ = self.closed.changed() => None,
            received = self.receiver.recv() => match received {
                Ok(event) => Some(Bytes::from(self.hub.frame(&event))),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::info!(missed, "revocation feed consumer too slow: disconnected (it resumes with Last-Event-ID)");
                    None
                }
                Err(broadcast::error::RecvError::Closed) => None,
            },
            _ = self.heartbeat.tick() => {
                Some(Bytes::from(unnumbered("heartbeat", &json!({ "time": rfc3339(self.hub.inner.clock.now()) }))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt as _;
    use time::macros::datetime;

    use super::*;

    fn ended(n: u32) -> BusEvent {
        BusEvent::SessionEnded { session_id: format!("s{n}"), user_id: "u".into() }
    }

    fn text(bytes: &Bytes) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    #[test]
    fn a_new_connection_starts_with_ready_only() {
        let hub = EventHub::new("i1".into(), Arc::new(uap_ports::SystemClock));
        hub.publish(&ended(1));
        let opening = text(&hub.subscribe(None).opening);
        assert_eq!(opening, "event: ready\ndata: {\"instance\":\"i1\",\"heartbeat_seconds\":15}\n\n");
    }

    #[test]
    fn last_event_id_replays_what_followed_it() {
        let hub = EventHub::new("i1".into(), Arc::new(uap_ports::SystemClock));
        for n in 1..=3 {
            hub.publish(&ended(n));
        }
        let opening = text(&hub.subscribe(Some("i1.1")).opening);
        assert!(!opening.contains("\"s1\""), "{opening}");
        assert!(
            opening.contains("id: i1.2\nevent: session_ended\ndata: {\"session_id\":\"s2\",\"user_id\":\"u\"}\n\n")
        );
        assert!(opening.contains("id: i1.3\n"));
        assert!(opening.ends_with("event: ready\ndata: {\"instance\":\"i1\",\"heartbeat_seconds\":15}\n\n"));
        assert!(!opening.contains("resync"));
        // The latest id: nothing to replay, no resync.
        assert!(!text(&hub.subscribe(Some("i1.3")).opening).contains("resync"));
    }

    #[test]
    fn an_unknown_foreign_future_or_evicted_id_asks_for_a_resync() {
        let hub = EventHub::new("i1".into(), Arc::new(uap_ports::SystemClock));
        for n in 1..=(REPLAY_EVENTS as u32 + 2) {
            hub.publish(&ended(n));
        }
        for last in ["i2.3", "i1.999999", "garbage", "i1.1", "i1."] {
            let opening = text(&hub.subscribe(Some(last)).opening);
            assert!(opening.starts_with("event: resync\ndata: {}\n\n"), "{last}: {opening}");
        }
        // The oldest kept event's predecessor is still a valid resume point.
        let oldest = REPLAY_EVENTS as u32 + 2 - REPLAY_EVENTS as u32;
        assert!(!text(&hub.subscribe(Some(&format!("i1.{oldest}"))).opening).contains("resync"));
    }

    #[test]
    fn sdk_forms_of_the_bus_events() {
        let before = datetime!(2026-12-03 10:00:00.25 UTC);
        let form =
            feed_form(&BusEvent::UserSessionsEnded { user_id: "u".into(), before, keep_session_id: Some("k".into()) });
        assert_eq!(
            form,
            Some((
                "user_sessions_ended",
                json!({ "user_id": "u", "before": "2026-12-03T10:00:00.25Z", "keep_session_id": "k" })
            ))
        );
        let form = feed_form(&BusEvent::SessionRefreshed {
            session_id: "s".into(),
            user_id: "u".into(),
            expires_at: datetime!(2026-12-03 11:00:00 UTC),
        });
        assert_eq!(form.map(|f| f.1["expires_at"].clone()), Some(json!(1_796_295_600)));
        assert_eq!(feed_form(&BusEvent::KeysRotated { kid: "k2".into() }).map(|f| f.0), Some("keys_rotated"));
        assert!(feed_form(&BusEvent::ConfigChanged { version: 2 }).is_none());
        assert!(feed_form(&BusEvent::FamilyEnded { family_id: "f".into() }).is_none());
    }

    #[tokio::test]
    async fn live_events_follow_the_opening_and_close_ends_the_stream() {
        let hub = EventHub::new("i1".into(), Arc::new(uap_ports::SystemClock));
        let mut stream = Box::pin(hub.subscribe(None).live(hub.clone(), HEARTBEAT));
        assert!(text(&stream.next().await.unwrap().unwrap()).starts_with("event: ready"));
        hub.publish(&ended(7));
        assert!(text(&stream.next().await.unwrap().unwrap()).starts_with("id: i1.1\nevent: session_ended"));
        hub.close();
        assert!(stream.next().await.is_none());
    }

    #[tokio::test]
    async fn a_consumer_that_falls_behind_is_dropped() {
        let hub = EventHub::new("i1".into(), Arc::new(uap_ports::SystemClock));
        let mut stream = Box::pin(hub.subscribe(None).live(hub.clone(), HEARTBEAT));
        let _ready = stream.next().await;
        for n in 0..=(CONSUMER_BACKLOG as u32 + 1) {
            hub.publish(&ended(n));
        }
        assert!(stream.next().await.is_none());
    }

    #[tokio::test]
    async fn an_idle_connection_gets_heartbeats() {
        let hub = EventHub::new("i1".into(), Arc::new(uap_ports::SystemClock));
        let mut stream = Box::pin(hub.subscribe(None).live(hub.clone(), Duration::from_millis(20)));
        let _ready = stream.next().await;
        let beat = text(&stream.next().await.unwrap().unwrap());
        assert!(beat.starts_with("event: heartbeat\ndata: {\"time\":"), "{beat}");
    }
}
