//! Lookups, rows to users, roles and the compare-and-set update.

use serde_json::json;
use uap_adapters_sql::testing::TestDb;
use uap_adapters_sql::{ColumnPurpose, HostTableConfig, OptionalColumn, RoleTableConfig, SqlBackend};
use uap_ports::{PasswordUpdate, UserDirectory, UserQuery};

use crate::support::{ddl, directory, find, query, users_config, users_table};

per_backend!(
    lookup_by_username_and_email,
    row_becomes_host_user,
    first_listed_column_wins_duplicates_are_ambiguous,
    case_insensitive_lookup,
    active_flag_variants,
    inactive_marker_variants,
    null_and_empty_passwords,
    roles_from_role_table,
    text_and_uuid_ids,
    injection_strings_are_just_values,
    compare_and_set_update,
    binary_password_column,
    health_answers,
);

async fn lookup_by_username_and_email(db: &TestDb) {
    users_table(db).await;
    let dir = directory(db, users_config()).await;
    let both = ["username", "email"];
    assert_eq!(find(&dir, "alice", &both).await.map(|u| u.id).as_deref(), Some("1"));
    assert_eq!(find(&dir, "alice@example.com", &both).await.map(|u| u.id).as_deref(), Some("1"));
    assert_eq!(find(&dir, "bob@example.com", &["email"]).await.map(|u| u.id).as_deref(), Some("2"));
    assert!(find(&dir, "alice", &["email"]).await.is_none(), "only the listed columns");
    assert!(find(&dir, "nobody", &both).await.is_none());
    assert!(find(&dir, "", &both).await.is_none());
    assert!(find(&dir, "1", &["username"]).await.is_none());
    // The id column may be queried too (by its configured name).
    assert_eq!(find(&dir, "4", &["id"]).await.map(|u| u.id).as_deref(), Some("4"));
    assert!(find(&dir, "four", &["id"]).await.is_none(), "not an integer: no row can match");
    assert!(find(&dir, "04", &["id"]).await.is_none(), "ids compare exactly");
}

async fn row_becomes_host_user(db: &TestDb) {
    users_table(db).await;
    let dir = directory(db, users_config()).await;
    let alice = find(&dir, "alice", &["username"]).await.expect("alice");
    assert_eq!(alice.id, "1");
    assert_eq!(alice.password_hash.as_deref(), Some("$2y$10$abcdefghijklmnopqrstuu5Xg6JmKX5Vf9Q0sD4OF.bW1Q3nVvmu"));
    assert_eq!(alice.active, Some(true));
    assert_eq!(alice.roles, ["admin"]);
    let a = &alice.attributes;
    assert!(!a.contains_key("password"), "the password column never is an attribute");
    assert_eq!(a["id"], json!(1));
    assert_eq!(a["username"], json!("alice"));
    assert_eq!(a["email"], json!("alice@example.com"));
    assert_eq!(a["is_active"], json!(true));
    assert_eq!(a["role"], json!("admin"));
    assert_eq!(a["remember_token"], json!("tok-123"), "filtering is the domain's job");
    assert_eq!(a["created_at"], json!("2024-01-02T03:04:05Z"));
    assert_eq!(a["score"], json!(1.5));
    match db.backend {
        // SQLite stores NUMERIC(10,2) 12.50 as the real 12.5.
        SqlBackend::Sqlite => assert_eq!(a["balance"], json!(12.5)),
        SqlBackend::Postgres | SqlBackend::MySql => assert_eq!(a["balance"], json!("12.50")),
    }
    match db.backend {
        SqlBackend::Postgres => assert_eq!(a["profile"], json!({"theme": "dark", "n": 3})),
        // MariaDB's JSON is LONGTEXT, SQLite's is TEXT: the text arrives as is.
        SqlBackend::MySql | SqlBackend::Sqlite => {
            let text = a["profile"].as_str().expect("profile text");
            assert_eq!(serde_json::from_str::<serde_json::Value>(text).unwrap(), json!({"theme": "dark", "n": 3}));
        }
    }
    assert_eq!(a.len(), 10, "{:?}", a.keys().collect::<Vec<_>>());

    let bob = find(&dir, "bob", &["username"]).await.expect("bob");
    assert_eq!(bob.active, Some(false));
    assert_eq!(bob.attributes["created_at"], json!(null));
    assert_eq!(bob.attributes["remember_token"], json!(null));
}

