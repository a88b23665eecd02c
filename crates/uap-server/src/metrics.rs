//! Prometheus metrics (`GET /metrics`): the design document's names plus
//! HTTP, password, session-cache, audit-queue and alert metrics. Every label
//! takes values from a fixed set (route templates, status codes, hash
//! families, event names), so cardinality stays bounded. Updates are atomic
//! counter/gauge/histogram operations; gauges that need a query
//! (`uap_active_sessions`) are refreshed by a background loop
//! ([`crate::observe`]).

use std::sync::{Arc, Mutex, PoisonError};

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use uap_domain::auth::TimingSnapshot;
use uap_domain::pipeline::RunObserver;

use crate::runtime::protected::ProtectionMetrics;
use crate::runtime::session_cache::CacheStats;

/// Latency buckets (seconds) of the HTTP histogram.
const HTTP_BUCKETS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The registry and the metrics UAP updates.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// `uap_authentication_requests_total{method,status}`.
    pub requests: IntCounterVec,
    /// `uap_authentication_duration_seconds{method}`.
    pub duration: HistogramVec,
    /// `uap_middleware_execution_seconds{middleware_name}`.
    pub middleware: HistogramVec,
    /// Host-database protection.
    pub host: ProtectionMetrics,
    /// `uap_database_connections_active`: host pool connections in use.
    pub db_connections: IntGauge,
    /// `uap_active_sessions`.
    pub active_sessions: IntGauge,
    /// `uap_cache_hit_rate`: session read-cache hits / lookups over the last
    /// refresh interval.
    pub cache_hit_rate: Gauge,
    /// `uap_session_cache_hits_total`, `uap_session_cache_misses_total`.
    pub cache: CacheStats,
    /// `uap_http_requests_total{method,route,status}`.
    pub http_requests: IntCounterVec,
    /// `uap_http_request_duration_seconds{route}`.
    pub http_duration: HistogramVec,
    /// `uap_password_verifications_total{format,outcome}`.
    pub verifications: IntCounterVec,
    /// `uap_password_hash_upgrades_total{from,to}`.
    pub hash_upgrades: IntCounterVec,
    /// `uap_login_attempts_total{outcome}` (`success`, `failure`).
    pub logins: IntCounterVec,
    /// `uap_rate_limit_blocks_total{reason}`.
    pub rate_limit_blocks: IntCounterVec,
    /// `uap_security_events_total{event}`.
    pub security_events: IntCounterVec,
    /// `uap_audit_queue_depth`.
    pub audit_queue_depth: IntGauge,
    /// `uap_alert_active{alert}` (0/1).
    pub alert_active: IntGaugeVec,
    /// `uap_password_dummy_verifications_total{reason}`: refusals that also
    /// verified the dummy hash (copied from the domain at each scrape).
    dummy_verifications: IntCounterVec,
    /// `uap_login_refusal_floor_seconds`: the current response floor.
    refusal_floor: Gauge,
    /// Serialises the copy of the domain's counters.
    timing_sync: Arc<Mutex<()>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> prometheus::Result<IntCounterVec> {
    let metric = IntCounterVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

fn gauge(registry: &Registry, name: &str, help: &str) -> prometheus::Result<IntGauge> {
    let metric = IntGauge::new(name, help)?;
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

fn counter(registry: &Registry, name: &str, help: &str) -> prometheus::Result<IntCounter> {
    let metric = IntCounter::new(name, help)?;
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

impl Metrics {
    /// A fresh registry with every metric registered.
    ///
    /// # Errors
    /// Only on a duplicate registration (a bug).
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let r = &registry;
        let requests = counter_vec(
            r,
            "uap_authentication_requests_total",
            "Authentication requests by method and status",
            &["method", "status"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new("uap_authentication_duration_seconds", "Authentication request duration")
                .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]),
            &["method"],
        )?;
        let middleware = HistogramVec::new(
            HistogramOpts::new("uap_middleware_execution_seconds", "Middleware execution time")
                .buckets(vec![0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]),
            &["middleware_name"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new("uap_http_request_duration_seconds", "HTTP request latency by route template")
                .buckets(HTTP_BUCKETS.to_vec()),
            &["route"],
        )?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(middleware.clone()))?;
        registry.register(Box::new(http_duration.clone()))?;
        let host = ProtectionMetrics {
            in_flight: gauge(r, "uap_host_directory_lookups_in_flight", "Host-database lookups in flight")?,
            rejections: counter_vec(
                r,
                "uap_host_directory_rejections_total",
                "Host lookups refused without querying",
                &["reason"],
            )?,
            circuit_open: gauge(r, "uap_host_directory_circuit_open", "1 while the host-database circuit is open")?,
        };
        let dummy_verifications = counter_vec(
            r,
            "uap_password_dummy_verifications_total",
            "Refused logins that also verified the dummy hash (unknown user, no or unusable stored hash, \
             stored format cheaper than the preferred scheme)",
            &["reason"],
        )?;
        let refusal_floor = Gauge::new(
            "uap_login_refusal_floor_seconds",
            "The earliest a refused credential check answers (the slowest format's running median)",
        )?;
        registry.register(Box::new(refusal_floor.clone()))?;
        let cache_hit_rate = Gauge::new("uap_cache_hit_rate", "Session read-cache hits / lookups, last interval")?;
        registry.register(Box::new(cache_hit_rate.clone()))?;
        Ok(Self {
            requests,
            duration,
            middleware,
            host,
            db_connections: gauge(r, "uap_database_connections_active", "Host-database pool connections in use")?,
            active_sessions: gauge(r, "uap_active_sessions", "Active, unexpired sessions")?,
            cache_hit_rate,
            cache: CacheStats {
                hits: counter(r, "uap_session_cache_hits_total", "Session reads answered by the read cache")?,
                misses: counter(r, "uap_session_cache_misses_total", "Session reads that went to the store")?,
            },
            http_requests: counter_vec(
                r,
                "uap_http_requests_total",
                "HTTP requests by method, route template and status",
                &["method", "route", "status"],
            )?,
            http_duration,
            verifications: counter_vec(
                r,
                "uap_password_verifications_total",
                "Password verifications of stored hashes by hash family and outcome",
                &["format", "outcome"],
            )?,
            hash_upgrades: counter_vec(
                r,
                "uap_password_hash_upgrades_total",
                "Stored hashes rewritten at login, by family",
                &["from", "to"],
            )?,
            logins: counter_vec(r, "uap_login_attempts_total", "Login attempts by outcome", &["outcome"])?,
            rate_limit_blocks: counter_vec(
                r,
                "uap_rate_limit_blocks_total",
                "Logins refused by a rate limit",
                &["reason"],
            )?,
            security_events: counter_vec(
                r,
                "uap_security_events_total",
                "Lockouts and suspicious activity",
                &["event"],
            )?,
            audit_queue_depth: gauge(r, "uap_audit_queue_depth", "Audit events waiting for the writer")?,
            alert_active: {
                let metric = IntGaugeVec::new(Opts::new("uap_alert_active", "1 while an alert fires"), &["alert"])?;
                registry.register(Box::new(metric.clone()))?;
                metric
            },
            dummy_verifications,
            refusal_floor,
            timing_sync: Arc::default(),
            registry,
        })
    }

    /// Copies the domain's timing counters and floor into the registry.
    pub fn sync_timing(&self, snapshot: &TimingSnapshot) {
        let _serialised = self.timing_sync.lock().unwrap_or_else(PoisonError::into_inner);
        for (reason, count) in &snapshot.dummy_runs {
            let counter = self.dummy_verifications.with_label_values(&[reason]);
            counter.inc_by(count.saturating_sub(counter.get()));
        }
        self.refusal_floor.set(snapshot.floor.as_secs_f64());
    }

    /// Counts one request of `method` answered with `status`, taking `seconds`.
    pub fn record(&self, method: &str, status: u16, seconds: f64) {
        self.requests.with_label_values(&[method, &status.to_string()]).inc();
        self.duration.with_label_values(&[method]).observe(seconds);
    }

    /// Counts one HTTP request (labels from fixed sets: see [`crate::http`]).
    pub fn record_http(&self, method: &str, route: &str, status: &str, seconds: f64) {
        self.http_requests.with_label_values(&[method, route, status]).inc();
        self.http_duration.with_label_values(&[route]).observe(seconds);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Result<Vec<u8>, prometheus::Error> {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(out)
    }
}

impl RunObserver for Metrics {
    fn observe(&self, name: &str, seconds: f64) {
        self.middleware.with_label_values(&[name]).observe(seconds);
    }

    fn password_verified(&self, family: &'static str, outcome: &'static str) {
        self.verifications.with_label_values(&[family, outcome]).inc();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn timing_is_copied_once_per_scrape() {
        let registry = Metrics::new().unwrap();
        let snapshot = TimingSnapshot {
            floor: Duration::from_millis(75),
            dummy_runs: vec![("unknown_user", 3), ("no_password", 0)],
        };
        registry.sync_timing(&snapshot);
        registry.sync_timing(&snapshot);
        let text = String::from_utf8(registry.render().unwrap()).unwrap();
        assert!(text.contains("uap_password_dummy_verifications_total{reason=\"unknown_user\"} 3"), "{text}");
        assert!(text.contains("uap_password_dummy_verifications_total{reason=\"no_password\"} 0"), "{text}");
        assert!(text.contains("uap_login_refusal_floor_seconds 0.075"), "{text}");
    }
}
