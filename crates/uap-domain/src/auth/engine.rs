//! `AuthService::authenticate`: the login use case.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tracing::Instrument as _;
use uap_ports::{
    AuditEventType, BlockingPool, Clock, HostUser, PasswordUpdate, PoolError, RateLimitStore, UserDirectory, UserQuery,
};

use super::{LoginError, LoginRequest, LoginSuccess, MfaService};
use crate::audit::{AuditRecorder, EventDetails};
use crate::config::{AuthType, Settings};
use crate::password::{self, HashUpgrade, PasswordPolicy, Verdict};
use crate::pipeline::{Block, Challenge, Decision, LoginAttempt, LoginFailure, Pipeline, VerifiedUser, address_key};
use crate::session::{ClientContext, NewSession, SessionManager, TicketPurpose};
use crate::user_data::UserDataFilter;

/// The login rules taken from the configuration.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub auth_type: AuthType,
    pub identifier_fields: Vec<String>,
    pub case_insensitive: bool,
    pub id_field: String,
    pub filter: UserDataFilter,
    pub policy: PasswordPolicy,
    /// IPv6 clients share a hashing fairness key per network of this length.
    pub address_ipv6_prefix: u8,
}

impl AuthSettings {
    /// The rules configured in `settings`.
    #[must_use]
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            auth_type: settings.auth_type,
            identifier_fields: settings.identifier_columns().into_iter().map(|(_, c)| c).collect(),
            case_insensitive: settings.identifier_case_insensitive,
            id_field: settings.id_field.clone(),
            filter: UserDataFilter::from_settings(settings),
            policy: settings.password_policy(),
            address_ipv6_prefix: settings.address_ipv6_prefix,
        }
    }
}

/// What the blocking job found.
pub(super) struct Checked {
    pub(super) verdict: Verdict,
    /// Present when the hash is weak under the policy.
    weak_format: Option<String>,
    /// The rewritten hash, when `write_back` applies.
    upgraded: Option<String>,
}

