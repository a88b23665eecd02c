//! [`StartupError`]: why the server could not start, naming the key, table,
//! column, URL or address at fault.

use uap_domain::config::ConfigError;
use uap_ports::StoreError;

/// Why the server could not start. Each names what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("internal database (database_url): {0}")]
    InternalDb(#[source] StoreError),
    #[error("host database (host_db_url): {0}")]
    HostDirectory(#[source] StoreError),
    /// The host user API does not answer `GET /health` with 200.
    #[error("host user API (host_api_base_url {url}): {detail}")]
    HostApi {
        /// The base URL, without credentials.
        url: String,
        /// What failed, naming the route (never the key).
        detail: String,
    },
    #[error("Redis (redis_url): {0}")]
    Redis(#[source] StoreError),
    #[error("{0}")]
    Config(String),
    /// The configuration breaks its rules: every mistake, each naming its key.
    #[error("configuration: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<ConfigError>),
    #[error("cannot listen on {address}: {source}")]
    Bind { address: String, source: std::io::Error },
}
