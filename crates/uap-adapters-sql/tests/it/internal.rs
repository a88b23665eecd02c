//! The internal database: migrations, the session-store and audit-sink
//! contracts, timestamps, organization scoping and atomic rotation.

use async_trait::async_trait;
use serde_json::json;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uap_adapters_sql::testing::TestDb;
use uap_adapters_sql::{InternalDb, SqlAuditSink};
use uap_ports::contract::audit_sink::AuditReadBack;
use uap_ports::contract::{audit_sink, session_store};
use uap_ports::{
    AuditEvent, AuditEventType, AuditSink, Clock, RotateOutcome, SessionRecord, SessionState, SessionStore, StoreError,
    SystemClock,
};

use crate::support::init;

per_backend!(
    migrations_are_idempotent,
    session_store_contract,
    audit_sink_contract,
    timestamps_round_trip,
    organizations_are_isolated,
    concurrent_rotation_has_one_winner,
    audit_counts_by_type,
    nul_characters_do_not_poison_writes,
    a_retried_batch_is_written_once,
);

async fn migrated(db: &TestDb, org: &str) -> InternalDb {
    let internal = InternalDb::connect(&db.url, org).await.expect("connect");
    internal.migrate().await.expect("migrate");
    internal
}

struct ReadBack(SqlAuditSink);

#[async_trait]
impl AuditReadBack for ReadBack {
    async fn recent(&self, limit: u64) -> Result<Vec<AuditEvent>, StoreError> {
        self.0.recent(limit).await
    }
}

fn record(id: &str, user: &str, at: OffsetDateTime) -> SessionRecord {
    SessionRecord {
        session_id: id.to_owned(),
        user_id: user.to_owned(),
        device_id: None,
        created_at: at,
        expires_at: at + Duration::hours(1),
        last_activity: at,
        ip_address: Some("127.0.0.1".to_owned()),
        user_agent: None,
        user_data: std::sync::Arc::new(json!({"username": user})),
        family_id: id.to_owned(),
        refresh_expires_at: Some(at + Duration::days(30)),
        state: SessionState::Active,
        auth_time: at,
        credential_fingerprint: None,
    }
}

