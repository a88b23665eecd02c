//! Refused-login timing per stored family (issue #9 item 2): does a wrong
//! password for a user whose row is in family F take as long as an unknown
//! user? Measured by the harness's own client, one keep-alive connection,
//! one request at a time (what an attacker timing single answers sees), in
//! many short slices that alternate the two kinds (ABBA within a slice, the
//! order flipped from slice to slice), so that drifting load on the machine
//! hits both sides alike. Reported per family: both medians, their ratio, and
//! the spread of the per-slice ratios.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde::Serialize;
use serde_json::json;

use super::AUTHENTICATE;
use super::hashing::Hashes;
use super::http::Client;

/// Host users per family (`timing_<family index>_<n>`).
pub const USERS_PER_FAMILY: usize = 3;
/// Request pairs (one wrong password, one unknown user) per slice.
const PAIRS_PER_SLICE: usize = 3;
/// Unmeasured unknown-user requests first: a fresh server's first dummy
/// verifications are slow (argon2id's 19 MiB are page-faulted in), and the
/// server keeps each family's cost relative to the dummy's median.
const WARM_UP_UNKNOWN: usize = 12;
/// Then unmeasured pairs per family, so that the server's running estimates
/// (medians of nine) have seen every family.
const WARM_UP_PAIRS: usize = 6;
/// The least number of slices per family, however long they take.
const MIN_SLICES: usize = 4;
/// What the wrong-password requests send.
const WRONG_PASSWORD: &str = "not-the-password";

/// `openssl passwd -1 -salt uapbench bench-fast-password`.
const MD5_CRYPT: &str = super::hashing::FAST_HASH;
/// passlib 1.7.4 phpass (WordPress `$P$B`, 2^13 iterations).
const PHPASS: &str = "$P$B1FE6Xl.3BI8l4nJGUUmxUA4PaoqYt.";
/// The glibc specification vector at the default 5000 rounds.
const SHA512_CRYPT: &str =
    "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1";
/// Django 2.1's default, 120,000 iterations of PBKDF2-SHA256.
const DJANGO_PBKDF2: &str = "pbkdf2_sha256$120000$uapbenchsalt2026$ubYxZ5CLqJShsZAtLAaTFRj59/S6gq6OL6INlvdvJDg=";
/// `{SSHA}` of "ssha-password" with salt "saltsalt".
const SSHA: &str = "{SSHA}w3tyjF8HgtqcQ1Amsq3+usmoEdlzYWx0c2FsdA==";
/// A value no verifier accepts.
const UNSUPPORTED: &str = "{ROT13}cynva";

/// One stored family of the timing users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    pub name: &'static str,
    pub stored: String,
}

/// The families measured, in the table's order.
pub fn families(hashes: &Hashes) -> Vec<Family> {
    let family = |name, stored: &str| Family { name, stored: stored.to_owned() };
    vec![
        family("argon2id (preferred)", &hashes.argon2),
        family("bcrypt cost 10", &hashes.bcrypt),
        family("md5_crypt", MD5_CRYPT),
        family("phpass 2^13", PHPASS),
        family("sha512_crypt 5000 rounds", SHA512_CRYPT),
        family("django pbkdf2_sha256 120000", DJANGO_PBKDF2),
        family("ldap {SSHA}", SSHA),
        family("unsupported value", UNSUPPORTED),
    ]
}

/// The username of timing user `n` of family `index`.
pub fn user(index: usize, n: usize) -> String {
    format!("timing_{index}_{n}")
}

/// One family's comparison.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FamilyTiming {
    pub family: String,
    /// Requests measured per side.
    pub requests: usize,
    pub wrong_p50_ms: f64,
    pub unknown_p50_ms: f64,
    /// unknown / wrong median.
    pub ratio: f64,
    /// The lowest and highest per-slice ratio of medians.
    pub slice_min: f64,
    pub slice_max: f64,
    pub slices: usize,
    /// Answers other than 401.
    pub errors: u64,
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => f64::midpoint(values[n / 2 - 1], values[n / 2]),
    }
}

fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator > 0.0 { numerator / denominator } else { 0.0 }
}

/// The two sides of one family, slice by slice.
#[derive(Debug, Default)]
struct Samples {
    wrong: Vec<Vec<f64>>,
    unknown: Vec<Vec<f64>>,
    errors: u64,
}

impl Samples {
    fn summary(mut self, family: &str) -> FamilyTiming {
        let slice_ratios: Vec<f64> = self
            .wrong
            .iter_mut()
            .zip(self.unknown.iter_mut())
            .map(|(wrong, unknown)| ratio(median(unknown), median(wrong)))
            .collect();
        let mut wrong: Vec<f64> = self.wrong.concat();
        let mut unknown: Vec<f64> = self.unknown.concat();
        let (wrong_p50_ms, unknown_p50_ms) = (median(&mut wrong), median(&mut unknown));
        FamilyTiming {
            family: family.to_owned(),
            requests: wrong.len(),
            wrong_p50_ms,
            unknown_p50_ms,
            ratio: ratio(unknown_p50_ms, wrong_p50_ms),
            slice_min: slice_ratios.iter().copied().fold(f64::INFINITY, f64::min),
            slice_max: slice_ratios.iter().copied().fold(0.0, f64::max),
            slices: slice_ratios.len(),
            errors: self.errors,
        }
    }
}

