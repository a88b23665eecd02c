//! Compact JWS verification for UAP's own tokens.
//!
//! josekit signs every token and verifies the asymmetric algorithms, but its
//! HMAC goes through OpenSSL 3, which looks the algorithm up in its provider
//! tables on every call: measured under `cargo xtask bench`, that was a fifth
//! of the server's CPU on the validate path. Here the HS* signature is checked
//! with a pre-keyed RustCrypto HMAC (constant-time comparison), the other
//! algorithms with josekit's verifier, and the header is parsed into a small
//! struct: the algorithm pinned, `kid` matched when the key has one, and any
//! `crit` or `b64` extension refused (UAP issues neither).

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit as _};
use josekit::jws::JwsVerifier;
use serde::Deserialize;
use serde::de::IgnoredAny;
use sha2::{Sha256, Sha384, Sha512};

use super::TokenRejection;
use crate::config::JwtAlgorithm;

/// Pre-keyed HMAC state, cloned for each verification.
enum HmacKey {
    Hs256(Hmac<Sha256>),
    Hs384(Hmac<Sha384>),
    Hs512(Hmac<Sha512>),
}

impl HmacKey {
    fn new(algorithm: JwtAlgorithm, secret: &[u8]) -> Option<Self> {
        // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
        match algorithm {
            JwtAlgorithm::HS256 => Hmac::<Sha256>::new_from_slice(secret).ok().map(Self::Hs256),
            JwtAlgorithm::HS384 => Hmac::<Sha384>::new_from_slice(secret).ok().map(Self::Hs384),
            JwtAlgorithm::HS512 => Hmac::<Sha512>::new_from_slice(secret).ok().map(Self::Hs512),
            JwtAlgorithm::RS256 | JwtAlgorithm::ES256 | JwtAlgorithm::EdDSA => None,
        }
    }

    /// Whether `signature` is the MAC of `message` (constant time).
    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        fn check<M: hmac::Mac + Clone>(keyed: &M, message: &[u8], signature: &[u8]) -> bool {
            let mut mac = keyed.clone();
            mac.update(message);
            mac.verify_slice(signature).is_ok()
        }
        match self {
            Self::Hs256(keyed) => check(keyed, message, signature),
            Self::Hs384(keyed) => check(keyed, message, signature),
            Self::Hs512(keyed) => check(keyed, message, signature),
        }
    }
}

#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
    #[serde(default)]
    crit: Option<IgnoredAny>,
    #[serde(default)]
    b64: Option<IgnoredAny>,
}

/// Verifies compact JWS tokens signed with one key.
pub(crate) struct JwsCheck {
    algorithm: JwtAlgorithm,
    hmac: Option<HmacKey>,
    verifier: Box<dyn JwsVerifier>,
    /// The encoded header of the tokens this service signs: a token that
    /// carries exactly these bytes needs no header parsing.
    issued_header: Option<String>,
}

impl JwsCheck {
    /// `secret` is used for the HS* algorithms; `verifier` for the others.
    pub(crate) fn new(algorithm: JwtAlgorithm, secret: &[u8], verifier: Box<dyn JwsVerifier>) -> Self {
        Self { algorithm, hmac: HmacKey::new(algorithm, secret), verifier, issued_header: None }
    }

    /// Records the encoded header of the tokens this service issues (it must
    /// pass [`JwsCheck::verify`]'s header checks; the caller takes it from a
    /// token it signed).
    pub(crate) fn set_issued_header(&mut self, header: &str) {
        self.issued_header = Some(header.to_owned());
    }

