//! Integration tests of the SQL adapters against SQLite, PostgreSQL
//! (`UAP_TEST_POSTGRES_URL`) and MySQL/MariaDB (`UAP_TEST_MYSQL_URL`): a fresh
//! database per test. Without a server URL its tests print `skipping:` and
//! pass, unless `UAP_REQUIRE_INTEGRATION=1`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions fail the test by panicking"
)]

/// Generates, for each scenario `async fn name(db: &TestDb)`, a module `name`
/// with one test per engine: `sqlite`, `postgres`, `mysql`.
macro_rules! per_backend {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            use uap_adapters_sql::testing::TestDb;

            #[tokio::test]
            async fn sqlite() {
                crate::support::init();
                let db = TestDb::sqlite();
                super::$scenario(&db).await;
                db.cleanup().await;
            }

            #[tokio::test]
            async fn postgres() {
                crate::support::init();
                let Some(db) = TestDb::postgres().await else { return };
                super::$scenario(&db).await;
                db.cleanup().await;
            }

            #[tokio::test]
            async fn mysql() {
                crate::support::init();
                let Some(db) = TestDb::mysql().await else { return };
                super::$scenario(&db).await;
                db.cleanup().await;
            }
        }
    )*};
}

/// As [`per_backend!`], on a multi-threaded runtime: for scenarios that race
/// tasks against each other.
macro_rules! per_backend_parallel {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            use uap_adapters_sql::testing::TestDb;

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                crate::support::init();
                let db = TestDb::sqlite();
                super::$scenario(&db).await;
                db.cleanup().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                crate::support::init();
                let Some(db) = TestDb::postgres().await else { return };
                super::$scenario(&db).await;
                db.cleanup().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn mysql() {
                crate::support::init();
                let Some(db) = TestDb::mysql().await else { return };
                super::$scenario(&db).await;
                db.cleanup().await;
            }
        }
    )*};
}

mod audit_query;
mod check;
mod configurations;
mod directory;
mod directory_errors;
mod internal;
mod mfa;
mod middleware_logs;
mod rate_limits;
mod support;
