//! `AuthService::authenticate`: the login use case.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tracing::Instrument as _;
use uap_ports::{
    AuditEventType, BlockingPool, Clock, Delegated, HostUser, PasswordAuthority, PasswordUpdate, PoolError,
    RateLimitStore, UserDirectory, UserQuery,
};

use super::timing::{DummyReason, RefusalTiming};
use super::{Dependency, LoginError, LoginRequest, LoginSuccess, MfaService};
use crate::audit::{AuditRecorder, EventDetails};
use crate::config::AuthType;
use crate::password::{self, HashUpgrade, PasswordError, PasswordPolicy, StoredHash, Verdict, Work};
use crate::pipeline::{Block, Challenge, Decision, LoginAttempt, LoginFailure, Pipeline, VerifiedUser, address_key};
use crate::session::{ClientContext, NewSession, SessionManager, TicketPurpose};
use crate::user_data::UserDataFilter;

/// The login rules taken from the configuration.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub auth_type: AuthType,
    /// The columns (or host API fields) a login identifier is matched against.
    pub identifier_fields: Vec<String>,
    pub case_insensitive: bool,
    pub id_field: String,
    pub filter: UserDataFilter,
    pub policy: PasswordPolicy,
    /// IPv6 clients share a hashing fairness key per network of this length.
    pub address_ipv6_prefix: u8,
    /// The most a refused login waits for the response floor.
    pub refusal_floor_max: std::time::Duration,
}

impl Default for AuthSettings {
    /// The contract's defaults: `username_password` against `username`,
    /// `id`, `password` filtered out, the default password policy, IPv6 /64
    /// and a 2 s refusal floor cap.
    fn default() -> Self {
        Self {
            auth_type: AuthType::UsernamePassword,
            identifier_fields: vec!["username".into()],
            case_insensitive: false,
            id_field: "id".into(),
            filter: UserDataFilter::new("password", Vec::new(), None),
            policy: PasswordPolicy::default(),
            address_ipv6_prefix: 64,
            refusal_floor_max: std::time::Duration::from_secs(2),
        }
    }
}

/// What the blocking job verifies.
pub(super) enum Target {
    /// The user's stored value.
    Stored(String),
    /// Only the dummy hash (no user, or no stored value).
    Dummy(DummyReason),
}

/// What `write_back` does after a match.
enum Upgrade {
    None,
    /// Write this hash (compare-and-set); `label` is its census label.
    Write {
        hash: String,
        label: String,
    },
    /// Keep the row, audit why.
    Skip(&'static str),
}

/// What the blocking job found.
pub(super) struct Checked {
    pub(super) verdict: Verdict,
    /// The stored value was refused unhashed: over the work budget.
    over_budget: bool,
    /// The stored value's family ("unknown" when unparsed), for metrics.
    family: &'static str,
    /// The stored value's census label, when parsed.
    pub(super) label: Option<String>,
    /// Present when the hash is weak under the policy.
    weak_format: Option<String>,
    /// The rewrite, when `write_back` applies.
    upgrade: Upgrade,
}

impl Checked {
    /// A host that verifies passwords itself accepted the password: nothing
    /// was hashed here, nothing is upgraded.
    fn delegated() -> Self {
        Self {
            verdict: Verdict::Match,
            over_budget: false,
            family: DELEGATED,
            label: Some(DELEGATED.to_owned()),
            weak_format: None,
            upgrade: Upgrade::None,
        }
    }

