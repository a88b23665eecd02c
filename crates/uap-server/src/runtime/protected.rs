//! Protection of the host database: a concurrency cap (a slow host database
//! cannot pile up thousands of waiting logins), a circuit breaker (after
//! repeated failures, fail fast for a while instead of waiting on timeouts),
//! and single-flight de-duplication (concurrent lookups of the same
//! identifier share one query). Wraps any [`UserDirectory`] and, in the host
//! API's delegated mode, its [`PasswordAuthority`] (cap and breaker, shared
//! with the lookups; no single flight: passwords differ).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use prometheus::{IntCounterVec, IntGauge};
use tokio::sync::{OnceCell, Semaphore};
use uap_ports::{Delegated, HostUser, PasswordAuthority, PasswordUpdate, StoreError, UserDirectory, UserQuery};

/// The limits.
#[derive(Debug, Clone, Copy)]
pub struct Protection {
    /// Lookups in flight at once; more wait.
    pub max_in_flight: usize,
    /// How long a lookup may wait for a slot before 503.
    pub max_wait: Duration,
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// How long the circuit stays open before one trial request.
    pub open_for: Duration,
}

impl Default for Protection {
    fn default() -> Self {
        Self {
            max_in_flight: 32,
            max_wait: Duration::from_secs(2),
            failure_threshold: 5,
            open_for: Duration::from_secs(5),
        }
    }
}

/// Metrics of the protection.
#[derive(Clone)]
pub struct ProtectionMetrics {
    /// `uap_host_directory_lookups_in_flight`: host lookups in flight.
    pub in_flight: IntGauge,
    /// `uap_host_directory_rejections_total{reason}` (`overloaded`, `circuit_open`).
    pub rejections: IntCounterVec,
    /// `uap_host_directory_circuit_open` (0/1).
    pub circuit_open: IntGauge,
}

type Flight = Arc<OnceCell<Result<Option<HostUser>, Arc<StoreError>>>>;

/// Each waiter's copy of the leader's failure, of the same kind (a
/// misconfiguration stays one; the cause is kept as text).
fn shared(err: &StoreError) -> StoreError {
    match err {
        StoreError::Unavailable { what, source } => {
            StoreError::Unavailable { what, source: source.as_ref().map(|s| s.to_string().into()) }
        }
        StoreError::Misconfigured(message) => StoreError::Misconfigured(message.clone()),
        StoreError::Backend(source) => StoreError::Backend(source.to_string().into()),
    }
}

/// How the protected source is named in its errors and log lines.
#[derive(Debug, Clone, Copy)]
struct Names {
    circuit_open: &'static str,
    overloaded: &'static str,
    source: &'static str,
}

const DATABASE: Names = Names {
    circuit_open: "host database (circuit open after repeated failures)",
    overloaded: "host database (too many lookups waiting)",
    source: "host database",
};

const HOST_API: Names = Names {
    circuit_open: "host user API (circuit open after repeated failures)",
    overloaded: "host user API (too many lookups waiting)",
    source: "host user API",
};

/// A [`UserDirectory`] behind a cap, a breaker and single-flight.
pub struct ProtectedDirectory {
    inner: Arc<dyn UserDirectory>,
    /// The host's password check (delegated mode), behind the same cap and breaker.
    authority: Option<Arc<dyn PasswordAuthority>>,
    names: Names,
    limits: Protection,
    slots: Semaphore,
    failures: AtomicU32,
    /// When the circuit opened (ms since `epoch`), 0 = closed.
    opened_at_ms: AtomicU64,
    epoch: Instant,
    flights: Mutex<HashMap<String, Flight>>,
    metrics: ProtectionMetrics,
}

