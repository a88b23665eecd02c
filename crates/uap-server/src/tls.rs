//! HTTPS: `tls_cert_file` and `tls_key_file` (PEM) served with rustls and
//! the ring provider, and the `Strict-Transport-Security` rule.
//!
//! The certificate is a value built from the settings behind a swappable
//! holder ([`TlsCertificates::reload`]): rustls asks the holder for the
//! certificate on every handshake, so a configuration reload can replace it
//! without restarting the listener. Files are read and checked at start-up;
//! an unreadable file, a missing key or a key that does not match the
//! certificate is an error naming the key.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use actix_web::dev::ServiceRequest;
use arc_swap::ArcSwap;
use ipnet::IpNet;
use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// `Strict-Transport-Security`'s value: one year, this host only (UAP cannot
/// know whether every subdomain is served over HTTPS).
pub const HSTS: &str = "max-age=31536000";

/// The served certificate and key; replaceable while serving.
pub struct TlsCertificates {
    current: ArcSwap<CertifiedKey>,
}

impl fmt::Debug for TlsCertificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The private key stays out of logs.
        f.debug_struct("TlsCertificates").field("chain_len", &self.current.load().cert.len()).finish()
    }
}

impl TlsCertificates {
    /// Reads and checks `cert_file` and `key_file`.
    ///
    /// # Errors
    /// A message naming `tls_cert_file` or `tls_key_file` and the cause.
    pub fn load(cert_file: &str, key_file: &str) -> Result<Arc<Self>, String> {
        Ok(Arc::new(Self { current: ArcSwap::from_pointee(certified_key(cert_file, key_file)?) }))
    }

    /// Replaces the certificate for the next handshakes; on error the served
    /// one is kept.
    ///
    /// # Errors
    /// As [`TlsCertificates::load`].
    pub fn reload(&self, cert_file: &str, key_file: &str) -> Result<(), String> {
        self.current.store(Arc::new(certified_key(cert_file, key_file)?));
        Ok(())
    }

    /// The rustls configuration serving these certificates (TLS 1.2 and 1.3,
    /// no client certificates).
    ///
    /// # Errors
    /// When the ring provider refuses the default protocol versions.
    pub fn server_config(self: &Arc<Self>) -> Result<ServerConfig, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Ok(ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("tls_cert_file: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>))
    }
}

impl ResolvesServerCert for TlsCertificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn certified_key(cert_file: &str, key_file: &str) -> Result<CertifiedKey, String> {
    let chain = CertificateDer::pem_file_iter(cert_file)
        .map_err(|e| format!("tls_cert_file: cannot read {cert_file}: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("tls_cert_file: {cert_file} is not a PEM certificate chain: {e}"))?;
    if chain.is_empty() {
        return Err(format!("tls_cert_file: {cert_file} holds no PEM certificate"));
    }
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| format!("tls_key_file: cannot read a PEM private key from {key_file}: {e}"))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| format!("tls_key_file: unsupported private key in {key_file}: {e}"))?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| format!("tls_key_file: {key_file} does not match tls_cert_file: {e}"))?;
    Ok(certified)
}

/// When a response carries `Strict-Transport-Security`: served over TLS, or
/// the peer is a trusted proxy that says `X-Forwarded-Proto: https`.
#[derive(Debug, Clone, Default)]
pub struct HstsPolicy {
    /// This listener speaks TLS itself.
    pub tls: bool,
    /// `trusted_proxies`.
    pub trusted_proxies: Vec<IpNet>,
}

impl HstsPolicy {
    /// Whether `request` reached UAP over HTTPS.
    #[must_use]
    pub fn applies(&self, request: &ServiceRequest) -> bool {
        if self.tls {
            return true;
        }
        let Some(peer) = request.peer_addr().map(|addr| addr.ip()) else {
            return false;
        };
        self.trusted(peer)
            && request
                .headers()
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
    }

    fn trusted(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.trusted_proxies.iter().any(|net| net.contains(&peer))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use std::path::PathBuf;

    use actix_web::test::TestRequest;

    use super::*;

    struct Files(PathBuf);

    impl Drop for Files {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A fresh self-signed pair in `dir`: (cert path, key path, cert DER).
    fn pair(dir: &Files, name: &str) -> (String, String, Vec<u8>) {
        let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert = dir.0.join(format!("{name}.crt"));
        let key = dir.0.join(format!("{name}.key"));
        std::fs::write(&cert, generated.cert.pem()).unwrap();
        std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
        (cert.display().to_string(), key.display().to_string(), generated.cert.der().to_vec())
    }

    fn served(certificates: &TlsCertificates) -> Vec<u8> {
        certificates.current.load().cert[0].to_vec()
    }

    #[test]
    fn reload_swaps_the_served_certificate_and_keeps_it_on_error() {
        let dir = Files(std::env::temp_dir().join(format!("uap-tls-{}", uuid::Uuid::new_v4().simple())));
        std::fs::create_dir_all(&dir.0).unwrap();
        let (cert_a, key_a, der_a) = pair(&dir, "a");
        let (cert_b, key_b, der_b) = pair(&dir, "b");
        let certificates = TlsCertificates::load(&cert_a, &key_a).unwrap();
        assert_eq!(served(&certificates), der_a);
        assert!(certificates.server_config().is_ok());

        certificates.reload(&cert_b, &key_b).unwrap();
        assert_eq!(served(&certificates), der_b);

        let mismatch = certificates.reload(&cert_a, &key_b).unwrap_err();
        assert!(mismatch.starts_with("tls_key_file:") && mismatch.contains("does not match"), "{mismatch}");
        assert!(certificates.reload(&key_b, &key_b).unwrap_err().starts_with("tls_cert_file:"));
        assert_eq!(served(&certificates), der_b, "a failed reload keeps the served certificate");
        assert!(!format!("{certificates:?}").contains("PRIVATE"));
    }

    #[test]
    fn hsts_needs_tls_or_a_trusted_proxy_saying_https() {
        let proxy: IpNet = "10.0.0.0/8".parse().unwrap();
        let behind = HstsPolicy { tls: false, trusted_proxies: vec![proxy] };
        let request = |peer: &str, proto: Option<&str>| {
            let mut request = TestRequest::default().peer_addr(peer.parse().unwrap());
            if let Some(proto) = proto {
                request = request.insert_header(("x-forwarded-proto", proto));
            }
            request.to_srv_request()
        };
        assert!(behind.applies(&request("10.1.2.3:5000", Some("https"))));
        assert!(!behind.applies(&request("10.1.2.3:5000", Some("http"))));
        assert!(!behind.applies(&request("10.1.2.3:5000", None)));
        assert!(!behind.applies(&request("192.0.2.1:5000", Some("https"))), "untrusted peer");
        assert!(behind.applies(&request("[::ffff:10.1.2.3]:5000", Some("https"))), "IPv4-mapped peer");
        let tls = HstsPolicy { tls: true, trusted_proxies: Vec::new() };
        assert!(tls.applies(&request("192.0.2.1:5000", None)));
    }
}
