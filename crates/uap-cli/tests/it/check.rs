//! `uap check`: a census of stored hash formats, and errors that name the
//! key, table or column at fault.

use crate::serve::{host_db, write_config};
use crate::support::{TempDir, run, uap};

#[tokio::test]
async fn census_of_a_real_table() {
    let Some(db) = host_db(true).await else { return };
    let dir = TempDir::new();
    let config = write_config(&dir, &db.url, 0, "");
    let out = run(uap().arg("check").arg("--config").arg(&config));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for expected in ["bcrypt cost 10", "33.3%", "phpass", "django", "3 password hashes sampled"] {
        assert!(stdout.to_lowercase().contains(&expected.to_lowercase()), "{expected} missing:\n{stdout}");
    }
    db.cleanup().await;
}

#[tokio::test]
async fn missing_column_and_table_are_named() {
    let Some(db) = host_db(false).await else { return };
    let dir = TempDir::new();
    let config = write_config(&dir, &db.url, 0, "password_field = \"passwd\"\n");
    let out = run(uap().arg("check").arg("--config").arg(&config));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("password_field") && stderr.contains("passwd"), "{stderr}");

    let config = write_config(&dir, &db.url, 0, "host_user_table = \"members\"\n");
    let out = run(uap().arg("check").arg("--config").arg(&config));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("members"), "{stderr}");
    db.cleanup().await;
}

#[tokio::test]
async fn unreachable_database_is_a_runtime_error_without_the_password() {
    let dir = TempDir::new();
    let config = write_config(&dir, "postgres://app:hunter2@127.0.0.1:1/app", 0, "");
    let out = run(uap().arg("check").arg("--config").arg(&config));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert!(stderr.contains("host"), "{stderr}");
}

#[tokio::test]
async fn inactive_field_is_listed_as_used_and_must_exist() {
    let Some(db) = host_db(false).await else { return };
    let dir = TempDir::new();
    let config = write_config(&dir, &db.url, 0, "inactive_field = \"locked_at\"\n");
    let out = run(uap().arg("check").arg("--config").arg(&config));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("inactive_field: column \"locked_at\" does not exist in table \"users\""), "{stderr}");

    db.execute("ALTER TABLE users ADD COLUMN locked_at DATETIME NULL").await;
    let out = run(uap().arg("check").arg("--config").arg(&config));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let used = stdout.lines().find(|l| l.trim_start().starts_with("columns used:")).unwrap_or_default();
    assert!(used.contains("inactive_field = locked_at"), "{stdout}");
    db.cleanup().await;
}
