//! What a verification costs, estimated from the stored string's parameters
//! and the password's length — never from a timing — and the work budget of
//! the families whose work grows with the password.
//!
//! The unit is one MD5 compression (a 64-byte block); the other primitives
//! are expressed in it with rough relative costs (SHA-256 ≈ 2, SHA-512 ≈ 3
//! per 128-byte block, one Argon2 KiB-pass ≈ 7, one bcrypt `2^cost` step ≈
//! 600, one scrypt/yescrypt `N·r·p` step ≈ 2). The estimate only has to rank a
//! stored format against the preferred scheme at its configured parameters
//! (is this refusal cheaper than the dummy verification?); the response floor
//! absorbs the error that remains.
//!
//! # Work budget
//! phpass `$P$`/`$H$` and Drupal 7 `$S$` re-hash the whole password on every
//! iteration, and SHA-crypt on every round: `iterations × (digest + length)`
//! bytes. A row for which that exceeds [`WORK_BUDGET_BYTES`] (2^31 bytes,
//! about as long as the largest iteration count with a short password) is
//! over budget: it is refused without hashing. At WordPress's 2^8 and
//! Drupal's 2^15 iterations no password up to [`super::MAX_PASSWORD_BYTES`]
//! reaches it; at phpass's 2^24 a password over 112 bytes does. md5-crypt
//! (fixed 1000 rounds), PBKDF2 and HMAC (long keys are hashed once), bcrypt
//! (72 bytes), Argon2, scrypt and yescrypt (the password is hashed once) are
//! bounded by the password limit alone.

use super::format::Kind;
use super::{argon2, bcrypt, django, drupal, ldap, pbkdf2, phpass, plain, scrypt, sha_crypt, werkzeug, yescrypt};

/// Most bytes hashed by one verification of the length-dependent families.
pub(super) const WORK_BUDGET_BYTES: u64 = 1 << 31;

const SHA256_BLOCK: u64 = 2;
const SHA512_BLOCK: u64 = 3;
const ARGON2_KIB_PASS: u64 = 7;
const BCRYPT_STEP: u64 = 600;
const SCRYPT_STEP: u64 = 2;

/// What verifying a stored value with a given password would take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Unknown format or malformed value: nothing is verified.
    Unusable,
    /// A supported format whose work for this password exceeds the budget:
    /// refused without hashing.
    OverBudget,
    /// The estimated cost, in MD5-compression units (0 when the verifier
    /// answers without hashing, e.g. a password over the length limit).
    Cost(u64),
}

/// Bytes to 64-byte blocks with MD-style padding (MD5, SHA-1, SHA-256).
fn blocks64(bytes: u64) -> u64 {
    (bytes + 9).div_ceil(64)
}

/// Bytes to 128-byte blocks with SHA-512 padding.
fn blocks128(bytes: u64) -> u64 {
    (bytes + 17).div_ceil(128)
}

/// Whether `iterations` re-hashes of `digest + password` bytes stay within
/// [`WORK_BUDGET_BYTES`].
pub(super) fn within_budget(iterations: u64, digest: u64, password: usize) -> bool {
    let password = u64::try_from(password).unwrap_or(u64::MAX / 4);
    iterations.saturating_mul(digest.saturating_add(password)) <= WORK_BUDGET_BYTES
}

fn argon2_cost(info: &argon2::Info) -> u64 {
    u64::from(info.memory_kib) * u64::from(info.iterations) * ARGON2_KIB_PASS
}

fn bcrypt_cost(info: &bcrypt::Info) -> u64 {
    (1u64 << info.cost.min(bcrypt::MAX_COST)) * BCRYPT_STEP
}

fn scrypt_cost(info: &scrypt::Info) -> u64 {
    info.n().saturating_mul(u64::from(info.r)).saturating_mul(u64::from(info.p)).saturating_mul(SCRYPT_STEP)
}

