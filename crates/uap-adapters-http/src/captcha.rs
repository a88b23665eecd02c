//! [`HttpCaptchaVerifier`]: the `siteverify` call of reCAPTCHA, hCaptcha and
//! Turnstile, which share one protocol: a form-encoded POST of `secret`,
//! `response` and `remoteip`, answered by `{success, "error-codes", …}`.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uap_ports::{CaptchaError, CaptchaVerdict, CaptchaVerifier};

use crate::error::BuildError;
use crate::response::{self, MAX_ANSWER_BYTES, ReadError};

const USER_AGENT: &str = concat!("uap-captcha/", env!("CARGO_PKG_VERSION"));

/// A CAPTCHA service, as named in the `captcha` middleware's `provider` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptchaProvider {
    /// Google reCAPTCHA v2 or v3 (v3 answers with a score).
    Recaptcha,
    /// hCaptcha.
    Hcaptcha,
    /// Cloudflare Turnstile.
    Turnstile,
}

impl CaptchaProvider {
    /// The provider's public verification endpoint.
    #[must_use]
    pub const fn default_verify_url(self) -> &'static str {
        match self {
            Self::Recaptcha => "https://www.google.com/recaptcha/api/siteverify",
            Self::Hcaptcha => "https://api.hcaptcha.com/siteverify",
            Self::Turnstile => "https://challenges.cloudflare.com/turnstile/v0/siteverify",
        }
    }

    /// The configuration name: `recaptcha`, `hcaptcha` or `turnstile`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Recaptcha => "recaptcha",
            Self::Hcaptcha => "hcaptcha",
            Self::Turnstile => "turnstile",
        }
    }
}

impl fmt::Display for CaptchaProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Checks CAPTCHA tokens with a provider's `siteverify` endpoint.
///
/// The verdict carries the provider's `success`, its `error-codes` and — for
/// reCAPTCHA only — the v3 `score` (1.0 very likely human, 0.0 very likely a
/// bot). hCaptcha Enterprise's `score` is a *risk* score (higher means more
/// likely a bot), the opposite scale, so it is not reported; Turnstile has no
/// score. Comparing the score with the threshold is the middleware's job.
///
/// Cloning shares the connection pool.
#[derive(Clone)]
pub struct HttpCaptchaVerifier {
    client: reqwest::Client,
    provider: CaptchaProvider,
    verify_url: reqwest::Url,
    secret: SecretString,
    timeout: Duration,
}

impl fmt::Debug for HttpCaptchaVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpCaptchaVerifier")
            .field("provider", &self.provider)
            .field("verify_url", &self.verify_url.as_str())
            .field("secret", &"***")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl HttpCaptchaVerifier {
    /// A verifier for `provider` with its secret key. `verify_url` overrides the
    /// provider's endpoint (tests, self-hosted proxies); `timeout` bounds each
    /// whole call, from connecting to reading the answer.
    ///
    /// # Errors
    /// [`BuildError::EmptySecret`], [`BuildError::ZeroTimeout`],
    /// [`BuildError::InvalidUrl`] when `verify_url` is not an absolute
    /// `http`/`https` URL, [`BuildError::Client`] when TLS cannot be set up.
    pub fn new(
        provider: CaptchaProvider,
        secret: String,
        verify_url: Option<String>,
        timeout: Duration,
    ) -> Result<Self, BuildError> {
        if secret.is_empty() {
            return Err(BuildError::EmptySecret);
        }
        if timeout.is_zero() {
            return Err(BuildError::ZeroTimeout);
        }
        let url = verify_url.unwrap_or_else(|| provider.default_verify_url().to_owned());
        let verify_url = parse_url(&url)?;
        Ok(Self {
            client: response::client(USER_AGENT)?,
            provider,
            verify_url,
            secret: SecretString::from(secret),
            timeout,
        })
    }

    /// The provider this verifier talks to.
    #[must_use]
    pub const fn provider(&self) -> CaptchaProvider {
        self.provider
    }

    fn verdict(&self, answer: SiteVerifyAnswer) -> CaptchaVerdict {
        CaptchaVerdict {
            success: answer.success,
            score: match self.provider {
                CaptchaProvider::Recaptcha => answer.score,
                CaptchaProvider::Hcaptcha | CaptchaProvider::Turnstile => None,
            },
            error_codes: answer.error_codes.unwrap_or_default(),
        }
    }
}

fn parse_url(url: &str) -> Result<reqwest::Url, BuildError> {
    let invalid = |reason: String| BuildError::InvalidUrl { url: url.to_owned(), reason };
    let parsed = reqwest::Url::parse(url).map_err(|err| invalid(err.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid(format!("scheme `{}` is not http or https", parsed.scheme())));
    }
    Ok(parsed)
}

/// The fields UAP reads from a `siteverify` answer; the others are ignored.
#[derive(Deserialize)]
struct SiteVerifyAnswer {
    success: bool,
    #[serde(default)]
    score: Option<f64>,
    #[serde(default, rename = "error-codes")]
    error_codes: Option<Vec<String>>,
}

#[async_trait]
impl CaptchaVerifier for HttpCaptchaVerifier {
    async fn verify(&self, token: &str, remote_ip: Option<&str>) -> Result<CaptchaVerdict, CaptchaError> {
        let mut form = vec![("secret", self.secret.expose_secret()), ("response", token)];
        if let Some(ip) = remote_ip {
            form.push(("remoteip", ip));
        }
        let unavailable = |err| CaptchaError::Unavailable(response::describe(err, self.timeout));
        let answer = self
            .client
            .post(self.verify_url.clone())
            .timeout(self.timeout)
            .form(&form)
            .send()
            .await
            .map_err(unavailable)?;
        let status = answer.status();
        if !status.is_success() {
            tracing::debug!(provider = %self.provider, %status, "CAPTCHA provider answered with an error status");
            return Err(CaptchaError::Unavailable(format!("{} answered HTTP {status}", self.provider)));
        }
        let body = response::read_limited(answer, self.timeout, MAX_ANSWER_BYTES).await.map_err(|err| match err {
            ReadError::Transport(text) => CaptchaError::Unavailable(text),
            ReadError::TooLarge => {
                CaptchaError::BadResponse(format!("answer larger than {} KiB", MAX_ANSWER_BYTES / 1024))
            }
        })?;
        let parsed: SiteVerifyAnswer = serde_json::from_slice(&body)
            .map_err(|err| CaptchaError::BadResponse(format!("{err} in answer `{}`", response::excerpt(&body))))?;
        let verdict = self.verdict(parsed);
        tracing::debug!(
            provider = %self.provider,
            success = verdict.success,
            score = verdict.score,
            error_codes = ?verdict.error_codes,
            "CAPTCHA verdict"
        );
        Ok(verdict)
    }
}
