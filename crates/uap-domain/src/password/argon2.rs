//! Argon2 PHC strings: `$argon2id$v=19$m=…,t=…,p=…$salt$hash` (also
//! `argon2i`, `argon2d`, and version 0x10 strings without `v=`), as written
//! by argon2-cffi, passlib, libsodium, PHP's `password_hash` and the
//! RustCrypto `argon2` crate. Django wraps the same string (see `django.rs`).
//!
//! Limits (a hostile row must not exhaust memory or time): memory at most
//! [`MAX_MEMORY_KIB`] (1 GiB), at most [`MAX_WORK_KIB`] KiB·passes in total
//! (memory × iterations), parallelism at most 64, salt 8–64 bytes, output
//! 4–64 bytes. Parameters outside them are `Unsupported`.

use ::argon2::{Algorithm, Argon2, Params, Version};

use super::encoding::{Phc, b64_decode, b64_encode, ct_eq, parse_decimal, random_bytes};
use super::{Argon2Params, PasswordError};

/// Largest memory cost verified or written (1 GiB).
pub(super) const MAX_MEMORY_KIB: u32 = 1 << 20;
/// Largest memory × iterations (4 GiB·passes; the OWASP profiles use ~40 MiB·passes).
pub(super) const MAX_WORK_KIB: u64 = 1 << 22;
/// Largest parallelism (lanes are computed one after another here).
pub(super) const MAX_PARALLELISM: u32 = 64;

/// Argon2 variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Variant {
    D,
    I,
    Id,
}

impl Variant {
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::D => "argon2d",
            Self::I => "argon2i",
            Self::Id => "argon2id",
        }
    }

    fn algorithm(self) -> Algorithm {
        match self {
            Self::D => Algorithm::Argon2d,
            Self::I => Algorithm::Argon2i,
            Self::Id => Algorithm::Argon2id,
        }
    }
}

/// Parameters of a stored Argon2 hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Info {
    pub variant: Variant,
    /// 0x10 or 0x13.
    pub version: u32,
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Info {
    /// "argon2id m=19456 t=2 p=1" (plus " v=16" for the old version).
    pub(super) fn label(&self) -> String {
        let old = if self.version == 0x10 { " v=16" } else { "" };
        format!("{} m={} t={} p={}{old}", self.variant.name(), self.memory_kib, self.iterations, self.parallelism)
    }

    /// Weaker than the configured target: another variant or version, or
    /// less memory or fewer passes. Parallelism is not compared: it splits
    /// the same memory into lanes and does not change the attacker's cost.
    pub(super) fn weaker_than(&self, target: &Argon2Params) -> bool {
        self.variant != Variant::Id
            || self.version != 0x13
            || self.memory_kib < target.memory_kib
            || self.iterations < target.iterations
    }
}

