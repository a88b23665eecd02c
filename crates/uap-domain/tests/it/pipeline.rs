//! The login pipeline over fakes and a manual clock: rate limiting (atomic,
//! anti-DoS, automatic unlock), IP rules, CAPTCHA, webhook, TOTP MFA, and a
//! custom middleware.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::executor::block_on;
use futures::future::join_all;
use secrecy::SecretString;
use time::Duration;
use uap_domain::auth::{Credentials, Enroller, LoginError, LoginRequest, MfaService};
use uap_domain::config::{RateLimitKeyKind, WebhookEvent};
use uap_domain::memory::MemoryMfaFactorStore;
use uap_domain::mfa::{SecretBox, Totp, TotpSecret};
use uap_domain::password::{self, PreferredAlgorithm};
use uap_domain::pipeline::{
    AfterFailures, Block, CaptchaMiddleware, Decision, IpRulesMiddleware, LoginAttempt, MfaMiddleware, MfaPolicy,
    Middleware, MiddlewareError, PipelineEntry, RateLimitMiddleware, Refusal, WebhookMiddleware, rate_limit_rule,
};
use uap_domain::session::ClientContext;
use uap_ports::{
    AuditEventType, CaptchaError, CaptchaVerdict, CaptchaVerifier, Clock, WebhookAction, WebhookCall, WebhookClient,
    WebhookError,
};

use crate::fakes::{Parts, Settings, World, block_status, fast_settings, world_with};

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

fn from(ip: &str) -> ClientContext {
    ClientContext { ip_address: ip.parse().ok(), user_agent: None }
}

fn login(w: &World, user: &str, password: &str, ip: &str) -> Result<(), LoginError> {
    block_on(w.auth.authenticate(request(user, password), &from(ip))).map(|_| ())
}

fn status(result: Result<(), LoginError>) -> u16 {
    match result {
        Ok(()) => 200,
        Err(LoginError::InvalidCredentials | LoginError::MfaFailed(_) | LoginError::MfaRequired { .. }) => 401,
        Err(LoginError::Blocked(block)) => block_status(&block),
        Err(other) => panic!("unexpected {other:?}"),
    }
}

/// A world with the middlewares `stack` builds over its parts.
fn world_of(settings: Settings, stack: impl FnOnce(&Parts) -> Vec<PipelineEntry>) -> World {
    world_with(settings, |parts| (stack(parts), None))
}

fn rate_limited(parts: &Parts, max: u32, key: RateLimitKeyKind) -> PipelineEntry {
    let middleware = RateLimitMiddleware::new(
        parts.rate_limits.clone(),
        rate_limit_rule(max, 300, 900),
        key,
        parts.clock.clone(),
        parts.audit(),
    );
    PipelineEntry { name: "rate_limit".into(), middleware: Arc::new(middleware) }
}

fn bcrypt(password: &str) -> String {
    password::hash_with(fast_settings().policy(), PreferredAlgorithm::Bcrypt, password).unwrap()
}

#[test]
fn rate_limit_blocks_unlocks_and_resets() {
    let w = world_of(fast_settings(), |p| vec![rate_limited(p, 3, RateLimitKeyKind::IpIdentifier)]);
    w.directory.add("1", "ann", &bcrypt("pw"), Some(true), &[]);
    for _ in 0..3 {
        assert_eq!(status(login(&w, "ann", "wrong", "192.0.2.1")), 401);
    }
    match login(&w, "ann", "pw", "192.0.2.1") {
        Err(LoginError::Blocked(Block { refusal: Refusal::RateLimited { retry_after: 900 }, .. })) => {}
        other => panic!("expected 429, got {other:?}"),
    }
    assert_eq!(w.events.of(AuditEventType::AccountLocked).len(), 1);
    assert_eq!(status(login(&w, "ann", "pw", "192.0.2.1")), 429, "still blocked, even with the right password");
    assert_eq!(w.events.of(AuditEventType::AccountLocked).len(), 1, "audited once per block");

    // Anti-DoS: the same account from another address is not locked.
    assert_eq!(status(login(&w, "ann", "pw", "198.51.100.7")), 200);

    // Automatic unlock.
    w.clock.advance(Duration::seconds(901));
    assert_eq!(status(login(&w, "ann", "pw", "192.0.2.1")), 200);
    // Success reset the counter: three more wrong attempts are answered normally.
    for _ in 0..3 {
        assert_eq!(status(login(&w, "ann", "wrong", "192.0.2.1")), 401);
    }
    // Unknown identifiers are counted too.
    for _ in 0..3 {
        assert_eq!(status(login(&w, "ghost", "x", "192.0.2.1")), 401);
    }
    assert_eq!(status(login(&w, "ghost", "x", "192.0.2.1")), 429);
}

