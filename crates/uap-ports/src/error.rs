//! `StoreError`: what every port returns, with the semantic variants the core
//! branches on (unavailable, misconfigured, …) and no driver error type.

use std::error::Error;

/// `err` and its causes on one line (`outer: inner: root`), for logs and
/// start-up messages; a cause whose text the line already holds is skipped
/// (drivers often repeat their source in their own message).
#[must_use]
pub fn error_chain(err: &dyn Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// An opaque error from a driver, kept for the log, never shown to a client.
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// What a store or directory can report. The core branches on the semantic
/// variants; `Backend` carries a driver error to the log.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The dependency does not answer (connection refused, pool timeout, …).
    #[error("{what} is unavailable")]
    Unavailable {
        /// Which dependency, for the log and the 503 body (never a secret).
        what: &'static str,
        #[source]
        source: Option<BoxError>,
    },
    /// The dependency answered but the configuration does not match it
    /// (missing table or column, wrong type). The message names the object.
    #[error("{0}")]
    Misconfigured(String),
    /// Any other failure of the dependency.
    #[error("storage backend error")]
    Backend(#[source] BoxError),
}

impl StoreError {
    /// Wraps any driver error as [`StoreError::Backend`].
    pub fn backend(err: impl Into<BoxError>) -> Self {
        Self::Backend(err.into())
    }

    /// Wraps a connectivity failure of `what` as [`StoreError::Unavailable`].
    pub fn unavailable(what: &'static str, err: impl Into<BoxError>) -> Self {
        Self::Unavailable { what, source: Some(err.into()) }
    }
}
