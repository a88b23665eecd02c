//! The [`RateLimitStore`] contract.
//!
//! Semantics pinned here (beyond the trait's docs): attempts `1..=max` are
//! `Allowed` with their number; the next one sets the block (`until = now +
//! block`, `newly_blocked` exactly once per block) and is counted; attempts
//! while blocked are not counted. A window is fixed, counted from its first
//! attempt: at `window_start + window` (inclusive) the next attempt starts a
//! fresh one, as does the first attempt at or after a block's end. A block
//! ends at `until` (exclusive). `attempts` reports the current window's count
//! (`max + 1` during a block), 0 once the window has passed or the block has
//! ended. Keys are exact strings: kind and value both count, case, trailing
//! spaces, NUL and values longer than 255 bytes included.
//!
//! [`concurrent_attempts`] checks atomicity; the caller supplies concurrency
//! (this crate has no runtime).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use super::{Ids, micros};
use crate::{Admission, RateLimitKey, RateLimitRule, RateLimitStore, StoreError};

/// A task handed to the caller's spawner.
pub type Task<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What a concurrency check observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Attempts allowed.
    pub allowed: usize,
    /// Attempts blocked.
    pub blocked: usize,
    /// Blocked attempts that set the block.
    pub newly_blocked: usize,
}

/// Runs every sequential check of this suite against `store`, with `now` as
/// the current instant (truncated to microseconds).
///
/// # Panics
/// When the store breaks the contract.
pub async fn run_all(store: &dyn RateLimitStore, now: OffsetDateTime) {
    let now = micros(now);
    counts_then_blocks_once(store, now).await;
    window_expiry_starts_afresh(store, now).await;
    block_expiry_starts_afresh(store, now).await;
    reset_forgets(store, now).await;
    keys_are_isolated(store, now).await;
    long_and_odd_keys(store, now).await;
}

fn key(kind: &str, value: &str) -> RateLimitKey {
    RateLimitKey { kind: kind.to_owned(), value: value.to_owned() }
}

fn rule(max_attempts: u32, window: Duration, block: Duration) -> RateLimitRule {
    RateLimitRule { max_attempts, window, block }
}

const fn allowed(attempt: u32) -> Admission {
    Admission::Allowed { attempt }
}

const fn blocked(until: OffsetDateTime, newly_blocked: bool) -> Admission {
    Admission::Blocked { until, newly_blocked }
}

async fn attempt(store: &dyn RateLimitStore, k: &RateLimitKey, r: RateLimitRule, at: OffsetDateTime) -> Admission {
    store.attempt(k, r, at).await.unwrap_or_else(|e| panic!("attempt {k:?} at {at}: {e}"))
}

async fn attempts(store: &dyn RateLimitStore, k: &RateLimitKey, r: RateLimitRule, at: OffsetDateTime) -> u32 {
    store.attempts(k, r, at).await.unwrap_or_else(|e| panic!("attempts {k:?} at {at}: {e}"))
}

async fn blocked_until(store: &dyn RateLimitStore, k: &RateLimitKey, at: OffsetDateTime) -> Option<OffsetDateTime> {
    store.blocked_until(k, at).await.unwrap_or_else(|e| panic!("blocked_until {k:?} at {at}: {e}"))
}

async fn reset(store: &dyn RateLimitStore, k: &RateLimitKey) {
    store.reset(k).await.unwrap_or_else(|e| panic!("reset {k:?}: {e}"));
}

/// Attempts `1..=max` are allowed and counted; the next blocks (once); blocked
/// attempts are not counted; the block ends at `until`.
pub async fn counts_then_blocks_once(store: &dyn RateLimitStore, now: OffsetDateTime) {
    let ids = Ids::new(now, 201);
    let r = rule(3, Duration::seconds(60), Duration::seconds(300));
    let k = key("ip", &ids.user("counts"));
    assert_eq!(attempts(store, &k, r, now).await, 0, "unknown key");
    assert_eq!(blocked_until(store, &k, now).await, None, "unknown key");
    for n in 1..=3 {
        let at = now + Duration::seconds(n.into());
        assert_eq!(attempt(store, &k, r, at).await, allowed(n), "attempt {n}");
        assert_eq!(attempts(store, &k, r, at).await, n, "count after attempt {n}");
        assert_eq!(blocked_until(store, &k, at).await, None);
    }
    let t4 = now + Duration::seconds(4);
    let until = t4 + Duration::seconds(300);
    assert_eq!(attempt(store, &k, r, t4).await, blocked(until, true), "the attempt over the limit");
    assert_eq!(blocked_until(store, &k, t4).await, Some(until));
    assert_eq!(attempts(store, &k, r, t4).await, 4, "the blocking attempt is counted");
    for at in [t4, t4 + Duration::seconds(1), until - Duration::microseconds(1)] {
        assert_eq!(attempt(store, &k, r, at).await, blocked(until, false), "while blocked, at {at}");
    }
    assert_eq!(attempts(store, &k, r, t4 + Duration::seconds(2)).await, 4, "blocked attempts are not counted");
    assert_eq!(blocked_until(store, &k, until).await, None, "the block ends at `until`");
}

