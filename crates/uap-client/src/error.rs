//! The typed errors of every call.

use secrecy::SecretString;

/// What went wrong talking to UAP.
///
/// The split that matters to a web application: [`Error::Unauthorized`] and
/// [`Error::InvalidCredentials`] mean "UAP answered: no" (answer 401);
/// [`Error::is_unavailable`] errors mean UAP could not answer usefully
/// (answer 503) — never "not logged in".
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// 401 from `/authenticate` or `/mfa/verify`: unknown user, wrong password
    /// or inactive account alike.
    #[error("invalid credentials: {0}")]
    InvalidCredentials(String),
    /// 401 for a token: missing, garbled, expired, or its session has ended.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// 401 with `mfa_required`: finish the login with
    /// [`crate::UapClient::mfa_verify`].
    #[error("MFA required")]
    MfaRequired {
        /// Short-lived, single-use ticket for `POST /mfa/verify`.
        mfa_token: SecretString,
    },
    /// 401 with `mfa_enrollment_required`: the user must enroll a TOTP factor
    /// first ([`crate::UapClient::totp_enroll`] with this token).
    #[error("MFA enrollment required")]
    MfaEnrollmentRequired {
        /// Opens only the TOTP enroll and confirm routes.
        enrollment_token: SecretString,
    },
    /// 403: a middleware (CAPTCHA, IP rule, webhook) refused, or the user
    /// lacks a role.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 429: too many attempts.
    #[error("rate limited: retry after {retry_after} s")]
    RateLimited {
        /// Seconds until the next attempt may succeed.
        retry_after: u64,
    },
    /// 400/404/413/415/422: UAP refused the request itself.
    #[error("bad request ({status}): {message}")]
    BadRequest {
        /// The HTTP status.
        status: u16,
        /// UAP's `error`/`message` text.
        message: String,
    },
    /// UAP runs in shadow mode: it judged the login but issued no session.
    #[error("UAP is in shadow mode: no session issued (would_accept = {would_accept})")]
    Shadow {
        /// Whether UAP would have accepted the login.
        would_accept: bool,
    },
    /// 5xx: UAP or one of its dependencies is down.
    #[error("UAP unavailable ({status}): {message}")]
    Unavailable {
        /// The HTTP status.
        status: u16,
        /// UAP's `error` text.
        message: String,
    },
    /// No answer: connection refused, timeout, TLS or a broken response.
    #[error("UAP unreachable: {0}")]
    Transport(#[source] reqwest::Error),
    /// The client was misconfigured (e.g. a base URL that is not http(s)).
    #[error("client configuration: {0}")]
    Config(String),
    /// An answer that is not UAP's (wrong shape, unexpected status).
    #[error("unexpected answer from UAP: {0}")]
    UnexpectedResponse(String),
}

impl Error {
    /// Whether UAP could not answer usefully: a 5xx, no answer at all, or an
    /// answer that is not UAP's. A protected route answers 503 for these.
    #[must_use]
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Transport(_) | Self::UnexpectedResponse(_))
    }

    /// The HTTP status UAP answered, when it answered.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::InvalidCredentials(_)
            | Self::Unauthorized(_)
            | Self::MfaRequired { .. }
            | Self::MfaEnrollmentRequired { .. } => Some(401),
            Self::Forbidden(_) => Some(403),
            Self::RateLimited { .. } => Some(429),
            Self::BadRequest { status, .. } | Self::Unavailable { status, .. } => Some(*status),
            Self::Shadow { .. } => Some(200),
            Self::Transport(err) => err.status().map(|s| s.as_u16()),
            Self::UnexpectedResponse(_) | Self::Config(_) => None,
        }
    }
}

/// What a call returns.
pub type Result<T, E = Error> = std::result::Result<T, E>;
