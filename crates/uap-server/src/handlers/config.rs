//! `GET /api/v1/config/` and `PUT /api/v1/config/` (admin; the guard wraps
//! the resource). A change is validated by building a whole candidate
//! runtime — the host data source connected and its table and fields
//! checked, the middleware stack built — and only then stored as a new
//! version and swapped in; requests in flight finish on the runtime they
//! started with.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};
use uap_domain::EventDetails;
use uap_domain::config::ConfigError;
use uap_ports::{AuditEventType, BusEvent};

use super::client;
use crate::api::{ApiError, ConfigurationRefusal, ConfigurationResponse, ConfigurationView, FailureResponse};
use crate::config::{Config, apply_changes, changes_between, stored_form};
use crate::startup::build_runtime;
use crate::state::AppState;

/// The running configuration, secrets as `"***"`.
#[utoipa::path(
    get,
    path = "/api/v1/config/",
    tag = "operations",
    security(("admin_api_key" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The running configuration", body = ConfigurationView),
        (status = 401, description = "Missing or wrong admin API key", body = FailureResponse),
        (status = 403, description = "Client address outside admin_ip_allowlist", body = FailureResponse),
        (status = 404, description = "No admin_api_key configured", body = FailureResponse),
    )
)]
pub async fn show(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let runtime = state.runtime();
    let configuration = serde_json::to_value(&runtime.settings).map_err(|err| {
        tracing::error!(error = %err, "the configuration could not be shown");
        ApiError::Internal
    })?;
    Ok(HttpResponse::Ok().json(ConfigurationView { version: runtime.version, configuration }))
}

/// Changes the configuration without a restart: the body's CONTRACT §2 keys
/// replace the running ones (omitted keys keep theirs).
#[utoipa::path(
    put,
    path = "/api/v1/config/",
    tag = "operations",
    request_body(content = Object, description = "CONTRACT §2 keys to change"),
    security(("admin_api_key" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Applied and stored as a new version", body = ConfigurationResponse),
        (status = 422, description = "Refused; the running configuration is untouched", body = ConfigurationRefusal),
        (status = 401, description = "Missing or wrong admin API key", body = FailureResponse),
        (status = 403, description = "Client address outside admin_ip_allowlist", body = FailureResponse),
        (status = 404, description = "No admin_api_key configured", body = FailureResponse),
        (status = 503, description = "The internal database could not store the version", body = FailureResponse),
    )
)]
pub async fn update(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Json<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    let context = client(&request, &state);
    let _one_at_a_time = state.reload.lock().await;
    let current = state.runtime();
    let outcome = async {
        let candidate = apply_changes(&current.settings, &body).map_err(refusal)?;
        let changes = changes_between(&current.settings, &candidate);
        let tls =
            state.tls_change(&current.settings, &candidate).map_err(|e| refusal(vec![ConfigError::new("tls", e)]))?;
        let tls = tls.map(|(cert, key)| (cert.to_owned(), key.to_owned()));
        let stored = stored_form(&candidate);
        let config = Config::from_settings(candidate, &state.shared.custom_middleware()).map_err(refusal)?;
        let runtime = Box::pin(build_runtime(&state.shared, config, None)).await.map_err(|err| ApiError::Invalid {
            message: "Configuration validation failed",
            errors: vec![err.to_string()],
        })?;
        Ok((runtime, changes, stored, tls))
    }
    .await;
    let (mut runtime, changes, stored, tls) = match outcome {
        Ok(ready) => ready,
        Err(err) => {
            let errors = match &err {
                ApiError::Invalid { errors, .. } => errors.clone(),
                other => vec![other.to_string()],
            };
            record(&state, &context, false, json!({ "validation_errors": errors })).await;
            return Err(err);
        }
    };
    let created_by = context.ip_address.map(|ip| format!("admin@{ip}"));
    let version = state
        .config_store
        .save(&stored, created_by.as_deref(), state.clock.now())
        .await
        .map_err(|e| ApiError::dependency("internal database", &e))?;
    runtime.version = Some(version);
    state.swap(runtime);
    if let Some((cert, key)) = &tls {
        state.reload_tls((cert, key));
    }
    if let Err(err) = state.shared.bus.publish(&BusEvent::ConfigChanged { version }).await {
        tracing::warn!(error = %err, version, "configuration change not announced; other instances poll for it");
    }
    tracing::info!(version, changed = ?changes.keys().collect::<Vec<_>>(), "configuration changed");
    record(&state, &context, true, json!({ "version": version, "changes": changes })).await;
    Ok(HttpResponse::Ok().json(ConfigurationResponse {
        success: true,
        message: "Configuration updated successfully".into(),
        version,
    }))
}

/// 422 naming every mistake.
fn refusal(errors: Vec<ConfigError>) -> ApiError {
    ApiError::Invalid {
        message: "Configuration validation failed",
        errors: errors.iter().map(ToString::to_string).collect(),
    }
}

/// `CONFIGURATION_CHANGE`, applied or refused (never a secret: the diff
/// shows them as `"***"`).
async fn record(state: &AppState, context: &uap_domain::session::ClientContext, success: bool, metadata: Value) {
    let details =
        EventDetails { user_id: None, session_id: None, error: (!success).then_some("validation_failed"), metadata };
    if let Err(err) = state.audit.record(AuditEventType::ConfigurationChange, success, context, details).await {
        tracing::error!(error = %err, "audit queue refused CONFIGURATION_CHANGE");
    }
}