/// The window is counted from its first attempt; once it has passed
/// (inclusive) the next attempt starts a fresh window.
pub async fn window_expiry_starts_afresh(store: &dyn RateLimitStore, now: OffsetDateTime) {
    let ids = Ids::new(now, 202);
    let r = rule(2, Duration::seconds(60), Duration::seconds(600));
    let k = key("identifier", &ids.user("window"));
    let just_before = |t: OffsetDateTime| t - Duration::microseconds(1);
    assert_eq!(attempt(store, &k, r, now).await, allowed(1));
    assert_eq!(attempt(store, &k, r, now + Duration::seconds(30)).await, allowed(2));
    let second = now + Duration::seconds(60);
    assert_eq!(attempts(store, &k, r, just_before(second)).await, 2, "window still open");
    assert_eq!(attempts(store, &k, r, second).await, 0, "window passed");
    assert_eq!(attempt(store, &k, r, second).await, allowed(1), "a fresh window at its end");
    let third = second + Duration::seconds(60);
    assert_eq!(attempt(store, &k, r, just_before(third)).await, allowed(2), "the window moved to its first attempt");
    assert_eq!(attempt(store, &k, r, third).await, allowed(1), "not sliding: a fresh window again");
    assert_eq!(attempt(store, &k, r, third + Duration::seconds(1)).await, allowed(2));
    let at = third + Duration::seconds(2);
    assert_eq!(attempt(store, &k, r, at).await, blocked(at + Duration::seconds(600), true));
}

/// After a block ends the next attempt starts a fresh window, even inside the
/// old one, and a later excess sets a new block (reported once again).
pub async fn block_expiry_starts_afresh(store: &dyn RateLimitStore, now: OffsetDateTime) {
    let ids = Ids::new(now, 203);
    let r = rule(1, Duration::hours(1), Duration::minutes(10));
    let k = key("ip_identifier", &ids.user("block"));
    assert_eq!(attempt(store, &k, r, now).await, allowed(1));
    let t1 = now + Duration::seconds(1);
    let until = t1 + Duration::minutes(10);
    assert_eq!(attempt(store, &k, r, t1).await, blocked(until, true));
    assert_eq!(attempt(store, &k, r, now + Duration::minutes(5)).await, blocked(until, false));
    assert_eq!(blocked_until(store, &k, now + Duration::minutes(5)).await, Some(until));
    assert_eq!(attempts(store, &k, r, until).await, 0, "the block has ended");
    assert_eq!(attempt(store, &k, r, until).await, allowed(1), "a fresh window after the block");
    assert_eq!(attempts(store, &k, r, until).await, 1);
    let again = until + Duration::seconds(1);
    let until2 = again + Duration::minutes(10);
    assert_eq!(attempt(store, &k, r, again).await, blocked(until2, true), "a new block is new");
    assert_eq!(attempt(store, &k, r, again).await, blocked(until2, false));
}

/// `reset` forgets the count and the block; resetting an unknown key is fine.
pub async fn reset_forgets(store: &dyn RateLimitStore, now: OffsetDateTime) {
    let ids = Ids::new(now, 204);
    let r = rule(2, Duration::seconds(60), Duration::seconds(60));
    let k = key("ip", &ids.user("reset"));
    assert_eq!(attempt(store, &k, r, now).await, allowed(1));
    reset(store, &k).await;
    assert_eq!(attempts(store, &k, r, now).await, 0);
    assert_eq!(attempt(store, &k, r, now).await, allowed(1));
    assert_eq!(attempt(store, &k, r, now).await, allowed(2));
    assert_eq!(attempt(store, &k, r, now).await, blocked(now + Duration::seconds(60), true));
    reset(store, &k).await;
    assert_eq!(blocked_until(store, &k, now).await, None, "reset lifts a block");
    assert_eq!(attempts(store, &k, r, now).await, 0);
    assert_eq!(attempt(store, &k, r, now).await, allowed(1));
    reset(store, &k).await;
    reset(store, &k).await;
    reset(store, &key("ip", &ids.user("never-seen"))).await;
}

