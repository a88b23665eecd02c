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
