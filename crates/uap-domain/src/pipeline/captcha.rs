//! `captcha`: demands a `captcha_token` (always, or once a key has
//! `after_failures` failed logins in the current window) and checks it with
//! the provider. A failed check, a score under `threshold`, or a provider that
//! does not answer all get 403 — fail closed, with a log line.
//!
//! The failures are the middleware's own count (`captcha_<key>` counters in
//! the same store, incremented in `on_failure`, reset by a success unless
//! the key is the address alone), so
//! `after_failures` works whether or not `rate_limit` runs and whatever key
//! it uses.

use std::sync::Arc;

use async_trait::async_trait;
use uap_ports::{CaptchaVerifier, Clock, RateLimitKey, RateLimitRule, RateLimitStore};

use super::rate_limit::rate_limit_key;
use super::{Block, Decision, LoginAttempt, LoginFailure, Middleware, MiddlewareError, VerifiedUser};
use crate::config::RateLimitKeyKind;

/// When a CAPTCHA is demanded only after some failures: where to count them.
pub struct AfterFailures {
    /// Failed logins in the window after which a token is demanded.
    pub count: u32,
    /// Where the middleware keeps its own failure counters.
    pub store: Arc<dyn RateLimitStore>,
    /// Its `window` is the counting window (the other fields are not used).
    pub rule: RateLimitRule,
    /// What is counted: per address and identifier, address, or identifier.
    pub key: RateLimitKeyKind,
    pub clock: Arc<dyn Clock>,
}

impl AfterFailures {
    /// The failure counter of `attempt` (its own key kind, `captcha_…`).
    fn key(&self, attempt: &LoginAttempt) -> RateLimitKey {
        let base = rate_limit_key(self.key, attempt);
        RateLimitKey { kind: format!("captcha_{}", base.kind), value: base.value }
    }

    /// Counting only: never blocks.
    fn rule(&self) -> RateLimitRule {
        RateLimitRule { max_attempts: u32::MAX, ..self.rule }
    }
}

/// The `captcha` middleware.
pub struct CaptchaMiddleware {
    verifier: Arc<dyn CaptchaVerifier>,
    threshold: Option<f64>,
    after_failures: Option<AfterFailures>,
}

impl CaptchaMiddleware {
    /// A check with `verifier`; `threshold` applies to scored answers
    /// (reCAPTCHA v3); `after_failures` `None` demands a token every time.
    #[must_use]
    pub fn new(
        verifier: Arc<dyn CaptchaVerifier>,
        threshold: Option<f64>,
        after_failures: Option<AfterFailures>,
    ) -> Self {
        Self { verifier, threshold, after_failures }
    }

    async fn demanded(&self, attempt: &LoginAttempt) -> Result<bool, MiddlewareError> {
        let Some(after) = &self.after_failures else {
            return Ok(true);
        };
        let seen = after
            .store
            .attempts(&after.key(attempt), after.rule(), after.clock.now())
            .await
            .map_err(|e| MiddlewareError::unavailable("rate-limit store", e))?;
        Ok(seen >= after.count)
    }
}

fn refuse(message: &str, reason: &str) -> Decision {
    Decision::Block(Block::forbidden(message, reason))
}

#[async_trait]
impl Middleware for CaptchaMiddleware {
    async fn pre_authenticate(&self, attempt: &LoginAttempt) -> Result<Decision, MiddlewareError> {
        if !self.demanded(attempt).await? {
            return Ok(Decision::Continue);
        }
        let Some(token) = attempt.captcha_token.as_deref().filter(|t| !t.is_empty()) else {
            return Ok(refuse("CAPTCHA required", "captcha_missing"));
        };
        if token.len() > 4096 {
            return Ok(refuse("CAPTCHA verification failed", "captcha_failed"));
        }
        let ip = attempt.ip.map(|ip| ip.to_string());
        match self.verifier.verify(token, ip.as_deref()).await {
            Ok(verdict) if !verdict.success => {
                tracing::info!(error_codes = ?verdict.error_codes, "CAPTCHA rejected");
                Ok(refuse("CAPTCHA verification failed", "captcha_failed"))
            }
            Ok(verdict) => match (self.threshold, verdict.score) {
                (Some(threshold), Some(score)) if score < threshold => {
                    tracing::info!(score, threshold, "CAPTCHA score under threshold");
                    Ok(refuse("CAPTCHA verification failed", "captcha_low_score"))
                }
                (Some(_), None) => {
                    tracing::warn!("CAPTCHA threshold configured but the provider returned no score");
                    Ok(refuse("CAPTCHA verification failed", "captcha_no_score"))
                }
                _ => Ok(Decision::Continue),
            },
            Err(err) => {
                tracing::error!(error = %err, "CAPTCHA provider unavailable; refusing the login (fail closed)");
                Ok(refuse("CAPTCHA verification unavailable", "captcha_unavailable"))
            }
        }
    }

    async fn post_authenticate(
        &self,
        attempt: &LoginAttempt,
        _user: &VerifiedUser,
    ) -> Result<Decision, MiddlewareError> {
        // As for `rate_limit`, a success never clears an address's count:
        // the attacker's own account would otherwise lift the CAPTCHA.
        if let Some(after) = self.after_failures.as_ref().filter(|a| a.key != RateLimitKeyKind::Ip) {
            after
                .store
                .reset(&after.key(attempt))
                .await
                .map_err(|e| MiddlewareError::unavailable("rate-limit store", e))?;
        }
        Ok(Decision::Continue)
    }

    async fn on_failure(&self, attempt: &LoginAttempt, _failure: &LoginFailure) -> Result<(), MiddlewareError> {
        if let Some(after) = &self.after_failures {
            after
                .store
                .attempt(&after.key(attempt), after.rule(), after.clock.now())
                .await
                .map_err(|e| MiddlewareError::unavailable("rate-limit store", e))?;
        }
        Ok(())
    }
}