/// Blocks `k` (with `max_attempts = 1`) at `at`.
async fn block(store: &dyn RateLimitStore, k: &RateLimitKey, r: RateLimitRule, at: OffsetDateTime) {
    assert_eq!(attempt(store, k, r, at).await, allowed(1), "{k:?}");
    assert_eq!(attempt(store, k, r, at).await, blocked(at + r.block, true), "{k:?}");
}

/// A key's kind and value both count, exactly (case and trailing spaces too).
pub async fn keys_are_isolated(store: &dyn RateLimitStore, now: OffsetDateTime) {
    let ids = Ids::new(now, 205);
    let r = rule(1, Duration::seconds(60), Duration::seconds(60));
    let v = ids.user("iso");
    let target = key("ip", &v);
    let others = [
        key("identifier", &v),
        key("ip_identifier", &v),
        key("ip", &format!("{v}x")),
        key("ip", &v.to_uppercase()),
        key("ip", &format!("{v} ")),
        key("ip", &format!(" {v}")),
    ];
    block(store, &target, r, now).await;
    for other in &others {
        assert_eq!(blocked_until(store, other, now).await, None, "{other:?}");
        assert_eq!(attempts(store, other, r, now).await, 0, "{other:?}");
        block(store, other, r, now).await;
    }
    reset(store, &target).await;
    for other in &others {
        assert_eq!(blocked_until(store, other, now).await, Some(now + r.block), "reset is per key: {other:?}");
    }
}

/// Long values (hashed by stores whose column is short) stay distinct and
/// stable; NUL and multi-byte characters are ordinary.
pub async fn long_and_odd_keys(store: &dyn RateLimitStore, now: OffsetDateTime) {
    let ids = Ids::new(now, 206);
    let r = rule(1, Duration::seconds(60), Duration::seconds(60));
    let v = ids.user("long");
    let exact = format!("{v}{}", "x".repeat(255 - v.len()));
    assert_eq!(exact.len(), 255);
    let keys = [
        key("identifier", &exact),
        key("identifier", &format!("{exact}y")),
        key("identifier", &format!("{exact}z")),
        key("identifier", &format!("{v}{}", "a".repeat(1000))),
        key("identifier", &format!("{v}{}", "é".repeat(200))),
        key("identifier", &format!("{v}\0x")),
        key("identifier", &format!("{v}\u{fffd}x")),
        key("identifier", &format!("{v}-ünï-😀-'\"; --")),
    ];
    for k in &keys {
        block(store, k, r, now).await;
        assert_eq!(blocked_until(store, k, now).await, Some(now + r.block), "{k:?}");
    }
    for k in &keys {
        reset(store, k).await;
        assert_eq!(blocked_until(store, k, now).await, None, "{k:?}");
        assert_eq!(attempt(store, k, r, now).await, allowed(1), "{k:?}");
    }
}

/// 100 concurrent attempts on one key with `max_attempts = 5`: exactly five
/// are allowed (attempts 1 to 5), 95 blocked, one of them newly. `spawn` must
/// start its task before returning (`tokio::spawn`, a thread…) and return a
/// future of the task's output; the suite awaits them in order.
///
/// # Panics
/// When the store breaks the contract.
pub async fn concurrent_attempts<S>(store: Arc<dyn RateLimitStore>, now: OffsetDateTime, spawn: S) -> Tally
where
    S: Fn(Task<Result<Admission, StoreError>>) -> Task<Result<Admission, StoreError>>,
{
    let now = micros(now);
    let ids = Ids::new(now, 207);
    let r = rule(5, Duration::seconds(60), Duration::seconds(300));
    let k = key("ip_identifier", &ids.user("race"));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (store, k) = (Arc::clone(&store), k.clone());
            spawn(Box::pin(async move { store.attempt(&k, r, now).await }))
        })
        .collect();
    let mut numbers = Vec::new();
    let mut tally = Tally { allowed: 0, blocked: 0, newly_blocked: 0 };
    let until = now + r.block;
    for task in tasks {
        match task.await.unwrap_or_else(|e| panic!("concurrent attempt: {e:?}")) {
            Admission::Allowed { attempt } => {
                tally.allowed += 1;
                numbers.push(attempt);
            }
            Admission::Blocked { until: u, newly_blocked } => {
                assert_eq!(u, until, "every blocked attempt reports the one block");
                tally.blocked += 1;
                tally.newly_blocked += usize::from(newly_blocked);
            }
        }
    }
    numbers.sort_unstable();
    assert_eq!(numbers, [1, 2, 3, 4, 5], "{tally:?}");
    assert_eq!(tally, Tally { allowed: 5, blocked: 95, newly_blocked: 1 });
    assert_eq!(store.blocked_until(&k, now).await.expect("blocked_until"), Some(until));
    assert_eq!(store.attempts(&k, r, now).await.expect("attempts"), 6);
    tally
}