    fn unsupported() -> Self {
        Self {
            verdict: Verdict::Unsupported,
            over_budget: false,
            family: "unknown",
            label: None,
            weak_format: None,
            upgrade: Upgrade::None,
        }
    }
}

/// The metrics family and hash label of logins a host verified itself.
const DELEGATED: &str = "delegated";

/// The login use case over the ports.
pub struct AuthService {
    pub(super) directory: Arc<dyn UserDirectory>,
    /// The host that verifies passwords itself (delegated mode), if any.
    pub(super) authority: Option<Arc<dyn PasswordAuthority>>,
    pub(super) sessions: SessionManager,
    pool: Arc<dyn BlockingPool>,
    pub(super) settings: Arc<AuthSettings>,
    pub(super) dummy_hash: Arc<StoredHash>,
    pub(super) audit: AuditRecorder,
    pub(super) pipeline: Arc<Pipeline>,
    pub(super) mfa: Option<Arc<MfaService>>,
    pub(super) tickets: Arc<dyn RateLimitStore>,
    pub(super) clock: Arc<dyn Clock>,
    timing: Arc<RefusalTiming>,
}

impl std::fmt::Debug for AuthService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthService")
            .field("settings", &self.settings)
            .field("pipeline", &self.pipeline)
            .finish_non_exhaustive()
    }
}

/// What [`AuthService`] is built from.
pub struct AuthParts {
    pub directory: Arc<dyn UserDirectory>,
    /// Present in delegated mode: passwords are checked by the host, not
    /// against a stored hash; sessions then carry no credential fingerprint.
    pub authority: Option<Arc<dyn PasswordAuthority>>,
    pub sessions: SessionManager,
    pub pool: Arc<dyn BlockingPool>,
    pub settings: AuthSettings,
    /// A preferred-scheme hash verified for unknown users (see
    /// [`password::dummy_hash`]), parsed.
    pub dummy_hash: StoredHash,
    pub audit: AuditRecorder,
    pub pipeline: Arc<Pipeline>,
    /// Present when the `mfa` middleware is configured.
    pub mfa: Option<Arc<MfaService>>,
    /// Where spent `mfa_token`s are remembered (single use).
    pub tickets: Arc<dyn RateLimitStore>,
    pub clock: Arc<dyn Clock>,
}

/// A credential check that did not find a usable user (the audit reason),
/// or that a `before_verify` hook blocked.
pub(super) struct Refused {
    pub(super) reason: &'static str,
    pub(super) user_id: Option<String>,
    pub(super) block: Option<Block>,
    /// The stored hash's census label, when one was parsed.
    pub(super) label: Option<String>,
}

impl Checked {
    /// After a match: the weak-format report and, under `write_back`, the
    /// rewrite (or why there is none).
    fn upgrade(&mut self, policy: &PasswordPolicy, stored: &StoredHash, password: &str) {
        if policy.upgrade == HashUpgrade::Off || !stored.weakness(policy).reported() {
            return;
        }
        self.weak_format.clone_from(&self.label);
        if policy.upgrade == HashUpgrade::WriteBack {
            self.upgrade = match stored.upgraded(policy, password) {
                Ok(Some(hash)) => Upgrade::Write { label: password::census_label(policy, &hash), hash },
                Err(PasswordError::TooLongForBcrypt { .. }) => Upgrade::Skip("password_too_long_for_bcrypt"),
                Ok(None) | Err(_) => Upgrade::None,
            };
        }
    }
}

impl AuthService {
    /// Builds the service.
    #[must_use]
    pub fn new(parts: AuthParts) -> Self {
        let timing = Arc::new(RefusalTiming::with_max(parts.settings.refusal_floor_max));
        Self {
            directory: parts.directory,
            authority: parts.authority,
            sessions: parts.sessions,
            pool: parts.pool,
            settings: Arc::new(parts.settings),
            dummy_hash: Arc::new(parts.dummy_hash),
            audit: parts.audit,
            pipeline: parts.pipeline,
            mfa: parts.mfa,
            tickets: parts.tickets,
            clock: parts.clock,
            timing,
        }
    }

    /// The response floor of refused logins and the dummy verifications
    /// (exported on `/metrics`).
    #[must_use]
    pub fn timing(&self) -> &RefusalTiming {
        &self.timing
    }

    /// The session manager.
    #[must_use]
    pub fn sessions(&self) -> &SessionManager {
        &self.sessions
    }

    /// The host user directory (health checks).
    #[must_use]
    pub fn directory(&self) -> &Arc<dyn UserDirectory> {
        &self.directory
    }

    /// The TOTP service, when the `mfa` middleware is configured.
    #[must_use]
    pub fn mfa(&self) -> Option<&Arc<MfaService>> {
        self.mfa.as_ref()
    }

