//! The hash-upgrade decision (CONTRACT §2 `hash_upgrade_format`), made on
//! the format alone:
//!
//! `host` — each family is raised to the strongest scheme its own framework
//! verifies; a row already there is kept:
//!
//! | stored | decision |
//! |---|---|
//! | bcrypt below `bcrypt_cost` | bcrypt, same prefix, at `bcrypt_cost` |
//! | `$wp$` below `bcrypt_cost` | `$wp$2y$` at `bcrypt_cost` |
//! | phpass `$P$`/`$H$` | `$2y$` at `bcrypt_cost` |
//! | Django, other than Argon2 at least as strong as configured | Django `argon2$argon2id$…` |
//! | Werkzeug pbkdf2, scrypt weaker than 32768/8/1 | `scrypt:32768:8:1$…` |
//! | PHC Argon2 weaker than configured, PHC/passlib pbkdf2 and scrypt | PHC `$argon2id$…` |
//! | Drupal 7, crypt(3), yescrypt, LDAP, bare digests | weak, not rewritten |
//!
//! `phc` — anything but the preferred algorithm in its own format, or it
//! below the configured parameters, is rewritten with the preferred scheme.
//!
//! "Weaker" Argon2 means another variant or version, less memory or fewer
//! passes (see `argon2::Info::weaker_than`).

use super::bcrypt::Prefix;
use super::format::{HashFormat, Kind};
use super::pbkdf2::{Layout, Prf};
use super::{
    PasswordError, PasswordPolicy, PreferredAlgorithm, UpgradeFamily, UpgradeFormat, argon2, bcrypt, django, pbkdf2,
    scrypt, werkzeug, wordpress,
};

impl HashFormat {
    /// Whether the policy considers this format weak: below its
    /// `hash_upgrade_format` target (the host table, or the preferred
    /// algorithm and parameters in `phc` mode), including the families that
    /// are weak but never rewritten in `host` mode (Drupal 7, crypt(3),
    /// LDAP, bare digests). `hash_upgrade_skip` does not change weakness,
    /// only whether the row is rewritten.
    #[must_use]
    pub fn is_weak(&self, policy: &PasswordPolicy) -> bool {
        decide(policy, &self.kind) != Decision::Keep
    }
}

/// What to write instead of a weak row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rewrite {
    Bcrypt(Prefix),
    Wordpress,
    DjangoArgon2,
    WerkzeugScrypt,
    PhcArgon2id,
}

/// The decision for one stored format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decision {
    /// At or above the target.
    Keep,
    /// Weak, but nothing UAP could write would still verify in the host.
    WeakOnly,
    /// Weak and rewritable.
    Rewrite(Rewrite),
}

/// Decides per `policy.upgrade_format` (ignoring `hash_upgrade_skip`).
pub(super) fn decide(policy: &PasswordPolicy, kind: &Kind) -> Decision {
    match policy.upgrade_format {
        UpgradeFormat::Host => decide_host(policy, kind),
        // CONTRACT §2: `phc` always writes PHC `$argon2id$`; a row in the
        // preferred scheme (or an argon2id row at the configured parameters)
        // is kept.
        UpgradeFormat::Phc => {
            let adequate_argon2id = matches!(kind, Kind::Argon2(info) if !info.weaker_than(&policy.argon2));
            if at_preferred(policy, kind) || adequate_argon2id {
                Decision::Keep
            } else {
                Decision::Rewrite(Rewrite::PhcArgon2id)
            }
        }
    }
}

fn decide_host(policy: &PasswordPolicy, kind: &Kind) -> Decision {
    let rewrite_if = |weak: bool, to: Rewrite| {
        if weak { Decision::Rewrite(to) } else { Decision::Keep }
    };
    match kind {
        Kind::Bcrypt(info) => rewrite_if(info.cost < policy.bcrypt_cost, Rewrite::Bcrypt(info.prefix)),
        Kind::Wordpress(info) => rewrite_if(info.cost < policy.bcrypt_cost, Rewrite::Wordpress),
        Kind::Phpass(_) => Decision::Rewrite(Rewrite::Bcrypt(Prefix::TwoY)),
        Kind::Django(django::Info::Argon2(info)) => rewrite_if(info.weaker_than(&policy.argon2), Rewrite::DjangoArgon2),
        Kind::Django(_) => Decision::Rewrite(Rewrite::DjangoArgon2),
        Kind::Werkzeug(werkzeug::Info::Scrypt(info)) => {
            rewrite_if(info.weaker_than(&werkzeug::SCRYPT_TARGET), Rewrite::WerkzeugScrypt)
        }
        Kind::Werkzeug(werkzeug::Info::Pbkdf2 { .. }) => Decision::Rewrite(Rewrite::WerkzeugScrypt),
        Kind::Argon2(info) => rewrite_if(info.weaker_than(&policy.argon2), Rewrite::PhcArgon2id),
        Kind::Pbkdf2(_) | Kind::Scrypt(_) => Decision::Rewrite(Rewrite::PhcArgon2id),
        Kind::Md5Crypt
        | Kind::ShaCrypt(_)
        | Kind::Yescrypt
        | Kind::Drupal7(_)
        | Kind::Ldap(_)
        | Kind::PlainDigest(_) => Decision::WeakOnly,
    }
}

