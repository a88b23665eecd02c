//! `HttpUserDirectory` against wiremock standing in for a host's user API
//! (CONTRACT §7).

use std::time::Duration;

use secrecy::SecretString;
use serde_json::{Value, json};
use uap_adapters_http::host_api::{MAX_HOST_ANSWER_BYTES, password_route_allowed};
use uap_adapters_http::{BuildError, HostApiConfig, HostApiFields, HttpUserDirectory};
use uap_ports::{Delegated, PasswordAuthority, PasswordUpdate, StoreError, UserDirectory, UserQuery};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{init, refused_url};

const KEY: &str = "host-api-key-0123456789";
const TIMEOUT: Duration = Duration::from_secs(5);
const HASH: &str = "$2b$04$abcdefghijklmnopqrstuuJ7sRDvQ0xQn2FZzPpHq0bDf1KHvK0yW";

fn fields() -> HostApiFields {
    HostApiFields {
        id: "id".into(),
        password: "password".into(),
        role: Some("role".into()),
        active: Some("is_active".into()),
        inactive: Some("locked_at".into()),
    }
}

fn config(base_url: &str, timeout: Duration, verifies_password: bool) -> HostApiConfig {
    HostApiConfig {
        base_url: base_url.to_owned(),
        api_key: SecretString::from(KEY),
        timeout,
        fields: fields(),
        verifies_password,
    }
}

fn directory(server: &MockServer) -> HttpUserDirectory {
    init();
    HttpUserDirectory::new(config(&server.uri(), TIMEOUT, false)).unwrap()
}

fn query(value: &str, fields: &[&str]) -> UserQuery {
    UserQuery { value: value.into(), fields: fields.iter().map(|f| (*f).to_owned()).collect(), case_insensitive: false }
}

fn alice() -> Value {
    json!({"id": 7, "username": "alice", "email": "alice@example.com", "password": HASH,
        "role": "admin", "is_active": true, "api_token": "t0k"})
}

/// Mounts `POST /auth/validate` answering `template` for `body`.
async fn validate(server: &MockServer, body: Value, template: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path("/auth/validate"))
        .and(body_json(body))
        .respond_with(template)
        .mount(server)
        .await;
}

/// The error a lookup of `alice` fails with when the host answers `template`.
async fn lookup_error(template: ResponseTemplate, timeout: Duration) -> StoreError {
    init();
    let server = MockServer::start().await;
    validate(&server, json!({"username": "alice"}), template).await;
    let dir = HttpUserDirectory::new(config(&server.uri(), timeout, false)).unwrap();
    let err = dir.find_user(&query("alice", &["username"])).await.unwrap_err();
    let text = chain(&err);
    assert!(!text.contains(KEY), "{text}");
    assert!(text.contains("/auth/validate"), "names the route: {text}");
    err
}

/// The error and its sources, as the log shows them.
fn chain(err: &StoreError) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[tokio::test]
async fn a_200_is_the_user_mapped_per_section_7_with_the_bearer_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth/validate"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({"username": "alice"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(alice()))
        .expect(1)
        .mount(&server)
        .await;
    let user = directory(&server).find_user(&query("alice", &["username"])).await.unwrap().unwrap();
    assert_eq!(user.id, "7");
    assert_eq!(user.password_hash.as_deref(), Some(HASH));
    assert_eq!(user.active, Some(true));
    assert_eq!(user.roles, ["admin"]);
    assert!(!user.attributes.contains_key("password"), "the hash is not an attribute");
    assert_eq!(user.attributes["email"], "alice@example.com");
    assert_eq!(user.attributes["api_token"], "t0k", "filtering is the core's business");
}

#[tokio::test]
async fn fields_are_tried_in_turn_and_404_everywhere_is_no_user() {
    let server = MockServer::start().await;
    validate(&server, json!({"username": "a@example.com"}), ResponseTemplate::new(404)).await;
    validate(&server, json!({"email": "a@example.com"}), ResponseTemplate::new(200).set_body_json(alice())).await;
    validate(&server, json!({"username": "nobody"}), ResponseTemplate::new(404)).await;
    validate(&server, json!({"email": "nobody"}), ResponseTemplate::new(404)).await;
    let dir = directory(&server);
    let found = dir.find_user(&query("a@example.com", &["username", "email"])).await.unwrap();
    assert_eq!(found.unwrap().id, "7");
    assert_eq!(dir.find_user(&query("nobody", &["username", "email"])).await.unwrap(), None);
}

