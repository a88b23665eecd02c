//! [`StoredHash`]: a stored value parsed once — its family and parameters —
//! then verified, costed and assessed for an upgrade without being parsed
//! again. A login parses the row's value once; `uap check` assesses every
//! sampled row with the same [`Assessment`] the engine reports.

use super::format::{HashFormat, Kind};
use super::upgrade::{self, Decision};
use super::{
    MAX_PASSWORD_BYTES, PasswordError, PasswordPolicy, Verdict, Work, bcrypt, check_length, cost, normalise, transform,
};

/// A stored value whose format is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredHash {
    /// The value without `CHAR(n)` padding.
    text: String,
    format: HashFormat,
}

/// How a stored format stands under the policy: the one decision behind the
/// login's `hash_upgrade_recommended`, `write_back` and `uap check`'s census.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weakness {
    /// At or above the `hash_upgrade_format` target.
    Strong,
    /// Weak, and `write_back` rewrites it on the next login.
    Upgradable,
    /// Weak, but its family is in `hash_upgrade_skip`.
    Skipped,
    /// Weak, and nothing stronger verifies in the host (Drupal 7, crypt(3),
    /// LDAP, bare digests in `host` mode): only a password reset upgrades it.
    NeedsReset,
}

impl Weakness {
    /// Whether the row is reported as weak on login (weak and not skipped).
    #[must_use]
    pub const fn reported(self) -> bool {
        matches!(self, Self::Upgradable | Self::NeedsReset)
    }
}

/// A stored format's census label and standing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// [`HashFormat::label`]: "bcrypt cost 10", "md5_crypt", …
    pub label: String,
    pub weakness: Weakness,
}

impl StoredHash {
    /// Recognises `stored`; `None` when the format is unknown or malformed
    /// (bare hex digests count only with `legacy_plain_digests`).
    #[must_use]
    pub fn parse(stored: &str, policy: &PasswordPolicy) -> Option<Self> {
        let text = normalise(stored);
        let kind = Kind::identify(text, policy.legacy_plain_digests)?;
        Some(Self { text: text.to_owned(), format: HashFormat { kind } })
    }

    /// The detected format.
    #[must_use]
    pub fn format(&self) -> HashFormat {
        self.format
    }

    /// Checks `password` (after `policy.transform`) in constant time with
    /// respect to the digest. Passwords over [`MAX_PASSWORD_BYTES`] are a
    /// `Mismatch` without hashing.
    #[must_use]
    pub fn verify(&self, policy: &PasswordPolicy, password: &str) -> Verdict {
        if password.len() > MAX_PASSWORD_BYTES {
            return Verdict::Mismatch;
        }
        let password = transform::apply(policy.transform, password);
        match self.format.kind.verify(&self.text, password.as_bytes()) {
            Some(true) => Verdict::Match,
            Some(false) => Verdict::Mismatch,
            None => Verdict::Unsupported,
        }
    }

    /// What [`StoredHash::verify`] would cost for `password`, estimated from
    /// the parameters and the length (see `cost.rs`).
    #[must_use]
    pub fn work(&self, policy: &PasswordPolicy, password: &str) -> Work {
        if password.len() > MAX_PASSWORD_BYTES {
            return Work::Cost(0);
        }
        cost::work(&self.format.kind, &self.text, transform::apply(policy.transform, password).len())
    }

    /// How this format stands under `policy` (`hash_upgrade = "off"` is the
    /// caller's to check).
    #[must_use]
    pub fn weakness(&self, policy: &PasswordPolicy) -> Weakness {
        let kind = &self.format.kind;
        match upgrade::decide(policy, kind) {
            Decision::Keep => Weakness::Strong,
            _ if upgrade::skipped(policy, kind) => Weakness::Skipped,
            Decision::Rewrite(_) => Weakness::Upgradable,
            Decision::WeakOnly => Weakness::NeedsReset,
        }
    }

    /// The census label and standing.
    #[must_use]
    pub fn assess(&self, policy: &PasswordPolicy) -> Assessment {
        Assessment { label: self.format.label(), weakness: self.weakness(policy) }
    }

    /// The value `write_back` stores for a row that just verified with
    /// `password` (see [`super::upgraded_hash`]); `None` unless
    /// [`Weakness::Upgradable`].
    ///
    /// # Errors
    /// As [`super::upgraded_hash`].
    pub fn upgraded(&self, policy: &PasswordPolicy, password: &str) -> Result<Option<String>, PasswordError> {
        let kind = &self.format.kind;
        if upgrade::skipped(policy, kind) {
            return Ok(None);
        }
        let Decision::Rewrite(rewrite) = upgrade::decide(policy, kind) else {
            return Ok(None);
        };
        check_length(password)?;
        let password = transform::apply(policy.transform, password);
        if matches!(rewrite, upgrade::Rewrite::Bcrypt(_)) && password.len() > bcrypt::MAX_PASSWORD {
            return Err(PasswordError::TooLongForBcrypt { max: bcrypt::MAX_PASSWORD });
        }
        upgrade::produce(policy, rewrite, &password).map(Some)
    }
}
