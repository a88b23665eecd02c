//! The session manager: applies the policy through the `SessionStore` port.

use std::sync::Arc;

use serde_json::json;
use time::OffsetDateTime;
use tracing::Instrument as _;
use uap_ports::{
    AuditEventType, BusEvent, Clock, EventBus, IdGenerator, RotateOutcome, SessionRecord, SessionState, SessionStore,
};

use super::refresh::{FingerprintKey, RefreshKeys};
use super::{
    Claims, ClientContext, IssuedSession, NewSession, PendingRefresh, RefreshBy, RefreshStep, Rejection, SessionError,
    SessionPolicy, SessionSummary, TokenService, ValidSession,
};
use crate::audit::{AuditRecorder, EventDetails};

/// Creates, validates, refreshes and ends sessions.
#[derive(Debug, Clone)]
pub struct SessionManager {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn SessionStore>,
    tokens: TokenService,
    refresh: RefreshKeys,
    fingerprints: FingerprintKey,
    policy: SessionPolicy,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    audit: AuditRecorder,
    /// Where every end of a session is announced (other instances' caches,
    /// the SDK revocation feed).
    bus: Arc<dyn EventBus>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionManager")
            .field("tokens", &self.tokens)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl SessionManager {
    /// A manager over `store`, announcing every session end on `bus`.
    #[must_use]
    pub fn new(
        store: Arc<dyn SessionStore>,
        tokens: TokenService,
        policy: SessionPolicy,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        audit: AuditRecorder,
        bus: Arc<dyn EventBus>,
    ) -> Self {
        let refresh = RefreshKeys::derive(tokens.key_material());
        let fingerprints = FingerprintKey::derive(tokens.key_material());
        Self { inner: Arc::new(Inner { store, tokens, refresh, fingerprints, policy, clock, ids, audit, bus }) }
    }

    /// Announces a session change. Delivery is best effort (the bus is
    /// at-most-once): a failure is logged, the stores stay the truth, and
    /// other instances' caches converge within their TTL.
    async fn announce(&self, event: BusEvent) {
        if let Err(err) = self.inner.bus.publish(&event).await {
            tracing::warn!(error = %err, "could not announce a session change on the event bus");
        }
    }

    /// Ends every session of `record`'s refresh chain and announces each
    /// active one (SDKs know sessions, not chains; a rotated one was
    /// announced when it rotated) and the chain (caches).
    async fn end_family(&self, record: &SessionRecord) -> Result<u64, SessionError> {
        let store = &self.inner.store;
        let members: Vec<String> = store
            .list_user_sessions(&record.user_id)
            .await?
            .into_iter()
            .filter(|member| member.family_id == record.family_id && member.state == SessionState::Active)
            .map(|member| member.session_id)
            .collect();
        let ended = store.delete_family(&record.family_id).await?;
        self.announce(BusEvent::FamilyEnded { family_id: record.family_id.clone() }).await;
        for session_id in members {
            self.announce(BusEvent::SessionEnded { session_id, user_id: record.user_id.clone() }).await;
        }
        Ok(ended)
    }

    /// A new record id (sessions, tickets).
    #[must_use]
    pub fn new_id(&self) -> String {
        self.inner.ids.new_id()
    }

    /// The token service (for the JWKS document).
    #[must_use]
    pub fn tokens(&self) -> &TokenService {
        &self.inner.tokens
    }

    /// The keyed fingerprint of a host user's stored password hash, as kept
    /// on the session (never the hash itself).
    #[must_use]
    pub fn credential_fingerprint(&self, stored_hash: &str) -> String {
        self.inner.fingerprints.of(stored_hash)
    }

    /// Whether the host user's stored hash is still the one the session's
    /// login saw. A session without a fingerprint never matches (fail closed).
    #[must_use]
    pub fn credentials_unchanged(&self, record: &SessionRecord, stored_hash: &str) -> bool {
        record.credential_fingerprint.as_deref().is_some_and(|fp| self.inner.fingerprints.matches(stored_hash, fp))
    }

    /// The session store (for health checks).
    #[must_use]
    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.inner.store
    }

