//! UAP's HTTP composition root: loads the configuration, builds the runtime
//! (adapters chosen from configuration), maps domain errors to the contract's
//! status codes, and serves the routes of CONTRACT §3 with actix-web.
//!
//! Handlers stay thin: parse the wire type, call the domain, map the result.

pub mod admin;
pub mod alerts;
pub mod api;
pub mod audit;
pub mod client_ip;
pub mod config;
pub mod error;
pub mod events;
pub mod follow;
pub mod handlers;
pub mod host;
pub mod http;
pub mod metrics;
pub mod observe;
pub mod openapi;
pub mod pipeline;
pub mod request_span;
pub mod retention;
pub mod runtime;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod tls;

pub use config::Config;
pub use error::StartupError;
pub use host::HostDirectory;
pub use startup::{Application, connect_host_directory, connect_internal_db};
