//! Following configuration changes made on other instances: a change stored
//! by `PUT /api/v1/config/` anywhere is published on the event bus
//! (`ConfigChanged`) and, as the fallback without a bus, found by polling the
//! newest stored version. Each instance rebuilds its runtime from the stored
//! version ([`stored_changes`] over its own configuration) and swaps it in,
//! exactly as the instance that took the change did.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use uap_domain::config::ConfigError;

use crate::config::{Config, apply_changes, stored_changes};
use crate::startup::build_runtime;
use crate::state::AppState;

/// How often the newest stored version is read (the bus wakes the follower
/// at once; the poll covers instances without one and missed messages).
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Follows the stored versions after `seen` (the version the running
/// configuration already accounts for) until the task is aborted.
pub(crate) async fn follow(state: actix_web::web::Data<AppState>, wake: Arc<Notify>, mut seen: i64) {
    let mut failed = None;
    loop {
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(POLL_INTERVAL) => {}
        }
        match catch_up(&state, seen, &mut failed).await {
            Ok(now) => seen = now,
            Err(err) => tracing::warn!(error = %err, "configuration change from another instance not applied"),
        }
    }
}

fn join(errors: &[ConfigError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// Applies the newest stored version when it is past `seen` (and did not
/// already fail to apply); returns the version now accounted for.
async fn catch_up(state: &AppState, seen: i64, failed: &mut Option<i64>) -> Result<i64, String> {
    let Some(latest) = state.config_store.latest().await.map_err(|e| e.to_string())? else {
        return Ok(seen);
    };
    let known = |state: &AppState| state.runtime().version.unwrap_or(0).max(seen);
    if latest.version <= known(state) || *failed == Some(latest.version) {
        return Ok(seen.max(latest.version.min(known(state))));
    }
    let _one_at_a_time = state.reload.lock().await;
    if latest.version <= known(state) {
        return Ok(known(state));
    }
    let current = state.runtime();
    let changes = stored_changes(&current.settings, &latest.data)?;
    let candidate = if changes.is_empty() {
        current.settings.clone()
    } else {
        apply_changes(&current.settings, &changes).map_err(|e| join(&e))?
    };
    let tls = state.tls_change(&current.settings, &candidate)?.map(|(cert, key)| (cert.to_owned(), key.to_owned()));
    let config = Config::from_settings(candidate, &state.shared.custom_middleware()).map_err(|e| join(&e))?;
    // Boxed: the runtime build is a deep future; inlined here its layout
    // overflows the compiler's query depth in release builds.
    match Box::pin(build_runtime(&state.shared, config, Some(latest.version))).await {
        Ok(runtime) => {
            state.swap(runtime);
            if let Some((cert, key)) = &tls {
                state.reload_tls((cert, key));
            }
            tracing::info!(version = latest.version, changed = ?changes.keys().collect::<Vec<_>>(), "configuration change from another instance applied");
            Ok(latest.version)
        }
        Err(err) => {
            *failed = Some(latest.version);
            Err(format!("version {}: {err}", latest.version))
        }
    }
}
