//! The OpenAPI 3.1 document of every route.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api::{MfaEnrollmentRequiredResponse, MfaRequiredResponse};
use crate::handlers::{audit, authenticate, config, events, health, metrics, mfa, sessions, validate};

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
        components.add_security_scheme(
            "admin_api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
    }
}

/// The API description served at `/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(title = "UAP — Universal Authentication Platform", description = "Zero-migration authentication against the host application's own user store."),
    paths(
        authenticate::authenticate,
        validate::validate,
        validate::validate_batch,
        sessions::refresh,
        sessions::logout,
        sessions::logout_all,
        sessions::list_sessions,
        events::events,
        health::config_health,
        health::live,
        health::ready,
        health::jwks,
        mfa::verify,
        mfa::enroll,
        mfa::confirm,
        mfa::remove,
        metrics::metrics,
        audit::logs,
        audit::report,
        config::show,
        config::update,
    ),
    components(schemas(MfaRequiredResponse, MfaEnrollmentRequiredResponse)),
    modifiers(&BearerScheme),
    tags((name = "auth", description = "Login and sessions"), (name = "mfa", description = "TOTP second factor"), (name = "operations", description = "Health, keys, metrics, audit and configuration (admin)"))
)]
pub struct ApiDoc;
