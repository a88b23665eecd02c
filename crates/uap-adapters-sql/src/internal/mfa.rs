//! [`MfaFactorStore`] on the internal database's `uap_mfa_factors` table, one
//! row per (organization_id, user_id, factor_type) (a unique index since the
//! second migration).
//!
//! `confirm` and `use_step` are single conditional `UPDATE`s, atomic on every
//! engine: of concurrent calls with the same step exactly one changes the row.
//! `put_pending` is an `INSERT … ON CONFLICT … DO UPDATE … WHERE confirmed =
//! false` on PostgreSQL and SQLite; on MySQL/MariaDB a transaction locks the
//! row with `SELECT … FOR UPDATE`, and a missing row is inserted outside it. A
//! duplicate-key error (a concurrent enrolment won the insert) or a deadlock
//! (replacing a pending factor changes its primary key, and InnoDB may pick
//! the update as the victim of a concurrent insert's duplicate check) rolls
//! the step back, and it runs again.

use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::{ConnectionTrait, QueryResult, TransactionTrait, Value};
use time::OffsetDateTime;
use uap_ports::{MfaFactor, MfaFactorStore, StoreError};

use super::{Inner, RoundErr, db_err, in_rounds, read_str, read_ts, ts};
use crate::SqlBackend;
use crate::sql::Sql;

const COLUMNS: &str =
    "id, user_id, factor_type, secret_ciphertext, nonce, confirmed, last_used_step, created_at, updated_at";

const INSERT: &str = "INSERT INTO uap_mfa_factors (id, organization_id, user_id, factor_type, secret_ciphertext, \
                      nonce, confirmed, last_used_step, created_at, updated_at) VALUES ";

/// Second factors in the internal database, scoped to one organization.
#[derive(Clone)]
pub struct SqlMfaFactorStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SqlMfaFactorStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlMfaFactorStore")
            .field("backend", &self.inner.backend)
            .field("organization_id", &self.inner.organization_id)
            .finish()
    }
}

impl SqlMfaFactorStore {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        Self { inner }
    }

    /// Appends ` WHERE organization_id = ? AND user_id = ? AND factor_type = ?`.
    fn where_factor(&self, sql: &mut Sql, user_id: &str, factor_type: &str) {
        sql.push(" WHERE organization_id = ")
            .bind(self.inner.org())
            .push(" AND user_id = ")
            .bind(user_id)
            .push(" AND factor_type = ")
            .bind(factor_type);
    }

    /// The `INSERT` of `factor` as a pending factor (unconfirmed, no step used).
    fn insert(&self, factor: &MfaFactor) -> Sql {
        let b = self.inner.backend;
        let mut sql = self.inner.sql();
        sql.push(INSERT).bind_tuple([
            factor.id.as_str().into(),
            self.inner.org(),
            factor.user_id.as_str().into(),
            factor.factor_type.as_str().into(),
            factor.secret_ciphertext.clone().into(),
            factor.nonce.clone().into(),
            false.into(),
            Value::BigInt(None),
            ts(b, factor.created_at),
            ts(b, factor.updated_at),
        ]);
        sql
    }

    fn factor(&self, row: &QueryResult) -> Result<MfaFactor, StoreError> {
        let b = self.inner.backend;
        Ok(MfaFactor {
            id: read_str(row, "id")?,
            user_id: read_str(row, "user_id")?,
            factor_type: read_str(row, "factor_type")?,
            secret_ciphertext: row.try_get::<Vec<u8>>("", "secret_ciphertext").map_err(db_err)?,
            nonce: row.try_get::<Vec<u8>>("", "nonce").map_err(db_err)?,
            confirmed: row.try_get::<bool>("", "confirmed").map_err(db_err)?,
            last_used_step: row.try_get::<Option<i64>>("", "last_used_step").map_err(db_err)?,
            created_at: read_ts(row, b, "created_at")?,
            updated_at: read_ts(row, b, "updated_at")?,
        })
    }

    async fn execute(&self, sql: Sql) -> Result<u64, StoreError> {
        self.inner.conn.execute_raw(sql.build()).await.map(|r| r.rows_affected()).map_err(db_err)
    }

    /// `put_pending` on PostgreSQL and SQLite: one statement.
    async fn put_upsert(&self, factor: &MfaFactor) -> Result<bool, StoreError> {
        let mut sql = self.insert(factor);
        sql.push(
            " ON CONFLICT (organization_id, user_id, factor_type) DO UPDATE SET id = excluded.id, \
             secret_ciphertext = excluded.secret_ciphertext, nonce = excluded.nonce, confirmed = \
             excluded.confirmed, last_used_step = excluded.last_used_step, created_at = excluded.created_at, \
             updated_at = excluded.updated_at WHERE uap_mfa_factors.confirmed = ",
        )
        .bind(false);
        Ok(self.execute(sql).await? == 1)
    }

    /// `put_pending` on MySQL/MariaDB: a locked read, then update or insert,
    /// run again when it lost a race.
    async fn put_locked(&self, factor: &MfaFactor) -> Result<bool, StoreError> {
        in_rounds("MFA enrolment", || self.try_put_locked(factor)).await
    }

    async fn try_put_locked(&self, factor: &MfaFactor) -> Result<bool, RoundErr> {
        let b = self.inner.backend;
        let txn = self.inner.conn.begin().await?;
        let mut read = self.inner.sql();
        read.push("SELECT confirmed FROM uap_mfa_factors");
        self.where_factor(&mut read, &factor.user_id, &factor.factor_type);
        read.push(" FOR UPDATE");
        let Some(row) = txn.query_one_raw(read.build()).await? else {
            // Insert outside the transaction: no gap lock is held across it.
            txn.commit().await?;
            self.inner.conn.execute_raw(self.insert(factor).build()).await?;
            return Ok(true);
        };
        let confirmed = row.try_get::<bool>("", "confirmed")?;
        if !confirmed {
            let mut update = self.inner.sql();
            update
                .push("UPDATE uap_mfa_factors SET id = ")
                .bind(factor.id.as_str())
                .push(", secret_ciphertext = ")
                .bind(factor.secret_ciphertext.clone())
                .push(", nonce = ")
                .bind(factor.nonce.clone())
                .push(", last_used_step = NULL, created_at = ")
                .bind(ts(b, factor.created_at))
                .push(", updated_at = ")
                .bind(ts(b, factor.updated_at));
            self.where_factor(&mut update, &factor.user_id, &factor.factor_type);
            txn.execute_raw(update.build()).await?;
        }
        txn.commit().await?;
        Ok(!confirmed)
    }
}

