//! The audit read side shared by the admin routes and `uap audit report`:
//! parsing the filters (dates, limit, event type) and shaping the compliance
//! report from the store's aggregates.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, Duration, OffsetDateTime, Time};
use uap_ports::{AuditEvent, AuditEventType, AuditFilter, AuditQuery, AuditSummary, ShadowCounts, StoreError};

use crate::api::{
    AuditLogEntry, ComplianceReport, EventStatistics, FailedLoginSource, HashUpgrades, LogsParams, ReportPeriod,
    ShadowFormat, ShadowReport, SuspiciousActivity, rfc3339,
};

/// `limit` when none is given.
pub const DEFAULT_LIMIT: u64 = 100;
/// The largest `limit` accepted.
pub const MAX_LIMIT: u64 = 1000;
/// The report's period when no `start_date` is given: this long before its end.
pub const DEFAULT_REPORT_DAYS: i64 = 30;

/// Which end of a period a date bounds: a bare `YYYY-MM-DD` starts at its
/// midnight, or ends at its last microsecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Start,
    End,
}

/// Parses `value` (RFC 3339, or `YYYY-MM-DD` in UTC) of parameter `name`.
///
/// # Errors
/// A message naming the parameter and the accepted forms.
pub fn parse_instant(name: &str, value: &str, bound: Bound) -> Result<OffsetDateTime, String> {
    let value = value.trim();
    if let Ok(at) = OffsetDateTime::parse(value, &Rfc3339) {
        return Ok(at);
    }
    let date = Date::parse(value, format_description!("[year]-[month]-[day]")).map_err(|_| {
        format!("{name}: {value:?} is not a date (use RFC 3339, e.g. 2026-01-31T12:00:00Z, or YYYY-MM-DD)")
    })?;
    let midnight = date.with_time(Time::MIDNIGHT).assume_utc();
    Ok(match bound {
        Bound::Start => midnight,
        Bound::End => midnight + Duration::days(1) - Duration::microseconds(1),
    })
}

/// Parses `limit`: [100], 1 to 1000.
///
/// # Errors
/// A message naming `limit` and its range.
pub fn parse_limit(value: Option<&str>) -> Result<u64, String> {
    let Some(value) = value else { return Ok(DEFAULT_LIMIT) };
    match value.trim().parse::<u64>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(format!("limit: must be an integer from 1 to {MAX_LIMIT} (got {value:?})")),
    }
}

/// Parses an event type name.
///
/// # Errors
/// A message naming `event_type` and listing the known names.
pub fn parse_event_type(value: &str) -> Result<AuditEventType, String> {
    AuditEventType::parse(value.trim()).ok_or_else(|| {
        let known: Vec<&str> = AuditEventType::ALL.iter().map(|t| t.as_str()).collect();
        format!("event_type: unknown {value:?} (one of {})", known.join(", "))
    })
}

/// The store filter of `GET /api/v1/audit/logs`.
///
/// # Errors
/// The first bad parameter, named.
pub fn logs_filter(params: &LogsParams) -> Result<AuditFilter, String> {
    let filter = AuditFilter {
        user_id: params.user_id.clone().filter(|u| !u.is_empty()),
        event_type: params.event_type.as_deref().filter(|t| !t.is_empty()).map(parse_event_type).transpose()?,
        start: params.start_date.as_deref().map(|v| parse_instant("start_date", v, Bound::Start)).transpose()?,
        end: params.end_date.as_deref().map(|v| parse_instant("end_date", v, Bound::End)).transpose()?,
        limit: parse_limit(params.limit.as_deref())?,
    };
    check_order(filter.start, filter.end)?;
    Ok(filter)
}

fn check_order(start: Option<OffsetDateTime>, end: Option<OffsetDateTime>) -> Result<(), String> {
    match (start, end) {
        (Some(start), Some(end)) if start > end => Err("start_date: must not be after end_date".into()),
        _ => Ok(()),
    }
}

