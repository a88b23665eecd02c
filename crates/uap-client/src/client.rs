//! [`UapClient`]: one typed async method per route of CONTRACT §3.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use secrecy::SecretString;
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::models::{AuthenticateRequest, AuthenticatedUser, Health, Session, SessionInfo, TotpEnrollment};

const AUTH: &str = "/api/v1/auth";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const DEFAULT_USER_AGENT: &str = concat!("uap-client-rust/", env!("CARGO_PKG_VERSION"));

/// How a [`UapClient`] was configured (the local-mode feed builds its own
/// long-lived connection from it).
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) base_url: String,
    pub(crate) timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) user_agent: String,
}

/// A typed async client of UAP's HTTP API. Cheap to clone (one connection
/// pool shared by the clones).
#[derive(Clone)]
pub struct UapClient {
    http: reqwest::Client,
    settings: Arc<Settings>,
}

impl std::fmt::Debug for UapClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UapClient").field("base_url", &self.settings.base_url).finish_non_exhaustive()
    }
}

/// Builds a [`UapClient`] with a timeout and user agent of your choice.
#[derive(Debug, Clone)]
pub struct UapClientBuilder {
    settings: Settings,
}

impl UapClientBuilder {
    /// The whole-request timeout [5 s].
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = timeout;
        self
    }

    /// The connect timeout [2 s].
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = timeout;
        self
    }

    /// The `User-Agent` header (default `uap-client-rust/<version>`).
    #[must_use]
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.settings.user_agent = user_agent.into();
        self
    }

    /// The client.
    ///
    /// # Errors
    /// [`Error::Config`] when the base URL is not an `http(s)://` URL or the
    /// TLS backend cannot start.
    pub fn build(self) -> Result<UapClient> {
        let settings = self.settings;
        let base = settings.base_url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) || reqwest::Url::parse(&base).is_err() {
            return Err(Error::Config(format!("base_url must be an http(s) URL, got {base:?}")));
        }
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            .user_agent(settings.user_agent.clone())
            .build()
            .map_err(|err| Error::Config(format!("cannot build the HTTP client: {err}")))?;
        Ok(UapClient { http, settings: Arc::new(Settings { base_url: base, ..settings }) })
    }
}

/// How a 401 is read: bad credentials on a login route, a bad token elsewhere.
#[derive(Clone, Copy, PartialEq, Eq)]
enum On401 {
    Credentials,
    Token,
}

impl UapClient {
    /// A client of the UAP at `base_url` (e.g. `http://127.0.0.1:8000`) with
    /// the default timeouts.
    ///
    /// # Errors
    /// [`Error::Config`] when `base_url` is not an `http(s)://` URL.
    pub fn new(base_url: impl Into<String>) -> Result<Self> {
        Self::builder(base_url).build()
    }

    /// A builder for a client of the UAP at `base_url`.
    pub fn builder(base_url: impl Into<String>) -> UapClientBuilder {
        UapClientBuilder {
            settings: Settings {
                base_url: base_url.into(),
                timeout: DEFAULT_TIMEOUT,
                connect_timeout: DEFAULT_CONNECT_TIMEOUT,
                user_agent: DEFAULT_USER_AGENT.to_owned(),
            },
        }
    }

