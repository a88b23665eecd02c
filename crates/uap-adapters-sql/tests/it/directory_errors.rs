//! Configuration mistakes and unreachable servers: clear errors naming the key,
//! the table and the column, and never the URL's password.

use std::error::Error as _;

use uap_adapters_sql::testing::TestDb;
use uap_adapters_sql::{ColumnPurpose, HostTableConfig, OptionalColumn, RoleTableConfig, SqlUserDirectory};
use uap_ports::{StoreError, UserDirectory};

use crate::support::{connect_err, directory, init, query, users_config, users_table};

per_backend!(
    missing_table_names_key_and_table,
    missing_columns_name_key_table_and_columns,
    optional_columns_default_vs_explicit,
    invalid_identifiers_are_rejected_before_connecting,
    role_table_errors,
    query_fields_must_be_configured,
);

async fn missing_table_names_key_and_table(db: &TestDb) {
    users_table(db).await;
    let config = HostTableConfig::new("userz", "id", "password", &["username"]);
    let message = connect_err(db, config).await;
    assert!(message.starts_with("host_user_table: table \"userz\" does not exist"), "{message}");
}

async fn missing_columns_name_key_table_and_columns(db: &TestDb) {
    users_table(db).await;
    let message = connect_err(db, HostTableConfig::new("users", "id", "passwd", &["username"])).await;
    assert!(
        message.starts_with(
            "password_field: column \"passwd\" does not exist in table \"users\" (columns: id, \
             username, email, password, is_active"
        ),
        "{message}"
    );
    let message = connect_err(db, HostTableConfig::new("users", "uid", "password", &["username"])).await;
    assert!(message.starts_with("id_field: column \"uid\" does not exist"), "{message}");
    let message = connect_err(db, HostTableConfig::new("users", "id", "password", &["username", "mail"])).await;
    assert!(message.starts_with("identifier_fields: column \"mail\" does not exist"), "{message}");
}

async fn optional_columns_default_vs_explicit(db: &TestDb) {
    users_table(db).await;
    // `phone` is absent: fine at its default, reported as skipped.
    let dir = directory(db, users_config()).await;
    let description = dir.describe().await;
    let skipped: Vec<(&str, &str)> = description.skipped.iter().map(|s| (s.key, s.column.as_str())).collect();
    assert_eq!(skipped, [("phone_field", "phone")]);
    assert!(description.used.iter().any(|u| u.key == "active_field" && u.column == "is_active"));
    // Set explicitly, it must exist.
    let config =
        users_config().with_optional(OptionalColumn::required("active_field", ColumnPurpose::Active, "enabled"));
    let message = connect_err(db, config).await;
    assert!(message.starts_with("active_field: column \"enabled\" does not exist in table \"users\""), "{message}");
    // An empty name disables the column.
    let config = HostTableConfig::new("users", "id", "password", &["username"])
        .with_optional(OptionalColumn::required("active_field", ColumnPurpose::Active, ""));
    let dir = directory(db, config).await;
    let bob = crate::support::find(&dir, "bob", &["username"]).await.expect("bob");
    assert_eq!(bob.active, None, "no active column in use");
}

async fn invalid_identifiers_are_rejected_before_connecting(db: &TestDb) {
    users_table(db).await;
    for (config, key, value) in [
        (
            HostTableConfig::new("users; DROP TABLE users", "id", "password", &["username"]),
            "host_user_table",
            "users; DROP TABLE users",
        ),
        (HostTableConfig::new("users", "id", "password\" --", &["username"]), "password_field", "password\" --"),
        (HostTableConfig::new("users", "id", "password", &["username`"]), "identifier_fields", "username`"),
    ] {
        let message = connect_err(db, config).await;
        assert!(message.starts_with(&format!("{key}: {value:?} is not a valid SQL identifier")), "{message}");
    }
    let dir = directory(db, users_config()).await;
    assert!(dir.find_user(&query("alice", &["username"])).await.unwrap().is_some(), "table intact");
}

async fn role_table_errors(db: &TestDb) {
    users_table(db).await;
    let config = users_config().with_role_table(RoleTableConfig::new("roles", "user_id", "role_name"));
    let message = connect_err(db, config).await;
    assert!(message.starts_with("host_role_table: table \"roles\" does not exist"), "{message}");
    db.execute("CREATE TABLE roles (user_id INTEGER, name VARCHAR(20))").await;
    let config = users_config().with_role_table(RoleTableConfig::new("roles", "user_id", "role_name"));
    let message = connect_err(db, config).await;
    assert!(
        message.starts_with(
            "role_name_field: column \"role_name\" does not exist in table \"roles\" (columns: user_id, name)"
        ),
        "{message}"
    );
}