/// The report period from optional `start_date`/`end_date` (defaults: the
/// last [`DEFAULT_REPORT_DAYS`] days up to `now`).
///
/// # Errors
/// The first bad parameter, named (`names` lets the CLI
/// say `--from`/`--to`).
pub fn report_period(
    start: Option<&str>,
    end: Option<&str>,
    names: (&str, &str),
    now: OffsetDateTime,
) -> Result<(OffsetDateTime, OffsetDateTime), String> {
    let end = end.map(|v| parse_instant(names.1, v, Bound::End)).transpose()?.unwrap_or(now);
    let start = start
        .map(|v| parse_instant(names.0, v, Bound::Start))
        .transpose()?
        .unwrap_or(end - Duration::days(DEFAULT_REPORT_DAYS));
    if start > end {
        return Err(format!("{}: must not be after {}", names.0, names.1));
    }
    Ok((start, end))
}

/// The wire form of an audit record.
#[must_use]
pub fn entry(event: AuditEvent) -> AuditLogEntry {
    AuditLogEntry {
        id: event.id,
        event_type: event.event_type.as_str().to_owned(),
        user_id: event.user_id,
        session_id: event.session_id,
        ip_address: event.ip_address,
        success: event.success,
        error_message: event.error_message,
        metadata: if event.metadata.is_null() { serde_json::json!({}) } else { event.metadata },
        timestamp: rfc3339(event.timestamp),
    }
}

/// The failure percentage, 2 decimals.
fn failure_rate(total: u64, successful: u64) -> f64 {
    if total == 0 {
        return 0.0;
    }
    #[expect(clippy::cast_precision_loss, reason = "a percentage for people to read")]
    let rate = (total.saturating_sub(successful)) as f64 / total as f64 * 100.0;
    (rate * 100.0).round() / 100.0
}

/// Shapes the store's aggregates as the compliance report.
#[must_use]
pub fn shape_report(
    summary: AuditSummary,
    start: OffsetDateTime,
    end: OffsetDateTime,
    now: OffsetDateTime,
) -> ComplianceReport {
    let count_of = |name: &str| summary.statistics.iter().find(|s| s.event_type == name).map_or(0, |s| s.total);
    let lockouts = count_of(AuditEventType::AccountLocked.as_str());
    let suspicious = count_of(AuditEventType::SuspiciousActivity.as_str());
    ComplianceReport {
        period: ReportPeriod { start_date: rfc3339(start), end_date: rfc3339(end) },
        authentication_statistics: summary
            .statistics
            .iter()
            .map(|s| {
                let stats = EventStatistics {
                    total: s.total,
                    successful: s.successful,
                    failure_rate: failure_rate(s.total, s.successful),
                };
                (s.event_type.clone(), stats)
            })
            .collect(),
        top_failed_login_sources: summary
            .top_failed_login_sources
            .into_iter()
            .map(|(ip_address, count)| FailedLoginSource { ip_address, count })
            .collect(),
        weak_hash_logins: summary.weak_hash_logins.into_iter().collect(),
        hash_upgrades: HashUpgrades {
            done: summary.hash_upgrades_done,
            skipped: summary.hash_upgrades_skipped.iter().map(|(_, n)| n).sum(),
            by_reason: summary.hash_upgrades_skipped.into_iter().collect(),
        },
        lockouts,
        suspicious_activity: SuspiciousActivity {
            count: suspicious,
            latest: summary.latest_suspicious.into_iter().map(entry).collect(),
        },
        shadow: shadow_report(summary.shadow_by_hash_format),
        generated_at: rfc3339(now),
    }
}

/// The report's `shadow` section from the per-format counts.
fn shadow_report(by_format: Vec<(String, ShadowCounts)>) -> ShadowReport {
    let mut overall = ShadowCounts::default();
    let mut report = ShadowReport::default();
    for (format, counts) in by_format {
        overall += counts;
        report
            .by_hash_format
            .insert(format, ShadowFormat { total: counts.total, agreed: counts.agreed, disagreed: counts.disagreed });
    }
    ShadowReport {
        total: overall.total,
        with_host_decision: overall.with_host_decision,
        agreed: overall.agreed,
        disagreed: overall.disagreed,
        ..report
    }
}