fn pbkdf2_cost(prf: pbkdf2::Prf, iterations: u32) -> u64 {
    // Two compressions per iteration (inner and outer HMAC).
    let block = match prf {
        pbkdf2::Prf::Sha1 => 1,
        pbkdf2::Prf::Sha256 => SHA256_BLOCK,
        pbkdf2::Prf::Sha512 => SHA512_BLOCK,
    };
    2 * u64::from(iterations) * block
}

fn yescrypt_cost(stored: &str) -> u64 {
    yescrypt::cost_params(stored)
        .map_or(0, |(n, r, p)| n.saturating_mul(u64::from(r)).saturating_mul(u64::from(p)).saturating_mul(SCRYPT_STEP))
}

fn md5_crypt_cost(len: u64) -> u64 {
    // 1000 rounds, each over at most two copies of the password, the salt
    // and the previous digest.
    1000 * blocks64(2 * len + 24) + blocks64(len * 2 + 16)
}

fn sha_crypt_work(info: &sha_crypt::Info, len: usize) -> Work {
    if !sha_crypt::within_budget(info.rounds, len) {
        return Work::OverBudget;
    }
    let len = len as u64;
    let (digest, per_block) = if info.sha512 { (64, SHA512_BLOCK) } else { (32, SHA256_BLOCK) };
    let blocks = |bytes| if info.sha512 { blocks128(bytes) } else { blocks64(bytes) };
    // Each round hashes the password, the previous digest and (mostly) the
    // salt; the setup hashes the password `len` times.
    Work::Cost(u64::from(info.rounds) * blocks(2 * len + digest + 16) * per_block + blocks(len * len) * per_block)
}

fn phpass_work(log2: u32, len: usize) -> Work {
    let iterations = 1u64 << log2.min(phpass::MAX_LOG2);
    if !within_budget(iterations, 16, len) {
        return Work::OverBudget;
    }
    Work::Cost(iterations * blocks64(16 + len as u64))
}

fn drupal_work(info: &drupal::Info, len: usize) -> Work {
    let len = if info.drupal6 { 32 } else { len };
    if len > drupal::MAX_PASSWORD {
        return Work::Cost(0);
    }
    let iterations = 1u64 << info.log2.min(phpass::MAX_LOG2);
    let digest = if info.sha512 { 64 } else { 16 };
    if !within_budget(iterations, digest, len) {
        return Work::OverBudget;
    }
    let per = if info.sha512 { blocks128(64 + len as u64) * SHA512_BLOCK } else { blocks64(16 + len as u64) };
    Work::Cost(iterations * per)
}

fn ldap_work(scheme: &ldap::Scheme, stored: &str, len: usize) -> Work {
    let digest = |per_block: u64, sha512: bool| {
        let bytes = len as u64 + 16;
        Work::Cost(per_block * if sha512 { blocks128(bytes) } else { blocks64(bytes) })
    };
    match scheme {
        ldap::Scheme::Sha | ldap::Scheme::Ssha | ldap::Scheme::Md5 | ldap::Scheme::Smd5 => digest(1, false),
        ldap::Scheme::Ssha256 => digest(SHA256_BLOCK, false),
        ldap::Scheme::Ssha512 => digest(SHA512_BLOCK, true),
        ldap::Scheme::Crypt(ldap::Crypt::Md5) => Work::Cost(md5_crypt_cost(len as u64)),
        ldap::Scheme::Crypt(ldap::Crypt::Sha(info)) => sha_crypt_work(info, len),
        ldap::Scheme::Crypt(ldap::Crypt::Bcrypt(info)) => Work::Cost(bcrypt_cost(info)),
        ldap::Scheme::Crypt(ldap::Crypt::Yescrypt) => {
            Work::Cost(stored.find('$').and_then(|at| stored.get(at..)).map_or(0, yescrypt_cost))
        }
    }
}