/// Whether `kind` is what `hash_with(policy.preferred)` writes, with
/// parameters at least the configured ones.
fn at_preferred(policy: &PasswordPolicy, kind: &Kind) -> bool {
    match (policy.preferred, kind) {
        (PreferredAlgorithm::Argon2id, Kind::Argon2(info)) => !info.weaker_than(&policy.argon2),
        (PreferredAlgorithm::Bcrypt, Kind::Bcrypt(info)) => info.cost >= policy.bcrypt_cost,
        (PreferredAlgorithm::Scrypt, Kind::Scrypt(info)) => !info.weaker_than(&scrypt::PHC_TARGET),
        (PreferredAlgorithm::Pbkdf2Sha256, Kind::Pbkdf2(info)) => {
            info.layout == Layout::Phc && info.prf == Prf::Sha256 && info.rounds >= pbkdf2::PHC_ROUNDS
        }
        _ => false,
    }
}

/// The `hash_upgrade_skip` name that covers `kind`, if any.
pub(super) fn skip_family(kind: &Kind) -> Option<UpgradeFamily> {
    match kind {
        Kind::Bcrypt(_) => Some(UpgradeFamily::Bcrypt),
        Kind::Argon2(_) | Kind::Pbkdf2(_) | Kind::Scrypt(_) => Some(UpgradeFamily::Phc),
        Kind::Django(_) => Some(UpgradeFamily::Django),
        Kind::Werkzeug(_) => Some(UpgradeFamily::Werkzeug),
        Kind::Phpass(_) => Some(UpgradeFamily::Phpass),
        Kind::Wordpress(_) => Some(UpgradeFamily::Wordpress),
        Kind::Md5Crypt
        | Kind::ShaCrypt(_)
        | Kind::Yescrypt
        | Kind::Drupal7(_)
        | Kind::Ldap(_)
        | Kind::PlainDigest(_) => None,
    }
}

/// Whether `hash_upgrade_skip` names the family of `kind`.
pub(super) fn skipped(policy: &PasswordPolicy, kind: &Kind) -> bool {
    skip_family(kind).is_some_and(|family| policy.upgrade_skip.contains(&family))
}

/// Writes the new stored value; `password` is already transformed.
pub(super) fn produce(policy: &PasswordPolicy, rewrite: Rewrite, password: &str) -> Result<String, PasswordError> {
    let bytes = password.as_bytes();
    match rewrite {
        Rewrite::Bcrypt(prefix) => bcrypt::hash(bytes, policy.bcrypt_cost, prefix),
        Rewrite::Wordpress => wordpress::hash(password, policy.bcrypt_cost),
        Rewrite::DjangoArgon2 => django::hash_argon2(bytes, &policy.argon2),
        Rewrite::WerkzeugScrypt => werkzeug::hash_scrypt(bytes),
        Rewrite::PhcArgon2id => argon2::hash(bytes, &policy.argon2),
    }
}

/// A new hash in `algorithm` (argon2id, bcrypt `$2b$`, scrypt or
/// PBKDF2-SHA256 PHC); `password` is already transformed.
pub(super) fn preferred(
    policy: &PasswordPolicy,
    algorithm: PreferredAlgorithm,
    password: &[u8],
) -> Result<String, PasswordError> {
    match algorithm {
        PreferredAlgorithm::Argon2id => argon2::hash(password, &policy.argon2),
        PreferredAlgorithm::Bcrypt => bcrypt::hash(password, policy.bcrypt_cost, Prefix::TwoB),
        PreferredAlgorithm::Scrypt => scrypt::hash_phc(password),
        PreferredAlgorithm::Pbkdf2Sha256 => pbkdf2::hash_phc(password),
    }
}
