//! Refresh tokens: `<session_id>.<mac>` where mac = HMAC-SHA256 of the session
//! id under a key derived from the signing key. Nothing secret is stored: the
//! server can re-derive a successor's refresh token, which is what lets a spent
//! token within the reuse grace return the *same* successor to a parallel tab.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Derives and checks refresh tokens.
#[derive(Clone)]
pub(crate) struct RefreshKeys {
    key: [u8; 32],
}

impl std::fmt::Debug for RefreshKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshKeys(***)")
    }
}

fn mac(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length: `new_from_slice` cannot fail here.
    let Ok(mut hmac) = HmacSha256::new_from_slice(key) else {
        return [0; 32];
    };
    hmac.update(message);
    hmac.finalize().into_bytes().into()
}

impl RefreshKeys {
    /// Keys derived from the token-signing key material.
    pub(crate) fn derive(key_material: &[u8]) -> Self {
        Self { key: mac(key_material, b"uap/refresh-token/v1") }
    }

    /// The refresh token of a session.
    pub(crate) fn token_for(&self, session_id: &str) -> String {
        let tag = mac(&self.key, session_id.as_bytes());
        format!("{session_id}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// The session id a refresh token belongs to, if its MAC is right.
    pub(crate) fn session_of<'a>(&self, token: &'a str) -> Option<&'a str> {
        if token.len() > 200 {
            return None;
        }
        let (session_id, tag) = token.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let expected = mac(&self.key, session_id.as_bytes());
        bool::from(expected.as_slice().ct_eq(&tag)).then_some(session_id)
    }
}

/// Keyed fingerprints of stored password hashes: base64url of the first 16
/// bytes of HMAC-SHA256 under a key derived from the signing key material.
/// A session keeps the fingerprint of its login's hash, never the hash.
#[derive(Clone)]
pub(crate) struct FingerprintKey {
    key: [u8; 32],
}

impl std::fmt::Debug for FingerprintKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FingerprintKey(***)")
    }
}

impl FingerprintKey {
    /// The key derived from the token-signing key material.
    pub(crate) fn derive(key_material: &[u8]) -> Self {
        Self { key: mac(key_material, b"uap/credential-fingerprint/v1") }
    }

    /// The fingerprint of a stored password hash.
    pub(crate) fn of(&self, stored_hash: &str) -> String {
        let tag = mac(&self.key, stored_hash.as_bytes());
        URL_SAFE_NO_PAD.encode(&tag[..16])
    }

    /// Whether `fingerprint` is that of `stored_hash` (constant time).
    pub(crate) fn matches(&self, stored_hash: &str, fingerprint: &str) -> bool {
        bool::from(self.of(stored_hash).as_bytes().ct_eq(fingerprint.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let keys = RefreshKeys::derive(b"secret");
        let token = keys.token_for("abc");
        assert_eq!(keys.session_of(&token), Some("abc"));
        assert_eq!(keys.session_of(&token.replace("abc", "abd")), None);
        assert_eq!(RefreshKeys::derive(b"other").session_of(&token), None);
        assert_eq!(keys.session_of("abc"), None);
        assert_eq!(keys.session_of("abc.!!"), None);
    }

    #[test]
    fn fingerprints_are_keyed_short_and_hide_the_hash() {
        let key = FingerprintKey::derive(b"secret");
        let hash = "$2b$12$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0";
        let fp = key.of(hash);
        assert_eq!(fp.len(), 22, "16 bytes, base64url");
        assert!(key.matches(hash, &fp));
        assert!(!key.matches("$2b$12$other", &fp));
        assert_ne!(FingerprintKey::derive(b"other").of(hash), fp, "keyed");
        assert_ne!(RefreshKeys::derive(b"secret").token_for(hash), fp);
        assert!(!fp.contains("abcdef"));
    }
}
