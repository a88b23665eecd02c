//! The stored hashes of the bench users, and the raw in-process verify rate
//! (one thread per core) that bounds login throughput. The workspace's dev
//! profile builds the hashing crates at `opt-level = 3`, so this debug-built
//! xtask verifies as fast as the release server does.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde::Serialize;
use uap_domain::password::{self, Argon2Params, HashUpgrade, PasswordPolicy, PreferredAlgorithm, Verdict};

/// The argon2id user (configured parameters).
pub const ARGON2_USER: &str = "argon2_user";
pub const ARGON2_PASSWORD: &str = "bench-argon2-password";
/// The bcrypt cost-10 user.
pub const BCRYPT_USER: &str = "bcrypt_user";
pub const BCRYPT_PASSWORD: &str = "bench-bcrypt-password";
pub const BCRYPT_COST: u32 = 10;
/// The user with a cheap md5-crypt hash, for creating many sessions quickly.
pub const FAST_USER: &str = "fast_user";
pub const FAST_PASSWORD: &str = "bench-fast-password";
/// `openssl passwd -1 -salt uapbench bench-fast-password` (the domain crate
/// verifies md5-crypt but never writes it).
pub const FAST_HASH: &str = "$1$uapbench$CpbWo0zmlYcNjkycY1IzT0";

/// The policy the bench server runs with: default settings, the given
/// Argon2 parameters, bcrypt cost 10, no upgrades.
pub fn policy(argon2: Argon2Params) -> PasswordPolicy {
    PasswordPolicy {
        preferred: PreferredAlgorithm::Argon2id,
        argon2,
        bcrypt_cost: BCRYPT_COST,
        upgrade: HashUpgrade::Off,
        ..PasswordPolicy::default()
    }
}

/// The stored hashes of the bench users.
#[derive(Debug, Clone)]
pub struct Hashes {
    pub argon2: String,
    pub bcrypt: String,
    pub fast: String,
}

impl Hashes {
    /// Hashes the bench passwords with `policy` (and checks that each verifies).
    pub fn generate(policy: &PasswordPolicy) -> Result<Self> {
        let hashes = Self {
            argon2: password::hash_with(policy, PreferredAlgorithm::Argon2id, ARGON2_PASSWORD)?,
            bcrypt: password::hash_with(policy, PreferredAlgorithm::Bcrypt, BCRYPT_PASSWORD)?,
            fast: FAST_HASH.to_owned(),
        };
        for (stored, password) in
            [(&hashes.argon2, ARGON2_PASSWORD), (&hashes.bcrypt, BCRYPT_PASSWORD), (&hashes.fast, FAST_PASSWORD)]
        {
            if password::verify(policy, stored, password) != Verdict::Match {
                bail!("the generated hash {stored} does not verify");
            }
        }
        Ok(hashes)
    }
}

/// The raw verify rate of one stored hash.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RawRate {
    pub algorithm: String,
    pub threads: usize,
    pub verifies: u64,
    pub seconds: f64,
    pub per_second: f64,
    /// The rates of the measurements merged into this one (before and after
    /// the login scenario); empty for a single measurement.
    pub parts: Vec<f64>,
}

/// Parts differing by more than this fraction mean other work on the machine
/// disturbed the comparison.
pub const UNSTABLE_SPREAD: f64 = 0.15;

impl RawRate {
    /// Two equally long measurements as one: the mean rate.
    pub fn merge(&self, other: &Self) -> Self {
        Self {
            algorithm: self.algorithm.clone(),
            threads: self.threads,
            verifies: self.verifies + other.verifies,
            seconds: self.seconds + other.seconds,
            per_second: f64::midpoint(self.per_second, other.per_second),
            parts: vec![self.per_second, other.per_second],
        }
    }

    /// How far apart the merged parts are, relative to the larger one (0 for
    /// a single measurement).
    pub fn spread(&self) -> f64 {
        let max = self.parts.iter().copied().fold(0.0, f64::max);
        let min = self.parts.iter().copied().fold(f64::INFINITY, f64::min);
        if max > 0.0 { (max - min) / max } else { 0.0 }
    }

