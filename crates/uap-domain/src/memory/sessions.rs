//! The `session_store = "memory"` store: one process, lost on restart.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use async_trait::async_trait;
use time::OffsetDateTime;
use uap_ports::{RotateOutcome, SessionRecord, SessionState, SessionStore, StoreError};

/// A session id as held: the 16 bytes of a canonical (lower-case,
/// hyphenated) UUID — what UAP issues — or, for any other text, the text.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Id {
    Uuid([u8; 16]),
    Text(Box<str>),
}

impl Id {
    fn new(text: &str) -> Self {
        if let Ok(uuid) = uuid::Uuid::try_parse(text) {
            let mut canonical = [0u8; uuid::fmt::Hyphenated::LENGTH];
            if uuid.hyphenated().encode_lower(&mut canonical).as_bytes() == text.as_bytes() {
                return Self::Uuid(uuid.into_bytes());
            }
        }
        Self::Text(text.into())
    }

    fn text(&self) -> String {
        match self {
            Self::Uuid(bytes) => uuid::Uuid::from_bytes(*bytes).hyphenated().to_string(),
            Self::Text(text) => text.to_string(),
        }
    }
}

/// A [`SessionRecord`] as held: ids compacted, the user id and `user_data`
/// (as JSON text) shared by all sessions of a user, rare parts boxed. About
/// a third of the memory of the plain record for a typical login.
struct Stored {
    user: Arc<str>,
    family: Id,
    device: Option<Box<str>>,
    created_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    last_activity: OffsetDateTime,
    refresh_expires_at: Option<OffsetDateTime>,
    ip: Option<Box<str>>,
    agent: Option<Box<str>>,
    user_data: Arc<str>,
    rotated: Option<Box<(Id, OffsetDateTime)>>,
    auth_time: OffsetDateTime,
    fingerprint: Option<Box<str>>,
}

impl Stored {
    fn is_active(&self) -> bool {
        self.rotated.is_none()
    }

    fn retain_until(&self) -> OffsetDateTime {
        match self.refresh_expires_at {
            Some(refresh) if refresh > self.expires_at => refresh,
            _ => self.expires_at,
        }
    }

    fn record(&self, id: &Id) -> Result<SessionRecord, StoreError> {
        // The text was written by serde_json from a `Value`; it parses back.
        let user_data = serde_json::from_str(&self.user_data).map_err(StoreError::backend)?;
        Ok(SessionRecord {
            session_id: id.text(),
            user_id: self.user.to_string(),
            device_id: self.device.as_deref().map(str::to_owned),
            created_at: self.created_at,
            expires_at: self.expires_at,
            last_activity: self.last_activity,
            ip_address: self.ip.as_deref().map(str::to_owned),
            user_agent: self.agent.as_deref().map(str::to_owned),
            user_data: Arc::new(user_data),
            family_id: self.family.text(),
            refresh_expires_at: self.refresh_expires_at,
            state: match &self.rotated {
                None => SessionState::Active,
                Some(rotated) => SessionState::Rotated { successor_id: rotated.0.text(), at: rotated.1 },
            },
            auth_time: self.auth_time,
            credential_fingerprint: self.fingerprint.as_deref().map(str::to_owned),
        })
    }
}

#[derive(Default)]
struct Sessions {
    by_id: HashMap<Id, Box<Stored>>,
    by_user: HashMap<Arc<str>, Vec<Id>>,
}

impl Sessions {
    fn insert(&mut self, record: &SessionRecord) -> Result<(), StoreError> {
        let user_data = serde_json::to_string(&*record.user_data).map_err(StoreError::backend)?;
        let id = Id::new(&record.session_id);
        // One copy of the user id and of a user's data for all their sessions.
        let (user, shared_data) = match self.by_user.get_key_value(record.user_id.as_str()) {
            Some((user, ids)) => {
                let same = ids.first().and_then(|id| self.by_id.get(id)).filter(|s| *s.user_data == *user_data);
                (Arc::clone(user), same.map(|s| Arc::clone(&s.user_data)))
            }
            None => (Arc::from(record.user_id.as_str()), None),
        };
        let stored = Stored {
            user: Arc::clone(&user),
            family: Id::new(&record.family_id),
            device: record.device_id.as_deref().map(Box::from),
            created_at: record.created_at,
            expires_at: record.expires_at,
            last_activity: record.last_activity,
            refresh_expires_at: record.refresh_expires_at,
            ip: record.ip_address.as_deref().map(Box::from),
            agent: record.user_agent.as_deref().map(Box::from),
            user_data: shared_data.unwrap_or_else(|| Arc::from(user_data)),
            rotated: match &record.state {
                SessionState::Active => None,
                SessionState::Rotated { successor_id, at } => Some(Box::new((Id::new(successor_id), *at))),
            },
            auth_time: record.auth_time,
            fingerprint: record.credential_fingerprint.as_deref().map(Box::from),
        };
        if let Some(replaced) = self.by_id.insert(id.clone(), Box::new(stored)) {
            self.unindex(&replaced.user, &id);
        }
        self.by_user.entry(user).or_default().push(id);
        Ok(())
    }