impl ProtectedDirectory {
    /// Wraps `inner`.
    #[must_use]
    pub fn new(inner: Arc<dyn UserDirectory>, limits: Protection, metrics: ProtectionMetrics) -> Self {
        Self {
            inner,
            authority: None,
            names: DATABASE,
            slots: Semaphore::new(limits.max_in_flight.max(1)),
            limits,
            failures: AtomicU32::new(0),
            opened_at_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            flights: Mutex::new(HashMap::new()),
            metrics,
        }
    }

    /// The same protection over a host user API; `authority` is its
    /// password check in delegated mode.
    #[must_use]
    pub fn host_api(mut self, authority: Option<Arc<dyn PasswordAuthority>>) -> Self {
        self.names = HOST_API;
        self.authority = authority;
        self
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX).max(1)
    }

    /// Refuses while the circuit is open; lets one trial through when the
    /// open period has passed (half-open).
    fn admit(&self) -> Result<(), StoreError> {
        let opened = self.opened_at_ms.load(Ordering::Acquire);
        if opened == 0 {
            return Ok(());
        }
        let open_ms = u64::try_from(self.limits.open_for.as_millis()).unwrap_or(u64::MAX);
        let now = self.now_ms();
        if now.saturating_sub(opened) >= open_ms
            && self.opened_at_ms.compare_exchange(opened, now, Ordering::AcqRel, Ordering::Acquire).is_ok()
        {
            // This caller is the trial; others keep failing fast until it reports.
            return Ok(());
        }
        self.metrics.rejections.with_label_values(&["circuit_open"]).inc();
        Err(StoreError::Unavailable { what: self.names.circuit_open, source: None })
    }

    fn report<T>(&self, result: &Result<T, StoreError>) {
        match result {
            Err(StoreError::Unavailable { .. }) => {
                let failures = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
                if failures >= self.limits.failure_threshold {
                    let now = self.now_ms();
                    if self.opened_at_ms.swap(now, Ordering::AcqRel) == 0 {
                        tracing::error!(failures, source = self.names.source, "host directory failing: circuit opened");
                    }
                    self.metrics.circuit_open.set(1);
                }
            }
            _ => {
                self.failures.store(0, Ordering::Release);
                if self.opened_at_ms.swap(0, Ordering::AcqRel) != 0 {
                    tracing::info!(source = self.names.source, "host directory answers again: circuit closed");
                    self.metrics.circuit_open.set(0);
                }
            }
        }
    }

    async fn guarded<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.admit()?;
        let permit = match tokio::time::timeout(self.limits.max_wait, self.slots.acquire()).await {
            Ok(Ok(permit)) => permit,
            _ => {
                self.metrics.rejections.with_label_values(&["overloaded"]).inc();
                return Err(StoreError::Unavailable { what: self.names.overloaded, source: None });
            }
        };
        self.metrics.in_flight.inc();
        let result = call.await;
        self.metrics.in_flight.dec();
        drop(permit);
        self.report(&result);
        result
    }

    fn flight(&self, key: &str) -> (Flight, bool) {
        let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
        match flights.get(key) {
            Some(flight) => (Arc::clone(flight), false),
            None => {
                let flight: Flight = Arc::new(OnceCell::new());
                flights.insert(key.to_owned(), Arc::clone(&flight));
                (flight, true)
            }
        }
    }
}

/// Removes a flight from the table when dropped.
struct Forget<'a> {
    flights: &'a Mutex<HashMap<String, Flight>>,
    key: String,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.flights.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.key);
    }
}

fn flight_key(query: &UserQuery) -> String {
    format!("{}\u{0}{}\u{0}{}", query.case_insensitive, query.fields.join("\u{0}"), query.value)
}

#[async_trait]
impl UserDirectory for ProtectedDirectory {
    async fn find_user(&self, query: &UserQuery) -> Result<Option<HostUser>, StoreError> {
        let key = flight_key(query);
        let (flight, leader) = self.flight(&key);
        // The leader forgets the flight when it ends, even if its request is
        // cancelled, so a result is never served past its own query.
        let _forget = leader.then(|| Forget { flights: &self.flights, key: key.clone() });
        let result =
            flight.get_or_init(|| async { self.guarded(self.inner.find_user(query)).await.map_err(Arc::new) }).await;
        result.clone().map_err(|err| shared(&err))
    }

