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
//!   10 against the default argon2id) would still stand out. Each
//!   verification is timed inside the hashing job. [`RefusalTiming`] keeps the
//!   median of the last [`WINDOW`] dummy verifications and, per census label
//!   (format and parameters), the median of the last [`WINDOW`] durations
//!   *relative to the dummy's median at the time*. The floor is the dummy's
//!   median times the largest relative cost (at least 1), capped at
//!   `refusal_floor_max_ms` ([`MAX_FLOOR`] by default). When the machine gets slower or faster, the dummy — run by
//!   every unknown-user and cheap-format refusal — moves the floor of every
//!   format with it, also of formats not seen since. A refused credential
//!   check returns no earlier than its start plus the floor. Successful logins
//!   are neither padded nor delayed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// The default highest floor (`refusal_floor_max_ms`): a format slower than
/// this (bcrypt cost ≥ 14 here) is left distinguishable rather than making
/// every refusal wait longer.
pub const MAX_FLOOR: Duration = Duration::from_secs(2);
/// Labels tracked; past this the lowest estimate is forgotten.
const MAX_LABELS: usize = 64;
/// Samples per running median: a shift shows after `WINDOW / 2 + 1` samples,
/// and fewer than half the samples being outliers cannot move it.
pub const WINDOW: usize = 9;

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

/// The median of the last [`WINDOW`] samples.
#[derive(Debug, Clone, Copy, Default)]
struct Window {
    samples: [f64; WINDOW],
    len: usize,
    next: usize,
}

impl Window {
    fn add(&mut self, value: f64) {
        if let Some(slot) = self.samples.get_mut(self.next) {
            *slot = value;
        }
        self.next = (self.next + 1) % WINDOW;
        self.len = (self.len + 1).min(WINDOW);
    }

    /// 0 when empty.
    fn median(&self) -> f64 {
        let mut sorted = self.samples;
        let filled = sorted.get_mut(..self.len).unwrap_or_default();
        filled.sort_by(f64::total_cmp);
        match filled.len() {
            0 => 0.0,
            n if n % 2 == 1 => filled.get(n / 2).copied().unwrap_or(0.0),
            n => {
                f64::midpoint(filled.get(n / 2 - 1).copied().unwrap_or(0.0), filled.get(n / 2).copied().unwrap_or(0.0))
            }
        }
    }
}

#[derive(Debug, Default)]
struct Estimates {
    /// Dummy verifications, seconds.
    dummy: Window,
    /// Per census label, durations divided by the dummy's median.
    relative: HashMap<String, Window>,
}

impl Estimates {
    fn floor_seconds(&self) -> f64 {
        let largest = self.relative.values().map(Window::median).fold(1.0, f64::max);
        self.dummy.median() * largest
    }
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
#[derive(Debug)]
pub struct RefusalTiming {
    estimates: Mutex<Estimates>,
    dummy_runs: [AtomicU64; 4],
    /// The highest floor (`refusal_floor_max_ms`; zero: no floor).
    max: Duration,
}

impl Default for RefusalTiming {
    fn default() -> Self {
        Self::with_max(MAX_FLOOR)
    }
}

impl RefusalTiming {
    /// Estimates whose floor never exceeds `max` (zero turns the floor off).
    #[must_use]
    pub fn with_max(max: Duration) -> Self {
        Self { estimates: Mutex::default(), dummy_runs: Default::default(), max }
    }

    /// A verification of a stored value with census label `label` took
    /// `elapsed`. Ignored until a dummy verification has been timed (the
    /// first unknown-user or cheap refusal).
    pub fn record(&self, label: &str, elapsed: Duration) {
        let mut estimates = self.estimates.lock().unwrap_or_else(PoisonError::into_inner);
        let dummy = estimates.dummy.median();
        if dummy <= 0.0 {
            return;
        }
        let relative = elapsed.as_secs_f64() / dummy;
        if let Some(window) = estimates.relative.get_mut(label) {
            window.add(relative);
            return;
        }
        if estimates.relative.len() >= MAX_LABELS {
            let lowest = estimates
                .relative
                .iter()
                .map(|(label, window)| (label, window.median()))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(label, median)| (label.clone(), median));
            match lowest {
                Some((lowest, at)) if at < relative => {
                    estimates.relative.remove(&lowest);
                }
                _ => return,
            }
        }
        let mut window = Window::default();
        window.add(relative);
        estimates.relative.insert(label.to_owned(), window);
    }