#[test]
fn concurrent_guesses_cannot_race_past_the_limit() {
    let w = world_of(fast_settings(), |p| vec![rate_limited(p, 5, RateLimitKeyKind::Identifier)]);
    w.directory.add("1", "ann", &bcrypt("pw"), Some(true), &[]);
    let guesses = (0..100).map(|i| {
        let client = from(&format!("10.0.{}.{}", i / 200, i % 200 + 1));
        let auth = &w.auth;
        async move { auth.authenticate(request("ann", "wrong"), &client).await.map(|_| ()) }
    });
    let statuses: Vec<u16> = block_on(join_all(guesses)).into_iter().map(status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 5, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 95);
    let verified = w
        .events
        .of(AuditEventType::FailedLogin)
        .into_iter()
        .filter(|e| e.error_message.as_deref() == Some("wrong_password"))
        .count();
    assert_eq!(verified, 5, "only 5 guesses reached password verification");
}

#[test]
fn ip_rules_refuse_before_any_lookup() {
    let w = world_of(fast_settings(), |_| {
        vec![PipelineEntry {
            name: "ip_rules".into(),
            middleware: Arc::new(IpRulesMiddleware::new(vec![], vec!["192.0.2.0/24".parse().unwrap()])),
        }]
    });
    w.directory.add("1", "ann", &bcrypt("pw"), Some(true), &[]);
    assert_eq!(status(login(&w, "ann", "pw", "192.0.2.9")), 403);
    assert_eq!(status(login(&w, "ann", "pw", "198.51.100.1")), 200);
    let failed = w.events.of(AuditEventType::FailedLogin);
    assert_eq!(failed[0].error_message.as_deref(), Some("ip_denied"));
}

struct FakeCaptcha(Mutex<Vec<String>>);

#[async_trait]
impl CaptchaVerifier for FakeCaptcha {
    async fn verify(&self, token: &str, _ip: Option<&str>) -> Result<CaptchaVerdict, CaptchaError> {
        self.0.lock().unwrap().push(token.to_owned());
        match token {
            "good" => Ok(CaptchaVerdict { success: true, score: Some(0.9), error_codes: vec![] }),
            "bot" => Ok(CaptchaVerdict { success: true, score: Some(0.1), error_codes: vec![] }),
            "down" => Err(CaptchaError::Unavailable("timeout".into())),
            _ => Ok(CaptchaVerdict { success: false, score: None, error_codes: vec!["invalid-input-response".into()] }),
        }
    }
}

#[test]
fn captcha_after_failures_and_fail_closed() {
    let captcha = Arc::new(FakeCaptcha(Mutex::new(vec![])));
    let verifier = captcha.clone();
    let w = world_of(fast_settings(), move |parts| {
        let after = AfterFailures {
            count: 2,
            store: parts.rate_limits.clone(),
            rule: rate_limit_rule(10, 300, 900),
            key: RateLimitKeyKind::IpIdentifier,
            clock: parts.clock.clone(),
        };
        vec![
            rate_limited(parts, 10, RateLimitKeyKind::IpIdentifier),
            PipelineEntry {
                name: "captcha".into(),
                middleware: Arc::new(CaptchaMiddleware::new(verifier, Some(0.5), Some(after))),
            },
        ]
    });
    w.directory.add("1", "ann", &bcrypt("pw"), Some(true), &[]);
    let ip = "192.0.2.1";
    // The captcha counts failed logins itself: from the third attempt (two
    // failures) on, a token is demanded.
    assert_eq!(status(login(&w, "ann", "wrong", ip)), 401);
    assert_eq!(status(login(&w, "ann", "wrong", ip)), 401);
    assert_eq!(status(login(&w, "ann", "pw", ip)), 403, "token missing");
    let with = |token: &str| {
        let mut r = request("ann", "pw");
        r.captcha_token = Some(token.into());
        block_on(w.auth.authenticate(r, &from(ip))).map(|_| ())
    };
    assert_eq!(status(with("bad")), 403);
    assert_eq!(status(with("bot")), 403, "score under threshold");
    assert_eq!(status(with("down")), 403, "provider down: fail closed");
    assert_eq!(status(with("good")), 200);
    assert_eq!(captcha.0.lock().unwrap().len(), 4);
    assert_eq!(status(login(&w, "ann", "pw", ip)), 200, "the success reset the count");
}

