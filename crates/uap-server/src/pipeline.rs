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
use uap_domain::config::{CaptchaProviderKind, MiddlewareSpec, Settings};
use uap_domain::mfa::SecretBox;
use uap_domain::pipeline::{
    AddressBudget, CaptchaMiddleware, IpRulesMiddleware, MfaMiddleware, MfaPolicy, Middleware, PipelineEntry,
    RateLimitMiddleware, WebhookMiddleware, rate_limit_rule,
};
use uap_ports::{Clock, MfaFactorStore, RateLimitRule, RateLimitStore, WebhookClient};

use crate::startup::StartupError;

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

    pub(crate) fn names(&self) -> BTreeSet<String> {
        self.factories.keys().cloned().collect()
    }
}

/// What the built-in middlewares are wired to.
pub(crate) struct Wiring<'a> {
    pub settings: &'a Settings,
    pub rate_limits: Arc<dyn RateLimitStore>,
    pub mfa_factors: Arc<dyn MfaFactorStore>,
    pub clock: Arc<dyn Clock>,
    pub audit: AuditRecorder,
    pub registry: &'a MiddlewareRegistry,
}

/// The pipeline entries, and the MFA service when `mfa` is configured.
pub(crate) fn build(wiring: &Wiring<'_>) -> Result<(Vec<PipelineEntry>, Option<Arc<MfaService>>), StartupError> {
    let settings = wiring.settings;
    let specs = settings.middleware_specs(&wiring.registry.names()).map_err(|errors| {
        StartupError::Config(errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
    })?;
    let default_rule = rate_limit_rule(settings.max_attempts, settings.rate_limit_window, settings.block_duration);
    let mut webhook_client: Option<Arc<dyn WebhookClient>> = None;
    let mut mfa_service = None;
    let mut entries = Vec::new();
    for spec in specs {
        let (name, middleware): (String, Arc<dyn Middleware>) = match spec {
            MiddlewareSpec::RateLimit(s) => {
                let rule = rate_limit_rule(
                    s.max_attempts.unwrap_or(settings.max_attempts),
                    s.window_seconds.unwrap_or(settings.rate_limit_window),
                    s.block_duration.unwrap_or(settings.block_duration),
                );
                let mut middleware = RateLimitMiddleware::new(
                    Arc::clone(&wiring.rate_limits),
                    rule,
                    s.key,
                    Arc::clone(&wiring.clock),
                    wiring.audit.clone(),
                );
                if settings.address_max_failures > 0 {
                    middleware = middleware.with_address_budget(AddressBudget {
                        max_failures: settings.address_max_failures,
                        ipv6_prefix: settings.address_ipv6_prefix,
                    });
                }
                ("rate_limit".into(), Arc::new(middleware))
            }
            MiddlewareSpec::Captcha(s) => {
                let provider = match s.provider {
                    CaptchaProviderKind::Recaptcha => CaptchaProvider::Recaptcha,
                    CaptchaProviderKind::Hcaptcha => CaptchaProvider::Hcaptcha,
                    CaptchaProviderKind::Turnstile => CaptchaProvider::Turnstile,
                };
                let verifier = HttpCaptchaVerifier::new(
                    provider,
                    s.secret_key.expose_secret().to_owned(),
                    s.verify_url.clone(),
                    Duration::from_millis(s.timeout_ms),
                )
                .map_err(|e| StartupError::Config(format!("middleware_stack (captcha): {e}")))?;
                let after = (s.after_failures > 0).then(|| uap_domain::pipeline::AfterFailures {
                    count: s.after_failures,
                    store: Arc::clone(&wiring.rate_limits),
                    rule: default_rule,
                    key: s.key,
                    clock: Arc::clone(&wiring.clock),
                });
                ("captcha".into(), Arc::new(CaptchaMiddleware::new(Arc::new(verifier), s.threshold, after)))
            }
            MiddlewareSpec::IpRules(s) => ("ip_rules".into(), Arc::new(IpRulesMiddleware::new(s.allow, s.deny))),
            MiddlewareSpec::Webhook(s) => {
                let client = match &webhook_client {
                    Some(client) => Arc::clone(client),
                    None => {
                        let client: Arc<dyn WebhookClient> = Arc::new(
                            HttpWebhookClient::new()
                                .map_err(|e| StartupError::Config(format!("middleware_stack (webhook): {e}")))?,
                        );
                        webhook_client = Some(Arc::clone(&client));
                        client
                    }
                };
                let middleware = WebhookMiddleware::new(
                    client,
                    s.url,
                    s.events,
                    Duration::from_millis(s.timeout_ms),
                    s.fail_open,
                    s.secret,
                );
                ("webhook".into(), Arc::new(middleware))
            }
            MiddlewareSpec::Mfa(s) => {
                let service = mfa(wiring, s.issuer.clone(), default_rule)?;
                mfa_service = Some(Arc::clone(&service));
                let policy = MfaPolicy { required_roles: s.required_roles };
                ("mfa".into(), Arc::new(MfaMiddleware::new(service, policy, Arc::clone(&wiring.clock))))
            }
            MiddlewareSpec::Custom { name, options } => {
                let factory = wiring
                    .registry
                    .factories
                    .get(&name)
                    .ok_or_else(|| StartupError::Config(format!("middleware_stack ({name}): not registered")))?;
                let middleware =
                    factory(&options).map_err(|e| StartupError::Config(format!("middleware_stack ({name}): {e}")))?;
                (name, middleware)
            }
        };
        entries.push(PipelineEntry { name, middleware });
    }
    Ok((entries, mfa_service))
}

fn mfa(wiring: &Wiring<'_>, issuer: Option<String>, rule: RateLimitRule) -> Result<Arc<MfaService>, StartupError> {
    let settings = wiring.settings;
    let key = settings
        .encryption_key
        .as_ref()
        .ok_or_else(|| StartupError::Config("encryption_key: is required by the mfa middleware".into()))?;
    let sealer = SecretBox::from_config(key.expose_secret())
        .map_err(|e| StartupError::Config(format!("encryption_key: {e}")))?;
    Ok(Arc::new(MfaService::new(
        Arc::clone(&wiring.mfa_factors),
        sealer,
        issuer.unwrap_or_else(|| settings.service_name.clone()),
        Arc::clone(&wiring.rate_limits),
        rule,
        Arc::clone(&wiring.clock),
    )))
}
