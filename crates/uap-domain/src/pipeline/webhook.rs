//! `webhook`: POSTs the attempt's context (never the password or a token) to
//! the host at the configured events; the host answers `{action:
//! "continue"|"block", error?}`. Signed with HMAC-SHA256 when `secret` is set.
//! When the host does not answer in time: `fail_open = true` continues,
//! otherwise the login is refused with 403.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use uap_ports::{WebhookAction, WebhookCall, WebhookClient};

use super::{Block, Decision, LoginAttempt, LoginFailure, Middleware, MiddlewareError, VerifiedUser};
use crate::config::WebhookEvent;

/// The `webhook` middleware.
pub struct WebhookMiddleware {
    client: Arc<dyn WebhookClient>,
    url: String,
    events: Vec<WebhookEvent>,
    timeout: Duration,
    fail_open: bool,
    secret: Option<SecretString>,
}

impl WebhookMiddleware {
    /// A webhook to `url` for `events`.
    #[must_use]
    pub fn new(
        client: Arc<dyn WebhookClient>,
        url: String,
        events: Vec<WebhookEvent>,
        timeout: Duration,
        fail_open: bool,
        secret: Option<SecretString>,
    ) -> Self {
        Self { client, url, events, timeout, fail_open, secret }
    }

    fn body(event: &str, attempt: &LoginAttempt, outcome: &str, user_id: Option<&str>, reason: Option<&str>) -> Value {
        json!({
            "event": event,
            "identifier": attempt.identifier,
            "ip": attempt.ip.map(|ip| ip.to_string()),
            "user_agent": attempt.user_agent,
            "device_id": attempt.device_id,
            "metadata": attempt.metadata,
            "outcome": outcome,
            "user_id": user_id,
            "reason": reason,
        })
    }

    async fn ask(&self, body: &Value) -> Decision {
        let call = WebhookCall {
            url: &self.url,
            body,
            secret: self.secret.as_ref().map(ExposeSecret::expose_secret),
            timeout: self.timeout,
        };
        match self.client.call(call).await {
            Ok(WebhookAction::Continue) => Decision::Continue,
            Ok(WebhookAction::Block { error }) => Decision::Block(Block::forbidden(
                error.unwrap_or_else(|| "Login blocked by policy".into()),
                "webhook_blocked",
            )),
            Err(err) if self.fail_open => {
                tracing::warn!(url = %self.url, error = %err, "webhook unavailable; continuing (fail_open)");
                Decision::Continue
            }
            Err(err) => {
                tracing::error!(url = %self.url, error = %err, "webhook unavailable; refusing the login (fail closed)");
                Decision::Block(Block::forbidden("Login policy check unavailable", "webhook_unavailable"))
            }
        }
    }
}

#[async_trait]
impl Middleware for WebhookMiddleware {
    async fn pre_authenticate(&self, attempt: &LoginAttempt) -> Result<Decision, MiddlewareError> {
        if !self.events.contains(&WebhookEvent::Pre) {
            return Ok(Decision::Continue);
        }
        Ok(self.ask(&Self::body("pre", attempt, "pending", None, None)).await)
    }

    async fn post_authenticate(
        &self,
        attempt: &LoginAttempt,
        user: &VerifiedUser,
    ) -> Result<Decision, MiddlewareError> {
        if !self.events.contains(&WebhookEvent::Post) {
            return Ok(Decision::Continue);
        }
        Ok(self.ask(&Self::body("post", attempt, "success", Some(&user.user_id), None)).await)
    }

    async fn on_failure(&self, attempt: &LoginAttempt, failure: &LoginFailure) -> Result<(), MiddlewareError> {
        if !self.events.contains(&WebhookEvent::Failure) {
            return Ok(());
        }
        let body = Self::body("failure", attempt, "failure", failure.user_id.as_deref(), Some(&failure.reason));
        // The login is already refused: the answer is informational.
        let _ = self.ask(&body).await;
        Ok(())
    }
}
