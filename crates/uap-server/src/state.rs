//! What every handler shares.

use std::sync::Arc;

use uap_adapters_sql::InternalDb;
use uap_domain::AuditRecorder;
use uap_domain::auth::AuthService;
use uap_ports::{AuditQuery, Clock};

use crate::admin::AdminGuard;
use crate::client_ip::ClientIpResolver;
use crate::metrics::Metrics;

/// The runtime built from the configuration.
pub struct AppState {
    pub auth: AuthService,
    pub metrics: Metrics,
    pub internal_db: Arc<InternalDb>,
    pub client_ip: ClientIpResolver,
    pub clock: Arc<dyn Clock>,
    /// `admin_api_key` and `admin_ip_allowlist`.
    pub admin: AdminGuard,
    /// Writes `API_ACCESS` (and any other event outside the domain).
    pub audit: AuditRecorder,
    /// Reads the audit trail (admin routes).
    pub audit_query: Arc<dyn AuditQuery>,
}
