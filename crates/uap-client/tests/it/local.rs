//! Local mode against a fake UAP: the feed decides when tokens are checked
//! in-process, revocations apply without asking UAP, and a feed that is down
//! sends every check to UAP.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;
use uap_client::local::LocalConfig;
use uap_client::{Error, UapClient, Validator};

use crate::support::{FakeUap, SDK_KEY, SigningKey, eventually, now};

const SOON: Duration = Duration::from_secs(5);

async fn live_validator(uap: &FakeUap, config: LocalConfig) -> Validator {
    let client = UapClient::builder(&uap.url).timeout(Duration::from_secs(2)).build().unwrap();
    let validator = Validator::local(client, config.issuer("UAP").max_backoff(Duration::from_millis(200))).unwrap();
    assert!(eventually(SOON, async || validator.is_feed_live()).await, "the feed became live");
    validator
}

#[tokio::test]
async fn first_sight_is_remote_then_checks_are_in_process_until_the_session_ends() {
    let key = SigningKey::generate("k1");
    let uap = FakeUap::start(&[&key]).await;
    let validator = live_validator(&uap, LocalConfig::new(SDK_KEY)).await;
    let token = key.token("s1", "u1", now() - 5, now() + 600);
    uap.accept(&token, "s1", "u1", &["admin"]);

    let user = validator.validate(&token).await.unwrap();
    assert_eq!(
        (user.user_id.as_str(), user.session_id.as_str(), user.roles.clone()),
        ("u1", "s1", vec!["admin".to_owned()])
    );
    assert_eq!(uap.validate_calls(), 1);
    for _ in 0..20 {
        assert_eq!(validator.validate(&token).await.unwrap(), user);
    }
    assert_eq!(uap.validate_calls(), 1, "later checks never left the process");
    assert_eq!(validator.cached_validations(), 1);

    uap.send("session_ended", &json!({"session_id": "s1", "user_id": "u1"}), Some("1"));
    assert!(
        eventually(Duration::from_secs(1), async || matches!(
            validator.validate(&token).await,
            Err(Error::Unauthorized(_))
        ))
        .await,
        "the ended session is rejected within 1 s"
    );
    assert_eq!(uap.validate_calls(), 1, "the revocation was applied locally");
}

#[tokio::test]
async fn signature_expiry_issuer_and_algorithm_are_checked_without_asking_uap() {
    let key = SigningKey::generate("k1");
    let stranger = SigningKey::generate("k1");
    let uap = FakeUap::start(&[&key]).await;
    let validator = live_validator(&uap, LocalConfig::new(SDK_KEY)).await;
    let expired = key.token("s1", "u1", now() - 100, now() - 1);
    let forged = stranger.token("s1", "u1", now(), now() + 600);
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header { kid: Some("k1".into()), ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256) },
        &json!({"iss": "UAP", "session_id": "s1", "user_id": "u1", "exp": now() + 600, "iat": now()}),
        &jsonwebtoken::EncodingKey::from_secret(b"secret"),
    )
    .unwrap();
    let none = format!("{}.{}.", "eyJhbGciOiJub25lIn0", hs256.split('.').nth(1).unwrap());
    for (name, token) in
        [("expired", expired), ("forged", forged), ("HS256", hs256), ("none", none), ("garbage", "a.b.c".into())]
    {
        for accepted in [false, true] {
            // Even if UAP would accept it, a local check that fails is final.
            if accepted {
                uap.accept(&token, "s1", "u1", &[]);
            }
            assert!(matches!(validator.validate(&token).await, Err(Error::Unauthorized(_))), "{name}");
        }
    }
    assert_eq!(uap.validate_calls(), 0);
    let other_issuer = LocalConfig::new(SDK_KEY).issuer("someone-else");
    let client = UapClient::new(&uap.url).unwrap();
    let strict = Validator::local(client, other_issuer).unwrap();
    assert!(eventually(SOON, async || strict.is_feed_live()).await);
    let token = key.token("s2", "u1", now(), now() + 600);
    uap.accept(&token, "s2", "u1", &[]);
    assert!(matches!(strict.validate(&token).await, Err(Error::Unauthorized(_))), "wrong iss");
}

