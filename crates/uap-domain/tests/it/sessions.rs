//! Session rules over the in-memory store and a manual clock: expiry, idle
//! timeout, refresh rotation, reuse grace and theft detection, the host-user
//! re-check and the chain's limits on refresh.

use futures::executor::block_on;
use serde_json::json;
use time::Duration;
use uap_domain::session::{ClientContext, IssuedSession, NewSession, Rejection, SessionError};
use uap_ports::{AuditEventType, BusEvent, Clock, SessionStore};

use crate::fakes::{World, fast_settings, world};

const HASH: &str = "$2b$04$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01";

/// A session of host user u1 (role `user`), as a login creates it.
fn login(w: &World) -> IssuedSession {
    if w.directory.hash_of("u1").is_none() {
        w.directory.add("u1", "ann", HASH, Some(true), &["user"]);
    }
    let hash = w.directory.hash_of("u1").unwrap();
    let new = NewSession {
        user_id: "u1".into(),
        roles: vec!["user".into()],
        user_data: json!({"id": "u1"}),
        device_id: Some("phone".into()),
        credential_fingerprint: Some(w.auth.sessions().credential_fingerprint(&hash)),
    };
    block_on(w.auth.sessions().create(new, &ClientContext::default())).unwrap()
}

fn set_user(w: &World, update: impl FnOnce(&mut uap_ports::HostUser)) {
    let mut users = w.directory.users.lock().unwrap();
    update(users.iter_mut().find(|u| u.id == "u1").unwrap());
}

