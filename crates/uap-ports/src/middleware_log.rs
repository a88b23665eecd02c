//! The middleware-run log port (`uap_middleware_logs`).

use async_trait::async_trait;
use serde_json::Value;
use time::OffsetDateTime;

use crate::StoreError;

/// One middleware run (`uap_middleware_logs`). Never carries a password,
/// token, code or secret.
#[derive(Debug, Clone, PartialEq)]
pub struct MiddlewareRun {
    /// Random UUID (text form).
    pub id: String,
    /// The session created by the login, when it succeeded.
    pub session_id: Option<String>,
    /// The middleware's name.
    pub middleware_name: String,
    /// Its position in `middleware_stack`.
    pub execution_order: u32,
    /// `pre_authenticate`, `post_authenticate` or `on_failure` (column `phase`).
    pub phase: &'static str,
    /// How long it ran.
    pub execution_time_ms: u32,
    /// False when it blocked, challenged or failed.
    pub success: bool,
    /// Why, when not successful.
    pub error_message: Option<String>,
    /// What it saw (identifier, ip — no secrets).
    pub input_data: Value,
    /// What it decided.
    pub output_data: Value,
    /// When it ran.
    pub timestamp: OffsetDateTime,
}

/// Where middleware runs are written (behind a batching queue).
#[async_trait]
pub trait MiddlewareLogSink: Send + Sync + 'static {
    /// Writes a batch durably.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] or [`StoreError::Backend`]; the caller retries.
    async fn write_runs(&self, runs: &[MiddlewareRun]) -> Result<(), StoreError>;
}