    /// The base URL, without a trailing slash.
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.settings.base_url
    }

    #[cfg(feature = "local")]
    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.settings.base_url))
    }

    fn bearer(&self, method: Method, path: &str, token: &str) -> Result<RequestBuilder> {
        Ok(self.request(method, path).bearer_auth(check_token(token)?))
    }

    async fn send(request: RequestBuilder, on_401: On401) -> Result<Map<String, Value>> {
        let response = request.send().await.map_err(Error::Transport)?;
        read(response, on_401).await
    }

    /// `POST /authenticate`.
    ///
    /// # Errors
    /// [`Error::InvalidCredentials`], [`Error::MfaRequired`],
    /// [`Error::MfaEnrollmentRequired`], [`Error::RateLimited`],
    /// [`Error::Forbidden`] (a middleware blocked), [`Error::Shadow`] (shadow
    /// mode), or an unavailable/transport error.
    pub async fn authenticate(&self, request: &AuthenticateRequest) -> Result<Session> {
        let body =
            Self::send(self.request(Method::POST, &format!("{AUTH}/authenticate")).json(request), On401::Credentials)
                .await?;
        session_of(body)
    }

    /// `POST /mfa/verify`: completes a login that answered [`Error::MfaRequired`].
    ///
    /// # Errors
    /// [`Error::InvalidCredentials`] for a wrong code or ticket, or as
    /// [`UapClient::authenticate`].
    pub async fn mfa_verify(&self, mfa_token: &SecretString, code: &str) -> Result<Session> {
        let body = json!({ "mfa_token": secrecy::ExposeSecret::expose_secret(mfa_token), "code": code });
        session_of(
            Self::send(self.request(Method::POST, &format!("{AUTH}/mfa/verify")).json(&body), On401::Credentials)
                .await?,
        )
    }

    /// `GET /validate`: the user behind `token`.
    ///
    /// # Errors
    /// [`Error::Unauthorized`] for a missing, garbled, expired or revoked
    /// token; an unavailable/transport error when UAP could not say.
    pub async fn validate(&self, token: &str) -> Result<AuthenticatedUser> {
        let body = Self::send(self.bearer(Method::GET, &format!("{AUTH}/validate"), token)?, On401::Token).await?;
        AuthenticatedUser::from_validation(&Value::Object(body), token)
            .ok_or_else(|| Error::Unauthorized("Invalid or expired token".into()))
    }

    /// `POST /validate/batch`: one answer per token, in order (`None` = not
    /// valid). At most 1000 tokens.
    ///
    /// # Errors
    /// [`Error::BadRequest`] over the cap, or an unavailable/transport error.
    pub async fn validate_batch<S: AsRef<str>>(&self, tokens: &[S]) -> Result<Vec<Option<AuthenticatedUser>>> {
        let tokens: Vec<&str> = tokens.iter().map(AsRef::as_ref).collect();
        let body = Self::send(
            self.request(Method::POST, &format!("{AUTH}/validate/batch")).json(&json!({ "tokens": tokens })),
            On401::Token,
        )
        .await?;
        let Some(Value::Array(results)) = body.get("results") else {
            return Err(Error::UnexpectedResponse("batch answer without `results`".into()));
        };
        if results.len() != tokens.len() {
            return Err(Error::UnexpectedResponse(format!(
                "batch answer has {} results for {} tokens",
                results.len(),
                tokens.len()
            )));
        }
        Ok(results
            .iter()
            .zip(tokens)
            .map(|(result, token)| AuthenticatedUser::from_validation(result, token))
            .collect())
    }

    /// `POST /refresh` with the access token (Bearer): the session is extended
    /// and the old token stops working.
    ///
    /// # Errors
    /// [`Error::Unauthorized`], or an unavailable/transport error.
    pub async fn refresh(&self, token: &str) -> Result<Session> {
        refreshed(Self::send(self.bearer(Method::POST, &format!("{AUTH}/refresh"), token)?, On401::Token).await?)
    }

    /// `POST /refresh` with a refresh token: a new session replaces the old one.
    ///
    /// # Errors
    /// [`Error::Unauthorized`] (spent, expired or stolen refresh token), or an
    /// unavailable/transport error.
    pub async fn refresh_with_refresh_token(&self, refresh_token: &SecretString) -> Result<Session> {
        let body = json!({ "refresh_token": secrecy::ExposeSecret::expose_secret(refresh_token) });
        refreshed(Self::send(self.request(Method::POST, &format!("{AUTH}/refresh")).json(&body), On401::Token).await?)
    }

    /// `POST /logout`: `true` when a session ended, `false` when it was already gone.
    ///
    /// # Errors
    /// [`Error::Unauthorized`] for a garbled token, or an unavailable/transport error.
    pub async fn logout(&self, token: &str) -> Result<bool> {
        let body = Self::send(self.bearer(Method::POST, &format!("{AUTH}/logout"), token)?, On401::Token).await?;
        Ok(body.get("success") == Some(&Value::Bool(true)))
    }

    /// `POST /logout-all`: ends every session of the token's user; how many ended.
    ///
    /// # Errors
    /// [`Error::Unauthorized`], or an unavailable/transport error.
    pub async fn logout_all(&self, token: &str) -> Result<u64> {
        let body = Self::send(self.bearer(Method::POST, &format!("{AUTH}/logout-all"), token)?, On401::Token).await?;
        body.get("ended")
            .and_then(Value::as_u64)
            .ok_or_else(|| Error::UnexpectedResponse("logout-all answer without `ended`".into()))
    }

    /// `GET /sessions`: the sessions of the token's user.
    ///
    /// # Errors
    /// [`Error::Unauthorized`], or an unavailable/transport error.
    pub async fn sessions(&self, token: &str) -> Result<Vec<SessionInfo>> {
        let mut body = Self::send(self.bearer(Method::GET, &format!("{AUTH}/sessions"), token)?, On401::Token).await?;
        let sessions = body.remove("sessions").unwrap_or(Value::Array(Vec::new()));
        serde_json::from_value(sessions).map_err(|err| Error::UnexpectedResponse(format!("sessions: {err}")))
    }

    /// `POST /mfa/totp/enroll` with a session token or an enrollment token.
    ///
    /// # Errors
    /// [`Error::Unauthorized`] (bad token or wrong password), or an
    /// unavailable/transport error.
    pub async fn totp_enroll(&self, token: &str, password: &SecretString) -> Result<TotpEnrollment> {
        let body = json!({ "password": secrecy::ExposeSecret::expose_secret(password) });
        let body =
            Self::send(self.bearer(Method::POST, &format!("{AUTH}/mfa/totp/enroll"), token)?.json(&body), On401::Token)
                .await?;
        decode(body, "TOTP enrollment")
    }

    /// `POST /mfa/totp/confirm` with the first code. After an enrollment
    /// token this completes the login: `Some(session)`; after a session
    /// token, `None`.
    ///
    /// # Errors
    /// [`Error::Unauthorized`] (bad token or code), or an unavailable/transport error.
    pub async fn totp_confirm(&self, token: &str, code: &str) -> Result<Option<Session>> {
        let body = Self::send(
            self.bearer(Method::POST, &format!("{AUTH}/mfa/totp/confirm"), token)?.json(&json!({ "code": code })),
            On401::Token,
        )
        .await?;
        if body.contains_key("token") { session_of(body).map(Some) } else { success(&body).map(|()| None) }
    }

    /// `DELETE /mfa/totp` with a current code.
    ///
    /// # Errors
    /// [`Error::Unauthorized`] (bad token or code), or an unavailable/transport error.
    pub async fn totp_disable(&self, token: &str, code: &str) -> Result<()> {
        let body = Self::send(
            self.bearer(Method::DELETE, &format!("{AUTH}/mfa/totp"), token)?.json(&json!({ "code": code })),
            On401::Token,
        )
        .await?;
        success(&body)
    }

    /// `GET /api/v1/config/health`. A 503 with the health shape is an answer
    /// (a component is down: [`Health::is_healthy`] is false), not an error.
    ///
    /// # Errors
    /// A transport error, or [`Error::Unavailable`] for a 5xx without the health shape.
    pub async fn health(&self) -> Result<Health> {
        let response = self.request(Method::GET, "/api/v1/config/health").send().await.map_err(Error::Transport)?;
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            let status = response.status().as_u16();
            let bytes = response.bytes().await.map_err(Error::Transport)?;
            return match serde_json::from_slice::<Health>(&bytes) {
                Ok(health) => Ok(health),
                Err(_) => Err(Error::Unavailable { status, message: message_of(&bytes, "UAP unavailable") }),
            };
        }
        decode(read(response, On401::Token).await?, "health")
    }

    /// `GET /.well-known/jwks.json`: the public keys (`{keys: []}` for HS*).
    ///
    /// # Errors
    /// An unavailable/transport error.
    pub async fn jwks(&self) -> Result<Value> {
        Ok(Value::Object(Self::send(self.request(Method::GET, "/.well-known/jwks.json"), On401::Token).await?))
    }
}

