//! The `session_store = "memory"` store: one process, lost on restart.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, PoisonError, RwLock};

use async_trait::async_trait;
use time::OffsetDateTime;
use uap_ports::{RotateOutcome, SessionRecord, SessionState, SessionStore, StoreError};

#[derive(Default)]
struct Sessions {
    by_id: HashMap<String, SessionRecord>,
    by_user: HashMap<String, HashSet<String>>,
}

impl Sessions {
    fn insert(&mut self, mut record: SessionRecord) {
        // One copy of a user's data for all their sessions.
        let same_user = self.by_user.get(&record.user_id).and_then(|ids| ids.iter().next());
        if let Some(existing) = same_user.and_then(|id| self.by_id.get(id))
            && existing.user_data == record.user_data
        {
            record.user_data = Arc::clone(&existing.user_data);
        }
        self.by_user.entry(record.user_id.clone()).or_default().insert(record.session_id.clone());
        self.by_id.insert(record.session_id.clone(), record);
    }

    fn remove(&mut self, session_id: &str) -> Option<SessionRecord> {
        let record = self.by_id.remove(session_id)?;
        if let Some(ids) = self.by_user.get_mut(&record.user_id) {
            ids.remove(session_id);
            if ids.is_empty() {
                self.by_user.remove(&record.user_id);
            }
        }
        Some(record)
    }
}

/// Sessions in a process-local map with a per-user index.
#[derive(Default)]
pub struct MemorySessionStore {
    sessions: RwLock<Sessions>,
}

impl std::fmt::Debug for MemorySessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemorySessionStore")
    }
}

impl MemorySessionStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Sessions> {
        self.sessions.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Sessions> {
        self.sessions.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many records are held (any state).
    #[must_use]
    pub fn len(&self) -> usize {
        self.read().by_id.len()
    }

    /// Whether no record is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl SessionStore for MemorySessionStore {
    async fn create(&self, record: &SessionRecord) -> Result<(), StoreError> {
        self.write().insert(record.clone());
        Ok(())
    }

    async fn get(&self, session_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self.read().by_id.get(session_id).cloned())
    }

    async fn touch(&self, session_id: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        if let Some(record) = self.write().by_id.get_mut(session_id) {
            record.last_activity = at;
        }
        Ok(())
    }

    async fn delete(&self, session_id: &str) -> Result<bool, StoreError> {
        Ok(self.write().remove(session_id).is_some())
    }

    async fn delete_user_sessions(&self, user_id: &str, keep: Option<&str>) -> Result<u64, StoreError> {
        let mut sessions = self.write();
        let ids: Vec<String> = sessions
            .by_user
            .get(user_id)
            .map(|ids| ids.iter().filter(|id| Some(id.as_str()) != keep).cloned().collect())
            .unwrap_or_default();
        let mut ended = 0;
        for id in ids {
            if sessions.remove(&id).is_some_and(|r| r.state == SessionState::Active) {
                ended += 1;
            }
        }
        Ok(ended)
    }

    async fn delete_family(&self, family_id: &str) -> Result<u64, StoreError> {
        let mut sessions = self.write();
        let ids: Vec<String> =
            sessions.by_id.values().filter(|r| r.family_id == family_id).map(|r| r.session_id.clone()).collect();
        let mut ended = 0;
        for id in ids {
            if sessions.remove(&id).is_some_and(|r| r.state == SessionState::Active) {
                ended += 1;
            }
        }
        Ok(ended)
    }

    async fn list_user_sessions(&self, user_id: &str) -> Result<Vec<SessionRecord>, StoreError> {
        let sessions = self.read();
        Ok(sessions
            .by_user
            .get(user_id)
            .map(|ids| ids.iter().filter_map(|id| sessions.by_id.get(id).cloned()).collect())
            .unwrap_or_default())
    }

    async fn rotate(
        &self,
        old_id: &str,
        successor: &SessionRecord,
        at: OffsetDateTime,
    ) -> Result<RotateOutcome, StoreError> {
        let mut sessions = self.write();
        let Some(old) = sessions.by_id.get_mut(old_id) else {
            return Ok(RotateOutcome::NotFound);
        };
        match &old.state {
            SessionState::Rotated { successor_id, at } => {
                Ok(RotateOutcome::AlreadyRotated { successor_id: successor_id.clone(), at: *at })
            }
            SessionState::Active => {
                old.state = SessionState::Rotated { successor_id: successor.session_id.clone(), at };
                sessions.insert(successor.clone());
                Ok(RotateOutcome::Rotated)
            }
        }
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let mut sessions = self.write();
        let ids: Vec<String> =
            sessions.by_id.values().filter(|r| r.retain_until() < now).map(|r| r.session_id.clone()).collect();
        for id in &ids {
            sessions.remove(id);
        }
        Ok(ids.len() as u64)
    }

    async fn health(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
