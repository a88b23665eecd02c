//! Building the login pipeline from `middleware_stack`: built-in middlewares
//! wired to their adapters, custom ones from the embedding program's
//! [`MiddlewareRegistry`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use serde_json::{Map, Value};
use uap_adapters_http::{CaptchaProvider, HttpCaptchaVerifier, HttpWebhookClient};
use uap_domain::AuditRecorder;
use uap_domain::auth::MfaService;
use uap_domain::config::{CaptchaProviderKind, CaptchaSpec, MiddlewareSpec, RateLimitSpec, WebhookSpec};
use uap_domain::pipeline::{
    AfterFailures, CaptchaMiddleware, IpRulesMiddleware, MfaMiddleware, MfaPolicy, Middleware, PipelineEntry,
    RateLimitMiddleware, WebhookMiddleware,
};
use uap_ports::{Clock, IdGenerator, MfaFactorStore, RateLimitRule, RateLimitStore, WebhookClient};

use crate::config::Config;
use crate::error::StartupError;

/// Builds a custom middleware from its entry's keys (everything but `name`
/// and `enabled`). An error message names what is wrong; start-up reports it
/// with the entry.
pub type MiddlewareFactory =
    Box<dyn Fn(&Map<String, Value>) -> Result<Arc<dyn Middleware>, String> + Send + Sync + 'static>;

/// Custom middlewares of an embedding program, by the name used in
/// `middleware_stack`.
#[derive(Default)]
pub struct MiddlewareRegistry {
    factories: BTreeMap<String, MiddlewareFactory>,
}

impl std::fmt::Debug for MiddlewareRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.factories.keys()).finish()
    }
}

impl MiddlewareRegistry {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `factory` under `name`.
    #[must_use]
    pub fn register(
        mut self,
        name: impl Into<String>,
        factory: impl Fn(&Map<String, Value>) -> Result<Arc<dyn Middleware>, String> + Send + Sync + 'static,
    ) -> Self {
        self.factories.insert(name.into(), Box::new(factory));
        self
    }

    /// The registered names, for [`Config::from_settings`].
    #[must_use]
    pub fn names(&self) -> BTreeSet<String> {
        self.factories.keys().cloned().collect()
    }
}

/// What the built-in middlewares are wired to.
pub(crate) struct Wiring<'a> {
    pub config: &'a Config,
    pub rate_limits: Arc<dyn RateLimitStore>,
    pub mfa_factors: Arc<dyn MfaFactorStore>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGenerator>,
    pub audit: AuditRecorder,
    pub registry: &'a MiddlewareRegistry,
}

/// The pipeline entries, and the MFA service when `mfa` is configured.
pub(crate) fn build(wiring: &Wiring<'_>) -> Result<(Vec<PipelineEntry>, Option<Arc<MfaService>>), StartupError> {
    let config = wiring.config;
    // One HTTP client for every webhook entry.
    let mut webhook_client: Option<Arc<dyn WebhookClient>> = None;
    let mut mfa_service = None;
    let mut entries = Vec::new();
    for spec in config.middleware.iter().cloned() {
        let (name, middleware): (String, Arc<dyn Middleware>) = match spec {
            MiddlewareSpec::RateLimit(s) => ("rate_limit".into(), rate_limit(wiring, &s)),
            MiddlewareSpec::Captcha(s) => ("captcha".into(), captcha(wiring, &s)?),
            MiddlewareSpec::IpRules(s) => ("ip_rules".into(), Arc::new(IpRulesMiddleware::new(s.allow, s.deny))),
            MiddlewareSpec::Webhook(s) => {
                let client = match &webhook_client {
                    Some(client) => Arc::clone(client),
                    None => {
                        let client: Arc<dyn WebhookClient> = Arc::new(
                            HttpWebhookClient::new()
                                .map_err(|e| StartupError::Config(format!("middleware_stack (webhook): {e}")))?,
                        );
                        webhook_client.insert(client).clone()
                    }
                };
                ("webhook".into(), webhook(client, s))
            }
            MiddlewareSpec::Mfa(s) => {
                let service = mfa(wiring, s.issuer.clone(), config.limits.rule)?;
                mfa_service = Some(Arc::clone(&service));
                let policy = MfaPolicy { required_roles: s.required_roles };
                ("mfa".into(), Arc::new(MfaMiddleware::new(service, policy)))
            }
            MiddlewareSpec::Custom { name, options } => {
                let middleware = custom(wiring, &name, &options)?;
                (name, middleware)
            }
        };
        entries.push(PipelineEntry { name, middleware });
    }
    Ok((entries, mfa_service))
}

