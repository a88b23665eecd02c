//! `GET /api/v1/audit/logs`, `GET /api/v1/audit/report` (admin; the guard
//! wraps the scope).

use actix_web::{HttpResponse, get, web};

use crate::api::{ApiError, AuditLogsResponse, ComplianceReport, FailureResponse, LogsParams, ReportParams};
use crate::audit;
use crate::state::AppState;

/// Audit records matching the filters, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/audit/logs",
    tag = "operations",
    params(LogsParams),
    security(("admin_api_key" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Matching records, newest first", body = AuditLogsResponse),
        (status = 400, description = "A bad filter (named)", body = FailureResponse),
        (status = 401, description = "Missing or wrong admin API key", body = FailureResponse),
        (status = 403, description = "Client address outside admin_ip_allowlist", body = FailureResponse),
        (status = 404, description = "No admin_api_key configured", body = FailureResponse),
    )
)]
#[get("/logs")]
pub async fn logs(state: web::Data<AppState>, params: web::Query<LogsParams>) -> Result<HttpResponse, ApiError> {
    let filter = audit::logs_filter(&params).map_err(ApiError::BadRequest)?;
    let events = state.audit_query.list(&filter).await.map_err(|e| ApiError::dependency("internal database", &e))?;
    Ok(HttpResponse::Ok().json(AuditLogsResponse { logs: events.into_iter().map(audit::entry).collect() }))
}

/// The compliance report of a period (default: the last 30 days).
#[utoipa::path(
    get,
    path = "/api/v1/audit/report",
    tag = "operations",
    params(ReportParams),
    security(("admin_api_key" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The compliance report", body = ComplianceReport),
        (status = 400, description = "A bad date (named)", body = FailureResponse),
        (status = 401, description = "Missing or wrong admin API key", body = FailureResponse),
        (status = 403, description = "Client address outside admin_ip_allowlist", body = FailureResponse),
        (status = 404, description = "No admin_api_key configured", body = FailureResponse),
    )
)]
#[get("/report")]
pub async fn report(state: web::Data<AppState>, params: web::Query<ReportParams>) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let (start, end) =
        audit::report_period(params.start_date.as_deref(), params.end_date.as_deref(), ("start_date", "end_date"), now)
            .map_err(ApiError::BadRequest)?;
    let report = audit::report(state.audit_query.as_ref(), start, end, now)
        .await
        .map_err(|e| ApiError::dependency("internal database", &e))?;
    Ok(HttpResponse::Ok().json(report))
}
