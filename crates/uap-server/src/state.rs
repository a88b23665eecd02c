//! What every handler shares: the parts built once at start-up, and the
//! [`Runtime`] built from the configuration, which `PUT /api/v1/config/`
//! replaces atomically (a request holds the runtime it started with until it
//! ends).

use std::sync::Arc;

use arc_swap::ArcSwap;
use uap_adapters_sql::InternalDb;
use uap_domain::AuditRecorder;
use uap_domain::auth::AuthService;
use uap_ports::{AuditQuery, Clock, ConfigStore};

use crate::admin::AdminGuard;
use crate::client_ip::ClientIpResolver;
use crate::config::Settings;
use crate::host::HostDirectory;
use crate::metrics::Metrics;
use crate::startup::Shared;
use crate::tls::TlsCertificates;

/// What the configuration builds and a reload replaces.
pub struct Runtime {
    /// Logins, sessions, MFA over the configured host directory and pipeline.
    pub auth: AuthService,
    /// `admin_api_key` and `admin_ip_allowlist`.
    pub admin: AdminGuard,
    /// The configuration it was built from (shown redacted by the admin API).
    pub settings: Settings,
    /// The stored configuration version (`None`: the file's, never stored).
    pub version: Option<i64>,
    /// The host data source itself (pool gauges).
    pub host: HostDirectory,
    /// The digest of `sdk_api_key` (`None`: the revocation feed answers 404).
    pub sdk_key: Option<[u8; 32]>,
}

/// The state of the server.
pub struct AppState {
    runtime: ArcSwap<Runtime>,
    pub metrics: Metrics,
    pub internal_db: Arc<InternalDb>,
    /// `trusted_proxies` (a restart-only key).
    pub client_ip: ClientIpResolver,
    pub clock: Arc<dyn Clock>,
    /// Writes `API_ACCESS`, `CONFIGURATION_CHANGE` (and any other event
    /// outside the domain).
    pub audit: AuditRecorder,
    /// Reads the audit trail (admin routes).
    pub audit_query: Arc<dyn AuditQuery>,
    /// Configuration versions (`PUT /api/v1/config/`).
    pub config_store: Arc<dyn ConfigStore>,
    /// What a new runtime is built over (stores, queues, the hashing pool).
    pub(crate) shared: Shared,
    /// One configuration change at a time.
    pub(crate) reload: tokio::sync::Mutex<()>,
    /// The served certificate (`None`: plain HTTP), replaced by a change of
    /// `tls_cert_file`/`tls_key_file`.
    pub(crate) tls: Option<Arc<TlsCertificates>>,
}

impl AppState {
    /// The state around `runtime`.
    pub(crate) fn new(runtime: Runtime, parts: StableParts, shared: Shared, tls: Option<Arc<TlsCertificates>>) -> Self {
        Self {
            runtime: ArcSwap::from_pointee(runtime),
            metrics: parts.metrics,
            internal_db: parts.internal_db,
            client_ip: parts.client_ip,
            clock: parts.clock,
            audit: parts.audit,
            audit_query: parts.audit_query,
            config_store: parts.config_store,
            shared,
            reload: tokio::sync::Mutex::new(()),
            tls,
        }
    }

    /// The current runtime; a request keeps the one it took.
    #[must_use]
    pub fn runtime(&self) -> Arc<Runtime> {
        self.runtime.load_full()
    }

    /// Puts `runtime` in place of the current one.
    pub(crate) fn swap(&self, runtime: Runtime) {
        let kid = runtime.auth.sessions().tokens().key_id();
        let previous = self.runtime.swap(Arc::new(runtime));
        if let Some(kid) = kid
            && previous.auth.sessions().tokens().key_id().as_ref() != Some(&kid)
        {
            // This instance signs with the new key from now on.
            self.shared.events.publish(&uap_ports::BusEvent::KeysRotated { kid });
        }
    }

    /// The certificate `candidate` names, checked, when it differs from the
    /// served one (`Ok(None)`: nothing to reload).
    ///
    /// # Errors
    /// An unreadable or mismatched pair, or a change between HTTP and HTTPS
    /// (which needs a restart), naming the key.
    pub(crate) fn tls_change<'a>(
        &self,
        current: &Settings,
        candidate: &'a Settings,
    ) -> Result<Option<(&'a str, &'a str)>, String> {
        let next = (candidate.tls_cert_file.as_deref(), candidate.tls_key_file.as_deref());
        if (current.tls_cert_file.as_deref(), current.tls_key_file.as_deref()) == next {
            return Ok(None);
        }
        match (&self.tls, next) {
            (Some(_), (Some(cert), Some(key))) => {
                TlsCertificates::load(cert, key)?;
                Ok(Some((cert, key)))
            }
            _ => Err("tls_cert_file: switching between HTTP and HTTPS changes only on restart".into()),
        }
    }

    /// Serves `cert`/`key` from the next handshake on.
    pub(crate) fn reload_tls(&self, (cert, key): (&str, &str)) {
        if let Some(tls) = &self.tls
            && let Err(err) = tls.reload(cert, key)
        {
            tracing::error!(error = %err, "TLS certificate not reloaded; the served one is kept");
        }
    }
}

/// The parts of [`AppState`] that live as long as the process.
pub(crate) struct StableParts {
    pub metrics: Metrics,
    pub internal_db: Arc<InternalDb>,
    pub client_ip: ClientIpResolver,
    pub clock: Arc<dyn Clock>,
    pub audit: AuditRecorder,
    pub audit_query: Arc<dyn AuditQuery>,
    pub config_store: Arc<dyn ConfigStore>,
}
