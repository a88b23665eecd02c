//! The `ConfigStore` port: configuration versions kept in the internal
//! database (`uap_configurations`), newest active.

use async_trait::async_trait;
use serde_json::Value;
use time::OffsetDateTime;

use crate::StoreError;

/// One stored configuration version.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigVersion {
    /// 1, 2, … per organization.
    pub version: i64,
    /// What was stored (the caller's shape; secrets sealed or left out).
    pub data: Value,
    pub created_at: OffsetDateTime,
    /// Who made the change (an admin call's client address).
    pub created_by: Option<String>,
}

/// Configuration versions, shared by every instance using the database.
#[async_trait]
pub trait ConfigStore: Send + Sync + 'static {
    /// Stores `data` as the next version, makes it the active one, and
    /// returns its number. Concurrent saves get distinct numbers.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn save(&self, data: &Value, created_by: Option<&str>, now: OffsetDateTime) -> Result<i64, StoreError>;

    /// The active (newest) version, if any was stored.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn latest(&self) -> Result<Option<ConfigVersion>, StoreError>;
}
