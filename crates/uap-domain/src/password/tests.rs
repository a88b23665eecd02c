//! Module-level tests: encoders byte-identical to the frameworks' for a
//! fixed salt (`tests/vectors/encode.json`), upgrade decisions, round trips,
//! identification and labels.

use serde::Deserialize;

use super::bcrypt::Prefix;
use super::format::Kind;
use super::upgrade::{Decision, Rewrite, decide};
use super::*;

fn policy() -> PasswordPolicy {
    PasswordPolicy {
        preferred: PreferredAlgorithm::Argon2id,
        argon2: Argon2Params::default(),
        bcrypt_cost: 12,
        upgrade: HashUpgrade::WriteBack,
        upgrade_format: UpgradeFormat::Host,
        upgrade_skip: Vec::new(),
        legacy_plain_digests: false,
        transform: PasswordTransform::None,
    }
}

fn fast() -> PasswordPolicy {
    PasswordPolicy {
        argon2: Argon2Params { memory_kib: 64, iterations: 1, parallelism: 1 },
        bcrypt_cost: 4,
        ..policy()
    }
}

#[derive(Deserialize)]
struct EncodeFile {
    vectors: Vec<EncodeVector>,
}

#[derive(Deserialize)]
struct EncodeVector {
    scheme: String,
    password: String,
    #[serde(default)]
    salt: String,
    #[serde(default)]
    salt_hex: String,
    #[serde(default)]
    m: u32,
    #[serde(default)]
    t: u32,
    #[serde(default)]
    p: u32,
    #[serde(default)]
    cost: u32,
    #[serde(default)]
    ln: u8,
    #[serde(default)]
    r: u32,
    #[serde(default)]
    i: u32,
    expected: String,
}

#[test]
fn encoders_match_the_frameworks_byte_for_byte() {
    let file: EncodeFile = serde_json::from_str(include_str!("../../tests/vectors/encode.json")).unwrap();
    assert!(file.vectors.len() >= 7);
    for v in file.vectors {
        let pw = v.password.as_bytes();
        let raw = hex::decode(&v.salt_hex).unwrap();
        let params = Argon2Params { memory_kib: v.m, iterations: v.t, parallelism: v.p };
        let salt16 = || <[u8; 16]>::try_from(raw.as_slice()).unwrap();
        let got = match v.scheme.as_str() {
            "django_argon2" => django::encode_argon2(pw, &v.salt, &params),
            "werkzeug_scrypt" => werkzeug::encode_scrypt(pw, &v.salt),
            "phc_argon2id" => argon2::encode(pw, &raw, &params),
            "phc_scrypt" => scrypt::encode_phc(pw, &raw, scrypt::Info { log_n: v.ln, r: v.r, p: v.p }),
            "phc_pbkdf2_sha256" => pbkdf2::encode_phc(pw, &raw, v.i),
            "bcrypt_2y" => bcrypt::encode(pw, v.cost, salt16(), Prefix::TwoY),
            "wordpress" => wordpress::encode(&v.password, v.cost, salt16()),
            other => panic!("unknown scheme {other}"),
        };
        assert_eq!(got.unwrap(), v.expected, "{}", v.scheme);
    }
}

fn kind(stored: &str) -> Kind {
    identify(stored, &policy()).unwrap().kind
}

#[test]
fn host_mode_decisions() {
    let p = policy();
    let bcrypt10 = bcrypt::encode(b"x", 10, [0; 16], Prefix::TwoA).unwrap();
    assert_eq!(decide(&p, &kind(&bcrypt10)), Decision::Rewrite(Rewrite::Bcrypt(Prefix::TwoA)));
    let bcrypt12 = bcrypt::encode(b"x", 12, [0; 16], Prefix::TwoB).unwrap();
    assert_eq!(decide(&p, &kind(&bcrypt12)), Decision::Keep);
    let wp = wordpress::encode("x", 10, [0; 16]).unwrap();
    assert_eq!(decide(&p, &kind(&wp)), Decision::Rewrite(Rewrite::Wordpress));
    assert_eq!(
        decide(&p, &kind("$P$9IQRaTwmfeRo7ud9Fh4E2PdI0S3r.L0")),
        Decision::Rewrite(Rewrite::Bcrypt(Prefix::TwoY))
    );

    let salt = b"0123456789abcdef";
    let at_target = argon2::encode(b"x", salt, &p.argon2).unwrap();
    assert_eq!(decide(&p, &kind(&at_target)), Decision::Keep);
    let stronger = Argon2Params { memory_kib: 65_536, iterations: 3, parallelism: 4 };
    assert_eq!(decide(&p, &kind(&argon2::encode(b"x", salt, &stronger).unwrap())), Decision::Keep);
    let weaker = Argon2Params { memory_kib: 4096, ..p.argon2 };
    assert_eq!(
        decide(&p, &kind(&argon2::encode(b"x", salt, &weaker).unwrap())),
        Decision::Rewrite(Rewrite::PhcArgon2id)
    );
    let pbkdf2 = pbkdf2::encode_phc(b"x", salt, 1000).unwrap();
    assert_eq!(decide(&p, &kind(&pbkdf2)), Decision::Rewrite(Rewrite::PhcArgon2id));

    let django_at = django::encode_argon2(b"x", "abcdefghijklmnopqrstuv", &p.argon2).unwrap();
    assert_eq!(decide(&p, &kind(&django_at)), Decision::Keep);
    let django_weak = django::encode_argon2(b"x", "abcdefghijklmnopqrstuv", &weaker).unwrap();
    assert_eq!(decide(&p, &kind(&django_weak)), Decision::Rewrite(Rewrite::DjangoArgon2));

    let werkzeug_at = werkzeug::encode_scrypt(b"x", "abcdefghijklmnop").unwrap();
    assert_eq!(decide(&p, &kind(&werkzeug_at)), Decision::Keep);
    let werkzeug_pbkdf2 = format!("pbkdf2:sha256:1000$salt${}", "0".repeat(64));
    assert_eq!(decide(&p, &kind(&werkzeug_pbkdf2)), Decision::Rewrite(Rewrite::WerkzeugScrypt));

    for weak_only in ["$1$3azHgidD$SrJPt7B.9rekpmwJwtON31", "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="] {
        assert_eq!(decide(&p, &kind(weak_only)), Decision::WeakOnly);
        assert!(needs_upgrade(&p, weak_only));
        assert_eq!(upgraded_hash(&p, weak_only, "password"), Ok(None));
    }
}