fn session_id(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

async fn migrations_are_idempotent(db: &TestDb) {
    let internal = migrated(db, "org").await;
    internal.migrate().await.expect("second run is a no-op");
    let again = InternalDb::connect(&db.url, "org").await.expect("connect");
    again.migrate().await.expect("third run from a new handle");
    internal.health().await.expect("health");
    for table in [
        "uap_configurations",
        "uap_sessions",
        "uap_audit_logs",
        "uap_rate_limits",
        "uap_middleware_logs",
        "uap_mfa_factors",
        "uap_migrations",
    ] {
        db.execute(&format!("SELECT COUNT(*) FROM {table}")).await;
    }
}

async fn session_store_contract(db: &TestDb) {
    let internal = migrated(db, "org-contract").await;
    session_store::run_all(&internal.session_store(), SystemClock.now()).await;
}

async fn audit_sink_contract(db: &TestDb) {
    let internal = migrated(db, "org-contract").await;
    let sink = internal.audit_sink();
    audit_sink::run_all(&sink, &ReadBack(sink.clone()), SystemClock.now()).await;
}

async fn timestamps_round_trip(db: &TestDb) {
    let store = migrated(db, "org").await.session_store();
    let cases = [
        datetime!(1970-01-01 00:00:00 UTC),
        datetime!(2024-02-29 23:59:59.999_999 UTC),
        datetime!(2038-01-19 03:14:08.000_001 UTC),
        datetime!(2099-12-31 12:00:00.5 +05:30),
    ];
    for (n, at) in (1..).zip(cases) {
        let r = record(&session_id(n), "tz", at);
        store.create(&r).await.unwrap_or_else(|e| panic!("{at}: {e:?}"));
        let back = store.get(&r.session_id).await.unwrap().expect("stored");
        assert_eq!(back, r, "{at}");
        assert_eq!(back.created_at.offset(), time::UtcOffset::UTC, "read back in UTC");
    }
    // Nanoseconds are truncated to the microseconds every engine keeps.
    let r = record(&session_id(99), "tz", datetime!(2025-06-01 10:00:00.123_456_789 UTC));
    store.create(&r).await.unwrap();
    let back = store.get(&r.session_id).await.unwrap().expect("stored");
    assert_eq!(back.created_at, datetime!(2025-06-01 10:00:00.123_456 UTC));
}

async fn organizations_are_isolated(db: &TestDb) {
    let a = migrated(db, "org-a").await;
    let b = InternalDb::connect(&db.url, "org-b").await.expect("connect");
    let (sa, sb) = (a.session_store(), b.session_store());
    let now = datetime!(2025-01-01 00:00:00 UTC);
    let ra = record(&session_id(1), "same-user", now);
    sa.create(&ra).await.unwrap();
    assert_eq!(sb.get(&ra.session_id).await.unwrap(), None);
    assert!(sb.list_user_sessions("same-user").await.unwrap().is_empty());
    assert_eq!(sb.delete_user_sessions("same-user", None).await.unwrap(), 0);
    assert_eq!(sb.delete_family(&ra.family_id).await.unwrap(), 0);
    assert!(!sb.delete(&ra.session_id).await.unwrap());
    assert_eq!(sb.purge_expired(now + Duration::days(365)).await.unwrap(), 0);
    let successor = record(&session_id(2), "same-user", now);
    assert_eq!(sb.rotate(&ra.session_id, &successor, now).await.unwrap(), RotateOutcome::NotFound);
    assert_eq!(sa.get(&ra.session_id).await.unwrap(), Some(ra));

    let event = AuditEvent {
        id: session_id(7),
        event_type: AuditEventType::Login,
        user_id: Some("same-user".into()),
        session_id: None,
        ip_address: None,
        user_agent: None,
        success: true,
        error_message: None,
        metadata: json!({}),
        timestamp: now,
    };
    a.audit_sink().write_batch(&[event]).await.unwrap();
    assert_eq!(a.audit_sink().recent(10).await.unwrap().len(), 1);
    assert!(b.audit_sink().recent(10).await.unwrap().is_empty());
}

async fn concurrent_rotation_has_one_winner(db: &TestDb) {
    let store = migrated(db, "org").await.session_store();
    let now = datetime!(2025-01-01 00:00:00 UTC);
    let old = record(&session_id(1), "racer", now);
    store.create(&old).await.unwrap();
    let tasks: Vec<_> = (0..8_u32)
        .map(|n| {
            let store = store.clone();
            let old_id = old.session_id.clone();
            tokio::spawn(async move {
                let successor =
                    SessionRecord { family_id: old_id.clone(), ..record(&session_id(100 + n), "racer", now) };
                let outcome = store.rotate(&old_id, &successor, now + Duration::seconds(1)).await;
                (successor.session_id, outcome)
            })
        })
        .collect();
    let mut winners = Vec::new();
    let mut reported = Vec::new();
    for task in tasks {
        let (id, outcome) = task.await.unwrap();
        match outcome.expect("rotate") {
            RotateOutcome::Rotated => winners.push(id),
            RotateOutcome::AlreadyRotated { successor_id, .. } => reported.push(successor_id),
            RotateOutcome::NotFound => panic!("the session exists"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one rotation wins");
    assert!(reported.iter().all(|s| s == &winners[0]), "losers see the winner");
    let sessions = store.list_user_sessions("racer").await.unwrap();
    assert_eq!(sessions.len(), 2, "the old record and one successor");
}

async fn audit_counts_by_type(db: &TestDb) {
    let sink = migrated(db, "org").await.audit_sink();
    let now = datetime!(2025-01-01 00:00:00 UTC);
    let events: Vec<AuditEvent> = [AuditEventType::Login, AuditEventType::FailedLogin, AuditEventType::FailedLogin]
        .into_iter()
        .zip(1..)
        .map(|(event_type, n)| AuditEvent {
            id: session_id(n),
            event_type,
            user_id: None,
            session_id: None,
            ip_address: None,
            user_agent: None,
            success: event_type == AuditEventType::Login,
            error_message: None,
            metadata: json!(null),
            timestamp: now,
        })
        .collect();
    sink.write_batch(&events).await.unwrap();
    let counts = sink.count_by_type().await.unwrap();
    assert_eq!(counts.get("LOGIN"), Some(&1));
    assert_eq!(counts.get("FAILED_LOGIN"), Some(&2));
    assert_eq!(counts.len(), 2);
    let recent = sink.recent(10).await.unwrap();
    assert_eq!(recent[0].metadata, json!(null));
}

/// PostgreSQL stores no NUL in text or JSONB: a client-supplied NUL is replaced
/// (U+FFFD) so the batch and the session still go in, on every engine alike.
async fn nul_characters_do_not_poison_writes(db: &TestDb) {
    let internal = migrated(db, "org").await;
    let now = datetime!(2025-01-01 00:00:00 UTC);
    let event = AuditEvent {
        id: session_id(1),
        event_type: AuditEventType::FailedLogin,
        user_id: None,
        session_id: None,
        ip_address: Some("10.0.0.1".into()),
        user_agent: Some("evil\0agent".into()),
        success: false,
        error_message: Some("unknown_user".into()),
        metadata: json!({"identifier": "ad\0min", "k\0": 1}),
        timestamp: now,
    };
    let sink = internal.audit_sink();
    sink.write_batch(&[event]).await.expect("batch with NUL");
    let back = sink.recent(1).await.unwrap().remove(0);
    assert_eq!(back.user_agent.as_deref(), Some("evil\u{fffd}agent"));
    assert_eq!(back.metadata, json!({"identifier": "ad\u{fffd}min", "k\u{fffd}": 1}));

    let store = internal.session_store();
    let r = SessionRecord {
        user_agent: Some("nul\0ua".into()),
        user_data: std::sync::Arc::new(json!({"name": "a\0b"})),
        ..record(&session_id(2), "nul", now)
    };
    store.create(&r).await.expect("session with NUL");
    let back = store.get(&r.session_id).await.unwrap().unwrap();
    assert_eq!(*back.user_data, json!({"name": "a\u{fffd}b"}));
}

/// `sqlite::memory:` keeps one connection, so the schema survives between calls.
#[tokio::test]
async fn sqlite_in_memory() {
    init();
    let internal = InternalDb::connect("sqlite::memory:", "org").await.expect("connect");
    internal.migrate().await.expect("migrate");
    internal.migrate().await.expect("migrate again");
    session_store::run_all(&internal.session_store(), SystemClock.now()).await;
}

/// A SQLite file is created when missing, in WAL mode.
#[tokio::test]
async fn sqlite_file_is_created_in_wal_mode() {
    init();
    let path = std::env::temp_dir().join(format!("uap_t_wal_{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let url = format!("sqlite://{}", path.display());
    let internal = InternalDb::connect(&url, "org").await.expect("connect creates the file");
    internal.migrate().await.expect("migrate");
    assert!(path.exists());
    let wal = path.with_extension("db-wal");
    let store = internal.session_store();
    store.create(&record(&session_id(1), "w", datetime!(2025-01-01 00:00:00 UTC))).await.unwrap();
    assert!(wal.exists(), "WAL journal in use");
    drop(store);
    drop(internal);
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}

/// A batch retried after its commit reached the database (the answer was
/// lost with the connection) succeeds and writes nothing twice.
async fn a_retried_batch_is_written_once(db: &TestDb) {
    let internal = migrated(db, "org").await;
    let now = datetime!(2025-01-01 00:00:00 UTC);
    let event = |n: u32| AuditEvent {
        id: session_id(n),
        event_type: AuditEventType::SuspiciousActivity,
        user_id: Some("1".into()),
        session_id: None,
        ip_address: None,
        user_agent: None,
        success: false,
        error_message: Some("refresh_token_reuse".into()),
        metadata: json!({}),
        timestamp: now,
    };
    let sink = internal.audit_sink();
    sink.write_batch(&[event(1), event(2)]).await.expect("first write");
    sink.write_batch(&[event(1), event(2), event(3)]).await.expect("the retry, with one more event");
    let mut ids: Vec<String> = sink.recent(10).await.unwrap().into_iter().map(|e| e.id).collect();
    ids.sort();
    assert_eq!(ids, vec![session_id(1), session_id(2), session_id(3)]);
}