    /// The decoded payload of `token` (a JSON object's bytes, not yet
    /// parsed) once its header and signature check out.
    pub(crate) fn verify(&self, token: &str) -> Result<Vec<u8>, TokenRejection> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenRejection::Invalid);
        };
        let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| TokenRejection::Invalid);
        if self.issued_header.as_deref() != Some(header) {
            self.check_header(&decode(header)?)?;
        }
        let signature = decode(signature)?;
        let message = &token.as_bytes()[..header.len() + 1 + payload.len()];
        let valid = match &self.hmac {
            Some(key) => key.verify(message, &signature),
            None => self.verifier.verify(message, &signature).is_ok(),
        };
        if !valid {
            return Err(TokenRejection::Invalid);
        }
        let payload = decode(payload)?;
        // A JWT's claims are a JSON object (RFC 7519 §7.2).
        if payload.first() != Some(&b'{') {
            return Err(TokenRejection::Invalid);
        }
        Ok(payload)
    }

    fn check_header(&self, json: &[u8]) -> Result<(), TokenRejection> {
        // A derived struct would also accept an array, field by position.
        if json.first() != Some(&b'{') {
            return Err(TokenRejection::Invalid);
        }
        let parsed: Header<'_> = serde_json::from_slice(json).map_err(|_| TokenRejection::Invalid)?;
        if parsed.alg != self.algorithm.name() || parsed.crit.is_some() || parsed.b64.is_some() {
            return Err(TokenRejection::Invalid);
        }
        if let (Some(expected), Some(actual)) = (self.verifier.key_id(), parsed.kid.as_deref())
            && expected != actual
        {
            return Err(TokenRejection::Invalid);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use josekit::jws::{self, JwsHeader};

    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn check(algorithm: JwtAlgorithm) -> JwsCheck {
        let verifier: Box<dyn JwsVerifier> = match algorithm {
            JwtAlgorithm::HS384 => Box::new(jws::HS384.verifier_from_bytes(SECRET).unwrap()),
            JwtAlgorithm::HS512 => Box::new(jws::HS512.verifier_from_bytes(SECRET).unwrap()),
            _ => Box::new(jws::HS256.verifier_from_bytes(SECRET).unwrap()),
        };
        JwsCheck::new(algorithm, SECRET, verifier)
    }

    /// A token signed by josekit (an independent HMAC) with `header` as given.
    fn signed(header: &str, payload: &str) -> String {
        let signer = jws::HS256.signer_from_bytes(SECRET).unwrap();
        let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
        let signature = josekit::jws::JwsSigner::sign(&signer, input.as_bytes()).unwrap();
        format!("{input}.{}", b64(&signature))
    }

    #[test]
    fn tokens_signed_by_josekit_verify_for_every_hmac_size() {
        for (algorithm, signer) in [
            (JwtAlgorithm::HS256, Box::new(jws::HS256.signer_from_bytes(SECRET).unwrap()) as Box<dyn jws::JwsSigner>),
            (JwtAlgorithm::HS384, Box::new(jws::HS384.signer_from_bytes(SECRET).unwrap())),
            (JwtAlgorithm::HS512, Box::new(jws::HS512.signer_from_bytes(SECRET).unwrap())),
        ] {
            let payload = br#"{"sub":"1"}"#;
            let token = jws::serialize_compact(payload, &JwsHeader::new(), signer.as_ref()).unwrap();
            assert_eq!(check(algorithm).verify(&token).unwrap(), payload, "{algorithm:?}");
            // Another size's key material over the same bytes is refused.
            let other = if algorithm == JwtAlgorithm::HS256 { JwtAlgorithm::HS512 } else { JwtAlgorithm::HS256 };
            assert_eq!(check(other).verify(&token), Err(TokenRejection::Invalid), "{algorithm:?}");
        }
    }

    #[test]
    fn a_changed_byte_anywhere_is_refused() {
        let token = signed(r#"{"alg":"HS256","typ":"JWT"}"#, r#"{"sub":"1"}"#);
        assert!(check(JwtAlgorithm::HS256).verify(&token).is_ok());
        for i in 0..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).unwrap();
            if tampered != token {
                assert_eq!(check(JwtAlgorithm::HS256).verify(&tampered), Err(TokenRejection::Invalid), "byte {i}");
            }
        }
    }

    #[test]
    fn headers_that_are_not_ours_are_refused() {
        let payload = r#"{"sub":"1"}"#;
        for header in [
            r#"{"alg":"none"}"#,
            r#"{"alg":"HS512"}"#,
            r#"{"alg":"hs256"}"#,
            r#"{"typ":"JWT"}"#,
            r#"{"alg":"HS256","crit":["exp"]}"#,
            r#"{"alg":"HS256","b64":false}"#,
            r#"{"alg":"HS256","alg":"HS256"}"#,
            r#"["HS256"]"#,
            r#" {"alg":"HS256"}"#,
            "not json",
        ] {
            let token = signed(header, payload);
            assert_eq!(check(JwtAlgorithm::HS256).verify(&token), Err(TokenRejection::Invalid), "{header}");
        }
        let array_claims = signed(r#"{"alg":"HS256"}"#, r#"["UAP"]"#);
        assert_eq!(check(JwtAlgorithm::HS256).verify(&array_claims), Err(TokenRejection::Invalid));
    }

    #[test]
    fn malformed_compact_forms_are_refused() {
        let token = signed(r#"{"alg":"HS256"}"#, r#"{"sub":"1"}"#);
        let (input, signature) = token.rsplit_once('.').unwrap();
        for bad in [
            String::new(),
            "..".to_owned(),
            input.to_owned(),
            format!("{token}."),
            format!("{token}.{signature}"),
            format!("{input}.{signature}="),
            format!("{input}."),
            format!("{input}.{}", &signature[..signature.len() - 1]),
            format!("{input}.{signature}{signature}"),
            token.replace('-', "+").replace('_', "/") + "+",
        ] {
            assert_eq!(check(JwtAlgorithm::HS256).verify(&bad), Err(TokenRejection::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn the_issued_header_skips_parsing_but_never_the_signature() {
        let token = signed(r#"{"typ":"JWT","alg":"HS256"}"#, r#"{"sub":"1"}"#);
        let (header, _) = token.split_once('.').unwrap();
        let mut known = check(JwtAlgorithm::HS256);
        known.set_issued_header(header);
        assert!(known.verify(&token).is_ok());
        let forged = format!("{}.{}", token.rsplit_once('.').unwrap().0, b64(&[0; 32]));
        assert_eq!(known.verify(&forged), Err(TokenRejection::Invalid));
        // Other headers are still parsed and checked.
        assert!(known.verify(&signed(r#"{"alg":"HS256"}"#, r#"{"sub":"1"}"#)).is_ok());
        assert_eq!(known.verify(&signed(r#"{"alg":"HS256","crit":[]}"#, "{}")), Err(TokenRejection::Invalid));
    }

    #[test]
    fn a_key_id_must_match_when_both_sides_name_one() {
        let mut verifier = jws::HS256.verifier_from_bytes(SECRET).unwrap();
        verifier.set_key_id("k1");
        let check = JwsCheck::new(JwtAlgorithm::HS256, SECRET, Box::new(verifier));
        let payload = r#"{"sub":"1"}"#;
        assert!(check.verify(&signed(r#"{"alg":"HS256","kid":"k1"}"#, payload)).is_ok());
        assert!(check.verify(&signed(r#"{"alg":"HS256"}"#, payload)).is_ok());
        assert_eq!(check.verify(&signed(r#"{"alg":"HS256","kid":"k2"}"#, payload)), Err(TokenRejection::Invalid));
    }
}