/// The token, or [`Error::Unauthorized`] when it cannot be a token at all
/// (empty, spaces, control or non-ASCII characters: it could not even be
/// sent as a header).
pub(crate) fn check_token(token: &str) -> Result<&str> {
    if token.is_empty() || token.len() > 16 * 1024 || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::Unauthorized("Missing or malformed token".into()));
    }
    Ok(token)
}

fn message_of(bytes: &[u8], default: &str) -> String {
    serde_json::from_slice::<Map<String, Value>>(bytes)
        .ok()
        .and_then(|body| text_of(&body))
        .unwrap_or_else(|| default.to_owned())
}

fn text_of(body: &Map<String, Value>) -> Option<String> {
    ["error", "message"]
        .iter()
        .find_map(|key| body.get(*key).and_then(Value::as_str).filter(|text| !text.is_empty()).map(str::to_owned))
}

/// The JSON object of a 2xx answer, or the typed error of any other.
async fn read(response: Response, on_401: On401) -> Result<Map<String, Value>> {
    let status = response.status();
    let retry_header = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    let bytes = response.bytes().await.map_err(Error::Transport)?;
    classify(status.as_u16(), retry_header, &bytes, on_401)
}

fn classify(status: u16, retry_header: Option<u64>, bytes: &[u8], on_401: On401) -> Result<Map<String, Value>> {
    if status >= 500 {
        return Err(Error::Unavailable { status, message: message_of(bytes, "UAP unavailable") });
    }
    let Ok(body) = serde_json::from_slice::<Map<String, Value>>(bytes) else {
        return Err(Error::UnexpectedResponse(format!("UAP answered {status} without a JSON object")));
    };
    if (200..300).contains(&status) {
        return Ok(body);
    }
    let message = text_of(&body).unwrap_or_else(|| format!("HTTP {status}"));
    match status {
        429 => Err(Error::RateLimited {
            retry_after: body.get("retry_after").and_then(Value::as_u64).or(retry_header).unwrap_or(1),
        }),
        401 => {
            if body.get("mfa_required") == Some(&Value::Bool(true)) {
                Err(Error::MfaRequired { mfa_token: secret_of(&body, "mfa_token") })
            } else if body.get("mfa_enrollment_required") == Some(&Value::Bool(true)) {
                Err(Error::MfaEnrollmentRequired { enrollment_token: secret_of(&body, "enrollment_token") })
            } else if on_401 == On401::Credentials {
                Err(Error::InvalidCredentials(message))
            } else {
                Err(Error::Unauthorized(text_of(&body).unwrap_or_else(|| "Invalid or expired token".into())))
            }
        }
        403 => Err(Error::Forbidden(message)),
        400..=499 => Err(Error::BadRequest { status, message }),
        _ => Err(Error::UnexpectedResponse(format!("UAP answered {status}"))),
    }
}

