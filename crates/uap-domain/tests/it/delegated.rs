//! A host that verifies passwords itself (delegated mode), and lookups
//! completed after the password check (a host API's roles route).

use futures::executor::block_on;
use secrecy::SecretString;
use serde_json::json;
use time::Duration;
use uap_domain::auth::{Credentials, LoginError, LoginRequest};
use uap_domain::password::{self, PreferredAlgorithm};
use uap_domain::session::{ClientContext, Rejection, SessionError};
use uap_ports::{AuditEventType, SessionStore};

use crate::fakes::{Settings, T0, World, fast_settings, world};

fn request(username: &str, password: &str) -> LoginRequest {
    LoginRequest {
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
    }
}

fn delegated() -> (Settings, World) {
    let settings = Settings { delegated: true, ..fast_settings() };
    let w = world(settings.clone());
    // No stored hash: the host keeps the passwords.
    w.directory.add("1", "ann", "", Some(true), &["admin"]);
    w.directory.add("2", "off", "", Some(false), &[]);
    for (id, pw) in [("1", "ann-pw"), ("2", "off-pw")] {
        w.directory.passwords.lock().unwrap().insert(id.into(), pw.into());
    }
    (settings, w)
}

#[test]
fn the_host_decides_and_refusals_are_the_uniform_answer() {
    let (_, w) = delegated();
    let client = ClientContext::default();
    let ok = block_on(w.auth.authenticate(request("ann", "ann-pw"), &client)).unwrap();
    assert_eq!(ok.user_id, "1");
    assert_eq!(*ok.session.user_data, json!({"id": "1", "username": "ann", "email": "ann@x", "roles": ["admin"]}));
    assert_eq!(ok.session.expires_at - T0, Duration::seconds(7200), "the role's duration");
    let record = block_on(w.store.get(&ok.session.session_id)).unwrap().unwrap();
    assert_eq!(record.credential_fingerprint, None, "no hash to fingerprint");

    for (user, pw) in [("ann", "wrong"), ("ghost", "ann-pw"), ("off", "off-pw")] {
        let result = block_on(w.auth.authenticate(request(user, pw), &client));
        assert!(matches!(result, Err(LoginError::InvalidCredentials)), "{user}: {result:?}");
    }
    let failed = w.events.of(AuditEventType::FailedLogin);
    let reasons: Vec<_> = failed.iter().map(|e| (e.error_message.as_deref(), e.user_id.as_deref())).collect();
    assert_eq!(
        reasons,
        [(Some("delegated_refused"), None), (Some("delegated_refused"), None), (Some("inactive"), Some("2"))]
    );
    assert_eq!(w.directory.verifications.lock().unwrap().len(), 4, "every check went to the host");
    assert!(w.events.of(AuditEventType::PasswordChange).is_empty(), "never an upgrade");
}

#[test]
fn a_delegated_session_refreshes_without_a_hash_until_the_user_is_disabled() {
    let (_, w) = delegated();
    let client = ClientContext::default();
    let ok = block_on(w.auth.authenticate(request("ann", "ann-pw"), &client)).unwrap();
    let next = block_on(w.auth.refresh_with_refresh_token(&ok.session.refresh_token.unwrap(), &client)).unwrap();
    assert_eq!(next.user_data["roles"], json!(["admin"]));
    w.directory.users.lock().unwrap().iter_mut().find(|u| u.id == "1").unwrap().active = Some(false);
    match block_on(w.auth.refresh_with_refresh_token(&next.refresh_token.unwrap(), &client)) {
        Err(SessionError::Rejected(Rejection::HostUserChanged)) => {}
        other => panic!("expected HostUserChanged, got {other:?}"),
    }
}

#[test]
fn deferred_roles_are_fetched_after_the_password_check_and_on_refresh() {
    let settings = fast_settings();
    let w = world(settings.clone());
    let hash = password::hash_with(settings.policy(), PreferredAlgorithm::Bcrypt, "pw").unwrap();
    w.directory.add("7", "bea", &hash, Some(true), &[]);
    w.directory.deferred_roles.lock().unwrap().insert("7".into(), vec!["admin".into()]);
    let client = ClientContext::default();
    let ok = block_on(w.auth.authenticate(request("bea", "pw"), &client)).unwrap();
    assert_eq!(ok.session.user_data["roles"], json!(["admin"]));
    assert_eq!(ok.session.expires_at - T0, Duration::seconds(7200), "admin's duration");
    w.directory.deferred_roles.lock().unwrap().insert("7".into(), vec!["guest".into()]);
    let next = block_on(w.auth.refresh_with_refresh_token(&ok.session.refresh_token.unwrap(), &client)).unwrap();
    assert_eq!(next.user_data["roles"], json!(["guest"]), "the refresh re-reads the roles route");
}
