//! What both adapters share: the client setup, reading a bounded answer and
//! describing a transport failure without its URL.

use std::time::Duration;

use crate::error::BuildError;

/// The largest answer read from a CAPTCHA provider or a webhook.
pub(crate) const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// A client on rustls (ring provider) that never follows redirects.
pub(crate) fn client(user_agent: &str) -> Result<reqwest::Client, BuildError> {
    reqwest::Client::builder()
        .use_rustls_tls()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(user_agent)
        .build()
        .map_err(|err| BuildError::Client(Box::new(err.without_url())))
}

/// Why an answer could not be read.
pub(crate) enum ReadError {
    /// The transport failed while the body was read (e.g. the deadline passed).
    Transport(String),
    /// The body is larger than the limit.
    TooLarge,
}

/// Reads the body of `response`, refusing more than `limit` bytes
/// ([`MAX_ANSWER_BYTES`] for providers and webhooks).
pub(crate) async fn read_limited(
    mut response: reqwest::Response,
    timeout: Duration,
    limit: usize,
) -> Result<Vec<u8>, ReadError> {
    if response.content_length().is_some_and(|len| len > limit as u64) {
        return Err(ReadError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|err| ReadError::Transport(describe(err, timeout)))? {
        if body.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A log-friendly description of a reqwest failure, without the URL (which
/// may carry a host's credentials in its query).
pub(crate) fn describe(err: reqwest::Error, timeout: Duration) -> String {
    if err.is_timeout() {
        return format!("no answer within {} ms", timeout.as_millis());
    }
    uap_ports::error_chain(&err.without_url())
}

/// A short, printable excerpt of an unexpected answer, for the error message.
pub(crate) fn excerpt(body: &[u8]) -> String {
    const MAX: usize = 120;
    let text = String::from_utf8_lossy(body);
    let mut cut: String = text.chars().take(MAX).filter(|c| !c.is_control()).collect();
    if text.chars().count() > MAX {
        cut.push('…');
    }
    cut
}
