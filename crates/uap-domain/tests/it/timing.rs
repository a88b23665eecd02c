//! Refused logins and timing (issue #9 items 2, 14, 15) over fakes: which
//! refusals also verify the dummy hash, the over-budget reason, and the
//! bcrypt upgrade skipped for passwords over 72 bytes.

use futures::executor::block_on;
use secrecy::SecretString;
use uap_domain::auth::{Credentials, LoginError, LoginRequest};
use uap_domain::password::HashUpgrade;
use uap_domain::session::ClientContext;
use uap_ports::AuditEventType;

use crate::fakes::{Settings, World, fast_settings, world};

/// `openssl passwd -1 -salt uapmd5 md5-password`.
const MD5_CRYPT: &str = "$1$uapmd5$fD/T8Xn6Xg2go.ny.QpeR1";
/// phpass 2^8 of "phpass-password".
const PHPASS: &str = "$P$6uapsalt14Nmltx8YM974ZuB4tjvvD1";
/// phpass 2^8 of "L" × 40 + "o" × 40 (80 bytes).
const PHPASS_LONG: &str = "$P$6uaptestsIiFmCHuYHh7pDZBFW9Bcw.";
/// `{SSHA}` of "ssha-password" with salt "saltsalt".
const SSHA: &str = "{SSHA}w3tyjF8HgtqcQ1Amsq3+usmoEdlzYWx0c2FsdA==";
/// phpass at 2^24 iterations (the most verified).
const PHPASS_MAX: &str = "$P$M9IQRaTwmfeRo7ud9Fh4E2PdI0S3r.L";

/// Argon2id costlier than md5-crypt, phpass 2^8 and `{SSHA}`, cheaper than
/// bcrypt cost 4, and still fast.
fn settings() -> Settings {
    fast_settings().auth(|a| a.policy.argon2.memory_kib = 1024)
}

fn login(w: &World, username: &str, password: &str) -> Result<(), LoginError> {
    let request = LoginRequest {
        credentials: Credentials {
            username: Some(username.into()),
            email: None,
            phone: None,
            identifier: None,
            password: SecretString::from(password),
        },
        device_id: None,
        metadata: None,
        captcha_token: None,
        mfa_code: None,
    };
    block_on(w.auth.authenticate(request, &ClientContext::default())).map(|_| ())
}

fn dummy_runs(w: &World, reason: &str) -> u64 {
    w.auth.timing().snapshot().dummy_runs.iter().find(|(r, _)| *r == reason).map_or(0, |(_, n)| *n)
}

#[test]
fn cheap_or_unusable_refusals_also_verify_the_dummy() {
    let settings = settings();
    let w = world(settings.clone());
    let bcrypt4 = uap_domain::password::hash_with(
        settings.policy(),
        uap_domain::password::PreferredAlgorithm::Bcrypt,
        "bcrypt-password",
    )
    .unwrap();
    w.directory.add("1", "md5", MD5_CRYPT, Some(true), &[]);
    w.directory.add("2", "php", PHPASS, Some(true), &[]);
    w.directory.add("3", "ssha", SSHA, Some(true), &[]);
    w.directory.add("4", "odd", "{ROT13}cj", Some(true), &[]);
    w.directory.add("5", "nul", "", Some(true), &[]);
    w.directory.add("6", "off", MD5_CRYPT, Some(false), &[]);
    w.directory.add("7", "bc", &bcrypt4, Some(true), &[]);

    // Successful logins are not padded.
    for (user, password) in [("md5", "md5-password"), ("php", "phpass-password"), ("ssha", "ssha-password")] {
        assert!(login(&w, user, password).is_ok(), "{user}");
    }
    assert!(w.auth.timing().snapshot().dummy_runs.iter().all(|(_, n)| *n == 0));

    for user in ["md5", "php", "ssha"] {
        assert!(matches!(login(&w, user, "wrong"), Err(LoginError::InvalidCredentials)));
    }
    assert_eq!(dummy_runs(&w, "cheaper_format"), 3);
    // Inactive with the right password is a refusal too.
    assert!(login(&w, "off", "md5-password").is_err());
    assert_eq!(dummy_runs(&w, "cheaper_format"), 4);
    assert!(login(&w, "odd", "x").is_err());
    assert_eq!(dummy_runs(&w, "unusable_hash"), 1);
    assert!(login(&w, "nul", "x").is_err());
    assert_eq!(dummy_runs(&w, "no_password"), 1);
    assert!(login(&w, "ghost", "x").is_err());
    assert_eq!(dummy_runs(&w, "unknown_user"), 1);
    // bcrypt cost 4 is costlier than this argon2id: no dummy.
    assert!(login(&w, "bc", "wrong").is_err());
    assert_eq!(dummy_runs(&w, "cheaper_format"), 4);
    let reasons: Vec<_> =
        w.events.of(AuditEventType::FailedLogin).into_iter().filter_map(|e| e.error_message).collect();
    assert_eq!(reasons.iter().filter(|r| *r == "wrong_password").count(), 4);
}

#[test]
fn an_over_budget_row_is_refused_unhashed_with_its_reason() {
    let w = world(settings());
    w.directory.add("1", "max", PHPASS_MAX, Some(true), &[]);
    assert!(matches!(login(&w, "max", &"a".repeat(1024)), Err(LoginError::InvalidCredentials)));
    let failed = w.events.of(AuditEventType::FailedLogin);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].error_message.as_deref(), Some("hash_over_budget"));
    assert_eq!(failed[0].user_id.as_deref(), Some("1"));
    assert_eq!(dummy_runs(&w, "unusable_hash"), 1);
}

#[test]
fn a_phpass_password_over_72_bytes_is_not_rewritten_to_bcrypt() {
    let settings = settings().auth(|a| a.policy.upgrade = HashUpgrade::WriteBack);
    let w = world(settings);
    w.directory.add("1", "long", PHPASS_LONG, Some(true), &[]);
    w.directory.add("2", "short", PHPASS, Some(true), &[]);
    let long = format!("{}{}", "L".repeat(40), "o".repeat(40));
    assert!(login(&w, "long", &long).is_ok());
    assert_eq!(w.directory.hash_of("1").as_deref(), Some(PHPASS_LONG));
    let changes = w.events.of(AuditEventType::PasswordChange);
    assert_eq!(changes.len(), 1);
    assert!(!changes[0].success);
    assert_eq!(changes[0].error_message.as_deref(), Some("password_too_long_for_bcrypt"));
    assert_eq!(changes[0].metadata["from"], "phpass");
    // A short password is still upgraded.
    assert!(login(&w, "short", "phpass-password").is_ok());
    assert!(w.directory.hash_of("2").unwrap().starts_with("$2y$04$"));
}
