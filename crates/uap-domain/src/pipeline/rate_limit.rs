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

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;
use time::Duration;
use uap_ports::{Admission, AuditEventType, Clock, RateLimitKey, RateLimitRule, RateLimitStore};

use super::{Block, Decision, LoginAttempt, Middleware, MiddlewareError, VerifiedUser};
use crate::audit::{AuditRecorder, EventDetails};
use crate::config::RateLimitKeyKind;
use crate::session::ClientContext;

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

/// The `rate_limit` middleware.
pub struct RateLimitMiddleware {
    store: Arc<dyn RateLimitStore>,
    rule: RateLimitRule,
    key: RateLimitKeyKind,
    clock: Arc<dyn Clock>,
    audit: AuditRecorder,
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
        Self { store, rule, key, clock, audit }
    }
}

/// Whole seconds until `until`, at least 1 (for `Retry-After`).
pub fn seconds_until(until: time::OffsetDateTime, now: time::OffsetDateTime) -> u64 {
    let left = until - now;
    let secs = left.whole_seconds() + i64::from(left.subsec_nanoseconds() > 0);
    u64::try_from(secs.max(1)).unwrap_or(1)
}

pub(crate) fn client_of(attempt: &LoginAttempt) -> ClientContext {
    ClientContext { ip_address: attempt.ip.map(|ip| ip.to_string()), user_agent: attempt.user_agent.clone() }
}

/// The 429 for a key blocked until `until`.
pub(crate) fn too_many(until: time::OffsetDateTime, now: time::OffsetDateTime, reason: &str) -> Block {
    Block {
        status: 429,
        message: "Too many failed attempts; try again later".into(),
        retry_after: Some(seconds_until(until, now)),
        reason: reason.into(),
    }
}

#[async_trait]
impl Middleware for RateLimitMiddleware {
    async fn pre_authenticate(&self, attempt: &LoginAttempt) -> Result<Decision, MiddlewareError> {
        let key = rate_limit_key(self.key, attempt);
        let now = self.clock.now();
        let admission = self
            .store
            .attempt(&key, self.rule, now)
            .await
            .map_err(|e| MiddlewareError::unavailable("rate-limit store", e))?;
        match admission {
            Admission::Allowed { .. } => Ok(Decision::Continue),
            Admission::Blocked { until, newly_blocked } => {
                if newly_blocked {
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
                        .map_err(|e| MiddlewareError::unavailable("audit queue", e))?;
                }
                Ok(Decision::Block(too_many(until, now, "rate_limited")))
            }
        }
    }

    async fn post_authenticate(
        &self,
        attempt: &LoginAttempt,
        _user: &VerifiedUser,
    ) -> Result<Decision, MiddlewareError> {
        let key = rate_limit_key(self.key, attempt);
        self.store.reset(&key).await.map_err(|e| MiddlewareError::unavailable("rate-limit store", e))?;
        Ok(Decision::Continue)
    }
}

/// A rule from seconds.
#[must_use]
pub fn rule(max_attempts: u32, window_seconds: u64, block_seconds: u64) -> RateLimitRule {
    let secs = |s: u64| Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX));
    RateLimitRule { max_attempts, window: secs(window_seconds), block: secs(block_seconds) }
}
