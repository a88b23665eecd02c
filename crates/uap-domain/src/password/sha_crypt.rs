//! SHA-crypt, crypt(3) `$5$` (sha256_crypt) and `$6$` (sha512_crypt) with
//! optional `rounds=N$` (Ulrich Drepper's scheme: glibc, PHP `crypt`,
//! passlib). Verification is the `sha-crypt` crate's (constant-time);
//! this module checks the shape and the limits first. Verified, never
//! written.
//!
//! Limits: rounds within 1000..=[`MAX_ROUNDS`] (glibc clamps out-of-range
//! values when *writing*, so stored strings never carry them). Every round
//! re-hashes the password, so the work also grows with its length: a
//! password for which `rounds × (2·len + 96)` exceeds 2^31 bytes of hashing
//! is answered `Mismatch` without computing (at the default 5000 rounds that
//! takes a password of over 200 KB).

use sha_crypt::{PasswordVerifier as _, ShaCrypt};

use super::cost::WORK_BUDGET_BYTES;
use super::encoding::{is_itoa64, parse_decimal};

/// Most rounds verified (passlib's default for sha512_crypt is 656,000).
pub(super) const MAX_ROUNDS: u32 = 5_000_000;
const MIN_ROUNDS: u32 = 1000;
const DEFAULT_ROUNDS: u32 = 5000;

/// Which SHA-crypt and how many rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Info {
    pub sha512: bool,
    pub rounds: u32,
}

impl Info {
    /// "sha512_crypt (5000 rounds)".
    pub(super) fn label(&self) -> String {
        format!("{} ({} rounds)", self.family_name(), self.rounds)
    }

    /// "sha256_crypt" or "sha512_crypt".
    pub(super) fn family_name(&self) -> &'static str {
        if self.sha512 { "sha512_crypt" } else { "sha256_crypt" }
    }
}

/// Recognises `$5$[rounds=N$]salt$hash` / `$6$…` within the limits.
pub(super) fn identify(s: &str) -> Option<Info> {
    let (sha512, rest) =
        if let Some(rest) = s.strip_prefix("$5$") { (false, rest) } else { (true, s.strip_prefix("$6$")?) };
    let (rounds, rest) = match rest.strip_prefix("rounds=") {
        Some(tail) => {
            let (n, tail) = tail.split_once('$')?;
            (parse_decimal(n)?, tail)
        }
        None => (DEFAULT_ROUNDS, rest),
    };
    let (salt, hash) = rest.split_once('$')?;
    let salt_ok =
        (1..=16).contains(&salt.len()) && salt.bytes().all(|c| c.is_ascii_alphanumeric() || b"./+=,-".contains(&c));
    let hash_len = if sha512 { 86 } else { 43 };
    let ok = salt_ok && hash.len() == hash_len && is_itoa64(hash) && (MIN_ROUNDS..=MAX_ROUNDS).contains(&rounds);
    ok.then_some(Info { sha512, rounds })
}

/// Whether `rounds × (2·len + 96)` stays within the work budget.
pub(super) fn within_budget(rounds: u32, len: usize) -> bool {
    let per_round = 2 * u64::try_from(len).unwrap_or(u64::MAX / 4) + 96;
    u64::from(rounds).saturating_mul(per_round) <= WORK_BUDGET_BYTES
}

/// Verifies; `None` when malformed. Over the work budget: `Some(false)`
/// without hashing.
pub(super) fn verify(s: &str, password: &[u8]) -> Option<bool> {
    let info = identify(s)?;
    if !within_budget(info.rounds, password.len()) {
        return Some(false);
    }
    let hasher = if info.sha512 { ShaCrypt::SHA512 } else { ShaCrypt::SHA256 };
    match hasher.verify_password(password, s) {
        Ok(()) => Some(true),
        Err(sha_crypt::password_hash::Error::PasswordInvalid) => Some(false),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The glibc/Drepper specification's test vectors.
    const SHA256_10000: &str = "$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA";
    const SHA512_DEFAULT: &str =
        "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1";

    #[test]
    fn specification_vectors() {
        assert_eq!(identify(SHA256_10000), Some(Info { sha512: false, rounds: 10_000 }));
        assert_eq!(verify(SHA256_10000, b"Hello world!"), Some(true));
        assert_eq!(identify(SHA512_DEFAULT), Some(Info { sha512: true, rounds: 5000 }));
        assert_eq!(verify(SHA512_DEFAULT, b"Hello world!"), Some(true));
        assert_eq!(verify(SHA512_DEFAULT, b"Hello world?"), Some(false));
    }

    #[test]
    fn limits() {
        assert!(identify(&SHA256_10000.replace("10000", "999999999")).is_none());
        assert!(identify(&SHA256_10000.replace("10000", "999")).is_none());
        assert!(identify(&SHA256_10000.replace("10000", "010000")).is_none());
        assert!(identify(&SHA512_DEFAULT.replace("saltstring", "saltstringsaltstr")).is_none());
        assert!(identify(&SHA512_DEFAULT[..90]).is_none());
        // A 1 MB password against 10000 rounds is refused without hashing.
        assert_eq!(verify(SHA256_10000, &vec![b'a'; 1 << 20]), Some(false));
    }
}