/// The login use case over the ports.
pub struct AuthService {
    pub(super) directory: Arc<dyn UserDirectory>,
    pub(super) sessions: SessionManager,
    pool: Arc<dyn BlockingPool>,
    pub(super) settings: Arc<AuthSettings>,
    pub(super) dummy_hash: Arc<str>,
    pub(super) audit: AuditRecorder,
    pipeline: Arc<Pipeline>,
    pub(super) mfa: Option<Arc<MfaService>>,
    pub(super) tickets: Arc<dyn RateLimitStore>,
    pub(super) clock: Arc<dyn Clock>,
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
    pub sessions: SessionManager,
    pub pool: Arc<dyn BlockingPool>,
    pub settings: AuthSettings,
    /// A preferred-scheme hash verified for unknown users (see
    /// [`password::dummy_hash`]).
    pub dummy_hash: String,
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
struct Refused {
    reason: &'static str,
    user_id: Option<String>,
    block: Option<Block>,
}

impl AuthService {
    /// Builds the service.
    #[must_use]
    pub fn new(parts: AuthParts) -> Self {
        Self {
            directory: parts.directory,
            sessions: parts.sessions,
            pool: parts.pool,
            settings: Arc::new(parts.settings),
            dummy_hash: parts.dummy_hash.into(),
            audit: parts.audit,
            pipeline: parts.pipeline,
            mfa: parts.mfa,
            tickets: parts.tickets,
            clock: parts.clock,
        }
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
        let settings = &self.settings;
        let identifier = request.credentials.identifier_for(settings.auth_type)?.to_owned();
        let attempt = LoginAttempt {
            identifier: identifier.clone(),
            ip: client.ip_address.as_deref().and_then(|ip| ip.parse::<IpAddr>().ok()),
            user_agent: client.user_agent.clone(),
            device_id: request.device_id.clone(),
            metadata: request.metadata.clone(),
            captcha_token: request.captcha_token,
            mfa_code: request.mfa_code,
        };
        if let Decision::Block(block) = self.pipeline.pre_authenticate(&attempt).await? {
            return self.refuse(&attempt, None, block, client).await;
        }

        let (user, checked) = match self.check_credentials(&attempt, request.credentials.password).await? {
            Ok(found) => found,
            Err(Refused { user_id, block: Some(block), .. }) => {
                return self.refuse(&attempt, user_id.as_deref(), block, client).await;
            }
            Err(refused) => {
                let failure = LoginFailure { reason: refused.reason.to_owned(), user_id: refused.user_id.clone() };
                self.pipeline.on_failure(&attempt, &failure).await;
                self.audit_failure(refused.user_id.as_deref(), refused.reason, &identifier, client).await?;
                return Err(LoginError::InvalidCredentials);
            }
        };
        // The session fingerprints the hash the host row holds now.
        let mut fingerprint = user.password_hash.as_deref().map(|h| self.sessions.credential_fingerprint(h));
        if let (Some(upgraded), Some(stored)) = (&checked.upgraded, &user.password_hash)
            && self.write_back(&user, stored, upgraded, client).await
        {
            fingerprint = Some(self.sessions.credential_fingerprint(upgraded));
        }
        let verified = VerifiedUser {
            user_data: settings.filter.apply(&settings.id_field, &user.id, &user.attributes, &user.roles),
            user_id: user.id,
            roles: user.roles,
        };
        match self.pipeline.post_authenticate(&attempt, &verified).await? {
            Decision::Continue => {}
            Decision::Block(block) => return self.refuse(&attempt, Some(&verified.user_id), block, client).await,
            Decision::Challenge(Challenge::Mfa) => {
                return Err(self.mfa_challenge(&verified, request.device_id, TicketPurpose::Mfa, fingerprint)?);
            }
            Decision::Challenge(Challenge::MfaEnrollment) => {
                return Err(self.mfa_challenge(&verified, request.device_id, TicketPurpose::Enroll, fingerprint)?);
            }
        }
        let mut audit_metadata = json!({ "device_id": request.device_id, "client_metadata": request.metadata });
        if let Some(format) = checked.weak_format {
            audit_metadata["hash_upgrade_recommended"] = Value::String(format);
        }
        self.start_session(verified, request.device_id, audit_metadata, fingerprint, client).await
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
    /// inner one a refusal with its audit reason. Every refusal costs one hash.
    async fn check_credentials(
        &self,
        attempt: &LoginAttempt,
        password: SecretString,
    ) -> Result<Result<(HostUser, Checked), Refused>, LoginError> {
        let settings = &self.settings;
        let query = UserQuery {
            value: attempt.identifier.clone(),
            fields: settings.identifier_fields.clone(),
            case_insensitive: settings.case_insensitive,
        };
        let user = self
            .directory
            .find_user(&query)
            .instrument(tracing::trace_span!("uap.host_lookup"))
            .await
            .map_err(LoginError::Directory)?;
        let user_id = user.as_ref().map(|u| u.id.clone());
        if let Decision::Block(block) = self.pipeline.before_verify(attempt, user_id.as_deref()).await? {
            return Ok(Err(Refused { reason: "blocked", user_id, block: Some(block) }));
        }
        let fairness = address_key(attempt.ip, settings.address_ipv6_prefix);
        let Some(user) = user else {
            self.check(&fairness, &self.dummy_hash, password, false).await?;
            return Ok(Err(Refused { reason: "unknown_user", user_id: None, block: None }));
        };
        let Some(stored) = user.password_hash.clone() else {
            self.check(&fairness, &self.dummy_hash, password, false).await?;
            return Ok(Err(Refused { reason: "no_password", user_id: Some(user.id), block: None }));
        };
        let active = user.active != Some(false);
        let checked = self.check(&fairness, &stored, password, active).await?;
        let reason = match checked.verdict {
            Verdict::Unsupported => "unsupported_hash_format",
            Verdict::Mismatch => "wrong_password",
            Verdict::Match if !active => "inactive",
            Verdict::Match => return Ok(Ok((user, checked))),
        };
        Ok(Err(Refused { reason, user_id: Some(user.id), block: None }))
    }

    /// Verifies on the blocking pool; for a match under `write_back`, also
    /// computes the upgraded hash in the same job.
    #[tracing::instrument(level = "trace", name = "uap.hash_verify", skip_all)]
    pub(super) async fn check(
        &self,
        fairness: &str,
        stored: &str,
        password: SecretString,
        may_upgrade: bool,
    ) -> Result<Checked, LoginError> {
        let policy = self.settings.policy.clone();
        let stored = stored.to_owned();
        let slot: Arc<Mutex<Option<Checked>>> = Arc::new(Mutex::new(None));
        let out = Arc::clone(&slot);
        let job = move || {
            let password = password.expose_secret();
            let verdict = password::verify(&policy, &stored, password);
            let mut checked = Checked { verdict, weak_format: None, upgraded: None };
            if may_upgrade
                && checked.verdict == Verdict::Match
                && policy.upgrade != HashUpgrade::Off
                && password::needs_upgrade(&policy, &stored)
            {
                checked.weak_format = Some(password::census_label(&policy, &stored));
                if policy.upgrade == HashUpgrade::WriteBack {
                    checked.upgraded = password::upgraded_hash(&policy, &stored, password).ok().flatten();
                }
            }
            *out.lock().unwrap_or_else(PoisonError::into_inner) = Some(checked);
        };
        self.pool.run_keyed(fairness, Box::new(job)).await.map_err(|err| match err {
            PoolError::Overloaded => LoginError::Overloaded,
            PoolError::Failed => LoginError::Directory(uap_ports::StoreError::Unavailable {
                what: "password verification pool",
                source: None,
            }),
        })?;
        let checked = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
        // The job always fills the slot before `run` returns Ok; fail closed if not.
        Ok(checked.unwrap_or(Checked { verdict: Verdict::Unsupported, weak_format: None, upgraded: None }))
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
            .map_err(|e| LoginError::Session(e.into()))
    }

    /// The compare-and-set upgrade. A failure here never fails the login.
    /// Returns whether the host row now holds `upgraded`.
    async fn write_back(&self, user: &HostUser, stored: &str, upgraded: &str, client: &ClientContext) -> bool {
        let policy = &self.settings.policy;
        let outcome = self.directory.update_password_hash(&user.id, stored, upgraded).await;
        let (success, error) = match &outcome {
            Ok(PasswordUpdate::Updated) => (true, None),
            Ok(PasswordUpdate::Stale) => (false, Some("changed_concurrently".to_owned())),
            Ok(PasswordUpdate::ColumnTooNarrow { max_len }) => {
                (false, Some(format!("column_too_narrow: holds {max_len}, needs {}", upgraded.len())))
            }
            Ok(PasswordUpdate::Unsupported) => (false, Some("directory_read_only".to_owned())),
            Err(err) => (false, Some(format!("host_write_failed: {err}"))),
        };
        if let Some(error) = &error {
            tracing::warn!(user_id = %user.id, reason = %error, "password hash upgrade skipped");
        }
        let details = EventDetails {
            user_id: Some(&user.id),
            session_id: None,
            error: error.as_deref(),
            metadata: json!({
                "reason": "hash_upgrade",
                "from": password::census_label(policy, stored),
                "to": password::census_label(policy, upgraded),
            }),
        };
        if let Err(err) = self.audit.record(AuditEventType::PasswordChange, success, client, details).await {
            tracing::error!(error = %err, "audit queue refused PASSWORD_CHANGE");
        }
        success
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
            .map_err(|e| LoginError::Session(e.into()))?;
        Ok(LoginSuccess { session, user_id })
    }
}
