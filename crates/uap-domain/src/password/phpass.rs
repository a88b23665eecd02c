//! phpass portable hashes `$P$` (WordPress before 6.8, Drupal imports) and
//! `$H$` (phpBB 3): `$P$` + one itoa64 character giving log2 of the
//! iteration count + an 8-character salt + 22 characters of iterated MD5.
//! [`stretch`] and [`parse_setting`] are shared with Drupal 7's `$S$`.
//!
//! phpass accepts log2 counts 7..=30; this module stops at [`MAX_LOG2`]
//! (2^24 iterations, a few seconds) so a hostile row cannot pin a worker.
//! WordPress uses 8, phpBB 10, Drupal 7 15. Every iteration re-hashes the
//! password, so the work is also capped per password length (see
//! `cost.rs`): over `2^log2 × (16 + len)` = 2^31 bytes the row is answered
//! `Mismatch` without hashing (at 2^24 iterations: passwords over 112 bytes).

use md5::Md5;
use sha2::Digest;

use super::cost::within_budget;
use super::encoding::{crypt_b64_encode, ct_eq, is_itoa64, itoa64_index};

/// Highest log2 iteration count verified.
pub(super) const MAX_LOG2: u32 = 24;
const MIN_LOG2: u32 = 7;

/// Which phpass identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Info {
    /// `$H$` (phpBB) rather than `$P$`.
    pub phpbb: bool,
    pub log2: u32,
}

/// The 12-character setting of a phpass-style hash: log2 count and salt.
/// The caller has checked the 3-character identifier.
pub(super) fn parse_setting(s: &str) -> Option<(u32, &str)> {
    let log2 = itoa64_index(*s.as_bytes().get(3)?)?;
    let salt = s.get(4..12)?;
    (MIN_LOG2..=MAX_LOG2).contains(&log2).then_some((log2, salt))
}

/// `h = H(salt ‖ password)`, then `2^log2` times `h = H(h ‖ password)`.
pub(super) fn stretch<D: Digest>(salt: &[u8], password: &[u8], log2: u32) -> Vec<u8> {
    let mut h = D::new().chain_update(salt).chain_update(password).finalize();
    for _ in 0..(1u64 << log2.min(MAX_LOG2)) {
        h = D::new().chain_update(&h).chain_update(password).finalize();
    }
    h.to_vec()
}

fn parse(s: &str) -> Option<(Info, &str)> {
    let phpbb = match s.get(..3)? {
        "$P$" => false,
        "$H$" => true,
        _ => return None,
    };
    let (log2, salt) = parse_setting(s)?;
    let ok = s.len() == 34 && is_itoa64(s.get(12..)?);
    ok.then_some((Info { phpbb, log2 }, salt))
}

/// Recognises a well-formed `$P$`/`$H$` string within the limits.
pub(super) fn identify(s: &str) -> Option<Info> {
    parse(s).map(|(info, _)| info)
}

/// Verifies; `None` when malformed. Over the work budget: `Some(false)`
/// without hashing.
pub(super) fn verify(s: &str, password: &[u8]) -> Option<bool> {
    let (info, salt) = parse(s)?;
    if !within_budget(1 << info.log2, 16, password.len()) {
        return Some(false);
    }
    let computed = crypt_b64_encode(&stretch::<Md5>(salt.as_bytes(), password, info.log2));
    Some(ct_eq(computed.as_bytes(), s.get(12..)?.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        // The test vector shipped with phpass 0.3 (test.php).
        let s = "$P$9IQRaTwmfeRo7ud9Fh4E2PdI0S3r.L0";
        assert_eq!(identify(s), Some(Info { phpbb: false, log2: 11 }));
        assert_eq!(verify(s, b"test12345"), Some(true));
        assert_eq!(verify(s, b"test12346"), Some(false));
    }

    #[test]
    fn limits() {
        let s = "$P$9IQRaTwmfeRo7ud9Fh4E2PdI0S3r.L0";
        assert!(identify(&s.replacen("$P$9", "$P$z", 1)).is_none()); // 2^61
        assert!(identify(&s.replacen("$P$9", "$P$N", 1)).is_none()); // 2^25
        assert!(identify(&s.replacen("$P$9", "$P$4", 1)).is_none()); // 2^6
        assert!(identify(&s[..33]).is_none());
        assert!(identify("$P$9IQRaTwmé").is_none());
    }

    #[test]
    fn over_budget_is_refused_without_hashing() {
        // 2^24 iterations and a 1 KiB password: 17 GB of MD5 (36 s) before the budget.
        let max = "$P$9IQRaTwmfeRo7ud9Fh4E2PdI0S3r.L0".replacen("$P$9", "$P$M", 1);
        assert_eq!(identify(&max), Some(Info { phpbb: false, log2: 24 }));
        assert_eq!(verify(&max, &[b'a'; 1024]), Some(false));
    }
}