#[tokio::test]
async fn while_the_feed_is_down_every_check_goes_to_uap_and_fails_closed() {
    let key = SigningKey::generate("k1");
    let uap = FakeUap::start(&[&key]).await;
    let validator = live_validator(&uap, LocalConfig::new(SDK_KEY)).await;
    let token = key.token("s1", "u1", now(), now() + 600);
    uap.accept(&token, "s1", "u1", &[]);
    validator.validate(&token).await.unwrap();

    uap.fake.feed_down.store(true, Ordering::SeqCst);
    uap.drop_connections();
    assert!(eventually(SOON, async || !validator.is_feed_live()).await, "the feed is seen down");
    let before = uap.validate_calls();
    validator.validate(&token).await.unwrap();
    validator.validate(&token).await.unwrap();
    assert_eq!(uap.validate_calls(), before + 2, "no local answers while the feed is down");

    // UAP says the session ended: the cached answer is not used.
    uap.fake.valid.lock().unwrap().clear();
    assert!(matches!(validator.validate(&token).await, Err(Error::Unauthorized(_))));
    // UAP cannot say: an unavailable error, never "valid because offline".
    uap.accept(&token, "s1", "u1", &[]);
    uap.fake.validate_down.store(true, Ordering::SeqCst);
    let err = validator.validate(&token).await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");

    // The feed comes back: local checks resume, resuming without any id seen
    // means events may have been missed, so the cache starts over.
    uap.fake.validate_down.store(false, Ordering::SeqCst);
    uap.fake.feed_down.store(false, Ordering::SeqCst);
    assert!(eventually(SOON, async || validator.is_feed_live()).await, "the feed reconnected");
    assert_eq!(validator.cached_validations(), 0);
}

#[tokio::test]
async fn reconnection_sends_the_last_event_id_and_resync_clears_the_cache() {
    let key = SigningKey::generate("k1");
    let uap = FakeUap::start(&[&key]).await;
    let validator = live_validator(&uap, LocalConfig::new(SDK_KEY)).await;
    let token = key.token("s1", "u1", now(), now() + 600);
    let ended = key.token("s0", "u0", now(), now() + 600);
    uap.accept(&token, "s1", "u1", &[]);
    uap.accept(&ended, "s0", "u0", &[]);
    validator.validate(&token).await.unwrap();
    validator.validate(&ended).await.unwrap();
    uap.send("heartbeat", &json!({"time": "2026-01-01T00:00:00Z"}), None);
    uap.send("session_ended", &json!({"session_id": "s0", "user_id": "u0"}), Some("41"));
    // The event was applied (so its id was seen) once s0 is rejected.
    assert!(eventually(SOON, async || validator.validate(&ended).await.is_err()).await);
    uap.drop_connections();
    assert!(eventually(SOON, async || uap.fake.feed_connections.lock().unwrap().len() == 2).await);
    assert_eq!(*uap.fake.feed_connections.lock().unwrap(), vec![None, Some("41".to_owned())]);
    assert!(eventually(SOON, async || validator.is_feed_live()).await);
    assert_eq!(validator.cached_validations(), 1, "resumed with Last-Event-ID: the cache stays");
    validator.validate(&token).await.unwrap();
    assert_eq!(uap.validate_calls(), 2);

    uap.send("resync", &json!({}), None);
    assert!(eventually(SOON, async || validator.cached_validations() == 0).await, "resync forgets every validation");
    validator.validate(&token).await.unwrap();
    assert_eq!(uap.validate_calls(), 3, "each session is validated remotely once again");
}

#[tokio::test]
async fn user_cutoffs_and_refreshes_apply_locally() {
    let key = SigningKey::generate("k1");
    let uap = FakeUap::start(&[&key]).await;
    let validator = live_validator(&uap, LocalConfig::new(SDK_KEY)).await;
    let t = now();
    let old = key.token("s-old", "u1", t - 10, t + 600);
    let kept = key.token("s-kept", "u1", t - 10, t + 600);
    let refreshed_old = key.token("s-r", "u2", t - 10, t + 600);
    let refreshed_new = key.token("s-r", "u2", t - 5, t + 900);
    for (token, session, user) in
        [(&old, "s-old", "u1"), (&kept, "s-kept", "u1"), (&refreshed_old, "s-r", "u2"), (&refreshed_new, "s-r", "u2")]
    {
        uap.accept(token, session, user, &[]);
        validator.validate(token).await.unwrap();
    }
    let calls = uap.validate_calls();
    uap.send(
        "user_sessions_ended",
        &json!({"user_id": "u1", "before": format!("{}.500Z", rfc3339(t - 2)), "keep_session_id": "s-kept"}),
        Some("1"),
    );
    uap.send("session_refreshed", &json!({"session_id": "s-r", "user_id": "u2", "expires_at": t + 900}), Some("2"));
    assert!(eventually(SOON, async || validator.validate(&old).await.is_err()).await);
    assert!(
        eventually(SOON, async || matches!(validator.validate(&refreshed_old).await, Err(Error::Unauthorized(_))))
            .await
    );
    validator.validate(&kept).await.unwrap();
    validator.validate(&refreshed_new).await.unwrap();
    assert_eq!(uap.validate_calls(), calls, "all decided in-process");
}

