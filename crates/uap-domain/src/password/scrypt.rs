//! scrypt PHC strings `$scrypt$ln=…,r=…,p=…$salt$hash` — the layout passlib
//! and the RustCrypto `scrypt` crate share — and [`derive()`], the primitive
//! behind Werkzeug's and Django's scrypt formats.
//!
//! Limits: N ≤ 2^20, r ≤ 32, p ≤ 16, memory (128·r·N bytes) ≤ 1 GiB and
//! total work (memory × p) ≤ 4 GiB; anything else is refused before any
//! memory is allocated. (The `scrypt` crate multiplies `r * p` in `u32`, so
//! the bounds also keep hostile values away from that overflow.)

use super::PasswordError;
use super::encoding::{Phc, b64_decode, b64_encode, ct_eq, parse_decimal, random_bytes};

/// Largest log2(N).
pub(super) const MAX_LOG_N: u8 = 20;
const MAX_R: u32 = 32;
const MAX_P: u32 = 16;
const MAX_MEMORY: u64 = 1 << 30;
const MAX_WORK: u64 = 1 << 32;

/// Parameters of new PHC scrypt hashes (RustCrypto's and OWASP's: N=2^17, r=8, p=1).
pub(super) const PHC_TARGET: Info = Info { log_n: 17, r: 8, p: 1 };

/// scrypt cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Info {
    pub log_n: u8,
    pub r: u32,
    pub p: u32,
}

impl Info {
    /// From N as Werkzeug and Django write it (must be a power of two > 1).
    pub(super) fn from_n(n: u32, r: u32, p: u32) -> Option<Self> {
        if n < 2 || !n.is_power_of_two() {
            return None;
        }
        let log_n = u8::try_from(n.trailing_zeros()).ok()?;
        let info = Self { log_n, r, p };
        info.within_limits().then_some(info)
    }

    /// N.
    pub(super) fn n(&self) -> u64 {
        1u64.checked_shl(u32::from(self.log_n)).unwrap_or(u64::MAX)
    }

    fn within_limits(&self) -> bool {
        // Range checks first: they keep the products below from overflowing.
        if !(1..=MAX_LOG_N).contains(&self.log_n) || !(1..=MAX_R).contains(&self.r) || !(1..=MAX_P).contains(&self.p) {
            return false;
        }
        let memory = 128 * u64::from(self.r) * self.n();
        memory <= MAX_MEMORY && memory * u64::from(self.p) <= MAX_WORK
    }

    /// Weaker than `target` in any parameter.
    pub(super) fn weaker_than(&self, target: &Info) -> bool {
        self.log_n < target.log_n || self.r < target.r || self.p < target.p
    }
}

/// scrypt into `out`; `false` when the parameters are outside the limits.
#[must_use]
pub(super) fn derive(info: Info, password: &[u8], salt: &[u8], out: &mut [u8]) -> bool {
    if !info.within_limits() || out.is_empty() || out.len() > 128 {
        return false;
    }
    match ::scrypt::Params::new(info.log_n, info.r, info.p) {
        Ok(params) => ::scrypt::scrypt(password, salt, &params, out).is_ok(),
        Err(_) => false,
    }
}

struct Parsed {
    info: Info,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

fn parse(s: &str) -> Option<Parsed> {
    let phc = Phc::parse(s)?;
    if phc.id != "scrypt" || phc.version.is_some() {
        return None;
    }
    let (mut ln, mut r, mut p) = (None, None, None);
    for pair in phc.params() {
        let (name, value) = pair?;
        let slot = match name {
            "ln" => &mut ln,
            "r" => &mut r,
            "p" => &mut p,
            _ => return None,
        };
        if slot.replace(parse_decimal(value)?).is_some() {
            return None;
        }
    }
    let info = Info { log_n: u8::try_from(ln?).ok()?, r: r?, p: p? };
    let hash = b64_decode(phc.hash)?;
    let ok = info.within_limits() && (10..=64).contains(&hash.len());
    ok.then_some(Parsed { info, salt: b64_decode(phc.salt)?, hash })
}

/// Recognises a well-formed `$scrypt$` string within the limits.
pub(super) fn identify(s: &str) -> Option<Info> {
    parse(s).map(|p| p.info)
}

/// Verifies; `None` when malformed.
pub(super) fn verify(s: &str, password: &[u8]) -> Option<bool> {
    let parsed = parse(s)?;
    let mut out = vec![0u8; parsed.hash.len()];
    derive(parsed.info, password, &parsed.salt, &mut out).then_some(())?;
    Some(ct_eq(&out, &parsed.hash))
}

/// PHC scrypt with a given salt and a 32-byte output.
pub(super) fn encode_phc(password: &[u8], salt: &[u8], info: Info) -> Result<String, PasswordError> {
    let mut out = [0u8; 32];
    if !derive(info, password, salt, &mut out) {
        return Err(PasswordError::InvalidParameters("scrypt parameters outside the limits".into()));
    }
    Ok(format!("$scrypt$ln={},r={},p={}${}${}", info.log_n, info.r, info.p, b64_encode(salt), b64_encode(&out)))
}

/// PHC scrypt at [`PHC_TARGET`] with a fresh 16-byte salt.
pub(super) fn hash_phc(password: &[u8]) -> Result<String, PasswordError> {
    encode_phc(password, &random_bytes::<16>()?, PHC_TARGET)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_limits() {
        let fast = Info { log_n: 4, r: 8, p: 1 };
        let h = encode_phc(b"pw", b"0123456789abcdef", fast).unwrap();
        assert!(h.starts_with("$scrypt$ln=4,r=8,p=1$"));
        assert_eq!(verify(&h, b"pw"), Some(true));
        assert_eq!(verify(&h, b"px"), Some(false));
        for bad in [
            "ln=21,r=8,p=1",
            "ln=4,r=0,p=1",
            "ln=4,r=8,p=17",
            "ln=20,r=9,p=1",
            "ln=256,r=8,p=1",
            "ln=4,r=4294967295,p=4294967295",
            "ln=4,r=8",
        ] {
            assert!(identify(&h.replacen("ln=4,r=8,p=1", bad, 1)).is_none(), "{bad}");
        }
        assert_eq!(Info::from_n(32_768, 8, 1), Some(Info { log_n: 15, r: 8, p: 1 }));
        assert_eq!(Info::from_n(1000, 8, 1), None);
        assert_eq!(Info::from_n(1, 8, 1), None);
    }
}