async fn first_listed_column_wins_duplicates_are_ambiguous(db: &TestDb) {
    db.execute(
        "CREATE TABLE people (id INTEGER PRIMARY KEY, username VARCHAR(100), email VARCHAR(100), pw VARCHAR(100))",
    )
    .await;
    db.execute(
        "INSERT INTO people (id, username, email, pw) VALUES
         (1, 'sam@example.com', 'sam.one@example.com', 'h1'),
         (2, 'sam2', 'sam@example.com', 'h2'),
         (3, 'twin', 'twin@example.com', 'h3'),
         (4, 'twin-b', 'twin@example.com', 'h4')",
    )
    .await;
    let dir = directory(db, HostTableConfig::new("people", "id", "pw", &["username", "email"])).await;
    let id = |u: Option<uap_ports::HostUser>| u.map(|u| u.id);
    assert_eq!(id(find(&dir, "sam@example.com", &["username", "email"]).await).as_deref(), Some("1"));
    assert_eq!(id(find(&dir, "sam@example.com", &["email", "username"]).await).as_deref(), Some("2"));
    assert_eq!(find(&dir, "twin@example.com", &["email"]).await, None, "two rows: ambiguous");
    assert_eq!(find(&dir, "twin@example.com", &["username", "email"]).await, None);
}

async fn case_insensitive_lookup(db: &TestDb) {
    users_table(db).await;
    let dir = directory(db, users_config()).await;
    let ci = UserQuery { case_insensitive: true, ..query("ALICE@Example.COM", &["username", "email"]) };
    assert_eq!(dir.find_user(&ci).await.unwrap().map(|u| u.id).as_deref(), Some("1"));
    let exact = dir.find_user(&query("ALICE", &["username"])).await.unwrap();
    match db.backend {
        // MySQL's default collations compare case-insensitively anyway.
        SqlBackend::MySql => assert!(exact.is_some()),
        SqlBackend::Postgres | SqlBackend::Sqlite => assert!(exact.is_none()),
    }
}

async fn active_flag_variants(db: &TestDb) {
    db.execute(&ddl(
        db.backend,
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, login VARCHAR(50), pw VARCHAR(100),
         flag_bool BOOLEAN, flag_int INTEGER, flag_text VARCHAR(10))",
    ))
    .await;
    db.execute(
        "INSERT INTO accounts VALUES
         (1, 'u1', 'h', TRUE, 1, 'yes'),
         (2, 'u2', 'h', FALSE, 0, 'no'),
         (3, 'u3', 'h', NULL, NULL, NULL),
         (4, 'u4', 'h', TRUE, 2, 't'),
         (5, 'u5', 'h', FALSE, -1, 'f'),
         (6, 'u6', 'h', TRUE, 1, 'banana')",
    )
    .await;
    let expected = [
        ("flag_bool", [Some(true), Some(false), Some(false), Some(true), Some(false), Some(true)]),
        ("flag_int", [Some(true), Some(false), Some(false), Some(true), Some(true), Some(true)]),
        ("flag_text", [Some(true), Some(false), Some(false), Some(true), Some(false), Some(false)]),
    ];
    for (column, flags) in expected {
        let config = HostTableConfig::new("accounts", "id", "pw", &["login"]).with_optional(OptionalColumn::required(
            "active_field",
            ColumnPurpose::Active,
            column,
        ));
        let dir = directory(db, config).await;
        for (n, want) in (1..=6).zip(flags) {
            let user = find(&dir, &format!("u{n}"), &["login"]).await.expect("user");
            assert_eq!(user.active, want, "{column} of u{n}");
        }
    }
    // No active column and the key at its default: no flag at all.
    let config = HostTableConfig::new("accounts", "id", "pw", &["login"]).with_optional(OptionalColumn::if_present(
        "active_field",
        ColumnPurpose::Active,
        "is_active",
    ));
    let dir = directory(db, config).await;
    assert_eq!(find(&dir, "u2", &["login"]).await.expect("u2").active, None);
}

