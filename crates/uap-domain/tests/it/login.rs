//! The login use case over fakes.

use futures::executor::block_on;
use secrecy::SecretString;
use serde_json::json;
use time::Duration;
use uap_domain::auth::{Credentials, Dependency, LoginError, LoginRequest};
use uap_domain::password::{self, HashUpgrade, PreferredAlgorithm};
use uap_domain::session::ClientContext;
use uap_ports::AuditEventType;

use crate::fakes::{Settings, T0, fast_settings, world};

fn request(username: &str, password: &str) -> LoginRequest {
    LoginRequest {
        credentials: Credentials {
            username: Some(username.into()),
            email: None,
            phone: None,
            identifier: None,
            password: SecretString::from(password),
        },
        device_id: Some("laptop".into()),
        metadata: Some(json!({"app": "test"})),
        captcha_token: None,
        mfa_code: None,
    }
}

fn bcrypt(settings: &Settings, password: &str) -> String {
    password::hash_with(settings.policy(), PreferredAlgorithm::Bcrypt, password).unwrap()
}

#[test]
fn credential_failures_are_one_answer_with_the_real_reason_audited() {
    let settings = fast_settings();
    let w = world(settings.clone());
    w.directory.add("1", "ann", &bcrypt(&settings, "pw"), Some(true), &[]);
    w.directory.add("2", "off", &bcrypt(&settings, "pw"), Some(false), &[]);
    w.directory.add("3", "odd", "{ROT13}cj", Some(true), &[]);
    w.directory.add("4", "nul", "", Some(true), &[]);
    let client = ClientContext { ip_address: "192.0.2.1".parse().ok(), user_agent: Some("ua".into()) };
    for (user, pw) in [("ghost", "pw"), ("ann", "wrong"), ("off", "pw"), ("odd", "pw"), ("nul", "pw")] {
        let result = block_on(w.auth.authenticate(request(user, pw), &client));
        assert!(matches!(result, Err(LoginError::InvalidCredentials)), "{user}: {result:?}");
    }
    let reasons: Vec<Option<String>> =
        w.events.of(AuditEventType::FailedLogin).into_iter().map(|e| e.error_message).collect();
    let expected = ["unknown_user", "wrong_password", "inactive", "unsupported_hash_format", "no_password"];
    assert_eq!(reasons, expected.map(|r| Some(r.to_owned())));
    let failed = w.events.of(AuditEventType::FailedLogin);
    assert_eq!(failed[0].user_id, None);
    assert_eq!(failed[1].user_id.as_deref(), Some("1"));
    assert_eq!(failed[1].ip_address.as_deref(), Some("192.0.2.1"));
    assert!(w.store.is_empty());
}

#[test]
fn success_filters_user_data_and_uses_the_role_duration() {
    let settings = fast_settings();
    let w = world(settings.clone());
    w.directory.add("7", "ann", &bcrypt(&settings, "pw"), None, &["admin"]);
    let ok = block_on(w.auth.authenticate(request("ann", "pw"), &ClientContext::default())).unwrap();
    assert_eq!(ok.user_id, "7");
    assert_eq!(ok.session.session_id, "00000000-0000-4000-8000-000000000001", "ids come from the port");
    assert_eq!(ok.session.expires_at, T0 + Duration::seconds(7200));
    assert_eq!(
        *ok.session.user_data,
        json!({"id": "7", "username": "ann", "email": "ann@x", "roles": ["admin"]}),
        "api_token is secret-looking and never returned"
    );
    assert!(ok.session.refresh_token.is_some());
    let login = w.events.of(AuditEventType::Login);
    assert_eq!(login.len(), 1);
    assert_eq!(login[0].session_id.as_deref(), Some(ok.session.session_id.as_str()));
    assert_eq!(login[0].metadata["device_id"], "laptop");
}

#[test]
fn directory_outage_is_not_a_credential_failure() {
    let w = world(fast_settings());
    *w.directory.down.lock().unwrap() = true;
    let result = block_on(w.auth.authenticate(request("ann", "pw"), &ClientContext::default()));
    assert!(matches!(result, Err(LoginError::Unavailable { dependency: Dependency::HostDirectory, .. })), "{result:?}");
    assert!(w.events.of(AuditEventType::FailedLogin).is_empty());
}

#[test]
fn write_back_upgrades_a_weak_hash_once() {
    let settings = fast_settings().auth(|a| a.policy.upgrade = HashUpgrade::WriteBack);
    let weak = bcrypt(&settings, "pw"); // cost 4
    let settings = settings.auth(|a| a.policy.bcrypt_cost = 5);
    let w = world(settings);
    w.directory.add("1", "ann", &weak, Some(true), &[]);
    block_on(w.auth.authenticate(request("ann", "pw"), &ClientContext::default())).unwrap();
    let upgraded = w.directory.hash_of("1").unwrap();
    assert!(upgraded.starts_with("$2b$05$") || upgraded.starts_with(&weak[..4]), "{upgraded}");
    assert_ne!(upgraded, weak);
    let change = w.events.of(AuditEventType::PasswordChange);
    assert_eq!(change.len(), 1);
    assert!(change[0].success);
    // Logging in again verifies the new hash and writes nothing more.
    block_on(w.auth.authenticate(request("ann", "pw"), &ClientContext::default())).unwrap();
    assert_eq!(w.directory.hash_of("1").unwrap(), upgraded);
    assert_eq!(w.events.of(AuditEventType::PasswordChange).len(), 1);
}

#[test]
fn report_mode_records_but_never_writes() {
    let settings = fast_settings();
    let weak = "$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/"; // md5_crypt("password")
    let w = world(settings);
    w.directory.add("1", "ann", weak, Some(true), &[]);
    block_on(w.auth.authenticate(request("ann", "password"), &ClientContext::default())).unwrap();
    assert_eq!(w.directory.hash_of("1").unwrap(), weak);
    let login = w.events.of(AuditEventType::Login);
    assert_eq!(login[0].metadata["hash_upgrade_recommended"], "md5_crypt");
    assert!(w.events.of(AuditEventType::PasswordChange).is_empty());
}