/// Builds the compliance report of `start..=end`.
///
/// # Errors
/// What the store reports.
pub async fn report(
    query: &dyn AuditQuery,
    start: OffsetDateTime,
    end: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<ComplianceReport, StoreError> {
    Ok(shape_report(query.summary(start, end).await?, start, end, now))
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;
    use uap_ports::EventTypeStats;

    use super::*;

    #[test]
    fn dates_are_rfc3339_or_calendar_days() {
        assert_eq!(
            parse_instant("start_date", "2026-01-31T12:00:00+02:00", Bound::Start),
            Ok(datetime!(2026-01-31 10:00:00 UTC))
        );
        assert_eq!(parse_instant("start_date", "2026-01-31", Bound::Start), Ok(datetime!(2026-01-31 00:00:00 UTC)));
        assert_eq!(parse_instant("end_date", "2026-01-31", Bound::End), Ok(datetime!(2026-01-31 23:59:59.999_999 UTC)));
        let err = parse_instant("end_date", "31/01/2026", Bound::End).unwrap_err();
        assert!(err.starts_with("end_date:"), "{err}");
        assert!(parse_instant("start_date", "2026-02-30", Bound::Start).is_err());
    }

    #[test]
    fn limit_defaults_to_100_and_stops_at_1000() {
        assert_eq!(parse_limit(None), Ok(100));
        assert_eq!(parse_limit(Some("1")), Ok(1));
        assert_eq!(parse_limit(Some("1000")), Ok(1000));
        for bad in ["0", "1001", "-1", "ten", ""] {
            let err = parse_limit(Some(bad)).unwrap_err();
            assert!(err.starts_with("limit:") && err.contains("1000"), "{bad}: {err}");
        }
    }

    #[test]
    fn filter_names_the_bad_parameter() {
        let params = LogsParams { event_type: Some("LOGINN".into()), ..LogsParams::default() };
        assert!(logs_filter(&params).unwrap_err().starts_with("event_type:"));
        let params = LogsParams {
            start_date: Some("2026-02-01".into()),
            end_date: Some("2026-01-01".into()),
            ..LogsParams::default()
        };
        assert!(logs_filter(&params).unwrap_err().starts_with("start_date:"));
        let params = LogsParams {
            user_id: Some("alice".into()),
            event_type: Some("FAILED_LOGIN".into()),
            limit: Some("5".into()),
            ..LogsParams::default()
        };
        let filter = logs_filter(&params).unwrap();
        assert_eq!(
            (filter.user_id.as_deref(), filter.event_type, filter.limit),
            (Some("alice"), Some(AuditEventType::FailedLogin), 5)
        );
    }

    #[test]
    fn report_defaults_to_the_last_30_days() {
        let now = datetime!(2026-03-31 12:00:00 UTC);
        assert_eq!(report_period(None, None, ("start_date", "end_date"), now), Ok((now - Duration::days(30), now)));
        let err = report_period(Some("2026-04-01"), Some("2026-03-01"), ("--from", "--to"), now).unwrap_err();
        assert!(err.starts_with("--from:"), "{err}");
    }

    #[test]
    fn failure_rate_is_a_percentage_with_two_decimals() {
        let summary = AuditSummary {
            statistics: vec![
                EventTypeStats { event_type: "LOGIN".into(), total: 3, successful: 2 },
                EventTypeStats { event_type: "ACCOUNT_LOCKED".into(), total: 2, successful: 0 },
            ],
            top_failed_login_sources: vec![],
            weak_hash_logins: vec![],
            hash_upgrades_done: 0,
            hash_upgrades_skipped: vec![("column_too_narrow".into(), 2), ("changed_concurrently".into(), 1)],
            latest_suspicious: vec![],
            shadow_by_hash_format: vec![
                ("bcrypt".into(), ShadowCounts { total: 4, with_host_decision: 3, agreed: 2, disagreed: 1 }),
                ("none".into(), ShadowCounts { total: 1, with_host_decision: 1, agreed: 1, disagreed: 0 }),
            ],
        };
        let now = datetime!(2026-03-31 12:00:00 UTC);
        let report = shape_report(summary, now, now, now);
        assert!((report.authentication_statistics["LOGIN"].failure_rate - 33.33).abs() < f64::EPSILON);
        assert!((report.authentication_statistics["ACCOUNT_LOCKED"].failure_rate - 100.0).abs() < f64::EPSILON);
        assert_eq!((report.lockouts, report.hash_upgrades.skipped), (2, 3));
        let shadow = &report.shadow;
        assert_eq!((shadow.total, shadow.with_host_decision, shadow.agreed, shadow.disagreed), (5, 4, 3, 1));
        assert_eq!(shadow.by_hash_format["bcrypt"].disagreed, 1);
    }
}
