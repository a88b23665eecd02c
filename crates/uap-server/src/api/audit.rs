//! Bodies of `/api/v1/audit/*` (CONTRACT §3) and of `uap audit report`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

/// `GET /api/v1/audit/logs` query. Dates are RFC 3339 or `YYYY-MM-DD` (a
/// bare `end_date` includes that whole day, UTC).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogsParams {
    /// Only this host user's events.
    pub user_id: Option<String>,
    /// Only this event type, e.g. `FAILED_LOGIN`.
    pub event_type: Option<String>,
    /// Events at or after this instant.
    pub start_date: Option<String>,
    /// Events at or before this instant.
    pub end_date: Option<String>,
    /// [100] at most this many events, 1 to 1000.
    pub limit: Option<String>,
}

/// `GET /api/v1/audit/report` query (and `uap audit report --from --to`).
/// Without dates: the last 30 days.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// Start of the period (RFC 3339 or `YYYY-MM-DD`), inclusive.
    pub start_date: Option<String>,
    /// End of the period (RFC 3339, or `YYYY-MM-DD` for the whole day), inclusive.
    pub end_date: Option<String>,
}

/// One audit record.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditLogEntry {
    pub id: String,
    pub event_type: String,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub ip_address: Option<String>,
    pub success: bool,
    /// The real reason of a failure.
    pub error_message: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: Value,
    /// RFC 3339 UTC.
    pub timestamp: String,
}

/// `GET /api/v1/audit/logs`: newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditLogsResponse {
    pub logs: Vec<AuditLogEntry>,
}

/// The reporting period.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportPeriod {
    pub start_date: String,
    pub end_date: String,
}

/// Counts of one event type.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventStatistics {
    pub total: u64,
    pub successful: u64,
    /// Percentage of events that failed, rounded to 2 decimals (0 to 100).
    pub failure_rate: f64,
}

/// Failed logins from one client address.
#[derive(Debug, Serialize, ToSchema)]
pub struct FailedLoginSource {
    /// `null` when the address was unknown.
    pub ip_address: Option<String>,
    pub count: u64,
}

/// Password hash upgrades done on login (`PASSWORD_CHANGE`, reason `hash_upgrade`).
#[derive(Debug, Serialize, ToSchema)]
pub struct HashUpgrades {
    pub done: u64,
    pub skipped: u64,
    /// Skipped upgrades per reason (`column_too_narrow`, `changed_concurrently`,
    /// `directory_read_only`, `host_write_failed`).
    pub by_reason: BTreeMap<String, u64>,
}

/// `SUSPICIOUS_ACTIVITY` events.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuspiciousActivity {
    pub count: u64,
    /// The 10 newest, newest first.
    pub latest: Vec<AuditLogEntry>,
}

/// The compliance report (`GET /api/v1/audit/report`, `uap audit report`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ComplianceReport {
    pub period: ReportPeriod,
    /// Per event type present in the period.
    pub authentication_statistics: BTreeMap<String, EventStatistics>,
    /// The 10 addresses with the most `FAILED_LOGIN`s, most first.
    pub top_failed_login_sources: Vec<FailedLoginSource>,
    /// Successful logins on a stored hash format UAP considers weak, per format.
    pub weak_hash_logins: BTreeMap<String, u64>,
    pub hash_upgrades: HashUpgrades,
    /// `ACCOUNT_LOCKED` events.
    pub lockouts: u64,
    pub suspicious_activity: SuspiciousActivity,
    /// Shadow-mode judgements (`SHADOW_LOGIN`) against the host's verdicts.
    pub shadow: ShadowReport,
    /// RFC 3339 UTC.
    pub generated_at: String,
}

/// How UAP's shadow-mode verdicts compare with the host application's.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct ShadowReport {
    /// Attempts judged.
    pub total: u64,
    /// Of which the host sent its own verdict (`host_decision`).
    pub with_host_decision: u64,
    /// Same verdict as the host.
    pub agreed: u64,
    /// Another verdict than the host's: look at these before enforcing.
    pub disagreed: u64,
    /// Per stored hash format (`none`: no stored hash was reached).
    pub by_hash_format: BTreeMap<String, ShadowFormat>,
}

/// One hash format's share of the shadow judgements.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShadowFormat {
    pub total: u64,
    pub agreed: u64,
    pub disagreed: u64,
}