    fn defers(&self, user: &HostUser) -> bool {
        self.inner.defers(user)
    }

    /// Guarded only when there is a call to make: a no-op passing through
    /// the breaker would count as the host answering (and could close an
    /// open circuit as a half-open trial) and cost a pool slot on every login.
    async fn complete(&self, user: HostUser) -> Result<HostUser, StoreError> {
        if !self.inner.defers(&user) {
            return Ok(user);
        }
        self.guarded(self.inner.complete(user)).await
    }

    async fn update_password_hash(&self, user_id: &str, old: &str, new: &str) -> Result<PasswordUpdate, StoreError> {
        self.guarded(self.inner.update_password_hash(user_id, old, new)).await
    }

    async fn health(&self) -> Result<(), StoreError> {
        let result = self.inner.health().await;
        self.report(&result);
        result
    }
}

#[async_trait]
impl PasswordAuthority for ProtectedDirectory {
    async fn verify_password(&self, query: &UserQuery, password: &str) -> Result<Delegated, StoreError> {
        let Some(authority) = &self.authority else {
            return Err(StoreError::Misconfigured("this host directory does not verify passwords".into()));
        };
        self.guarded(authority.verify_password(query, password)).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use prometheus::Opts;

    use super::*;

    /// Counts lookups; fails while `down`; each lookup waits for `gate`.
    struct Slow {
        calls: AtomicUsize,
        down: std::sync::atomic::AtomicBool,
        gate: tokio::sync::Notify,
    }

    #[async_trait]
    impl UserDirectory for Slow {
        async fn find_user(&self, _query: &UserQuery) -> Result<Option<HostUser>, StoreError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.gate.notified().await;
            if self.down.load(Ordering::SeqCst) {
                return Err(StoreError::Unavailable { what: "host database", source: None });
            }
            Ok(None)
        }
        async fn update_password_hash(&self, _: &str, _: &str, _: &str) -> Result<PasswordUpdate, StoreError> {
            Ok(PasswordUpdate::Unsupported)
        }
        async fn health(&self) -> Result<(), StoreError> {
            Ok(())
        }
    }

    fn metrics() -> ProtectionMetrics {
        ProtectionMetrics {
            in_flight: IntGauge::new("g", "g").unwrap(),
            rejections: IntCounterVec::new(Opts::new("r", "r"), &["reason"]).unwrap(),
            circuit_open: IntGauge::new("c", "c").unwrap(),
        }
    }

    fn query(value: &str) -> UserQuery {
        UserQuery { value: value.into(), fields: vec!["username".into()], case_insensitive: false }
    }

    fn slow() -> Arc<Slow> {
        Arc::new(Slow { calls: AtomicUsize::new(0), down: false.into(), gate: tokio::sync::Notify::new() })
    }

    /// A host whose password check always fails, counting the calls.
    struct DownAuthority(AtomicUsize);

