//! [`ConfigStore`] on the internal database's `uap_configurations` table:
//! one row per version (`config_name` = `uap@v<N>`, unique per
//! organization), the newest `is_active`. A save reads the highest version
//! and inserts the next in one transaction; a concurrent save that took the
//! same number loses on the unique key and runs again.

use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::{ConnectionTrait, TransactionTrait, Value};
use serde_json::Value as Json;
use time::OffsetDateTime;
use uap_ports::{ConfigStore, ConfigVersion, StoreError};

use super::{Inner, RoundErr, in_rounds, json, read_json, read_opt_str, read_ts, text, ts, utc_micros};
use crate::sql::Sql;

/// Configuration versions in the internal database, scoped to one organization.
#[derive(Clone)]
pub struct SqlConfigStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SqlConfigStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlConfigStore").field("organization_id", &self.inner.organization_id).finish()
    }
}

impl SqlConfigStore {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        Self { inner }
    }

    fn where_org(&self, sql: &mut Sql) {
        sql.push(" WHERE organization_id = ").bind(self.inner.org());
    }

    async fn save_round(&self, data: &Json, created_by: Option<&str>, now: OffsetDateTime) -> Result<i64, RoundErr> {
        let b = self.inner.backend;
        let txn = self.inner.conn.begin().await?;
        let mut highest = self.inner.sql();
        highest.push("SELECT MAX(version) AS highest FROM uap_configurations");
        self.where_org(&mut highest);
        let current = match txn.query_one_raw(highest.build()).await? {
            Some(row) => row.try_get::<Option<i32>>("", "highest").map_err(|e| RoundErr::Store(super::db_err(e)))?,
            None => None,
        };
        let version = current.unwrap_or(0).saturating_add(1);
        let mut deactivate = self.inner.sql();
        deactivate.push("UPDATE uap_configurations SET is_active = ").bind(false);
        self.where_org(&mut deactivate);
        txn.execute_raw(deactivate.build()).await?;
        let mut insert = self.inner.sql();
        insert
            .push(
                "INSERT INTO uap_configurations (id, organization_id, config_name, config_data, version, is_active, \
                 created_at, updated_at, created_by) VALUES ",
            )
            .bind_tuple([
                Value::from(uuid::Uuid::new_v4().to_string()),
                self.inner.org(),
                Value::from(format!("uap@v{version}")),
                json(data),
                Value::from(version),
                Value::from(true),
                ts(b, now),
                ts(b, now),
                text(created_by),
            ]);
        txn.execute_raw(insert.build()).await?;
        txn.commit().await?;
        Ok(i64::from(version))
    }
}

#[async_trait]
impl ConfigStore for SqlConfigStore {
    async fn save(&self, data: &Json, created_by: Option<&str>, now: OffsetDateTime) -> Result<i64, StoreError> {
        let now = utc_micros(now);
        in_rounds("configuration save", || self.save_round(data, created_by, now)).await
    }

    async fn latest(&self) -> Result<Option<ConfigVersion>, StoreError> {
        let b = self.inner.backend;
        let mut sql = self.inner.sql();
        sql.push("SELECT version, config_data, created_by, created_at FROM uap_configurations");
        self.where_org(&mut sql);
        sql.push(" ORDER BY version DESC LIMIT 1");
        let Some(row) = self.inner.conn.query_one_raw(sql.build()).await.map_err(super::db_err)? else {
            return Ok(None);
        };
        Ok(Some(ConfigVersion {
            version: i64::from(row.try_get::<i32>("", "version").map_err(super::db_err)?),
            data: read_json(&row, "config_data")?,
            created_at: read_ts(&row, b, "created_at")?,
            created_by: read_opt_str(&row, "created_by")?,
        }))
    }
}
