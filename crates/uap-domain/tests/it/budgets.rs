//! Issue #9 budgets over fakes: per resolved user (every spelling that
//! reaches one row shares a budget), per address (failures across
//! identifiers, IPv6 per /64), what a success resets, and the CAPTCHA's own
//! failure count without `rate_limit`.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::executor::block_on;
use secrecy::SecretString;
use uap_domain::auth::{Credentials, LoginError, LoginRequest};
use uap_domain::config::RateLimitKeyKind;
use uap_domain::password::{self, PreferredAlgorithm};
use uap_domain::pipeline::{
    AddressBudget, AfterFailures, Block, CaptchaMiddleware, PipelineEntry, RateLimitMiddleware, Refusal, address_key,
    rate_limit_rule,
};
use uap_domain::session::ClientContext;
use uap_ports::{CaptchaError, CaptchaVerdict, CaptchaVerifier};

use crate::fakes::{Parts, Settings, World, block_status, fast_settings, world_with};

fn login_as(w: &World, user: &str, password: &str, ip: &str, captcha: Option<&str>) -> Result<(), LoginError> {
    let request = LoginRequest {
        credentials: Credentials {
            username: Some(user.into()),
            email: None,
            phone: None,
            identifier: None,
            password: SecretString::from(password),
        },
        device_id: None,
        metadata: None,
        captcha_token: captcha.map(str::to_owned),
        mfa_code: None,
    };
    let client = ClientContext { ip_address: ip.parse().ok(), user_agent: None };
    block_on(w.auth.authenticate(request, &client)).map(|_| ())
}

fn login(w: &World, user: &str, password: &str, ip: &str) -> u16 {
    status(login_as(w, user, password, ip, None))
}

fn status(result: Result<(), LoginError>) -> u16 {
    match result {
        Ok(()) => 200,
        Err(LoginError::InvalidCredentials) => 401,
        Err(LoginError::Blocked(block)) => block_status(&block),
        Err(other) => panic!("unexpected {other:?}"),
    }
}

fn limiter(parts: &Parts, max: u32, key: RateLimitKeyKind, address: Option<AddressBudget>) -> PipelineEntry {
    let mut middleware = RateLimitMiddleware::new(
        parts.rate_limits.clone(),
        rate_limit_rule(max, 300, 900),
        key,
        parts.clock.clone(),
        parts.audit(),
    );
    if let Some(budget) = address {
        middleware = middleware.with_address_budget(budget);
    }
    PipelineEntry { name: "rate_limit".into(), middleware: Arc::new(middleware) }
}

fn world(settings: Settings, stack: impl FnOnce(&Parts) -> Vec<PipelineEntry>) -> World {
    let w = world_with(settings, |parts| (stack(parts), None));
    let hash = password::hash_with(fast_settings().policy(), PreferredAlgorithm::Bcrypt, "pw").unwrap();
    w.directory.add("1", "ann", &hash, Some(true), &[]);
    w.directory.add("2", "mal", &hash, Some(true), &[]);
    w
}

/// `ann` and `ann@x` both find row 1.
fn two_spellings() -> Settings {
    fast_settings().auth(|a| a.identifier_fields = vec!["username".into(), "email".into()])
}

#[test]
fn every_spelling_of_one_user_shares_one_budget() {
    for key in [RateLimitKeyKind::IpIdentifier, RateLimitKeyKind::Identifier] {
        let w = world(two_spellings(), |p| vec![limiter(p, 3, key, None)]);
        let ip = "192.0.2.1";
        assert_eq!(login(&w, "ann", "wrong", ip), 401);
        assert_eq!(login(&w, "ann", "wrong", ip), 401);
        assert_eq!(login(&w, "ann@x", "wrong", ip), 401);
        // `ann@x` has had one guess of its own, but row 1 has had three.
        assert_eq!(login(&w, "ann@x", "wrong", ip), 429, "{key:?}");
        match login_as(&w, "ann@x", "pw", ip, None) {
            Err(LoginError::Blocked(Block { refusal: Refusal::RateLimited { retry_after: 900 }, .. })) => {}
            other => panic!("the right password under another spelling is blocked too: {other:?}"),
        }
    }
    // With `ip_identifier` another address still has its own budget for the row.
    let w = world(two_spellings(), |p| vec![limiter(p, 3, RateLimitKeyKind::IpIdentifier, None)]);
    for spelling in ["ann", "ann@x", "ann"] {
        assert_eq!(login(&w, spelling, "wrong", "192.0.2.1"), 401);
    }
    assert_eq!(login(&w, "ann@x", "pw", "192.0.2.1"), 429);
    assert_eq!(login(&w, "ann@x", "pw", "198.51.100.7"), 200);
}

#[test]
fn a_success_resets_the_identifier_and_the_user_but_never_the_address() {
    // key = "ip": the attacker's own login must not clear the address.
    let w = world(fast_settings(), |p| vec![limiter(p, 3, RateLimitKeyKind::Ip, None)]);
    let ip = "192.0.2.1";
    assert_eq!(login(&w, "ann", "wrong", ip), 401);
    assert_eq!(login(&w, "ann", "wrong", ip), 401);
    assert_eq!(login(&w, "mal", "pw", ip), 200, "the attacker's own account");
    assert_eq!(login(&w, "ann", "wrong", ip), 429, "the address keeps its count");

    // ip_identifier: a success clears both the spelling's and the row's count.
    let w = world(two_spellings(), |p| vec![limiter(p, 3, RateLimitKeyKind::IpIdentifier, None)]);
    assert_eq!(login(&w, "ann", "wrong", ip), 401);
    assert_eq!(login(&w, "ann@x", "wrong", ip), 401);
    assert_eq!(login(&w, "ann", "pw", ip), 200);
    // Row 1 had three attempts (the success included): not reset, the next
    // guess would be refused.
    for _ in 0..3 {
        assert_eq!(login(&w, "ann", "wrong", ip), 401, "row 1 starts afresh");
    }
}

