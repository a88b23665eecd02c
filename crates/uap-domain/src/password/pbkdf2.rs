//! PBKDF2-HMAC in the two `$pbkdf2…$` layouts:
//!
//! - passlib: `$pbkdf2-sha256$<rounds>$<salt>$<checksum>` (also `-sha512`,
//!   and `$pbkdf2$` for SHA-1), salt and checksum in passlib's "adapted
//!   base64" (`.` for `+`, no padding), checksum as long as the digest;
//! - PHC (RustCrypto `pbkdf2`): `$pbkdf2-sha256$i=<rounds>,l=<len>$<salt>$<hash>`
//!   in standard unpadded base64.
//!
//! [`derive()`] is also the primitive for Django's and Werkzeug's PBKDF2
//! formats. Iteration counts above [`MAX_ROUNDS`] are refused.

use hmac::EagerHash;

use super::PasswordError;
use super::encoding::{Phc, ab64_decode, b64_decode, b64_encode, ct_eq, parse_decimal, random_bytes};

/// Most iterations verified (10x Django 5.2's default of 1,000,000).
pub(super) const MAX_ROUNDS: u32 = 10_000_000;
/// Iterations of new PHC PBKDF2-SHA256 hashes (OWASP 2023, RustCrypto's default).
pub(super) const PHC_ROUNDS: u32 = 600_000;

/// The HMAC hash function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Prf {
    Sha1,
    Sha256,
    Sha512,
}

impl Prf {
    /// hashlib's name ("sha256"), as Werkzeug and Django spell it.
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    /// The digest length, which is every layout's default output length.
    pub(super) fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }
}

/// PBKDF2-HMAC into `out`; `false` when `rounds` is 0 or above [`MAX_ROUNDS`].
#[must_use]
pub(super) fn derive(prf: Prf, password: &[u8], salt: &[u8], rounds: u32, out: &mut [u8]) -> bool {
    fn run<D: EagerHash>(password: &[u8], salt: &[u8], rounds: u32, out: &mut [u8]) {
        ::pbkdf2::pbkdf2_hmac::<D>(password, salt, rounds, out);
    }
    if rounds == 0 || rounds > MAX_ROUNDS || out.is_empty() {
        return false;
    }
    match prf {
        Prf::Sha1 => run::<sha1::Sha1>(password, salt, rounds, out),
        Prf::Sha256 => run::<sha2::Sha256>(password, salt, rounds, out),
        Prf::Sha512 => run::<sha2::Sha512>(password, salt, rounds, out),
    }
    true
}

/// Which of the two `$pbkdf2…$` layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Layout {
    Passlib,
    Phc,
}

/// Parameters of a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Info {
    pub layout: Layout,
    pub prf: Prf,
    pub rounds: u32,
}

impl Info {
    /// "pbkdf2-sha256 (600000 iterations)", "passlib pbkdf2-sha512 (25000 iterations)".
    pub(super) fn label(&self) -> String {
        let origin = match self.layout {
            Layout::Passlib => "passlib ",
            Layout::Phc => "",
        };
        format!("{origin}pbkdf2-{} ({} iterations)", self.prf.name(), self.rounds)
    }
}

