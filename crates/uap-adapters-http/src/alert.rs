//! [`AlertSender`]: POSTs operational alerts (`[alerts]`) to a receiver,
//! signed as the `webhook` middleware signs its calls.

use std::fmt;
use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use secrecy::{ExposeSecret, SecretString};

use crate::error::BuildError;
use crate::response;
use crate::signature::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};

const USER_AGENT: &str = concat!("uap-alert/", env!("CARGO_PKG_VERSION"));
/// How long one delivery may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Sends JSON alerts to `alerts.webhook_url` with `X-UAP-Timestamp` and
/// `X-UAP-Signature` (see [`sign`](crate::sign)). Redirects are not followed.
#[derive(Clone)]
pub struct AlertSender {
    client: reqwest::Client,
    url: String,
    secret: SecretString,
}

impl fmt::Debug for AlertSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry credentials: not shown.
        f.debug_struct("AlertSender").finish_non_exhaustive()
    }
}

impl AlertSender {
    /// A sender to `url` signing with `secret`.
    ///
    /// # Errors
    /// [`BuildError::Client`] when TLS cannot be set up.
    pub fn new(url: String, secret: SecretString) -> Result<Self, BuildError> {
        Ok(Self { client: response::client(USER_AGENT)?, url, secret })
    }

    /// POSTs `body`, signed at `timestamp` (Unix seconds).
    ///
    /// # Errors
    /// A transport failure or a non-2xx answer, described without the secret.
    pub async fn send(&self, body: &serde_json::Value, timestamp: i64) -> Result<(), String> {
        let body = serde_json::to_vec(body).map_err(|err| format!("could not encode the alert: {err}"))?;
        let signature = sign(self.secret.expose_secret(), timestamp, &body);
        let answer = self
            .client
            .post(&self.url)
            .timeout(TIMEOUT)
            .header(CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, timestamp)
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await
            .map_err(|err| response::describe(err, TIMEOUT))?;
        let status = answer.status();
        if status.is_success() { Ok(()) } else { Err(format!("receiver answered HTTP {status}")) }
    }
}
