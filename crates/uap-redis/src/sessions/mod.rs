//! [`SessionStore`] on Redis: records in their user's hash slot, pointers
//! from session and family ids to the user (crate docs: key layout, cluster
//! design).

mod record;

use std::sync::LazyLock;

use async_trait::async_trait;
use fred::prelude::{Expiration, HashesInterface, Key, KeysInterface, SetsInterface, Value};
use fred::types::scan::Scanner;
use futures::{StreamExt, future};
use time::OffsetDateTime;
use uap_ports::{RotateOutcome, SessionRecord, SessionStore, StoreError};

use self::record::{FIELDS, GRACE_MS, array, decode, decode_fields, encode, expire_at_ms, score, text};
use crate::client::{Redis, Script};
use crate::error::malformed;
use crate::keys::UserKeys;
use crate::time::{instant, micros};

macro_rules! session_script {
    ($file:literal) => {
        LazyLock::new(|| Script::new(concat!(include_str!("../lua/session_lib.lua"), include_str!($file))))
    };
}

static CREATE: LazyLock<Script> = session_script!("../lua/create.lua");
static ROTATE: LazyLock<Script> = session_script!("../lua/rotate.lua");
static FAMILY_ADD: LazyLock<Script> = session_script!("../lua/family_add.lua");
static EXTEND: LazyLock<Script> = session_script!("../lua/extend.lua");
static TOUCH: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("../lua/touch.lua")));
static DELETE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("../lua/delete.lua")));
static DELETE_WHERE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("../lua/delete_where.lua")));
static LIST: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("../lua/list.lua")));
static PURGE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("../lua/purge.lua")));
static GET: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("../lua/get.lua")));
static ACTIVE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("../lua/active.lua")));

/// `SCAN` page size of [`SessionStore::purge_expired`].
const SCAN_COUNT: u32 = 500;

/// Session records in Redis. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RedisSessionStore {
    redis: Redis,
}

impl RedisSessionStore {
    pub(crate) fn new(redis: Redis) -> Self {
        Self { redis }
    }

    /// The keys of the user a session pointer names, if it exists.
    async fn owner(&self, session_id: &str) -> Result<Option<UserKeys>, StoreError> {
        let pointer = self.redis.keys().session_pointer(session_id);
        let tag: Option<String> = self.redis.run(self.redis.cmd().get(pointer)).await?;
        Ok(tag.map(|tag| self.redis.keys().user_by_tag(tag)))
    }

    /// Writes the pointers of `record` (before the record itself).
    async fn point_to(&self, record: &SessionRecord, user: &UserKeys) -> Result<(), StoreError> {
        let keys = self.redis.keys();
        let expire_at = expire_at_ms(record);
        let cmd = self.redis.cmd();
        let session = cmd.set::<(), _, _>(
            keys.session_pointer(&record.session_id),
            user.tag(),
            Some(Expiration::PXAT(expire_at)),
            None,
            false,
        );
        let family = self.redis.eval(
            &FAMILY_ADD,
            vec![keys.family_pointer(&record.family_id)],
            vec![user.tag().to_owned(), expire_at.to_string()],
        );
        let (session, family) = future::join(self.redis.run(session), family).await;
        session.and(family.map(drop))
    }

    /// Deletes the pointers of sessions whose records are gone. Best effort:
    /// a dangling pointer only reads as "no session" and expires by itself.
    async fn unpoint(&self, session_ids: impl IntoIterator<Item = &str>) {
        let deletes = session_ids.into_iter().map(|id| async move {
            let pointer = self.redis.keys().session_pointer(id);
            self.redis.run(self.redis.cmd().del::<i64, _>(pointer)).await
        });
        for result in future::join_all(deletes).await {
            if let Err(err) = result {
                tracing::debug!(error = %err, "stale session pointer left to expire");
            }
        }
    }

    /// Keeps `Pactive` (the count of [`SessionStore::count_active`]) in step:
    /// adds `add` (id, `expires_at` in µs), removes `remove`. Best effort: a
    /// failure only skews the gauge until the member's expiry passes.
    async fn track(&self, add: Option<(&str, i64)>, remove: &[&str]) {
        let mut args = match add {
            Some((id, expires_at)) => vec!["add".to_owned(), expires_at.to_string(), id.to_owned()],
            None if remove.is_empty() => return,
            None => vec!["remove".to_owned()],
        };
        args.extend(remove.iter().map(|id| (*id).to_owned()));
        if let Err(err) = self.redis.eval(&ACTIVE, vec![self.redis.keys().active_index()], args).await {
            tracing::debug!(error = %err, "active-session index not updated");
        }
    }

