//! `AuthService::authenticate`: the login use case.

use std::sync::{Arc, Mutex, PoisonError};

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use uap_ports::{AuditEventType, BlockingPool, HostUser, PasswordUpdate, PoolError, UserDirectory, UserQuery};

use super::{LoginError, LoginRequest, LoginSuccess};
use crate::audit::{AuditRecorder, EventDetails};
use crate::config::{AuthType, Settings};
use crate::password::{self, HashUpgrade, PasswordPolicy, Verdict};
use crate::session::{ClientContext, NewSession, SessionManager};
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
        }
    }
}

/// What the blocking job found.
struct Checked {
    verdict: Verdict,
    /// Present when the hash is weak under the policy.
    weak_format: Option<String>,
    /// The rewritten hash, when `write_back` applies.
    upgraded: Option<String>,
}

/// The login use case over the ports.
pub struct AuthService {
    directory: Arc<dyn UserDirectory>,
    sessions: SessionManager,
    pool: Arc<dyn BlockingPool>,
    settings: Arc<AuthSettings>,
    dummy_hash: Arc<str>,
    audit: AuditRecorder,
}

impl std::fmt::Debug for AuthService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthService").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl AuthService {
    /// Builds the service. `dummy_hash` is a preferred-scheme hash verified for
    /// unknown users (see [`password::dummy_hash`]).
    #[must_use]
    pub fn new(
        directory: Arc<dyn UserDirectory>,
        sessions: SessionManager,
        pool: Arc<dyn BlockingPool>,
        settings: AuthSettings,
        dummy_hash: String,
        audit: AuditRecorder,
    ) -> Self {
        Self { directory, sessions, pool, settings: Arc::new(settings), dummy_hash: dummy_hash.into(), audit }
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

    /// Logs a user in.
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
        let query = UserQuery {
            value: identifier.clone(),
            fields: settings.identifier_fields.clone(),
            case_insensitive: settings.case_insensitive,
        };
        let user = self.directory.find_user(&query).await.map_err(LoginError::Directory)?;
        let password = request.credentials.password;

        let Some(user) = user else {
            self.check(&self.dummy_hash, password, false).await?;
            return self.fail(None, "unknown_user", &identifier, client).await;
        };
        let Some(stored) = user.password_hash.clone() else {
            self.check(&self.dummy_hash, password, false).await?;
            return self.fail(Some(&user.id), "no_password", &identifier, client).await;
        };
        let active = user.active != Some(false);
        let checked = self.check(&stored, password, active).await?;
        match checked.verdict {
            Verdict::Unsupported => {
                return self.fail(Some(&user.id), "unsupported_hash_format", &identifier, client).await;
            }
            Verdict::Mismatch => return self.fail(Some(&user.id), "wrong_password", &identifier, client).await,
            Verdict::Match if !active => return self.fail(Some(&user.id), "inactive", &identifier, client).await,
            Verdict::Match => {}
        }
        if let Some(upgraded) = &checked.upgraded {
            self.write_back(&user, &stored, upgraded, client).await;
        }
        self.succeed(user, request.device_id, request.metadata, checked.weak_format, client).await
    }

    /// Verifies on the blocking pool; for a match under `write_back`, also
    /// computes the upgraded hash in the same job.
    async fn check(&self, stored: &str, password: SecretString, may_upgrade: bool) -> Result<Checked, LoginError> {
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
        self.pool.run(Box::new(job)).await.map_err(|err| match err {
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

    async fn fail(
        &self,
        user_id: Option<&str>,
        reason: &str,
        identifier: &str,
        client: &ClientContext,
    ) -> Result<LoginSuccess, LoginError> {
        let details = EventDetails {
            user_id,
            session_id: None,
            error: Some(reason),
            metadata: json!({ "identifier": identifier }),
        };
        self.audit
            .record(AuditEventType::FailedLogin, false, client, details)
            .await
            .map_err(|e| LoginError::Session(e.into()))?;
        Err(LoginError::InvalidCredentials)
    }

    /// The compare-and-set upgrade. A failure here never fails the login.
    async fn write_back(&self, user: &HostUser, stored: &str, upgraded: &str, client: &ClientContext) {
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
    }

    async fn succeed(
        &self,
        user: HostUser,
        device_id: Option<String>,
        metadata: Option<Value>,
        weak_format: Option<String>,
        client: &ClientContext,
    ) -> Result<LoginSuccess, LoginError> {
        let settings = &self.settings;
        let user_data = settings.filter.apply(&settings.id_field, &user.id, &user.attributes, &user.roles);
        let mut audit_metadata = json!({ "device_id": device_id, "client_metadata": metadata });
        let new = NewSession { user_id: user.id.clone(), roles: user.roles, user_data, device_id };
        let session = self.sessions.create(new, client).await?;
        if let Some(format) = weak_format {
            audit_metadata["hash_upgrade_recommended"] = Value::String(format);
        }
        let details = EventDetails {
            user_id: Some(&user.id),
            session_id: Some(&session.session_id),
            error: None,
            metadata: audit_metadata,
        };
        self.audit
            .record(AuditEventType::Login, true, client, details)
            .await
            .map_err(|e| LoginError::Session(e.into()))?;
        Ok(LoginSuccess { session, user_id: user.id })
    }
}
