//! `captcha`: demands a `captcha_token` (always, or once a key has
//! `after_failures` attempts in the current window) and checks it with the
//! provider. A failed check, a score under `threshold`, or a provider that
//! does not answer all get 403 — fail closed, with a log line.

use std::sync::Arc;

use async_trait::async_trait;
use uap_ports::{CaptchaVerifier, Clock, RateLimitRule, RateLimitStore};

use super::rate_limit::rate_limit_key;
use super::{Block, Decision, LoginAttempt, Middleware, MiddlewareError};
use crate::config::RateLimitKeyKind;

/// When a CAPTCHA is demanded only after some attempts: where to count them.
pub struct AfterFailures {
    pub count: u32,
    pub store: Arc<dyn RateLimitStore>,
    pub rule: RateLimitRule,
    pub key: RateLimitKeyKind,
    pub clock: Arc<dyn Clock>,
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
        let key = rate_limit_key(after.key, attempt);
        let seen = after
            .store
            .attempts(&key, after.rule, after.clock.now())
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
}