struct Parsed {
    info: Info,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

fn parse(s: &str) -> Option<Parsed> {
    let phc = Phc::parse(s)?;
    let prf = match phc.id {
        "pbkdf2" => Prf::Sha1,
        "pbkdf2-sha256" => Prf::Sha256,
        "pbkdf2-sha512" => Prf::Sha512,
        _ => return None,
    };
    if phc.version.is_some() {
        return None;
    }
    let parsed = if phc.params.contains('=') {
        // RustCrypto names no SHA-1 PHC identifier.
        if prf == Prf::Sha1 {
            return None;
        }
        let (mut rounds, mut len) = (None, None);
        for pair in phc.params() {
            let (name, value) = pair?;
            let slot = match name {
                "i" => &mut rounds,
                "l" => &mut len,
                _ => return None,
            };
            if slot.replace(parse_decimal(value)?).is_some() {
                return None;
            }
        }
        let hash = b64_decode(phc.hash)?;
        let len = len.map_or(32, |l| usize::try_from(l).unwrap_or(usize::MAX));
        if hash.len() != len || !(10..=64).contains(&len) {
            return None;
        }
        Parsed { info: Info { layout: Layout::Phc, prf, rounds: rounds? }, salt: b64_decode(phc.salt)?, hash }
    } else {
        let hash = ab64_decode(phc.hash)?;
        if hash.len() != prf.output_len() {
            return None;
        }
        let rounds = parse_decimal(phc.params)?;
        Parsed { info: Info { layout: Layout::Passlib, prf, rounds }, salt: ab64_decode(phc.salt)?, hash }
    };
    (1..=MAX_ROUNDS).contains(&parsed.info.rounds).then_some(parsed)
}

/// Recognises a well-formed `$pbkdf2…$` string within the limits.
pub(super) fn identify(s: &str) -> Option<Info> {
    parse(s).map(|p| p.info)
}

/// Verifies; `None` when malformed.
pub(super) fn verify(s: &str, password: &[u8]) -> Option<bool> {
    let parsed = parse(s)?;
    let mut out = vec![0u8; parsed.hash.len()];
    derive(parsed.info.prf, password, &parsed.salt, parsed.info.rounds, &mut out).then_some(())?;
    Some(ct_eq(&out, &parsed.hash))
}

/// PHC PBKDF2-SHA256 (`i=`, `l=32`) with a given salt.
pub(super) fn encode_phc(password: &[u8], salt: &[u8], rounds: u32) -> Result<String, PasswordError> {
    let mut out = [0u8; 32];
    if !derive(Prf::Sha256, password, salt, rounds, &mut out) {
        return Err(PasswordError::InvalidParameters(format!("pbkdf2 rounds must be 1..={MAX_ROUNDS}")));
    }
    Ok(format!("$pbkdf2-sha256$i={rounds},l=32${}${}", b64_encode(salt), b64_encode(&out)))
}

/// PHC PBKDF2-SHA256 at [`PHC_ROUNDS`] with a fresh 16-byte salt.
pub(super) fn hash_phc(password: &[u8]) -> Result<String, PasswordError> {
    encode_phc(password, &random_bytes::<16>()?, PHC_ROUNDS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustcrypto_phc_example() {
        // The example in RustCrypto pbkdf2 0.13's src/phc.rs tests.
        let s = "$pbkdf2-sha256$i=4096,l=40$c2FsdFNBTFRzYWx0U0FMVHNhbHRTQUxUc2FsdFNBTFRzYWx0\
                 $NIyJ28vTKy8y2BS4EW6EzysXNH68GAAYHE4qH7jdU+HGNVGMfaxH6Q";
        assert_eq!(identify(s), Some(Info { layout: Layout::Phc, prf: Prf::Sha256, rounds: 4096 }));
        assert_eq!(verify(s, b"passwordPASSWORDpassword"), Some(true));
        assert_eq!(verify(s, b"password"), Some(false));
    }

    #[test]
    fn phc_round_trip_and_limits() {
        let h = encode_phc(b"pw", b"saltsaltsalt", 1000).unwrap();
        assert_eq!(verify(&h, b"pw"), Some(true));
        assert!(identify(&h.replacen("i=1000", "i=10000001", 1)).is_none());
        assert!(identify(&h.replacen("i=1000", "i=0", 1)).is_none());
        assert!(identify(&h.replacen("l=32", "l=31", 1)).is_none());
        assert!(identify(&h.replacen("$pbkdf2-sha256$", "$pbkdf2-md5$", 1)).is_none());
        assert!(identify(&h.replacen("$pbkdf2-sha256$", "$pbkdf2$", 1)).is_none());
        assert_eq!(identify(&h).unwrap().label(), "pbkdf2-sha256 (1000 iterations)");
    }
}
