//! Logging: JSON lines (default) or human-readable, filtered by `UAP_LOG`
//! (tracing `EnvFilter` syntax), else `info` (`debug` with `debug = true`).
//! Human-readable logs are coloured only when stderr is a terminal, so
//! `uap demo 2> file` writes plain text.
//!
//! With `otel_exporter_otlp_endpoint`, UAP's spans (all at `trace` level, so
//! they cost nothing otherwise) are exported over OTLP/HTTP (protobuf); with
//! `sentry_dsn`, panics and 5xx responses are reported to Sentry. With
//! neither, [`init_with`] installs exactly the subscriber of [`init`].

use std::io::IsTerminal as _;
use std::str::FromStr as _;

use crate::config::{LogFormat, TelemetryConfig};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use secrecy::ExposeSecret as _;
use tracing::{Level, Metadata};
use tracing_subscriber::filter::{EnvFilter, FilterFn, LevelFilter};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{Layer, Registry};

/// Installs the global subscriber once; later calls are ignored.
pub fn init(format: LogFormat, debug: bool) {
    let filter = env_filter(debug);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

fn env_filter(debug: bool) -> EnvFilter {
    let default = if debug { "debug" } else { "info" };
    EnvFilter::try_from_env("UAP_LOG").unwrap_or_else(|_| EnvFilter::new(format!("{default},sqlx=warn")))
}

/// What [`init_with`] started; [`Telemetry::shutdown`] flushes it.
#[must_use = "dropping it stops Sentry; call shutdown() to flush spans"]
pub struct Telemetry {
    tracer: Option<SdkTracerProvider>,
    sentry: Option<sentry::ClientInitGuard>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("traces", &self.tracer.is_some())
            .field("sentry", &self.sentry.is_some())
            .finish()
    }
}

impl Telemetry {
    /// Exports the spans still queued and sends Sentry's pending events.
    pub async fn shutdown(self) {
        if let Some(provider) = self.tracer {
            // The exporter runs on this runtime: wait for it off the workers.
            let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
            if let Ok(Err(err)) = flushed {
                tracing::warn!(error = %err, "trace exporter did not shut down cleanly");
            }
        }
        if let Some(guard) = self.sentry {
            let _ = tokio::task::spawn_blocking(move || drop(guard)).await;
        }
    }
}

/// Installs the subscriber for `settings`: logs as [`init`], plus the OTLP
/// exporter (spans named after `service_name`) and Sentry when configured.
/// Call inside the Tokio runtime.
///
/// # Errors
/// A message naming `otel_exporter_otlp_endpoint` or `sentry_dsn` (never the
/// DSN itself).
pub fn init_with(settings: &TelemetryConfig, service_name: &str) -> Result<Telemetry, String> {
    if settings.otlp_endpoint.is_none() && settings.sentry_dsn.is_none() {
        init(settings.log_format, settings.debug);
        return Ok(Telemetry { tracer: None, sentry: None });
    }
    let sentry = settings.sentry_dsn.as_ref().map(|dsn| start_sentry(dsn.expose_secret())).transpose()?;
    let tracer = settings.otlp_endpoint.as_deref().map(|endpoint| start_tracer(endpoint, service_name)).transpose()?;

    let ansi = std::io::stderr().is_terminal();
    let logs: Box<dyn Layer<Registry> + Send + Sync> = match settings.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(std::io::stderr)
            .with_filter(env_filter(settings.debug))
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(ansi)
            .with_filter(env_filter(settings.debug))
            .boxed(),
    };
    let traces = tracer.as_ref().map(|provider| {
        tracing_opentelemetry::layer().with_tracer(provider.tracer("uap")).with_filter(FilterFn::new(exported)).boxed()
    });
    let reports = sentry.as_ref().map(|_| {
        sentry::integrations::tracing::layer()
            .event_filter(|metadata| match *metadata.level() {
                // The request's own logs become breadcrumbs of its report.
                Level::ERROR | Level::WARN | Level::INFO => sentry::integrations::tracing::EventFilter::Breadcrumb,
                _ => sentry::integrations::tracing::EventFilter::Ignore,
            })
            .span_filter(|_| false)
            // Not a reason to enable UAP's trace-level spans.
            .with_filter(LevelFilter::INFO)
            .boxed()
    });
    let _ = tracing_subscriber::registry().with(logs).with(traces).with(reports).try_init();
    Ok(Telemetry { tracer, sentry })
}

/// What goes to the collector: UAP's spans (request, host lookup, hash
/// verify, session store, middleware runs) and info-or-worse log events.
fn exported(metadata: &Metadata<'_>) -> bool {
    if metadata.is_span() { metadata.target().starts_with("uap_") } else { *metadata.level() <= Level::INFO }
}

fn start_tracer(endpoint: &str, service_name: &str) -> Result<SdkTracerProvider, String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
        .build()
        .map_err(|e| format!("otel_exporter_otlp_endpoint: {e}"))?;
    let processor = BatchSpanProcessor::builder(exporter, opentelemetry_sdk::runtime::Tokio).build();
    let resource = opentelemetry_sdk::Resource::builder().with_service_name(service_name.to_owned()).build();
    Ok(SdkTracerProvider::builder().with_span_processor(processor).with_resource(resource).build())
}

fn start_sentry(dsn: &str) -> Result<sentry::ClientInitGuard, String> {
    let dsn = sentry::types::Dsn::from_str(dsn).map_err(|_| "sentry_dsn: not a valid Sentry DSN".to_owned())?;
    let options = sentry::ClientOptions {
        dsn: Some(dsn),
        release: sentry::release_name!(),
        send_default_pii: false,
        ..sentry::ClientOptions::default()
    };
    Ok(sentry::init(options))
}
