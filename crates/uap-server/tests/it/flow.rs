//! login → validate → sessions → refresh → logout, on every host database.

use serde_json::Value;

use crate::support::{Backend, Host, HostUser, TestApp, settings};

/// bcrypt `$2y$` (PHP), cost 4: produced by PHP 8 `password_hash`.
const BOB: &str = "$2y$04$bZGuP3hzkdakjw2LpcMTqe8dbQ.oYYQi/BuJ5z/CaW.j51pe8ta6i";

/// Django 5.2 `make_password("password")`, PBKDF2 with 1000 iterations.
const DJANGO: &str = "pbkdf2_sha256$1000$socjXmeaGmaEZMRl7Rs13n$/DrG9Ug9ivbPMTfoAUQJLR44RpQa9xzkrVJDiBXunT0=";

async fn host_with_users(backend: Backend) -> Option<Host> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let host = Host::new(backend).await?;
    for (username, active) in [("bob", true), ("mallory", false)] {
        host.insert(HostUser { username, password_hash: BOB, role: "admin", active }).await;
    }
    Some(host)
}

async fn full_flow(backend: Backend) {
    let Some(host) = host_with_users(backend).await else { return };
    let app = TestApp::spawn(settings(&host.url())).await;

    // Credential failures are indistinguishable.
    let unknown = app.login("nobody", "bob-password").await;
    let wrong = app.login("bob", "wrong").await;
    let inactive = app.login("mallory", "bob-password").await;
    assert_eq!(unknown.0, 401, "{backend:?}");
    assert_eq!(unknown, wrong);
    assert_eq!(unknown, inactive);
    assert_eq!(unknown.1, serde_json::json!({"success": false, "error": "Invalid credentials"}));

    // Login.
    let (status, body) = app.login("bob", "bob-password").await;
    assert_eq!(status, 200, "{backend:?}: {body}");
    assert_eq!(body["success"], true);
    let token = body["token"].as_str().unwrap().to_owned();
    let refresh_token = body["refresh_token"].as_str().unwrap().to_owned();
    let user_data = &body["user_data"];
    assert_eq!(user_data["username"], "bob");
    assert_eq!(user_data["email"], "bob@example.com");
    assert!(user_data.get("password").is_none(), "{user_data}");
    assert!(user_data.get("remember_token").is_none(), "{user_data}");
    assert!(body["expires_at"].as_str().unwrap().ends_with('Z'));

    // Validate.
    let (status, valid) = app.validate(&token).await;
    assert_eq!(status, 200);
    assert_eq!(valid["valid"], true);
    assert_eq!(valid["user_data"], *user_data);
    assert_eq!(valid["user_id"], user_data["id"].to_string().trim_matches('"'));
    let session_id = valid["session_id"].as_str().unwrap().to_owned();

    // Sessions list.
    let response = app.client.get(app.url("/api/v1/auth/sessions")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let sessions: Value = response.json().await.unwrap();
    assert_eq!(sessions["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(sessions["sessions"][0]["current"], true);
    assert_eq!(sessions["sessions"][0]["session_id"], session_id.as_str());
    assert_eq!(sessions["sessions"][0]["device_id"], "test-device");

    // Refresh with the refresh token: the old token stops working.
    let (status, refreshed) = app.refresh_with(&refresh_token).await;
    assert_eq!(status, 200, "{refreshed}");
    let new_token = refreshed["token"].as_str().unwrap().to_owned();
    assert_ne!(new_token, token);
    assert_eq!(app.validate(&token).await.0, 401);
    assert_eq!(app.validate(&new_token).await.0, 200);

    // The spent refresh token within the grace period: the same successor.
    let (status, again) = app.refresh_with(&refresh_token).await;
    assert_eq!(status, 200);
    assert_eq!(again["session_id"], refreshed["session_id"]);
    assert_eq!(again["refresh_token"], refreshed["refresh_token"]);

    // Refresh with the Bearer token.
    let (status, bearer_refreshed) = app.post_bearer("/api/v1/auth/refresh", &new_token).await;
    assert_eq!(status, 200, "{bearer_refreshed}");
    let newest = bearer_refreshed["token"].as_str().unwrap().to_owned();
    assert_eq!(app.validate(&newest).await.0, 200);

    // Logout, then the token is dead and a second logout finds nothing.
    let (status, out) = app.post_bearer("/api/v1/auth/logout", &newest).await;
    assert_eq!((status, out["success"].clone()), (200, Value::Bool(true)));
    assert_eq!(out["message"], "Logged out successfully");
    assert_eq!(app.validate(&newest).await, (401, serde_json::json!({"valid": false})));
    let (status, out) = app.post_bearer("/api/v1/auth/logout", &newest).await;
    assert_eq!(status, 200);
    assert_eq!(out, serde_json::json!({"success": false, "message": "Session not found"}));

    // Logout-all ends every session of the user.
    let first = app.login("bob", "bob-password").await.1["token"].as_str().unwrap().to_owned();
    let second = app.login("bob", "bob-password").await.1["token"].as_str().unwrap().to_owned();
    let (status, out) = app.post_bearer("/api/v1/auth/logout-all", &first).await;
    assert_eq!(status, 200);
    assert_eq!(out["ended"], 2);
    assert_eq!(app.validate(&first).await.0, 401);
    assert_eq!(app.validate(&second).await.0, 401);

    app.stop().await;
    host.db.cleanup().await;
}

#[tokio::test]
async fn full_flow_sqlite() {
    full_flow(Backend::Sqlite).await;
}

#[tokio::test]
async fn full_flow_postgres() {
    full_flow(Backend::Postgres).await;
}

#[tokio::test]
async fn full_flow_mysql() {
    full_flow(Backend::Mysql).await;
}

#[tokio::test]
async fn single_device_policy_ends_older_sessions() {
    let Some(host) = host_with_users(Backend::Sqlite).await else { return };
    let app =
        TestApp::spawn(uap_server::config::Settings { multi_device_sessions: false, ..settings(&host.url()) }).await;
    let first = app.login("bob", "bob-password").await.1["token"].as_str().unwrap().to_owned();
    let second = app.login("bob", "bob-password").await.1["token"].as_str().unwrap().to_owned();
    assert_eq!(app.validate(&first).await.0, 401);
    assert_eq!(app.validate(&second).await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn reused_refresh_token_after_grace_ends_the_chain() {
    let Some(host) = host_with_users(Backend::Sqlite).await else { return };
    let app =
        TestApp::spawn(uap_server::config::Settings { refresh_reuse_grace_seconds: 0, ..settings(&host.url()) }).await;
    let login = app.login("bob", "bob-password").await.1;
    let stolen = login["refresh_token"].as_str().unwrap().to_owned();
    let (status, refreshed) = app.refresh_with(&stolen).await;
    assert_eq!(status, 200);
    let current = refreshed["token"].as_str().unwrap().to_owned();
    // With a zero grace, any later reuse is theft.
    let (status, body) = app.refresh_with(&stolen).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["success"], false);
    // Theft detection ended the legitimate successor too.
    assert_eq!(app.validate(&current).await.0, 401);
    app.stop().await;
}

/// `hash_upgrade = "write_back"`: weak rows are rewritten in the host table
/// (compare-and-set) in a form the host framework verifies, once.
async fn write_back(backend: Backend) {
    use uap_adapters_sql::{HostTableConfig, SqlUserDirectory};
    use uap_domain::password::HashUpgrade;
    use uap_ports::{UserDirectory, UserQuery};

    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(host) = Host::new(backend).await else { return };
    // bcrypt cost 4 (below bcrypt_cost = 5) and Django pbkdf2_sha256 (Django 5.2, 1000 iterations).
    host.insert(HostUser { username: "bob", password_hash: BOB, role: "user", active: true }).await;
    host.insert(HostUser { username: "carol", password_hash: DJANGO, role: "user", active: true }).await;
    let app = TestApp::spawn(uap_server::config::Settings {
        hash_upgrade: HashUpgrade::WriteBack,
        bcrypt_cost: 5,
        ..settings(&host.url())
    })
    .await;
    let directory =
        SqlUserDirectory::connect(&host.url(), HostTableConfig::new("users", "id", "password", &["username"]))
            .await
            .unwrap();
    let stored = |username: &'static str| {
        let directory = &directory;
        async move {
            let query = UserQuery { value: username.into(), fields: vec!["username".into()], case_insensitive: false };
            directory.find_user(&query).await.unwrap().unwrap().password_hash.unwrap()
        }
    };
    assert_eq!(app.login("bob", "bob-password").await.0, 200);
    assert_eq!(app.login("carol", "password").await.0, 200);
    let bob = stored("bob").await;
    let carol = stored("carol").await;
    assert!(bob.starts_with("$2y$05$"), "{backend:?}: {bob}");
    assert!(carol.starts_with("argon2$argon2id$v=19$m=64,t=1,p=1$"), "{backend:?}: {carol}");
    // The upgraded rows log in, and are not rewritten again.
    assert_eq!(app.login("bob", "bob-password").await.0, 200);
    assert_eq!(app.login("carol", "password").await.0, 200);
    assert_eq!(stored("bob").await, bob);
    assert_eq!(stored("carol").await, carol);
    assert_eq!(app.login("carol", "wrong").await.0, 401);
    app.stop().await;
    host.db.cleanup().await;
}

#[tokio::test]
async fn write_back_sqlite() {
    write_back(Backend::Sqlite).await;
}

#[tokio::test]
async fn write_back_postgres() {
    write_back(Backend::Postgres).await;
}

#[tokio::test]
async fn write_back_mysql() {
    write_back(Backend::Mysql).await;
}

#[tokio::test]
async fn cors_answers_only_configured_origins() {
    let Some(host) = host_with_users(Backend::Sqlite).await else { return };
    let app = TestApp::spawn(uap_server::config::Settings {
        cors_allowed_origins: vec!["https://app.example".into()],
        ..settings(&host.url())
    })
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/auth/authenticate"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "content-type")
            .send()
    };
    let allowed = preflight("https://app.example").await.unwrap();
    assert_eq!(allowed.status(), 200);
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://app.example");
    let denied = preflight("https://evil.example").await.unwrap();
    assert!(denied.headers().get("access-control-allow-origin").is_none());
    app.stop().await;
}
