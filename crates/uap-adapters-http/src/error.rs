//! Errors building the HTTP adapters (a configuration mistake found at start-up,
//! e.g. an empty CAPTCHA secret or a relative verify URL).

use uap_ports::BoxError;

/// Why an adapter could not be built (a configuration mistake, found at startup).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The CAPTCHA secret is empty.
    #[error("the CAPTCHA secret_key is empty")]
    EmptySecret,
    /// The timeout is zero, so every call would fail.
    #[error("the timeout must be greater than zero")]
    ZeroTimeout,
    /// The verify URL is not an absolute `http`/`https` URL.
    #[error("invalid verify_url `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The host API configuration is wrong; the message names the key.
    #[error("{0}")]
    HostApi(String),
    /// The HTTP client (TLS setup) could not be built.
    #[error("could not build the HTTP client")]
    Client(#[source] BoxError),
}
