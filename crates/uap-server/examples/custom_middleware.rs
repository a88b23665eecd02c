//! Embedding UAP with a middleware of your own.
//!
//! `deny_list` refuses logins of the identifiers listed in its entry:
//!
//! ```toml
//! [[middleware_stack]]
//! name = "deny_list"
//! enabled = true
//! blocked = ["mallory", "eve@example.com"]
//! ```
//!
//! Run it like `uap serve`: `cargo run --example custom_middleware -- uap.toml`.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};
use uap_domain::pipeline::{Block, Decision, LoginAttempt, Middleware, MiddlewareError};
use uap_server::Application;
use uap_server::pipeline::MiddlewareRegistry;

/// Refuses the listed identifiers (case-insensitively) before any lookup.
pub struct DenyList {
    blocked: BTreeSet<String>,
}

#[async_trait]
impl Middleware for DenyList {
    async fn pre_authenticate(&self, attempt: &LoginAttempt) -> Result<Decision, MiddlewareError> {
        if self.blocked.contains(&attempt.identifier.to_lowercase()) {
            return Ok(Decision::Block(Block::forbidden("This account may not log in here", "deny_list")));
        }
        Ok(Decision::Continue)
    }
}

/// Reads `blocked` from the entry's keys.
fn deny_list(options: &Map<String, Value>) -> Result<Arc<dyn Middleware>, String> {
    let blocked = options
        .get("blocked")
        .and_then(Value::as_array)
        .ok_or("`blocked` must be a list of identifiers")?
        .iter()
        .map(|v| v.as_str().map(str::to_lowercase).ok_or("`blocked` must hold strings"))
        .collect::<Result<BTreeSet<_>, _>>()?;
    Ok(Arc::new(DenyList { blocked }))
}

/// The registry this program hands to UAP.
pub fn registry() -> MiddlewareRegistry {
    MiddlewareRegistry::new().register("deny_list", deny_list)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = std::env::args().nth(1);
    let settings = match uap_server::config::load_settings(config.as_deref().map(std::path::Path::new)) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("error: {err}");
            return std::process::ExitCode::from(2);
        }
    };
    uap_server::telemetry::init(settings.log_format, settings.debug);
    let served = match Application::from_settings(settings, registry()).await {
        Ok(app) => app.run_until_stopped().await.map_err(|e| e.to_string()),
        Err(err) => Err(err.to_string()),
    };
    match served {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::ExitCode::from(1)
        }
    }
}
