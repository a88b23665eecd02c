//! Known-answer vectors for `uap_domain::password`, produced by the host
//! frameworks' own code (passlib, Django, Werkzeug, argon2-cffi, PHP,
//! libxcrypt) — see `tests/vectors/generate.py` for how and `origin` in each
//! vector for which. Also checks, on every matching vector, that the
//! hash-upgrade path writes something that verifies and is then final.

use std::collections::BTreeMap;

use serde::Deserialize;
use uap_domain::password::{
    self, Argon2Params, HashUpgrade, PasswordPolicy, PasswordTransform, PreferredAlgorithm, UpgradeFamily,
    UpgradeFormat, Verdict,
};

#[derive(Deserialize)]
struct File {
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    format: Option<String>,
    label: Option<String>,
    password: String,
    stored: String,
    expected: String,
    origin: String,
    #[serde(default)]
    policy: Overrides,
}

#[derive(Deserialize, Default)]
struct Overrides {
    #[serde(default)]
    legacy_plain_digests: bool,
    #[serde(default)]
    transform: PasswordTransform,
}

fn vectors() -> serde_json::Result<Vec<Vector>> {
    serde_json::from_str::<File>(include_str!("../vectors/verify.json")).map(|file| file.vectors)
}

/// Low costs so upgrades stay fast in debug builds.
fn policy(overrides: &Overrides, format: UpgradeFormat) -> PasswordPolicy {
    PasswordPolicy {
        preferred: PreferredAlgorithm::Argon2id,
        argon2: Argon2Params { memory_kib: 256, iterations: 2, parallelism: 1 },
        bcrypt_cost: 5,
        upgrade: HashUpgrade::WriteBack,
        upgrade_format: format,
        upgrade_skip: Vec::new(),
        legacy_plain_digests: overrides.legacy_plain_digests,
        transform: overrides.transform,
    }
}

fn expected(v: &Vector) -> Option<Verdict> {
    match v.expected.as_str() {
        "match" => Some(Verdict::Match),
        "mismatch" => Some(Verdict::Mismatch),
        "unsupported" => Some(Verdict::Unsupported),
        _ => None,
    }
}