    /// Logs a user in: `pre_authenticate`, the credential check, then
    /// `post_authenticate` (or `on_failure`), then the session.
    ///
    /// # Errors
    /// See [`LoginError`]; every credential failure is the same
    /// [`LoginError::InvalidCredentials`].
    pub async fn authenticate(
        &self,
        request: LoginRequest,
        client: &ClientContext,
    ) -> Result<LoginSuccess, LoginError> {
        let (attempt, password) = self.attempt(request, client)?;
        let identifier = &attempt.identifier;
        if let Decision::Block(block) = self.pipeline.pre_authenticate(&attempt).await? {
            return self.refuse(&attempt, None, block, client).await;
        }

        let (user, checked) = match self.check_credentials(&attempt, password).await? {
            Ok(found) => found,
            Err(Refused { user_id, block: Some(block), .. }) => {
                return self.refuse(&attempt, user_id.as_deref(), block, client).await;
            }
            Err(refused) => {
                let failure = LoginFailure { reason: refused.reason.to_owned(), user_id: refused.user_id.clone() };
                self.pipeline.on_failure(&attempt, &failure).await;
                self.audit_failure(refused.user_id.as_deref(), refused.reason, identifier, client).await?;
                return Err(LoginError::InvalidCredentials);
            }
        };
        let from = checked.label.as_deref().unwrap_or(password::UNKNOWN_FORMAT);
        let written = match (&checked.upgrade, &user.password_hash) {
            (Upgrade::Write { hash, label }, Some(stored)) => {
                self.write_back(&user, stored, (hash, label), from, client).await.then_some(hash.as_str())
            }
            (Upgrade::Skip(reason), Some(_)) => {
                tracing::warn!(user_id = %user.id, reason, "password hash upgrade skipped");
                self.audit_upgrade(&user, from, None, Some(reason), client).await;
                None
            }
            _ => None,
        };
        // The session fingerprints the hash the host row holds now.
        let fingerprint =
            written.or(user.password_hash.as_deref()).map(|hash| self.sessions.credential_fingerprint(hash));
        let verified = self.verified(user);
        match self.pipeline.post_authenticate(&attempt, &verified).await? {
            Decision::Continue => {}
            Decision::Block(block) => return self.refuse(&attempt, Some(&verified.user_id), block, client).await,
            Decision::Challenge(Challenge::Mfa) => {
                let device_id = attempt.device_id.clone();
                return Err(self.mfa_challenge(&verified, device_id, TicketPurpose::Mfa, fingerprint)?);
            }
            Decision::Challenge(Challenge::MfaEnrollment) => {
                let device_id = attempt.device_id.clone();
                return Err(self.mfa_challenge(&verified, device_id, TicketPurpose::Enroll, fingerprint)?);
            }
        }
        let mut audit_metadata = json!({ "device_id": attempt.device_id, "client_metadata": attempt.metadata });
        if let Some(format) = checked.weak_format {
            audit_metadata["hash_upgrade_recommended"] = Value::String(format);
        }
        self.start_session(verified, attempt.device_id, audit_metadata, fingerprint, client).await
    }

    /// The user as the post-authenticate hooks and the session see it: its
    /// `user_data` filtered per the configuration.
    pub(super) fn verified(&self, user: HostUser) -> VerifiedUser {
        let settings = &self.settings;
        VerifiedUser {
            user_data: settings.filter.apply(&settings.id_field, &user.id, &user.attributes, &user.roles),
            user_id: user.id,
            roles: user.roles,
        }
    }

    /// What the middlewares see of `request` (its identifier per
    /// `auth_type`), and the password.
    pub(super) fn attempt(
        &self,
        request: LoginRequest,
        client: &ClientContext,
    ) -> Result<(LoginAttempt, SecretString), LoginError> {
        let identifier = request.credentials.identifier_for(self.settings.auth_type)?.to_owned();
        let attempt = LoginAttempt {
            identifier,
            ip: client.ip_address,
            user_agent: client.user_agent.clone(),
            device_id: request.device_id,
            metadata: request.metadata,
            captcha_token: request.captcha_token,
            mfa_code: request.mfa_code,
        };
        Ok((attempt, request.credentials.password))
    }