#[tokio::test]
async fn the_refresh_lookup_sends_the_id_field() {
    let server = MockServer::start().await;
    validate(&server, json!({"id": "7"}), ResponseTemplate::new(200).set_body_json(alice())).await;
    let user = directory(&server).find_user(&query("7", &["id"])).await.unwrap().unwrap();
    assert_eq!(user.id, "7");
}

#[tokio::test]
async fn roles_list_inactive_flags_and_null_password() {
    let server = MockServer::start().await;
    let body = json!({"id": "u-1", "password": null, "roles": ["editor", "viewer", "editor"], "is_active": 0});
    validate(&server, json!({"username": "bob"}), ResponseTemplate::new(200).set_body_json(body)).await;
    let user = directory(&server).find_user(&query("bob", &["username"])).await.unwrap().unwrap();
    assert_eq!(user.id, "u-1");
    assert_eq!(user.password_hash, None, "a null password is a user without one");
    assert_eq!(user.roles, ["editor", "viewer"]);
    assert_eq!(user.active, Some(false));
}

#[tokio::test]
async fn a_set_inactive_key_refuses_and_an_unset_one_does_not() {
    let cases = [
        (json!({"locked_at": "2024-05-01T10:00:00Z"}), Some(false)),
        (json!({"locked_at": 3}), Some(false)),
        (json!({"locked_at": true}), Some(false)),
        (json!({"locked_at": "2024-05-01T10:00:00Z", "is_active": true}), Some(false)),
        (json!({"locked_at": null, "is_active": false}), Some(false)),
        (json!({"locked_at": null}), Some(true)),
        (json!({"locked_at": 0}), Some(true)),
        (json!({"locked_at": ""}), Some(true)),
        (json!({}), Some(true)),
        (json!({"locked_at": null, "is_active": true}), Some(true)),
    ];
    for (extra, expected) in cases {
        let server = MockServer::start().await;
        let mut body = json!({"id": "u-2", "password": HASH});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        validate(&server, json!({"username": "carol"}), ResponseTemplate::new(200).set_body_json(body)).await;
        let user = directory(&server).find_user(&query("carol", &["username"])).await.unwrap().unwrap();
        assert_eq!(user.active, expected, "{extra}");
    }
}

#[tokio::test]
async fn every_other_status_is_unavailable() {
    for status in [400, 401, 403, 409, 422, 429, 500, 502, 503] {
        let err = lookup_error(ResponseTemplate::new(status), TIMEOUT).await;
        assert!(matches!(err, StoreError::Unavailable { what: "host user API", .. }), "{status}: {err:?}");
        assert!(chain(&err).contains(&status.to_string()), "{status}: {}", chain(&err));
    }
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let template = ResponseTemplate::new(307).insert_header("location", "http://127.0.0.1:9/elsewhere");
    let err = lookup_error(template, TIMEOUT).await;
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
}

#[tokio::test]
async fn a_host_slower_than_the_timeout_is_unavailable() {
    let template = ResponseTemplate::new(200).set_body_json(alice()).set_delay(Duration::from_secs(3));
    let err = lookup_error(template, Duration::from_millis(200)).await;
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert!(chain(&err).contains("200 ms"), "{}", chain(&err));
}

#[tokio::test]
async fn a_refused_connection_is_unavailable() {
    init();
    let url = refused_url().replace("/siteverify", "");
    let dir = HttpUserDirectory::new(config(&url, TIMEOUT, false)).unwrap();
    let err = dir.find_user(&query("alice", &["username"])).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert!(!chain(&err).contains(KEY));
    let err = dir.health().await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
}

#[tokio::test]
async fn an_answer_over_one_mib_is_unavailable_and_one_under_is_read() {
    let mut big = alice();
    big["bio"] = Value::String("x".repeat(MAX_HOST_ANSWER_BYTES));
    let err = lookup_error(ResponseTemplate::new(200).set_body_json(big), TIMEOUT).await;
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert!(chain(&err).contains("1 MiB"), "{}", chain(&err));

    // 100 KiB: over the webhooks' 64 KiB, well under the host API's limit.
    let server = MockServer::start().await;
    let mut large = alice();
    large["bio"] = Value::String("y".repeat(100 * 1024));
    validate(&server, json!({"username": "alice"}), ResponseTemplate::new(200).set_body_json(large)).await;
    let user = directory(&server).find_user(&query("alice", &["username"])).await.unwrap().unwrap();
    assert_eq!(user.attributes["bio"].as_str().map(str::len), Some(100 * 1024));
}