async fn query_fields_must_be_configured(db: &TestDb) {
    users_table(db).await;
    let dir = directory(db, users_config()).await;
    for field in ["remember_token", "password", "nope", "username; --"] {
        match dir.find_user(&query("alice", &[field])).await {
            Err(StoreError::Misconfigured(m)) => assert!(m.contains(&format!("{field:?}")), "{m}"),
            other => panic!("{field}: {other:?}"),
        }
    }
}

/// On SQLite a double-quoted name that matches no column is a string literal:
/// `WHERE "usernmae" = 'usernmae'` would silently match nothing (or, with the
/// value `usernmae`, everything). Reflection turns the typo into an error.
#[tokio::test]
async fn sqlite_double_quote_typo_is_caught() {
    init();
    let db = TestDb::sqlite();
    users_table(&db).await;
    let message = connect_err(&db, HostTableConfig::new("users", "id", "password", &["usernmae"])).await;
    assert!(
        message.starts_with("identifier_fields: column \"usernmae\" does not exist in table \"users\""),
        "{message}"
    );
    db.cleanup().await;
}

/// SQLite column names are case-insensitive; the reflected spelling is used.
#[tokio::test]
async fn sqlite_column_names_match_case_insensitively() {
    init();
    let db = TestDb::sqlite();
    users_table(&db).await;
    let dir = directory(&db, HostTableConfig::new("users", "ID", "Password", &["UserName"])).await;
    let alice = crate::support::find(&dir, "alice", &["username"]).await.expect("alice");
    assert_eq!(alice.id, "1");
    assert!(alice.password_hash.is_some());
    db.cleanup().await;
}

#[tokio::test]
async fn missing_sqlite_file_is_misconfigured() {
    init();
    let url = format!("sqlite://{}/uap-no-such-dir/host.db", std::env::temp_dir().display());
    match SqlUserDirectory::connect(&url, users_config()).await {
        Err(StoreError::Misconfigured(m)) => assert!(m.starts_with("host_db_url: cannot connect to sqlite://"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn unsupported_engines() {
    for url in ["sqlserver://sa:Secret123@db/app", "oracle://u:Secret123@db/x"] {
        match SqlUserDirectory::connect(url, users_config()).await {
            Err(StoreError::Misconfigured(m)) => {
                assert!(m.contains("not supported by this build"), "{m}");
                assert!(!m.contains("Secret123"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }
}

/// Nothing listens on port 1: the server is unavailable, and neither the error
/// nor its causes show the password.
#[tokio::test]
async fn unreachable_server_is_unavailable_and_password_redacted() {
    init();
    for url in [
        "postgres://app:Pa55w0rd-Secret@127.0.0.1:1/app",
        "mysql://app:Pa55w0rd-Secret@127.0.0.1:1/app",
        "mariadb://app:Pa55w%40rd-Secret@127.0.0.1:1/app",
    ] {
        let err = SqlUserDirectory::connect(url, users_config()).await.expect_err(url);
        assert!(matches!(err, StoreError::Unavailable { what: "host database", .. }), "{err:?}");
        let mut chain = format!("{err} / {err:?}");
        let mut source = err.source();
        while let Some(s) = source {
            chain.push_str(&format!(" / {s} / {s:?}"));
            source = s.source();
        }
        assert!(!chain.contains("Pa55w"), "{chain}");
        assert!(chain.contains("127.0.0.1:1"), "{chain}");
    }
}

/// A server that refuses the credentials is a configuration error naming the URL key.
#[tokio::test]
async fn refused_credentials_are_misconfigured() {
    init();
    let Some(db) = TestDb::mysql().await else { return };
    // Same server, a user that does not exist.
    let rest = db.url.split_once("://").map_or("", |(_, r)| r);
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let bad = format!("mysql://uap_no_such_user:Wr0ngSecret@{host}");
    match SqlUserDirectory::connect(&bad, users_config()).await {
        Err(StoreError::Misconfigured(m)) => {
            assert!(m.starts_with("host_db_url: cannot connect to mysql://uap_no_such_user:***@"), "{m}");
            assert!(!m.contains("Wr0ngSecret"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    db.cleanup().await;
}
