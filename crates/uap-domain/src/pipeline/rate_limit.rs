//! `rate_limit`: counts attempts per key within a window; past
//! `max_attempts` the key is blocked (429 + Retry-After) until
//! `block_duration` passes; a successful login resets it.
//!
//! Attempts are counted *before* the password is checked, atomically in the
//! store, so N parallel guesses can never get more than `max_attempts`
//! through to verification — the race that let parallel guesses past the
//! limit in other servers. Unknown identifiers are counted like known ones.
//! The default key, `ip_identifier`, means a lockout of an identifier from
//! one address does not lock that identifier out from other addresses (an
//! attacker cannot lock a victim out).
//!
//! Three more budgets (issue #9):
//! - per resolved user: after the host lookup (`before_verify`) the attempt
//!   is counted again on the row's id (`ip|user_id` for `ip_identifier`,
//!   `user_id` for `identifier`), so spellings a case/accent-insensitive host
//!   collation folds onto one row (`ÀLÎÇË`, `alice`) share one budget;
//! - per address: failed logins per client address (IPv6 per /64 by
//!   default) across identifiers, checked read-only before any lookup or
//!   hash and counted on failure; a success never resets it;
//! - a success resets the identifier's and the user id's counters only —
//!   never an address's (so with `key = "ip"` it resets nothing).

use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;
use time::Duration;
use uap_ports::{Admission, AuditEventType, Clock, RateLimitKey, RateLimitRule, RateLimitStore};

use super::{Block, Decision, LoginAttempt, LoginFailure, Middleware, MiddlewareError, VerifiedUser};
use crate::audit::{AuditRecorder, EventDetails};
use crate::config::RateLimitKeyKind;
use crate::session::ClientContext;

/// The audit reason of a refusal by a key's counter.
const RATE_LIMITED: &str = "rate_limited";
/// The audit reason of a refusal by the per-address budget.
const ADDRESS_LIMITED: &str = "address_rate_limited";
/// The limiter's own refusals.
const LIMITER_REASONS: [&str; 2] = [RATE_LIMITED, ADDRESS_LIMITED];

/// The counter key of an attempt.
#[must_use]
pub fn rate_limit_key(kind: RateLimitKeyKind, attempt: &LoginAttempt) -> RateLimitKey {
    let ip = attempt.ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    let identifier = attempt.identifier.to_lowercase();
    let (kind, value) = match kind {
        RateLimitKeyKind::IpIdentifier => ("ip_identifier", format!("{ip}|{identifier}")),
        RateLimitKeyKind::Ip => ("ip", ip),
        RateLimitKeyKind::Identifier => ("identifier", identifier),
    };
    RateLimitKey { kind: kind.to_owned(), value }
}

/// The counter key of the user row an attempt resolved to (`None` when the
/// key kind has none: `ip`). An unknown user is counted on a key of its own
/// kind, so a lookup that finds nobody costs the same store step as one
/// that finds a row.
#[must_use]
pub fn user_key(kind: RateLimitKeyKind, attempt: &LoginAttempt, user_id: Option<&str>) -> Option<RateLimitKey> {
    let ip = attempt.ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    let (found, value) = match user_id {
        Some(id) => (true, id.to_owned()),
        None => (false, attempt.identifier.to_lowercase()),
    };
    let (kind, value) = match (kind, found) {
        (RateLimitKeyKind::Ip, _) => return None,
        (RateLimitKeyKind::IpIdentifier, true) => ("ip_user", format!("{ip}|{value}")),
        (RateLimitKeyKind::IpIdentifier, false) => ("ip_nouser", format!("{ip}|{value}")),
        (RateLimitKeyKind::Identifier, true) => ("user", value),
        (RateLimitKeyKind::Identifier, false) => ("nouser", value),
    };
    Some(RateLimitKey { kind: kind.to_owned(), value })
}

