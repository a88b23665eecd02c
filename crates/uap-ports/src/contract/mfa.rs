//! The [`MfaFactorStore`] contract.
//!
//! Semantics pinned here (beyond the trait's docs): a factor round-trips
//! exactly (bytes included); `put_pending` replaces a pending factor wholly
//! (new id, secret, nonce, timestamps) and leaves a confirmed one untouched;
//! `confirm` records its step as used (that code cannot be replayed) and sets
//! `updated_at`; `use_step` only succeeds on a confirmed factor, for a step
//! strictly greater than the last, and sets `updated_at`; factors are per
//! (user, type).
//!
//! [`concurrent_steps`] checks atomicity; the caller supplies concurrency.

use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use super::rate_limit::Task;
use super::{Ids, micros};
use crate::{MfaFactor, MfaFactorStore, StoreError};

/// A TOTP-like step (Unix time / 30 around 2025).
const STEP: i64 = 58_000_000;

/// Runs every sequential check of this suite against `store`, with `now` as
/// the current instant (truncated to microseconds).
///
/// # Panics
/// When the store breaks the contract.
pub async fn run_all(store: &dyn MfaFactorStore, now: OffsetDateTime) {
    let now = micros(now);
    pending_round_trips(store, now).await;
    pending_is_replaced(store, now).await;
    confirm_once(store, now).await;
    confirmed_is_not_replaced(store, now).await;
    steps_are_used_once(store, now).await;
    delete_reports_existence(store, now).await;
    users_and_types_are_isolated(store, now).await;
}

/// A pending TOTP factor of `user` whose secret is derived from `seed`.
fn pending(id: String, user: &str, seed: u8, now: OffsetDateTime) -> MfaFactor {
    MfaFactor {
        id,
        user_id: user.to_owned(),
        factor_type: "totp".to_owned(),
        secret_ciphertext: (0..=255_u8).map(|b| b.wrapping_add(seed)).collect(),
        nonce: vec![0, 0xff, seed, 0, 1, 2, 3, 0x80, 0x7f, 0, 0, seed],
        confirmed: false,
        last_used_step: None,
        created_at: now,
        updated_at: now,
    }
}

async fn get(store: &dyn MfaFactorStore, user: &str, kind: &str) -> Option<MfaFactor> {
    store.get(user, kind).await.unwrap_or_else(|e| panic!("get {user}/{kind}: {e}"))
}

async fn put(store: &dyn MfaFactorStore, factor: &MfaFactor) -> bool {
    store.put_pending(factor).await.unwrap_or_else(|e| panic!("put_pending {}: {e}", factor.user_id))
}

async fn confirm(store: &dyn MfaFactorStore, user: &str, step: i64, at: OffsetDateTime) -> bool {
    store.confirm(user, "totp", step, at).await.unwrap_or_else(|e| panic!("confirm {user}: {e}"))
}

async fn use_step(store: &dyn MfaFactorStore, user: &str, step: i64, at: OffsetDateTime) -> bool {
    store.use_step(user, "totp", step, at).await.unwrap_or_else(|e| panic!("use_step {user}: {e}"))
}

/// A pending factor round-trips exactly; an unknown one is `None`.
pub async fn pending_round_trips(store: &dyn MfaFactorStore, now: OffsetDateTime) {
    let mut ids = Ids::new(now, 301);
    let user = ids.user("roundtrip");
    assert_eq!(get(store, &user, "totp").await, None, "unknown factor");
    let factor = pending(ids.next(), &user, 7, now);
    assert!(put(store, &factor).await, "first enrolment");
    assert_eq!(get(store, &user, "totp").await, Some(factor.clone()));
    assert!(put(store, &factor).await, "the same pending factor again");
    assert_eq!(get(store, &user, "totp").await, Some(factor));
    let empty = MfaFactor { secret_ciphertext: Vec::new(), nonce: Vec::new(), ..pending(ids.next(), &user, 0, now) };
    let other = MfaFactor { factor_type: "webauthn".to_owned(), ..empty };
    assert!(put(store, &other).await, "empty bytes");
    assert_eq!(get(store, &user, "webauthn").await, Some(other));
}