    /// A dummy verification (for `reason`) took `elapsed`.
    pub fn record_dummy(&self, reason: DummyReason, elapsed: Duration) {
        if let Some(counter) = self.dummy_runs.get(reason.index()) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        self.estimates.lock().unwrap_or_else(PoisonError::into_inner).dummy.add(elapsed.as_secs_f64());
    }

    /// The dummy's median times the largest relative cost, at most the
    /// configured maximum.
    #[must_use]
    pub fn floor(&self) -> Duration {
        if self.max.is_zero() {
            return Duration::ZERO;
        }
        let seconds = self.estimates.lock().unwrap_or_else(PoisonError::into_inner).floor_seconds();
        Duration::try_from_secs_f64(seconds).unwrap_or(self.max).min(self.max)
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

    fn close(actual: Duration, expected: Duration) -> bool {
        (actual.as_secs_f64() - expected.as_secs_f64()).abs() < 1e-6
    }

    #[test]
    fn the_floor_is_the_slowest_median_and_never_below_the_dummy() {
        let timing = RefusalTiming::default();
        assert_eq!(timing.floor(), Duration::ZERO);
        // Before any dummy run there is nothing to compare with.
        timing.record("bcrypt cost 10", ms(75));
        assert_eq!(timing.floor(), Duration::ZERO);
        timing.record_dummy(DummyReason::UnknownUser, ms(33));
        timing.record("md5_crypt", ms(1));
        assert!(close(timing.floor(), ms(33)));
        for sample in [70, 80, 75, 74, 76] {
            timing.record("bcrypt cost 10", ms(sample));
        }
        assert!(close(timing.floor(), ms(75)), "{:?}", timing.floor());
        assert_eq!(timing.snapshot().dummy_runs[0], ("unknown_user", 1));
    }

    #[test]
    fn medians_ignore_outliers_and_the_dummy_carries_a_shift_to_every_format() {
        let timing = RefusalTiming::default();
        for i in 0..30 {
            timing.record_dummy(DummyReason::CheaperFormat, if i % 5 == 0 { ms(900) } else { ms(30) });
        }
        assert!(close(timing.floor(), ms(30)));
        for _ in 0..5 {
            timing.record("bcrypt cost 10", ms(60));
        }
        assert!(close(timing.floor(), ms(60)));
        // The machine gets twice as slow: five slow dummy runs move the
        // floor of bcrypt too, though no bcrypt row was verified since.
        for _ in 0..5 {
            timing.record_dummy(DummyReason::UnknownUser, ms(60));
        }
        assert!(close(timing.floor(), ms(120)), "{:?}", timing.floor());
        let runs = timing.snapshot().dummy_runs;
        assert_eq!(runs.iter().find(|(reason, _)| *reason == "cheaper_format"), Some(&("cheaper_format", 30)));
    }

    #[test]
    fn the_floor_is_capped_and_the_labels_bounded() {
        let timing = RefusalTiming::default();
        timing.record_dummy(DummyReason::UnknownUser, ms(30));
        timing.record("bcrypt cost 16", Duration::from_secs(9));
        assert_eq!(timing.floor(), MAX_FLOOR);
        let timing = RefusalTiming::default();
        timing.record_dummy(DummyReason::UnknownUser, ms(10));
        for i in 0..100 {
            timing.record(&format!("pbkdf2 ({i} iterations)"), ms(i + 1));
        }
        let estimates = timing.estimates.lock().unwrap();
        assert_eq!(estimates.relative.len(), MAX_LABELS);
        assert!(estimates.relative.contains_key("pbkdf2 (99 iterations)"));
        assert!(!estimates.relative.contains_key("pbkdf2 (0 iterations)"));
        drop(estimates);
        assert!(close(timing.floor(), ms(100)));
    }

    #[test]
    fn the_configured_maximum_caps_the_floor_and_zero_turns_it_off() {
        for (max, expected) in [(Duration::from_secs(5), Duration::from_secs(5)), (Duration::ZERO, Duration::ZERO)] {
            let timing = RefusalTiming::with_max(max);
            timing.record_dummy(DummyReason::UnknownUser, ms(30));
            timing.record("bcrypt cost 16", Duration::from_secs(9));
            assert_eq!(timing.floor(), expected);
        }
    }

    #[test]
    fn window_medians() {
        let mut window = Window::default();
        assert!(window.median().abs() < f64::EPSILON);
        for value in [3.0, 1.0] {
            window.add(value);
        }
        assert!((window.median() - 2.0).abs() < 1e-9);
        for value in 0..20 {
            window.add(f64::from(value));
        }
        // The last nine: 11..=19.
        assert!((window.median() - 15.0).abs() < 1e-9);
    }
}
