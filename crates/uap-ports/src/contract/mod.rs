//! Port contract tests: one suite per port, shared by every implementation (the
//! in-memory fakes, SQL, Redis) so that they all behave alike.
//!
//! Enabled by the `contract-tests` feature, for test builds only. Each suite is a
//! plain async function that drives a port through its trait and asserts what the
//! core relies on; a failed expectation panics, which fails the calling test. The
//! suites bring no runtime: the caller's test (`#[tokio::test]` or any executor)
//! awaits them. They create their own uniquely named records, so a store that
//! other tests share still works, but a fresh store per run is the intended use.
//!
//! Timestamps are truncated to whole microseconds: stores must keep at least that
//! precision (PostgreSQL and MySQL keep no more).
#![allow(clippy::panic, clippy::expect_used, reason = "a contract suite: a broken expectation is a test failure")]

pub mod audit_sink;
pub mod mfa;
pub mod middleware_log;
pub mod rate_limit;
pub mod session_store;

use time::{Duration, OffsetDateTime};

/// `t` truncated to whole microseconds, the precision every store keeps.
#[must_use]
pub fn micros(t: OffsetDateTime) -> OffsetDateTime {
    let nanos = t.nanosecond();
    t - Duration::nanoseconds(i64::from(nanos % 1_000))
}

/// A source of unique, UUID-shaped ids (36 characters, as the SQL schema stores
/// them) for one suite run: `tag` keeps suites apart, `now` keeps runs apart.
#[derive(Debug)]
pub(crate) struct Ids {
    seed: u64,
    tag: u16,
    n: u32,
}

impl Ids {
    pub(crate) fn new(now: OffsetDateTime, tag: u16) -> Self {
        // Truncation is fine: only uniqueness between runs matters.
        let seed = now.unix_timestamp_nanos() as u64;
        Self { seed, tag, n: 0 }
    }

    /// The next id, e.g. `1a2b3c4d-0007-4000-8001-5e6f7a8b9c0d`.
    pub(crate) fn next(&mut self) -> String {
        self.n += 1;
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            self.seed >> 32,
            self.tag,
            (self.n >> 12) & 0xfff,
            self.n & 0xfff,
            self.seed & 0xffff_ffff_ffff,
        )
    }

    /// A user id unique to this run, e.g. `contract-7-alice-5e6f7a8b9c0d`.
    pub(crate) fn user(&self, name: &str) -> String {
        format!("contract-{}-{name}-{:012x}", self.tag, self.seed & 0xffff_ffff_ffff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn ids_are_uuid_shaped_and_unique() {
        let mut ids = Ids::new(datetime!(2025-01-02 03:04:05.123_456_789 UTC), 3);
        let a = ids.next();
        let b = ids.next();
        assert_eq!(a.len(), 36);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit() || c == '-'));
    }

    #[test]
    fn micros_truncates() {
        let t = datetime!(2025-01-02 03:04:05.123_456_789 UTC);
        assert_eq!(micros(t), datetime!(2025-01-02 03:04:05.123_456 UTC));
    }
}