/// `rate_limit`: the entry's limits, else the top-level ones, plus the
/// per-address budget.
fn rate_limit(wiring: &Wiring<'_>, spec: &RateLimitSpec) -> Arc<dyn Middleware> {
    let defaults = wiring.config.limits.rule;
    let seconds = |s: Option<u64>, default: time::Duration| {
        s.map_or(default, |s| time::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX)))
    };
    let rule = RateLimitRule {
        max_attempts: spec.max_attempts.unwrap_or(defaults.max_attempts),
        window: seconds(spec.window_seconds, defaults.window),
        block: seconds(spec.block_duration, defaults.block),
    };
    let mut middleware = RateLimitMiddleware::new(
        Arc::clone(&wiring.rate_limits),
        rule,
        spec.key,
        Arc::clone(&wiring.clock),
        wiring.audit.clone(),
    );
    if let Some(budget) = wiring.config.limits.address_budget {
        middleware = middleware.with_address_budget(budget);
    }
    Arc::new(middleware)
}

/// `captcha`: the provider's verifier, and its own failure counter when
/// `after_failures` is set.
fn captcha(wiring: &Wiring<'_>, spec: &CaptchaSpec) -> Result<Arc<dyn Middleware>, StartupError> {
    let provider = match spec.provider {
        CaptchaProviderKind::Recaptcha => CaptchaProvider::Recaptcha,
        CaptchaProviderKind::Hcaptcha => CaptchaProvider::Hcaptcha,
        CaptchaProviderKind::Turnstile => CaptchaProvider::Turnstile,
    };
    let verifier = HttpCaptchaVerifier::new(
        provider,
        spec.secret_key.expose_secret().to_owned(),
        spec.verify_url.clone(),
        Duration::from_millis(spec.timeout_ms),
    )
    .map_err(|e| StartupError::Config(format!("middleware_stack (captcha): {e}")))?;
    let after = (spec.after_failures > 0).then(|| AfterFailures {
        count: spec.after_failures,
        store: Arc::clone(&wiring.rate_limits),
        rule: wiring.config.limits.rule,
        key: spec.key,
        clock: Arc::clone(&wiring.clock),
    });
    Ok(Arc::new(CaptchaMiddleware::new(Arc::new(verifier), spec.threshold, after)))
}

/// `webhook` over the shared client.
fn webhook(client: Arc<dyn WebhookClient>, spec: WebhookSpec) -> Arc<dyn Middleware> {
    Arc::new(WebhookMiddleware::new(
        client,
        spec.url,
        spec.events,
        Duration::from_millis(spec.timeout_ms),
        spec.fail_open,
        spec.secret,
    ))
}

/// A custom middleware from the embedding program's factory.
fn custom(wiring: &Wiring<'_>, name: &str, options: &Map<String, Value>) -> Result<Arc<dyn Middleware>, StartupError> {
    let factory = wiring
        .registry
        .factories
        .get(name)
        .ok_or_else(|| StartupError::Config(format!("middleware_stack ({name}): not registered")))?;
    factory(options).map_err(|e| StartupError::Config(format!("middleware_stack ({name}): {e}")))
}

fn mfa(wiring: &Wiring<'_>, issuer: Option<String>, rule: RateLimitRule) -> Result<Arc<MfaService>, StartupError> {
    let config = wiring.config;
    // Config::from_settings sets the key exactly when an mfa entry is enabled.
    let sealer = config
        .mfa_key
        .clone()
        .ok_or_else(|| StartupError::Config("encryption_key: is required by the mfa middleware".into()))?;
    Ok(Arc::new(MfaService::new(
        Arc::clone(&wiring.mfa_factors),
        sealer,
        issuer.unwrap_or_else(|| config.service_name.clone()),
        Arc::clone(&wiring.rate_limits),
        rule,
        Arc::clone(&wiring.clock),
        Arc::clone(&wiring.ids),
    )))
}
