//! The client's address: the socket peer, unless the peer is a trusted proxy —
//! then the right-most `X-Forwarded-For` entry that is not itself a trusted
//! proxy. A header from an untrusted peer is ignored (it is trivially spoofed).

use std::net::IpAddr;

use actix_web::HttpRequest;
use ipnet::IpNet;

/// Resolves client addresses against `trusted_proxies`.
#[derive(Debug, Clone, Default)]
pub struct ClientIpResolver {
    trusted: Vec<IpNet>,
}

impl ClientIpResolver {
    /// A resolver trusting `trusted` peers.
    #[must_use]
    pub fn new(trusted: Vec<IpNet>) -> Self {
        Self { trusted }
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// The client address of `request`.
    #[must_use]
    pub fn resolve(&self, request: &HttpRequest) -> Option<IpAddr> {
        let peer = request.peer_addr().map(|addr| addr.ip().to_canonical())?;
        let forwarded = request
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|value| value.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        Some(self.from_parts(peer, &forwarded))
    }

    /// The rule on plain values (unit-testable).
    #[must_use]
    pub fn from_parts(&self, peer: IpAddr, forwarded_for: &str) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.is_trusted(peer) {
            return peer;
        }
        let mut client = peer;
        for entry in forwarded_for.rsplit(',').map(str::trim).filter(|e| !e.is_empty()) {
            let Ok(ip) = entry.parse::<IpAddr>() else {
                // A garbled hop: stop at the last address we could trust.
                return client;
            };
            let ip = ip.to_canonical();
            if !self.is_trusted(ip) {
                return ip;
            }
            client = ip;
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peer_header_is_ignored() {
        let resolver = ClientIpResolver::new(vec!["10.0.0.0/8".parse().unwrap()]);
        assert_eq!(resolver.from_parts(ip("203.0.113.9"), "1.2.3.4"), ip("203.0.113.9"));
    }

    #[test]
    fn trusted_chain_yields_rightmost_untrusted() {
        let resolver = ClientIpResolver::new(vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()]);
        assert_eq!(resolver.from_parts(ip("10.0.0.1"), "6.6.6.6, 198.51.100.7, 10.0.0.2"), ip("198.51.100.7"));
        assert_eq!(resolver.from_parts(ip("::1"), "2001:db8::5"), ip("2001:db8::5"));
        assert_eq!(resolver.from_parts(ip("10.0.0.1"), ""), ip("10.0.0.1"));
        assert_eq!(resolver.from_parts(ip("10.0.0.1"), "10.0.0.3, garbage"), ip("10.0.0.1"));
        assert_eq!(resolver.from_parts(ip("::ffff:10.0.0.1"), "192.0.2.1"), ip("192.0.2.1"));
    }
}
