//! Prometheus metrics (`GET /metrics`): the design document's names.

use std::sync::{Arc, Mutex, PoisonError};

use actix_web::{HttpResponse, get, web};
use prometheus::{Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};
use uap_domain::auth::TimingSnapshot;
use uap_domain::pipeline::RunObserver;

use crate::protected::ProtectionMetrics;
use crate::state::AppState;

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

impl Metrics {
    /// A fresh registry with every metric registered.
    ///
    /// # Errors
    /// Only on a duplicate registration (a bug).
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("uap_authentication_requests_total", "Authentication requests by method and status"),
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
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(middleware.clone()))?;
        let host = ProtectionMetrics {
            in_flight: IntGauge::new("uap_database_connections_active", "Host-database lookups in flight")?,
            rejections: IntCounterVec::new(
                Opts::new("uap_host_directory_rejections_total", "Host lookups refused without querying"),
                &["reason"],
            )?,
            circuit_open: IntGauge::new(
                "uap_host_directory_circuit_open",
                "1 while the host-database circuit is open",
            )?,
        };
        registry.register(Box::new(host.in_flight.clone()))?;
        registry.register(Box::new(host.rejections.clone()))?;
        registry.register(Box::new(host.circuit_open.clone()))?;
        let dummy_verifications = IntCounterVec::new(
            Opts::new(
                "uap_password_dummy_verifications_total",
                "Refused logins that also verified the dummy hash (unknown user, no or unusable stored hash, \
                 stored format cheaper than the preferred scheme)",
            ),
            &["reason"],
        )?;
        let refusal_floor = Gauge::new(
            "uap_login_refusal_floor_seconds",
            "The earliest a refused credential check answers (the slowest format's running median)",
        )?;
        registry.register(Box::new(dummy_verifications.clone()))?;
        registry.register(Box::new(refusal_floor.clone()))?;
        Ok(Self {
            registry,
            requests,
            duration,
            middleware,
            host,
            dummy_verifications,
            refusal_floor,
            timing_sync: Arc::default(),
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

    fn render(&self) -> Result<Vec<u8>, prometheus::Error> {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(out)
    }
}

impl RunObserver for Metrics {
    fn observe(&self, name: &str, seconds: f64) {
        self.middleware.with_label_values(&[name]).observe(seconds);
    }
}

/// Prometheus text exposition. Bind it privately in production.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format")))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    state.metrics.sync_timing(&state.auth.timing().snapshot());
    match state.metrics.render() {
        Ok(body) => HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(body),
        Err(err) => {
            tracing::error!(error = %err, "metrics encoding failed");
            HttpResponse::InternalServerError().json(serde_json::json!({ "error": "metrics unavailable" }))
        }
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
