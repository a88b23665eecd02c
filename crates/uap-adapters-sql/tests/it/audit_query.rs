//! The audit queries of the internal database on every engine: filtered
//! listing (newest first, limits, organization scoping), the compliance
//! report's aggregates, and retention deletes in batches.

use serde_json::{Value, json};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uap_adapters_sql::testing::TestDb;
use uap_ports::{
    AuditEvent, AuditEventType, AuditFilter, AuditQuery, AuditSink, MiddlewareLogSink, MiddlewareRun, ShadowCounts,
};

use crate::support::migrated;

per_backend!(
    list_filters_and_orders,
    summary_aggregates_in_the_period,
    shadow_agreement_per_hash_format,
    delete_before_goes_in_batches
);

const T0: OffsetDateTime = datetime!(2026-01-10 12:00:00 UTC);

fn id(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

fn ev(n: u32, event_type: AuditEventType, at: OffsetDateTime) -> AuditEvent {
    AuditEvent {
        id: id(n),
        event_type,
        user_id: None,
        session_id: None,
        ip_address: None,
        user_agent: None,
        success: true,
        error_message: None,
        metadata: json!({}),
        timestamp: at,
    }
}

fn user(mut e: AuditEvent, user: &str) -> AuditEvent {
    e.user_id = Some(user.to_owned());
    e
}

fn failed(mut e: AuditEvent, ip: Option<&str>, reason: &str) -> AuditEvent {
    e.success = false;
    e.ip_address = ip.map(str::to_owned);
    e.error_message = Some(reason.to_owned());
    e
}

fn meta(mut e: AuditEvent, metadata: Value) -> AuditEvent {
    e.metadata = metadata;
    e
}

fn all() -> AuditFilter {
    AuditFilter { user_id: None, event_type: None, start: None, end: None, limit: 100 }
}

fn ids(events: &[AuditEvent]) -> Vec<String> {
    events.iter().map(|e| e.id.clone()).collect()
}

async fn list_filters_and_orders(db: &TestDb) {
    let sink = migrated(db, "org").await.audit_sink();
    let other = migrated(db, "org-other").await.audit_sink();
    let m = Duration::minutes;
    sink.write_batch(&[
        user(ev(1, AuditEventType::Login, T0), "alice"),
        user(failed(ev(2, AuditEventType::FailedLogin, T0 + m(1)), Some("198.51.100.1"), "wrong_password"), "alice"),
        user(ev(3, AuditEventType::Login, T0 + m(2)), "bob"),
        user(ev(4, AuditEventType::Logout, T0 + m(3)), "alice"),
        // Same instant as 4: ties go by id, descending.
        user(ev(5, AuditEventType::Login, T0 + m(3)), "alice"),
    ])
    .await
    .unwrap();
    other.write_batch(&[user(ev(9, AuditEventType::Login, T0 + m(2)), "alice")]).await.unwrap();

    assert_eq!(ids(&sink.list(&all()).await.unwrap()), [id(5), id(4), id(3), id(2), id(1)]);
    let alice = AuditFilter { user_id: Some("alice".into()), ..all() };
    assert_eq!(ids(&sink.list(&alice).await.unwrap()), [id(5), id(4), id(2), id(1)]);
    let logins = AuditFilter { event_type: Some(AuditEventType::Login), ..all() };
    assert_eq!(ids(&sink.list(&logins).await.unwrap()), [id(5), id(3), id(1)]);
    let alice_logins = AuditFilter { user_id: Some("alice".into()), ..logins.clone() };
    assert_eq!(ids(&sink.list(&alice_logins).await.unwrap()), [id(5), id(1)]);
    let window = AuditFilter { start: Some(T0 + m(1)), end: Some(T0 + m(2)), ..all() };
    assert_eq!(ids(&sink.list(&window).await.unwrap()), [id(3), id(2)], "both bounds are inclusive");
    let limited = AuditFilter { limit: 2, ..all() };
    assert_eq!(ids(&sink.list(&limited).await.unwrap()), [id(5), id(4)]);
    let nobody = AuditFilter { user_id: Some("' OR 1=1 --".into()), ..all() };
    assert!(sink.list(&nobody).await.unwrap().is_empty());
    let failure = &sink.list(&AuditFilter { event_type: Some(AuditEventType::FailedLogin), ..all() }).await.unwrap()[0];
    assert_eq!(failure.error_message.as_deref(), Some("wrong_password"));
    assert_eq!(failure.ip_address.as_deref(), Some("198.51.100.1"));
    assert_eq!(ids(&other.list(&all()).await.unwrap()), [id(9)], "organizations are apart");
}

async fn summary_aggregates_in_the_period(db: &TestDb) {
    let sink = migrated(db, "org").await.audit_sink();
    let s = Duration::seconds;
    let mut events = Vec::new();
    let counter = std::cell::Cell::new(0);
    let next = || {
        counter.set(counter.get() + 1);
        counter.get()
    };
    // 3 logins, 2 of them on weak hashes (md5_crypt, phpass).
    events.push(ev(next(), AuditEventType::Login, T0));
    events.push(meta(ev(next(), AuditEventType::Login, T0 + s(1)), json!({"hash_upgrade_recommended": "md5_crypt"})));
    events.push(meta(ev(next(), AuditEventType::Login, T0 + s(2)), json!({"hash_upgrade_recommended": "md5_crypt"})));
    events.push(meta(ev(next(), AuditEventType::Login, T0 + s(3)), json!({"hash_upgrade_recommended": "phpass"})));
    // Failed logins: 3 from .1, 2 from .2, 2 from .3 (tie broken by address), 1 without address.
    for (ip, count) in [("198.51.100.1", 3), ("198.51.100.2", 2), ("198.51.100.3", 2)] {
        for _ in 0..count {
            events.push(failed(ev(next(), AuditEventType::FailedLogin, T0 + s(5)), Some(ip), "wrong_password"));
        }
    }
    events.push(failed(ev(next(), AuditEventType::FailedLogin, T0 + s(6)), None, "unknown_user"));
    // Hash upgrades: 2 done, 1 skipped (column too narrow), 1 other password change.
    let upgrade = json!({"reason": "hash_upgrade", "from": "md5_crypt", "to": "argon2id"});
    events.push(meta(ev(next(), AuditEventType::PasswordChange, T0 + s(7)), upgrade.clone()));
    events.push(meta(ev(next(), AuditEventType::PasswordChange, T0 + s(8)), upgrade.clone()));
    events.push(meta(
        failed(ev(next(), AuditEventType::PasswordChange, T0 + s(9)), None, "column_too_narrow: holds 60, needs 97"),
        upgrade.clone(),
    ));
    events.push(meta(ev(next(), AuditEventType::PasswordChange, T0 + s(9)), json!({"reason": "other"})));
    events.push(failed(ev(next(), AuditEventType::AccountLocked, T0 + s(10)), Some("198.51.100.1"), "locked"));
    events.push(failed(ev(next(), AuditEventType::SuspiciousActivity, T0 + s(11)), None, "refresh_token_reuse"));
    let suspicious_id = id(counter.get());
    // Outside the period: never counted.
    events.push(failed(ev(next(), AuditEventType::FailedLogin, T0 - s(1)), Some("203.0.113.1"), "wrong_password"));
    events.push(meta(ev(next(), AuditEventType::Login, T0 + s(100)), json!({"hash_upgrade_recommended": "md5_crypt"})));
    sink.write_batch(&events).await.unwrap();

    let summary = sink.summary(T0, T0 + s(11)).await.unwrap();
    let stats: Vec<(String, u64, u64)> =
        summary.statistics.iter().map(|s| (s.event_type.clone(), s.total, s.successful)).collect();
    assert_eq!(
        stats,
        [
            ("ACCOUNT_LOCKED".to_owned(), 1, 0),
            ("FAILED_LOGIN".to_owned(), 8, 0),
            ("LOGIN".to_owned(), 4, 4),
            ("PASSWORD_CHANGE".to_owned(), 4, 3),
            ("SUSPICIOUS_ACTIVITY".to_owned(), 1, 0),
        ]
    );
    assert_eq!(
        summary.top_failed_login_sources,
        [
            (Some("198.51.100.1".to_owned()), 3),
            (Some("198.51.100.2".to_owned()), 2),
            (Some("198.51.100.3".to_owned()), 2),
            (None, 1),
        ]
    );
    assert_eq!(summary.weak_hash_logins, [("md5_crypt".to_owned(), 2), ("phpass".to_owned(), 1)]);
    assert_eq!(summary.hash_upgrades_done, 2);
    assert_eq!(summary.hash_upgrades_skipped, [("column_too_narrow".to_owned(), 1)]);
    assert_eq!(ids(&summary.latest_suspicious), [suspicious_id]);

    let empty = sink.summary(T0 + s(1000), T0 + s(2000)).await.unwrap();
    assert!(empty.statistics.is_empty() && empty.top_failed_login_sources.is_empty());
}

/// `SHADOW_LOGIN` rows as shadow mode writes them: booleans and nulls in
/// JSON, read back the same on every engine.
async fn shadow_agreement_per_hash_format(db: &TestDb) {
    let sink = migrated(db, "org").await.audit_sink();
    let shadow = |n: u32, would: bool, host: Value, format: &str| {
        let agreed = host.as_bool().map(|host| host == would);
        let mut e = meta(
            ev(n, AuditEventType::ShadowLogin, T0 + Duration::seconds(i64::from(n))),
            json!({"would_accept": would, "host_decision": host, "agreed": agreed, "hash_format": format, "reason": "x"}),
        );
        e.success = would;
        e
    };
    sink.write_batch(&[
        shadow(1, true, json!(true), "bcrypt cost 10"),
        shadow(2, false, json!(false), "bcrypt cost 10"),
        shadow(3, true, json!(false), "bcrypt cost 10"),
        shadow(4, false, Value::Null, "bcrypt cost 10"),
        shadow(5, false, json!(true), "md5_crypt"),
        shadow(6, false, json!(false), "none"),
        meta(ev(7, AuditEventType::Login, T0), json!({"hash_format": "bcrypt cost 10"})),
    ])
    .await
    .unwrap();
    let summary = sink.summary(T0, T0 + Duration::seconds(60)).await.unwrap();
    let counts =
        |total, with_host_decision, agreed, disagreed| ShadowCounts { total, with_host_decision, agreed, disagreed };
    assert_eq!(
        summary.shadow_by_hash_format,
        [
            ("bcrypt cost 10".to_owned(), counts(4, 3, 2, 1)),
            ("md5_crypt".to_owned(), counts(1, 1, 0, 1)),
            ("none".to_owned(), counts(1, 1, 1, 0)),
        ]
    );
}

fn run(n: u32, at: OffsetDateTime) -> MiddlewareRun {
    MiddlewareRun {
        id: id(n),
        session_id: None,
        middleware_name: "rate_limit".to_owned(),
        execution_order: 0,
        phase: "pre_authenticate",
        execution_time_ms: 1,
        success: true,
        error_message: None,
        input_data: json!({}),
        output_data: json!({}),
        timestamp: at,
    }
}

async fn delete_before_goes_in_batches(db: &TestDb) {
    let internal = migrated(db, "org").await;
    let other = migrated(db, "org-other").await.audit_sink();
    let sink = internal.audit_sink();
    let runs = internal.middleware_log_sink();
    let cutoff = T0;
    let old: Vec<AuditEvent> =
        (1..=5).map(|n| ev(n, AuditEventType::Login, cutoff - Duration::days(i64::from(n)))).collect();
    sink.write_batch(&old).await.unwrap();
    // Exactly at the cutoff is kept (strictly older rows go).
    sink.write_batch(&[
        ev(10, AuditEventType::Login, cutoff),
        ev(11, AuditEventType::Login, cutoff + Duration::days(1)),
    ])
    .await
    .unwrap();
    other.write_batch(&[ev(20, AuditEventType::Login, cutoff - Duration::days(9))]).await.unwrap();
    runs.write_runs(&[run(30, cutoff - Duration::days(3)), run(31, cutoff - Duration::days(2)), run(32, cutoff)])
        .await
        .unwrap();

    assert_eq!(sink.count_before(cutoff).await.unwrap(), 5);
    assert_eq!(runs.count_before(cutoff).await.unwrap(), 2);
    let mut batches = Vec::new();
    loop {
        let n = sink.delete_before(cutoff, 2).await.unwrap();
        if n == 0 {
            break;
        }
        batches.push(n);
    }
    assert_eq!(batches, [2, 2, 1]);
    assert_eq!(ids(&sink.list(&all()).await.unwrap()), [id(11), id(10)]);
    assert_eq!(ids(&other.list(&all()).await.unwrap()), [id(20)], "another organization's rows stay");

    assert_eq!(sink.count_before(cutoff).await.unwrap(), 0);
    assert_eq!(runs.delete_before(cutoff, 5_000).await.unwrap(), 2);
    assert_eq!(runs.delete_before(cutoff, 5_000).await.unwrap(), 0);
    assert_eq!(runs.recent(10).await.unwrap().iter().map(|r| r.id.clone()).collect::<Vec<_>>(), [id(32)]);
}