async fn inactive_marker_variants(db: &TestDb) {
    db.execute(&ddl(
        db.backend,
        "CREATE TABLE lockable (id INTEGER PRIMARY KEY, login VARCHAR(50), pw VARCHAR(100),
         locked_at {ts}, inactive_reason INTEGER, is_active BOOLEAN, note VARCHAR(40))",
    ))
    .await;
    db.execute(
        "INSERT INTO lockable VALUES
         (1, 'u1', 'h', NULL, 0, TRUE, NULL),
         (2, 'u2', 'h', '2024-05-01 10:00:00', 0, TRUE, ''),
         (3, 'u3', 'h', NULL, 1, TRUE, 'banned'),
         (4, 'u4', 'h', NULL, 4, FALSE, '0'),
         (5, 'u5', 'h', NULL, 0, FALSE, 'false')",
    )
    .await;
    let inactive = |column: &str| OptionalColumn::required("inactive_field", ColumnPurpose::Inactive, column);
    let active = OptionalColumn::required("active_field", ColumnPurpose::Active, "is_active");
    let base = || HostTableConfig::new("lockable", "id", "pw", &["login"]);
    let cases = [
        ("locked_at (timestamp)", base().with_optional(inactive("locked_at")), [true, false, true, true, true]),
        (
            "inactive_reason (integer)",
            base().with_optional(inactive("inactive_reason")),
            [true, true, false, false, true],
        ),
        ("note (text)", base().with_optional(inactive("note")), [true, true, false, true, true]),
        (
            "is_active and locked_at: either refusing wins",
            base().with_optional(active).with_optional(inactive("locked_at")),
            [true, false, true, false, false],
        ),
    ];
    for (name, config, flags) in cases {
        let dir = directory(db, config).await;
        assert!(
            dir.describe().await.used.iter().any(|u| u.key == "inactive_field"),
            "{name}: inactive_field is among the columns used"
        );
        for (n, want) in (1..=5).zip(flags) {
            let user = find(&dir, &format!("u{n}"), &["login"]).await.expect("user");
            assert_eq!(user.active, Some(want), "{name}: u{n}");
        }
    }
    // Set explicitly, the column must exist.
    let message = crate::support::connect_err(db, base().with_optional(inactive("locked"))).await;
    assert!(message.starts_with("inactive_field: column \"locked\" does not exist in table \"lockable\""), "{message}");
}

async fn null_and_empty_passwords(db: &TestDb) {
    users_table(db).await;
    let dir = directory(db, users_config()).await;
    let carol = find(&dir, "carol", &["username"]).await.expect("carol");
    assert_eq!(carol.password_hash, None);
    assert_eq!(carol.roles, Vec::<String>::new(), "NULL role column: no role");
    let dave = find(&dir, "dave", &["username"]).await.expect("dave");
    assert_eq!(dave.password_hash, None);
}

async fn roles_from_role_table(db: &TestDb) {
    users_table(db).await;
    db.execute("CREATE TABLE user_roles (user_id INTEGER NOT NULL, role_name VARCHAR(50) NOT NULL)").await;
    db.execute("INSERT INTO user_roles VALUES (1, 'editor'), (1, 'admin'), (2, 'viewer')").await;
    let config = users_config().with_role_table(RoleTableConfig::new("user_roles", "user_id", "role_name"));
    let dir = directory(db, config).await;
    let alice = find(&dir, "alice", &["username"]).await.expect("alice");
    assert_eq!(alice.roles, ["admin", "editor"], "the table wins over the role column");
    let carol = find(&dir, "carol", &["username"]).await.expect("carol");
    assert!(carol.roles.is_empty());
}

async fn text_and_uuid_ids(db: &TestDb) {
    db.execute(&ddl(db.backend, "CREATE TABLE members (id {uuid} PRIMARY KEY, handle VARCHAR(50), pw VARCHAR(100))"))
        .await;
    db.execute(
        "INSERT INTO members VALUES
         ('0b6c5a4e-2f1d-4e8a-9c3b-7d2e1f0a9b8c', 'uuid-user', 'old-hash')",
    )
    .await;
    db.execute("CREATE TABLE handles (id VARCHAR(20) PRIMARY KEY, handle VARCHAR(50), pw VARCHAR(100))").await;
    db.execute("INSERT INTO handles VALUES ('u-42', 'text-user', 'old-hash')").await;

    let dir = directory(db, HostTableConfig::new("members", "id", "pw", &["handle"])).await;
    let user = find(&dir, "uuid-user", &["handle"]).await.expect("uuid user");
    assert_eq!(user.id, "0b6c5a4e-2f1d-4e8a-9c3b-7d2e1f0a9b8c");
    let update = dir.update_password_hash(&user.id, "old-hash", "new-hash").await.unwrap();
    assert_eq!(update, PasswordUpdate::Updated);
    let stale = dir.update_password_hash("not-a-uuid", "new-hash", "x").await.unwrap();
    assert_eq!(stale, PasswordUpdate::Stale);

    let dir = directory(db, HostTableConfig::new("handles", "id", "pw", &["handle"])).await;
    let user = find(&dir, "text-user", &["handle"]).await.expect("text user");
    assert_eq!(user.id, "u-42");
    assert_eq!(dir.update_password_hash("u-42", "old-hash", "new").await.unwrap(), PasswordUpdate::Updated);
}