    #[async_trait]
    impl PasswordAuthority for DownAuthority {
        async fn verify_password(&self, _query: &UserQuery, _password: &str) -> Result<Delegated, StoreError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Err(StoreError::Unavailable { what: "host user API", source: None })
        }
    }

    #[tokio::test]
    async fn the_password_check_shares_the_breaker_and_names_the_api() {
        let authority = Arc::new(DownAuthority(AtomicUsize::new(0)));
        let limits = Protection { failure_threshold: 2, open_for: Duration::from_secs(60), ..Protection::default() };
        let dir = ProtectedDirectory::new(slow(), limits, metrics())
            .host_api(Some(Arc::clone(&authority) as Arc<dyn PasswordAuthority>));
        for _ in 0..2 {
            assert!(dir.verify_password(&query("a"), "pw").await.is_err());
        }
        assert_eq!(authority.0.load(Ordering::SeqCst), 2);
        let open = dir.verify_password(&query("a"), "pw").await;
        assert!(
            matches!(open, Err(StoreError::Unavailable { what, .. }) if what.starts_with("host user API (circuit open")),
            "{open:?}"
        );
        assert!(dir.find_user(&query("b")).await.is_err(), "lookups fail fast too");
        assert_eq!(authority.0.load(Ordering::SeqCst), 2, "no call while open");
        let plain = ProtectedDirectory::new(slow(), Protection::default(), metrics());
        assert!(matches!(plain.verify_password(&query("a"), "pw").await, Err(StoreError::Misconfigured(_))));
    }

    #[test]
    fn a_shared_failure_keeps_its_kind() {
        let misconfigured = shared(&StoreError::Misconfigured("no column email in users".into()));
        assert!(matches!(&misconfigured, StoreError::Misconfigured(m) if m == "no column email in users"));
        let down = shared(&StoreError::unavailable("host database", "connection refused"));
        assert!(
            matches!(&down, StoreError::Unavailable { what: "host database", source: Some(s) } if s.to_string() == "connection refused")
        );
        assert!(
            matches!(shared(&StoreError::backend("deadlock")), StoreError::Backend(s) if s.to_string() == "deadlock")
        );
    }

    #[tokio::test]
    async fn same_identifier_shares_one_lookup() {
        let inner = slow();
        let dir = Arc::new(ProtectedDirectory::new(inner.clone(), Protection::default(), metrics()));
        let lookups: Vec<_> = (0..10)
            .map(|_| {
                let dir = Arc::clone(&dir);
                tokio::spawn(async move { dir.find_user(&query("ann")).await })
            })
            .collect();
        while inner.calls.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        inner.gate.notify_one();
        for lookup in lookups {
            assert_eq!(lookup.await.unwrap().unwrap(), None);
        }
        assert_eq!(inner.calls.load(Ordering::SeqCst), 1);
        assert!(dir.flights.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn cap_sheds_and_breaker_opens_then_closes() {
        let inner = slow();
        let limits = Protection {
            max_in_flight: 1,
            max_wait: Duration::from_millis(50),
            failure_threshold: 2,
            open_for: Duration::from_millis(100),
        };
        let dir = Arc::new(ProtectedDirectory::new(inner.clone(), limits, metrics()));
        let first = {
            let dir = Arc::clone(&dir);
            tokio::spawn(async move { dir.find_user(&query("a")).await })
        };
        while inner.calls.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let shed = dir.find_user(&query("b")).await;
        assert!(matches!(shed, Err(StoreError::Unavailable { .. })), "over the cap");
        inner.down.store(true, Ordering::SeqCst);
        inner.gate.notify_one();
        assert!(first.await.unwrap().is_err());
        // One more failure opens the circuit.
        let second = {
            let dir = Arc::clone(&dir);
            tokio::spawn(async move { dir.find_user(&query("c")).await })
        };
        while inner.calls.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        inner.gate.notify_one();
        assert!(second.await.unwrap().is_err());
        let calls = inner.calls.load(Ordering::SeqCst);
        assert!(dir.find_user(&query("d")).await.is_err());
        assert_eq!(inner.calls.load(Ordering::SeqCst), calls, "open circuit: no query sent");
        // After the open period a trial goes through and, succeeding, closes it.
        inner.down.store(false, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(120)).await;
        let trial = {
            let dir = Arc::clone(&dir);
            tokio::spawn(async move { dir.find_user(&query("e")).await })
        };
        while inner.calls.load(Ordering::SeqCst) == calls {
            tokio::task::yield_now().await;
        }
        inner.gate.notify_one();
        assert_eq!(trial.await.unwrap().unwrap(), None);
        assert_eq!(dir.opened_at_ms.load(Ordering::SeqCst), 0);
    }
}