struct Parsed {
    info: Info,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

fn parse(s: &str) -> Option<Parsed> {
    let phc = Phc::parse(s)?;
    let variant = match phc.id {
        "argon2d" => Variant::D,
        "argon2i" => Variant::I,
        "argon2id" => Variant::Id,
        _ => return None,
    };
    let version = phc.version.unwrap_or(0x10);
    if version != 0x10 && version != 0x13 {
        return None;
    }
    let (mut m, mut t, mut p) = (None, None, None);
    for pair in phc.params() {
        let (name, value) = pair?;
        let slot = match name {
            "m" => &mut m,
            "t" => &mut t,
            "p" => &mut p,
            _ => return None,
        };
        if slot.replace(parse_decimal(value)?).is_some() {
            return None;
        }
    }
    let info = Info { variant, version, memory_kib: m?, iterations: t?, parallelism: p? };
    let salt = b64_decode(phc.salt)?;
    let hash = b64_decode(phc.hash)?;
    let sane = within_limits(info.memory_kib, info.iterations, info.parallelism)
        && (8..=64).contains(&salt.len())
        && (4..=64).contains(&hash.len());
    sane.then_some(Parsed { info, salt, hash })
}

fn within_limits(m: u32, t: u32, p: u32) -> bool {
    m <= MAX_MEMORY_KIB
        && t >= 1
        && u64::from(m) * u64::from(t) <= MAX_WORK_KIB
        && (1..=MAX_PARALLELISM).contains(&p)
        && m >= 8 * p
}

/// Recognises a well-formed Argon2 PHC string within the limits.
pub(super) fn identify(s: &str) -> Option<Info> {
    parse(s).map(|p| p.info)
}

/// Verifies; `None` when the string is malformed or outside the limits.
pub(super) fn verify(s: &str, password: &[u8]) -> Option<bool> {
    let parsed = parse(s)?;
    let info = parsed.info;
    let mut out = vec![0u8; parsed.hash.len()];
    let params = Params::new(info.memory_kib, info.iterations, info.parallelism, Some(out.len())).ok()?;
    let version = if info.version == 0x10 { Version::V0x10 } else { Version::V0x13 };
    Argon2::new(info.variant.algorithm(), version, params).hash_password_into(password, &parsed.salt, &mut out).ok()?;
    Some(ct_eq(&out, &parsed.hash))
}

/// Rejects configured parameters that this module would refuse to verify.
pub(super) fn check_params(params: &Argon2Params) -> Result<(), PasswordError> {
    if within_limits(params.memory_kib, params.iterations, params.parallelism) {
        Ok(())
    } else {
        Err(PasswordError::InvalidParameters(format!(
            "argon2 parameters m={} t={} p={} are outside m<={MAX_MEMORY_KIB}, m*t<={MAX_WORK_KIB}, \
             1<=p<={MAX_PARALLELISM}, m>=8p, t>=1",
            params.memory_kib, params.iterations, params.parallelism
        )))
    }
}

/// argon2id v=19 PHC string with a given salt and a 32-byte output.
pub(super) fn encode(password: &[u8], salt: &[u8], params: &Argon2Params) -> Result<String, PasswordError> {
    check_params(params)?;
    let invalid = |err: ::argon2::Error| PasswordError::InvalidParameters(err.to_string());
    let argon_params =
        Params::new(params.memory_kib, params.iterations, params.parallelism, Some(32)).map_err(invalid)?;
    let mut out = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params)
        .hash_password_into(password, salt, &mut out)
        .map_err(invalid)?;
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.memory_kib,
        params.iterations,
        params.parallelism,
        b64_encode(salt),
        b64_encode(&out)
    ))
}

/// argon2id v=19 PHC string with a fresh 16-byte salt.
pub(super) fn hash(password: &[u8], params: &Argon2Params) -> Result<String, PasswordError> {
    encode(password, &random_bytes::<16>()?, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Argon2Params = Argon2Params { memory_kib: 64, iterations: 1, parallelism: 1 };

    #[test]
    fn round_trip() {
        let h = hash(b"pw", &FAST).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert_eq!(verify(&h, b"pw"), Some(true));
        assert_eq!(verify(&h, b"pW"), Some(false));
        assert_eq!(identify(&h).unwrap().label(), "argon2id m=64 t=1 p=1");
    }

    #[test]
    fn refuses_hostile_parameters() {
        let h = hash(b"pw", &FAST).unwrap();
        for bad in [
            "m=4294967295,t=1,p=1",
            "m=1048576,t=5,p=1",
            "m=64,t=0,p=1",
            "m=64,t=1,p=65",
            "m=64,t=1",
            "m=64,t=1,p=1,p=1",
            "m=64,t=1,p=1,x=2",
            "m=064,t=1,p=1",
        ] {
            let s = h.replacen("m=64,t=1,p=1", bad, 1);
            assert!(identify(&s).is_none(), "{s}");
            assert_eq!(verify(&s, b"pw"), None);
        }
        assert!(identify(&h.replacen("v=19", "v=20", 1)).is_none());
        assert!(identify(&h.replacen("$argon2id$", "$argon2x$", 1)).is_none());
        assert!(check_params(&Argon2Params { memory_kib: 2 << 20, iterations: 1, parallelism: 1 }).is_err());
    }

    #[test]
    fn weaker_compares_memory_and_passes() {
        let target = Argon2Params::default();
        let at = Info { variant: Variant::Id, version: 0x13, memory_kib: 19_456, iterations: 2, parallelism: 1 };
        assert!(!at.weaker_than(&target));
        assert!(!Info { parallelism: 8, memory_kib: 102_400, ..at }.weaker_than(&target));
        assert!(Info { memory_kib: 19_455, ..at }.weaker_than(&target));
        assert!(Info { iterations: 1, memory_kib: 65_536, ..at }.weaker_than(&target));
        assert!(Info { variant: Variant::I, ..at }.weaker_than(&target));
        assert!(Info { version: 0x10, ..at }.weaker_than(&target));
    }
}