#[tokio::test]
async fn malformed_and_incomplete_answers_are_backend_errors() {
    let cases = [
        (ResponseTemplate::new(200).set_body_string("<html>oops</html>"), "not JSON"),
        (ResponseTemplate::new(200).set_body_json(json!([HASH])), "not a JSON object but a list"),
        (ResponseTemplate::new(200).set_body_json(json!({"username": "alice", "password": HASH})), "no id key `id`"),
        (ResponseTemplate::new(200).set_body_json(json!({"id": 7, "username": "alice"})), "no password key `password`"),
        (ResponseTemplate::new(200).set_body_json(json!({"id": 7, "password": 12})), "password key `password` is not"),
        (ResponseTemplate::new(200).set_body_json(json!({"id": {}, "password": HASH})), "id key `id` is not"),
        (ResponseTemplate::new(200).set_body_json(json!({"id": 7, "password": HASH, "roles": "admin"})), "not a list"),
    ];
    for (template, expected) in cases {
        let err = lookup_error(template, TIMEOUT).await;
        assert!(matches!(err, StoreError::Backend(_)), "{expected}: {err:?}");
        assert!(chain(&err).contains(expected), "{expected}: {}", chain(&err));
        assert!(!chain(&err).contains(HASH), "never the hash: {}", chain(&err));
    }
}

#[tokio::test]
async fn gets_are_retried_once_and_posts_never() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/health"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/health"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/auth/validate"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&server)
        .await;
    let dir = directory(&server);
    dir.health().await.unwrap();
    assert!(dir.find_user(&query("alice", &["username"])).await.is_err());
    server.verify().await;
}

#[tokio::test]
async fn a_get_failing_twice_fails_after_two_calls() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/health"))
        .respond_with(ResponseTemplate::new(500))
        .expect(2)
        .mount(&server)
        .await;
    let err = directory(&server).health().await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert!(chain(&err).contains("GET /health"), "{}", chain(&err));
    server.verify().await;
}

#[tokio::test]
async fn health_needs_a_200_not_a_404() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/health"))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    assert!(directory(&server).health().await.is_err());
    server.verify().await;
}

#[tokio::test]
async fn roles_come_from_the_roles_route_only_when_the_object_has_none() {
    let server = MockServer::start().await;
    let plain = json!({"id": "u/1", "username": "carol", "password": HASH});
    validate(&server, json!({"username": "carol"}), ResponseTemplate::new(200).set_body_json(plain)).await;
    validate(
        &server,
        json!({"username": "dave"}),
        ResponseTemplate::new(200).set_body_json(json!({"id": 4, "password": HASH})),
    )
    .await;
    validate(&server, json!({"username": "alice"}), ResponseTemplate::new(200).set_body_json(alice())).await;
    Mock::given(method("GET"))
        .and(path("/users/u%2F1/roles"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"roles": ["admin", "user"]})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/users/4/roles"))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    let dir = directory(&server);

    let carol = dir.find_user(&query("carol", &["username"])).await.unwrap().unwrap();
    assert!(carol.roles.is_empty(), "the lookup does not call the roles route");
    assert_eq!(dir.complete(carol).await.unwrap().roles, ["admin", "user"]);
    let dave = dir.find_user(&query("dave", &["username"])).await.unwrap().unwrap();
    assert!(dir.complete(dave).await.unwrap().roles.is_empty(), "404 = no roles");
    let alice = dir.find_user(&query("alice", &["username"])).await.unwrap().unwrap();
    assert_eq!(dir.complete(alice).await.unwrap().roles, ["admin"], "the object's role: no call");
    server.verify().await;
}

