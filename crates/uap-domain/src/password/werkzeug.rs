//! Werkzeug's `generate_password_hash` formats (Flask and friends),
//! `<method>$<salt>$<lowercase hex>`:
//!
//! - `pbkdf2:<hash>:<iterations>`, `pbkdf2:<hash>` and `pbkdf2` (SHA-256;
//!   missing iterations mean Werkzeug's `DEFAULT_PBKDF2_ITERATIONS`,
//!   1,000,000 since Werkzeug 3.1 — every Werkzeug release writes the count
//!   explicitly, so only hand-made rows omit it);
//! - `scrypt:<n>:<r>:<p>` and `scrypt` (n=32768, r=8, p=1), 64-byte output.
//!
//! The salt is used as its UTF-8 bytes. `check_password_hash` compares the
//! hex strings, so uppercase hex never matches there and does not here.
//! The upgrade target is `scrypt:32768:8:1` ([`encode_scrypt`]).

use super::PasswordError;
use super::encoding::{ct_eq, parse_decimal, random_alnum};
use super::pbkdf2::{self, Prf};
use super::scrypt;

/// Werkzeug 3.1's `DEFAULT_PBKDF2_ITERATIONS`.
const DEFAULT_PBKDF2_ITERATIONS: u32 = 1_000_000;
/// Werkzeug's default (and UAP's target) scrypt parameters.
pub(super) const SCRYPT_TARGET: scrypt::Info = scrypt::Info { log_n: 15, r: 8, p: 1 };

/// A Werkzeug row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Info {
    Pbkdf2 { prf: Prf, iterations: u32 },
    Scrypt(scrypt::Info),
}

impl Info {
    /// "werkzeug pbkdf2:sha256 (600000 iterations)", "werkzeug scrypt n=32768 r=8 p=1".
    pub(super) fn label(&self) -> String {
        match self {
            Self::Pbkdf2 { prf, iterations } => {
                format!("werkzeug pbkdf2:{} ({iterations} iterations)", prf.name())
            }
            Self::Scrypt(info) => {
                format!("werkzeug scrypt n={} r={} p={}", info.n(), info.r, info.p)
            }
        }
    }
}

fn parse(s: &str) -> Option<(Info, &str, &str)> {
    let (method, rest) = s.split_once('$')?;
    let (salt, hex) = rest.split_once('$')?;
    let mut args = method.split(':');
    let info = match args.next()? {
        "pbkdf2" => {
            let prf = match args.next().unwrap_or("sha256") {
                "sha1" => Prf::Sha1,
                "sha256" => Prf::Sha256,
                "sha512" => Prf::Sha512,
                _ => return None,
            };
            let iterations = args.next().map_or(Some(DEFAULT_PBKDF2_ITERATIONS), parse_decimal)?;
            if !(1..=pbkdf2::MAX_ROUNDS).contains(&iterations) {
                return None;
            }
            Info::Pbkdf2 { prf, iterations }
        }
        "scrypt" => match args.next() {
            None => Info::Scrypt(SCRYPT_TARGET),
            Some(n) => Info::Scrypt(scrypt::Info::from_n(
                parse_decimal(n)?,
                parse_decimal(args.next()?)?,
                parse_decimal(args.next()?)?,
            )?),
        },
        _ => return None,
    };
    let hex_len = match info {
        Info::Pbkdf2 { prf, .. } => 2 * prf.output_len(),
        Info::Scrypt(_) => 128,
    };
    let ok = args.next().is_none()
        && !salt.is_empty()
        && hex.len() == hex_len
        && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    ok.then_some((info, salt, hex))
}

/// Recognises a Werkzeug row within the limits.
pub(super) fn identify(s: &str) -> Option<Info> {
    parse(s).map(|(info, _, _)| info)
}

/// Verifies; `None` when malformed.
pub(super) fn verify(s: &str, password: &[u8]) -> Option<bool> {
    let (info, salt, hex) = parse(s)?;
    let mut out = vec![0u8; hex.len() / 2];
    let derived = match info {
        Info::Pbkdf2 { prf, iterations } => pbkdf2::derive(prf, password, salt.as_bytes(), iterations, &mut out),
        Info::Scrypt(params) => scrypt::derive(params, password, salt.as_bytes(), &mut out),
    };
    derived.then_some(())?;
    Some(ct_eq(hex::encode(&out).as_bytes(), hex.as_bytes()))
}

/// `generate_password_hash(password)` with a given salt: `scrypt:32768:8:1$salt$hex`.
pub(super) fn encode_scrypt(password: &[u8], salt: &str) -> Result<String, PasswordError> {
    let mut out = [0u8; 64];
    if !scrypt::derive(SCRYPT_TARGET, password, salt.as_bytes(), &mut out) {
        return Err(PasswordError::Hashing("scrypt".into()));
    }
    Ok(format!("scrypt:32768:8:1${salt}${}", hex::encode(out)))
}

/// Werkzeug scrypt with a fresh 16-character salt (Werkzeug's default length).
pub(super) fn hash_scrypt(password: &[u8]) -> Result<String, PasswordError> {
    encode_scrypt(password, &random_alnum(16)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let pbkdf2 = format!("pbkdf2:sha256:1000$salt${}", "0".repeat(64));
        assert_eq!(identify(&pbkdf2), Some(Info::Pbkdf2 { prf: Prf::Sha256, iterations: 1000 }));
        assert_eq!(verify(&pbkdf2, b"pw"), Some(false));
        let default = format!("pbkdf2$salt${}", "0".repeat(64));
        assert_eq!(identify(&default), Some(Info::Pbkdf2 { prf: Prf::Sha256, iterations: 1_000_000 }));
        for bad in [
            format!("pbkdf2:sha256:1000$salt${}", "0".repeat(63)),
            format!("pbkdf2:sha256:1000$salt${}", "A".repeat(64)),
            format!("pbkdf2:md5:1000$salt${}", "0".repeat(32)),
            format!("pbkdf2:sha256:1000:9$salt${}", "0".repeat(64)),
            format!("pbkdf2:sha256:1000$${}", "0".repeat(64)),
            format!("scrypt:1000:8:1$salt${}", "0".repeat(128)),
            format!("scrypt:2097152:8:1$salt${}", "0".repeat(128)),
            format!("scrypt:16:8$salt${}", "0".repeat(128)),
            format!("sha256$salt${}", "0".repeat(64)),
        ] {
            assert!(identify(&bad).is_none(), "{bad}");
        }
    }
}