/// The normalised client address: IPv4 as is, IPv6 reduced to its
/// `/ipv6_prefix` network (`2001:db8:1:2::/64`), `unknown` when the address
/// could not be known. The per-address budget and the hashing fairness key.
#[must_use]
pub fn address_key(ip: Option<IpAddr>, ipv6_prefix: u8) -> String {
    match ip.map(|ip| ip.to_canonical()) {
        None => "unknown".to_owned(),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) if ipv6_prefix >= 128 => v6.to_string(),
        Some(IpAddr::V6(v6)) => {
            let bits = u128::from(v6);
            let mask = u128::MAX.checked_shl(128 - u32::from(ipv6_prefix)).unwrap_or(0);
            format!("{}/{ipv6_prefix}", std::net::Ipv6Addr::from(bits & mask))
        }
    }
}

/// The per-address failure budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressBudget {
    /// Failed logins per address within the window; once reached, the
    /// address gets 429 until the block ends (at least 2).
    pub max_failures: u32,
    /// IPv6 addresses are counted per network of this prefix length.
    pub ipv6_prefix: u8,
}

/// The `rate_limit` middleware.
pub struct RateLimitMiddleware {
    store: Arc<dyn RateLimitStore>,
    rule: RateLimitRule,
    key: RateLimitKeyKind,
    clock: Arc<dyn Clock>,
    audit: AuditRecorder,
    address: Option<AddressBudget>,
}

impl RateLimitMiddleware {
    /// A limiter over `store`.
    #[must_use]
    pub fn new(
        store: Arc<dyn RateLimitStore>,
        rule: RateLimitRule,
        key: RateLimitKeyKind,
        clock: Arc<dyn Clock>,
        audit: AuditRecorder,
    ) -> Self {
        Self { store, rule, key, clock, audit, address: None }
    }

    /// Adds the per-address failure budget (same window and block as `rule`).
    #[must_use]
    pub fn with_address_budget(mut self, budget: AddressBudget) -> Self {
        self.address = Some(budget);
        self
    }

    fn address_counter(&self, attempt: &LoginAttempt) -> Option<(RateLimitKey, RateLimitRule)> {
        let budget = self.address?;
        let key = RateLimitKey { kind: "address".to_owned(), value: address_key(attempt.ip, budget.ipv6_prefix) };
        // The store admits `max_attempts` and blocks on the next: the
        // `max_failures`-th failure is the one that starts the block.
        let rule = RateLimitRule { max_attempts: budget.max_failures.saturating_sub(1).max(1), ..self.rule };
        Some((key, rule))
    }

    /// Counts `key`; a block is audited once (`ACCOUNT_LOCKED`) and answered 429.
    async fn count(
        &self,
        key: &RateLimitKey,
        rule: RateLimitRule,
        attempt: &LoginAttempt,
    ) -> Result<Decision, MiddlewareError> {
        let now = self.clock.now();
        let admission = self
            .store
            .attempt(key, rule, now)
            .await
            .map_err(|e| MiddlewareError::unavailable("rate-limit store", e))?;
        match admission {
            Admission::Allowed { .. } => Ok(Decision::Continue),
            Admission::Blocked { until, newly_blocked } => {
                if newly_blocked {
                    self.audit_lock(key, until, now, attempt).await?;
                }
                Ok(Decision::Block(too_many(until, now, RATE_LIMITED)))
            }
        }
    }

    async fn audit_lock(
        &self,
        key: &RateLimitKey,
        until: time::OffsetDateTime,
        now: time::OffsetDateTime,
        attempt: &LoginAttempt,
    ) -> Result<(), MiddlewareError> {
        let details = EventDetails {
            user_id: None,
            session_id: None,
            error: Some("too_many_attempts"),
            metadata: json!({
                "identifier": attempt.identifier,
                "key_type": key.kind,
                "blocked_seconds": (until - now).whole_seconds(),
            }),
        };
        self.audit
            .record(AuditEventType::AccountLocked, false, &client_of(attempt), details)
            .await
            .map_err(|e| MiddlewareError::unavailable("audit queue", e))
    }
}

