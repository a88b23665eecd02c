//! The client's address: the socket peer, unless the peer is a trusted proxy —
//! then the right-most forwarded hop that is not itself a trusted proxy. A
//! header from an untrusted peer is ignored (it is trivially spoofed).
//!
//! From a trusted peer, `Forwarded:` (RFC 7239, its `for=` parameters) wins
//! when present (and not empty); otherwise `X-Forwarded-For`. Both are read from their raw
//! bytes, hop by hop from the right. A hop may be `ip`, `ip:port`, `[v6]` or
//! `[v6]:port`. A hop that cannot be read as an address (not ASCII, garbled,
//! `unknown`, an obfuscated `_node`) reached before the first untrusted hop
//! makes the client *unknown* (`None`) — never the proxy's own address, which
//! would let a spoofed hop slip past `ip_rules` and the per-address limits.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use actix_web::HttpRequest;
use ipnet::IpNet;

/// Resolves client addresses against `trusted_proxies`.
#[derive(Debug, Clone, Default)]
pub struct ClientIpResolver {
    trusted: Vec<IpNet>,
}

/// One forwarded hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hop {
    Addr(IpAddr),
    Unknown,
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

    /// The client address of `request`; `None` when it cannot be known.
    #[must_use]
    pub fn resolve(&self, request: &HttpRequest) -> Option<IpAddr> {
        let peer = request.peer_addr().map(|addr| addr.ip())?;
        let headers = request.headers();
        let forwarded = headers.get_all("forwarded").map(|v| v.as_bytes()).collect::<Vec<_>>();
        let forwarded_for = headers.get_all("x-forwarded-for").map(|v| v.as_bytes()).collect::<Vec<_>>();
        self.from_parts(peer, &forwarded_for, &forwarded)
    }

    /// The rule on plain values (unit-testable): `forwarded_for` and
    /// `forwarded` are the raw values of every `X-Forwarded-For` and
    /// `Forwarded` header line, in order.
    #[must_use]
    pub fn from_parts(&self, peer: IpAddr, forwarded_for: &[&[u8]], forwarded: &[&[u8]]) -> Option<IpAddr> {
        let peer = peer.to_canonical();
        if !self.is_trusted(peer) {
            return Some(peer);
        }
        let mut hops = forwarded.iter().flat_map(|line| split_list(line)).map(forwarded_element).collect::<Vec<_>>();
        if hops.is_empty() {
            hops = forwarded_for.iter().flat_map(|line| split_list(line)).map(parse_node).collect();
        }
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            let Hop::Addr(ip) = hop else {
                return None;
            };
            let ip = ip.to_canonical();
            if !self.is_trusted(ip) {
                return Some(ip);
            }
            client = ip;
        }
        Some(client)
    }
}

/// The comma-separated members of one header line (commas inside a quoted
/// string do not split), trimmed, empty ones dropped.
fn split_list(line: &[u8]) -> Vec<&[u8]> {
    split_outside_quotes(line, b',')
}

/// `text` split at every `separator` outside a quoted string (backslash
/// escapes inside quotes respected), trimmed, empty parts dropped.
fn split_outside_quotes(text: &[u8], separator: u8) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (index, &byte) in text.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if quoted && byte == b'\\' {
            escaped = true;
        } else if byte == b'"' {
            quoted = !quoted;
        } else if byte == separator && !quoted {
            parts.push(&text[start..index]);
            start = index + 1;
        }
    }
    parts.push(&text[start..]);
    parts.into_iter().map(<[u8]>::trim_ascii).filter(|p| !p.is_empty()).collect()
}