fn rejection(result: Result<impl std::fmt::Debug, SessionError>) -> Rejection {
    match result {
        Err(SessionError::Rejected(r)) => r,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn expiry_rejects_and_changes_nothing() {
    let w = world(fast_settings());
    let s = login(&w);
    let client = ClientContext::default();
    assert!(block_on(w.auth.sessions().validate(&s.token, &client)).is_ok());
    w.clock.advance(Duration::seconds(3601));
    for _ in 0..2 {
        let expired = rejection(block_on(w.auth.sessions().validate(&s.token, &client)));
        assert_eq!(expired, Rejection::Token(uap_domain::session::TokenRejection::Expired));
    }
    assert!(w.events.of(AuditEventType::SessionExpired).is_empty(), "nothing ended");
    assert!(block_on(w.store.get(&s.session_id)).unwrap().is_some(), "the record stays");
    let next = block_on(w.auth.refresh_with_refresh_token(&s.refresh_token.unwrap(), &client)).unwrap();
    assert!(block_on(w.auth.sessions().validate(&next.token, &client)).is_ok(), "the refresh token still works");
}

#[test]
fn idle_timeout_ends_quiet_sessions_and_activity_keeps_them() {
    let w = world(fast_settings().sessions(|s| s.idle_timeout = Some(Duration::seconds(600))));
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
fn idle_timeout_applies_to_refresh_too() {
    let w = world(fast_settings().sessions(|s| s.idle_timeout = Some(Duration::seconds(600))));
    let s = login(&w);
    let client = ClientContext::default();
    let rt = s.refresh_token.clone().unwrap();
    w.clock.advance(Duration::seconds(601));
    assert_eq!(rejection(block_on(w.auth.refresh_with_refresh_token(&rt, &client))), Rejection::IdleTimeout);
    assert_eq!(block_on(w.store.get(&s.session_id)).unwrap(), None, "the session ended");
    assert_eq!(rejection(block_on(w.auth.refresh_with_refresh_token(&rt, &client))), Rejection::RefreshInvalid);

    let s = login(&w);
    w.clock.advance(Duration::seconds(601));
    assert_eq!(rejection(block_on(w.auth.refresh_with_token(&s.token, &client))), Rejection::IdleTimeout);
}

#[test]
fn refresh_rotates_with_grace_then_detects_theft() {
    let w = world(fast_settings());
    let s = login(&w);
    let sessions = w.auth.sessions();
    let client = ClientContext::default();
    let rt = s.refresh_token.clone().unwrap();

    w.clock.advance(Duration::seconds(5));
    let next = block_on(w.auth.refresh_with_refresh_token(&rt, &client)).unwrap();
    assert_ne!(next.session_id, s.session_id);
    assert_eq!(rejection(block_on(sessions.validate(&s.token, &client))), Rejection::Rotated);
    assert!(block_on(sessions.validate(&next.token, &client)).is_ok());
    assert_eq!(next.expires_at, s.expires_at + Duration::seconds(5), "same lifetime from the refresh");

    // A parallel tab within the grace gets the very same successor.
    w.clock.advance(Duration::seconds(9));
    let again = block_on(w.auth.refresh_with_refresh_token(&rt, &client)).unwrap();
    assert_eq!(again.session_id, next.session_id);
    assert_eq!(again.refresh_token, next.refresh_token);
    assert!(w.events.of(AuditEventType::SuspiciousActivity).is_empty());

    // After the grace: stolen. The whole chain ends.
    w.clock.advance(Duration::seconds(2));
    assert_eq!(rejection(block_on(w.auth.refresh_with_refresh_token(&rt, &client))), Rejection::RefreshReused);
    assert_eq!(w.events.of(AuditEventType::SuspiciousActivity).len(), 1);
    assert_eq!(rejection(block_on(sessions.validate(&next.token, &client))), Rejection::NotFound);
}

#[test]
fn refresh_tokens_expire_and_can_be_disabled() {
    let w = world(fast_settings().sessions(|s| s.refresh_duration = Duration::seconds(100)));
    let s = login(&w);
    w.clock.advance(Duration::seconds(101));
    let rt = s.refresh_token.unwrap();
    assert_eq!(
        rejection(block_on(w.auth.refresh_with_refresh_token(&rt, &ClientContext::default()))),
        Rejection::RefreshExpired
    );
    assert_eq!(
        rejection(block_on(w.auth.refresh_with_refresh_token("x.y", &ClientContext::default()))),
        Rejection::RefreshInvalid
    );

    let w = world(fast_settings().sessions(|s| s.refresh_tokens = false));
    let s = login(&w);
    assert!(s.refresh_token.is_none() && s.refresh_expires_at.is_none());
    assert_eq!(
        rejection(block_on(w.auth.refresh_with_token(&s.token, &ClientContext::default()))),
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
    let w = world(fast_settings().sessions(|s| s.multi_device = false));
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

#[test]
fn refresh_ends_the_chain_when_the_host_user_is_disabled_changed_or_gone() {
    let client = ClientContext::default();
    type Change = fn(&mut uap_ports::HostUser);
    let cases: [(&str, Change); 4] = [
        ("host_user_inactive", |u| u.active = Some(false)),
        ("credentials_changed", |u| u.password_hash = Some("$2b$04$another".into())),
        ("host_user_no_password", |u| u.password_hash = None),
        ("host_user_gone", |u| u.id = "u2".into()),
    ];
    for (reason, change) in cases {
        let w = world(fast_settings());
        let s = login(&w);
        let rt = s.refresh_token.clone().unwrap();
        w.clock.advance(Duration::seconds(5));
        let next = block_on(w.auth.refresh_with_refresh_token(&rt, &client)).unwrap();
        set_user(&w, change);
        w.clock.advance(Duration::seconds(5));
        let refused = block_on(w.auth.refresh_with_refresh_token(&next.refresh_token.clone().unwrap(), &client));
        assert_eq!(rejection(refused), Rejection::HostUserChanged, "{reason}");
        assert!(w.store.is_empty(), "{reason}: the whole chain ended");
        let ended = w.events.of(AuditEventType::SessionExpired);
        assert_eq!(ended.len(), 1, "{reason}");
        assert_eq!(ended[0].error_message.as_deref(), Some(reason));
    }

    // A session without a fingerprint (from before the upgrade) fails closed.
    let w = world(fast_settings());
    let s = login(&w);
    let record = block_on(w.store.get(&s.session_id)).unwrap().unwrap();
    block_on(w.store.create(&uap_ports::SessionRecord { credential_fingerprint: None, ..record })).unwrap();
    assert_eq!(rejection(block_on(w.auth.refresh_with_token(&s.token, &client))), Rejection::HostUserChanged);
}

#[test]
fn an_unreachable_directory_ends_nothing() {
    let w = world(fast_settings());
    let s = login(&w);
    let client = ClientContext::default();
    let rt = s.refresh_token.clone().unwrap();
    *w.directory.down.lock().unwrap() = true;
    assert!(matches!(block_on(w.auth.refresh_with_refresh_token(&rt, &client)), Err(SessionError::Directory(_))));
    assert!(matches!(block_on(w.auth.refresh_with_token(&s.token, &client)), Err(SessionError::Directory(_))));
    *w.directory.down.lock().unwrap() = false;
    assert!(block_on(w.auth.sessions().validate(&s.token, &client)).is_ok());
    assert!(block_on(w.auth.refresh_with_refresh_token(&rt, &client)).is_ok());
}

#[test]
fn refresh_derives_roles_user_data_and_duration_again() {
    let w = world(fast_settings());
    let s = login(&w);
    let client = ClientContext::default();
    set_user(&w, |u| u.roles = vec!["guest".into()]);
    w.clock.advance(Duration::seconds(10));
    let next = block_on(w.auth.refresh_with_refresh_token(&s.refresh_token.unwrap(), &client)).unwrap();
    assert_eq!(next.expires_at, w.clock.now() + Duration::seconds(1800), "the guest duration");
    assert_eq!(next.user_data["username"], "ann", "derived from the host row");
    assert!(next.user_data.get("password_hash").is_none());
    let valid = block_on(w.auth.sessions().validate(&next.token, &client)).unwrap();
    assert_eq!(valid.record.user_data, next.user_data);
}

#[test]
fn access_token_refresh_extends_in_place_and_ends_the_old_token() {
    let w = world(fast_settings());
    let s = login(&w);
    let client = ClientContext::default();
    w.clock.advance(Duration::seconds(30));
    let next = block_on(w.auth.refresh_with_token(&s.token, &client)).unwrap();
    assert_eq!(next.session_id, s.session_id, "the same session");
    assert!(next.refresh_token.is_none() && next.refresh_expires_at.is_none(), "no new refresh token");
    assert_eq!(next.expires_at, w.clock.now() + Duration::seconds(3600));
    assert_eq!(rejection(block_on(w.auth.sessions().validate(&s.token, &client))), Rejection::Rotated);
    assert_eq!(rejection(block_on(w.auth.refresh_with_token(&s.token, &client))), Rejection::Rotated, "no grace");
    assert!(block_on(w.auth.sessions().validate(&next.token, &client)).is_ok());

    // Twice within one second: the new token still differs from the old one.
    let again = block_on(w.auth.refresh_with_token(&next.token, &client)).unwrap();
    assert_ne!(again.expires_at.unix_timestamp(), next.expires_at.unix_timestamp());
    assert_eq!(rejection(block_on(w.auth.sessions().validate(&next.token, &client))), Rejection::Rotated);

    // The login's refresh token still works.
    let rotated = block_on(w.auth.refresh_with_refresh_token(&s.refresh_token.unwrap(), &client)).unwrap();
    assert!(rotated.refresh_token.is_some());
}

#[test]
fn the_chain_has_an_absolute_end() {
    let w = world(fast_settings().sessions(|s| {
        s.chain_max = Duration::seconds(10_000);
        s.refresh_duration = Duration::seconds(5000);
        s.max_duration = Duration::seconds(100_000);
    }));
    let s = login(&w);
    let client = ClientContext::default();
    w.clock.advance(Duration::seconds(4000));
    let a = block_on(w.auth.refresh_with_refresh_token(&s.refresh_token.unwrap(), &client)).unwrap();
    assert_eq!(a.refresh_expires_at, Some(w.clock.now() + Duration::seconds(5000)));
    w.clock.advance(Duration::seconds(4000));
    let b = block_on(w.auth.refresh_with_refresh_token(&a.refresh_token.unwrap(), &client)).unwrap();
    let login_time = w.clock.now() - Duration::seconds(8000);
    assert_eq!(b.refresh_expires_at, Some(login_time + Duration::seconds(10_000)), "capped by the chain");
    w.clock.advance(Duration::seconds(2000));
    let rt = b.refresh_token.unwrap();
    assert_eq!(rejection(block_on(w.auth.refresh_with_refresh_token(&rt, &client))), Rejection::RefreshExpired);
}

#[test]
fn max_session_duration_counts_from_the_login() {
    let w = world(fast_settings().sessions(|s| s.max_duration = Duration::seconds(5000)));
    let s = login(&w);
    let client = ClientContext::default();
    let login_time = w.clock.now();
    w.clock.advance(Duration::seconds(3000));
    let next = block_on(w.auth.refresh_with_refresh_token(&s.refresh_token.unwrap(), &client)).unwrap();
    assert_eq!(next.expires_at, login_time + Duration::seconds(5000));
    w.clock.advance(Duration::seconds(1000));
    let extended = block_on(w.auth.refresh_with_token(&next.token, &client));
    assert_eq!(rejection(extended), Rejection::Expired, "already at the cap: nothing to extend");
    w.clock.advance(Duration::seconds(1001));
    let rt = next.refresh_token.unwrap();
    assert_eq!(rejection(block_on(w.auth.refresh_with_refresh_token(&rt, &client))), Rejection::Expired);
}

/// What the bus heard since the last call.
fn announced(w: &World) -> Vec<BusEvent> {
    std::mem::take(&mut *w.announced.lock().unwrap())
}

fn ended(session_id: &str) -> BusEvent {
    BusEvent::SessionEnded { session_id: session_id.into(), user_id: "u1".into() }
}

#[test]
fn every_way_a_session_ends_is_announced() {
    let client = ClientContext::default();

    // Logout; a second logout of the same token announces nothing.
    let w = world(fast_settings());
    let s = login(&w);
    assert!(announced(&w).is_empty(), "a login ends nothing");
    assert!(block_on(w.auth.sessions().logout(&s.token, &client)).unwrap());
    assert!(!block_on(w.auth.sessions().logout(&s.token, &client)).unwrap());
    assert_eq!(announced(&w), [ended(&s.session_id)]);

    // Refresh rotation ends the old session; a refresh with the access
    // token keeps the session but only its new token.
    let s = login(&w);
    w.clock.advance(Duration::seconds(5));
    let next = block_on(w.auth.refresh_with_refresh_token(s.refresh_token.as_deref().unwrap(), &client)).unwrap();
    assert_eq!(announced(&w), [ended(&s.session_id)]);
    let extended = block_on(w.auth.refresh_with_token(&next.token, &client)).unwrap();
    assert_eq!(
        announced(&w),
        [BusEvent::SessionRefreshed {
            session_id: next.session_id.clone(),
            user_id: "u1".into(),
            expires_at: extended.expires_at,
        }]
    );

    // Theft: every session of the chain, and the chain itself.
    w.clock.advance(Duration::seconds(60));
    let reused = block_on(w.auth.refresh_with_refresh_token(s.refresh_token.as_deref().unwrap(), &client));
    assert_eq!(rejection(reused), Rejection::RefreshReused);
    let heard = announced(&w);
    assert!(heard.contains(&BusEvent::FamilyEnded { family_id: s.session_id.clone() }), "{heard:?}");
    assert!(heard.contains(&ended(&next.session_id)), "{heard:?}");

    // Logout-all: the cut-off is taken before the delete.
    let a = login(&w);
    let _b = login(&w);
    let before = w.clock.now();
    assert_eq!(block_on(w.auth.sessions().logout_all(&a.token, &client)).unwrap(), 2);
    assert_eq!(announced(&w), [BusEvent::UserSessionsEnded { user_id: "u1".into(), before, keep_session_id: None }]);

    // Idle timeout, seen by a validation.
    let w = world(fast_settings().sessions(|s| s.idle_timeout = Some(Duration::seconds(60))));
    let s = login(&w);
    w.clock.advance(Duration::seconds(61));
    assert_eq!(rejection(block_on(w.auth.sessions().validate(&s.token, &client))), Rejection::IdleTimeout);
    assert_eq!(announced(&w), [ended(&s.session_id)]);

    // The single-device policy keeps the new session only.
    let w = world(fast_settings().sessions(|s| s.multi_device = false));
    let _first = login(&w);
    let at = w.clock.now();
    let second = login(&w);
    assert_eq!(
        announced(&w),
        [BusEvent::UserSessionsEnded { user_id: "u1".into(), before: at, keep_session_id: Some(second.session_id) }]
    );

    // A chain ended by the host check on refresh.
    let w = world(fast_settings());
    let s = login(&w);
    set_user(&w, |u| u.active = Some(false));
    let refused = block_on(w.auth.refresh_with_refresh_token(s.refresh_token.as_deref().unwrap(), &client));
    assert!(refused.is_err());
    let heard = announced(&w);
    assert!(heard.contains(&ended(&s.session_id)), "{heard:?}");
}