/// A login expected to be refused: its duration in ms, or `None` when the
/// answer was not 401.
fn refused(client: &mut Client, username: &str) -> Result<Option<f64>> {
    let body = json!({ "username": username, "password": WRONG_PASSWORD }).to_string();
    let started = Instant::now();
    let response = client.post_json(AUTHENTICATE, &body)?;
    let elapsed = started.elapsed().as_secs_f64() * 1e3;
    Ok((response.status == 401).then_some(elapsed))
}

/// Measures every family for about `per_family` each.
pub fn measure(addr: SocketAddr, families: &[Family], per_family: Duration) -> Result<Vec<FamilyTiming>> {
    let mut client = Client::connect(addr)?;
    let mut unknown_serial = 0_usize;
    let mut unknown = || {
        unknown_serial += 1;
        format!("nobody_{unknown_serial}")
    };
    for _ in 0..WARM_UP_UNKNOWN {
        refused(&mut client, &unknown())?;
    }
    for (index, _) in families.iter().enumerate() {
        for k in 0..WARM_UP_PAIRS {
            refused(&mut client, &user(index, k % USERS_PER_FAMILY))?;
            refused(&mut client, &unknown())?;
        }
    }
    let mut results = Vec::new();
    for (index, family) in families.iter().enumerate() {
        let mut samples = Samples::default();
        let started = Instant::now();
        let mut slice = 0;
        while slice < MIN_SLICES || started.elapsed() < per_family {
            let (mut wrong, mut missing) = (Vec::new(), Vec::new());
            for k in 0..PAIRS_PER_SLICE {
                let wrong_first = (slice + k) % 2 == 0;
                let known = user(index, (slice * PAIRS_PER_SLICE + k) % USERS_PER_FAMILY);
                let unknown_name = unknown();
                let order = if wrong_first { [true, false] } else { [false, true] };
                for is_wrong in order {
                    let name = if is_wrong { &known } else { &unknown_name };
                    match refused(&mut client, name)? {
                        Some(ms) if is_wrong => wrong.push(ms),
                        Some(ms) => missing.push(ms),
                        None => samples.errors += 1,
                    }
                }
            }
            samples.wrong.push(wrong);
            samples.unknown.push(missing);
            slice += 1;
        }
        let timing = samples.summary(family.name);
        eprintln!(
            "{}: wrong {:.2} ms, unknown {:.2} ms, ratio {:.2} (slices {:.2}–{:.2}, {} requests each){}",
            timing.family,
            timing.wrong_p50_ms,
            timing.unknown_p50_ms,
            timing.ratio,
            timing.slice_min,
            timing.slice_max,
            timing.requests,
            if timing.errors > 0 { format!(", {} errors", timing.errors) } else { String::new() }
        );
        results.push(timing);
    }
    if results.is_empty() {
        bail!("no family to measure");
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_ratios_and_spread() {
        assert!((median(&mut [3.0, 1.0, 2.0]) - 2.0).abs() < 1e-9);
        assert!((median(&mut [4.0, 1.0, 2.0, 3.0]) - 2.5).abs() < 1e-9);
        assert!(median(&mut []).abs() < 1e-9);
        let samples = Samples {
            wrong: vec![vec![10.0, 10.0, 10.0], vec![20.0, 20.0, 20.0]],
            unknown: vec![vec![9.0, 9.0, 9.0], vec![22.0, 22.0, 22.0]],
            errors: 1,
        };
        let t = samples.summary("bcrypt cost 10");
        assert_eq!((t.requests, t.slices, t.errors), (6, 2, 1));
        assert!((t.wrong_p50_ms - 15.0).abs() < 1e-9);
        assert!((t.unknown_p50_ms - 15.5).abs() < 1e-9);
        assert!((t.slice_min - 0.9).abs() < 1e-9 && (t.slice_max - 1.1).abs() < 1e-9);
    }

    #[test]
    fn every_family_verifies_as_its_family() {
        use uap_domain::password::{self, Argon2Params};
        let mut policy = super::super::hashing::policy(Argon2Params { memory_kib: 64, iterations: 1, parallelism: 1 });
        policy.bcrypt_cost = 4;
        let hashes = Hashes::generate(&policy).unwrap();
        let labels: Vec<String> =
            families(&hashes).iter().map(|f| password::census_label(&policy, &f.stored)).collect();
        assert_eq!(
            labels,
            [
                "argon2id m=64 t=1 p=1",
                "bcrypt cost 4",
                "md5_crypt",
                "phpass",
                "sha512_crypt (5000 rounds)",
                "django pbkdf2_sha256 (120000 iterations)",
                "ldap {SSHA}",
                "unknown format",
            ]
        );
        assert_eq!(user(2, 1), "timing_2_1");
    }
}