/// A second enrolment replaces a pending factor entirely.
pub async fn pending_is_replaced(store: &dyn MfaFactorStore, now: OffsetDateTime) {
    let mut ids = Ids::new(now, 302);
    let user = ids.user("replace");
    assert!(put(store, &pending(ids.next(), &user, 1, now)).await);
    let later = now + Duration::minutes(3);
    let second = pending(ids.next(), &user, 2, later);
    assert!(put(store, &second).await, "a pending factor is replaced");
    assert_eq!(get(store, &user, "totp").await, Some(second));
}

/// `confirm` succeeds once, records the step and `updated_at`.
pub async fn confirm_once(store: &dyn MfaFactorStore, now: OffsetDateTime) {
    let mut ids = Ids::new(now, 303);
    let user = ids.user("confirm");
    assert!(!confirm(store, &user, STEP, now).await, "no factor to confirm");
    let factor = pending(ids.next(), &user, 3, now);
    assert!(put(store, &factor).await);
    let at = now + Duration::seconds(20);
    assert!(confirm(store, &user, STEP, at).await, "first confirmation");
    let expected = MfaFactor { confirmed: true, last_used_step: Some(STEP), updated_at: at, ..factor };
    assert_eq!(get(store, &user, "totp").await, Some(expected.clone()));
    assert!(!confirm(store, &user, STEP + 1, at + Duration::seconds(30)).await, "already confirmed");
    assert_eq!(get(store, &user, "totp").await, Some(expected));
}

/// A confirmed factor is never replaced by an enrolment.
pub async fn confirmed_is_not_replaced(store: &dyn MfaFactorStore, now: OffsetDateTime) {
    let mut ids = Ids::new(now, 304);
    let user = ids.user("keep");
    assert!(put(store, &pending(ids.next(), &user, 4, now)).await);
    assert!(confirm(store, &user, STEP, now).await);
    let before = get(store, &user, "totp").await;
    assert!(!put(store, &pending(ids.next(), &user, 5, now + Duration::seconds(1))).await, "refused");
    assert_eq!(get(store, &user, "totp").await, before, "nothing stored");
}

/// A step is accepted once, only above the last one, only when confirmed.
pub async fn steps_are_used_once(store: &dyn MfaFactorStore, now: OffsetDateTime) {
    let mut ids = Ids::new(now, 305);
    let user = ids.user("steps");
    assert!(!use_step(store, &user, STEP, now).await, "no factor");
    assert!(put(store, &pending(ids.next(), &user, 6, now)).await);
    assert!(!use_step(store, &user, STEP, now).await, "a pending factor accepts no code");
    assert!(confirm(store, &user, STEP, now).await);
    assert!(!use_step(store, &user, STEP, now).await, "the confirming code is spent");
    assert!(!use_step(store, &user, STEP - 1, now).await, "an older step");
    let at = now + Duration::seconds(30);
    assert!(use_step(store, &user, STEP + 1, at).await, "the next step");
    assert!(!use_step(store, &user, STEP + 1, at).await, "replay");
    let factor = get(store, &user, "totp").await.expect("stored");
    assert_eq!((factor.last_used_step, factor.updated_at), (Some(STEP + 1), at));
    assert!(use_step(store, &user, STEP + 10, at).await, "steps may be skipped");
    assert!(!use_step(store, &user, STEP + 2, at).await, "but never go back");
    assert!(use_step(store, &user, i64::MAX, at).await, "the largest step");
}

