//! Local mode (feature `local`, opt-in): tokens are checked in-process
//! against `/.well-known/jwks.json`, and revocations are learnt from the
//! feed `GET /api/v1/auth/events` (server-sent events).
//!
//! The rules (the wire format and the local-mode contract shared by every UAP SDK):
//! - keys are fetched once, cached, refetched on an unknown `kid` (at most
//!   once per 30 s) and on `keys_rotated`; only RS256, ES256 and EdDSA, and
//!   the token's `alg` must be its key's;
//! - a token is checked locally only while the feed is live (`ready` seen,
//!   then a byte at least every 2 × heartbeat + 5 s); otherwise UAP
//!   validates it (fail closed) while the feed reconnects with backoff and
//!   `Last-Event-ID`;
//! - locally: signature, `exp`, `iss`/`aud` when configured, the revocation
//!   events, then the session cache: the first sight of a (session, exp) is
//!   validated by UAP once (the token carries no `user_data`), later checks
//!   are in-process until `exp` or an event about that session or user.

mod feed;
mod keys;
pub mod sse;
mod state;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm::{ES256, EdDSA, RS256};
use secrecy::SecretString;

use self::keys::{KeyLookup, Keys};
use self::state::{Claims, State, Verdict};
use crate::client::{UapClient, check_token};
use crate::error::{Error, Result};
use crate::models::AuthenticatedUser;
use crate::validator::Validator;

/// How local mode is set up. Only the SDK key is required.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    sdk_api_key: SecretString,
    issuer: Option<String>,
    audience: Option<String>,
    retention: Duration,
    cache_capacity: usize,
    max_backoff: Duration,
    key_refetch_interval: Duration,
}

impl LocalConfig {
    /// Local checks with UAP's `sdk_api_key` (sent as `X-API-Key` to the feed).
    pub fn new(sdk_api_key: impl Into<SecretString>) -> Self {
        Self {
            sdk_api_key: sdk_api_key.into(),
            issuer: None,
            audience: None,
            retention: Duration::from_secs(24 * 3600),
            cache_capacity: 10_000,
            max_backoff: Duration::from_secs(30),
            key_refetch_interval: Duration::from_secs(30),
        }
    }

    /// Require this `iss` (UAP's `jwt_issuer`, by default its `service_name`).
    #[must_use]
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Require this `aud` (UAP's `jwt_audience`).
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// How long ended sessions and user cut-offs are remembered [24 h]; keep
    /// it at least UAP's `max_session_duration`.
    #[must_use]
    pub fn retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// At most this many cached validations [10 000]; the oldest is evicted.
    #[must_use]
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// A token with an unknown `kid` refetches the JWKS at most this often
    /// [30 s]; in between, such tokens are validated by UAP.
    #[must_use]
    pub fn key_refetch_interval(mut self, interval: Duration) -> Self {
        self.key_refetch_interval = interval;
        self
    }

    /// The longest wait between two reconnection attempts [30 s].
    #[must_use]
    pub fn max_backoff(mut self, max_backoff: Duration) -> Self {
        self.max_backoff = max_backoff;
        self
    }
}

/// What the validators and the feed task share.
pub(crate) struct Shared {
    state: Mutex<State>,
    keys: Keys,
    /// The claim checks, one per algorithm checked locally (built once).
    validations: [(jsonwebtoken::Algorithm, jsonwebtoken::Validation); 3],
}

/// The claim checks for `algorithm`: `exp` (no leeway), `iss`/`aud` when configured.
fn validation(algorithm: jsonwebtoken::Algorithm, config: &LocalConfig) -> jsonwebtoken::Validation {
    let mut validation = jsonwebtoken::Validation::new(algorithm);
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp"]);
    match &config.issuer {
        Some(issuer) => validation.set_issuer(&[issuer]),
        None => validation.iss = None,
    }
    match &config.audience {
        Some(audience) => validation.set_audience(&[audience]),
        None => validation.validate_aud = false,
    }
    validation
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // The state stays consistent across a panic of another holder (every
        // update is a single map operation), so a poisoned lock is used as is.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The local validator behind a [`Validator`]; its feed task stops when the
/// last validator is dropped.
pub(crate) struct Local {
    shared: Arc<Shared>,
    feed: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Local {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Local").finish_non_exhaustive()
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        self.feed.abort();
    }
}

/// Seconds since the Unix epoch, from the system clock (the only read of it).
#[expect(clippy::disallowed_methods, reason = "token expiry is judged against the wall clock, as UAP does")]
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
}

impl Validator {
    /// A validator checking tokens locally (see the module docs) and
    /// remotely with `client` whenever local checks cannot decide. Starts the
    /// feed consumer on the current tokio runtime.
    ///
    /// # Errors
    /// [`Error::Config`] outside a tokio runtime.
    pub fn local(client: UapClient, config: LocalConfig) -> Result<Self> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::Config("Validator::local must be called inside a tokio runtime".into()))?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(config.retention, config.cache_capacity)),
            keys: Keys::new(config.key_refetch_interval),
            validations: [RS256, ES256, EdDSA].map(|algorithm| (algorithm, validation(algorithm, &config))),
        });
        let feed = runtime.spawn(feed::run(client.clone(), Arc::clone(&shared), config));
        Ok(Self::with_local(client, Arc::new(Local { shared, feed })))
    }
}