    /// A middleware refused the login: `on_failure`, audit, the block.
    async fn refuse(
        &self,
        attempt: &LoginAttempt,
        user_id: Option<&str>,
        block: Block,
        client: &ClientContext,
    ) -> Result<LoginSuccess, LoginError> {
        let failure = LoginFailure { reason: block.reason.clone(), user_id: user_id.map(str::to_owned) };
        self.pipeline.on_failure(attempt, &failure).await;
        self.audit_failure(user_id, &block.reason, &attempt.identifier, client).await?;
        Err(LoginError::Blocked(block))
    }

    /// Lookup and verification. The outer error is a dependency failure; the
    /// inner one a refusal with its audit reason. Every refusal costs at
    /// least one preferred-scheme verification and returns no earlier than
    /// the response floor (see `timing.rs`).
    pub(super) async fn check_credentials(
        &self,
        attempt: &LoginAttempt,
        password: SecretString,
    ) -> Result<Result<(HostUser, Checked), Refused>, LoginError> {
        let start = self.clock.now();
        let settings = &self.settings;
        let query = UserQuery {
            value: attempt.identifier.clone(),
            fields: settings.identifier_fields.clone(),
            case_insensitive: settings.case_insensitive,
        };
        if let Some(authority) = &self.authority {
            return self.check_delegated(authority.as_ref(), attempt, &query, &password, start).await;
        }
        let user = self
            .directory
            .find_user(&query)
            .instrument(tracing::trace_span!("uap.host_lookup"))
            .await
            .map_err(|e| LoginError::unavailable(Dependency::HostDirectory, &e))?;
        let user_id = user.as_ref().map(|u| u.id.clone());
        if let Decision::Block(block) = self.pipeline.before_verify(attempt, user_id.as_deref()).await? {
            return Ok(Err(Refused { reason: "blocked", user_id, block: Some(block), label: None }));
        }
        let fairness = address_key(attempt.ip, settings.address_ipv6_prefix);
        let Some(user) = user else {
            self.check(&fairness, Target::Dummy(DummyReason::UnknownUser), password, false).await?;
            return Ok(Err(self.refused(start, "unknown_user", None, None).await));
        };
        let Some(stored) = user.password_hash.clone() else {
            self.check(&fairness, Target::Dummy(DummyReason::NoPassword), password, false).await?;
            return Ok(Err(self.refused(start, "no_password", Some(user.id), None).await));
        };
        let active = user.active != Some(false);
        let checked = self.check(&fairness, Target::Stored(stored), password, active).await?;
        let outcome = match checked.verdict {
            _ if checked.over_budget => "over_budget",
            Verdict::Match => "match",
            Verdict::Mismatch => "mismatch",
            Verdict::Unsupported => "unsupported",
        };
        self.pipeline.observer().password_verified(checked.family, outcome);
        let reason = match checked.verdict {
            _ if checked.over_budget => "hash_over_budget",
            Verdict::Unsupported => "unsupported_hash_format",
            Verdict::Mismatch => "wrong_password",
            Verdict::Match if !active => "inactive",
            Verdict::Match => return Ok(Ok((self.complete(user).await?, checked))),
        };
        Ok(Err(self.refused(start, reason, Some(user.id), checked.label).await))
    }

