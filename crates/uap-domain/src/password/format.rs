//! [`HashFormat`]: which family a stored string belongs to and its cost
//! parameters, found from the string alone, plus the census label and the
//! dispatch to the family's verifier.

use super::{
    argon2, bcrypt, django, drupal, ldap, md5_crypt, pbkdf2, phpass, plain, scrypt, sha_crypt, werkzeug, wordpress,
    yescrypt,
};

/// Longest stored value considered (real hashes are under 200 characters).
const MAX_STORED_LEN: usize = 1024;

/// A recognised family and its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Bcrypt(bcrypt::Info),
    Argon2(argon2::Info),
    Pbkdf2(pbkdf2::Info),
    Scrypt(scrypt::Info),
    Md5Crypt,
    ShaCrypt(sha_crypt::Info),
    Yescrypt,
    Django(django::Info),
    Werkzeug(werkzeug::Info),
    Phpass(phpass::Info),
    Wordpress(bcrypt::Info),
    Drupal7(drupal::Info),
    Ldap(ldap::Scheme),
    PlainDigest(plain::Algo),
}

impl Kind {
    /// Recognises `stored` (already normalised by the caller). Bare hex
    /// digests count only when `legacy_plain_digests` is on.
    pub(super) fn identify(stored: &str, legacy_plain_digests: bool) -> Option<Self> {
        if stored.len() > MAX_STORED_LEN {
            return None;
        }
        wordpress::identify(stored)
            .map(Self::Wordpress)
            .or_else(|| bcrypt::identify(stored).map(Self::Bcrypt))
            .or_else(|| argon2::identify(stored).map(Self::Argon2))
            .or_else(|| pbkdf2::identify(stored).map(Self::Pbkdf2))
            .or_else(|| scrypt::identify(stored).map(Self::Scrypt))
            .or_else(|| md5_crypt::identify(stored).map(|()| Self::Md5Crypt))
            .or_else(|| sha_crypt::identify(stored).map(Self::ShaCrypt))
            .or_else(|| yescrypt::identify(stored).map(|()| Self::Yescrypt))
            .or_else(|| phpass::identify(stored).map(Self::Phpass))
            .or_else(|| drupal::identify(stored).map(Self::Drupal7))
            .or_else(|| ldap::identify(stored).map(Self::Ldap))
            .or_else(|| django::identify(stored).map(Self::Django))
            .or_else(|| werkzeug::identify(stored).map(Self::Werkzeug))
            .or_else(|| legacy_plain_digests.then(|| plain::identify(stored).map(Self::PlainDigest)).flatten())
    }

    /// Runs the family's verifier; `None` when it finds the string malformed.
    pub(super) fn verify(&self, stored: &str, password: &[u8]) -> Option<bool> {
        match self {
            Self::Bcrypt(_) => bcrypt::verify(stored, password),
            Self::Argon2(_) => argon2::verify(stored, password),
            Self::Pbkdf2(_) => pbkdf2::verify(stored, password),
            Self::Scrypt(_) => scrypt::verify(stored, password),
            Self::Md5Crypt => md5_crypt::verify(stored, password),
            Self::ShaCrypt(_) => sha_crypt::verify(stored, password),
            Self::Yescrypt => yescrypt::verify(stored, password),
            Self::Django(_) => django::verify(stored, password),
            Self::Werkzeug(_) => werkzeug::verify(stored, password),
            Self::Phpass(_) => phpass::verify(stored, password),
            Self::Wordpress(_) => wordpress::verify(stored, password),
            Self::Drupal7(_) => drupal::verify(stored, password),
            Self::Ldap(_) => ldap::verify(stored, password),
            Self::PlainDigest(_) => plain::verify(stored, password),
        }
    }
}

/// A stored password hash's format, as detected from the string itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashFormat {
    pub(super) kind: Kind,
}

impl HashFormat {
    /// The census label `uap check` groups by, with the cost parameters:
    /// "bcrypt cost 10", "argon2id m=19456 t=2 p=1", "md5_crypt",
    /// "django pbkdf2_sha256 (600000 iterations)", "phpass", …
    #[must_use]
    pub fn label(&self) -> String {
        match &self.kind {
            Kind::Bcrypt(info) => format!("bcrypt cost {}", info.cost),
            Kind::Argon2(info) => info.label(),
            Kind::Pbkdf2(info) => info.label(),
            Kind::Scrypt(info) => format!("scrypt ln={} r={} p={}", info.log_n, info.r, info.p),
            Kind::Md5Crypt => "md5_crypt".to_owned(),
            Kind::ShaCrypt(info) => info.label(),
            Kind::Yescrypt => "yescrypt".to_owned(),
            Kind::Django(info) => info.label(),
            Kind::Werkzeug(info) => info.label(),
            Kind::Phpass(_) => "phpass".to_owned(),
            Kind::Wordpress(info) => format!("wordpress bcrypt cost {}", info.cost),
            Kind::Drupal7(info) => info.label(),
            Kind::Ldap(scheme) => scheme.label(),
            Kind::PlainDigest(algo) => format!("plain {}", algo.name()),
        }
    }

    /// A short stable family name: "bcrypt", "argon2", "pbkdf2", "scrypt",
    /// "md5_crypt", "sha256_crypt", "sha512_crypt", "yescrypt", "django",
    /// "werkzeug", "phpass", "wordpress", "drupal7", "ldap", "plain_digest".
    #[must_use]
    pub fn family_name(&self) -> &'static str {
        match &self.kind {
            Kind::Bcrypt(_) => "bcrypt",
            Kind::Argon2(_) => "argon2",
            Kind::Pbkdf2(_) => "pbkdf2",
            Kind::Scrypt(_) => "scrypt",
            Kind::Md5Crypt => "md5_crypt",
            Kind::ShaCrypt(info) => info.family_name(),
            Kind::Yescrypt => "yescrypt",
            Kind::Django(_) => "django",
            Kind::Werkzeug(_) => "werkzeug",
            Kind::Phpass(_) => "phpass",
            Kind::Wordpress(_) => "wordpress",
            Kind::Drupal7(_) => "drupal7",
            Kind::Ldap(_) => "ldap",
            Kind::PlainDigest(_) => "plain_digest",
        }
    }
}