/// Whole seconds until `until`, at least 1 (for `Retry-After`).
pub fn seconds_until(until: time::OffsetDateTime, now: time::OffsetDateTime) -> u64 {
    let left = until - now;
    let secs = left.whole_seconds() + i64::from(left.subsec_nanoseconds() > 0);
    u64::try_from(secs.max(1)).unwrap_or(1)
}

pub(crate) fn client_of(attempt: &LoginAttempt) -> ClientContext {
    ClientContext { ip_address: attempt.ip, user_agent: attempt.user_agent.clone() }
}

/// The 429 for a key blocked until `until`.
pub(crate) fn too_many(until: time::OffsetDateTime, now: time::OffsetDateTime, reason: &str) -> Block {
    Block::rate_limited(seconds_until(until, now), "Too many failed attempts; try again later", reason)
}

#[async_trait]
impl Middleware for RateLimitMiddleware {
    async fn pre_authenticate(&self, attempt: &LoginAttempt) -> Result<Decision, MiddlewareError> {
        if let Some((key, _)) = self.address_counter(attempt) {
            let now = self.clock.now();
            let blocked = self
                .store
                .blocked_until(&key, now)
                .await
                .map_err(|e| MiddlewareError::unavailable("rate-limit store", e))?;
            if let Some(until) = blocked {
                return Ok(Decision::Block(too_many(until, now, ADDRESS_LIMITED)));
            }
        }
        self.count(&rate_limit_key(self.key, attempt), self.rule, attempt).await
    }

    async fn before_verify(&self, attempt: &LoginAttempt, user_id: Option<&str>) -> Result<Decision, MiddlewareError> {
        match user_key(self.key, attempt, user_id) {
            Some(key) => self.count(&key, self.rule, attempt).await,
            None => Ok(Decision::Continue),
        }
    }

    async fn post_authenticate(
        &self,
        attempt: &LoginAttempt,
        user: &VerifiedUser,
    ) -> Result<Decision, MiddlewareError> {
        // An address's counter is never reset by a success: with `key = "ip"`
        // the attacker's own account would otherwise clear the address.
        if self.key == RateLimitKeyKind::Ip {
            return Ok(Decision::Continue);
        }
        let keys = [Some(rate_limit_key(self.key, attempt)), user_key(self.key, attempt, Some(&user.user_id))];
        for key in keys.iter().flatten() {
            self.store.reset(key).await.map_err(|e| MiddlewareError::unavailable("rate-limit store", e))?;
        }
        Ok(Decision::Continue)
    }

    async fn on_failure(&self, attempt: &LoginAttempt, failure: &LoginFailure) -> Result<(), MiddlewareError> {
        // The limiter's own refusals cost nothing and are not counted: a
        // flood on one locked identifier must not turn into an address lock.
        if LIMITER_REASONS.contains(&failure.reason.as_str()) {
            return Ok(());
        }
        if let Some((key, rule)) = self.address_counter(attempt) {
            let now = self.clock.now();
            let admission = self
                .store
                .attempt(&key, rule, now)
                .await
                .map_err(|e| MiddlewareError::unavailable("rate-limit store", e))?;
            if let Admission::Blocked { until, newly_blocked: true } = admission {
                tracing::warn!(address = %key.value, "per-address failure budget exhausted; address blocked");
                self.audit_lock(&key, until, now, attempt).await?;
            }
        }
        Ok(())
    }
}

/// A rule from seconds.
#[must_use]
pub fn rule(max_attempts: u32, window_seconds: u64, block_seconds: u64) -> RateLimitRule {
    let secs = |s: u64| Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX));
    RateLimitRule { max_attempts, window: secs(window_seconds), block: secs(block_seconds) }
}