    /// Delegated mode: the host checks the password. `before_verify` runs
    /// with no user id (the host names the user only with its verdict); a
    /// refusal or an inactive user is padded to the response floor like a
    /// wrong password.
    async fn check_delegated(
        &self,
        authority: &dyn PasswordAuthority,
        attempt: &LoginAttempt,
        query: &UserQuery,
        password: &SecretString,
        start: OffsetDateTime,
    ) -> Result<Result<(HostUser, Checked), Refused>, LoginError> {
        if let Decision::Block(block) = self.pipeline.before_verify(attempt, None).await? {
            return Ok(Err(Refused { reason: "blocked", user_id: None, block: Some(block), label: None }));
        }
        let verdict = authority
            .verify_password(query, password.expose_secret())
            .instrument(tracing::trace_span!("uap.host_verify"))
            .await
            .map_err(|e| LoginError::unavailable(Dependency::HostDirectory, &e))?;
        let observer = self.pipeline.observer();
        match verdict {
            Delegated::Refused => {
                observer.password_verified(DELEGATED, "mismatch");
                Ok(Err(self.refused(start, "delegated_refused", None, Some(DELEGATED.to_owned())).await))
            }
            Delegated::Accepted(user) if user.active == Some(false) => {
                observer.password_verified(DELEGATED, "match");
                Ok(Err(self.refused(start, "inactive", Some(user.id), Some(DELEGATED.to_owned())).await))
            }
            Delegated::Accepted(user) => {
                observer.password_verified(DELEGATED, "match");
                Ok(Ok((self.complete(user).await?, Checked::delegated())))
            }
        }
    }

    /// The user with what the lookup deferred (e.g. roles from a host
    /// API's roles route), fetched once the password is known to be right.
    pub(super) async fn complete(&self, user: HostUser) -> Result<HostUser, LoginError> {
        self.directory.complete(user).await.map_err(|e| LoginError::unavailable(Dependency::HostDirectory, &e))
    }

    /// A refusal, returned no earlier than `start` + the response floor.
    async fn refused(
        &self,
        start: OffsetDateTime,
        reason: &'static str,
        user_id: Option<String>,
        label: Option<String>,
    ) -> Refused {
        let elapsed = std::time::Duration::try_from(self.clock.now() - start).unwrap_or_default();
        if let Some(remaining) = self.timing.floor().checked_sub(elapsed).filter(|r| !r.is_zero()) {
            self.pool.pause(remaining).await;
        }
        Refused { reason, user_id, block: None, label }
    }

    /// Verifies on the blocking pool, in the share of `fairness` (the
    /// client's normalised address); for a match under `write_back`, also
    /// computes the upgraded hash in the same job. For a refusal whose stored
    /// value is unusable or cheaper to verify than the preferred scheme, the
    /// same job also verifies the dummy hash. Each verification's duration
    /// feeds the response floor.
    #[tracing::instrument(level = "trace", name = "uap.hash_verify", skip_all)]
    pub(super) async fn check(
        &self,
        fairness: &str,
        target: Target,
        password: SecretString,
        active: bool,
    ) -> Result<Checked, LoginError> {
        let policy = self.settings.policy.clone();
        let dummy = Arc::clone(&self.dummy_hash);
        let clock = Arc::clone(&self.clock);
        let timing = Arc::clone(&self.timing);
        let job = move || {
            let password = password.expose_secret();
            let since =
                |started: OffsetDateTime| std::time::Duration::try_from(clock.now() - started).unwrap_or_default();
            let mut checked = Checked::unsupported();
            let dummy_reason = match &target {
                Target::Dummy(reason) => Some(*reason),
                Target::Stored(stored) => match StoredHash::parse(stored, &policy) {
                    None => Some(DummyReason::UnusableHash),
                    Some(stored) => {
                        let format = stored.format();
                        checked.family = format.family_name();
                        checked.label = Some(format.label());
                        match stored.work(&policy, password) {
                            Work::Unusable => Some(DummyReason::UnusableHash),
                            Work::OverBudget => {
                                checked.over_budget = true;
                                Some(DummyReason::UnusableHash)
                            }
                            Work::Cost(cost) => {
                                let started = clock.now();
                                checked.verdict = stored.verify(&policy, password);
                                if let Some(label) = &checked.label {
                                    timing.record(label, since(started));
                                }
                                if checked.verdict == Verdict::Match && active {
                                    checked.upgrade(&policy, &stored, password);
                                    None
                                } else {
                                    let cheaper = matches!(dummy.work(&policy, password), Work::Cost(d) if cost < d);
                                    cheaper.then_some(DummyReason::CheaperFormat)
                                }
                            }
                        }
                    }
                },
            };
            if let Some(reason) = dummy_reason {
                // Over the length limit `verify` would not hash: the dummy's
                // cost must not depend on the password.
                let input = if password.len() > password::MAX_PASSWORD_BYTES { "" } else { password };
                let started = clock.now();
                let _ = dummy.verify(&policy, input);
                timing.record_dummy(reason, since(started));
            }
            checked
        };
        uap_ports::compute(self.pool.as_ref(), fairness, job).await.map_err(|err| match err {
            PoolError::Overloaded => LoginError::Overloaded,
            PoolError::Failed => LoginError::unavailable(Dependency::HashingPool, &err),
        })
    }