#[tokio::test]
async fn an_unknown_kid_refetches_the_keys_and_keys_rotated_too() {
    let k1 = SigningKey::generate("k1");
    let k2 = SigningKey::generate("k2");
    let k3 = SigningKey::generate("k3");
    let uap = FakeUap::start(&[&k1]).await;
    let validator = live_validator(&uap, LocalConfig::new(SDK_KEY).key_refetch_interval(Duration::ZERO)).await;
    let jwks_calls = uap.fake.jwks_calls.load(Ordering::SeqCst);

    *uap.fake.jwks.lock().unwrap() = json!({"keys": [k1.jwk(), k2.jwk()]});
    let token = k2.token("s2", "u1", now(), now() + 600);
    uap.accept(&token, "s2", "u1", &[]);
    validator.validate(&token).await.unwrap();
    validator.validate(&token).await.unwrap();
    assert_eq!(uap.fake.jwks_calls.load(Ordering::SeqCst), jwks_calls + 1, "one refetch for the unknown kid");
    assert_eq!(uap.validate_calls(), 1, "then checked in-process");

    // A kid that a fresh JWKS does not have is invalid.
    let unknown = k3.token("s3", "u1", now(), now() + 600);
    uap.accept(&unknown, "s3", "u1", &[]);
    assert!(matches!(validator.validate(&unknown).await, Err(Error::Unauthorized(_))));

    // keys_rotated: k1 is gone, its tokens are invalid.
    *uap.fake.jwks.lock().unwrap() = json!({"keys": [k2.jwk()]});
    let old = k1.token("s1", "u1", now(), now() + 600);
    uap.accept(&old, "s1", "u1", &[]);
    uap.send("keys_rotated", &json!({"kid": "k2"}), Some("9"));
    assert!(
        eventually(SOON, async || matches!(validator.validate(&old).await, Err(Error::Unauthorized(_)))).await,
        "after keys_rotated, tokens of a key no longer published are invalid"
    );
    assert!(uap.fake.jwks_calls.load(Ordering::SeqCst) >= jwks_calls + 3, "keys_rotated refetched the JWKS");
}

#[tokio::test]
async fn a_wrong_sdk_key_leaves_local_checks_off_and_validation_remote() {
    let key = SigningKey::generate("k1");
    let uap = FakeUap::start(&[&key]).await;
    let validator = Validator::local(UapClient::new(&uap.url).unwrap(), LocalConfig::new("wrong")).unwrap();
    let token = key.token("s1", "u1", now(), now() + 600);
    uap.accept(&token, "s1", "u1", &[]);
    for _ in 0..3 {
        validator.validate(&token).await.unwrap();
    }
    assert!(!validator.is_feed_live());
    assert_eq!(uap.validate_calls(), 3);
}

#[test]
fn local_needs_a_tokio_runtime() {
    let client = UapClient::new("http://127.0.0.1:1").unwrap();
    assert!(matches!(Validator::local(client, LocalConfig::new(SDK_KEY)), Err(Error::Config(_))));
}

fn rfc3339(unix: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp(unix).unwrap();
    at.format(&time::format_description::well_known::Rfc3339).unwrap().trim_end_matches('Z').to_owned()
}

#[tokio::test]
async fn a_uap_without_public_keys_is_asked_for_every_token() {
    let uap = FakeUap::start(&[]).await;
    let validator = live_validator(&uap, LocalConfig::new(SDK_KEY)).await;
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"iss": "UAP", "session_id": "s1", "user_id": "u1", "exp": now() + 600, "iat": now()}),
        &jsonwebtoken::EncodingKey::from_secret(b"secret"),
    )
    .unwrap();
    uap.accept(&hs256, "s1", "u1", &[]);
    validator.validate(&hs256).await.unwrap();
    validator.validate(&hs256).await.unwrap();
    assert_eq!(uap.validate_calls(), 2, "nothing can be checked locally: UAP decides");
    assert!(matches!(validator.validate("a.b.c").await, Err(Error::Unauthorized(_))));
}
