//! The CAPTCHA port: a provider's verdict on a client's token.

use async_trait::async_trait;

/// What a CAPTCHA provider said about a token.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptchaVerdict {
    /// The provider's `success`.
    pub success: bool,
    /// reCAPTCHA v3's score (0.0–1.0), when given.
    pub score: Option<f64>,
    /// The provider's error codes, for the log.
    pub error_codes: Vec<String>,
}

/// Why a token could not be checked (the caller fails closed).
#[derive(Debug, thiserror::Error)]
pub enum CaptchaError {
    /// The provider did not answer in time, refused the connection, or
    /// answered with a non-2xx status.
    #[error("CAPTCHA provider unavailable: {0}")]
    Unavailable(String),
    /// The provider answered something that is not its documented JSON.
    #[error("CAPTCHA provider answered unexpectedly: {0}")]
    BadResponse(String),
}

/// A CAPTCHA provider (reCAPTCHA, hCaptcha, Turnstile, …).
#[async_trait]
pub trait CaptchaVerifier: Send + Sync + 'static {
    /// Checks `token` (and the client address, when known) with the provider.
    ///
    /// # Errors
    /// [`CaptchaError`] when the provider cannot give an answer.
    async fn verify(&self, token: &str, remote_ip: Option<&str>) -> Result<CaptchaVerdict, CaptchaError>;
}
