//! WordPress 6.8+ `$wp$2y$…`: `'$wp' . password_hash(base64_encode(
//! hash_hmac('sha384', trim($password), 'wp-sha384', true)), PASSWORD_BCRYPT)`
//! (`wp_hash_password`). The HMAC pre-hash lifts bcrypt's 72-byte limit.
//!
//! As in WordPress, verification (`wp_check_password`) uses the password as
//! submitted while hashing trims it first with PHP's `trim()`.

use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha384;

use super::PasswordError;
use super::bcrypt::{self, Prefix};
use super::encoding::{b64_encode_padded, php_trim, random_bytes};

const PREFIX: &str = "$wp";
const HMAC_KEY: &[u8] = b"wp-sha384";

/// `base64_encode(hash_hmac('sha384', $password, 'wp-sha384', true))`.
fn prehash(password: &[u8]) -> Option<String> {
    let mut mac = Hmac::<Sha384>::new_from_slice(HMAC_KEY).ok()?;
    mac.update(password);
    Some(b64_encode_padded(&mac.finalize().into_bytes()))
}

/// Recognises `$wp` + a well-formed bcrypt string.
pub(super) fn identify(s: &str) -> Option<bcrypt::Info> {
    bcrypt::identify(s.strip_prefix(PREFIX)?)
}

/// Verifies; `None` when malformed.
pub(super) fn verify(s: &str, password: &[u8]) -> Option<bool> {
    let inner = s.strip_prefix(PREFIX)?;
    bcrypt::verify(inner, prehash(password)?.as_bytes())
}

/// `$wp$2y$` with a given bcrypt salt, as `wp_hash_password` would write it.
pub(super) fn encode(password: &str, cost: u32, salt: [u8; 16]) -> Result<String, PasswordError> {
    let pre = prehash(php_trim(password).as_bytes()).ok_or(PasswordError::Hashing("hmac key".into()))?;
    Ok(format!("{PREFIX}{}", bcrypt::encode(pre.as_bytes(), cost, salt, Prefix::TwoY)?))
}

/// `$wp$2y$` at `cost` with a fresh salt.
pub(super) fn hash(password: &str, cost: u32) -> Result<String, PasswordError> {
    encode(password, cost, random_bytes::<16>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_trims_when_hashing_only() {
        let h = hash(" secret ", 4).unwrap();
        assert!(h.starts_with("$wp$2y$04$"));
        assert_eq!(identify(&h).map(|i| i.cost), Some(4));
        assert_eq!(verify(&h, b"secret"), Some(true));
        assert_eq!(verify(&h, b" secret "), Some(false));
        assert!(identify(&h[3..]).is_none());
    }

    #[test]
    fn prehash_is_64_base64_chars() {
        assert_eq!(prehash(b"").map(|p| p.len()), Some(64));
    }
}
