//! What every handler shares.

use std::sync::Arc;

use uap_adapters_sql::InternalDb;
use uap_domain::auth::AuthService;
use uap_ports::Clock;

use crate::client_ip::ClientIpResolver;
use crate::metrics::Metrics;

/// The runtime built from the configuration.
pub struct AppState {
    pub auth: AuthService,
    pub metrics: Metrics,
    pub internal_db: Arc<InternalDb>,
    pub client_ip: ClientIpResolver,
    pub clock: Arc<dyn Clock>,
}
