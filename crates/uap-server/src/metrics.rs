//! Prometheus metrics (`GET /metrics`): the design document's names.

use actix_web::{HttpResponse, get, web};
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};
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
        Ok(Self { registry, requests, duration, middleware, host })
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
    match state.metrics.render() {
        Ok(body) => HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(body),
        Err(err) => {
            tracing::error!(error = %err, "metrics encoding failed");
            HttpResponse::InternalServerError().json(serde_json::json!({ "error": "metrics unavailable" }))
        }
    }
}
