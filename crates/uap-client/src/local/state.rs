//! What the revocation feed taught us, and the session cache — free of I/O,
//! with `now` passed in, so every rule is unit-tested.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::sse::SseEvent;
use crate::models::{AuthenticatedUser, parse_time};

/// The claims of a verified session token that the local rules need.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Claims {
    pub session_id: String,
    pub user_id: String,
    pub exp: i64,
    pub iat: i64,
}

/// One event of `GET /api/v1/auth/events`, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FeedEvent {
    /// The feed is live; heartbeats come every `heartbeat` at the latest.
    Ready {
        heartbeat: Duration,
    },
    Heartbeat,
    SessionEnded {
        session_id: String,
        user_id: String,
    },
    /// Sessions of `user_id` issued before `before` (whole seconds, floored) ended,
    /// except `keep`.
    UserSessionsEnded {
        user_id: String,
        before: i64,
        keep: Option<String>,
    },
    /// Only the token of `session_id` whose `exp` is `expires_at` stays valid.
    SessionRefreshed {
        session_id: String,
        user_id: String,
        expires_at: i64,
    },
    KeysRotated,
    Resync,
    /// An event this SDK does not know (a newer server): ignored.
    Unknown,
}

#[derive(Deserialize)]
struct ReadyData {
    heartbeat_seconds: Option<u64>,
}

#[derive(Deserialize)]
struct SessionData {
    session_id: String,
    user_id: String,
}

#[derive(Deserialize)]
struct UserData {
    user_id: String,
    before: String,
    keep_session_id: Option<String>,
}

#[derive(Deserialize)]
struct RefreshedData {
    session_id: String,
    user_id: String,
    expires_at: i64,
}

impl FeedEvent {
    /// Decodes an SSE event.
    ///
    /// # Errors
    /// A message naming the event when its `data` is not the documented JSON.
    pub(crate) fn parse(event: &SseEvent) -> Result<Self, String> {
        fn data<'a, T: Deserialize<'a>>(event: &'a SseEvent) -> Result<T, String> {
            serde_json::from_str(&event.data)
                .map_err(|err| format!("event `{}` with unreadable data: {err}", event.event))
        }
        Ok(match event.event.as_str() {
            "ready" => {
                let ready: ReadyData = data(event)?;
                Self::Ready { heartbeat: Duration::from_secs(ready.heartbeat_seconds.unwrap_or(15).clamp(1, 3600)) }
            }
            "heartbeat" => Self::Heartbeat,
            "session_ended" => {
                let ended: SessionData = data(event)?;
                Self::SessionEnded { session_id: ended.session_id, user_id: ended.user_id }
            }
            "user_sessions_ended" => {
                let ended: UserData = data(event)?;
                let before = parse_time(&ended.before).ok_or_else(|| {
                    format!("event `user_sessions_ended` with an unreadable `before`: {:?}", ended.before)
                })?;
                Self::UserSessionsEnded {
                    user_id: ended.user_id,
                    before: before.unix_timestamp(),
                    keep: ended.keep_session_id,
                }
            }
            "session_refreshed" => {
                let refreshed: RefreshedData = data(event)?;
                Self::SessionRefreshed {
                    session_id: refreshed.session_id,
                    user_id: refreshed.user_id,
                    expires_at: refreshed.expires_at,
                }
            }
            "keys_rotated" => Self::KeysRotated,
            "resync" => Self::Resync,
            _ => Self::Unknown,
        })
    }
}

/// What the local rules say about a token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    /// A revocation event ended it: 401 without asking.
    Revoked,
    /// The rules cannot decide (issued in the very second of a cut-off): ask
    /// UAP and do not cache the answer.
    AskServer,
    /// Seen before and nothing happened to it since.
    Cached(AuthenticatedUser),
    /// First sight of this (session, exp): ask UAP once, then cache.
    Unknown,
}

struct Cutoff {
    before: i64,
    keep: Option<String>,
    at: Instant,
}

type CacheKey = (String, i64);

/// The session cache: at most `capacity` entries, oldest evicted first.
struct Cache {
    /// (session, exp) → (the user, the token's `user_id` claim, insertion number).
    entries: HashMap<CacheKey, (AuthenticatedUser, String, u64)>,
    order: VecDeque<(CacheKey, u64)>,
    next: u64,
    capacity: usize,
}

impl Cache {
    fn new(capacity: usize) -> Self {
        Self { entries: HashMap::new(), order: VecDeque::new(), next: 0, capacity: capacity.max(1) }
    }

    fn insert(&mut self, key: CacheKey, user: AuthenticatedUser, owner: String) {
        self.next += 1;
        self.entries.insert(key.clone(), (user, owner, self.next));
        self.order.push_back((key, self.next));
        while self.entries.len() > self.capacity {
            let Some((oldest, seq)) = self.order.pop_front() else { break };
            if self.entries.get(&oldest).is_some_and(|(_, _, current)| *current == seq) {
                self.entries.remove(&oldest);
            }
        }
        // Entries removed by events leave stale marks behind: drop them.
        if self.order.len() > 2 * self.capacity {
            let entries = &self.entries;
            self.order.retain(|(key, seq)| entries.get(key).is_some_and(|(_, _, current)| current == seq));
        }
    }

    fn retain(&mut self, keep: impl Fn(&CacheKey, &str) -> bool) {
        self.entries.retain(|key, (_, owner, _)| keep(key, owner));
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
    }
}

/// The local view of revocations and the session cache.
pub(crate) struct State {
    /// Connected and `ready` seen on the current connection.
    ready: bool,
    last_byte: Option<Instant>,
    heartbeat: Duration,
    pub(crate) last_event_id: Option<String>,
    ended: HashMap<String, Instant>,
    cutoffs: HashMap<String, Vec<Cutoff>>,
    refreshed: HashMap<String, (i64, Instant)>,
    cache: Cache,
    retention: Duration,
    last_prune: Option<Instant>,
}

