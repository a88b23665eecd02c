//! The session token: a JWS (signed by josekit, checked by [`super::jws`])
//! with UAP's claims. Verification pins the configured algorithm and requires
//! `exp`, `iat`, `iss`, `session_id`, `user_id` (and `aud` when configured).

use josekit::jwk::Jwk;
use josekit::jwk::KeyPair;
use josekit::jws::{self, JwsHeader, JwsSigner, JwsVerifier};
use josekit::jwt::{self, JwtPayload};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::TokenRejection;
use super::jws::JwsCheck;
use crate::config::JwtAlgorithm;

/// Why the signing keys could not be built (a configuration mistake).
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct KeyError {
    /// The configuration key at fault.
    pub key: &'static str,
    /// What is wrong.
    pub message: String,
}

/// The verified claims of a session token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub session_id: String,
    pub user_id: String,
    pub device_id: Option<String>,
    pub expires_at: i64,
    pub issued_at: i64,
}

/// Signs and verifies session tokens with the configured key.
pub struct TokenService {
    algorithm: JwtAlgorithm,
    signer: Box<dyn JwsSigner>,
    check: JwsCheck,
    issuer: String,
    audience: Option<String>,
    public_jwk: Option<Jwk>,
    key_material: Vec<u8>,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService")
            .field("algorithm", &self.algorithm)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

fn key_error(key: &'static str) -> impl Fn(josekit::JoseError) -> KeyError {
    move |err| KeyError { key, message: format!("unusable key ({err})") }
}

impl TokenService {
    /// Builds the service from a shared secret (HS*) or a PEM private key.
    ///
    /// # Errors
    /// A [`KeyError`] naming `jwt_secret_key` or `jwt_private_key_file`.
    pub fn new(
        algorithm: JwtAlgorithm,
        secret_or_pem: &[u8],
        issuer: String,
        audience: Option<String>,
    ) -> Result<Self, KeyError> {
        let secret = key_error("jwt_secret_key");
        let pem = key_error("jwt_private_key_file");
        let (signer, verifier, public_jwk): (Box<dyn JwsSigner>, Box<dyn JwsVerifier>, Option<Jwk>) = match algorithm {
            JwtAlgorithm::HS256 => (
                Box::new(jws::HS256.signer_from_bytes(secret_or_pem).map_err(&secret)?),
                Box::new(jws::HS256.verifier_from_bytes(secret_or_pem).map_err(&secret)?),
                None,
            ),
            JwtAlgorithm::HS384 => (
                Box::new(jws::HS384.signer_from_bytes(secret_or_pem).map_err(&secret)?),
                Box::new(jws::HS384.verifier_from_bytes(secret_or_pem).map_err(&secret)?),
                None,
            ),
            JwtAlgorithm::HS512 => (
                Box::new(jws::HS512.signer_from_bytes(secret_or_pem).map_err(&secret)?),
                Box::new(jws::HS512.verifier_from_bytes(secret_or_pem).map_err(&secret)?),
                None,
            ),
            JwtAlgorithm::RS256 => {
                let pair = jws::RS256.key_pair_from_pem(secret_or_pem).map_err(&pem)?;
                let jwk = with_kid(pair.to_jwk_public_key(), algorithm);
                let kid = kid_of(&jwk);
                let mut signer =
                    jws::RS256.signer_from_jwk(&with_kid(pair.to_jwk_key_pair(), algorithm)).map_err(&pem)?;
                signer.set_key_id(kid.clone());
                let mut verifier = jws::RS256.verifier_from_jwk(&jwk).map_err(&pem)?;
                verifier.set_key_id(kid);
                (Box::new(signer), Box::new(verifier), Some(jwk))
            }
            JwtAlgorithm::ES256 => {
                let pair = jws::ES256.key_pair_from_pem(secret_or_pem).map_err(&pem)?;
                let jwk = with_kid(pair.to_jwk_public_key(), algorithm);
                let kid = kid_of(&jwk);
                let mut signer =
                    jws::ES256.signer_from_jwk(&with_kid(pair.to_jwk_key_pair(), algorithm)).map_err(&pem)?;
                signer.set_key_id(kid.clone());
                let mut verifier = jws::ES256.verifier_from_jwk(&jwk).map_err(&pem)?;
                verifier.set_key_id(kid);
                (Box::new(signer), Box::new(verifier), Some(jwk))
            }
            JwtAlgorithm::EdDSA => {
                let pair = jws::EdDSA.key_pair_from_pem(secret_or_pem).map_err(&pem)?;
                let jwk = with_kid(pair.to_jwk_public_key(), algorithm);
                let kid = kid_of(&jwk);
                let mut signer =
                    jws::EdDSA.signer_from_jwk(&with_kid(pair.to_jwk_key_pair(), algorithm)).map_err(&pem)?;
                signer.set_key_id(kid.clone());
                let mut verifier = jws::EdDSA.verifier_from_jwk(&jwk).map_err(&pem)?;
                verifier.set_key_id(kid);
                (Box::new(signer), Box::new(verifier), Some(jwk))
            }
        };
        let mut check = JwsCheck::new(algorithm, secret_or_pem, verifier);
        // The header every token of ours carries, taken from a signed sample
        // and checked like any other before it is trusted as known-good.
        let sample = jwt::encode_with_signer(&JwtPayload::new(), &Self::header(), signer.as_ref())
            .map_err(if public_jwk.is_some() { &pem } else { &secret })?;
        let header = sample.split('.').next().unwrap_or_default();
        if check.verify(&sample).is_ok() {
            check.set_issued_header(header);
        }
        Ok(Self { algorithm, signer, check, issuer, audience, public_jwk, key_material: secret_or_pem.to_vec() })
    }

