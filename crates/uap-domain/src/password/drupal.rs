//! Drupal 7 (`includes/password.inc`): `$S$` + phpass-style setting +
//! iterated SHA-512, encoded and truncated to 55 characters; and `U$…`, a
//! Drupal 6 MD5 (`md5(password)` as lowercase hex) rehashed by
//! `user_update_7000()` (`U$S$`, or `U$P$`/`U$H$` for imported phpass rows).
//! Drupal refuses passwords over 512 bytes; so does this module, and like
//! phpass it caps `2^log2 × (digest + len)` at 2^31 bytes. Verified,
//! never written (Drupal 7 verifies nothing stronger that UAP could write).

use md5::Md5;
use sha2::{Digest as _, Sha512};

use super::cost::within_budget;
use super::encoding::{crypt_b64_encode, ct_eq, is_itoa64};
use super::phpass::{parse_setting, stretch};

/// Drupal's `DRUPAL_HASH_LENGTH`.
const HASH_LENGTH: usize = 55;
/// Drupal's limit on the password length.
pub(super) const MAX_PASSWORD: usize = 512;

/// What kind of Drupal row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Info {
    /// `U$`: a Drupal 6 md5 hex digest rehashed.
    pub drupal6: bool,
    /// `$S$` (SHA-512) rather than an imported `$P$`/`$H$` (MD5).
    pub sha512: bool,
    pub log2: u32,
}

impl Info {
    pub(super) fn label(&self) -> String {
        let inner = if self.sha512 { "drupal7 sha512" } else { "drupal7 phpass" };
        let origin = if self.drupal6 { " (drupal6 md5 rehashed)" } else { "" };
        format!("{inner}{origin}")
    }
}

fn parse(s: &str) -> Option<(Info, &str)> {
    let (drupal6, inner) = match s.strip_prefix('U') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let sha512 = match inner.get(..3)? {
        "$S$" => true,
        // A plain `$P$`/`$H$` row is phpass's; only the `U$` form is Drupal's own.
        "$P$" | "$H$" if drupal6 => false,
        _ => return None,
    };
    let (log2, _) = parse_setting(inner)?;
    let len = if sha512 { HASH_LENGTH } else { 34 };
    let ok = inner.len() == len && is_itoa64(inner.get(12..)?);
    ok.then_some((Info { drupal6, sha512, log2 }, inner))
}

/// Recognises `$S$…`, `U$S$…`, `U$P$…` and `U$H$…` within the limits.
pub(super) fn identify(s: &str) -> Option<Info> {
    parse(s).map(|(info, _)| info)
}

/// Verifies; `None` when malformed.
pub(super) fn verify(s: &str, password: &[u8]) -> Option<bool> {
    let (info, inner) = parse(s)?;
    let md5_hex;
    let password = if info.drupal6 {
        md5_hex = hex::encode(Md5::digest(password));
        md5_hex.as_bytes()
    } else {
        password
    };
    let digest = if info.sha512 { 64 } else { 16 };
    if password.len() > MAX_PASSWORD || !within_budget(1 << info.log2, digest, password.len()) {
        return Some(false);
    }
    let salt = inner.get(4..12)?.as_bytes();
    let digest = if info.sha512 {
        stretch::<Sha512>(salt, password, info.log2)
    } else {
        stretch::<Md5>(salt, password, info.log2)
    };
    let encoded = crypt_b64_encode(&digest);
    let expected = encoded.get(..inner.len() - 12)?;
    Some(ct_eq(expected.as_bytes(), inner.get(12..)?.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers_and_shapes() {
        // Generated with PHP 8.2 from Drupal 7's _password_crypt (tests/vectors).
        let s = "$S$5v2LdtRRvnM6XjQHR3rNKxvhIzvDlLHlSld/myPYaqm6BDI5VqGe";
        assert_eq!(identify(s), Some(Info { drupal6: false, sha512: true, log2: 7 }));
        assert_eq!(verify(s, b"password"), Some(true));
        assert_eq!(verify(s, b"passwore"), Some(false));
        let u = "U$P$658.ZOOwyIiPvRY6mgF8rMz74xkM8K/";
        assert_eq!(verify(u, b"password"), Some(true));
        assert_eq!(identify(u).map(|i| i.label()).as_deref(), Some("drupal7 phpass (drupal6 md5 rehashed)"));
        assert!(identify(&s[..54]).is_none());
        assert!(identify("$P$9IQRaTwmfeRo7ud9Fh4E2PdI0S3r.L0").is_none());
        assert_eq!(verify(s, &[b'a'; 513]), Some(false));
    }
}