    /// Starts a session after a successful login. Under the single-device
    /// policy every other session of the user ends.
    ///
    /// # Errors
    /// [`SessionError::Store`] when the store fails.
    pub async fn create(&self, new: NewSession, client: &ClientContext) -> Result<IssuedSession, SessionError> {
        let inner = &self.inner;
        let now = inner.clock.now();
        let session_id = self.inner.ids.new_id();
        let record = SessionRecord {
            session_id: session_id.clone(),
            user_id: new.user_id,
            device_id: new.device_id,
            created_at: now,
            expires_at: inner.policy.expires_at(&new.roles, now, now),
            last_activity: now,
            ip_address: client.ip_address.map(|ip| ip.to_string()),
            user_agent: client.user_agent.clone(),
            user_data: Arc::new(new.user_data),
            family_id: session_id.clone(),
            refresh_expires_at: inner.policy.refresh_expires_at(now, now),
            state: SessionState::Active,
            auth_time: now,
            credential_fingerprint: new.credential_fingerprint,
        };
        inner.store.create(&record).instrument(store_span("create")).await?;
        if !inner.policy.multi_device {
            let ended = inner
                .store
                .delete_user_sessions(&record.user_id, Some(&session_id))
                .instrument(store_span("delete_user_sessions"))
                .await?;
            if ended > 0 {
                // Every other session existed before `now`: all are gone.
                self.announce(BusEvent::UserSessionsEnded {
                    user_id: record.user_id.clone(),
                    before: now,
                    keep_session_id: Some(session_id.clone()),
                })
                .await;
            }
        }
        self.issue(&record)
    }

    /// Validates a token: signature and claims, then the session record.
    ///
    /// # Errors
    /// [`SessionError::Rejected`] for any unacceptable token or session,
    /// [`SessionError::Store`] when the store fails (never "valid").
    pub async fn validate(&self, token: &str, client: &ClientContext) -> Result<ValidSession, SessionError> {
        let inner = &self.inner;
        let now = inner.clock.now();
        // An expired token is just expired: the session (and its refresh
        // token) stays until its own end; the purge loop removes it then.
        let claims = inner.tokens.verify(token, now).map_err(Rejection::Token)?;
        let record = self.active_record(&claims, now, client).await?;
        if let Some(interval) = inner.policy.touch_interval()
            && now - record.last_activity >= interval
        {
            inner.store.touch(&record.session_id, now).instrument(store_span("touch")).await?;
        }
        Ok(ValidSession { record })
    }

    /// Loads the record behind verified claims and applies expiry and idle
    /// rules. Only the session's current access token is accepted: its `exp`
    /// must be the record's (a refresh by access token moves it, which ends
    /// the old token at once). Expiry changes nothing; idleness ends the
    /// session.
    async fn active_record(
        &self,
        claims: &Claims,
        now: OffsetDateTime,
        client: &ClientContext,
    ) -> Result<SessionRecord, SessionError> {
        let inner = &self.inner;
        let record = inner
            .store
            .get_owned(&claims.session_id, &claims.user_id)
            .instrument(store_span("get_owned"))
            .await?
            .ok_or(Rejection::NotFound)?;
        if record.state != SessionState::Active || !is_current(claims, &record) {
            return Err(Rejection::Rotated.into());
        }
        if now >= record.expires_at {
            return Err(Rejection::Expired.into());
        }
        self.check_idle(&record, now, client).await?;
        Ok(record)
    }

    /// The idle rule (validate and refresh alike): a session quiet for longer
    /// than `idle_timeout` ends.
    async fn check_idle(
        &self,
        record: &SessionRecord,
        now: OffsetDateTime,
        client: &ClientContext,
    ) -> Result<(), SessionError> {
        if let Some(idle) = self.inner.policy.idle_timeout()
            && now - record.last_activity > idle
        {
            self.end_expired(&record.session_id, &record.user_id, "idle_timeout", client).await?;
            return Err(Rejection::IdleTimeout.into());
        }
        Ok(())
    }

    /// Deletes an expired session and audits SESSION_EXPIRED once (only the
    /// request that actually deleted it records the event).
    async fn end_expired(
        &self,
        session_id: &str,
        user_id: &str,
        reason: &str,
        client: &ClientContext,
    ) -> Result<(), SessionError> {
        let inner = &self.inner;
        let Some(record) = inner.store.get(session_id).await? else {
            return Ok(());
        };
        if record.state != SessionState::Active || record.user_id != user_id {
            return Ok(());
        }
        if inner.store.delete(session_id).await? {
            self.announce(BusEvent::SessionEnded { session_id: session_id.to_owned(), user_id: user_id.to_owned() })
                .await;
            let details = EventDetails {
                user_id: Some(user_id),
                session_id: Some(session_id),
                error: Some(reason),
                metadata: json!({}),
            };
            inner.audit.record(AuditEventType::SessionExpired, true, client, details).await?;
        }
        Ok(())
    }