/// A node: `ip`, `ip:port`, `[v6]`, `[v6]:port`; anything else is unknown.
fn parse_node(raw: &[u8]) -> Hop {
    let Ok(text) = std::str::from_utf8(raw) else {
        return Hop::Unknown;
    };
    if !text.is_ascii() {
        return Hop::Unknown;
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Hop::Addr(ip);
    }
    if let Ok(socket) = text.parse::<SocketAddr>() {
        return Hop::Addr(socket.ip());
    }
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']'))
        && let Ok(ip) = inner.parse::<Ipv6Addr>()
    {
        return Hop::Addr(IpAddr::V6(ip));
    }
    Hop::Unknown
}

/// One `Forwarded` element (`for=…;proto=…;by=…`): its `for` node. An
/// element without `for`, or with `unknown`/an obfuscated identifier, is an
/// unknown hop.
fn forwarded_element(element: &[u8]) -> Hop {
    let mut found = None;
    for pair in split_pairs(element) {
        let Some(eq) = pair.iter().position(|&b| b == b'=') else {
            return Hop::Unknown;
        };
        let (name, value) = (pair[..eq].trim_ascii(), pair[eq + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"for") {
            if found.is_some() {
                return Hop::Unknown;
            }
            found = Some(unquote(value).map_or(Hop::Unknown, |v| parse_node(&v)));
        }
    }
    found.unwrap_or(Hop::Unknown)
}

/// The `;`-separated pairs of an element (quotes respected).
fn split_pairs(element: &[u8]) -> Vec<&[u8]> {
    split_outside_quotes(element, b';')
}

/// A token as is, or a quoted-string without its quotes and escapes.
fn unquote(value: &[u8]) -> Option<Vec<u8>> {
    let Some(inner) = value.strip_prefix(b"\"") else {
        return (!value.contains(&b'"')).then(|| value.to_vec());
    };
    let inner = inner.strip_suffix(b"\"")?;
    let mut out = Vec::with_capacity(inner.len());
    let mut bytes = inner.iter();
    while let Some(&byte) = bytes.next() {
        match byte {
            b'\\' => out.push(*bytes.next()?),
            b'"' => return None,
            other => out.push(other),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn resolver() -> ClientIpResolver {
        ClientIpResolver::new(vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()])
    }

    fn xff(resolver: &ClientIpResolver, peer: &str, header: &[u8]) -> Option<IpAddr> {
        resolver.from_parts(ip(peer), &[header], &[])
    }

    fn fwd(resolver: &ClientIpResolver, peer: &str, header: &[u8]) -> Option<IpAddr> {
        resolver.from_parts(ip(peer), &[], &[header])
    }

    #[test]
    fn untrusted_peer_header_is_ignored() {
        let resolver = ClientIpResolver::new(vec!["10.0.0.0/8".parse().unwrap()]);
        assert_eq!(xff(&resolver, "203.0.113.9", b"1.2.3.4"), Some(ip("203.0.113.9")));
        assert_eq!(xff(&resolver, "203.0.113.9", b"\xff"), Some(ip("203.0.113.9")));
        assert_eq!(fwd(&resolver, "203.0.113.9", b"for=1.2.3.4"), Some(ip("203.0.113.9")));
    }

    #[test]
    fn trusted_chain_yields_rightmost_untrusted() {
        let resolver = resolver();
        assert_eq!(xff(&resolver, "10.0.0.1", b"6.6.6.6, 198.51.100.7, 10.0.0.2"), Some(ip("198.51.100.7")));
        assert_eq!(xff(&resolver, "::1", b"2001:db8::5"), Some(ip("2001:db8::5")));
        assert_eq!(resolver.from_parts(ip("10.0.0.1"), &[], &[]), Some(ip("10.0.0.1")));
        assert_eq!(xff(&resolver, "10.0.0.1", b""), Some(ip("10.0.0.1")));
        assert_eq!(xff(&resolver, "::ffff:10.0.0.1", b"192.0.2.1"), Some(ip("192.0.2.1")));
        // Several header lines are one list, in order.
        assert_eq!(resolver.from_parts(ip("10.0.0.1"), &[b"192.0.2.1", b"10.0.0.9"], &[]), Some(ip("192.0.2.1")));
    }

    #[test]
    fn ports_and_brackets_are_accepted() {
        let resolver = resolver();
        assert_eq!(xff(&resolver, "10.0.0.1", b"198.51.100.7:4711"), Some(ip("198.51.100.7")));
        assert_eq!(xff(&resolver, "10.0.0.1", b"[2001:db8::1]:4711"), Some(ip("2001:db8::1")));
        assert_eq!(xff(&resolver, "10.0.0.1", b"[2001:db8::1]"), Some(ip("2001:db8::1")));
        assert_eq!(xff(&resolver, "10.0.0.1", b"6.6.6.6, 10.0.0.3:80"), Some(ip("6.6.6.6")));
    }

    #[test]
    fn an_unreadable_hop_makes_the_client_unknown_never_the_proxy() {
        let resolver = resolver();
        assert_eq!(xff(&resolver, "10.0.0.1", b"\xff, 198.51.100.7"), Some(ip("198.51.100.7")), "left of the client");
        assert_eq!(xff(&resolver, "10.0.0.1", b"198.51.100.7, \xff"), None);
        assert_eq!(xff(&resolver, "10.0.0.1", b"\xff"), None);
        assert_eq!(xff(&resolver, "10.0.0.1", "é".as_bytes()), None);
        assert_eq!(xff(&resolver, "10.0.0.1", b"10.0.0.3, garbage"), None);
        assert_eq!(xff(&resolver, "10.0.0.1", b"garbage, 10.0.0.3"), None);
        assert_eq!(xff(&resolver, "10.0.0.1", b"unknown"), None);
        assert_eq!(
            xff(&resolver, "10.0.0.1", b"2001:db8::1:80"),
            Some(ip("2001:db8::1:80")),
            "a bare v6 is an address"
        );
        assert_eq!(xff(&resolver, "10.0.0.1", b"1.2.3.4:99999"), None);
    }

    #[test]
    fn forwarded_is_read_and_wins_over_x_forwarded_for() {
        let resolver = resolver();
        assert_eq!(fwd(&resolver, "10.0.0.1", b"for=192.0.2.60;proto=http;by=10.0.0.1"), Some(ip("192.0.2.60")));
        assert_eq!(fwd(&resolver, "10.0.0.1", br#"For="[2001:db8:cafe::17]:4711""#), Some(ip("2001:db8:cafe::17")));
        assert_eq!(fwd(&resolver, "10.0.0.1", b"for=192.0.2.43, for=198.51.100.17"), Some(ip("198.51.100.17")));
        assert_eq!(fwd(&resolver, "10.0.0.1", b"for=192.0.2.43, for=10.0.0.7"), Some(ip("192.0.2.43")));
        assert_eq!(fwd(&resolver, "10.0.0.1", br#"for="192.0.2.43:80";proto="a,b""#), Some(ip("192.0.2.43")));
        assert_eq!(fwd(&resolver, "10.0.0.1", b"for=unknown"), None);
        assert_eq!(fwd(&resolver, "10.0.0.1", b"for=_hidden, for=10.0.0.2"), None);
        assert_eq!(fwd(&resolver, "10.0.0.1", b"proto=https"), None, "an element without for");
        assert_eq!(fwd(&resolver, "10.0.0.1", b"for=\xff"), None);
        assert_eq!(fwd(&resolver, "10.0.0.1", br#"for="192.0.2.1"#), None, "unterminated quote");
        assert_eq!(
            resolver.from_parts(ip("10.0.0.1"), &[b"203.0.113.1"], &[b"for=192.0.2.9"]),
            Some(ip("192.0.2.9")),
            "Forwarded wins"
        );
        assert_eq!(
            resolver.from_parts(ip("10.0.0.1"), &[b"203.0.113.1"], &[b" "]),
            Some(ip("203.0.113.1")),
            "an empty Forwarded is no Forwarded"
        );
    }
}
