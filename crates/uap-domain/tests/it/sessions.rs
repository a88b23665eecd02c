//! Session rules over the in-memory store and a manual clock: expiry, idle
//! timeout, refresh rotation, reuse grace and theft detection.

use futures::executor::block_on;
use serde_json::json;
use time::Duration;
use uap_domain::config::Settings;
use uap_domain::session::{ClientContext, IssuedSession, NewSession, Rejection, SessionError};
use uap_ports::{AuditEventType, SessionStore};

use crate::fakes::{World, fast_settings, world};

fn login(w: &World) -> IssuedSession {
    let new = NewSession {
        user_id: "u1".into(),
        roles: vec!["user".into()],
        user_data: json!({"id": "u1"}),
        device_id: Some("phone".into()),
    };
    block_on(w.auth.sessions().create(new, &ClientContext::default())).unwrap()
}

fn rejection(result: Result<impl std::fmt::Debug, SessionError>) -> Rejection {
    match result {
        Err(SessionError::Rejected(r)) => r,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn expiry_rejects_and_audits_once() {
    let w = world(fast_settings());
    let s = login(&w);
    let sessions = w.auth.sessions();
    let client = ClientContext::default();
    assert!(block_on(sessions.validate(&s.token, &client)).is_ok());
    w.clock.advance(Duration::seconds(3601));
    assert!(matches!(rejection(block_on(sessions.validate(&s.token, &client))), Rejection::Token(_)));
    assert!(matches!(rejection(block_on(sessions.validate(&s.token, &client))), Rejection::Token(_)));
    assert_eq!(w.events.of(AuditEventType::SessionExpired).len(), 1);
    assert_eq!(block_on(w.store.get(&s.session_id)).unwrap(), None);
}

#[test]
fn idle_timeout_ends_quiet_sessions_and_activity_keeps_them() {
    let w = world(Settings { idle_timeout: 600, ..fast_settings() });
    let s = login(&w);
    let sessions = w.auth.sessions();
    let client = ClientContext::default();
    for _ in 0..5 {
        w.clock.advance(Duration::seconds(500));
        assert!(block_on(sessions.validate(&s.token, &client)).is_ok(), "activity within the timeout");
    }
    w.clock.advance(Duration::seconds(601));
    assert_eq!(rejection(block_on(sessions.validate(&s.token, &client))), Rejection::IdleTimeout);
    let expired = w.events.of(AuditEventType::SessionExpired);
    assert_eq!(expired[0].error_message.as_deref(), Some("idle_timeout"));
}

#[test]
fn refresh_rotates_with_grace_then_detects_theft() {
    let w = world(fast_settings());
    let s = login(&w);
    let sessions = w.auth.sessions();
    let client = ClientContext::default();
    let rt = s.refresh_token.clone().unwrap();

    w.clock.advance(Duration::seconds(5));
    let next = block_on(sessions.refresh_with_refresh_token(&rt, &client)).unwrap();
    assert_ne!(next.session_id, s.session_id);
    assert_eq!(rejection(block_on(sessions.validate(&s.token, &client))), Rejection::Rotated);
    assert!(block_on(sessions.validate(&next.token, &client)).is_ok());
    assert_eq!(next.expires_at, s.expires_at + Duration::seconds(5), "same lifetime from the refresh");

    // A parallel tab within the grace gets the very same successor.
    w.clock.advance(Duration::seconds(9));
    let again = block_on(sessions.refresh_with_refresh_token(&rt, &client)).unwrap();
    assert_eq!(again.session_id, next.session_id);
    assert_eq!(again.refresh_token, next.refresh_token);
    assert!(w.events.of(AuditEventType::SuspiciousActivity).is_empty());

    // After the grace: stolen. The whole chain ends.
    w.clock.advance(Duration::seconds(2));
    assert_eq!(rejection(block_on(sessions.refresh_with_refresh_token(&rt, &client))), Rejection::RefreshReused);
    assert_eq!(w.events.of(AuditEventType::SuspiciousActivity).len(), 1);
    assert_eq!(rejection(block_on(sessions.validate(&next.token, &client))), Rejection::NotFound);
}

#[test]
fn refresh_tokens_expire_and_can_be_disabled() {
    let w = world(Settings { refresh_token_duration: 100, ..fast_settings() });
    let s = login(&w);
    w.clock.advance(Duration::seconds(101));
    let rt = s.refresh_token.unwrap();
    assert_eq!(
        rejection(block_on(w.auth.sessions().refresh_with_refresh_token(&rt, &ClientContext::default()))),
        Rejection::RefreshExpired
    );
    assert_eq!(
        rejection(block_on(w.auth.sessions().refresh_with_refresh_token("x.y", &ClientContext::default()))),
        Rejection::RefreshInvalid
    );

    let w = world(Settings { refresh_tokens: false, ..fast_settings() });
    let s = login(&w);
    assert!(s.refresh_token.is_none() && s.refresh_expires_at.is_none());
    assert_eq!(
        rejection(block_on(w.auth.sessions().refresh_with_token(&s.token, &ClientContext::default()))),
        Rejection::RefreshDisabled
    );
}

#[test]
fn logout_accepts_an_expired_token_and_reports_a_missing_session() {
    let w = world(fast_settings());
    let s = login(&w);
    let sessions = w.auth.sessions();
    let client = ClientContext::default();
    w.clock.advance(Duration::seconds(7200));
    assert!(block_on(sessions.logout(&s.token, &client)).unwrap());
    assert!(!block_on(sessions.logout(&s.token, &client)).unwrap());
    assert!(matches!(rejection(block_on(sessions.logout("garbage", &client))), Rejection::Token(_)));
}

#[test]
fn single_device_policy_and_listing() {
    let w = world(Settings { multi_device_sessions: false, ..fast_settings() });
    let first = login(&w);
    let second = login(&w);
    let client = ClientContext::default();
    assert_eq!(rejection(block_on(w.auth.sessions().validate(&first.token, &client))), Rejection::NotFound);
    let list = block_on(w.auth.sessions().list(&second.token, &client)).unwrap();
    assert_eq!(list.len(), 1);
    assert!(list[0].current);

    let w = world(fast_settings());
    let a = login(&w);
    w.clock.advance(Duration::seconds(1));
    let b = login(&w);
    let list = block_on(w.auth.sessions().list(&a.token, &client)).unwrap();
    assert_eq!(list.iter().map(|s| s.current).collect::<Vec<_>>(), [false, true], "newest first");
    assert_eq!(list[0].record.session_id, b.session_id);
    assert_eq!(block_on(w.auth.sessions().logout_all(&b.token, &client)).unwrap(), 2);
}