    /// The first half of a refresh with the access token (`Authorization:
    /// Bearer`): the token must be the session's current one and unexpired,
    /// the session active (no grace: a replaced access token is refused at
    /// once), not idle, and within its chain's limits. The caller re-reads
    /// the host user, then calls [`SessionManager::finish_refresh`] (or
    /// [`SessionManager::end_chain`]).
    ///
    /// # Errors
    /// As [`SessionManager::validate`].
    pub async fn begin_refresh_with_token(
        &self,
        token: &str,
        client: &ClientContext,
    ) -> Result<PendingRefresh, SessionError> {
        let inner = &self.inner;
        if !inner.policy.refresh_tokens {
            return Err(Rejection::RefreshDisabled.into());
        }
        let now = inner.clock.now();
        let claims = inner.tokens.verify(token, now).map_err(Rejection::Token)?;
        let record = self.active_record(&claims, now, client).await?;
        self.check_chain(&record, now)?;
        Ok(PendingRefresh { record, by: RefreshBy::AccessToken })
    }

    /// The first half of a refresh with a refresh token. A token spent within
    /// the grace period returns the same successor at once (parallel tabs);
    /// spent longer ago it is treated as stolen: the whole chain ends and
    /// SUSPICIOUS_ACTIVITY is audited. Otherwise the session must be within
    /// its refresh expiry and chain end, and not idle.
    ///
    /// # Errors
    /// As [`SessionManager::validate`].
    pub async fn begin_refresh_with_refresh_token(
        &self,
        refresh_token: &str,
        client: &ClientContext,
    ) -> Result<RefreshStep, SessionError> {
        let inner = &self.inner;
        if !inner.policy.refresh_tokens {
            return Err(Rejection::RefreshDisabled.into());
        }
        let now = inner.clock.now();
        let session_id = inner.refresh.session_of(refresh_token).ok_or(Rejection::RefreshInvalid)?;
        let record = inner.store.get(session_id).await?.ok_or(Rejection::RefreshInvalid)?;
        if record.refresh_expires_at.is_none_or(|until| now >= until) {
            return Err(Rejection::RefreshExpired.into());
        }
        match &record.state {
            SessionState::Active => {
                self.check_chain(&record, now)?;
                self.check_idle(&record, now, client).await?;
                Ok(RefreshStep::Check(PendingRefresh { record, by: RefreshBy::RefreshToken }))
            }
            SessionState::Rotated { successor_id, at } if now - *at <= inner.policy.refresh_grace() => {
                self.reissue(successor_id).await.map(RefreshStep::Ready)
            }
            SessionState::Rotated { .. } => {
                let ended = self.end_family(&record).await?;
                let details = EventDetails {
                    user_id: Some(&record.user_id),
                    session_id: Some(&record.session_id),
                    error: Some("refresh_token_reuse"),
                    metadata: json!({ "family_id": record.family_id, "sessions_ended": ended }),
                };
                inner.audit.record(AuditEventType::SuspiciousActivity, false, client, details).await?;
                Err(Rejection::RefreshReused.into())
            }
        }
    }

    /// The chain's absolute end (`refresh_chain_max_seconds` after its login)
    /// and the refresh expiry.
    fn check_chain(&self, record: &SessionRecord, now: OffsetDateTime) -> Result<(), SessionError> {
        if now >= self.inner.policy.chain_end(record.auth_time) {
            return Err(Rejection::ChainEnded.into());
        }
        if record.refresh_expires_at.is_none_or(|until| now >= until) {
            return Err(Rejection::RefreshExpired.into());
        }
        Ok(())
    }