struct FakeHost(Mutex<Vec<serde_json::Value>>);

#[async_trait]
impl WebhookClient for FakeHost {
    async fn call(&self, call: WebhookCall<'_>) -> Result<WebhookAction, WebhookError> {
        self.0.lock().unwrap().push(call.body.clone());
        match call.body["identifier"].as_str() {
            Some("banned") => Ok(WebhookAction::Block { error: Some("Account suspended".into()) }),
            Some("offline") => Err(WebhookError::Unavailable("refused".into())),
            _ => Ok(WebhookAction::Continue),
        }
    }
}

#[test]
fn webhook_decides_and_never_sees_the_password() {
    let host = Arc::new(FakeHost(Mutex::new(vec![])));
    let client = host.clone();
    let w = world_of(fast_settings(), move |_| {
        let events = vec![WebhookEvent::Pre, WebhookEvent::Post, WebhookEvent::Failure];
        let hook = WebhookMiddleware::new(
            client,
            "http://host/hook".into(),
            events,
            std::time::Duration::from_secs(1),
            false,
            None,
        );
        vec![PipelineEntry { name: "webhook".into(), middleware: Arc::new(hook) }]
    });
    for user in ["ann", "banned", "offline"] {
        w.directory.add(user, user, &bcrypt("pw"), Some(true), &[]);
    }
    assert_eq!(status(login(&w, "ann", "pw", "192.0.2.1")), 200);
    match login(&w, "banned", "pw", "192.0.2.1") {
        Err(LoginError::Blocked(block)) => {
            assert_eq!((block_status(&block), block.message.as_str()), (403, "Account suspended"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(status(login(&w, "offline", "pw", "192.0.2.1")), 403, "fail closed");
    assert_eq!(status(login(&w, "ann", "Tr0ub4dor", "192.0.2.1")), 401);
    let bodies = host.0.lock().unwrap().clone();
    let events: Vec<&str> = bodies.iter().map(|b| b["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["pre", "post", "pre", "failure", "pre", "failure", "pre", "failure"]);
    let text = serde_json::to_string(&bodies).unwrap();
    assert!(!text.contains("\"pw\"") && !text.contains("Tr0ub4dor"), "{text}");
    assert_eq!(bodies[1]["user_id"], "ann");
}

/// A custom middleware as an embedding program would write it.
struct NoRobots;

#[async_trait]
impl Middleware for NoRobots {
    async fn pre_authenticate(&self, attempt: &LoginAttempt) -> Result<Decision, MiddlewareError> {
        if attempt.identifier.ends_with("-bot") {
            return Ok(Decision::Block(Block::forbidden("No robots", "robot")));
        }
        Ok(Decision::Continue)
    }
}

#[test]
fn custom_middleware_runs_in_order() {
    let w =
        world_of(fast_settings(), |_| vec![PipelineEntry { name: "no_robots".into(), middleware: Arc::new(NoRobots) }]);
    w.directory.add("1", "ann-bot", &bcrypt("pw"), Some(true), &[]);
    match login(&w, "ann-bot", "pw", "192.0.2.1") {
        Err(LoginError::Blocked(block)) => assert_eq!(block.message, "No robots"),
        other => panic!("{other:?}"),
    }
}

fn mfa_world() -> (World, Arc<MfaService>) {
    mfa_world_requiring(&[])
}

fn mfa_world_requiring(roles: &[&str]) -> (World, Arc<MfaService>) {
    let policy = MfaPolicy { required_roles: roles.iter().map(|r| (*r).to_owned()).collect() };
    let service = std::cell::RefCell::new(None);
    let w = world_with(fast_settings(), |parts| {
        let svc = Arc::new(MfaService::new(
            Arc::new(MemoryMfaFactorStore::new()),
            SecretBox::from_key([7; 32]),
            "UAP test".into(),
            parts.rate_limits.clone(),
            rate_limit_rule(3, 300, 900),
            parts.clock.clone(),
            parts.ids.clone(),
        ));
        *service.borrow_mut() = Some(svc.clone());
        let mw = MfaMiddleware::new(svc.clone(), policy);
        (vec![PipelineEntry { name: "mfa".into(), middleware: Arc::new(mw) }], Some(svc))
    });
    let svc = service.into_inner().unwrap();
    (w, svc)
}

fn secret_of(uri: &str) -> TotpSecret {
    let b32 = uri.split("secret=").nth(1).unwrap().split('&').next().unwrap();
    TotpSecret::from_bytes(data_encoding::BASE32_NOPAD.decode(b32.as_bytes()).unwrap()).unwrap()
}

#[test]
fn totp_enroll_confirm_challenge_and_verify() {
    let (w, mfa) = mfa_world();
    w.directory.add("1", "ann", &bcrypt("pw"), Some(true), &[]);
    let totp = Totp::default();
    let code_at =
        |secret: &TotpSecret, clock: &dyn Clock| totp.code_at_step(secret, totp.step_at(clock.now().unix_timestamp()));

    // Not enrolled yet: password alone logs in.
    assert_eq!(status(login(&w, "ann", "pw", "192.0.2.1")), 200);
    let enrollment = block_on(mfa.enroll("1", "ann@x")).unwrap();
    assert!(enrollment.otpauth_uri.starts_with("otpauth://totp/"));
    let secret = secret_of(&enrollment.otpauth_uri);
    assert_eq!(status(login(&w, "ann", "pw", "192.0.2.1")), 200, "pending factor is not active");
    assert!(block_on(mfa.confirm("1", "000000")).is_err());
    block_on(mfa.confirm("1", &code_at(&secret, w.clock.as_ref()))).unwrap();

    // Now the password alone gives a challenge with a ticket.
    w.clock.advance(Duration::seconds(30));
    let ticket = match block_on(w.auth.authenticate(request("ann", "pw"), &from("192.0.2.1"))) {
        Err(LoginError::MfaRequired { mfa_token }) => mfa_token,
        other => panic!("expected MFA required, got {other:?}"),
    };
    assert!(
        block_on(w.auth.sessions().validate(&ticket, &ClientContext::default())).is_err(),
        "a ticket is no session"
    );
    let code = code_at(&secret, w.clock.as_ref());
    let ok = block_on(w.auth.complete_mfa(&ticket, &code, &from("192.0.2.1"))).unwrap();
    assert_eq!(ok.user_id, "1");
    // The same code again (replay) and the same ticket again are refused.
    assert!(matches!(block_on(w.auth.complete_mfa(&ticket, &code, &from("192.0.2.1"))), Err(LoginError::MfaFailed(_))));
    w.clock.advance(Duration::seconds(30));
    let next = code_at(&secret, w.clock.as_ref());
    assert!(
        matches!(block_on(w.auth.complete_mfa(&ticket, &next, &from("192.0.2.1"))), Err(LoginError::MfaFailed(m)) if m.contains("already used"))
    );

    // One step: mfa_code in the login request.
    w.clock.advance(Duration::seconds(30));
    let mut one_step = request("ann", "pw");
    one_step.mfa_code = Some(code_at(&secret, w.clock.as_ref()));
    assert!(block_on(w.auth.authenticate(one_step, &from("192.0.2.1"))).is_ok());

    // Wrong codes have their own counter: 3 allowed, then 429.
    for _ in 0..3 {
        let mut wrong = request("ann", "pw");
        wrong.mfa_code = Some("000000".into());
        assert_eq!(status(block_on(w.auth.authenticate(wrong, &from("192.0.2.1"))).map(|_| ())), 401);
    }
    let mut wrong = request("ann", "pw");
    wrong.mfa_code = Some("000000".into());
    assert_eq!(status(block_on(w.auth.authenticate(wrong, &from("192.0.2.1"))).map(|_| ())), 429);

    // Expired tickets are refused.
    w.clock.advance(Duration::seconds(1000));
    let ticket = match block_on(w.auth.authenticate(request("ann", "pw"), &from("192.0.2.1"))) {
        Err(LoginError::MfaRequired { mfa_token }) => mfa_token,
        other => panic!("{other:?}"),
    };
    w.clock.advance(Duration::seconds(301));
    let code = code_at(&secret, w.clock.as_ref());
    assert!(matches!(block_on(w.auth.complete_mfa(&ticket, &code, &from("192.0.2.1"))), Err(LoginError::MfaFailed(_))));
}

#[test]
fn a_required_role_enrolls_through_its_enrollment_token_before_any_session() {
    let (w, _mfa) = mfa_world_requiring(&["Admin"]);
    w.directory.add("1", "ann", &bcrypt("pw"), Some(true), &["admin"]);
    w.directory.add("2", "bob", &bcrypt("pw"), Some(true), &["user"]);
    let client = from("192.0.2.1");
    assert_eq!(status(login(&w, "bob", "pw", "192.0.2.1")), 200, "not a required role");

    let token = match block_on(w.auth.authenticate(request("ann", "pw"), &client)) {
        Err(LoginError::MfaEnrollmentRequired { enrollment_token }) => enrollment_token,
        other => panic!("expected enrollment required, got {other:?}"),
    };
    assert!(block_on(w.auth.sessions().validate(&token, &client)).is_err(), "no session");
    assert!(matches!(block_on(w.auth.complete_mfa(&token, "000000", &client)), Err(LoginError::MfaFailed(_))));

    let enroller = block_on(w.auth.enroller(Some(&token), None, &client)).unwrap();
    assert!(matches!(&enroller, Enroller::Login(pending) if pending.user_id == "1"));
    assert!(matches!(
        block_on(w.auth.enroll_totp(&enroller, SecretString::from("nope"), &client)),
        Err(LoginError::InvalidCredentials)
    ));
    let enrollment = block_on(w.auth.enroll_totp(&enroller, SecretString::from("pw"), &client)).unwrap();
    let secret = secret_of(&enrollment.otpauth_uri);
    let totp = Totp::default();
    let code = totp.code_at_step(&secret, totp.step_at(w.clock.now().unix_timestamp()));
    let login = block_on(w.auth.confirm_totp(enroller, &code, &client)).unwrap().expect("the held-back login");
    assert_eq!(login.user_id, "1");
    assert!(
        matches!(block_on(w.auth.enroller(Some(&token), None, &client)), Err(LoginError::MfaFailed(m)) if m.contains("already used")),
        "spent"
    );
    assert!(block_on(w.auth.sessions().validate(&login.session.token, &client)).is_ok());

    // Now a code is due; the mfa_token opens no enrollment.
    let mfa_token = match block_on(w.auth.authenticate(request("ann", "pw"), &client)) {
        Err(LoginError::MfaRequired { mfa_token }) => mfa_token,
        other => panic!("expected MFA required, got {other:?}"),
    };
    assert!(block_on(w.auth.enroller(Some(&mfa_token), None, &client)).is_err());
    assert!(block_on(w.auth.enroller(None, Some(&mfa_token), &client)).is_err());

    // An enrollment token expires after 10 minutes.
    w.directory.add("3", "cy", &bcrypt("pw"), Some(true), &["admin"]);
    let token = match block_on(w.auth.authenticate(request("cy", "pw"), &client)) {
        Err(LoginError::MfaEnrollmentRequired { enrollment_token }) => enrollment_token,
        other => panic!("{other:?}"),
    };
    w.clock.advance(Duration::seconds(601));
    assert!(block_on(w.auth.enroller(Some(&token), None, &client)).is_err());
    let failed = w.events.of(AuditEventType::FailedLogin);
    let wrong = failed.iter().filter(|e| e.error_message.as_deref() == Some("mfa_enroll_wrong_password")).count();
    assert_eq!(wrong, 1);
    assert_eq!(w.events.of(AuditEventType::MfaEnrolled).len(), 2, "started, confirmed");
}
