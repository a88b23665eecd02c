//! RFC 2307 / OpenLDAP `userPassword` schemes: `{SHA}`, `{SSHA}`,
//! `{SSHA256}`, `{SSHA512}`, `{MD5}`, `{SMD5}` (base64 of the digest, the
//! salted ones of `H(password ‖ salt) ‖ salt`) and `{CRYPT}` followed by a
//! crypt(3) string this module family supports (md5/sha256/sha512-crypt,
//! yescrypt, bcrypt). The scheme tag is case-insensitive, as in OpenLDAP.
//! Verified, never written.

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

use super::encoding::{b64_decode, ct_eq};
use super::{bcrypt, md5_crypt, sha_crypt, yescrypt};

/// A crypt(3) string inside `{CRYPT}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Crypt {
    Md5,
    Sha(sha_crypt::Info),
    Yescrypt,
    Bcrypt(bcrypt::Info),
}

/// The scheme of an LDAP value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scheme {
    Sha,
    Ssha,
    Ssha256,
    Ssha512,
    Md5,
    Smd5,
    Crypt(Crypt),
}

impl Scheme {
    /// "ldap {SSHA}", "ldap {CRYPT} sha512_crypt (5000 rounds)".
    pub(super) fn label(&self) -> String {
        let tag = match self {
            Self::Sha => "{SHA}",
            Self::Ssha => "{SSHA}",
            Self::Ssha256 => "{SSHA256}",
            Self::Ssha512 => "{SSHA512}",
            Self::Md5 => "{MD5}",
            Self::Smd5 => "{SMD5}",
            Self::Crypt(inner) => {
                let inner = match inner {
                    Crypt::Md5 => "md5_crypt".to_owned(),
                    Crypt::Sha(info) => info.label(),
                    Crypt::Yescrypt => "yescrypt".to_owned(),
                    Crypt::Bcrypt(info) => format!("bcrypt cost {}", info.cost),
                };
                return format!("ldap {{CRYPT}} {inner}");
            }
        };
        format!("ldap {tag}")
    }

    /// (digest length, salted) for the digest schemes.
    fn digest_shape(self) -> Option<(usize, bool)> {
        match self {
            Self::Sha => Some((20, false)),
            Self::Ssha => Some((20, true)),
            Self::Ssha256 => Some((32, true)),
            Self::Ssha512 => Some((64, true)),
            Self::Md5 => Some((16, false)),
            Self::Smd5 => Some((16, true)),
            Self::Crypt(_) => None,
        }
    }
}

fn split(s: &str) -> Option<(Scheme, &str)> {
    let (tag, value) = s.strip_prefix('{')?.split_once('}')?;
    let scheme = match tag.to_ascii_uppercase().as_str() {
        "SHA" => Scheme::Sha,
        "SSHA" => Scheme::Ssha,
        "SSHA256" => Scheme::Ssha256,
        "SSHA512" => Scheme::Ssha512,
        "MD5" => Scheme::Md5,
        "SMD5" => Scheme::Smd5,
        "CRYPT" => {
            let inner = if let Some(info) = sha_crypt::identify(value) {
                Crypt::Sha(info)
            } else if let Some(info) = bcrypt::identify(value) {
                Crypt::Bcrypt(info)
            } else if md5_crypt::identify(value).is_some() {
                Crypt::Md5
            } else {
                yescrypt::identify(value).map(|()| Crypt::Yescrypt)?
            };
            Scheme::Crypt(inner)
        }
        _ => return None,
    };
    if let Some((len, salted)) = scheme.digest_shape() {
        let decoded = b64_decode(value)?;
        let ok = if salted { decoded.len() > len && decoded.len() <= len + 64 } else { decoded.len() == len };
        if !ok {
            return None;
        }
    }
    Some((scheme, value))
}

/// Recognises an LDAP value.
pub(super) fn identify(s: &str) -> Option<Scheme> {
    split(s).map(|(scheme, _)| scheme)
}

fn digest<D: Digest>(password: &[u8], salt: &[u8]) -> Vec<u8> {
    D::new().chain_update(password).chain_update(salt).finalize().to_vec()
}

/// Verifies; `None` when malformed.
pub(super) fn verify(s: &str, password: &[u8]) -> Option<bool> {
    let (scheme, value) = split(s)?;
    if let Scheme::Crypt(inner) = scheme {
        return match inner {
            Crypt::Md5 => md5_crypt::verify(value, password),
            Crypt::Sha(_) => sha_crypt::verify(value, password),
            Crypt::Yescrypt => yescrypt::verify(value, password),
            Crypt::Bcrypt(_) => bcrypt::verify(value, password),
        };
    }
    let (len, _) = scheme.digest_shape()?;
    let decoded = b64_decode(value)?;
    let (expected, salt) = decoded.split_at_checked(len)?;
    let computed = match scheme {
        Scheme::Sha | Scheme::Ssha => digest::<Sha1>(password, salt),
        Scheme::Ssha256 => digest::<Sha256>(password, salt),
        Scheme::Ssha512 => digest::<Sha512>(password, salt),
        Scheme::Md5 | Scheme::Smd5 => digest::<Md5>(password, salt),
        Scheme::Crypt(_) => return None,
    };
    Some(ct_eq(&computed, expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha_and_case_insensitive_tags() {
        // base64(sha1("password")).
        let s = "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=";
        assert_eq!(identify(s), Some(Scheme::Sha));
        assert_eq!(verify(s, b"password"), Some(true));
        assert_eq!(verify(&s.replace("{SHA}", "{sha}"), b"password"), Some(true));
        assert_eq!(verify(s, b"Password"), Some(false));
    }

    #[test]
    fn malformed() {
        for bad in [
            "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g==",
            "{SSHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
            "{SHA}!!!!",
            "{FOO}abc",
            "{CRYPT}$9$x",
            "{CRYPT}abcdefghijklm",
            "SHA}abc",
        ] {
            assert!(identify(bad).is_none(), "{bad}");
        }
    }
}