async fn injection_strings_are_just_values(db: &TestDb) {
    users_table(db).await;
    let dir = directory(db, users_config()).await;
    for evil in [
        "' OR '1'='1",
        "' OR 1=1 --",
        "alice' --",
        "alice'; DROP TABLE users; --",
        "\" OR \"\"=\"",
        "` OR 1=1 #",
        "alice\\",
        "%",
        "_lice",
        "*",
        "alice\u{0}",
        "1 OR 1=1",
        "$1",
        "?",
    ] {
        for ci in [false, true] {
            let q = UserQuery { case_insensitive: ci, ..query(evil, &["username", "email"]) };
            assert_eq!(dir.find_user(&q).await.unwrap(), None, "{evil:?}");
        }
        assert_eq!(dir.update_password_hash(evil, evil, "x").await.unwrap(), PasswordUpdate::Stale, "{evil:?}");
    }
    assert!(find(&dir, "alice", &["username"]).await.is_some(), "table intact");
    let description = dir.describe().await;
    assert_eq!(description.row_count, Some(4));
}

async fn compare_and_set_update(db: &TestDb) {
    users_table(db).await;
    db.execute("CREATE TABLE narrow (id INTEGER PRIMARY KEY, login VARCHAR(20), pw VARCHAR(20))").await;
    db.execute("INSERT INTO narrow VALUES (1, 'n', 'short-old')").await;

    let dir = directory(db, users_config()).await;
    let old = find(&dir, "alice", &["username"]).await.unwrap().password_hash.unwrap();
    let new = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG";
    assert_eq!(dir.update_password_hash("1", &old, new).await.unwrap(), PasswordUpdate::Updated);
    let alice = find(&dir, "alice", &["username"]).await.unwrap();
    assert_eq!(alice.password_hash.as_deref(), Some(new));
    // The old hash no longer matches: nothing is written.
    assert_eq!(dir.update_password_hash("1", &old, "other").await.unwrap(), PasswordUpdate::Stale);
    assert_eq!(dir.update_password_hash("99", new, "other").await.unwrap(), PasswordUpdate::Stale);
    assert_eq!(dir.update_password_hash("x", new, "other").await.unwrap(), PasswordUpdate::Stale);
    let bob = find(&dir, "bob", &["username"]).await.unwrap();
    assert_eq!(bob.password_hash.as_deref(), Some("pbkdf2_sha256$600000$salt$hash"), "other rows untouched");

    let dir = directory(db, HostTableConfig::new("narrow", "id", "pw", &["login"])).await;
    let outcome = dir.update_password_hash("1", "short-old", new).await.unwrap();
    // SQLite does not enforce declared widths, but the host application (or
    // the database it moves to) may: the declared width is honoured everywhere.
    assert_eq!(outcome, PasswordUpdate::ColumnTooNarrow { max_len: 20 });
    let user = find(&dir, "n", &["login"]).await.unwrap();
    assert_eq!(user.password_hash.as_deref(), Some("short-old"), "nothing written");
}

async fn binary_password_column(db: &TestDb) {
    db.execute(&ddl(db.backend, "CREATE TABLE legacy (id INTEGER PRIMARY KEY, login VARCHAR(20), pw {blob})")).await;
    let literal = match db.backend {
        SqlBackend::Postgres => "convert_to('$P$Bold-hash', 'UTF8')",
        SqlBackend::MySql => "CAST('$P$Bold-hash' AS BINARY)",
        SqlBackend::Sqlite => "CAST('$P$Bold-hash' AS BLOB)",
    };
    db.execute(&format!("INSERT INTO legacy VALUES (1, 'b', {literal})")).await;
    let dir = directory(db, HostTableConfig::new("legacy", "id", "pw", &["login"])).await;
    let user = find(&dir, "b", &["login"]).await.expect("user");
    assert_eq!(user.password_hash.as_deref(), Some("$P$Bold-hash"));
    assert!(!user.attributes.contains_key("pw"));
    let outcome = dir.update_password_hash("1", "$P$Bold-hash", "$2y$12$new").await.unwrap();
    assert_eq!(outcome, PasswordUpdate::Updated);
    let user = find(&dir, "b", &["login"]).await.expect("user");
    assert_eq!(user.password_hash.as_deref(), Some("$2y$12$new"));
}

async fn health_answers(db: &TestDb) {
    users_table(db).await;
    let dir = directory(db, users_config()).await;
    dir.health().await.expect("health");
    assert_eq!(dir.backend(), db.backend);
}