#[test]
fn phc_mode_decisions() {
    let p = PasswordPolicy { upgrade_format: UpgradeFormat::Phc, ..policy() };
    let salt = b"0123456789abcdef";
    let at_target = argon2::encode(b"x", salt, &p.argon2).unwrap();
    assert_eq!(decide(&p, &kind(&at_target)), Decision::Keep);
    let django_at = django::encode_argon2(b"x", "abcdefghijklmnopqrstuv", &p.argon2).unwrap();
    assert_eq!(decide(&p, &kind(&django_at)), Decision::Rewrite(Rewrite::PhcArgon2id));
    let bcrypt14 = bcrypt::encode(b"x", 14, [0; 16], Prefix::TwoB).unwrap();
    assert_eq!(decide(&p, &kind(&bcrypt14)), Decision::Rewrite(Rewrite::PhcArgon2id));
    assert_eq!(decide(&p, &kind("$1$3azHgidD$SrJPt7B.9rekpmwJwtON31")), Decision::Rewrite(Rewrite::PhcArgon2id));

    let bcrypt_preferred = PasswordPolicy { preferred: PreferredAlgorithm::Bcrypt, ..p.clone() };
    assert_eq!(decide(&bcrypt_preferred, &kind(&bcrypt14)), Decision::Keep);
    let pbkdf2_preferred = PasswordPolicy { preferred: PreferredAlgorithm::Pbkdf2Sha256, ..p.clone() };
    let low = pbkdf2::encode_phc(b"x", salt, 1000).unwrap();
    assert_eq!(decide(&pbkdf2_preferred, &kind(&low)), Decision::Rewrite(Rewrite::PhcArgon2id));
    let scrypt_preferred = PasswordPolicy { preferred: PreferredAlgorithm::Scrypt, ..p };
    let small = scrypt::encode_phc(b"x", salt, scrypt::Info { log_n: 4, r: 8, p: 1 }).unwrap();
    assert_eq!(decide(&scrypt_preferred, &kind(&small)), Decision::Rewrite(Rewrite::PhcArgon2id));
    // An argon2id row at the configured parameters is kept whatever the preference.
    assert_eq!(decide(&scrypt_preferred, &kind(&at_target)), Decision::Keep);
}

#[test]
fn skip_list_stops_rewrites_not_weakness() {
    let p = PasswordPolicy { upgrade_skip: vec![UpgradeFamily::Bcrypt], ..fast() };
    let weak = bcrypt::encode(b"x", 4, [0; 16], Prefix::TwoY).unwrap();
    let p = PasswordPolicy { bcrypt_cost: 5, ..p };
    assert!(identify(&weak, &p).unwrap().is_weak(&p));
    assert!(!needs_upgrade(&p, &weak));
    assert_eq!(upgraded_hash(&p, &weak, "x"), Ok(None));
}