#[async_trait]
impl MfaFactorStore for SqlMfaFactorStore {
    async fn get(&self, user_id: &str, factor_type: &str) -> Result<Option<MfaFactor>, StoreError> {
        let mut sql = self.inner.sql();
        sql.push("SELECT ").push(COLUMNS).push(" FROM uap_mfa_factors");
        self.where_factor(&mut sql, user_id, factor_type);
        let row = self.inner.conn.query_one_raw(sql.build()).await.map_err(db_err)?;
        row.map(|r| self.factor(&r)).transpose()
    }

    /// Stores `factor` as pending: its `confirmed` and `last_used_step` are
    /// ignored (stored as false and NULL).
    async fn put_pending(&self, factor: &MfaFactor) -> Result<bool, StoreError> {
        match self.inner.backend {
            SqlBackend::Postgres | SqlBackend::Sqlite => self.put_upsert(factor).await,
            SqlBackend::MySql => self.put_locked(factor).await,
        }
    }

    async fn confirm(
        &self,
        user_id: &str,
        factor_type: &str,
        step: i64,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut sql = self.inner.sql();
        sql.push("UPDATE uap_mfa_factors SET confirmed = ")
            .bind(true)
            .push(", last_used_step = ")
            .bind(step)
            .push(", updated_at = ")
            .bind(ts(self.inner.backend, now));
        self.where_factor(&mut sql, user_id, factor_type);
        sql.push(" AND confirmed = ").bind(false);
        Ok(self.execute(sql).await? == 1)
    }

    async fn use_step(
        &self,
        user_id: &str,
        factor_type: &str,
        step: i64,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut sql = self.inner.sql();
        sql.push("UPDATE uap_mfa_factors SET last_used_step = ")
            .bind(step)
            .push(", updated_at = ")
            .bind(ts(self.inner.backend, now));
        self.where_factor(&mut sql, user_id, factor_type);
        sql.push(" AND confirmed = ")
            .bind(true)
            .push(" AND (last_used_step IS NULL OR last_used_step < ")
            .bind(step)
            .push(")");
        Ok(self.execute(sql).await? == 1)
    }

    async fn delete(&self, user_id: &str, factor_type: &str) -> Result<bool, StoreError> {
        let mut sql = self.inner.sql();
        sql.push("DELETE FROM uap_mfa_factors");
        self.where_factor(&mut sql, user_id, factor_type);
        Ok(self.execute(sql).await? > 0)
    }
}