impl State {
    pub(crate) fn new(retention: Duration, capacity: usize) -> Self {
        Self {
            ready: false,
            last_byte: None,
            heartbeat: Duration::from_secs(15),
            last_event_id: None,
            ended: HashMap::new(),
            cutoffs: HashMap::new(),
            refreshed: HashMap::new(),
            cache: Cache::new(capacity),
            retention,
            last_prune: None,
        }
    }

    /// How long the feed may stay silent before it counts as down:
    /// 2 × heartbeat + 5 s.
    pub(crate) fn silence_limit(&self) -> Duration {
        self.heartbeat * 2 + Duration::from_secs(5)
    }

    /// Whether tokens may be checked locally: `ready` seen on the current
    /// connection and a byte received within the silence limit.
    pub(crate) fn is_live(&self, now: Instant) -> bool {
        self.ready && self.last_byte.is_some_and(|last| now.saturating_duration_since(last) <= self.silence_limit())
    }

    /// A byte arrived on the feed.
    pub(crate) fn touch(&mut self, now: Instant) {
        self.last_byte = Some(now);
    }

    /// The connection ended (or went silent): remote validation until the next `ready`.
    pub(crate) fn connection_lost(&mut self) {
        self.ready = false;
    }

    /// Number of cached validations (for tests and the bench).
    pub(crate) fn cached(&self) -> usize {
        self.cache.entries.len()
    }

    /// Applies one event. `fresh_connection`: this connection was opened
    /// without `Last-Event-ID`, so whatever happened while disconnected is
    /// unknown — its `ready` clears the cache like a `resync`.
    pub(crate) fn apply(&mut self, event: &FeedEvent, fresh_connection: bool, now: Instant) {
        match event {
            FeedEvent::Ready { heartbeat } => {
                self.heartbeat = *heartbeat;
                if fresh_connection {
                    self.cache.clear();
                }
                self.ready = true;
            }
            FeedEvent::Heartbeat | FeedEvent::KeysRotated | FeedEvent::Unknown => {}
            FeedEvent::SessionEnded { session_id, .. } => {
                self.ended.insert(session_id.clone(), now);
                self.cache.retain(|(session, _), _| session != session_id);
            }
            FeedEvent::UserSessionsEnded { user_id, before, keep } => {
                self.cutoffs.entry(user_id.clone()).or_default().push(Cutoff {
                    before: *before,
                    keep: keep.clone(),
                    at: now,
                });
                self.cache.retain(|(session, _), owner| owner != user_id || keep.as_ref() == Some(session));
            }
            FeedEvent::SessionRefreshed { session_id, expires_at, .. } => {
                self.refreshed.insert(session_id.clone(), (*expires_at, now));
                self.cache.retain(|(session, exp), _| session != session_id || exp == expires_at);
            }
            FeedEvent::Resync => self.cache.clear(),
        }
        self.prune(now);
    }

    /// Forgets every cached validation (an event that could not be read).
    pub(crate) fn clear_cache(&mut self) {
        self.cache.clear();
    }

    /// Drops what is older than the retention (at most once a minute).
    fn prune(&mut self, now: Instant) {
        if self.last_prune.is_some_and(|last| now.saturating_duration_since(last) < Duration::from_secs(60)) {
            return;
        }
        self.last_prune = Some(now);
        let retention = self.retention;
        let fresh = |at: &Instant| now.saturating_duration_since(*at) <= retention;
        self.ended.retain(|_, at| fresh(at));
        self.refreshed.retain(|_, (_, at)| fresh(at));
        self.cutoffs.retain(|_, cutoffs| {
            cutoffs.retain(|cutoff| fresh(&cutoff.at));
            !cutoffs.is_empty()
        });
    }

    /// The revocation rules alone.
    fn revocation(&self, claims: &Claims) -> Option<Verdict> {
        if self.ended.contains_key(&claims.session_id) {
            return Some(Verdict::Revoked);
        }
        if let Some((expires_at, _)) = self.refreshed.get(&claims.session_id)
            && *expires_at != claims.exp
        {
            return Some(Verdict::Revoked);
        }
        let mut ask = false;
        for cutoff in self.cutoffs.get(&claims.user_id).into_iter().flatten() {
            if cutoff.keep.as_deref() == Some(claims.session_id.as_str()) {
                continue;
            }
            if claims.iat < cutoff.before {
                return Some(Verdict::Revoked);
            }
            ask |= claims.iat == cutoff.before;
        }
        ask.then_some(Verdict::AskServer)
    }

    /// What the local rules say about a verified token.
    pub(crate) fn check(&self, claims: &Claims) -> Verdict {
        if let Some(verdict) = self.revocation(claims) {
            return verdict;
        }
        match self.cache.entries.get(&(claims.session_id.clone(), claims.exp)) {
            Some((user, _, _)) => Verdict::Cached(user.clone()),
            None => Verdict::Unknown,
        }
    }

    /// Caches UAP's answer for a token seen for the first time, unless an
    /// event that arrived meanwhile revoked it; `false` then.
    pub(crate) fn remember(&mut self, claims: &Claims, user: &AuthenticatedUser) -> bool {
        match self.revocation(claims) {
            Some(Verdict::Revoked) => false,
            Some(_) => true,
            None => {
                self.cache.insert((claims.session_id.clone(), claims.exp), user.clone(), claims.user_id.clone());
                true
            }
        }
    }
}

#[cfg(test)]
mod tests;