#[tokio::test]
async fn a_failing_roles_route_is_unavailable_after_one_retry() {
    let server = MockServer::start().await;
    validate(
        &server,
        json!({"username": "carol"}),
        ResponseTemplate::new(200).set_body_json(json!({"id": 3, "password": HASH})),
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/users/3/roles"))
        .respond_with(ResponseTemplate::new(500))
        .expect(2)
        .mount(&server)
        .await;
    let dir = directory(&server);
    let carol = dir.find_user(&query("carol", &["username"])).await.unwrap().unwrap();
    let err = dir.complete(carol).await.unwrap_err();
    assert!(chain(&err).contains("GET /users/{id}/roles"), "{}", chain(&err));
    server.verify().await;
}

#[tokio::test]
async fn there_is_no_write_route() {
    let server = MockServer::start().await;
    let update = directory(&server).update_password_hash("7", HASH, "$argon2id$new").await.unwrap();
    assert_eq!(update, PasswordUpdate::Unsupported);
    assert!(server.received_requests().await.unwrap().is_empty());
}

fn delegated(server: &MockServer) -> HttpUserDirectory {
    init();
    HttpUserDirectory::new(config(&server.uri(), TIMEOUT, true)).unwrap()
}

#[tokio::test]
async fn delegated_verify_accepts_refuses_and_fails() {
    let server = MockServer::start().await;
    let verify = |body: Value, template: ResponseTemplate| {
        Mock::given(method("POST"))
            .and(path("/auth/verify"))
            .and(header("authorization", format!("Bearer {KEY}").as_str()))
            .and(body_json(body))
            .respond_with(template)
    };
    let user = json!({"id": 9, "username": "erin", "role": "user", "is_active": true});
    verify(
        json!({"username": "erin", "password": "right"}),
        ResponseTemplate::new(200).set_body_json(json!({"valid": true, "user": user})),
    )
    .expect(1)
    .mount(&server)
    .await;
    verify(
        json!({"username": "erin", "password": "wrong"}),
        ResponseTemplate::new(200).set_body_json(json!({"valid": false})),
    )
    .mount(&server)
    .await;
    verify(json!({"username": "ghost", "password": "any"}), ResponseTemplate::new(404)).mount(&server).await;
    verify(json!({"username": "boom", "password": "any"}), ResponseTemplate::new(500)).expect(1).mount(&server).await;
    verify(
        json!({"username": "odd", "password": "any"}),
        ResponseTemplate::new(200).set_body_json(json!({"valid": true})),
    )
    .mount(&server)
    .await;
    let dir = delegated(&server);

    let Delegated::Accepted(erin) = dir.verify_password(&query("erin", &["username"]), "right").await.unwrap() else {
        panic!("expected Accepted");
    };
    assert_eq!(
        (erin.id.as_str(), erin.password_hash.as_deref(), erin.roles.as_slice()),
        ("9", None, &["user".to_owned()][..])
    );
    assert_eq!(dir.verify_password(&query("erin", &["username"]), "wrong").await.unwrap(), Delegated::Refused);
    assert_eq!(dir.verify_password(&query("ghost", &["username"]), "any").await.unwrap(), Delegated::Refused);
    let err = dir.verify_password(&query("boom", &["username"]), "any").await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }) && chain(&err).contains("/auth/verify"), "{err:?}");
    assert!(!chain(&err).contains("any\""), "never the password");
    let err = dir.verify_password(&query("odd", &["username"]), "any").await.unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    server.verify().await;
}

#[tokio::test]
async fn delegated_lookups_need_no_password_key() {
    let server = MockServer::start().await;
    let body = json!({"id": 9, "username": "erin", "password": "ignored", "is_active": true});
    validate(&server, json!({"id": "9"}), ResponseTemplate::new(200).set_body_json(body)).await;
    let user = delegated(&server).find_user(&query("9", &["id"])).await.unwrap().unwrap();
    assert_eq!(user.password_hash, None, "a password key is never read as a hash in delegated mode");
    assert!(!user.attributes.contains_key("password"));
}

#[test]
fn delegated_mode_needs_https_or_loopback() {
    init();
    for ok in ["https://auth.example.com", "http://127.0.0.1:8080", "http://localhost/api", "http://[::1]:9000"] {
        assert!(password_route_allowed(ok), "{ok}");
        assert!(HttpUserDirectory::new(config(ok, TIMEOUT, true)).is_ok(), "{ok}");
    }
    for refused in
        ["http://auth.example.com", "http://10.0.0.5", "http://localhost.evil.com", "ftp://localhost", "nonsense"]
    {
        assert!(!password_route_allowed(refused), "{refused}");
        let err = HttpUserDirectory::new(config(refused, TIMEOUT, true)).unwrap_err();
        assert!(err.to_string().contains("host_api_"), "{err}");
    }
}

#[test]
fn construction_rejects_bad_configuration() {
    init();
    let new = |url: &str, timeout| HttpUserDirectory::new(config(url, timeout, false));
    for url in ["not a url", "ftp://host/x", "http://host/x?key=1", "mailto:a@b"] {
        assert!(matches!(new(url, TIMEOUT), Err(BuildError::HostApi(m)) if m.contains("host_api_base_url")), "{url}");
    }
    assert!(
        matches!(new("http://host", Duration::ZERO), Err(BuildError::HostApi(m)) if m.contains("host_api_timeout_ms"))
    );
    let debug = format!("{:?}", new("http://host/api", TIMEOUT).unwrap());
    assert!(!debug.contains(KEY) && debug.contains("***"), "{debug}");
}

#[tokio::test]
async fn a_base_path_prefix_is_kept() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/health"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    init();
    let dir = HttpUserDirectory::new(config(&format!("{}/api/v2/", server.uri()), TIMEOUT, false)).unwrap();
    dir.health().await.unwrap();
    server.verify().await;
}
