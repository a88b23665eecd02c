//! `ConfigStore` on the internal database: versions numbered per
//! organization, the newest active and read back, concurrent saves given
//! distinct numbers.

use serde_json::json;
use time::macros::datetime;
use uap_adapters_sql::InternalDb;
use uap_adapters_sql::testing::TestDb;
use uap_ports::ConfigStore;

per_backend!(versions_are_numbered_per_organization);
per_backend_parallel!(concurrent_saves_get_distinct_versions);

async fn migrated(db: &TestDb, org: &str) -> InternalDb {
    let internal = InternalDb::connect(&db.url, org).await.expect("connect");
    internal.migrate().await.expect("migrate");
    internal
}

async fn versions_are_numbered_per_organization(db: &TestDb) {
    let a = migrated(db, "org-a").await.config_store();
    let b = InternalDb::connect(&db.url, "org-b").await.expect("connect").config_store();
    let at = datetime!(2026-12-03 10:00:00.123456 UTC);
    assert_eq!(a.latest().await.unwrap(), None);
    assert_eq!(a.save(&json!({"n": 1}), Some("admin@127.0.0.1"), at).await.unwrap(), 1);
    assert_eq!(a.save(&json!({"n": 2, "nested": {"x": [1, 2]}}), None, at).await.unwrap(), 2);
    assert_eq!(b.save(&json!({"other": true}), None, at).await.unwrap(), 1, "numbered per organization");
    let latest = a.latest().await.unwrap().expect("a version");
    assert_eq!((latest.version, latest.data), (2, json!({"n": 2, "nested": {"x": [1, 2]}})));
    assert_eq!((latest.created_at, latest.created_by), (at, None));
    assert_eq!(b.latest().await.unwrap().map(|v| v.version), Some(1));
}

async fn concurrent_saves_get_distinct_versions(db: &TestDb) {
    let store = migrated(db, "org-c").await.config_store();
    let at = datetime!(2026-12-03 10:00:00 UTC);
    let saves = (0..6).map(|n| {
        let store = store.clone();
        tokio::spawn(async move { store.save(&json!({ "n": n }), None, at).await })
    });
    let mut versions: Vec<i64> = Vec::new();
    for save in saves {
        versions.push(save.await.unwrap().expect("saved"));
    }
    versions.sort_unstable();
    assert_eq!(versions, vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(store.latest().await.unwrap().map(|v| v.version), Some(6));
}
