//! The request span (OpenTelemetry) and 5xx reports (Sentry), as one
//! middleware that is installed only when `otel_exporter_otlp_endpoint` or
//! `sentry_dsn` is set, so an unconfigured server runs none of it.
//!
//! The span is `trace`-level (see `telemetry`): named `METHOD /route/template`,
//! with `http.request.method`, `http.route`, `http.response.status_code` and
//! `request_id` — never a header, body, query string or token. A W3C
//! `traceparent` (and `tracestate`) makes it a child of the caller's trace.

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use sentry::SentryFutureExt as _;
use tracing::Instrument as _;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Traces the request and reports a 5xx to Sentry (use with
/// `actix_web::middleware::from_fn`, outside `http::add_headers`).
pub async fn observe(
    mut request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = ensure_request_id(&mut request);
    let method = request.method().as_str().to_owned();
    let route = request.match_pattern().unwrap_or_else(|| "unmatched".to_owned());

    let span = tracing::trace_span!(
        "http.request",
        otel.name = Empty,
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = Empty,
        http.route = Empty,
        http.response.status_code = Empty,
        request_id = Empty,
    );
    if !span.is_disabled() {
        span.record("otel.name", format!("{method} {route}"));
        span.record("http.request.method", method.as_str());
        span.record("http.route", route.as_str());
        span.record("request_id", request_id.as_str());
        let parent = TraceContextPropagator::new().extract(&Headers(request.headers()));
        let _ = span.set_parent(parent);
    }

    let hub = Arc::new(sentry::Hub::new_from_top(sentry::Hub::current()));
    hub.configure_scope(|scope| scope.set_tag("request_id", &request_id));
    let result = next.call(request).instrument(span.clone()).bind_hub(Arc::clone(&hub)).await;

    let status = match &result {
        Ok(response) => response.status(),
        Err(err) => err.as_response_error().status_code(),
    };
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
        report(&hub, status.as_u16(), &method, &route, &request_id);
    }
    result
}

/// A Sentry event for a 5xx: status, method, route template and request id;
/// the request's own log lines (already secret-free) ride along as
/// breadcrumbs.
fn report(hub: &sentry::Hub, status: u16, method: &str, route: &str, request_id: &str) {
    if hub.client().is_none() {
        return;
    }
    let mut event = sentry::protocol::Event {
        level: sentry::Level::Error,
        message: Some(format!("HTTP {status} for {method} {route}")),
        transaction: Some(format!("{method} {route}")),
        ..sentry::protocol::Event::default()
    };
    event.tags.insert("request_id".into(), request_id.to_owned());
    event.tags.insert("http.status_code".into(), status.to_string());
    event.tags.insert("http.route".into(), route.to_owned());
    hub.capture_event(event);
}

/// The request id `http::add_headers` will echo: the caller's when it is
/// short and plain, else a new UUID written into the request so both agree.
fn ensure_request_id(request: &mut ServiceRequest) -> String {
    let plain = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).filter(|v| {
        !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    });
    if let Some(id) = plain {
        return id.to_owned();
    }
    let id = uuid::Uuid::new_v4().to_string();
    if let Ok(value) = HeaderValue::from_str(&id) {
        request.headers_mut().insert(REQUEST_ID, value);
    }
    id
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}