    /// The second half of a refresh, after the host user was read again:
    /// the session carries `roles`' duration and the new `user_data`. A
    /// refresh token rotates (successor, new refresh token); an access token
    /// extends the same session in place and gets a new access token only.
    /// Either way the access token ends no later than `max_session_duration`
    /// after the chain's login.
    ///
    /// # Errors
    /// [`Rejection::Expired`] when the chain has reached
    /// `max_session_duration`; [`Rejection::Rotated`] when a concurrent
    /// refresh won; store failures.
    pub async fn finish_refresh(
        &self,
        pending: PendingRefresh,
        roles: &[String],
        user_data: serde_json::Value,
        client: &ClientContext,
    ) -> Result<IssuedSession, SessionError> {
        let inner = &self.inner;
        let now = inner.clock.now();
        let old = pending.record;
        let cap = inner.policy.session_end(old.auth_time);
        let mut expires_at = inner.policy.expires_at(roles, old.auth_time, now);
        if expires_at <= now {
            return Err(Rejection::Expired.into());
        }
        match pending.by {
            RefreshBy::RefreshToken => self.rotate(&old, expires_at, Arc::new(user_data), now, client).await,
            RefreshBy::AccessToken => {
                // A token is told apart from its predecessor by `exp` (whole
                // seconds): a refresh within the same second moves it one on.
                let old_exp = old.expires_at.unix_timestamp();
                if expires_at.unix_timestamp() == old_exp {
                    expires_at = OffsetDateTime::from_unix_timestamp(old_exp + 1).map_err(|_| Rejection::Expired)?;
                    if expires_at > cap {
                        return Err(Rejection::Expired.into());
                    }
                }
                let user_data = Arc::new(user_data);
                if !inner.store.extend(&old.session_id, old.expires_at, expires_at, &user_data, now).await? {
                    return Err(Rejection::Rotated.into());
                }
                self.announce(BusEvent::SessionRefreshed {
                    session_id: old.session_id.clone(),
                    user_id: old.user_id.clone(),
                    expires_at,
                })
                .await;
                let details = EventDetails {
                    user_id: Some(&old.user_id),
                    session_id: Some(&old.session_id),
                    error: None,
                    metadata: json!({ "refreshed_with": "access_token" }),
                };
                inner.audit.record(AuditEventType::TokenRefresh, true, client, details).await?;
                let extended = SessionRecord { expires_at, user_data, last_activity: now, ..old };
                self.sign(&extended, now, false)
            }
        }
    }

    /// Ends the whole refresh chain of a pending refresh (the host user is
    /// gone, disabled or changed its password) and audits SESSION_EXPIRED
    /// with `reason`. Returns how many active sessions ended.
    ///
    /// # Errors
    /// Store failures.
    pub async fn end_chain(
        &self,
        pending: &PendingRefresh,
        reason: &str,
        client: &ClientContext,
    ) -> Result<u64, SessionError> {
        let inner = &self.inner;
        let record = &pending.record;
        let ended = self.end_family(record).await?;
        let details = EventDetails {
            user_id: Some(&record.user_id),
            session_id: Some(&record.session_id),
            error: Some(reason),
            metadata: json!({ "family_id": record.family_id, "sessions_ended": ended }),
        };
        inner.audit.record(AuditEventType::SessionExpired, true, client, details).await?;
        Ok(ended)
    }

    async fn rotate(
        &self,
        old: &SessionRecord,
        expires_at: OffsetDateTime,
        user_data: Arc<serde_json::Value>,
        now: OffsetDateTime,
        client: &ClientContext,
    ) -> Result<IssuedSession, SessionError> {
        let inner = &self.inner;
        let successor_id = inner.ids.new_id();
        let successor = SessionRecord {
            session_id: successor_id.clone(),
            created_at: now,
            expires_at,
            last_activity: now,
            ip_address: client.ip_address.map(|ip| ip.to_string()).or_else(|| old.ip_address.clone()),
            user_agent: client.user_agent.clone().or_else(|| old.user_agent.clone()),
            user_data,
            refresh_expires_at: inner.policy.refresh_expires_at(old.auth_time, now),
            state: SessionState::Active,
            ..old.clone()
        };
        match inner.store.rotate(&old.session_id, &successor, now).await? {
            RotateOutcome::Rotated => {
                self.announce(BusEvent::SessionEnded {
                    session_id: old.session_id.clone(),
                    user_id: old.user_id.clone(),
                })
                .await;
                let details = EventDetails {
                    user_id: Some(&old.user_id),
                    session_id: Some(&successor_id),
                    error: None,
                    metadata: json!({ "previous_session_id": old.session_id }),
                };
                inner.audit.record(AuditEventType::TokenRefresh, true, client, details).await?;
                self.issue(&successor)
            }
            // A parallel refresh won the race a moment ago: same successor.
            RotateOutcome::AlreadyRotated { successor_id, at } if now - at <= inner.policy.refresh_grace() => {
                self.reissue(&successor_id).await
            }
            RotateOutcome::AlreadyRotated { .. } => Err(Rejection::Rotated.into()),
            RotateOutcome::NotFound => Err(Rejection::NotFound.into()),
        }
    }

    /// Hands out the tokens of an existing (successor) session again.
    async fn reissue(&self, session_id: &str) -> Result<IssuedSession, SessionError> {
        let record = self.inner.store.get(session_id).await?.ok_or(Rejection::NotFound)?;
        if record.state != SessionState::Active {
            return Err(Rejection::Rotated.into());
        }
        self.issue(&record)
    }

    /// The tokens of a session just created or rotated.
    fn issue(&self, record: &SessionRecord) -> Result<IssuedSession, SessionError> {
        self.sign(record, record.created_at, true)
    }

