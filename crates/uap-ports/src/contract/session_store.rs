//! The [`SessionStore`] contract.
//!
//! Semantics pinned here (beyond the trait's docs): `touch` and `delete` of an
//! unknown id succeed (`delete` returning `false`); `delete_user_sessions` and
//! `delete_family` count the records they removed; `list_user_sessions` returns
//! records in any state and any order; a second `rotate` of the same id stores
//! nothing and reports the first successor; `purge_expired(now)` removes exactly
//! the records whose `retain_until()` is strictly before `now`; `extend` is a
//! compare-and-set on `expires_at` of an active record that also moves its
//! retention (so purge keeps it).

use std::sync::Arc;

use serde_json::json;
use time::{Duration, OffsetDateTime};

use super::{Ids, micros};
use crate::{RotateOutcome, SessionRecord, SessionState, SessionStore};

/// Runs every check of this suite against `store`, with `now` as the current
/// instant (truncated to microseconds).
///
/// # Panics
/// When the store breaks the contract (that is the point).
pub async fn run_all(store: &dyn SessionStore, now: OffsetDateTime) {
    let now = micros(now);
    health(store).await;
    create_get_round_trip(store, now).await;
    touch_updates_last_activity(store, now).await;
    delete_reports_existence(store, now).await;
    delete_user_sessions_with_and_without_keep(store, now).await;
    delete_family_ends_the_chain_only(store, now).await;
    list_returns_every_state(store, now).await;
    rotate_once_then_already_rotated(store, now).await;
    rotate_unknown_is_not_found(store, now).await;
    purge_expired_uses_retain_until(store, now).await;
    users_are_isolated(store, now).await;
    extend_is_a_compare_and_set(store, now).await;
    count_active_counts_live_active_sessions(store, now).await;
}

/// A login record of `user` with every optional field set.
fn full_record(id: &str, user: &str, now: OffsetDateTime) -> SessionRecord {
    SessionRecord {
        session_id: id.to_owned(),
        user_id: user.to_owned(),
        device_id: Some("device-1 ' \" ; --".to_owned()),
        created_at: now,
        expires_at: now + Duration::hours(1),
        last_activity: now,
        ip_address: Some("2001:db8::1".to_owned()),
        user_agent: Some("Mozilla/5.0 (X11; Linux) «ünïcödé» '); DROP TABLE x; --".to_owned()),
        user_data: Arc::new(json!({
            "id": 42,
            "username": user,
            "email": "a@example.com",
            "roles": ["admin", "user"],
            "nested": {"flag": true, "none": null, "ratio": 1.5},
        })),
        family_id: id.to_owned(),
        refresh_expires_at: Some(now + Duration::days(30)),
        state: SessionState::Active,
        auth_time: now - Duration::hours(2) - Duration::microseconds(1),
        credential_fingerprint: Some("x2zF0r-8qg_AbCdEfGhIjA".to_owned()),
    }
}

/// A record of `user` with every optional field empty.
fn bare_record(id: &str, user: &str, now: OffsetDateTime) -> SessionRecord {
    SessionRecord {
        session_id: id.to_owned(),
        user_id: user.to_owned(),
        device_id: None,
        created_at: now,
        expires_at: now + Duration::minutes(30),
        last_activity: now,
        ip_address: None,
        user_agent: None,
        user_data: Arc::new(json!({})),
        family_id: id.to_owned(),
        refresh_expires_at: None,
        state: SessionState::Active,
        auth_time: now,
        credential_fingerprint: None,
    }
}

async fn create(store: &dyn SessionStore, record: &SessionRecord) {
    store.create(record).await.unwrap_or_else(|e| panic!("create {}: {e}", record.session_id));
}

async fn get(store: &dyn SessionStore, id: &str) -> Option<SessionRecord> {
    store.get(id).await.unwrap_or_else(|e| panic!("get {id}: {e}"))
}

