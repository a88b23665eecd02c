//! TOTP (RFC 6238): time steps, HOTP codes with dynamic truncation
//! (RFC 4226 §5.3, HMAC-SHA1), constant-time verification within a skew
//! window, and the `otpauth://` URI authenticator apps scan.

use std::fmt;
use std::fmt::Write as _;

use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha1::Sha1;
use subtle::{Choice, ConditionallySelectable as _, ConstantTimeEq as _};

use super::MfaError;

type HmacSha1 = Hmac<Sha1>;

/// Bytes drawn by [`TotpSecret::generate`] (160 bits, RFC 4226 §4's recommendation).
const GENERATED_LEN: usize = 20;
/// Shortest secret accepted (128 bits, RFC 4226 §4's minimum).
const MIN_LEN: usize = 16;
/// Longest secret accepted: HMAC-SHA1's block size, so the key is never
/// pre-hashed and [`Totp::code_at_step`] cannot fail.
const MAX_LEN: usize = 64;
/// RFC 4226 §5.3: a code has at least 6 digits.
const MIN_DIGITS: u32 = 6;
/// The truncated value has 31 bits, so at most 10 decimal digits.
const MAX_DIGITS: u32 = 10;
/// The widest skew [`Totp::verify`] honours, in steps either side of now.
pub const MAX_SKEW: i64 = 10;

/// A shared TOTP secret. `Debug` never shows it.
#[derive(Clone)]
pub struct TotpSecret(Vec<u8>);

impl TotpSecret {
    /// Draws a fresh 20-byte secret from the operating system.
    ///
    /// # Errors
    /// [`MfaError::Random`] when the random source fails.
    pub fn generate() -> Result<Self, MfaError> {
        let mut bytes = vec![0_u8; GENERATED_LEN];
        getrandom::fill(&mut bytes).map_err(|_| MfaError::Random)?;
        Ok(Self(bytes))
    }

    /// Wraps stored secret bytes (e.g. just opened by a `SecretBox`).
    ///
    /// # Errors
    /// [`MfaError::InvalidSecretLength`] unless 16 to 64 bytes long.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, MfaError> {
        if (MIN_LEN..=MAX_LEN).contains(&bytes.len()) {
            Ok(Self(bytes))
        } else {
            Err(MfaError::InvalidSecretLength { len: bytes.len() })
        }
    }

    /// The raw secret, for sealing before it is stored.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// RFC 4648 base32, upper case, without padding: what users type into
    /// an authenticator app.
    #[must_use]
    pub fn to_base32(&self) -> String {
        BASE32_NOPAD.encode(&self.0)
    }

    /// The `otpauth://totp/…` URI for the default parameters (SHA1, 6
    /// digits, 30 s); see [`Totp::otpauth_uri`].
    #[must_use]
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        Totp::default().otpauth_uri(self, issuer, account)
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(\"***\")")
    }
}

/// TOTP parameters. Out-of-range values are brought into range rather than
/// rejected: `step_seconds` 0 counts as 1, `digits` is held to 6..=10 and
/// `skew` to 0..=[`MAX_SKEW`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totp {
    /// Length of a time step in seconds (RFC 6238's X). Default 30.
    pub step_seconds: u64,
    /// Digits per code. Default 6.
    pub digits: u32,
    /// Steps before and after the current one that are also accepted. Default 1.
    pub skew: i64,
}

impl Default for Totp {
    fn default() -> Self {
        Self { step_seconds: 30, digits: 6, skew: 1 }
    }
}

impl Totp {
    fn period(&self) -> i64 {
        i64::try_from(self.step_seconds.max(1)).unwrap_or(i64::MAX)
    }

    fn effective_digits(&self) -> u32 {
        self.digits.clamp(MIN_DIGITS, MAX_DIGITS)
    }

    fn effective_skew(&self) -> i64 {
        self.skew.clamp(0, MAX_SKEW)
    }

    /// The time step containing `unix_seconds` (RFC 6238's T, with T0 = 0).
    #[must_use]
    pub fn step_at(&self, unix_seconds: i64) -> i64 {
        unix_seconds.div_euclid(self.period())
    }

    /// The code for `step`, zero-padded to the configured digits. Steps
    /// before the epoch count as step 0.
    #[must_use]
    pub fn code_at_step(&self, secret: &TotpSecret, step: i64) -> String {
        let counter = u64::try_from(step).unwrap_or(0);
        // HMAC pads a key no longer than its block with zeros, so this is
        // HMAC(secret) exactly; `TotpSecret` guarantees at most 64 bytes.
        let mut key = hmac::digest::Key::<HmacSha1>::default();
        key.iter_mut().zip(secret.as_bytes()).for_each(|(k, s)| *k = *s);
        let mut mac = HmacSha1::new(&key);
        mac.update(&counter.to_be_bytes());
        let digest: [u8; 20] = mac.finalize().into_bytes().into();
        let offset = usize::from(digest[19] & 0x0f);
        let binary = u32::from_be_bytes([digest[offset], digest[offset + 1], digest[offset + 2], digest[offset + 3]])
            & 0x7fff_ffff;
        let digits = self.effective_digits();
        let modulus = 10_u64.pow(digits);
        format!("{:0width$}", u64::from(binary) % modulus, width = digits as usize)
    }

    /// The step a code matches within ±`skew` steps of `unix_seconds`, or
    /// `None`. Rejects anything but exactly `digits` ASCII digits. Every
    /// candidate step is computed and compared in constant time, with no
    /// early exit; if several match, the latest step wins. Steps before the
    /// epoch never match.
    ///
    /// Replay protection is the caller's: store the returned step and refuse
    /// a later code whose step is not greater.
    #[must_use]
    pub fn verify(&self, secret: &TotpSecret, code: &str, unix_seconds: i64) -> Option<i64> {
        let well_formed = code.len() == self.effective_digits() as usize && code.bytes().all(|b| b.is_ascii_digit());
        if !well_formed {
            return None;
        }
        let now = self.step_at(unix_seconds);
        let skew = self.effective_skew();
        let mut found = Choice::from(0);
        let mut matched = 0_i64;
        for step in (-skew..=skew).filter_map(|offset| now.checked_add(offset)).filter(|step| *step >= 0) {
            let equal = self.code_at_step(secret, step).as_bytes().ct_eq(code.as_bytes());
            matched.conditional_assign(&step, equal);
            found |= equal;
        }
        bool::from(found).then_some(matched)
    }

    /// The key URI authenticator apps scan (Google Authenticator's "Key Uri
    /// Format"): `otpauth://totp/<Issuer>:<account>?secret=…&issuer=…
    /// &algorithm=SHA1&digits=…&period=…`. Issuer and account are
    /// percent-encoded (everything but RFC 3986 unreserved characters), so a
    /// colon inside them cannot be mistaken for the separator.
    #[must_use]
    pub fn otpauth_uri(&self, secret: &TotpSecret, issuer: &str, account: &str) -> String {
        let issuer = percent_encode(issuer);
        let account = percent_encode(account);
        let secret = secret.to_base32();
        let digits = self.effective_digits();
        let period = self.period();
        format!(
            "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}\
             &algorithm=SHA1&digits={digits}&period={period}"
        )
    }
}

/// Percent-encodes every byte outside RFC 3986's unreserved set.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}