    /// Signs the access token of `record` (its `exp` is the record's
    /// `expires_at`), with the refresh token when `with_refresh`.
    fn sign(
        &self,
        record: &SessionRecord,
        issued_at: OffsetDateTime,
        with_refresh: bool,
    ) -> Result<IssuedSession, SessionError> {
        let inner = &self.inner;
        let claims = Claims {
            session_id: record.session_id.clone(),
            user_id: record.user_id.clone(),
            device_id: record.device_id.clone(),
            expires_at: record.expires_at.unix_timestamp(),
            issued_at: issued_at.unix_timestamp(),
        };
        let token = inner.tokens.sign(&claims).map_err(|_| SessionError::Signing)?;
        let refresh_expires_at = record.refresh_expires_at.filter(|_| with_refresh);
        Ok(IssuedSession {
            session_id: record.session_id.clone(),
            token,
            expires_at: record.expires_at,
            refresh_token: refresh_expires_at.map(|_| inner.refresh.token_for(&record.session_id)),
            refresh_expires_at,
            user_data: record.user_data.clone(),
        })
    }

    /// Ends the token's session. An expired but well-signed token may log out.
    /// Returns whether a session was ended.
    ///
    /// # Errors
    /// [`SessionError::Rejected`] for a garbled token; store failures.
    pub async fn logout(&self, token: &str, client: &ClientContext) -> Result<bool, SessionError> {
        let inner = &self.inner;
        let claims = inner.tokens.verify_ignoring_expiry(token).map_err(Rejection::Token)?;
        let Some(record) = inner.store.get(&claims.session_id).await? else {
            return Ok(false);
        };
        if record.user_id != claims.user_id || record.state != SessionState::Active || !is_current(&claims, &record) {
            return Ok(false);
        }
        let ended = inner.store.delete(&claims.session_id).await?;
        if ended {
            self.announce(BusEvent::SessionEnded {
                session_id: claims.session_id.clone(),
                user_id: claims.user_id.clone(),
            })
            .await;
            let details = EventDetails {
                user_id: Some(&claims.user_id),
                session_id: Some(&claims.session_id),
                error: None,
                metadata: json!({}),
            };
            inner.audit.record(AuditEventType::Logout, true, client, details).await?;
        }
        Ok(ended)
    }

    /// Ends every session of the token's user. Returns how many ended.
    ///
    /// # Errors
    /// As [`SessionManager::validate`].
    pub async fn logout_all(&self, token: &str, client: &ClientContext) -> Result<u64, SessionError> {
        let valid = self.validate(token, client).await?;
        let user_id = &valid.record.user_id;
        // Taken before the delete: every session created before it is gone.
        let before = self.inner.clock.now();
        let ended = self.inner.store.delete_user_sessions(user_id, None).await?;
        if ended > 0 {
            self.announce(BusEvent::UserSessionsEnded { user_id: user_id.clone(), before, keep_session_id: None })
                .await;
        }
        let details = EventDetails {
            user_id: Some(user_id),
            session_id: Some(&valid.record.session_id),
            error: None,
            metadata: json!({ "all_sessions": true, "sessions_ended": ended }),
        };
        self.inner.audit.record(AuditEventType::Logout, true, client, details).await?;
        Ok(ended)
    }

    /// Lists the live sessions of the token's user, marking the current one.
    ///
    /// # Errors
    /// As [`SessionManager::validate`].
    pub async fn list(&self, token: &str, client: &ClientContext) -> Result<Vec<SessionSummary>, SessionError> {
        let valid = self.validate(token, client).await?;
        let now = self.inner.clock.now();
        let idle = self.inner.policy.idle_timeout();
        let mut sessions: Vec<SessionSummary> = self
            .inner
            .store
            .list_user_sessions(&valid.record.user_id)
            .await?
            .into_iter()
            .filter(|r| r.state == SessionState::Active && r.expires_at > now)
            .filter(|r| idle.is_none_or(|idle| now - r.last_activity <= idle))
            .map(|record| SessionSummary { current: record.session_id == valid.record.session_id, record })
            .collect();
        sessions.sort_by_key(|s| std::cmp::Reverse(s.record.created_at));
        Ok(sessions)
    }
}

/// Whether `claims` are those of the session's current access token (a
/// refresh by access token moves `expires_at`, ending the previous token).
fn is_current(claims: &Claims, record: &SessionRecord) -> bool {
    claims.expires_at == record.expires_at.unix_timestamp()
}

/// The trace span of one session-store call (trace level: free unless a
/// tracing exporter asks for it).
fn store_span(op: &'static str) -> tracing::Span {
    tracing::trace_span!("uap.session_store", op)
}
