//! [`HttpWebhookClient`]: the transport of the `webhook` middleware.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde::Deserialize;
use uap_ports::{Clock, SystemClock, WebhookAction, WebhookCall, WebhookClient, WebhookError};

use crate::error::BuildError;
use crate::response::{self, MAX_ANSWER_BYTES, ReadError};
use crate::signature::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};

const USER_AGENT: &str = concat!("uap-webhook/", env!("CARGO_PKG_VERSION"));

/// POSTs JSON to host webhooks and reads their decision.
///
/// Each call sends `Content-Type: application/json` and
/// `User-Agent: uap-webhook/<version>`; with a secret, also
/// [`TIMESTAMP_HEADER`] and [`SIGNATURE_HEADER`] (see [`sign`](crate::sign)).
/// Redirects are not followed (a 3xx is `Unavailable`). One client, and so
/// one connection pool, serves every call; cloning shares it.
#[derive(Clone)]
pub struct HttpWebhookClient {
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for HttpWebhookClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpWebhookClient").finish_non_exhaustive()
    }
}

impl HttpWebhookClient {
    /// A client that signs with the wall clock's time.
    ///
    /// # Errors
    /// [`BuildError::Client`] when TLS cannot be set up.
    pub fn new() -> Result<Self, BuildError> {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// A client that takes the signature's timestamp from `clock`.
    ///
    /// # Errors
    /// [`BuildError::Client`] when TLS cannot be set up.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Result<Self, BuildError> {
        Ok(Self { client: response::client(USER_AGENT)?, clock })
    }
}

/// The host's answer: `{"action": "continue"|"block", "error"?: string}`.
#[derive(Deserialize)]
struct HostAnswer {
    action: HostAction,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum HostAction {
    Continue,
    Block,
}

#[async_trait]
impl WebhookClient for HttpWebhookClient {
    async fn call(&self, call: WebhookCall<'_>) -> Result<WebhookAction, WebhookError> {
        let body = serde_json::to_vec(call.body)
            .map_err(|err| WebhookError::Unavailable(format!("could not encode the request body: {err}")))?;
        let mut request = self
            .client
            .post(call.url)
            .timeout(call.timeout)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json");
        if let Some(secret) = call.secret {
            let timestamp = self.clock.now().unix_timestamp();
            request =
                request.header(TIMESTAMP_HEADER, timestamp).header(SIGNATURE_HEADER, sign(secret, timestamp, &body));
        }
        let answer = request
            .body(body)
            .send()
            .await
            .map_err(|err| WebhookError::Unavailable(response::describe(err, call.timeout)))?;
        let status = answer.status();
        if !status.is_success() {
            tracing::debug!(%status, "webhook answered with an error status");
            return Err(WebhookError::Unavailable(format!("host answered HTTP {status}")));
        }
        let body = response::read_limited(answer, call.timeout, MAX_ANSWER_BYTES).await.map_err(|err| match err {
            ReadError::Transport(text) => WebhookError::Unavailable(text),
            ReadError::TooLarge => {
                WebhookError::BadResponse(format!("answer larger than {} KiB", MAX_ANSWER_BYTES / 1024))
            }
        })?;
        let answer: HostAnswer = serde_json::from_slice(&body)
            .map_err(|err| WebhookError::BadResponse(format!("{err} in answer `{}`", response::excerpt(&body))))?;
        let action = match answer.action {
            HostAction::Continue => WebhookAction::Continue,
            HostAction::Block => WebhookAction::Block { error: answer.error },
        };
        tracing::debug!(?action, "webhook decision");
        Ok(action)
    }
}