    /// The public keys for `/.well-known/jwks.json` (empty for HS*).
    #[must_use]
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self.public_jwk.iter().map(|jwk| Value::Object(jwk.as_ref().clone())).collect();
        serde_json::json!({ "keys": keys })
    }

    /// The key id of an asymmetric signing key (`None` for HS*: SDKs do not
    /// verify those tokens themselves).
    #[must_use]
    pub fn key_id(&self) -> Option<String> {
        self.public_jwk.as_ref().and_then(|jwk| jwk.key_id().map(str::to_owned))
    }

    /// Secret bytes from which other keys (refresh-token MACs) are derived.
    pub(crate) fn key_material(&self) -> &[u8] {
        &self.key_material
    }

    /// The JOSE header of every token (josekit adds `alg` and `kid`).
    fn header() -> JwsHeader {
        let mut header = JwsHeader::new();
        header.set_token_type("JWT");
        header
    }

    /// Signs a token for `claims`.
    ///
    /// # Errors
    /// Only if the signing backend fails (it does not for valid keys).
    pub fn sign(&self, claims: &Claims) -> Result<String, josekit::JoseError> {
        let header = Self::header();
        let mut payload = JwtPayload::new();
        payload.set_issuer(&self.issuer);
        payload.set_subject(&claims.user_id);
        if let Some(audience) = &self.audience {
            payload.set_audience(vec![audience.clone()]);
        }
        payload.set_claim("session_id", Some(Value::from(claims.session_id.clone())))?;
        payload.set_claim("user_id", Some(Value::from(claims.user_id.clone())))?;
        payload.set_claim("device_id", Some(claims.device_id.clone().map_or(Value::Null, Value::from)))?;
        payload.set_claim("exp", Some(Value::from(claims.expires_at)))?;
        payload.set_claim("iat", Some(Value::from(claims.issued_at)))?;
        jwt::encode_with_signer(&payload, &header, self.signer.as_ref())
    }

    /// Verifies signature, algorithm, issuer, audience and expiry at `now`.
    ///
    /// # Errors
    /// The [`TokenRejection`] reason.
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Result<Claims, TokenRejection> {
        let claims = self.verify_ignoring_expiry(token)?;
        if claims.expires_at <= now.unix_timestamp() {
            return Err(TokenRejection::Expired);
        }
        Ok(claims)
    }

    /// As [`TokenService::verify`] but accepts an expired token (logout of an
    /// expired session, audit of expiry).
    ///
    /// # Errors
    /// The [`TokenRejection`] reason.
    pub fn verify_ignoring_expiry(&self, token: &str) -> Result<Claims, TokenRejection> {
        if token.len() > 8192 {
            return Err(TokenRejection::Invalid);
        }
        let payload = self.check.verify(token)?;
        let claims: SessionClaims = serde_json::from_slice(&payload).map_err(|_| TokenRejection::Invalid)?;
        if claims.iss.as_deref() != Some(self.issuer.as_str()) {
            return Err(TokenRejection::WrongIssuerOrAudience);
        }
        if let Some(expected) = &self.audience
            && !claims.aud.is_some_and(|aud| aud.contains(expected))
        {
            return Err(TokenRejection::WrongIssuerOrAudience);
        }
        Ok(Claims {
            session_id: claims.session_id.ok_or(TokenRejection::MissingClaim)?,
            user_id: claims.user_id.ok_or(TokenRejection::MissingClaim)?,
            device_id: claims.device_id,
            expires_at: claims.exp.ok_or(TokenRejection::MissingClaim)?,
            issued_at: claims.iat.ok_or(TokenRejection::MissingClaim)?,
        })
    }
}

