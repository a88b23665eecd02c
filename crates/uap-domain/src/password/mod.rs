//! Password hash formats: detection from the stored string, constant-time
//! verification, preferred-scheme hashing and the hash-upgrade decision
//! (CONTRACT §2 `hash_upgrade*`, §6).
//!
//! One file per family. Everything here is synchronous and CPU-bound; the
//! server runs it on a bounded blocking pool.
//!
//! # Failing closed and bounded work
//! Stored values come from the host database and passwords from the
//! network; neither may make this module panic or run unbounded. A value
//! that is not fully understood — unknown prefix, malformed body, bad
//! base64, non-canonical numbers, parameters over the limits — is
//! [`Verdict::Unsupported`]. Limits (each documented in its family module):
//! bcrypt cost ≤ 16; Argon2 memory ≤ 1 GiB and memory × passes ≤ 4 GiB;
//! scrypt/yescrypt memory ≤ 1 GiB; PBKDF2 ≤ 10,000,000 iterations;
//! SHA-crypt ≤ 5,000,000 rounds; phpass/Drupal ≤ 2^24 iterations; stored
//! values ≤ 1024 bytes; for the families that re-hash the password on
//! every round (SHA-crypt, phpass, Drupal) rounds × password length ≤ 2^31
//! bytes (see [`work`]). Passwords over [`MAX_PASSWORD_BYTES`] are never
//! hashed (`Mismatch`, or [`PasswordError::TooLong`] when hashing); a login
//! request carrying one is refused before any lookup. Trailing spaces of a stored value (`CHAR(n)`
//! padding) are ignored. All digest comparisons are constant-time.

mod argon2;
mod bcrypt;
mod cost;
mod django;
mod drupal;
mod encoding;
mod format;
mod ldap;
mod md5_crypt;
mod pbkdf2;
mod phpass;
mod plain;
mod scrypt;
mod sha_crypt;
mod stored;
mod transform;
mod upgrade;
mod werkzeug;
mod wordpress;
mod yescrypt;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use cost::Work;
pub use format::HashFormat;
pub use stored::{Assessment, StoredHash, Weakness};

/// Longest password accepted, hashed or verified, in bytes: the one limit of
/// login requests, the MFA enroll route, `uap hash` and this module.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Argon2 parameters for new hashes (`argon2_memory_kib`, `argon2_iterations`,
/// `argon2_parallelism`; OWASP defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self { memory_kib: 19_456, iterations: 2, parallelism: 1 }
    }
}

/// `password_hash_algorithm`: the preferred scheme for new and upgraded hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PreferredAlgorithm {
    Argon2id,
    Bcrypt,
    Scrypt,
    #[serde(rename = "pbkdf2_sha256")]
    Pbkdf2Sha256,
}

/// `hash_upgrade`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HashUpgrade {
    Off,
    #[default]
    Report,
    WriteBack,
}

/// `hash_upgrade_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UpgradeFormat {
    #[default]
    Host,
    Phc,
}

/// `password_transform`: applied to the submitted password before verifying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PasswordTransform {
    #[default]
    None,
    HtmlEscape,
}

/// The families named by `hash_upgrade_skip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpgradeFamily {
    Django,
    Werkzeug,
    Bcrypt,
    Phpass,
    Wordpress,
    Phc,
}

/// Everything the password module needs from the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct PasswordPolicy {
    pub preferred: PreferredAlgorithm,
    pub argon2: Argon2Params,
    pub bcrypt_cost: u32,
    pub upgrade: HashUpgrade,
    pub upgrade_format: UpgradeFormat,
    pub upgrade_skip: Vec<UpgradeFamily>,
    pub legacy_plain_digests: bool,
    pub transform: PasswordTransform,
}

impl Default for PasswordPolicy {
    /// The contract's defaults: argon2id at [`Argon2Params::default`],
    /// bcrypt cost 12, `hash_upgrade = "report"` in `host` format.
    fn default() -> Self {
        Self {
            preferred: PreferredAlgorithm::Argon2id,
            argon2: Argon2Params::default(),
            bcrypt_cost: 12,
            upgrade: HashUpgrade::default(),
            upgrade_format: UpgradeFormat::default(),
            upgrade_skip: Vec::new(),
            legacy_plain_digests: false,
            transform: PasswordTransform::default(),
        }
    }
}

impl PasswordPolicy {
    /// Checks that hashes can be written with this policy: bcrypt cost and
    /// Argon2 parameters within the limits this module also verifies.
    ///
    /// # Errors
    /// [`PasswordError::InvalidParameters`] naming the offending setting.
    pub fn validate(&self) -> Result<(), PasswordError> {
        bcrypt::check_cost(self.bcrypt_cost)?;
        argon2::check_params(&self.argon2)
    }
}

/// The outcome of checking a password against a stored value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The password matches.
    Match,
    /// A supported format, and the password does not match.
    Mismatch,
    /// Unknown format, or a recognised prefix with a malformed body or
    /// parameters over the limits. Fails closed: treat as a failed login.
    Unsupported,
}

