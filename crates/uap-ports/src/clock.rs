//! The `Clock` port: the one place time is read (tests fix it).

use time::OffsetDateTime;

/// The source of "now" for every rule that depends on time. Tests use a fixed
/// clock; production uses [`SystemClock`].
pub trait Clock: Send + Sync + 'static {
    /// The current instant, UTC.
    fn now(&self) -> OffsetDateTime;
}

/// The wall clock. The one place in UAP that reads the system time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[expect(clippy::disallowed_methods, reason = "the one adapter that reads the wall clock")]
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}
