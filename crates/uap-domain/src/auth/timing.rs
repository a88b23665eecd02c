//! Refused logins must not tell, by their timing, which usernames exist or
//! which stored format a user has (issue #9 item 2). Two mechanisms:
//!
//! - **The dummy.** A refusal whose stored format is cheaper than the
//!   preferred scheme at its configured parameters (by
//!   [`password::work`](crate::password::work), an estimate from the
//!   parameters, not a timing), or unusable (unknown format, over the work
//!   budget, no stored hash, no such user), also verifies the dummy hash in
//!   the same blocking job: every refusal costs at least one preferred-scheme
//!   verification of CPU.
//! - **The floor.** Formats costlier than the preferred scheme (bcrypt cost
//!   10 against the default argon2id) would still stand out. [`RefusalTiming`]
//!   keeps, per census label (format and parameters) and for the dummy, a
//!   running median of how long the verification took inside the hashing job;
//!   the floor is the largest of them (so never below the dummy's), capped at
//!   [`MAX_FLOOR`]. A refused credential check returns no earlier than its
//!   start plus the floor. Successful logins are neither padded nor delayed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// The highest floor: a format slower than this (bcrypt cost ≥ 14 here) is
/// left distinguishable rather than making every refusal wait longer.
pub const MAX_FLOOR: Duration = Duration::from_secs(2);
/// Labels tracked; past this the lowest estimate is forgotten.
const MAX_LABELS: usize = 64;
/// The running median moves by at most this fraction per sample once settled.
const STEP: f64 = 0.03;

/// Why a refusal verified the dummy hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DummyReason {
    /// No such user.
    UnknownUser,
    /// The user has no stored hash.
    NoPassword,
    /// The stored value is unknown, malformed or over the work budget.
    UnusableHash,
    /// The stored format is cheaper to verify than the preferred scheme.
    CheaperFormat,
}

impl DummyReason {
    /// Every reason, in [`DummyReason::index`] order.
    pub const ALL: [Self; 4] = [Self::UnknownUser, Self::NoPassword, Self::UnusableHash, Self::CheaperFormat];

    /// The metric label.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownUser => "unknown_user",
            Self::NoPassword => "no_password",
            Self::UnusableHash => "unusable_hash",
            Self::CheaperFormat => "cheaper_format",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::UnknownUser => 0,
            Self::NoPassword => 1,
            Self::UnusableHash => 2,
            Self::CheaperFormat => 3,
        }
    }
}

/// A running median of durations in seconds: multiplicative steps up or
/// down towards each sample, large for the first samples, then [`STEP`].
#[derive(Debug, Clone, Copy)]
struct Median {
    seconds: f64,
    samples: u32,
}

impl Median {
    fn new(seconds: f64) -> Self {
        Self { seconds, samples: 1 }
    }

    fn add(&mut self, seconds: f64) {
        self.samples = self.samples.saturating_add(1);
        let step = (1.0 / f64::from(self.samples)).max(STEP);
        if seconds > self.seconds {
            self.seconds = (self.seconds * (1.0 + step)).min(seconds);
        } else if seconds < self.seconds {
            self.seconds = (self.seconds / (1.0 + step)).max(seconds);
        }
    }
}

#[derive(Debug, Default)]
struct Estimates {
    dummy: Option<Median>,
    by_label: HashMap<String, Median>,
}

/// What `/metrics` shows of the timing defences.
#[derive(Debug, Clone, PartialEq)]
pub struct TimingSnapshot {
    /// The current floor of refused credential checks.
    pub floor: Duration,
    /// Dummy verifications so far, per reason.
    pub dummy_runs: Vec<(&'static str, u64)>,
}

/// The running estimates behind the floor, and the dummy counters.
#[derive(Debug, Default)]
pub struct RefusalTiming {
    estimates: Mutex<Estimates>,
    dummy_runs: [AtomicU64; 4],
}

impl RefusalTiming {
    /// A verification of a stored value with census label `label` took `elapsed`.
    pub fn record(&self, label: &str, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let mut estimates = self.estimates.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(median) = estimates.by_label.get_mut(label) {
            median.add(seconds);
            return;
        }
        if estimates.by_label.len() >= MAX_LABELS {
            let lowest = estimates
                .by_label
                .iter()
                .min_by(|a, b| a.1.seconds.total_cmp(&b.1.seconds))
                .map(|(label, median)| (label.clone(), median.seconds));
            match lowest {
                Some((lowest, at)) if at < seconds => {
                    estimates.by_label.remove(&lowest);
                }
                _ => return,
            }
        }
        estimates.by_label.insert(label.to_owned(), Median::new(seconds));
    }

