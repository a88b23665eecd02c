//! Django's `django.contrib.auth.hashers` formats, `<algorithm>$<data>`:
//!
//! - `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>` and `pbkdf2_sha1$…`
//!   (PBKDF2 over the salt's UTF-8 bytes, output as long as the digest);
//! - `argon2$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>`: the literal
//!   `argon2` followed by argon2-cffi's PHC string, whose salt is Django's
//!   salt *string* (22 letters and digits) encoded as bytes;
//! - `bcrypt_sha256$$2b$…`: bcrypt over the lowercase hex SHA-256 of the
//!   password; `bcrypt$$2b$…`: plain bcrypt (truncating at 72 bytes);
//! - `scrypt$<n>$<salt>$<r>$<p>$<base64 64-byte hash>`; `md5$<salt>$<hex>`.
//!
//! The upgrade target is Django's own Argon2 format ([`encode_argon2`]),
//! which `Argon2PasswordHasher.verify` accepts as long as the host has
//! `argon2-cffi` installed and the hasher listed in `PASSWORD_HASHERS`
//! (Django's default list includes it).

use md5::{Digest as _, Md5};
use sha2::Sha256;

use super::encoding::{b64_decode, ct_eq, parse_decimal, random_alnum};
use super::pbkdf2::{self, Prf};
use super::{Argon2Params, PasswordError, argon2, bcrypt, scrypt};

/// A Django row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Info {
    Pbkdf2 { prf: Prf, iterations: u32 },
    Argon2(argon2::Info),
    BcryptSha256(bcrypt::Info),
    Bcrypt(bcrypt::Info),
    Scrypt(scrypt::Info),
    Md5,
}

impl Info {
    /// "django pbkdf2_sha256 (600000 iterations)", "django argon2id m=… t=… p=…", …
    pub(super) fn label(&self) -> String {
        match self {
            Self::Pbkdf2 { prf, iterations } => {
                format!("django pbkdf2_{} ({iterations} iterations)", prf.name())
            }
            Self::Argon2(info) => format!("django {}", info.label()),
            Self::BcryptSha256(info) => format!("django bcrypt_sha256 cost {}", info.cost),
            Self::Bcrypt(info) => format!("django bcrypt cost {}", info.cost),
            Self::Scrypt(info) => format!("django scrypt n={} r={} p={}", info.n(), info.r, info.p),
            Self::Md5 => "django md5".to_owned(),
        }
    }
}