/// The claims of a session token as they arrive (unknown ones ignored, a
/// repeated one refused).
#[derive(Deserialize)]
struct SessionClaims {
    iss: Option<String>,
    aud: Option<Audience>,
    session_id: Option<String>,
    user_id: Option<String>,
    device_id: Option<String>,
    exp: Option<i64>,
    iat: Option<i64>,
}

/// `aud`: one string or an array of them (RFC 7519 §4.1.3).
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, expected: &str) -> bool {
        match self {
            Self::One(aud) => aud == expected,
            Self::Many(auds) => auds.iter().any(|aud| aud == expected),
        }
    }
}

fn with_kid(mut jwk: Jwk, algorithm: JwtAlgorithm) -> Jwk {
    jwk.set_algorithm(algorithm.name());
    jwk.set_key_use("sig");
    let kid = kid_of(&jwk);
    jwk.set_key_id(kid);
    jwk
}

/// A stable key id: the SHA-256 of the public parameters, hex, shortened.
fn kid_of(jwk: &Jwk) -> String {
    let mut hasher = Sha256::new();
    for name in ["kty", "crv", "n", "e", "x", "y"] {
        if let Some(Value::String(value)) = jwk.parameter(name) {
            hasher.update(name.as_bytes());
            hasher.update(value.as_bytes());
        }
    }
    hex::encode(&hasher.finalize()[..8])
}

#[cfg(test)]
mod tests {
    use josekit::jwk::KeyPair;

    use super::*;

    fn claims() -> Claims {
        Claims {
            session_id: "s1".into(),
            user_id: "u1".into(),
            device_id: None,
            expires_at: 2_000_000_000,
            issued_at: 1_700_000_000,
        }
    }

    fn pem(algorithm: JwtAlgorithm) -> Vec<u8> {
        match algorithm {
            JwtAlgorithm::RS256 => jws::RS256.generate_key_pair(2048).unwrap().to_pem_private_key(),
            JwtAlgorithm::ES256 => jws::ES256.generate_key_pair().unwrap().to_pem_private_key(),
            JwtAlgorithm::EdDSA => {
                jws::EdDSA.generate_key_pair(josekit::jwk::alg::ed::EdCurve::Ed25519).unwrap().to_pem_private_key()
            }
            _ => b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".to_vec(),
        }
    }

    #[test]
    fn every_algorithm_signs_verifies_and_publishes_its_key() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        for algorithm in [
            JwtAlgorithm::HS256,
            JwtAlgorithm::HS384,
            JwtAlgorithm::HS512,
            JwtAlgorithm::RS256,
            JwtAlgorithm::ES256,
            JwtAlgorithm::EdDSA,
        ] {
            let service = TokenService::new(algorithm, &pem(algorithm), "UAP".into(), Some("app".into())).unwrap();
            let token = service.sign(&claims()).unwrap();
            assert_eq!(service.verify(&token, now), Ok(claims()), "{algorithm:?}");
            let keys = service.jwks();
            let keys = keys["keys"].as_array().unwrap();
            if algorithm.is_symmetric() {
                assert!(keys.is_empty(), "no secret is ever published");
            } else {
                assert_eq!(keys.len(), 1, "{algorithm:?}");
                assert_eq!(keys[0]["alg"], algorithm.name());
                assert!(keys[0].get("d").is_none(), "{algorithm:?}: the private part is never published");
                assert!(keys[0]["kid"].is_string());
            }
            // A token of another key or algorithm is refused.
            let other = TokenService::new(algorithm, &pem(algorithm), "UAP".into(), Some("app".into())).unwrap();
            if !algorithm.is_symmetric() {
                assert_eq!(other.verify(&token, now), Err(TokenRejection::Invalid), "{algorithm:?}");
            }
            let hs = TokenService::new(JwtAlgorithm::HS256, &pem(JwtAlgorithm::HS256), "UAP".into(), None).unwrap();
            if algorithm != JwtAlgorithm::HS256 {
                assert_eq!(hs.verify(&token, now), Err(TokenRejection::Invalid), "{algorithm:?} vs HS256");
            }
        }
    }

    #[test]
    fn a_bad_key_names_its_setting() {
        let err = TokenService::new(JwtAlgorithm::ES256, b"not a pem", "UAP".into(), None).err().unwrap();
        assert_eq!(err.key, "jwt_private_key_file");
    }
}
