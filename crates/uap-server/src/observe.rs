//! Observability fed by the audit trail and a refresh loop:
//!
//! - [`ObservedAudit`] sits in front of the audit queue and turns every event
//!   into metrics (`uap_login_attempts_total`, `uap_rate_limit_blocks_total`,
//!   `uap_password_hash_upgrades_total`, `uap_security_events_total`) and
//!   one structured log record: `auth_attempt` (target `uap::auth`) per
//!   login, `security_event` (target `uap::security`) per lockout,
//!   suspicious activity or configuration change. Records carry ids,
//!   outcomes, reasons and the client address — never the identifier typed,
//!   a password, a token or any metadata.
//! - [`refresh_loop`] sets the gauges that need a read: active sessions (one
//!   cheap store count), the cache hit rate over the interval, the audit
//!   queue depth and the host pool's connections in use.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use uap_ports::{AuditEvent, AuditEventType, AuditSink, Clock, SessionStore, StoreError};

use crate::metrics::Metrics;
use crate::runtime::batch_queue::BatchQueue;

/// How often [`refresh_loop`] sets the gauges.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(5);

/// The rate-limit reasons a `FAILED_LOGIN` may carry.
const RATE_LIMIT_REASONS: [&str; 3] = ["rate_limited", "address_rate_limited", "mfa_rate_limited"];

/// Hash families a census label may start with (anything else is `other`).
const FAMILIES: [&str; 20] = [
    "bcrypt",
    "argon2id",
    "argon2i",
    "argon2d",
    "pbkdf2",
    "scrypt",
    "md5_crypt",
    "sha256_crypt",
    "sha512_crypt",
    "yescrypt",
    "django",
    "werkzeug",
    "phpass",
    "wordpress",
    "drupal7",
    "ldap",
    "plain",
    "pbkdf2_sha256",
    "pbkdf2_sha512",
    "pbkdf2_sha1",
];

/// The family of a census label ("bcrypt cost 10" → "bcrypt"), from a fixed set.
fn family_of(label: &str) -> &'static str {
    let first = label.split_whitespace().next().unwrap_or_default();
    FAMILIES.iter().copied().find(|f| *f == first).unwrap_or("other")
}

/// An [`AuditSink`] that observes each event, then hands it on.
pub struct ObservedAudit {
    inner: Arc<dyn AuditSink>,
    metrics: Metrics,
}

impl ObservedAudit {
    /// Observes the events written to `inner`.
    #[must_use]
    pub fn new(inner: Arc<dyn AuditSink>, metrics: Metrics) -> Self {
        Self { inner, metrics }
    }

    fn observe(&self, event: &AuditEvent) {
        let m = &self.metrics;
        let user_id = event.user_id.as_deref();
        let client = event.ip_address.as_deref();
        let reason = event.error_message.as_deref();
        match event.event_type {
            AuditEventType::Login => {
                m.logins.with_label_values(&["success"]).inc();
                let weak = event.metadata.get("hash_upgrade_recommended").and_then(|v| v.as_str()).map(family_of);
                tracing::info!(target: "uap::auth", user_id, client_address = client, outcome = "success",
                    session_id = event.session_id.as_deref(), weak_hash_family = weak, "auth_attempt");
            }
            AuditEventType::FailedLogin => {
                m.logins.with_label_values(&["failure"]).inc();
                if let Some(limit) = RATE_LIMIT_REASONS.iter().find(|r| Some(**r) == reason) {
                    m.rate_limit_blocks.with_label_values(&[limit]).inc();
                }
                tracing::info!(target: "uap::auth", user_id, client_address = client, outcome = "failure",
                    reason, "auth_attempt");
            }
            AuditEventType::AccountLocked
            | AuditEventType::SuspiciousActivity
            | AuditEventType::ConfigurationChange => {
                let name = event.event_type.as_str();
                m.security_events.with_label_values(&[name]).inc();
                tracing::warn!(target: "uap::security", event = name, user_id, client_address = client, reason,
                    "security_event");
            }
            AuditEventType::PasswordChange
                if event.success && event.metadata.get("reason").and_then(|v| v.as_str()) == Some("hash_upgrade") =>
            {
                let label = |key: &str| event.metadata.get(key).and_then(|v| v.as_str()).map_or("other", family_of);
                m.hash_upgrades.with_label_values(&[label("from"), label("to")]).inc();
            }
            _ => {}
        }
    }
}

#[async_trait]
impl AuditSink for ObservedAudit {
    async fn write_batch(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        for event in events {
            self.observe(event);
        }
        self.inner.write_batch(events).await
    }
}

/// What [`refresh_loop`] reads.
pub struct Sources {
    pub metrics: Metrics,
    pub store: Arc<dyn SessionStore>,
    pub audit_queue: BatchQueue<AuditEvent>,
    /// The host directory of the current runtime (a configuration change
    /// may replace it).
    pub host: Arc<dyn Fn() -> crate::host::HostDirectory + Send + Sync>,
    pub clock: Arc<dyn Clock>,
}

/// Sets the refreshed gauges every `interval`, forever.
pub async fn refresh_loop(sources: Sources, interval: Duration) {
    let m = &sources.metrics;
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut hits, mut misses) = (m.cache.hits.get(), m.cache.misses.get());
    loop {
        tick.tick().await;
        match sources.store.count_active(sources.clock.now()).await {
            Ok(Some(n)) => m.active_sessions.set(i64::try_from(n).unwrap_or(i64::MAX)),
            Ok(None) => {}
            Err(err) => tracing::warn!(error = %err, "could not count active sessions"),
        }
        let (h, s) = (m.cache.hits.get(), m.cache.misses.get());
        let lookups = (h - hits) + (s - misses);
        if lookups > 0 {
            #[expect(clippy::cast_precision_loss, reason = "a ratio")]
            m.cache_hit_rate.set((h - hits) as f64 / lookups as f64);
        }
        (hits, misses) = (h, s);
        m.audit_queue_depth.set(i64::try_from(sources.audit_queue.depth()).unwrap_or(i64::MAX));
        m.db_connections.set(i64::try_from((sources.host)().connections_in_use()).unwrap_or(i64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::family_of;

    #[test]
    fn families_come_from_a_fixed_set() {
        assert_eq!(family_of("bcrypt cost 4"), "bcrypt");
        assert_eq!(family_of("argon2id m=19456 t=2 p=1"), "argon2id");
        assert_eq!(family_of("django pbkdf2_sha256 (600000 iterations)"), "django");
        assert_eq!(family_of("$2y$04$something-odd"), "other");
        assert_eq!(family_of(""), "other");
    }
}