    fn remove(&mut self, id: &Id) -> Option<Box<Stored>> {
        let stored = self.by_id.remove(id)?;
        self.unindex(&stored.user, id);
        Some(stored)
    }

    fn unindex(&mut self, user: &str, id: &Id) {
        if let Some(ids) = self.by_user.get_mut(user) {
            ids.retain(|other| other != id);
            if ids.is_empty() {
                self.by_user.remove(user);
            }
        }
    }

    fn get(&self, session_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let id = Id::new(session_id);
        self.by_id.get(&id).map(|stored| stored.record(&id)).transpose()
    }

    /// Removes `ids`; how many of them were active.
    fn remove_all(&mut self, ids: Vec<Id>) -> u64 {
        let mut ended = 0;
        for id in ids {
            if self.remove(&id).is_some_and(|stored| stored.is_active()) {
                ended += 1;
            }
        }
        ended
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
        self.write().insert(record)
    }

    async fn get(&self, session_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.read().get(session_id)
    }

    async fn get_owned(&self, session_id: &str, user_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let sessions = self.read();
        let id = Id::new(session_id);
        match sessions.by_id.get(&id) {
            Some(stored) if *stored.user == *user_id => stored.record(&id).map(Some),
            _ => Ok(None),
        }
    }

    async fn touch(&self, session_id: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        if let Some(stored) = self.write().by_id.get_mut(&Id::new(session_id)) {
            stored.last_activity = at;
        }
        Ok(())
    }

    async fn delete(&self, session_id: &str) -> Result<bool, StoreError> {
        Ok(self.write().remove(&Id::new(session_id)).is_some())
    }

    async fn delete_user_sessions(&self, user_id: &str, keep: Option<&str>) -> Result<u64, StoreError> {
        let mut sessions = self.write();
        let keep = keep.map(Id::new);
        let ids: Vec<Id> = sessions
            .by_user
            .get(user_id)
            .map(|ids| ids.iter().filter(|id| Some(*id) != keep.as_ref()).cloned().collect())
            .unwrap_or_default();
        Ok(sessions.remove_all(ids))
    }

    async fn delete_family(&self, family_id: &str) -> Result<u64, StoreError> {
        let mut sessions = self.write();
        let family = Id::new(family_id);
        let ids: Vec<Id> =
            sessions.by_id.iter().filter(|(_, stored)| stored.family == family).map(|(id, _)| id.clone()).collect();
        Ok(sessions.remove_all(ids))
    }

    async fn list_user_sessions(&self, user_id: &str) -> Result<Vec<SessionRecord>, StoreError> {
        let sessions = self.read();
        let Some(ids) = sessions.by_user.get(user_id) else { return Ok(Vec::new()) };
        ids.iter().filter_map(|id| sessions.by_id.get(id).map(|stored| stored.record(id))).collect()
    }

    async fn rotate(
        &self,
        old_id: &str,
        successor: &SessionRecord,
        at: OffsetDateTime,
    ) -> Result<RotateOutcome, StoreError> {
        let mut sessions = self.write();
        let Some(old) = sessions.by_id.get_mut(&Id::new(old_id)) else {
            return Ok(RotateOutcome::NotFound);
        };
        if let Some(rotated) = &old.rotated {
            return Ok(RotateOutcome::AlreadyRotated { successor_id: rotated.0.text(), at: rotated.1 });
        }
        old.rotated = Some(Box::new((Id::new(&successor.session_id), at)));
        sessions.insert(successor)?;
        Ok(RotateOutcome::Rotated)
    }

