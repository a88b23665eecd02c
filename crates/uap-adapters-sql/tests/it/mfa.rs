//! The SQL MFA factor store: the shared contract, organization scoping, and
//! single-winner `confirm` / `use_step` under concurrency.

use std::sync::Arc;

use time::macros::datetime;
use uap_adapters_sql::SqlBackend;
use uap_adapters_sql::testing::TestDb;
use uap_ports::contract::mfa;
use uap_ports::{Clock, MfaFactor, MfaFactorStore, SystemClock};

use crate::support::{migrated, spawned};

per_backend!(mfa_contract, factors_are_per_organization, one_factor_per_user_and_type_even_after_a_rerun);
per_backend_parallel!(concurrent_steps_have_one_winner);

async fn mfa_contract(db: &TestDb) {
    let store = migrated(db, "org-contract").await.mfa_store();
    mfa::run_all(&store, SystemClock.now()).await;
}

async fn factors_are_per_organization(db: &TestDb) {
    let a = migrated(db, "org-a").await.mfa_store();
    let b = migrated(db, "org-b").await.mfa_store();
    let now = datetime!(2025-01-01 00:00:00 UTC);
    let factor = |id: &str| MfaFactor {
        id: id.to_owned(),
        user_id: "same-user".to_owned(),
        factor_type: "totp".to_owned(),
        secret_ciphertext: vec![1, 2, 3],
        nonce: vec![0; 12],
        confirmed: false,
        last_used_step: None,
        created_at: now,
        updated_at: now,
    };
    let fa = factor("00000000-0000-4000-8000-00000000000a");
    assert!(a.put_pending(&fa).await.unwrap());
    assert!(a.confirm("same-user", "totp", 7, now).await.unwrap());
    assert_eq!(b.get("same-user", "totp").await.unwrap(), None);
    assert!(!b.confirm("same-user", "totp", 8, now).await.unwrap());
    assert!(!b.use_step("same-user", "totp", 9, now).await.unwrap());
    assert!(!b.delete("same-user", "totp").await.unwrap());
    let fb = factor("00000000-0000-4000-8000-00000000000b");
    assert!(b.put_pending(&fb).await.unwrap(), "a's confirmed factor does not block b");
    assert_eq!(b.get("same-user", "totp").await.unwrap(), Some(fb));
    assert!(a.get("same-user", "totp").await.unwrap().is_some_and(|f| f.confirmed && f.id == fa.id));
}

async fn concurrent_steps_have_one_winner(db: &TestDb) {
    let store: Arc<dyn MfaFactorStore> = Arc::new(migrated(db, "org").await.mfa_store());
    mfa::concurrent_steps(store, SystemClock.now(), spawned).await;
}

/// The second migration's catalog checks let it run again over its own
/// result, and its unique index holds: a second row for the same (user,
/// type), inserted behind the store's back, is refused.
async fn one_factor_per_user_and_type_even_after_a_rerun(db: &TestDb) {
    let internal = migrated(db, "org").await;
    db.execute("DELETE FROM uap_migrations WHERE version = 'm20250601_000002_security_pipeline'").await;
    internal.migrate().await.expect("the second migration runs again over its own result");
    let store = internal.mfa_store();
    let now = datetime!(2025-01-01 00:00:00 UTC);
    let pending = MfaFactor {
        id: "00000000-0000-4000-8000-000000000001".to_owned(),
        user_id: "u".to_owned(),
        factor_type: "totp".to_owned(),
        secret_ciphertext: vec![1],
        nonce: vec![2],
        confirmed: false,
        last_used_step: None,
        created_at: now,
        updated_at: now,
    };
    assert!(store.put_pending(&pending).await.unwrap());
    let (insert, on_conflict, at) = match db.backend {
        SqlBackend::Postgres => ("INSERT", " ON CONFLICT DO NOTHING", "2025-01-01 00:00:00+00"),
        SqlBackend::MySql => ("INSERT IGNORE", "", "2025-01-01 00:00:00"),
        SqlBackend::Sqlite => ("INSERT OR IGNORE", "", "2025-01-01T00:00:00.000000Z"),
    };
    db.execute(&format!(
        "{insert} INTO uap_mfa_factors (id, organization_id, user_id, factor_type, secret_ciphertext, nonce, \
         confirmed, last_used_step, created_at, updated_at) VALUES ('00000000-0000-4000-8000-000000000002', \
         'org', 'u', 'totp', '', '', TRUE, NULL, '{at}', '{at}'){on_conflict}"
    ))
    .await;
    assert!(!store.use_step("u", "totp", 5, now).await.unwrap(), "no confirmed duplicate was stored");
    assert_eq!(store.get("u", "totp").await.unwrap(), Some(pending));
}
