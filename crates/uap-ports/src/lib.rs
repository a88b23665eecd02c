//! Driven ports of UAP: the traits the core needs from the outside world and the
//! plain data that crosses them.
//!
//! This crate owns no behaviour. It must never depend on a framework, a driver or
//! an async runtime (no actix, sea-orm, sqlx, fred, reqwest, hyper or tokio I/O):
//! adapters implement these traits, `uap-domain` consumes them.

mod audit;
mod captcha;
mod clock;
mod config_store;
#[cfg(feature = "contract-tests")]
pub mod contract;
mod directory;
mod error;
mod events;
mod flags;
mod ids;
mod mfa;
mod middleware_log;
mod pool;
mod rate_limit;
mod session;
mod webhook;

pub use audit::{
    AuditEvent, AuditEventType, AuditFilter, AuditQuery, AuditSink, AuditSummary, EventTypeStats, ShadowCounts,
};
pub use captcha::{CaptchaError, CaptchaVerdict, CaptchaVerifier};
pub use clock::{Clock, SystemClock};
pub use config_store::{ConfigStore, ConfigVersion};
pub use directory::{Delegated, HostUser, PasswordAuthority, PasswordUpdate, UserDirectory, UserQuery};
pub use error::{BoxError, StoreError, error_chain};
pub use events::{BusEvent, BusHandler, EventBus};
pub use flags::{flag_value, marker_set};
pub use ids::{IdGenerator, RandomIds};
pub use mfa::{MfaFactor, MfaFactorStore};
pub use middleware_log::{MiddlewareLogSink, MiddlewareRun};
pub use pool::{BlockingPool, Job, JobOutput, PoolError, compute};
pub use rate_limit::{
    Admission, LATEST, RateLimitCounter, RateLimitKey, RateLimitRule, RateLimitStore, Step, saturating_add,
};
pub use session::{RotateOutcome, SessionRecord, SessionState, SessionStore};
pub use webhook::{WebhookAction, WebhookCall, WebhookClient, WebhookError};
