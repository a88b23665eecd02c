//! [`HostDirectory`]: the host data source of a runtime, a database table or
//! a host user API (CONTRACT §7), behind one port so that `PUT
//! /api/v1/config/` can switch between them.

use std::sync::Arc;

use secrecy::ExposeSecret;
use uap_adapters_http::HttpUserDirectory;
use uap_adapters_sql::SqlUserDirectory;
use uap_ports::{PasswordAuthority, UserDirectory};

use crate::config::HostSource;
use crate::error::StartupError;

/// The connected host data source.
#[derive(Debug, Clone)]
pub enum HostDirectory {
    /// A host database table (`data_source_type = "database"`).
    Database(Arc<SqlUserDirectory>),
    /// A host user API (`data_source_type = "api"`).
    Api(Arc<HttpUserDirectory>),
}

impl HostDirectory {
    /// Connects to the host data source of `host`: for a database, reflects
    /// the table and checks every configured column; for an API, checks the
    /// settings and that `GET /health` answers 200.
    ///
    /// # Errors
    /// [`StartupError::HostDirectory`] naming the table/column/URL at fault,
    /// [`StartupError::HostApi`] naming the route (never the key).
    pub async fn connect(host: &HostSource) -> Result<Self, StartupError> {
        match host {
            HostSource::Database { url, table } => SqlUserDirectory::connect(url.expose_secret(), table.clone())
                .await
                .map(|sql| Self::Database(Arc::new(sql)))
                .map_err(StartupError::HostDirectory),
            HostSource::Api(config) => {
                let api = HttpUserDirectory::new(config.clone()).map_err(|e| StartupError::Config(e.to_string()))?;
                api.health().await.map_err(|err| StartupError::HostApi {
                    url: api.base_url(),
                    detail: uap_ports::error_chain(&err),
                })?;
                Ok(Self::Api(Arc::new(api)))
            }
        }
    }

    /// The user directory port over this source.
    #[must_use]
    pub fn directory(&self) -> Arc<dyn UserDirectory> {
        match self {
            Self::Database(sql) => Arc::clone(sql) as Arc<dyn UserDirectory>,
            Self::Api(api) => Arc::clone(api) as Arc<dyn UserDirectory>,
        }
    }

    /// The host's own password check, in delegated mode
    /// (`host_api_verifies_password = true`).
    #[must_use]
    pub fn authority(&self) -> Option<Arc<dyn PasswordAuthority>> {
        match self {
            Self::Api(api) if api.verifies_password() => Some(Arc::clone(api) as Arc<dyn PasswordAuthority>),
            _ => None,
        }
    }

    /// Host database connections checked out right now (0 for an API).
    #[must_use]
    pub fn connections_in_use(&self) -> u64 {
        match self {
            Self::Database(sql) => sql.connections_in_use(),
            Self::Api(_) => 0,
        }
    }
}
