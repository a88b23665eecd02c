//! The webhook port: POST a signed request context to the host and read its
//! decision.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

/// The host's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookAction {
    /// Go on.
    Continue,
    /// Refuse, with the host's message when it gave one.
    Block {
        /// `error` from the host's answer.
        error: Option<String>,
    },
}

/// Why a webhook gave no decision (the caller applies `fail_open`).
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// Timeout, refused connection, non-2xx status.
    #[error("webhook unavailable: {0}")]
    Unavailable(String),
    /// An answer that is not `{action: "continue"|"block", error?}`.
    #[error("webhook answered unexpectedly: {0}")]
    BadResponse(String),
}

/// One signed call to a host webhook.
#[derive(Debug, Clone)]
pub struct WebhookCall<'a> {
    /// Where to POST.
    pub url: &'a str,
    /// The JSON body (never a password or token).
    pub body: &'a Value,
    /// HMAC-SHA256 key; when set the request carries `X-UAP-Timestamp` and
    /// `X-UAP-Signature: sha256=<hex of HMAC(secret, "<timestamp>.<body>")>`.
    pub secret: Option<&'a str>,
    /// The whole call's deadline.
    pub timeout: Duration,
}

/// Transport for the `webhook` middleware.
#[async_trait]
pub trait WebhookClient: Send + Sync + 'static {
    /// POSTs the call and reads the host's decision.
    ///
    /// # Errors
    /// [`WebhookError`] when no decision could be read.
    async fn call(&self, call: WebhookCall<'_>) -> Result<WebhookAction, WebhookError>;
}