    /// Runs `delete_where.lua` on one user; returns (active ended, ids removed).
    async fn delete_where(&self, user: &UserKeys, args: &[&str]) -> Result<(u64, Vec<String>), StoreError> {
        let mut argv = vec![user.record_prefix()];
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        let reply = array(self.redis.eval(&DELETE_WHERE, vec![user.index()], argv).await?)?;
        let mut reply = reply.into_iter();
        let (Some(Value::Integer(ended)), Some(ids)) = (reply.next(), reply.next()) else {
            return Err(malformed("delete_where reply"));
        };
        let ids = array(ids)?.into_iter().map(text).collect::<Result<Vec<_>, _>>()?;
        let ended = u64::try_from(ended).map_err(|_| malformed("negative count"))?;
        self.unpoint(ids.iter().map(String::as_str)).await;
        self.track(None, &ids.iter().map(String::as_str).collect::<Vec<_>>()).await;
        Ok((ended, ids))
    }

    /// Purges one user's index; returns how many records it deleted.
    async fn purge_user(&self, user: &UserKeys, now: &str) -> Result<u64, StoreError> {
        let reply = self.redis.eval(&PURGE, vec![user.index()], vec![user.record_prefix(), now.to_owned()]).await?;
        let ids = array(reply)?.into_iter().map(text).collect::<Result<Vec<_>, _>>()?;
        self.unpoint(ids.iter().map(String::as_str)).await;
        Ok(ids.len() as u64)
    }
}

#[async_trait]
impl SessionStore for RedisSessionStore {
    async fn create(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let user = self.redis.keys().user(&record.user_id);
        self.point_to(record, &user).await?;
        let mut args = vec![record.session_id.clone(), score(record), expire_at_ms(record).to_string()];
        args.push(user.record_prefix());
        args.extend(encode(record));
        self.redis.eval(&CREATE, vec![user.record(&record.session_id), user.index()], args).await?;
        if record.state == uap_ports::SessionState::Active {
            self.track(Some((&record.session_id, micros(record.expires_at))), &[]).await;
        }
        Ok(())
    }

    async fn get(&self, session_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let fields = if self.redis.clustered() {
            let Some(user) = self.owner(session_id).await? else { return Ok(None) };
            self.redis.run(self.redis.cmd().hgetall::<Value, _>(user.record(session_id))).await?
        } else {
            let keys = self.redis.keys();
            let (head, middle) = keys.record_parts();
            let args = vec![head, middle.to_owned(), session_id.to_owned()];
            self.redis.eval(&GET, vec![keys.session_pointer(session_id)], args).await?
        };
        decode(fields)
    }

    /// One `HMGET` on the user's slot: no pointer to follow, no script, and
    /// a reply of values only, in a known order.
    async fn get_owned(&self, session_id: &str, user_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let user = self.redis.keys().user(user_id);
        let fields: Vec<Key> = FIELDS.iter().map(|field| Key::from_static_str(field)).collect();
        let client = self.redis.local_cmd();
        let reply = self.redis.run(client.hmget::<Value, _, _>(user.record(session_id), fields)).await?;
        Ok(decode_fields(reply)?.filter(|record| record.user_id == user_id))
    }

    async fn touch(&self, session_id: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        let Some(user) = self.owner(session_id).await? else { return Ok(()) };
        self.redis.eval(&TOUCH, vec![user.record(session_id)], vec![micros(at).to_string()]).await.map(drop)
    }

    async fn delete(&self, session_id: &str) -> Result<bool, StoreError> {
        let Some(user) = self.owner(session_id).await? else { return Ok(false) };
        let keys = vec![user.record(session_id), user.index()];
        let existed = self.redis.eval(&DELETE, keys, vec![session_id.to_owned()]).await?;
        self.unpoint([session_id]).await;
        self.track(None, &[session_id]).await;
        Ok(existed == Value::Integer(1))
    }

    async fn delete_user_sessions(&self, user_id: &str, keep: Option<&str>) -> Result<u64, StoreError> {
        let user = self.redis.keys().user(user_id);
        let args: Vec<&str> = keep.map_or_else(|| vec!["user"], |keep| vec!["user", keep]);
        Ok(self.delete_where(&user, &args).await?.0)
    }

    async fn delete_family(&self, family_id: &str) -> Result<u64, StoreError> {
        let pointer = self.redis.keys().family_pointer(family_id);
        let tags: Vec<String> = self.redis.run(self.redis.cmd().smembers(pointer)).await?;
        let mut ended = 0;
        for tag in tags {
            let user = self.redis.keys().user_by_tag(tag);
            ended += self.delete_where(&user, &["family", family_id]).await?.0;
        }
        Ok(ended)
    }

    async fn list_user_sessions(&self, user_id: &str) -> Result<Vec<SessionRecord>, StoreError> {
        let user = self.redis.keys().user(user_id);
        let reply = self.redis.eval(&LIST, vec![user.index()], vec![user.record_prefix()]).await?;
        let mut records = Vec::new();
        for fields in array(reply)? {
            records.extend(decode(fields)?);
        }
        Ok(records)
    }

