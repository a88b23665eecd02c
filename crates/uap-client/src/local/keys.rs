//! The JWKS cache.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};

use crate::client::UapClient;
use crate::error::{Error, Result};

/// The algorithms checked locally (UAP's asymmetric ones); `none` and HS*
/// are refused.
fn allowed(algorithm: Algorithm) -> bool {
    matches!(algorithm, Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA)
}

fn algorithm_of(key: KeyAlgorithm) -> Option<Algorithm> {
    match key {
        KeyAlgorithm::RS256 => Some(Algorithm::RS256),
        KeyAlgorithm::ES256 => Some(Algorithm::ES256),
        KeyAlgorithm::EdDSA => Some(Algorithm::EdDSA),
        _ => None,
    }
}

/// The answer for a token's header.
pub(crate) enum KeyLookup {
    Found(Arc<DecodingKey>),
    /// An algorithm never accepted locally, or not the key's: invalid.
    Refused,
    /// No such key (yet).
    Unknown,
    /// UAP publishes no keys at all (a symmetric `jwt_algorithm`): only UAP can check.
    NoKeys,
}

#[derive(Default)]
struct KeySet {
    keys: HashMap<String, (Arc<DecodingKey>, Algorithm)>,
    /// A JWKS was fetched at least once.
    loaded: bool,
}

/// The public keys of UAP, by `kid`.
pub(crate) struct Keys {
    set: RwLock<KeySet>,
    /// When the keys were last fetched; the lock also serialises fetches.
    fetched: tokio::sync::Mutex<Option<Instant>>,
    /// Refetch on an unknown `kid` at most this often.
    unknown_kid_interval: Duration,
}

impl Keys {
    pub(crate) fn new(unknown_kid_interval: Duration) -> Self {
        Self { set: RwLock::default(), fetched: tokio::sync::Mutex::new(None), unknown_kid_interval }
    }

    pub(crate) fn lookup(&self, kid: Option<&str>, algorithm: Algorithm) -> KeyLookup {
        let set = self.set.read().unwrap_or_else(PoisonError::into_inner);
        if set.loaded && set.keys.is_empty() {
            return KeyLookup::NoKeys;
        }
        if !allowed(algorithm) {
            return KeyLookup::Refused;
        }
        let Some(kid) = kid else { return KeyLookup::Refused };
        match set.keys.get(kid) {
            Some((key, key_algorithm)) if *key_algorithm == algorithm => KeyLookup::Found(Arc::clone(key)),
            Some(_) => KeyLookup::Refused,
            None => KeyLookup::Unknown,
        }
    }

    /// Refetches for an unknown `kid`: `Ok(true)` when fetched now,
    /// `Ok(false)` when the last fetch is more recent than the interval.
    pub(crate) async fn refetch_for_unknown(&self, client: &UapClient) -> Result<bool> {
        let mut fetched = self.fetched.lock().await;
        if fetched.is_some_and(|at| at.elapsed() < self.unknown_kid_interval) {
            return Ok(false);
        }
        self.fetch(client).await?;
        *fetched = Some(Instant::now());
        Ok(true)
    }

    /// Fetches now (start-up, reconnection, `keys_rotated`).
    pub(crate) async fn refetch(&self, client: &UapClient) -> Result<()> {
        let mut fetched = self.fetched.lock().await;
        self.fetch(client).await?;
        *fetched = Some(Instant::now());
        Ok(())
    }

    async fn fetch(&self, client: &UapClient) -> Result<()> {
        let jwks: JwkSet = serde_json::from_value(client.jwks().await?)
            .map_err(|err| Error::UnexpectedResponse(format!("/.well-known/jwks.json: {err}")))?;
        let mut keys = HashMap::new();
        for jwk in &jwks.keys {
            let (Some(kid), Some(algorithm)) =
                (jwk.common.key_id.clone(), jwk.common.key_algorithm.and_then(algorithm_of))
            else {
                tracing::warn!(kid = ?jwk.common.key_id, "JWKS key without a kid or with an algorithm not checked locally: skipped");
                continue;
            };
            match DecodingKey::from_jwk(jwk) {
                Ok(key) => {
                    keys.insert(kid, (Arc::new(key), algorithm));
                }
                Err(err) => tracing::warn!(%kid, error = %err, "unusable JWKS key: skipped"),
            }
        }
        if keys.is_empty() {
            tracing::warn!(
                "UAP publishes no usable public key (symmetric jwt_algorithm?): local checks fall back to remote validation"
            );
        }
        *self.set.write().unwrap_or_else(PoisonError::into_inner) = KeySet { keys, loaded: true };
        Ok(())
    }
}
