//! `ip_rules`: allow and deny lists of CIDRs (IPv4 and IPv6). A denied
//! address, or any address outside a non-empty allow list, gets 403. The
//! address is the one resolved through `trusted_proxies`, so a spoofed
//! `X-Forwarded-For` from an untrusted peer changes nothing.

use async_trait::async_trait;
use ipnet::IpNet;

use super::{Block, Decision, LoginAttempt, Middleware, MiddlewareError};

/// The `ip_rules` middleware.
#[derive(Debug, Clone)]
pub struct IpRulesMiddleware {
    allow: Vec<IpNet>,
    deny: Vec<IpNet>,
}

impl IpRulesMiddleware {
    /// Rules from the two lists.
    #[must_use]
    pub fn new(allow: Vec<IpNet>, deny: Vec<IpNet>) -> Self {
        Self { allow, deny }
    }

    /// Whether `ip` may log in.
    #[must_use]
    pub fn permits(&self, ip: Option<std::net::IpAddr>) -> bool {
        let Some(ip) = ip.map(|ip| ip.to_canonical()) else {
            return self.allow.is_empty() && self.deny.is_empty();
        };
        if self.deny.iter().any(|net| net.contains(&ip)) {
            return false;
        }
        self.allow.is_empty() || self.allow.iter().any(|net| net.contains(&ip))
    }
}

#[async_trait]
impl Middleware for IpRulesMiddleware {
    async fn pre_authenticate(&self, attempt: &LoginAttempt) -> Result<Decision, MiddlewareError> {
        if self.permits(attempt.ip) {
            Ok(Decision::Continue)
        } else {
            Ok(Decision::Block(Block::forbidden("Login is not allowed from this address", "ip_denied")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn deny_wins_and_allow_restricts() {
        let rules = IpRulesMiddleware::new(nets(&["10.0.0.0/8", "2001:db8::/32"]), nets(&["10.6.6.0/24"]));
        assert!(rules.permits(Some("10.1.2.3".parse().unwrap())));
        assert!(rules.permits(Some("2001:db8::1".parse().unwrap())));
        assert!(rules.permits(Some("::ffff:10.1.2.3".parse().unwrap())));
        assert!(!rules.permits(Some("10.6.6.6".parse().unwrap())));
        assert!(!rules.permits(Some("192.0.2.1".parse().unwrap())));
        assert!(!rules.permits(None));
        let deny_only = IpRulesMiddleware::new(vec![], nets(&["192.0.2.0/24"]));
        assert!(deny_only.permits(Some("198.51.100.1".parse().unwrap())));
        assert!(!deny_only.permits(Some("192.0.2.9".parse().unwrap())));
    }
}