    async fn rotate(
        &self,
        old_id: &str,
        successor: &SessionRecord,
        at: OffsetDateTime,
    ) -> Result<RotateOutcome, StoreError> {
        let user = self.redis.keys().user(&successor.user_id);
        self.point_to(successor, &user).await?;
        let keys = vec![user.record(old_id), user.record(&successor.session_id), user.index()];
        let mut args = vec![successor.session_id.clone(), micros(at).to_string(), score(successor)];
        args.push(expire_at_ms(successor).to_string());
        args.extend(encode(successor));
        let reply = array(self.redis.eval(&ROTATE, keys, args).await?)?;
        let mut reply = reply.into_iter().map(text);
        let outcome = match reply.next().transpose()?.as_deref() {
            Some("rotated") => {
                self.track(Some((&successor.session_id, micros(successor.expires_at))), &[old_id]).await;
                return Ok(RotateOutcome::Rotated);
            }
            Some("missing") => RotateOutcome::NotFound,
            Some("already") => {
                let successor_id = reply.next().transpose()?.unwrap_or_default();
                let at = instant("rotated_at", &reply.next().transpose()?.unwrap_or_default())?;
                RotateOutcome::AlreadyRotated { successor_id, at }
            }
            _ => return Err(malformed("rotate reply")),
        };
        // No successor was stored: drop its pointer (unless a retry of the
        // first rotation named the very successor that was stored then).
        let stored = matches!(&outcome, RotateOutcome::AlreadyRotated { successor_id, .. } if *successor_id == successor.session_id);
        if !stored {
            self.unpoint([successor.session_id.as_str()]).await;
        }
        Ok(outcome)
    }

    async fn extend(
        &self,
        session_id: &str,
        expected_expires_at: OffsetDateTime,
        expires_at: OffsetDateTime,
        user_data: &std::sync::Arc<serde_json::Value>,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let Some(user) = self.owner(session_id).await? else { return Ok(false) };
        let keys = vec![user.record(session_id), user.index()];
        let args = vec![
            session_id.to_owned(),
            micros(expected_expires_at).to_string(),
            micros(expires_at).to_string(),
            user_data.to_string(),
            micros(at).to_string(),
            GRACE_MS.to_string(),
        ];
        let reply = array(self.redis.eval(&EXTEND, keys, args).await?)?;
        let mut reply = reply.into_iter().map(text);
        if reply.next().transpose()?.as_deref() != Some("1") {
            return Ok(false);
        }
        let expire_at: i64 =
            reply.next().transpose()?.and_then(|ms| ms.parse().ok()).ok_or_else(|| malformed("extend reply"))?;
        let family = reply.next().transpose()?.unwrap_or_default();
        self.track(Some((session_id, micros(expires_at))), &[]).await;
        // The pointers live as long as the record; the retention only grows
        // when the new expiry passes the refresh expiry. Best effort: until
        // then they keep their earlier expiry.
        let pointers = self.redis.keys();
        let cmd = self.redis.cmd();
        let session = self.redis.run(cmd.set::<(), _, _>(
            pointers.session_pointer(session_id),
            user.tag(),
            Some(Expiration::PXAT(expire_at)),
            None,
            false,
        ));
        let family = self.redis.eval(
            &FAMILY_ADD,
            vec![pointers.family_pointer(&family)],
            vec![user.tag().to_owned(), expire_at.to_string()],
        );
        let (session, family) = future::join(session, family).await;
        if let Err(err) = session.and(family.map(drop)) {
            tracing::warn!(error = %err, "session pointers keep their earlier expiry after an extend");
        }
        Ok(true)
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let keys = self.redis.keys();
        let purge = vec!["purge".to_owned(), micros(now).to_string()];
        self.redis.eval(&ACTIVE, vec![keys.active_index()], purge).await?;
        let (pattern, now) = (keys.index_pattern(), micros(now).to_string());
        let client = self.redis.client();
        let kind = Some(fred::types::scan::ScanType::ZSet);
        let mut pages = if self.redis.clustered() {
            client.scan_cluster(pattern, Some(SCAN_COUNT), kind).boxed()
        } else {
            client.scan(pattern, Some(SCAN_COUNT), kind).boxed()
        };
        let mut purged = 0;
        loop {
            let page = tokio::time::timeout(self.redis.timeout() * 2, pages.next()).await;
            let mut page = match page {
                Ok(Some(page)) => page.map_err(|e| crate::error::map_err(&e))?,
                Ok(None) => break,
                Err(_) => return Err(StoreError::Unavailable { what: crate::error::WHAT, source: None }),
            };
            for key in page.take_results().unwrap_or_default() {
                let Some(user) = key.as_str().and_then(|k| keys.user_of_index(k)) else { continue };
                purged += self.purge_user(&user, &now).await?;
            }
        }
        Ok(purged)
    }

    /// One `ZCOUNT` of `Pactive` (ids scored by `expires_at`).
    async fn count_active(&self, now: OffsetDateTime) -> Result<Option<u64>, StoreError> {
        let args = vec!["count".to_owned(), micros(now).to_string()];
        let count = match self.redis.eval(&ACTIVE, vec![self.redis.keys().active_index()], args).await? {
            Value::Integer(n) => n,
            _ => return Err(malformed("active count reply")),
        };
        Ok(Some(u64::try_from(count).unwrap_or_default()))
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.redis.health().await
    }
}
