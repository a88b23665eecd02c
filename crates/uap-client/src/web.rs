//! Framework-neutral pieces of the integrations: the bearer token, excluded
//! paths, and the 401/403/503 answers.

use crate::error::Error;

/// The token of an `Authorization: Bearer <token>` header value (the scheme
/// is case-insensitive), or `None`.
#[must_use]
pub fn bearer_token(header: Option<&str>) -> Option<&str> {
    let (scheme, token) = header?.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

/// Paths that skip authentication: exact (`/health`) or, ending in `*`, a
/// prefix (`/public/*` matches `/public` and everything below it).
#[derive(Debug, Clone, Default)]
pub struct ExcludedPaths {
    exact: Vec<String>,
    prefixes: Vec<String>,
}

impl ExcludedPaths {
    /// The paths, as described on the type.
    pub fn new<I, S>(paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut excluded = Self::default();
        for path in paths {
            let path = path.into();
            match path.strip_suffix('*') {
                Some(prefix) => excluded.prefixes.push(prefix.to_owned()),
                None => excluded.exact.push(path),
            }
        }
        excluded
    }

    /// Whether `path` skips authentication.
    #[must_use]
    pub fn contains(&self, path: &str) -> bool {
        self.exact.iter().any(|exact| exact == path)
            || self.prefixes.iter().any(|prefix| {
                path.starts_with(prefix.as_str()) || prefix.strip_suffix('/').is_some_and(|bare| bare == path)
            })
    }
}

/// Why a protected route refuses a request, and what it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// No bearer token: 401.
    MissingToken,
    /// A token UAP does not accept: 401.
    InvalidToken,
    /// A valid user without any of the required roles: 403.
    MissingRole(Vec<String>),
    /// UAP (or its dependency) could not say: 503 — never "not logged in".
    Unavailable,
}

impl Rejection {
    /// The rejection for a validation error; anything but "the token is not
    /// valid" is logged and becomes [`Rejection::Unavailable`].
    #[must_use]
    pub fn from_error(error: &Error) -> Self {
        match error {
            Error::Unauthorized(_) | Error::InvalidCredentials(_) => Self::InvalidToken,
            other if other.is_unavailable() => {
                tracing::warn!(error = %other, "UAP unavailable while validating a token");
                Self::Unavailable
            }
            other => {
                tracing::error!(error = %other, "unexpected answer from UAP while validating a token");
                Self::Unavailable
            }
        }
    }

    /// The HTTP status: 401, 403 or 503.
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            Self::MissingToken | Self::InvalidToken => 401,
            Self::MissingRole(_) => 403,
            Self::Unavailable => 503,
        }
    }

    /// The human-readable `error` text.
    #[must_use]
    pub fn message(&self) -> String {
        match self {
            Self::MissingToken => "Not authenticated".into(),
            Self::InvalidToken => "Invalid or expired token".into(),
            Self::MissingRole(roles) => format!("Forbidden: requires role {}", roles.join(" or ")),
            Self::Unavailable => "Authentication service unavailable".into(),
        }
    }

    /// The JSON body `{"error": "..."}`.
    #[must_use]
    pub fn body(&self) -> String {
        serde_json::json!({ "error": self.message() }).to_string()
    }

    /// The `WWW-Authenticate` value a 401 carries (RFC 6750), else `None`.
    #[must_use]
    pub fn www_authenticate(&self) -> Option<&'static str> {
        match self {
            Self::MissingToken => Some("Bearer"),
            Self::InvalidToken => Some("Bearer error=\"invalid_token\""),
            Self::MissingRole(_) | Self::Unavailable => None,
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_token_reads_the_scheme_case_insensitively() {
        assert_eq!(bearer_token(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer_token(Some("Basic abc")), None);
        assert_eq!(bearer_token(Some("Bearer ")), None);
        assert_eq!(bearer_token(Some("Bearer")), None);
        assert_eq!(bearer_token(None), None);
    }

    #[test]
    fn excluded_paths_match_exactly_or_by_prefix() {
        let excluded = ExcludedPaths::new(["/health", "/public/*"]);
        assert!(excluded.contains("/health"));
        assert!(!excluded.contains("/health/x"));
        assert!(excluded.contains("/public"));
        assert!(excluded.contains("/public/a/b"));
        assert!(!excluded.contains("/publicity"));
        assert!(!excluded.contains("/private"));
    }

    #[test]
    fn rejections_map_errors_to_401_or_503() {
        assert_eq!(Rejection::from_error(&Error::Unauthorized("x".into())).status(), 401);
        let down = Error::Unavailable { status: 503, message: "db down".into() };
        assert_eq!(Rejection::from_error(&down).status(), 503);
        assert_eq!(Rejection::from_error(&Error::UnexpectedResponse("html".into())).status(), 503);
        assert_eq!(Rejection::from_error(&Error::Forbidden("ip".into())).status(), 503);
        let forbidden = Rejection::MissingRole(vec!["admin".into()]);
        assert_eq!(forbidden.status(), 403);
        assert_eq!(forbidden.body(), r#"{"error":"Forbidden: requires role admin"}"#);
    }
}