    /// A dummy verification (for `reason`) took `elapsed`.
    pub fn record_dummy(&self, reason: DummyReason, elapsed: Duration) {
        if let Some(counter) = self.dummy_runs.get(reason.index()) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        let seconds = elapsed.as_secs_f64();
        let mut estimates = self.estimates.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut estimates.dummy {
            Some(median) => median.add(seconds),
            None => estimates.dummy = Some(Median::new(seconds)),
        }
    }

    /// The largest running median (the dummy's included), at most [`MAX_FLOOR`].
    #[must_use]
    pub fn floor(&self) -> Duration {
        let estimates = self.estimates.lock().unwrap_or_else(PoisonError::into_inner);
        let largest =
            estimates.by_label.values().chain(estimates.dummy.iter()).map(|median| median.seconds).fold(0.0, f64::max);
        Duration::try_from_secs_f64(largest).unwrap_or(MAX_FLOOR).min(MAX_FLOOR)
    }

    /// The floor and the counters.
    #[must_use]
    pub fn snapshot(&self) -> TimingSnapshot {
        TimingSnapshot {
            floor: self.floor(),
            dummy_runs: DummyReason::ALL
                .iter()
                .map(|reason| {
                    let count = self.dummy_runs.get(reason.index()).map_or(0, |c| c.load(Ordering::Relaxed));
                    (reason.as_str(), count)
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(value: u64) -> Duration {
        Duration::from_millis(value)
    }

    #[test]
    fn the_floor_is_the_largest_median_and_never_below_the_dummy() {
        let timing = RefusalTiming::default();
        assert_eq!(timing.floor(), Duration::ZERO);
        timing.record_dummy(DummyReason::UnknownUser, ms(33));
        timing.record("md5_crypt", ms(1));
        assert_eq!(timing.floor(), ms(33));
        for _ in 0..200 {
            timing.record("bcrypt cost 10", ms(70));
            timing.record("bcrypt cost 10", ms(80));
        }
        let floor = timing.floor().as_secs_f64();
        assert!((0.068..=0.082).contains(&floor), "{floor}");
        assert_eq!(timing.snapshot().dummy_runs[0], ("unknown_user", 1));
    }

    #[test]
    fn a_median_ignores_rare_outliers_and_follows_a_shift() {
        let timing = RefusalTiming::default();
        for i in 0..300 {
            timing.record_dummy(DummyReason::CheaperFormat, if i % 10 == 0 { ms(900) } else { ms(30) });
        }
        let floor = timing.floor().as_secs_f64();
        assert!((0.029..=0.035).contains(&floor), "{floor}");
        // The machine gets twice as slow: the floor follows within a few dozen samples.
        for _ in 0..60 {
            timing.record_dummy(DummyReason::CheaperFormat, ms(60));
        }
        let floor = timing.floor().as_secs_f64();
        assert!((0.057..=0.060).contains(&floor), "{floor}");
        let runs = timing.snapshot().dummy_runs;
        assert_eq!(runs.iter().find(|(reason, _)| *reason == "cheaper_format"), Some(&("cheaper_format", 360)));
    }

    #[test]
    fn the_floor_is_capped_and_the_labels_bounded() {
        let timing = RefusalTiming::default();
        timing.record("bcrypt cost 16", Duration::from_secs(9));
        assert_eq!(timing.floor(), MAX_FLOOR);
        let timing = RefusalTiming::default();
        for i in 0..100 {
            timing.record(&format!("pbkdf2 ({i} iterations)"), ms(i + 1));
        }
        let estimates = timing.estimates.lock().unwrap();
        assert_eq!(estimates.by_label.len(), MAX_LABELS);
        assert!(estimates.by_label.contains_key("pbkdf2 (99 iterations)"));
        assert!(!estimates.by_label.contains_key("pbkdf2 (0 iterations)"));
        drop(estimates);
        assert_eq!(timing.floor(), ms(100));
    }
}
