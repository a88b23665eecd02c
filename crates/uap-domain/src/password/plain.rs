//! Bare unsalted hex digests (`legacy_plain_digests = true` only): MD5 (32
//! hex digits, also what WordPress's `wp_check_password` accepts for old
//! rows), SHA-1 (40) and SHA-256 (64), lowercase or uppercase. Verified,
//! never written; always weak.

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::encoding::ct_eq;

/// Which digest, by hex length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Algo {
    Md5,
    Sha1,
    Sha256,
}

impl Algo {
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Md5 => "md5",
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
        }
    }
}

/// Recognises a bare hex digest of a supported length.
pub(super) fn identify(s: &str) -> Option<Algo> {
    let algo = match s.len() {
        32 => Algo::Md5,
        40 => Algo::Sha1,
        64 => Algo::Sha256,
        _ => return None,
    };
    s.bytes().all(|b| b.is_ascii_hexdigit()).then_some(algo)
}

/// Verifies; `None` when not a bare digest.
pub(super) fn verify(s: &str, password: &[u8]) -> Option<bool> {
    let expected = hex::decode(s).ok()?;
    let computed = match identify(s)? {
        Algo::Md5 => Md5::digest(password).to_vec(),
        Algo::Sha1 => Sha1::digest(password).to_vec(),
        Algo::Sha256 => Sha256::digest(password).to_vec(),
    };
    Some(ct_eq(&computed, &expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_cases() {
        let lower = "5f4dcc3b5aa765d61d8327deb882cf99";
        assert_eq!(verify(lower, b"password"), Some(true));
        assert_eq!(verify(&lower.to_uppercase(), b"password"), Some(true));
        assert_eq!(verify(lower, b"passwore"), Some(false));
        assert!(identify("5f4dcc3b5aa765d61d8327deb882cf9g").is_none());
        assert!(identify("5f4dcc3b5aa765d61d8327deb882cf9").is_none());
    }
}
