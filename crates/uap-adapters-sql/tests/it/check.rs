//! What `uap check` reads: the table description and the hash sample.

use uap_adapters_sql::HostTableConfig;
use uap_adapters_sql::testing::TestDb;

use crate::support::{directory, init, users_config, users_table};

per_backend!(describe_lists_columns_and_counts_rows, password_hashes_in_batches, many_rows_keyset);

async fn describe_lists_columns_and_counts_rows(db: &TestDb) {
    users_table(db).await;
    let dir = directory(db, users_config()).await;
    let d = dir.describe().await;
    assert_eq!(d.backend, db.backend);
    assert_eq!(d.table, "users");
    assert_eq!(d.row_count, Some(4));
    let names: Vec<&str> = d.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "id",
            "username",
            "email",
            "password",
            "is_active",
            "role",
            "remember_token",
            "created_at",
            "score",
            "balance",
            "profile"
        ]
    );
    let password = d.columns.iter().find(|c| c.name == "password").unwrap();
    // SQLite reports the width its declared type names (VARCHAR(255)).
    assert_eq!(password.max_len, Some(255));
    assert!(password.nullable);
    let used: Vec<(&str, &str)> = d.used.iter().map(|u| (u.key, u.column.as_str())).collect();
    assert_eq!(
        used,
        [
            ("id_field", "id"),
            ("password_field", "password"),
            ("identifier_fields", "username"),
            ("identifier_fields", "email"),
            ("email_field", "email"),
            ("role_field", "role"),
            ("active_field", "is_active"),
        ]
    );
    assert!(d.role_table.is_none());
}

async fn password_hashes_in_batches(db: &TestDb) {
    users_table(db).await;
    let dir = directory(db, users_config()).await;
    let mut calls = Vec::new();
    let all = dir.password_hashes(100, 1, &mut |done, total| calls.push((done, total))).await.unwrap();
    // carol's NULL is not read; dave's empty hash is read but not returned.
    assert_eq!(all.len(), 2);
    assert!(all[0].starts_with("$2y$10$"));
    assert!(all[1].starts_with("pbkdf2_sha256$"));
    assert_eq!(calls, [(0, 3), (1, 3), (2, 3), (3, 3)]);

    let mut calls = Vec::new();
    let some = dir.password_hashes(1, 10, &mut |done, total| calls.push((done, total))).await.unwrap();
    assert_eq!(some.len(), 1);
    assert_eq!(calls, [(0, 1), (1, 1)]);
}

async fn many_rows_keyset(db: &TestDb) {
    db.execute("CREATE TABLE bulk (id INTEGER PRIMARY KEY, login VARCHAR(20), pw VARCHAR(100))").await;
    let values: Vec<String> = (1..=250).map(|n| format!("({n}, 'u{n}', 'hash-{n:03}')")).collect();
    db.execute(&format!("INSERT INTO bulk VALUES {}", values.join(", "))).await;
    let dir = directory(db, HostTableConfig::new("bulk", "id", "pw", &["login"])).await;
    let mut last = (0, 0);
    let hashes = dir.password_hashes(1_000, 64, &mut |done, total| last = (done, total)).await.unwrap();
    assert_eq!(hashes.len(), 250);
    assert_eq!(last, (250, 250));
    let expected: Vec<String> = (1..=250).map(|n| format!("hash-{n:03}")).collect();
    assert_eq!(hashes, expected, "id order, each row once");
}

/// A schema-qualified table on PostgreSQL, with types read through a text cast.
#[tokio::test]
async fn schema_qualified_table_postgres() {
    init();
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    db.execute("CREATE SCHEMA auth").await;
    db.execute(
        "CREATE TABLE auth.accounts (id BIGSERIAL PRIMARY KEY, login TEXT NOT NULL, pw TEXT, \
         last_ip INET, tags TEXT[], born DATE, seen TIMESTAMPTZ)",
    )
    .await;
    db.execute(
        "INSERT INTO auth.accounts (login, pw, last_ip, tags, born, seen) VALUES \
         ('ann', 'h', '10.0.0.1', ARRAY['a','b'], '1990-05-17', '2024-01-02 03:04:05.25+02')",
    )
    .await;
    let dir = directory(&db, HostTableConfig::new("auth.accounts", "id", "pw", &["login"])).await;
    let ann = crate::support::find(&dir, "ann", &["login"]).await.expect("ann");
    assert_eq!(ann.id, "1");
    let a = &ann.attributes;
    assert_eq!(a["last_ip"], serde_json::json!("10.0.0.1/32"));
    assert_eq!(a["tags"], serde_json::json!("{a,b}"));
    assert_eq!(a["born"], serde_json::json!("1990-05-17"));
    assert_eq!(a["seen"], serde_json::json!("2024-01-02T01:04:05.25Z"));
    assert_eq!(dir.describe().await.table, "auth.accounts");
    db.cleanup().await;
}
