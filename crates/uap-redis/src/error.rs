//! fred errors as [`StoreError`]s: no fred type crosses a port.

use fred::error::{Error, ErrorKind};
use uap_ports::StoreError;

/// The `what` of every [`StoreError::Unavailable`] of this crate.
pub(crate) const WHAT: &str = "redis";

/// A driver failure, kept for the log: fred's kind and message (which never
/// hold the URL or its password).
#[derive(Debug, thiserror::Error)]
#[error("redis {kind}: {details}")]
pub(crate) struct DriverError {
    kind: &'static str,
    details: String,
}

/// Server replies that mean "not now" rather than "wrong", and fred's
/// messages (kind `Unknown`) for a command that found no connection.
const TRANSIENT_REPLIES: [&str; 13] = [
    "LOADING",
    "CLUSTERDOWN",
    "MASTERDOWN",
    "TRYAGAIN",
    "READONLY",
    "BUSY",
    "Failed to route command",
    "Missing expected connection",
    "Missing response",
    "Too many failed write attempts",
    "Max attempts exceeded",
    "Failed to send command to router",
    "Client is not initialized",
];

/// Maps a fred error: connectivity (closed, refused, timed out, overloaded,
/// cluster or sentinel not ready) is `Unavailable`, credentials and
/// configuration are `Misconfigured`, the rest `Backend`.
pub(crate) fn map_err(err: &Error) -> StoreError {
    let driver = || DriverError { kind: err.kind().to_str(), details: err.details().to_owned() };
    let transient = TRANSIENT_REPLIES.iter().any(|reply| err.details().starts_with(reply));
    match err.kind() {
        _ if transient => StoreError::unavailable(WHAT, driver()),
        ErrorKind::IO
        | ErrorKind::Canceled
        | ErrorKind::Timeout
        | ErrorKind::Backpressure
        | ErrorKind::Cluster
        | ErrorKind::Sentinel
        | ErrorKind::Routing
        | ErrorKind::Tls => StoreError::unavailable(WHAT, driver()),
        ErrorKind::Auth => StoreError::Misconfigured(format!("redis rejected the credentials: {}", err.details())),
        ErrorKind::Config | ErrorKind::Url => StoreError::Misconfigured(format!("redis: {}", err.details())),
        _ => StoreError::backend(driver()),
    }
}

/// A reply this crate did not expect (a broken record, a script's shape).
pub(crate) fn malformed(what: impl Into<String>) -> StoreError {
    StoreError::backend(DriverError { kind: "unexpected reply", details: what.into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_semantic_variants() {
        let unavailable = |e: StoreError| matches!(e, StoreError::Unavailable { what: "redis", .. });
        assert!(unavailable(map_err(&Error::new(ErrorKind::Canceled, "Connection closed unexpectedly."))));
        assert!(unavailable(map_err(&Error::new(ErrorKind::Timeout, "Request timed out."))));
        assert!(unavailable(map_err(&Error::new(ErrorKind::IO, "Connection refused"))));
        assert!(unavailable(map_err(&Error::new(ErrorKind::Unknown, "LOADING Redis is loading"))));
        assert!(unavailable(map_err(&Error::new(ErrorKind::Cluster, "CLUSTERDOWN Hash slot not served"))));
        assert!(unavailable(map_err(&Error::new(ErrorKind::Unknown, "Failed to route command."))));
        assert!(matches!(map_err(&Error::new(ErrorKind::Auth, "WRONGPASS")), StoreError::Misconfigured(_)));
        assert!(matches!(map_err(&Error::new(ErrorKind::Unknown, "ERR syntax")), StoreError::Backend(_)));
    }
}