/// The work of verifying `stored` (already identified as `kind`) with a
/// password of `len` bytes (after `password_transform`).
pub(super) fn work(kind: &Kind, stored: &str, len: usize) -> Work {
    match kind {
        Kind::Bcrypt(info) | Kind::Wordpress(info) => Work::Cost(bcrypt_cost(info)),
        Kind::Argon2(info) => Work::Cost(argon2_cost(info)),
        Kind::Pbkdf2(info) => Work::Cost(pbkdf2_cost(info.prf, info.rounds)),
        Kind::Scrypt(info) => Work::Cost(scrypt_cost(info)),
        Kind::Md5Crypt => Work::Cost(md5_crypt_cost(len as u64)),
        Kind::ShaCrypt(info) => sha_crypt_work(info, len),
        Kind::Yescrypt => Work::Cost(yescrypt_cost(stored)),
        Kind::Django(info) => Work::Cost(match info {
            django::Info::Pbkdf2 { prf, iterations } => pbkdf2_cost(*prf, *iterations),
            django::Info::Argon2(info) => argon2_cost(info),
            django::Info::BcryptSha256(info) | django::Info::Bcrypt(info) => bcrypt_cost(info),
            django::Info::Scrypt(info) => scrypt_cost(info),
            django::Info::Md5 => blocks64(len as u64 + 16),
        }),
        Kind::Werkzeug(info) => Work::Cost(match info {
            werkzeug::Info::Pbkdf2 { prf, iterations } => pbkdf2_cost(*prf, *iterations),
            werkzeug::Info::Scrypt(info) => scrypt_cost(info),
        }),
        Kind::Phpass(info) => phpass_work(info.log2, len),
        Kind::Drupal7(info) => drupal_work(info, len),
        Kind::Ldap(scheme) => ldap_work(scheme, stored, len),
        Kind::PlainDigest(algo) => Work::Cost(match algo {
            plain::Algo::Md5 | plain::Algo::Sha1 => blocks64(len as u64),
            plain::Algo::Sha256 => blocks64(len as u64) * SHA256_BLOCK,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Argon2Params, PasswordPolicy, PasswordTransform, Work as PublicWork, work as public_work};
    use super::*;
    fn policy() -> PasswordPolicy {
        PasswordPolicy::default()
    }

    fn cost(stored: &str, password: &str) -> u64 {
        match public_work(&policy(), stored, password) {
            PublicWork::Cost(cost) => cost,
            other => panic!("{stored}: {other:?}"),
        }
    }

    const ARGON2_DEFAULT: &str =
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$RdescudvJCsgt3ub+b+dWRWJTmaaJObG2Vz1KANXFOo";
    const BCRYPT_10: &str = "$2y$10$dLXlvQUCNMJwqrVJCLqb7uqA8AMTE5aYjeZHllKtlCUFoeRxAX1MW";
    const PBKDF2_DJANGO: &str =
        "pbkdf2_sha256$1000000$zQHdGlq2huZJr1BvgDTGo3$7ciHMXLftQ7nZeqVrjhqtXLHa1DHRWauBj9vEI43gEk=";
    const MD5_CRYPT: &str = "$1$3azHgidD$SrJPt7B.9rekpmwJwtON31";
    const PHPASS_8: &str = "$P$B1FE6Xl.3BI8l4nJGUUmxUA4PaoqYt.";
    const SHA512_5000: &str =
        "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1";
    const SSHA: &str = "{SSHA}w3tyjF8HgtqcQ1Amsq3+usmoEdlzYWx0c2FsdA==";

    #[test]
    fn ranks_formats_against_the_default_argon2id() {
        let argon2 = cost(ARGON2_DEFAULT, "pw");
        assert_eq!(argon2, 19_456 * 2 * ARGON2_KIB_PASS);
        for cheap in [MD5_CRYPT, PHPASS_8, SHA512_5000, SSHA] {
            assert!(cost(cheap, "a password") * 4 < argon2, "{cheap} is far cheaper");
        }
        for costly in [BCRYPT_10, PBKDF2_DJANGO] {
            assert!(cost(costly, "a password") > argon2, "{costly} costs more");
        }
        let mut cheap_argon2 = policy();
        cheap_argon2.argon2 = Argon2Params { memory_kib: 64, iterations: 1, parallelism: 1 };
        let small = super::super::dummy_hash(&cheap_argon2).unwrap();
        assert!(cost(&small, "pw") < cost(MD5_CRYPT, "pw"));
    }

    #[test]
    fn grows_with_the_password_where_the_verifier_does() {
        assert!(cost(PHPASS_8, &"a".repeat(1000)) > 10 * cost(PHPASS_8, "a"));
        assert!(cost(SHA512_5000, &"a".repeat(1000)) > 10 * cost(SHA512_5000, "a"));
        assert_eq!(cost(BCRYPT_10, &"a".repeat(1000)), cost(BCRYPT_10, "a"));
        // Over the length limit nothing is hashed.
        assert_eq!(cost(MD5_CRYPT, &"a".repeat(super::super::MAX_PASSWORD_BYTES + 1)), 0);
    }

    #[test]
    fn unusable_values() {
        assert_eq!(public_work(&policy(), "plaintext", "pw"), PublicWork::Unusable);
        assert_eq!(public_work(&policy(), "$2b$17$", "pw"), PublicWork::Unusable);
    }

    #[test]
    fn phpass_budget_is_rounds_times_length() {
        // 2^24 iterations: a 1 KiB password would hash 17 GB (36 s measured).
        let max = PHPASS_8.replacen("$P$B", "$P$M", 1);
        assert_eq!(phpass::identify(&max).map(|i| i.log2), Some(24));
        assert_eq!(public_work(&policy(), &max, &"a".repeat(1024)), PublicWork::OverBudget);
        assert_eq!(public_work(&policy(), &max, &"a".repeat(113)), PublicWork::OverBudget);
        assert!(matches!(public_work(&policy(), &max, &"a".repeat(112)), PublicWork::Cost(_)));
        // WordPress's 2^8 never reaches it.
        assert!(matches!(
            public_work(&policy(), PHPASS_8, &"a".repeat(super::super::MAX_PASSWORD_BYTES)),
            PublicWork::Cost(_)
        ));
        // The transform counts: html_escape makes `&` five bytes.
        let mut escaping = policy();
        escaping.transform = PasswordTransform::HtmlEscape;
        assert!(matches!(public_work(&policy(), &max, &"&".repeat(40)), PublicWork::Cost(_)));
        assert_eq!(public_work(&escaping, &max, &"&".repeat(40)), PublicWork::OverBudget);
    }

    #[test]
    fn drupal_budget() {
        let s = "$S$5v2LdtRRvnM6XjQHR3rNKxvhIzvDlLHlSld/myPYaqm6BDI5VqGe";
        let max = s.replacen("$S$5", "$S$M", 1);
        assert_eq!(public_work(&policy(), &max, &"a".repeat(100)), PublicWork::OverBudget);
        assert!(matches!(public_work(&policy(), &max, "short"), PublicWork::Cost(_)));
        // Drupal refuses passwords over 512 bytes itself, without hashing.
        assert_eq!(public_work(&policy(), s, &"a".repeat(513)), PublicWork::Cost(0));
        // The Drupal 6 form hashes a 32-byte md5 hex whatever the password.
        let u = "U$P$658.ZOOwyIiPvRY6mgF8rMz74xkM8K/".replacen("U$P$6", "U$P$M", 1);
        assert!(matches!(public_work(&policy(), &u, &"a".repeat(4000)), PublicWork::Cost(_)));
    }

    #[test]
    fn sha_crypt_budget_matches_its_verifier() {
        let max = SHA512_5000.replacen("$6$", "$6$rounds=5000000$", 1);
        assert_eq!(public_work(&policy(), &max, &"a".repeat(200)), PublicWork::OverBudget);
        assert!(matches!(public_work(&policy(), &max, &"a".repeat(100)), PublicWork::Cost(_)));
    }

    #[test]
    fn budget_arithmetic_saturates() {
        assert!(!within_budget(1, 16, usize::MAX));
        assert!(within_budget(1 << 24, 16, 112));
        assert!(!within_budget(1 << 24, 16, 113));
    }
}