    pub(super) async fn audit_failure(
        &self,
        user_id: Option<&str>,
        reason: &str,
        identifier: &str,
        client: &ClientContext,
    ) -> Result<(), LoginError> {
        let details = EventDetails {
            user_id,
            session_id: None,
            error: Some(reason),
            metadata: json!({ "identifier": identifier }),
        };
        self.audit
            .record(AuditEventType::FailedLogin, false, client, details)
            .await
            .map_err(|e| LoginError::unavailable(Dependency::AuditQueue, &e))
    }

    /// The compare-and-set upgrade. A failure here never fails the login.
    /// Returns whether the host row now holds `upgraded`.
    async fn write_back(
        &self,
        user: &HostUser,
        stored: &str,
        (upgraded, to): (&str, &str),
        from: &str,
        client: &ClientContext,
    ) -> bool {
        let outcome = self.directory.update_password_hash(&user.id, stored, upgraded).await;
        let error = match &outcome {
            Ok(PasswordUpdate::Updated) => None,
            Ok(PasswordUpdate::Stale) => Some("changed_concurrently".to_owned()),
            Ok(PasswordUpdate::ColumnTooNarrow { max_len }) => {
                Some(format!("column_too_narrow: holds {max_len}, needs {}", upgraded.len()))
            }
            Ok(PasswordUpdate::Unsupported) => Some("directory_read_only".to_owned()),
            Err(err) => Some(format!("host_write_failed: {err}")),
        };
        if let Some(error) = &error {
            tracing::warn!(user_id = %user.id, reason = %error, "password hash upgrade skipped");
        }
        self.audit_upgrade(user, from, Some(to), error.as_deref(), client).await;
        error.is_none()
    }

    /// PASSWORD_CHANGE for an upgrade from the format labelled `from`:
    /// written (`error` None) or not, and why.
    async fn audit_upgrade(
        &self,
        user: &HostUser,
        from: &str,
        to: Option<&str>,
        error: Option<&str>,
        client: &ClientContext,
    ) {
        let mut metadata = json!({ "reason": "hash_upgrade", "from": from });
        if let Some(to) = to {
            metadata["to"] = Value::String(to.to_owned());
        }
        let details = EventDetails { user_id: Some(&user.id), session_id: None, error, metadata };
        if let Err(err) = self.audit.record(AuditEventType::PasswordChange, error.is_none(), client, details).await {
            tracing::error!(error = %err, "audit queue refused PASSWORD_CHANGE");
        }
    }

    /// Starts the session of a login whose password was just verified;
    /// `credential_fingerprint` is that of the hash the host row holds now
    /// (carried sealed in the ticket when a second factor came in between).
    pub(super) async fn start_session(
        &self,
        user: VerifiedUser,
        device_id: Option<String>,
        audit_metadata: Value,
        credential_fingerprint: Option<String>,
        client: &ClientContext,
    ) -> Result<LoginSuccess, LoginError> {
        let user_id = user.user_id.clone();
        let new = NewSession {
            user_id: user.user_id,
            roles: user.roles,
            user_data: user.user_data,
            device_id,
            credential_fingerprint,
        };
        let session = self.sessions.create(new, client).await?;
        let details = EventDetails {
            user_id: Some(&user_id),
            session_id: Some(&session.session_id),
            error: None,
            metadata: audit_metadata,
        };
        self.audit
            .record(AuditEventType::Login, true, client, details)
            .await
            .map_err(|e| LoginError::unavailable(Dependency::AuditQueue, &e))?;
        Ok(LoginSuccess { session, user_id })
    }
}