#[test]
fn verify_and_identify_every_vector() {
    let mut failures = Vec::new();
    for v in vectors().unwrap() {
        let policy = policy(&v.policy, UpgradeFormat::Host);
        let verdict = password::verify(&policy, &v.stored, &v.password);
        if Some(verdict) != expected(&v) {
            failures.push(format!("{verdict:?} != {} for {:?} ({})", v.expected, v.stored, v.origin));
        }
        let format = password::identify(&v.stored, &policy);
        let family = format.map(|f| f.family_name().to_owned());
        if family != v.format {
            failures.push(format!("family {family:?} != {:?} for {:?}", v.format, v.stored));
        }
        if let (Some(label), Some(format)) = (&v.label, format)
            && &format.label() != label
        {
            failures.push(format!("label {:?} != {label:?} for {:?}", format.label(), v.stored));
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_family_has_matching_and_failing_vectors() {
    let mut seen: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for v in vectors().unwrap() {
        if let Some(format) = &v.format {
            let entry = seen.entry(format.clone()).or_default();
            match expected(&v).unwrap() {
                Verdict::Match => entry.0 += 1,
                _ => entry.1 += 1,
            }
        }
    }
    let families = [
        "argon2",
        "bcrypt",
        "django",
        "drupal7",
        "ldap",
        "md5_crypt",
        "pbkdf2",
        "phpass",
        "plain_digest",
        "scrypt",
        "sha256_crypt",
        "sha512_crypt",
        "werkzeug",
        "wordpress",
        "yescrypt",
    ];
    for family in families {
        let (matches, mismatches) = seen.get(family).copied().unwrap_or_default();
        assert!(matches > 0 && mismatches > 0, "{family}: {matches} match, {mismatches} mismatch vectors");
    }
}

#[test]
fn plain_digests_need_the_legacy_switch() {
    let digest = "5f4dcc3b5aa765d61d8327deb882cf99"; // md5("password")
    let off = policy(&Overrides::default(), UpgradeFormat::Host);
    let on = policy(&Overrides { legacy_plain_digests: true, ..Overrides::default() }, UpgradeFormat::Host);
    assert_eq!(password::verify(&off, digest, "password"), Verdict::Unsupported);
    assert_eq!(password::census_label(&off, digest), "unknown format");
    assert_eq!(password::verify(&on, digest, "password"), Verdict::Match);
    assert!(password::needs_upgrade(&on, digest));
    assert_eq!(password::upgraded_hash(&on, digest, "password"), Ok(None));
}

/// The family a host-mode upgrade writes, for the families that have one.
fn host_target(family: &str) -> Option<&'static str> {
    match family {
        "bcrypt" | "phpass" => Some("bcrypt"),
        "wordpress" => Some("wordpress"),
        "django" => Some("django"),
        "werkzeug" => Some("werkzeug"),
        "argon2" | "pbkdf2" | "scrypt" => Some("argon2"),
        _ => None,
    }
}

/// Upgrades every matching vector; returns what went wrong.
fn check_upgrades(vectors: Vec<Vector>, format: UpgradeFormat) -> Vec<String> {
    let mut failures = Vec::new();
    for v in vectors.into_iter().filter(|v| v.expected == "match") {
        let policy = policy(&v.policy, format);
        let Some(family) = v.format.as_deref() else {
            continue;
        };
        let target = match format {
            UpgradeFormat::Host => host_target(family),
            UpgradeFormat::Phc => Some("argon2"),
        };
        let weak = password::needs_upgrade(&policy, &v.stored);
        let new = match password::upgraded_hash(&policy, &v.stored, &v.password) {
            Ok(Some(new)) => new,
            Ok(None) => {
                if weak && target.is_some() {
                    failures.push(format!("weak but not rewritten: {}", v.stored));
                }
                continue;
            }
            // bcrypt of the raw password would drop the tail: kept (issue #9 item 15).
            Err(password::PasswordError::TooLongForBcrypt { max }) if v.password.len() > max => continue,
            Err(err) => {
                failures.push(format!("upgrade of {} failed: {err}", v.stored));
                continue;
            }
        };
        if !weak {
            failures.push(format!("rewritten though not weak: {}", v.stored));
        }
        let new_format = password::identify(&new, &policy).map(|f| f.family_name());
        if new_format.is_none() || new_format != target {
            failures.push(format!("{} became {new_format:?} ({new}), expected {target:?}", v.stored));
        }
        if password::verify(&policy, &new, &v.password) != Verdict::Match {
            failures.push(format!("upgrade of {} does not verify: {new}", v.stored));
        }
        if password::needs_upgrade(&policy, &new) {
            failures.push(format!("upgrade of {} is still weak: {new}", v.stored));
        }
    }
    failures
}

#[test]
fn host_mode_upgrades_verify_and_are_final() {
    let failures = check_upgrades(vectors().unwrap(), UpgradeFormat::Host);
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn phc_mode_upgrades_verify_and_are_final() {
    let failures = check_upgrades(vectors().unwrap(), UpgradeFormat::Phc);
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn skipped_families_are_reported_weak_but_never_rewritten() {
    let mut policy = policy(&Overrides::default(), UpgradeFormat::Host);
    policy.upgrade_skip = vec![UpgradeFamily::Phpass];
    let phpass = vectors()
        .unwrap()
        .into_iter()
        .find(|v| {
            v.format.as_deref() == Some("phpass")
                && v.expected == "match"
                && v.policy.transform == PasswordTransform::None
        })
        .expect("a phpass vector");
    let format = password::identify(&phpass.stored, &policy).expect("identified");
    assert!(format.is_weak(&policy));
    assert!(!password::needs_upgrade(&policy, &phpass.stored));
    assert_eq!(password::upgraded_hash(&policy, &phpass.stored, &phpass.password), Ok(None));
}