impl Local {
    /// Whether the feed is live (tokens are being checked locally).
    pub(crate) fn is_live(&self) -> bool {
        self.shared.state().is_live(Instant::now())
    }

    /// Number of cached validations.
    pub(crate) fn cached(&self) -> usize {
        self.shared.state().cached()
    }

    pub(crate) async fn validate(&self, client: &UapClient, token: &str) -> Result<AuthenticatedUser> {
        let token = check_token(token)?;
        if !self.shared.state().is_live(Instant::now()) {
            return client.validate(token).await;
        }
        let claims = match self.verify(client, token).await? {
            Some(claims) => claims,
            None => return client.validate(token).await,
        };
        let verdict = self.shared.state().check(&claims);
        match verdict {
            Verdict::Revoked => Err(Error::Unauthorized("Session ended".into())),
            Verdict::Cached(user) => Ok(user),
            Verdict::AskServer => client.validate(token).await,
            Verdict::Unknown => {
                let user = client.validate(token).await?;
                if self.shared.state().remember(&claims, &user) {
                    Ok(user)
                } else {
                    Err(Error::Unauthorized("Session ended".into()))
                }
            }
        }
    }

    /// The verified claims, `None` when only UAP can tell (a kid we may not
    /// refetch yet), or [`Error::Unauthorized`].
    async fn verify(&self, client: &UapClient, token: &str) -> Result<Option<Claims>> {
        let invalid = || Error::Unauthorized("Invalid or expired token".into());
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid())?;
        let key = match self.shared.keys.lookup(header.kid.as_deref(), header.alg) {
            KeyLookup::Found(key) => key,
            KeyLookup::Refused => return Err(invalid()),
            KeyLookup::NoKeys => return Ok(None),
            KeyLookup::Unknown => match self.shared.keys.refetch_for_unknown(client).await {
                // UAP itself says which keys it signs with: a kid not in a fresh JWKS is invalid.
                Ok(true) => match self.shared.keys.lookup(header.kid.as_deref(), header.alg) {
                    KeyLookup::Found(key) => key,
                    KeyLookup::NoKeys => return Ok(None),
                    KeyLookup::Refused | KeyLookup::Unknown => return Err(invalid()),
                },
                // Refetched within the last 30 s, or the JWKS is unreachable: ask UAP.
                Ok(false) => return Ok(None),
                Err(err) => {
                    tracing::warn!(error = %err, "cannot refetch the JWKS; validating remotely");
                    return Ok(None);
                }
            },
        };
        let Some((_, validation)) = self.shared.validations.iter().find(|(algorithm, _)| *algorithm == header.alg)
        else {
            return Err(invalid());
        };
        let claims = jsonwebtoken::decode::<Claims>(token, &key, validation).map_err(|_| invalid())?.claims;
        if claims.exp <= unix_now() {
            return Err(invalid());
        }
        Ok(Some(claims))
    }
}

impl Validator {
    /// With local checks: whether the feed is live right now (tokens are
    /// checked in-process); `false` for a remote validator.
    #[must_use]
    pub fn is_feed_live(&self) -> bool {
        self.local_part().is_some_and(|local| local.is_live())
    }

    /// With local checks: how many validations are cached; 0 for a remote validator.
    #[must_use]
    pub fn cached_validations(&self) -> usize {
        self.local_part().map_or(0, |local| local.cached())
    }
}