async fn ids_of_user(store: &dyn SessionStore, user: &str) -> Vec<String> {
    let mut ids: Vec<String> = store
        .list_user_sessions(user)
        .await
        .unwrap_or_else(|e| panic!("list {user}: {e}"))
        .into_iter()
        .map(|r| r.session_id)
        .collect();
    ids.sort();
    ids
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// `health` answers.
pub async fn health(store: &dyn SessionStore) {
    assert!(store.health().await.is_ok(), "health of a working store");
}

/// `create` then `get` returns every field unchanged; an unknown id is `None`.
pub async fn create_get_round_trip(store: &dyn SessionStore, now: OffsetDateTime) {
    let mut ids = Ids::new(now, 1);
    let user = ids.user("roundtrip");
    let full = full_record(&ids.next(), &user, now);
    let bare = bare_record(&ids.next(), &user, now);
    create(store, &full).await;
    create(store, &bare).await;
    assert_eq!(get(store, &full.session_id).await, Some(full.clone()), "full record");
    assert_eq!(get(store, &bare.session_id).await, Some(bare), "bare record");
    assert_eq!(get(store, &ids.next()).await, None, "unknown id");

    let rotated = SessionRecord {
        state: SessionState::Rotated { successor_id: full.session_id.clone(), at: now + Duration::seconds(5) },
        ..full_record(&ids.next(), &user, now)
    };
    create(store, &rotated).await;
    assert_eq!(get(store, &rotated.session_id).await, Some(rotated), "rotated record");

    let owned = store.get_owned(&full.session_id, &user).await.expect("get_owned");
    assert_eq!(owned, Some(full.clone()), "get_owned by its user");
    let other = store.get_owned(&full.session_id, &ids.user("someone-else")).await.expect("get_owned");
    assert_eq!(other, None, "get_owned by another user");
    assert_eq!(store.get_owned(&ids.next(), &user).await.expect("get_owned"), None, "get_owned of an unknown id");
}

/// `touch` sets `last_activity` only; touching an unknown id is not an error.
pub async fn touch_updates_last_activity(store: &dyn SessionStore, now: OffsetDateTime) {
    let mut ids = Ids::new(now, 2);
    let record = full_record(&ids.next(), &ids.user("touch"), now);
    create(store, &record).await;
    let at = now + Duration::seconds(61) + Duration::microseconds(7);
    store.touch(&record.session_id, at).await.expect("touch");
    let expected = SessionRecord { last_activity: at, ..record };
    assert_eq!(get(store, &expected.session_id).await, Some(expected));
    assert!(store.touch(&ids.next(), at).await.is_ok(), "touch of an unknown id");
}

/// `delete` ends one session and says whether it existed.
pub async fn delete_reports_existence(store: &dyn SessionStore, now: OffsetDateTime) {
    let mut ids = Ids::new(now, 3);
    let user = ids.user("delete");
    let gone = bare_record(&ids.next(), &user, now);
    let kept = bare_record(&ids.next(), &user, now);
    create(store, &gone).await;
    create(store, &kept).await;
    assert!(store.delete(&gone.session_id).await.expect("delete"), "existed");
    assert_eq!(get(store, &gone.session_id).await, None);
    assert!(!store.delete(&gone.session_id).await.expect("delete again"), "already gone");
    assert_eq!(get(store, &kept.session_id).await, Some(kept), "other session kept");
}

/// `delete_user_sessions` ends every session of the user but `keep`, counts
/// the active ones it ended, and removes the user's rotated records too.
pub async fn delete_user_sessions_with_and_without_keep(store: &dyn SessionStore, now: OffsetDateTime) {
    let mut ids = Ids::new(now, 4);
    let user = ids.user("logout-all");
    let other = ids.user("bystander");
    let mine: Vec<SessionRecord> = (0..3).map(|_| bare_record(&ids.next(), &user, now)).collect();
    let theirs = bare_record(&ids.next(), &other, now);
    for r in &mine {
        create(store, r).await;
    }
    create(store, &theirs).await;
    // mine[2] is spent: rotated into an active successor.
    let successor = bare_record(&ids.next(), &user, now);
    let rotated = store.rotate(&mine[2].session_id, &successor, now).await.expect("rotate");
    assert_eq!(rotated, RotateOutcome::Rotated);

    let keep = mine[0].session_id.as_str();
    let ended = store.delete_user_sessions(&user, Some(keep)).await.expect("delete_user_sessions with keep");
    assert_eq!(ended, 2, "all active ones but the kept one; the rotated record is not counted");
    assert_eq!(ids_of_user(store, &user).await, vec![keep.to_owned()]);

    let ended = store.delete_user_sessions(&user, None).await.expect("delete_user_sessions");
    assert_eq!(ended, 1, "the kept one too");
    assert!(ids_of_user(store, &user).await.is_empty());
    assert_eq!(get(store, &theirs.session_id).await, Some(theirs), "other user untouched");

    let ended =
        store.delete_user_sessions(&ids.user("nobody"), None).await.expect("delete_user_sessions of an unknown user");
    assert_eq!(ended, 0);
}

/// `delete_family` ends every record of one refresh chain and nothing else.
pub async fn delete_family_ends_the_chain_only(store: &dyn SessionStore, now: OffsetDateTime) {
    let mut ids = Ids::new(now, 5);
    let user = ids.user("family");
    let root = full_record(&ids.next(), &user, now);
    let child = SessionRecord { family_id: root.session_id.clone(), ..full_record(&ids.next(), &user, now) };
    let unrelated = full_record(&ids.next(), &user, now);
    for r in [&root, &child, &unrelated] {
        create(store, r).await;
    }
    let ended = store.delete_family(&root.session_id).await.expect("delete_family");
    assert_eq!(ended, 2);
    assert_eq!(get(store, &root.session_id).await, None);
    assert_eq!(get(store, &child.session_id).await, None);
    assert_eq!(get(store, &unrelated.session_id).await, Some(unrelated));
    assert_eq!(store.delete_family(&ids.next()).await.expect("unknown family"), 0);
}

/// `list_user_sessions` returns the user's records in every state.
pub async fn list_returns_every_state(store: &dyn SessionStore, now: OffsetDateTime) {
    let mut ids = Ids::new(now, 6);
    let user = ids.user("list");
    let first = full_record(&ids.next(), &user, now);
    let second = bare_record(&ids.next(), &user, now);
    create(store, &first).await;
    create(store, &second).await;
    let successor = SessionRecord { family_id: first.session_id.clone(), ..full_record(&ids.next(), &user, now) };
    let at = now + Duration::seconds(1);
    assert_eq!(store.rotate(&first.session_id, &successor, at).await.expect("rotate"), RotateOutcome::Rotated);

    let mut listed = store.list_user_sessions(&user).await.expect("list");
    listed.sort_by(|a, b| a.session_id.cmp(&b.session_id));
    let rotated_first =
        SessionRecord { state: SessionState::Rotated { successor_id: successor.session_id.clone(), at }, ..first };
    let mut expected = vec![rotated_first, second, successor];
    expected.sort_by(|a, b| a.session_id.cmp(&b.session_id));
    assert_eq!(listed, expected);
}

/// `rotate` of an active session stores the successor and marks the old one
/// rotated; a second `rotate` reports the first successor and stores nothing.
pub async fn rotate_once_then_already_rotated(store: &dyn SessionStore, now: OffsetDateTime) {
    let mut ids = Ids::new(now, 7);
    let user = ids.user("rotate");
    let old = full_record(&ids.next(), &user, now);
    create(store, &old).await;
    let at = now + Duration::minutes(10) + Duration::microseconds(123_456);
    let successor = SessionRecord {
        family_id: old.family_id.clone(),
        created_at: at,
        last_activity: at,
        expires_at: at + Duration::hours(1),
        refresh_expires_at: Some(at + Duration::days(30)),
        ..full_record(&ids.next(), &user, now)
    };
    let outcome = store.rotate(&old.session_id, &successor, at).await.expect("rotate");
    assert_eq!(outcome, RotateOutcome::Rotated);
    let expected_old = SessionRecord {
        state: SessionState::Rotated { successor_id: successor.session_id.clone(), at },
        ..old.clone()
    };
    assert_eq!(get(store, &old.session_id).await, Some(expected_old));
    assert_eq!(get(store, &successor.session_id).await, Some(successor.clone()));

    let second = SessionRecord { family_id: old.family_id.clone(), ..full_record(&ids.next(), &user, now) };
    let later = at + Duration::seconds(3);
    let outcome = store.rotate(&old.session_id, &second, later).await.expect("rotate again");
    assert_eq!(outcome, RotateOutcome::AlreadyRotated { successor_id: successor.session_id.clone(), at });
    assert_eq!(get(store, &second.session_id).await, None, "no second successor");
    let mut family = ids_of_user(store, &user).await;
    family.retain(|id| id == &old.session_id || id == &successor.session_id);
    assert_eq!(family, sorted(vec![old.session_id, successor.session_id]));
}

/// `rotate` of an unknown id is `NotFound` and stores nothing.
pub async fn rotate_unknown_is_not_found(store: &dyn SessionStore, now: OffsetDateTime) {
    let mut ids = Ids::new(now, 8);
    let successor = full_record(&ids.next(), &ids.user("ghost"), now);
    let outcome = store.rotate(&ids.next(), &successor, now).await.expect("rotate unknown");
    assert_eq!(outcome, RotateOutcome::NotFound);
    assert_eq!(get(store, &successor.session_id).await, None);
}

/// `extend` moves `expires_at` (and `user_data`, `last_activity`) of an active
/// record only while `expires_at` is still the expected one; the retention
/// follows, so `purge_expired` keeps the extended record.
pub async fn extend_is_a_compare_and_set(store: &dyn SessionStore, now: OffsetDateTime) {
    let mut ids = Ids::new(now, 11);
    let user = ids.user("extend");
    let record = full_record(&ids.next(), &user, now);
    create(store, &record).await;
    let at = now + Duration::minutes(20) + Duration::microseconds(42);
    let later = at + Duration::hours(1);
    let data = Arc::new(json!({"id": 42, "roles": ["user"]}));

    let wrong = record.expires_at - Duration::seconds(1);
    assert!(!store.extend(&record.session_id, wrong, later, &data, at).await.expect("extend"), "stale expected");
    assert_eq!(get(store, &record.session_id).await, Some(record.clone()), "unchanged after a refused extend");

    assert!(store.extend(&record.session_id, record.expires_at, later, &data, at).await.expect("extend"));
    let extended =
        SessionRecord { expires_at: later, user_data: Arc::clone(&data), last_activity: at, ..record.clone() };
    assert_eq!(get(store, &record.session_id).await, Some(extended.clone()), "extended in place");
    let again = store.extend(&record.session_id, record.expires_at, later + Duration::hours(1), &data, at);
    assert!(!again.await.expect("extend again"), "the old expiry no longer matches");
    assert_eq!(get(store, &record.session_id).await, Some(extended));

    assert!(!store.extend(&ids.next(), now, later, &data, at).await.expect("extend unknown"), "unknown id");
    let spent = SessionRecord {
        state: SessionState::Rotated { successor_id: record.session_id.clone(), at: now },
        ..full_record(&ids.next(), &user, now)
    };
    create(store, &spent).await;
    assert!(!store.extend(&spent.session_id, spent.expires_at, later, &data, at).await.expect("extend rotated"));
    assert_eq!(get(store, &spent.session_id).await, Some(spent), "a rotated record is not extended");

    // Without a refresh expiry the retention is `expires_at`: it moves too.
    let short = SessionRecord { expires_at: now + Duration::seconds(10), ..bare_record(&ids.next(), &user, now) };
    create(store, &short).await;
    let moved = now + Duration::hours(3);
    assert!(store.extend(&short.session_id, short.expires_at, moved, &data, now).await.expect("extend short"));
    store.purge_expired(now + Duration::hours(2)).await.expect("purge");
    assert_eq!(
        get(store, &short.session_id).await.map(|r| r.expires_at),
        Some(moved),
        "purge keeps a record extended past the purge instant"
    );
}

/// `purge_expired(now)` removes the records whose `retain_until()` is before `now`.
pub async fn purge_expired_uses_retain_until(store: &dyn SessionStore, now: OffsetDateTime) {
    let mut ids = Ids::new(now, 9);
    let user = ids.user("purge");
    let past = now - Duration::seconds(1);
    let expired = SessionRecord {
        expires_at: past,
        refresh_expires_at: None,
        ..bare_record(&ids.next(), &user, now - Duration::hours(2))
    };
    let refreshable = SessionRecord {
        expires_at: past,
        refresh_expires_at: Some(now + Duration::hours(1)),
        ..bare_record(&ids.next(), &user, now - Duration::hours(2))
    };
    let live = bare_record(&ids.next(), &user, now);
    let boundary = SessionRecord { expires_at: now, ..bare_record(&ids.next(), &user, now - Duration::hours(1)) };
    let spent = SessionRecord {
        expires_at: past,
        refresh_expires_at: Some(past),
        state: SessionState::Rotated { successor_id: live.session_id.clone(), at: now - Duration::hours(1) },
        ..bare_record(&ids.next(), &user, now - Duration::hours(2))
    };
    for r in [&expired, &refreshable, &live, &boundary, &spent] {
        create(store, r).await;
    }
    let purged = store.purge_expired(now).await.expect("purge_expired");
    assert!(purged >= 2, "purged {purged}, expected at least the 2 expired records");
    assert_eq!(get(store, &expired.session_id).await, None, "expired");
    assert_eq!(get(store, &spent.session_id).await, None, "rotated and refresh expired");
    assert_eq!(
        ids_of_user(store, &user).await,
        sorted(vec![refreshable.session_id, live.session_id, boundary.session_id]),
        "kept: refresh still valid, not expired, expiring exactly now"
    );
    assert_eq!(store.purge_expired(now).await.expect("purge again"), 0);
}

/// `count_active` (when the store counts) moves by the active, unexpired
/// records only.
pub async fn count_active_counts_live_active_sessions(store: &dyn SessionStore, now: OffsetDateTime) {
    let Some(before) = store.count_active(now).await.expect("count_active") else { return };
    let mut ids = Ids::new(now, 12);
    let user = ids.user("count");
    let live = bare_record(&ids.next(), &user, now);
    let expired = SessionRecord {
        expires_at: now - Duration::seconds(1),
        refresh_expires_at: Some(now + Duration::hours(1)),
        ..bare_record(&ids.next(), &user, now - Duration::hours(1))
    };
    let rotated = SessionRecord {
        state: SessionState::Rotated { successor_id: live.session_id.clone(), at: now },
        ..bare_record(&ids.next(), &user, now)
    };
    for r in [&live, &expired, &rotated] {
        create(store, r).await;
    }
    assert_eq!(store.count_active(now).await.expect("count_active"), Some(before + 1), "only the live one");
    assert!(store.delete(&live.session_id).await.expect("delete"));
    assert_eq!(store.count_active(now).await.expect("count_active"), Some(before));
}

/// Operations on one user never touch another user's sessions.
pub async fn users_are_isolated(store: &dyn SessionStore, now: OffsetDateTime) {
    let mut ids = Ids::new(now, 10);
    let alice = ids.user("alice");
    let bob = ids.user("bob");
    let a1 = full_record(&ids.next(), &alice, now);
    let a2 = bare_record(&ids.next(), &alice, now);
    let b1 = full_record(&ids.next(), &bob, now);
    for r in [&a1, &a2, &b1] {
        create(store, r).await;
    }
    assert_eq!(ids_of_user(store, &alice).await, sorted(vec![a1.session_id.clone(), a2.session_id.clone()]));
    assert_eq!(ids_of_user(store, &bob).await, vec![b1.session_id.clone()]);
    assert!(ids_of_user(store, &alice.to_uppercase()).await.is_empty(), "ids are case-sensitive");

    assert_eq!(store.delete_user_sessions(&bob, None).await.expect("end bob"), 1);
    assert_eq!(store.delete_family(&b1.family_id).await.expect("bob's family"), 0);
    assert_eq!(get(store, &a1.session_id).await, Some(a1.clone()));
    assert_eq!(get(store, &a2.session_id).await, Some(a2));
    assert_eq!(
        store.delete_user_sessions(&alice.to_uppercase(), None).await.expect("end ALICE"),
        0,
        "a differently cased user id is another user"
    );
    assert_eq!(get(store, &a1.session_id).await, Some(a1));
}
