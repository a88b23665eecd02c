//! Shared helpers for the format modules: constant-time comparison, the
//! base64 dialects the formats use, the PHC string parser, random salts and
//! PHP's `trim`.
//!
//! Nothing here panics on input: every decoder returns `None` on anything it
//! does not fully understand, and the callers turn that into
//! [`Verdict::Unsupported`](super::Verdict::Unsupported).

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use subtle::ConstantTimeEq as _;

use super::PasswordError;

/// Compares two byte strings in constant time (for equal lengths; a length
/// difference is not secret and returns early inside `subtle`).
pub(super) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Standard alphabet; writes no padding, accepts it or its absence, and
/// tolerates non-zero trailing bits (Python and the C references do).
const B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Standard alphabet with `=` padding, as Django and LDAP write it.
const B64_PADDED: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Longest base64 field any supported format carries (an LDAP `{SSHA512}`
/// with a long salt is the largest); longer fields are malformed.
const MAX_B64_FIELD: usize = 512;

/// Decodes standard base64, padded or not.
pub(super) fn b64_decode(field: &str) -> Option<Vec<u8>> {
    if field.is_empty() || field.len() > MAX_B64_FIELD {
        return None;
    }
    B64.decode(field).ok()
}

/// Encodes standard base64 without padding (PHC strings).
pub(super) fn b64_encode(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// Encodes standard base64 with padding (Django).
pub(super) fn b64_encode_padded(bytes: &[u8]) -> String {
    B64_PADDED.encode(bytes)
}

/// Decodes passlib's "adapted base64" (`.` instead of `+`, no padding).
pub(super) fn ab64_decode(field: &str) -> Option<Vec<u8>> {
    if field.contains('+') {
        return None;
    }
    b64_decode(&field.replace('.', "+"))
}

/// The crypt(3) / phpass alphabet.
const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Position of `c` in the crypt(3) alphabet.
pub(super) fn itoa64_index(c: u8) -> Option<u32> {
    ITOA64.iter().position(|&x| x == c).and_then(|i| u32::try_from(i).ok())
}

/// Whether every byte of `s` is in the crypt(3) alphabet.
pub(super) fn is_itoa64(s: &str) -> bool {
    s.bytes().all(|c| ITOA64.contains(&c))
}

/// phpass's `encode64` (also Drupal's `_password_base64_encode` and the
/// md5-crypt output encoding): little-endian groups of three bytes, six bits
/// at a time, low bits first; a short last group emits only the characters
/// it needs.
pub(super) fn crypt_b64_encode(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let mut value = 0u32;
        for (shift, &byte) in chunk.iter().enumerate() {
            value |= u32::from(byte) << (8 * shift);
        }
        for i in 0..=chunk.len() {
            let index = (value >> (6 * i)) & 0x3f;
            out.push(char::from(ITOA64[index as usize]));
        }
    }
    out
}

/// A parsed PHC string: `$id[$v=N][$params]$salt$hash`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Phc<'a> {
    pub id: &'a str,
    pub version: Option<u32>,
    pub params: &'a str,
    pub salt: &'a str,
    pub hash: &'a str,
}

impl<'a> Phc<'a> {
    /// Parses a PHC string that has parameters, a salt and a hash (the only
    /// shape a stored password can have).
    pub(super) fn parse(s: &'a str) -> Option<Self> {
        let mut fields = s.strip_prefix('$')?.split('$');
        let id = fields.next()?;
        let mut next = fields.next()?;
        let mut version = None;
        if let Some(v) = next.strip_prefix("v=") {
            version = Some(parse_decimal(v)?);
            next = fields.next()?;
        }
        let params = next;
        let salt = fields.next()?;
        let hash = fields.next()?;
        if fields.next().is_some() || id.is_empty() || salt.is_empty() || hash.is_empty() {
            return None;
        }
        Some(Self { id, version, params, salt, hash })
    }

    /// The `name=value` pairs of the parameter field.
    pub(super) fn params(&self) -> impl Iterator<Item = Option<(&'a str, &'a str)>> {
        self.params.split(',').map(|pair| pair.split_once('='))
    }
}

/// A decimal without sign, leading `+` or leading zeros beyond "0"; at most
/// nine digits so that every accepted value fits a `u32` with room to spare.
pub(super) fn parse_decimal(s: &str) -> Option<u32> {
    let canonical =
        !s.is_empty() && s.len() <= 9 && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if canonical { s.parse().ok() } else { None }
}

/// Fills an array from the operating system's random number generator.
pub(super) fn random_bytes<const N: usize>() -> Result<[u8; N], PasswordError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|_| PasswordError::Random)?;
    Ok(out)
}

/// A random string of ASCII letters and digits, as Django's and Werkzeug's
/// salts are (62 symbols, rejection sampling so every symbol is equally
/// likely).
pub(super) fn random_alnum(len: usize) -> Result<String, PasswordError> {
    const ALNUM: &[u8; 62] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for byte in random_bytes::<32>()? {
            // 248 = 4 * 62: bytes at or above it would bias the low symbols.
            if byte < 248 && out.len() < len {
                out.push(char::from(ALNUM[usize::from(byte % 62)]));
            }
        }
    }
    Ok(out)
}

/// PHP's `trim()` with its default character list (" \t\n\r\0\x0B").
pub(super) fn php_trim(s: &str) -> &str {
    s.trim_matches([' ', '\t', '\n', '\r', '\0', '\x0B'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crypt_b64_matches_phpass_lengths() {
        assert_eq!(crypt_b64_encode(&[0u8; 16]).len(), 22);
        assert_eq!(crypt_b64_encode(&[0u8; 64]).len(), 86);
        assert_eq!(crypt_b64_encode(&[0xff, 0x00, 0x00]), "z1..");
    }

    #[test]
    fn phc_parse_shapes() {
        let p = Phc::parse("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA").unwrap();
        assert_eq!((p.id, p.version, p.params), ("argon2id", Some(19), "m=8,t=1,p=1"));
        assert!(Phc::parse("$argon2id$v=19$m=8$salt").is_none());
        assert!(Phc::parse("$argon2id$v=19$m=8$salt$hash$extra").is_none());
        assert!(Phc::parse("argon2id$v=19$m=8$salt$hash").is_none());
        assert!(Phc::parse("$argon2id$v=x$m=8$salt$hash").is_none());
    }

    #[test]
    fn decimals_are_canonical() {
        assert_eq!(parse_decimal("1000"), Some(1000));
        assert_eq!(parse_decimal("0"), Some(0));
        for bad in ["", "+1", "-1", "01", "1e3", "9999999999", " 1"] {
            assert_eq!(parse_decimal(bad), None, "{bad}");
        }
    }

    #[test]
    fn alnum_salts_have_the_requested_length() {
        let salt = random_alnum(22).unwrap();
        assert_eq!(salt.len(), 22);
        assert!(salt.bytes().all(|b| b.is_ascii_alphanumeric()));
    }

    #[test]
    fn ab64_rejects_plus_and_maps_dot() {
        assert_eq!(ab64_decode("a.a."), b64_decode("a+a+"));
        assert!(ab64_decode("a+a+").is_none());
    }

    #[test]
    fn php_trim_trims_php_whitespace() {
        assert_eq!(php_trim("\0\x0B pw \t\r\n"), "pw");
    }
}