/// `delete` says whether a factor existed; enrolment starts over after it.
pub async fn delete_reports_existence(store: &dyn MfaFactorStore, now: OffsetDateTime) {
    let mut ids = Ids::new(now, 306);
    let user = ids.user("delete");
    assert!(!store.delete(&user, "totp").await.expect("delete"), "nothing to delete");
    assert!(put(store, &pending(ids.next(), &user, 8, now)).await);
    assert!(confirm(store, &user, STEP, now).await);
    assert!(store.delete(&user, "totp").await.expect("delete"), "existed");
    assert_eq!(get(store, &user, "totp").await, None);
    assert!(!store.delete(&user, "totp").await.expect("delete again"), "gone");
    let fresh = pending(ids.next(), &user, 9, now);
    assert!(put(store, &fresh).await, "enrol again");
    assert_eq!(get(store, &user, "totp").await, Some(fresh));
}

/// Factors are per user and per type.
pub async fn users_and_types_are_isolated(store: &dyn MfaFactorStore, now: OffsetDateTime) {
    let mut ids = Ids::new(now, 307);
    let (alice, bob) = (ids.user("alice"), ids.user("bob"));
    assert!(put(store, &pending(ids.next(), &alice, 10, now)).await);
    assert!(confirm(store, &alice, STEP, now).await);
    assert_eq!(get(store, &bob, "totp").await, None);
    assert_eq!(get(store, &alice.to_uppercase(), "totp").await, None, "user ids are case-sensitive");
    assert_eq!(get(store, &alice, "hotp").await, None);
    assert!(!use_step(store, &bob, STEP + 1, now).await);
    let bobs = pending(ids.next(), &bob, 11, now);
    assert!(put(store, &bobs).await, "alice's confirmed factor does not stop bob");
    assert!(!store.delete(&alice, "hotp").await.expect("delete"));
    assert!(store.delete(&bob, "totp").await.expect("delete"));
    assert!(get(store, &alice, "totp").await.is_some_and(|f| f.confirmed), "alice untouched");
}

/// 20 concurrent enrolments all succeed and leave one of them, whole; then of
/// 20 concurrent `confirm` calls one succeeds, and of 20 concurrent `use_step`
/// calls with the same step one succeeds. `spawn` as in
/// [`super::rate_limit::concurrent_attempts`].
///
/// # Panics
/// When the store breaks the contract.
pub async fn concurrent_steps<S>(store: Arc<dyn MfaFactorStore>, now: OffsetDateTime, spawn: S)
where
    S: Fn(Task<Result<bool, StoreError>>) -> Task<Result<bool, StoreError>>,
{
    let now = micros(now);
    let mut ids = Ids::new(now, 308);
    let user = ids.user("race");
    let enrolments: Vec<MfaFactor> = (0..20).map(|n| pending(ids.next(), &user, n, now)).collect();
    let tasks: Vec<_> = enrolments
        .iter()
        .map(|factor| {
            let (store, factor) = (Arc::clone(&store), factor.clone());
            spawn(Box::pin(async move { store.put_pending(&factor).await }))
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap_or_else(|e| panic!("concurrent put_pending: {e:?}")), "nothing is confirmed yet");
    }
    let stored = get(store.as_ref(), &user, "totp").await.expect("one factor");
    assert!(enrolments.contains(&stored), "one of the enrolments, whole");
    let race = |confirming: bool, step: i64| -> Vec<Task<Result<bool, StoreError>>> {
        (0..20)
            .map(|_| {
                let (store, user) = (Arc::clone(&store), user.clone());
                spawn(Box::pin(async move {
                    if confirming {
                        store.confirm(&user, "totp", step, now).await
                    } else {
                        store.use_step(&user, "totp", step, now).await
                    }
                }))
            })
            .collect()
    };
    for (what, confirming, step) in [("confirm", true, STEP), ("use_step", false, STEP + 1)] {
        let tasks = race(confirming, step);
        let mut winners = 0;
        for task in tasks {
            if task.await.unwrap_or_else(|e| panic!("concurrent {what}: {e:?}")) {
                winners += 1;
            }
        }
        assert_eq!(winners, 1, "exactly one concurrent {what} succeeds");
    }
    assert_eq!(get(store.as_ref(), &user, "totp").await.and_then(|f| f.last_used_step), Some(STEP + 1));
}