#[test]
fn hash_with_every_algorithm_round_trips() {
    let p = fast();
    for algorithm in [PreferredAlgorithm::Argon2id, PreferredAlgorithm::Bcrypt] {
        let h = hash_with(&p, algorithm, "pässword").unwrap();
        assert_eq!(verify(&p, &h, "pässword"), Verdict::Match, "{h}");
        assert_eq!(verify(&p, &h, "password"), Verdict::Mismatch, "{h}");
    }
    // Fixed-cost schemes: scrypt 128 MiB and PBKDF2 600,000 rounds, once each.
    let s = hash_with(&p, PreferredAlgorithm::Scrypt, "pw").unwrap();
    assert!(s.starts_with("$scrypt$ln=17,r=8,p=1$"));
    assert_eq!(verify(&p, &s, "pw"), Verdict::Match);
    let k = hash_with(&p, PreferredAlgorithm::Pbkdf2Sha256, "pw").unwrap();
    assert!(k.starts_with("$pbkdf2-sha256$i=600000,l=32$"));
    assert_eq!(verify(&p, &k, "pw"), Verdict::Match);
    assert!(hash(&p, "pw").unwrap().starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
}

#[test]
fn transform_applies_to_hashing_and_verifying() {
    let p = PasswordPolicy { transform: PasswordTransform::HtmlEscape, ..fast() };
    let h = hash_with(&p, PreferredAlgorithm::Bcrypt, "a<b").unwrap();
    assert_eq!(verify(&p, &h, "a<b"), Verdict::Match);
    assert_eq!(verify(&fast(), &h, "a&lt;b"), Verdict::Match);
}

#[test]
fn dummy_hash_is_preferred_and_unguessable() {
    let p = fast();
    let d = dummy_hash(&p).unwrap();
    assert!(d.starts_with("$argon2id$"));
    assert_ne!(dummy_hash(&p).unwrap(), d);
    assert_eq!(verify(&p, &d, ""), Verdict::Mismatch);
}

#[test]
fn limits_and_normalisation() {
    let p = fast();
    let h = hash(&p, "pw").unwrap();
    assert_eq!(verify(&p, &format!("{h}   "), "pw"), Verdict::Match);
    assert_eq!(census_label(&p, &format!("{h}  ")), "argon2id m=64 t=1 p=1");
    let long = "x".repeat(MAX_PASSWORD_BYTES + 1);
    assert_eq!(verify(&p, &h, &long), Verdict::Mismatch);
    assert_eq!(hash(&p, &long), Err(PasswordError::TooLong { max: MAX_PASSWORD_BYTES }));
    assert_eq!(verify(&p, &"$".repeat(2000), "pw"), Verdict::Unsupported);
    assert_eq!(census_label(&p, "nonsense"), "unknown format");
    assert!(policy().validate().is_ok());
    assert!(PasswordPolicy { bcrypt_cost: 17, ..policy() }.validate().is_err());
    let huge = Argon2Params { memory_kib: 4 << 20, iterations: 1, parallelism: 1 };
    assert!(PasswordPolicy { argon2: huge, ..policy() }.validate().is_err());
    assert!(hash(&PasswordPolicy { argon2: huge, ..policy() }, "pw").is_err());
}

#[test]
fn labels_and_families() {
    let p = policy();
    let cases = [
        ("$1$3azHgidD$SrJPt7B.9rekpmwJwtON31", "md5_crypt", "md5_crypt"),
        ("$P$9IQRaTwmfeRo7ud9Fh4E2PdI0S3r.L0", "phpass", "phpass"),
        ("{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "ldap", "ldap {SHA}"),
        (
            "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
            "sha512_crypt",
            "sha512_crypt (5000 rounds)",
        ),
    ];
    for (stored, family, label) in cases {
        let format = identify(stored, &p).unwrap();
        assert_eq!((format.family_name(), format.label().as_str()), (family, label));
        assert!(format.is_weak(&p));
    }
    let bcrypt10 = bcrypt::encode(b"x", 10, [0; 16], Prefix::TwoY).unwrap();
    assert_eq!(census_label(&p, &bcrypt10), "bcrypt cost 10");
    let django = format!("pbkdf2_sha256$600000$salt${}", "A".repeat(43) + "=");
    assert_eq!(census_label(&p, &django), "django pbkdf2_sha256 (600000 iterations)");
}

#[test]
fn bcrypt_upgrades_of_long_passwords_are_refused() {
    let p = PasswordPolicy { bcrypt_cost: 5, ..fast() };
    // phpass → $2y$: over 72 bytes the new hash would ignore the tail.
    let long = "p".repeat(73);
    let phpass = "$P$9IQRaTwmfeRo7ud9Fh4E2PdI0S3r.L0";
    assert_eq!(upgraded_hash(&p, phpass, &long), Err(PasswordError::TooLongForBcrypt { max: 72 }));
    assert!(upgraded_hash(&p, phpass, &"p".repeat(72)).unwrap().unwrap().starts_with("$2y$05$"));
    // A bcrypt cost raise too.
    let bcrypt4 = bcrypt::encode(long.as_bytes(), 4, [0; 16], Prefix::TwoB).unwrap();
    assert_eq!(upgraded_hash(&p, &bcrypt4, &long), Err(PasswordError::TooLongForBcrypt { max: 72 }));
    // html_escape counts: 20 `&` are 100 bytes once escaped.
    let escaping = PasswordPolicy { transform: PasswordTransform::HtmlEscape, ..p.clone() };
    assert_eq!(upgraded_hash(&escaping, phpass, &"&".repeat(20)), Err(PasswordError::TooLongForBcrypt { max: 72 }));
    // WordPress's $wp$ pre-hashes: not affected.
    let wp = wordpress::encode(&long, 4, [0; 16]).unwrap();
    assert!(upgraded_hash(&p, &wp, &long).unwrap().unwrap().starts_with("$wp$2y$05$"));
}