    async fn extend(
        &self,
        session_id: &str,
        expected_expires_at: OffsetDateTime,
        expires_at: OffsetDateTime,
        user_data: &Arc<serde_json::Value>,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let user_data: Arc<str> = Arc::from(serde_json::to_string(&**user_data).map_err(StoreError::backend)?);
        let mut sessions = self.write();
        let Some(stored) = sessions.by_id.get_mut(&Id::new(session_id)) else { return Ok(false) };
        if !stored.is_active() || stored.expires_at != expected_expires_at {
            return Ok(false);
        }
        stored.expires_at = expires_at;
        stored.last_activity = at;
        if *stored.user_data != *user_data {
            stored.user_data = user_data;
        }
        Ok(true)
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let mut sessions = self.write();
        let ids: Vec<Id> =
            sessions.by_id.iter().filter(|(_, stored)| stored.retain_until() < now).map(|(id, _)| id.clone()).collect();
        let purged = ids.len() as u64;
        for id in &ids {
            sessions.remove(id);
        }
        Ok(purged)
    }

    async fn count_active(&self, now: OffsetDateTime) -> Result<Option<u64>, StoreError> {
        let sessions = self.read();
        let active = sessions.by_id.values().filter(|s| s.is_active() && s.expires_at > now).count();
        Ok(Some(active as u64))
    }

    async fn health(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    fn record(id: &str, user: &str, data: serde_json::Value) -> SessionRecord {
        let t = datetime!(2026-01-02 03:04:05.123_456_789 UTC);
        SessionRecord {
            session_id: id.to_owned(),
            user_id: user.to_owned(),
            device_id: None,
            created_at: t,
            expires_at: t + time::Duration::hours(1),
            last_activity: t,
            ip_address: Some("203.0.113.9".to_owned()),
            user_agent: None,
            user_data: Arc::new(data),
            family_id: id.to_owned(),
            refresh_expires_at: None,
            state: SessionState::Active,
            auth_time: t,
            credential_fingerprint: None,
        }
    }

    #[test]
    fn ids_keep_their_exact_text() {
        let uuid = "0346b751-d096-4b7f-af77-8cf9b89c05bc";
        assert!(matches!(Id::new(uuid), Id::Uuid(_)));
        assert_eq!(Id::new(uuid).text(), uuid);
        for text in ["0346B751-D096-4B7F-AF77-8CF9B89C05BC", "0346b751d0964b7faf778cf9b89c05bc", "s1", ""] {
            assert!(matches!(Id::new(text), Id::Text(_)), "{text}");
            assert_eq!(Id::new(text).text(), text);
        }
    }

    #[test]
    fn a_users_sessions_share_one_copy_of_their_data_and_the_index_empties() {
        let store = MemorySessionStore::new();
        let data = json!({"id": 7, "email": "a@example.test", "roles": ["x"], "f": 2.5});
        for id in ["0346b751-d096-4b7f-af77-8cf9b89c05bc", "s2"] {
            block_on(store.create(&record(id, "7", data.clone()))).unwrap();
        }
        block_on(store.create(&record("s3", "7", json!({"id": 7, "changed": true})))).unwrap();
        {
            let sessions = store.read();
            let stored: Vec<_> = sessions.by_id.values().filter(|s| *s.user == *"7").collect();
            assert_eq!(stored.len(), 3);
            let copies: std::collections::HashSet<_> = stored.iter().map(|s| Arc::as_ptr(&s.user_data)).collect();
            assert_eq!(copies.len(), 2, "the two sessions with equal data share one copy");
            assert!(stored.iter().all(|s| Arc::ptr_eq(&s.user, &stored[0].user)));
        }
        let got = block_on(store.get("0346b751-d096-4b7f-af77-8cf9b89c05bc")).unwrap().unwrap();
        assert_eq!(got, record("0346b751-d096-4b7f-af77-8cf9b89c05bc", "7", data));
        assert_eq!(block_on(store.delete_user_sessions("7", Some("s2"))).unwrap(), 2);
        assert_eq!(store.read().by_user.get("7").map(Vec::len), Some(1));
        assert!(block_on(store.delete("s2")).unwrap());
        assert!(store.read().by_user.is_empty() && store.is_empty());
    }

    #[test]
    fn recreating_an_id_for_another_user_moves_it_in_the_index() {
        let store = MemorySessionStore::new();
        block_on(store.create(&record("s1", "a", json!({})))).unwrap();
        block_on(store.create(&record("s1", "b", json!({})))).unwrap();
        assert_eq!(block_on(store.list_user_sessions("a")).unwrap(), Vec::new());
        assert_eq!(block_on(store.list_user_sessions("b")).unwrap().len(), 1);
        assert_eq!(block_on(store.get_owned("s1", "a")).unwrap(), None);
        assert!(block_on(store.get_owned("s1", "b")).unwrap().is_some());
    }
}
