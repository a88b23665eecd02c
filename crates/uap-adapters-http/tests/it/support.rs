//! Shared helpers of the integration tests.

use std::net::TcpListener;

/// Installs the rustls crypto provider once (ring; aws-lc may also be linked
/// into other crates' test binaries).
pub fn init() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A URL on 127.0.0.1 whose port nothing listens on: the listener is bound to
/// get a free port from the OS, then dropped.
pub fn refused_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/siteverify")
}