    /// Whether other work on the machine visibly changed the rate during the run.
    pub fn unstable(&self) -> bool {
        self.spread() > UNSTABLE_SPREAD
    }
}

/// Verifies `stored` in a loop on `threads` threads for `duration`.
pub fn raw_rate(
    algorithm: &str,
    policy: &PasswordPolicy,
    stored: &str,
    password: &str,
    threads: usize,
    duration: Duration,
) -> Result<RawRate> {
    let runs: Vec<Result<(u64, Duration)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| {
                    let started = Instant::now();
                    let mut verifies = 0_u64;
                    while started.elapsed() < duration {
                        if password::verify(policy, stored, password) != Verdict::Match {
                            bail!("{algorithm}: the stored hash does not verify");
                        }
                        verifies += 1;
                    }
                    Ok((verifies, started.elapsed()))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a hashing thread panicked"))))
            .collect()
    });
    let mut rate = RawRate {
        algorithm: algorithm.to_owned(),
        threads: threads.max(1),
        verifies: 0,
        seconds: 0.0,
        per_second: 0.0,
        parts: Vec::new(),
    };
    for run in runs {
        let (verifies, elapsed) = run?;
        rate.verifies += verifies;
        rate.seconds = rate.seconds.max(elapsed.as_secs_f64());
        let count = verifies as f64;
        rate.per_second += count / elapsed.as_secs_f64();
    }
    Ok(rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordPolicy {
        policy(Argon2Params { memory_kib: 64, iterations: 1, parallelism: 1 })
    }

    #[test]
    fn fast_hash_is_md5_crypt_of_the_fast_password() {
        let policy = cheap();
        assert_eq!(password::verify(&policy, FAST_HASH, FAST_PASSWORD), Verdict::Match);
        assert_eq!(password::census_label(&policy, FAST_HASH), "md5_crypt");
    }

    #[test]
    fn generated_hashes_use_the_configured_schemes() {
        let mut policy = cheap();
        policy.bcrypt_cost = 4;
        let hashes = Hashes::generate(&policy).unwrap();
        assert!(hashes.argon2.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{}", hashes.argon2);
        assert!(hashes.bcrypt.starts_with("$2b$04$"), "{}", hashes.bcrypt);
    }

    #[test]
    fn raw_rate_counts_every_thread() {
        let policy = cheap();
        let rate = raw_rate("md5_crypt", &policy, FAST_HASH, FAST_PASSWORD, 2, Duration::from_millis(50)).unwrap();
        assert_eq!(rate.threads, 2);
        assert!(rate.verifies > 0 && rate.per_second > 0.0);
        assert!(raw_rate("md5_crypt", &policy, FAST_HASH, "wrong", 1, Duration::from_millis(5)).is_err());
        let merged = rate.merge(&RawRate { verifies: 10, seconds: 0.05, per_second: 200.0, ..rate.clone() });
        assert_eq!(merged.verifies, rate.verifies + 10);
        assert!((merged.per_second - f64::midpoint(rate.per_second, 200.0)).abs() < 1e-9);
        assert_eq!(merged.parts, vec![rate.per_second, 200.0]);
    }

    #[test]
    fn spread_flags_a_disturbed_measurement() {
        let rate = |parts: Vec<f64>| RawRate {
            algorithm: "argon2id".into(),
            threads: 2,
            verifies: 0,
            seconds: 0.0,
            per_second: 0.0,
            parts,
        };
        assert!(rate(Vec::new()).spread().abs() < f64::EPSILON);
        assert!(!rate(vec![117.0, 110.0]).unstable());
        let disturbed = rate(vec![117.0, 72.2]);
        assert!((disturbed.spread() - 44.8 / 117.0).abs() < 1e-9);
        assert!(disturbed.unstable());
    }
}
