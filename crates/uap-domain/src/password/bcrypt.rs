//! bcrypt: `$2a$`, `$2b$` and `$2y$` (PHP/Laravel, Node, Ruby/Devise, Python).
//!
//! **72-byte truncation.** bcrypt keys Blowfish with at most 72 bytes of the
//! password; everything after byte 72 is ignored. PHP's `password_verify`,
//! Laravel, Node's `bcrypt`/`bcryptjs`, Ruby's `bcrypt` (Devise) and
//! Python's `bcrypt` < 5 all truncate silently, so a host's stored hash of a
//! long password was computed over its first 72 bytes and UAP must do the
//! same to accept it. The `bcrypt` crate's truncating functions do exactly
//! this. (Schemes that pre-hash — Django's `bcrypt_sha256$`, WordPress's
//! `$wp$` — avoid the limit and are handled in their own modules.)
//!
//! `$2x$` (the crypt_blowfish sign-extension bug) is not accepted: computing
//! it as `$2b$` would be wrong for non-ASCII passwords, so it fails closed.
//! Passwords containing NUL bytes are hashed with the NUL (C implementations
//! stop there); that can only turn a C-side match into a mismatch.
//!
//! Costs above [`MAX_COST`] are refused: every step doubles the work, and
//! cost 16 already takes seconds, so a hostile row cannot pin a worker.

use std::str::FromStr as _;

use super::PasswordError;
use super::encoding::{ct_eq, random_bytes};

/// Highest cost verified or written (2^16 rounds, several seconds per check).
pub(super) const MAX_COST: u32 = 16;
/// Bytes of the password bcrypt keys on; the rest is ignored.
pub(super) const MAX_PASSWORD: usize = 72;
/// Lowest cost the algorithm defines.
pub(super) const MIN_COST: u32 = 4;

/// The version prefix, kept when a hash is upgraded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Prefix {
    TwoA,
    TwoB,
    TwoY,
}

impl Prefix {
    fn version(self) -> ::bcrypt::Version {
        match self {
            Self::TwoA => ::bcrypt::Version::TwoA,
            Self::TwoB => ::bcrypt::Version::TwoB,
            Self::TwoY => ::bcrypt::Version::TwoY,
        }
    }
}

/// What the census needs to know about a bcrypt hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Info {
    pub prefix: Prefix,
    pub cost: u32,
}

struct Parsed {
    info: Info,
    salt: [u8; 16],
}

fn parse(s: &str) -> Option<Parsed> {
    let prefix = match s.get(..4)? {
        "$2a$" => Prefix::TwoA,
        "$2b$" => Prefix::TwoB,
        "$2y$" => Prefix::TwoY,
        _ => return None,
    };
    let bytes = s.as_bytes();
    if s.len() != 60 || !bytes.get(4..6)?.iter().all(u8::is_ascii_digit) || bytes.get(6) != Some(&b'$') {
        return None;
    }
    let parts = ::bcrypt::HashParts::from_str(s).ok()?;
    let cost = parts.get_cost();
    if !(MIN_COST..=MAX_COST).contains(&cost) {
        return None;
    }
    Some(Parsed { info: Info { prefix, cost }, salt: parts.get_salt_raw() })
}

/// Recognises a well-formed bcrypt string within the cost limits.
pub(super) fn identify(s: &str) -> Option<Info> {
    parse(s).map(|p| p.info)
}

/// Verifies; `None` when the string is not a well-formed bcrypt hash.
pub(super) fn verify(s: &str, password: &[u8]) -> Option<bool> {
    let parsed = parse(s)?;
    let computed = encode(password, parsed.info.cost, parsed.salt, parsed.info.prefix).ok()?;
    Some(ct_eq(computed.as_bytes(), s.as_bytes()))
}

/// bcrypt with a given salt (used directly by the fixed-salt vector tests).
pub(super) fn encode(password: &[u8], cost: u32, salt: [u8; 16], prefix: Prefix) -> Result<String, PasswordError> {
    check_cost(cost)?;
    let parts =
        ::bcrypt::hash_with_salt(password, cost, salt).map_err(|err| PasswordError::Hashing(err.to_string()))?;
    Ok(parts.format_for_version(prefix.version()))
}

/// bcrypt with a fresh random salt.
pub(super) fn hash(password: &[u8], cost: u32, prefix: Prefix) -> Result<String, PasswordError> {
    encode(password, cost, random_bytes::<16>()?, prefix)
}

/// Rejects costs outside `MIN_COST..=MAX_COST`.
pub(super) fn check_cost(cost: u32) -> Result<(), PasswordError> {
    if (MIN_COST..=MAX_COST).contains(&cost) {
        Ok(())
    } else {
        Err(PasswordError::InvalidParameters(format!(
            "bcrypt cost must be between {MIN_COST} and {MAX_COST}, got {cost}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_prefix() {
        let h = hash(b"hunter2", 4, Prefix::TwoY).unwrap();
        assert!(h.starts_with("$2y$04$"));
        assert_eq!(identify(&h), Some(Info { prefix: Prefix::TwoY, cost: 4 }));
        assert_eq!(verify(&h, b"hunter2"), Some(true));
        assert_eq!(verify(&h, b"hunter3"), Some(false));
    }

    #[test]
    fn truncates_at_72_bytes() {
        let long = [b'a'; 80];
        let h = hash(&long, 4, Prefix::TwoB).unwrap();
        assert_eq!(verify(&h, &long[..72]), Some(true));
        assert_eq!(verify(&h, &long[..71]), Some(false));
    }

    #[test]
    fn refuses_malformed_and_costly() {
        let h = hash(b"x", 4, Prefix::TwoB).unwrap();
        assert!(identify(&h.replacen("$04$", "$17$", 1)).is_none());
        assert!(identify(&h.replacen("$04$", "$+4$", 1)).is_none());
        assert!(identify(&h.replacen("$2b$", "$2x$", 1)).is_none());
        assert!(identify(&h[..59]).is_none());
        assert!(identify(&format!("{}é", &h[..58])).is_none());
        assert!(hash(b"x", 17, Prefix::TwoB).is_err());
        assert!(hash(b"x", 3, Prefix::TwoB).is_err());
    }
}