/// Why a hash could not be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// The password exceeds [`MAX_PASSWORD_BYTES`].
    #[error("password is longer than {max} bytes")]
    TooLong { max: usize },
    /// Configured parameters outside what the scheme (or this module's limits) allows.
    #[error("invalid password-hashing parameters: {0}")]
    InvalidParameters(String),
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed")]
    Random,
    /// The hashing primitive reported an error.
    #[error("password hashing failed: {0}")]
    Hashing(String),
    /// The upgrade target is bcrypt of the raw password, and the password is
    /// longer than the 72 bytes bcrypt keys on: the new hash would silently
    /// accept any password sharing its first 72 bytes.
    #[error("password is longer than the {max} bytes bcrypt uses")]
    TooLongForBcrypt { max: usize },
}

/// Drops `CHAR(n)` padding.
fn normalise(stored: &str) -> &str {
    stored.trim_end_matches(' ')
}

fn check_length(password: &str) -> Result<(), PasswordError> {
    if password.len() > MAX_PASSWORD_BYTES { Err(PasswordError::TooLong { max: MAX_PASSWORD_BYTES }) } else { Ok(()) }
}

/// Detects the format of a stored value; `None` when unknown or malformed
/// (bare hex digests count only with `legacy_plain_digests`).
#[must_use]
pub fn identify(stored: &str, policy: &PasswordPolicy) -> Option<HashFormat> {
    StoredHash::parse(stored, policy).map(|hash| hash.format())
}

/// [`StoredHash::verify`] of a value parsed here; `Unsupported` when it
/// cannot be parsed.
#[must_use]
pub fn verify(policy: &PasswordPolicy, stored: &str, password: &str) -> Verdict {
    StoredHash::parse(stored, policy).map_or(Verdict::Unsupported, |hash| hash.verify(policy, password))
}

/// [`StoredHash::work`] of a value parsed here: [`Work::Unusable`] for what
/// [`verify`] calls `Unsupported`, [`Work::OverBudget`] for a row [`verify`]
/// answers `Mismatch` without hashing because its work would exceed the
/// budget.
#[must_use]
pub fn work(policy: &PasswordPolicy, stored: &str, password: &str) -> Work {
    StoredHash::parse(stored, policy).map_or(Work::Unusable, |hash| hash.work(policy, password))
}

/// Whether a row in this format is reported weak on login (and rewritten
/// where [`upgraded_hash`] has a target): [`Weakness::reported`].
#[must_use]
pub fn needs_upgrade(policy: &PasswordPolicy, stored: &str) -> bool {
    StoredHash::parse(stored, policy).is_some_and(|hash| hash.weakness(policy).reported())
}

/// The value to write back for a row that just verified with `password`:
/// the host-mode target of its family, or the preferred scheme in `phc`
/// mode (see `upgrade.rs`). `None` when the row is at its target, has no
/// writable target (Drupal 7, crypt(3), LDAP, bare digests in host mode),
/// its family is in `hash_upgrade_skip`, or the format is unknown.
///
/// # Errors
/// [`PasswordError`] when hashing fails (bad configured parameters,
/// password too long, no randomness); [`PasswordError::TooLongForBcrypt`]
/// when the target is bcrypt of the raw password (phpass → `$2y$`, a bcrypt
/// cost raise) and the password is over 72 bytes: the row is better kept
/// than rewritten into one that ignores the password's tail.
pub fn upgraded_hash(policy: &PasswordPolicy, stored: &str, password: &str) -> Result<Option<String>, PasswordError> {
    StoredHash::parse(stored, policy).map_or(Ok(None), |hash| hash.upgraded(policy, password))
}

/// A new hash in the preferred scheme (`password_hash_algorithm`): PHC
/// argon2id with `policy.argon2` by default. `policy.transform` is applied
/// first, so [`verify`] accepts the result under the same policy.
///
/// # Errors
/// [`PasswordError`] for bad configured parameters, an over-long password
/// or a failing random number generator.
pub fn hash(policy: &PasswordPolicy, password: &str) -> Result<String, PasswordError> {
    hash_with(policy, policy.preferred, password)
}

/// A new hash in `algorithm`: PHC argon2id (`policy.argon2`), bcrypt `$2b$`
/// at `policy.bcrypt_cost`, PHC scrypt (ln=17, r=8, p=1) or PHC
/// PBKDF2-SHA256 (600,000 iterations). `policy.transform` is applied first.
///
/// # Errors
/// As [`hash`].
pub fn hash_with(
    policy: &PasswordPolicy,
    algorithm: PreferredAlgorithm,
    password: &str,
) -> Result<String, PasswordError> {
    check_length(password)?;
    let password = transform::apply(policy.transform, password);
    upgrade::preferred(policy, algorithm, password.as_bytes())
}

/// A preferred-scheme hash of a random password, verified for unknown users
/// so that they cost the same time as a wrong password.
///
/// # Errors
/// As [`hash`].
pub fn dummy_hash(policy: &PasswordPolicy) -> Result<String, PasswordError> {
    let password = hex::encode(encoding::random_bytes::<16>()?);
    hash_with(policy, policy.preferred, &password)
}

/// [`HashFormat::label`] of the stored value, or "unknown format".
#[must_use]
pub fn census_label(policy: &PasswordPolicy, stored: &str) -> String {
    identify(stored, policy).map_or_else(|| UNKNOWN_FORMAT.to_owned(), |format| format.label())
}

/// The census label of a value no format recognises.
pub const UNKNOWN_FORMAT: &str = "unknown format";
