//! Logging: JSON lines (default) or human-readable, filtered by `UAP_LOG`
//! (tracing `EnvFilter` syntax), else `info` (`debug` with `debug = true`).
//! Human-readable logs are coloured only when stderr is a terminal, so
//! `uap demo 2> file` writes plain text.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;
use uap_domain::config::LogFormat;

/// Installs the global subscriber once; later calls are ignored.
pub fn init(format: LogFormat, debug: bool) {
    let default = if debug { "debug" } else { "info" };
    let filter = EnvFilter::try_from_env("UAP_LOG").unwrap_or_else(|_| EnvFilter::new(format!("{default},sqlx=warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}
