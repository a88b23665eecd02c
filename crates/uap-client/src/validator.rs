//! [`Validator`]: who is behind a bearer token.

use crate::client::UapClient;
use crate::error::Result;
use crate::models::AuthenticatedUser;

/// Turns a bearer token into an [`AuthenticatedUser`]. Cheap to clone.
///
/// [`Validator::remote`] (the default) asks UAP on every call
/// (`GET /api/v1/auth/validate`); with the `local` feature,
/// `Validator::local` checks tokens in-process against the JWKS and the
/// revocation feed and falls back to the remote check whenever the feed is
/// not live (see the crate README for the trade-off).
#[derive(Clone, Debug)]
pub struct Validator {
    client: UapClient,
    #[cfg(feature = "local")]
    local: Option<std::sync::Arc<crate::local::Local>>,
}

impl Validator {
    /// Validates every token with `GET /api/v1/auth/validate`.
    #[must_use]
    pub fn remote(client: UapClient) -> Self {
        Self {
            client,
            #[cfg(feature = "local")]
            local: None,
        }
    }

    #[cfg(feature = "local")]
    pub(crate) fn with_local(client: UapClient, local: std::sync::Arc<crate::local::Local>) -> Self {
        Self { client, local: Some(local) }
    }

    #[cfg(feature = "local")]
    pub(crate) fn local_part(&self) -> Option<&std::sync::Arc<crate::local::Local>> {
        self.local.as_ref()
    }

    /// The client it validates with.
    #[must_use]
    pub fn client(&self) -> &UapClient {
        &self.client
    }

    /// The user behind `token`.
    ///
    /// # Errors
    /// [`crate::Error::Unauthorized`] when the token is not (or no longer)
    /// valid; an error for which [`crate::Error::is_unavailable`] holds when
    /// UAP could not say — never "valid because UAP is down".
    pub async fn validate(&self, token: &str) -> Result<AuthenticatedUser> {
        #[cfg(feature = "local")]
        if let Some(local) = &self.local {
            return local.validate(&self.client, token).await;
        }
        self.client.validate(token).await
    }
}