/// The fields a verifier needs beyond [`Info`].
enum Parsed<'a> {
    Pbkdf2 { prf: Prf, iterations: u32, salt: &'a str, hash: Vec<u8> },
    Argon2(String),
    BcryptSha256(&'a str),
    Bcrypt(&'a str),
    Scrypt { info: scrypt::Info, salt: &'a str, hash: Vec<u8> },
    Md5 { salt: &'a str, hex: &'a str },
}

fn parse(s: &str) -> Option<(Info, Parsed<'_>)> {
    let (algorithm, rest) = s.split_once('$')?;
    match algorithm {
        "pbkdf2_sha256" | "pbkdf2_sha1" => {
            let prf = if algorithm == "pbkdf2_sha1" { Prf::Sha1 } else { Prf::Sha256 };
            let mut fields = rest.split('$');
            let (iterations, salt, hash) = (fields.next()?, fields.next()?, fields.next()?);
            let iterations = parse_decimal(iterations)?;
            let hash = b64_decode(hash)?;
            let ok = fields.next().is_none()
                && !salt.is_empty()
                && hash.len() == prf.output_len()
                && (1..=pbkdf2::MAX_ROUNDS).contains(&iterations);
            ok.then_some((Info::Pbkdf2 { prf, iterations }, Parsed::Pbkdf2 { prf, iterations, salt, hash }))
        }
        "argon2" => {
            let phc = format!("${rest}");
            let info = argon2::identify(&phc)?;
            Some((Info::Argon2(info), Parsed::Argon2(phc)))
        }
        "bcrypt_sha256" => Some((Info::BcryptSha256(bcrypt::identify(rest)?), Parsed::BcryptSha256(rest))),
        "bcrypt" => Some((Info::Bcrypt(bcrypt::identify(rest)?), Parsed::Bcrypt(rest))),
        "scrypt" => {
            let mut fields = rest.split('$');
            let (n, salt, r, p, hash) =
                (fields.next()?, fields.next()?, fields.next()?, fields.next()?, fields.next()?);
            let info = scrypt::Info::from_n(parse_decimal(n)?, parse_decimal(r)?, parse_decimal(p)?)?;
            let hash = b64_decode(hash)?;
            let ok = fields.next().is_none() && !salt.is_empty() && hash.len() == 64;
            ok.then_some((Info::Scrypt(info), Parsed::Scrypt { info, salt, hash }))
        }
        "md5" => {
            let (salt, hex) = rest.split_once('$')?;
            let ok = !salt.is_empty() && hex.len() == 32 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            ok.then_some((Info::Md5, Parsed::Md5 { salt, hex }))
        }
        _ => None,
    }
}

/// Recognises a Django row (`None` for anything malformed or over the limits).
pub(super) fn identify(s: &str) -> Option<Info> {
    parse(s).map(|(info, _)| info)
}

/// Verifies; `None` when malformed.
pub(super) fn verify(s: &str, password: &[u8]) -> Option<bool> {
    match parse(s)?.1 {
        Parsed::Pbkdf2 { prf, iterations, salt, hash } => {
            let mut out = vec![0u8; hash.len()];
            pbkdf2::derive(prf, password, salt.as_bytes(), iterations, &mut out).then_some(())?;
            Some(ct_eq(&out, &hash))
        }
        Parsed::Argon2(phc) => argon2::verify(&phc, password),
        Parsed::BcryptSha256(inner) => bcrypt::verify(inner, hex::encode(Sha256::digest(password)).as_bytes()),
        Parsed::Bcrypt(inner) => bcrypt::verify(inner, password),
        Parsed::Scrypt { info, salt, hash } => {
            let mut out = [0u8; 64];
            scrypt::derive(info, password, salt.as_bytes(), &mut out).then_some(())?;
            Some(ct_eq(&out, &hash))
        }
        Parsed::Md5 { salt, hex } => {
            let computed = hex::encode(Md5::new().chain_update(salt).chain_update(password).finalize());
            Some(ct_eq(computed.as_bytes(), hex.as_bytes()))
        }
    }
}

/// `Argon2PasswordHasher.encode(password, salt)` with the given parameters.
pub(super) fn encode_argon2(password: &[u8], salt: &str, params: &Argon2Params) -> Result<String, PasswordError> {
    Ok(format!("argon2{}", argon2::encode(password, salt.as_bytes(), params)?))
}

/// Django Argon2 with a fresh Django-style salt (22 letters and digits).
pub(super) fn hash_argon2(password: &[u8], params: &Argon2Params) -> Result<String, PasswordError> {
    encode_argon2(password, &random_alnum(22)?, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Argon2Params = Argon2Params { memory_kib: 64, iterations: 1, parallelism: 1 };

    #[test]
    fn argon2_round_trip() {
        let h = hash_argon2(b"pw", &FAST).unwrap();
        assert!(h.starts_with("argon2$argon2id$v=19$m=64,t=1,p=1$"));
        assert_eq!(verify(&h, b"pw"), Some(true));
        assert_eq!(verify(&h, b"px"), Some(false));
        assert_eq!(identify(&h).unwrap().label(), "django argon2id m=64 t=1 p=1");
    }

    #[test]
    fn malformed() {
        for bad in [
            "pbkdf2_sha256$0100$salt$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "pbkdf2_sha256$100$salt$AAAA",
            "pbkdf2_sha256$100$$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "pbkdf2_sha256$100000000$salt$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "argon2$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ",
            "bcrypt_sha256$$2b$04$short",
            "scrypt$1000$salt$8$1$AAAA",
            "md5$salt$ABCDEF0123456789ABCDEF0123456789",
            "sha1$salt$0123456789abcdef0123456789abcdef01234567",
        ] {
            assert!(identify(bad).is_none(), "{bad}");
        }
    }
}
