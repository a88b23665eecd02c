//! Second factors in one process (tests and single-instance demos): the same
//! semantics as the SQL store, each operation atomic under one lock.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use time::OffsetDateTime;
use uap_ports::{MfaFactor, MfaFactorStore, StoreError};

type Factors = HashMap<(String, String), MfaFactor>;

/// Factors in a process-local map keyed by (user id, factor type). The lock
/// is never held across an await.
#[derive(Default)]
pub struct MemoryMfaFactorStore {
    factors: Mutex<Factors>,
}

impl std::fmt::Debug for MemoryMfaFactorStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryMfaFactorStore").field("factors", &self.lock().len()).finish()
    }
}

fn key(user_id: &str, factor_type: &str) -> (String, String) {
    (user_id.to_owned(), factor_type.to_owned())
}

impl MemoryMfaFactorStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Factors> {
        self.factors.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies `change` to the confirmed-or-not factor if `applies` holds.
    fn update_if(
        &self,
        user_id: &str,
        factor_type: &str,
        applies: impl FnOnce(&MfaFactor) -> bool,
        change: impl FnOnce(&mut MfaFactor),
    ) -> bool {
        let mut factors = self.lock();
        match factors.get_mut(&key(user_id, factor_type)) {
            Some(factor) if applies(factor) => {
                change(factor);
                true
            }
            _ => false,
        }
    }
}

#[async_trait]
impl MfaFactorStore for MemoryMfaFactorStore {
    async fn get(&self, user_id: &str, factor_type: &str) -> Result<Option<MfaFactor>, StoreError> {
        Ok(self.lock().get(&key(user_id, factor_type)).cloned())
    }

    /// Stores `factor` as pending: its `confirmed` and `last_used_step` are
    /// ignored (stored as false and `None`).
    async fn put_pending(&self, factor: &MfaFactor) -> Result<bool, StoreError> {
        let mut factors = self.lock();
        let k = key(&factor.user_id, &factor.factor_type);
        if factors.get(&k).is_some_and(|f| f.confirmed) {
            return Ok(false);
        }
        factors.insert(k, MfaFactor { confirmed: false, last_used_step: None, ..factor.clone() });
        Ok(true)
    }

    async fn confirm(
        &self,
        user_id: &str,
        factor_type: &str,
        step: i64,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        Ok(self.update_if(
            user_id,
            factor_type,
            |f| !f.confirmed,
            |f| {
                f.confirmed = true;
                f.last_used_step = Some(step);
                f.updated_at = now;
            },
        ))
    }

    async fn use_step(
        &self,
        user_id: &str,
        factor_type: &str,
        step: i64,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        Ok(self.update_if(
            user_id,
            factor_type,
            |f| f.confirmed && f.last_used_step.is_none_or(|last| last < step),
            |f| {
                f.last_used_step = Some(step);
                f.updated_at = now;
            },
        ))
    }

    async fn delete(&self, user_id: &str, factor_type: &str) -> Result<bool, StoreError> {
        Ok(self.lock().remove(&key(user_id, factor_type)).is_some())
    }
}
