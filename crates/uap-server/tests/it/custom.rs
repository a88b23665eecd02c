//! The custom-middleware example, exercised: its registry plugs into a real
//! server, and an unregistered name fails start-up naming the entry.

use serde_json::json;
use uap_server::Application;
use uap_server::config::{MiddlewareEntry, Settings};

use crate::support::{Backend, Host, HostUser, TestApp, settings};

#[allow(dead_code, reason = "the example's main is not used here")]
#[path = "../../examples/custom_middleware.rs"]
mod example;

const BOB: &str = "$2y$04$bZGuP3hzkdakjw2LpcMTqe8dbQ.oYYQi/BuJ5z/CaW.j51pe8ta6i";

fn deny_list() -> Vec<MiddlewareEntry> {
    vec![serde_json::from_value(json!({"name": "deny_list", "enabled": true, "blocked": ["Mallory"]})).unwrap()]
}

#[tokio::test]
async fn registered_middleware_runs_in_the_server() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(host) = Host::new(Backend::Sqlite).await else { return };
    for username in ["bob", "mallory"] {
        host.insert(HostUser { username, password_hash: BOB, role: "user", active: true }).await;
    }
    let app =
        TestApp::spawn_with(Settings { middleware_stack: deny_list(), ..settings(&host.url()) }, example::registry())
            .await;
    let (status, body) = app.login("mallory", "bob-password").await;
    assert_eq!((status, body["error"].as_str()), (403, Some("This account may not log in here")));
    assert_eq!(app.login("bob", "bob-password").await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn unregistered_middleware_fails_start_up_naming_the_entry() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(host) = Host::new(Backend::Sqlite).await else { return };
    let mut settings = Settings { middleware_stack: deny_list(), ..settings(&host.url()) };
    settings.database_url = format!(
        "sqlite://{}?mode=rwc",
        std::env::temp_dir().join(format!("uap-{}.db", uuid::Uuid::new_v4().simple())).display()
    )
    .into();
    let err = Application::from_settings(settings, uap_server::pipeline::MiddlewareRegistry::default())
        .await
        .err()
        .expect("start-up fails")
        .to_string();
    assert!(err.contains("middleware_stack[0] (deny_list)") && err.contains("unknown middleware"), "{err}");
}
