//! Unit tests of every revocation rule, liveness and the bounded cache.

use std::time::{Duration, Instant};

use serde_json::Map;

use super::*;

fn claims(session: &str, user: &str, iat: i64, exp: i64) -> Claims {
    Claims { session_id: session.into(), user_id: user.into(), exp, iat }
}

fn user(session: &str, user: &str) -> AuthenticatedUser {
    AuthenticatedUser {
        user_id: user.into(),
        session_id: session.into(),
        user_data: Map::new(),
        roles: vec!["admin".into()],
        expires_at: None,
    }
}

fn sse(event: &str, data: &str) -> SseEvent {
    SseEvent { event: event.into(), data: data.into(), id: None }
}

fn live_state(now: Instant) -> State {
    let mut state = State::new(Duration::from_secs(3600), 100);
    state.touch(now);
    state.apply(&FeedEvent::Ready { heartbeat: Duration::from_secs(15) }, false, now);
    state
}

#[test]
fn events_decode_from_their_documented_data() {
    assert_eq!(
        FeedEvent::parse(&sse("ready", r#"{"instance":"a","heartbeat_seconds":2}"#)),
        Ok(FeedEvent::Ready { heartbeat: Duration::from_secs(2) })
    );
    assert_eq!(
        FeedEvent::parse(&sse("session_ended", r#"{"session_id":"s","user_id":"u"}"#)),
        Ok(FeedEvent::SessionEnded { session_id: "s".into(), user_id: "u".into() })
    );
    assert_eq!(
        FeedEvent::parse(&sse(
            "user_sessions_ended",
            r#"{"user_id":"u","before":"2026-01-01T00:00:10.900Z","keep_session_id":null}"#
        )),
        Ok(FeedEvent::UserSessionsEnded { user_id: "u".into(), before: 1_767_225_610, keep: None })
    );
    assert_eq!(
        FeedEvent::parse(&sse("session_refreshed", r#"{"session_id":"s","user_id":"u","expires_at":99}"#)),
        Ok(FeedEvent::SessionRefreshed { session_id: "s".into(), user_id: "u".into(), expires_at: 99 })
    );
    assert_eq!(FeedEvent::parse(&sse("keys_rotated", r#"{"kid":"k"}"#)), Ok(FeedEvent::KeysRotated));
    assert_eq!(FeedEvent::parse(&sse("resync", "{}")), Ok(FeedEvent::Resync));
    assert_eq!(FeedEvent::parse(&sse("something_new", "{}")), Ok(FeedEvent::Unknown));
    let broken = FeedEvent::parse(&sse("session_ended", r#"{"session":"s"}"#)).unwrap_err();
    assert!(broken.contains("session_ended"), "{broken}");
}

#[test]
fn live_only_after_ready_and_while_bytes_arrive_in_time() {
    let now = Instant::now();
    let mut state = State::new(Duration::from_secs(3600), 10);
    state.touch(now);
    assert!(!state.is_live(now), "not live before ready");
    state.apply(&FeedEvent::Ready { heartbeat: Duration::from_secs(1) }, false, now);
    assert!(state.is_live(now));
    assert!(state.is_live(now + Duration::from_secs(7)), "2 × 1 s + 5 s of silence is tolerated");
    assert!(!state.is_live(now + Duration::from_secs(8)), "beyond it the feed is down");
    state.connection_lost();
    assert!(!state.is_live(now));
}

#[test]
fn first_sight_is_unknown_then_cached_until_an_event_about_the_session() {
    let now = Instant::now();
    let mut state = live_state(now);
    let token = claims("s1", "u1", 100, 200);
    assert_eq!(state.check(&token), Verdict::Unknown);
    assert!(state.remember(&token, &user("s1", "u1")));
    assert_eq!(state.check(&token), Verdict::Cached(user("s1", "u1")));
    state.apply(&FeedEvent::SessionEnded { session_id: "s1".into(), user_id: "u1".into() }, false, now);
    assert_eq!(state.check(&token), Verdict::Revoked);
    assert_eq!(state.cached(), 0);
}

#[test]
fn a_session_ended_while_its_first_validation_was_in_flight_is_not_cached() {
    let now = Instant::now();
    let mut state = live_state(now);
    let token = claims("s1", "u1", 100, 200);
    assert_eq!(state.check(&token), Verdict::Unknown);
    state.apply(&FeedEvent::SessionEnded { session_id: "s1".into(), user_id: "u1".into() }, false, now);
    assert!(!state.remember(&token, &user("s1", "u1")));
    assert_eq!(state.cached(), 0);
}

#[test]
fn user_cutoffs_follow_the_whole_second_rules() {
    let now = Instant::now();
    let mut state = live_state(now);
    for (session, iat) in [("old", 99), ("same", 100), ("new", 101), ("kept", 50)] {
        state.remember(&claims(session, "u1", iat, 500), &user(session, "u1"));
    }
    state.remember(&claims("other", "u2", 10, 500), &user("other", "u2"));
    state.apply(
        &FeedEvent::UserSessionsEnded { user_id: "u1".into(), before: 100, keep: Some("kept".into()) },
        false,
        now,
    );
    assert_eq!(state.check(&claims("old", "u1", 99, 500)), Verdict::Revoked);
    assert_eq!(state.check(&claims("same", "u1", 100, 500)), Verdict::AskServer);
    // Issued after the cut-off: its cache entry was dropped with the user's, so UAP is asked once more.
    assert_eq!(state.check(&claims("new", "u1", 101, 500)), Verdict::Unknown);
    assert_eq!(state.check(&claims("kept", "u1", 50, 500)), Verdict::Cached(user("kept", "u1")));
    assert_eq!(state.check(&claims("other", "u2", 10, 500)), Verdict::Cached(user("other", "u2")));
    // An AskServer answer is not cached, and the cut-off still applies to a re-remembered old token.
    assert!(!state.remember(&claims("old", "u1", 99, 500), &user("old", "u1")));
}

#[test]
fn a_refresh_keeps_only_the_token_with_the_new_exp() {
    let now = Instant::now();
    let mut state = live_state(now);
    state.remember(&claims("s1", "u1", 100, 200), &user("s1", "u1"));
    state.apply(
        &FeedEvent::SessionRefreshed { session_id: "s1".into(), user_id: "u1".into(), expires_at: 300 },
        false,
        now,
    );
    assert_eq!(state.check(&claims("s1", "u1", 100, 200)), Verdict::Revoked);
    assert_eq!(state.check(&claims("s1", "u1", 150, 300)), Verdict::Unknown);
}

#[test]
fn resync_and_a_fresh_connection_clear_the_cache_but_a_resumed_one_does_not() {
    let now = Instant::now();
    let mut state = live_state(now);
    let token = claims("s1", "u1", 100, 200);
    state.remember(&token, &user("s1", "u1"));
    state.apply(&FeedEvent::Ready { heartbeat: Duration::from_secs(15) }, false, now);
    assert_eq!(state.cached(), 1, "resumed with Last-Event-ID: nothing was missed");
    state.apply(&FeedEvent::Resync, false, now);
    assert_eq!(state.check(&token), Verdict::Unknown);
    state.remember(&token, &user("s1", "u1"));
    state.apply(&FeedEvent::Ready { heartbeat: Duration::from_secs(15) }, true, now);
    assert_eq!(state.check(&token), Verdict::Unknown, "reconnected without Last-Event-ID: start over");
}

#[test]
fn the_cache_is_bounded_and_evicts_the_oldest() {
    let now = Instant::now();
    let mut state = State::new(Duration::from_secs(3600), 3);
    state.touch(now);
    for n in 0..5 {
        let session = format!("s{n}");
        state.remember(&claims(&session, "u", 1, 100), &user(&session, "u"));
    }
    assert_eq!(state.cached(), 3);
    assert_eq!(state.check(&claims("s0", "u", 1, 100)), Verdict::Unknown);
    assert_eq!(state.check(&claims("s1", "u", 1, 100)), Verdict::Unknown);
    assert!(matches!(state.check(&claims("s4", "u", 1, 100)), Verdict::Cached(_)));
    // Many removals and insertions keep the eviction queue bounded too.
    for n in 0..50 {
        let session = format!("t{n}");
        state.remember(&claims(&session, "u", 1, 100), &user(&session, "u"));
        state.apply(&FeedEvent::SessionEnded { session_id: session, user_id: "u".into() }, false, now);
    }
    assert!(state.cache.order.len() <= 6, "{}", state.cache.order.len());
}

#[test]
fn revocations_are_forgotten_after_the_retention() {
    let start = Instant::now();
    let mut state = State::new(Duration::from_secs(120), 10);
    state.apply(&FeedEvent::SessionEnded { session_id: "s1".into(), user_id: "u1".into() }, false, start);
    state.apply(&FeedEvent::UserSessionsEnded { user_id: "u2".into(), before: 100, keep: None }, false, start);
    assert_eq!(state.check(&claims("s1", "u1", 1, 100)), Verdict::Revoked);
    let later = start + Duration::from_secs(200);
    state.apply(&FeedEvent::Heartbeat, false, later);
    assert_eq!(state.check(&claims("s1", "u1", 1, 100)), Verdict::Unknown);
    assert_eq!(state.check(&claims("s2", "u2", 1, 100)), Verdict::Unknown);
}
