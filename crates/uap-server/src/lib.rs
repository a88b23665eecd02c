//! UAP's HTTP composition root: loads the configuration, builds the runtime
//! (adapters chosen from configuration), maps domain errors to the contract's
//! status codes, and serves the routes of CONTRACT §3 with actix-web.
//!
//! Handlers stay thin: parse the wire type, call the domain, map the result.

pub mod admin;
pub mod alerts;
pub mod api;
pub mod audit;
pub mod batch_queue;
pub mod client_ip;
pub mod config;
pub mod handlers;
pub mod http;
pub mod metrics;
pub mod observe;
pub mod openapi;
pub mod pipeline;
pub mod pool;
pub mod protected;
pub mod request_span;
pub mod retention;
pub mod session_cache;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod tls;

pub use config::Config;
pub use startup::{Application, StartupError, connect_host_directory, connect_internal_db};