#[test]
fn the_address_budget_counts_failures_across_identifiers() {
    let budget = AddressBudget { max_failures: 4, ipv6_prefix: 64 };
    let w = world(fast_settings(), |p| vec![limiter(p, 3, RateLimitKeyKind::IpIdentifier, Some(budget))]);
    let ip = "192.0.2.1";
    for n in 0..3 {
        assert_eq!(login(&w, &format!("ghost{n}"), "x", ip), 401);
    }
    assert_eq!(login(&w, "ann", "pw", ip), 200, "successes pass and do not reset the address");
    assert_eq!(login(&w, "ghost3", "x", ip), 401, "the fourth failure");
    match login_as(&w, "ann", "pw", ip, None) {
        Err(LoginError::Blocked(Block { refusal: Refusal::RateLimited { retry_after: 900 }, reason, .. })) => {
            assert_eq!(reason, "address_rate_limited");
        }
        other => panic!("expected the address to be blocked, got {other:?}"),
    }
    assert_eq!(login(&w, "ann", "pw", "198.51.100.7"), 200, "other addresses are unaffected");

    // Refusals by the limiter itself cost nothing and are not counted: a
    // locked identifier does not lock its address.
    let w = world(fast_settings(), |p| vec![limiter(p, 2, RateLimitKeyKind::IpIdentifier, Some(budget))]);
    let ip = "203.0.113.5";
    let statuses: Vec<u16> = (0..10).map(|_| login(&w, "ann", "wrong", ip)).collect();
    assert_eq!(statuses, [401, 401, 429, 429, 429, 429, 429, 429, 429, 429]);
    assert_eq!(login(&w, "mal", "pw", ip), 200, "two failures of four spent");

    // IPv6: one /64 is one address.
    for n in 0..4 {
        assert_eq!(login(&w, &format!("v6-{n}"), "x", &format!("2001:db8:0:1::{}", n + 1)), 401);
    }
    assert_eq!(login(&w, "ann", "pw", "2001:db8:0:1::ffff"), 429);
    assert_eq!(login(&w, "ann", "pw", "2001:db8:0:2::1"), 200, "the next /64");
}

#[test]
fn address_keys_are_normalised() {
    let ip = |s: &str| Some(s.parse().unwrap());
    assert_eq!(address_key(ip("192.0.2.1"), 64), "192.0.2.1");
    assert_eq!(address_key(ip("::ffff:192.0.2.1"), 64), "192.0.2.1");
    assert_eq!(address_key(ip("2001:db8:1:2:3:4:5:6"), 64), "2001:db8:1:2::/64");
    assert_eq!(address_key(ip("2001:db8:1:2:3:4:5:6"), 48), "2001:db8:1::/48");
    assert_eq!(address_key(ip("2001:db8:1:2:3:4:5:6"), 128), "2001:db8:1:2:3:4:5:6");
    assert_eq!(address_key(ip("2001:db8:1:2:3:4:5:6"), 0), "::/0");
    assert_eq!(address_key(None, 64), "unknown");
}

struct Human(Mutex<u32>);

#[async_trait]
impl CaptchaVerifier for Human {
    async fn verify(&self, token: &str, _ip: Option<&str>) -> Result<CaptchaVerdict, CaptchaError> {
        *self.0.lock().unwrap() += 1;
        Ok(CaptchaVerdict { success: token == "human", score: None, error_codes: vec![] })
    }
}

#[test]
fn captcha_counts_its_own_failures_without_a_rate_limiter() {
    for key in [RateLimitKeyKind::IpIdentifier, RateLimitKeyKind::Ip, RateLimitKeyKind::Identifier] {
        let verifier = Arc::new(Human(Mutex::new(0)));
        let calls = verifier.clone();
        let w = world(fast_settings(), |parts| {
            let after = AfterFailures {
                count: 2,
                store: parts.rate_limits.clone(),
                rule: rate_limit_rule(5, 300, 900),
                key,
                clock: parts.clock.clone(),
            };
            vec![PipelineEntry {
                name: "captcha".into(),
                middleware: Arc::new(CaptchaMiddleware::new(verifier, None, Some(after))),
            }]
        });
        let ip = "192.0.2.1";
        assert_eq!(login(&w, "ann", "wrong", ip), 401);
        assert_eq!(login(&w, "ann", "wrong", ip), 401);
        assert_eq!(login(&w, "ann", "pw", ip), 403, "{key:?}: demanded after two failures");
        assert_eq!(status(login_as(&w, "ann", "pw", ip, Some("robot"))), 403);
        assert_eq!(status(login_as(&w, "ann", "pw", ip, Some("human"))), 200);
        if key == RateLimitKeyKind::Ip {
            assert_eq!(login(&w, "ann", "pw", ip), 403, "a success does not clear an address");
        } else {
            assert_eq!(login(&w, "ann", "pw", ip), 200, "a success resets the count");
        }
        assert_eq!(*calls.0.lock().unwrap(), 2);
    }
}