fn secret_of(body: &Map<String, Value>, key: &str) -> SecretString {
    SecretString::from(body.get(key).and_then(Value::as_str).unwrap_or_default().to_owned())
}

fn decode<T: serde::de::DeserializeOwned>(body: Map<String, Value>, what: &str) -> Result<T> {
    serde_json::from_value(Value::Object(body)).map_err(|err| Error::UnexpectedResponse(format!("{what}: {err}")))
}

fn success(body: &Map<String, Value>) -> Result<()> {
    if body.get("success") == Some(&Value::Bool(true)) {
        Ok(())
    } else {
        Err(Error::UnexpectedResponse(text_of(body).unwrap_or_else(|| "answer without success: true".into())))
    }
}

/// A login answer: a session, or the shadow-mode verdict.
fn session_of(body: Map<String, Value>) -> Result<Session> {
    if body.get("shadow") == Some(&Value::Bool(true)) {
        return Err(Error::Shadow { would_accept: body.get("would_accept") == Some(&Value::Bool(true)) });
    }
    if body.get("success") != Some(&Value::Bool(true)) || !body.contains_key("token") {
        return Err(Error::UnexpectedResponse(text_of(&body).unwrap_or_else(|| "login answer without a token".into())));
    }
    decode(body, "session")
}

fn refreshed(body: Map<String, Value>) -> Result<Session> {
    if body.get("success") != Some(&Value::Bool(true)) || !body.contains_key("token") {
        return Err(Error::Unauthorized(text_of(&body).unwrap_or_else(|| "refresh refused".into())));
    }
    decode(body, "session")
}

#[cfg(test)]
mod tests;
