//! `AuthService::refresh_*`: a refresh re-reads the host user. The session
//! manager first checks the session (token, state, grace, theft, idle rule,
//! refresh expiry, chain end); then the host user is looked up by id — gone,
//! disabled, without a password or with a different stored hash than at
//! login (a changed password), the whole chain ends; otherwise the roles and
//! `user_data` are derived again exactly as at login and the manager issues
//! the new token with the roles' duration. A directory failure is a 503 and
//! ends nothing. In delegated mode (the host verifies passwords) the host
//! user carries no hash and its sessions no credential fingerprint: only
//! that comparison is skipped; a user gone or inactive still ends the chain.

use uap_ports::{HostUser, UserQuery};

use super::AuthService;
use crate::session::{ClientContext, IssuedSession, PendingRefresh, RefreshStep, Rejection, SessionError};

impl AuthService {
    /// Refreshes with the access token (`Authorization: Bearer`): a new
    /// access token for the same session, no new refresh token.
    ///
    /// # Errors
    /// [`SessionError::Rejected`] (401), [`SessionError::Directory`] (503),
    /// store failures.
    pub async fn refresh_with_token(&self, token: &str, client: &ClientContext) -> Result<IssuedSession, SessionError> {
        let pending = self.sessions.begin_refresh_with_token(token, client).await?;
        self.finish_refresh(pending, client).await
    }

    /// Refreshes with a refresh token: rotation to a successor session with a
    /// new refresh token.
    ///
    /// # Errors
    /// As [`AuthService::refresh_with_token`].
    pub async fn refresh_with_refresh_token(
        &self,
        refresh_token: &str,
        client: &ClientContext,
    ) -> Result<IssuedSession, SessionError> {
        match self.sessions.begin_refresh_with_refresh_token(refresh_token, client).await? {
            RefreshStep::Ready(issued) => Ok(issued),
            RefreshStep::Check(pending) => self.finish_refresh(pending, client).await,
        }
    }

    async fn finish_refresh(
        &self,
        pending: PendingRefresh,
        client: &ClientContext,
    ) -> Result<IssuedSession, SessionError> {
        let settings = &self.settings;
        let record = pending.record();
        let query = UserQuery {
            value: record.user_id.clone(),
            fields: vec![settings.id_field.clone()],
            case_insensitive: false,
        };
        let user = self.directory.find_user(&query).await.map_err(SessionError::Directory)?;
        let user = match self.host_user_refusal(record, user) {
            Ok(user) => user,
            Err(reason) => {
                self.sessions.end_chain(&pending, reason, client).await?;
                return Err(Rejection::HostUserChanged.into());
            }
        };
        let user = self.directory.complete(user).await.map_err(SessionError::Directory)?;
        let user_data = settings.filter.apply(&settings.id_field, &user.id, &user.attributes, &user.roles);
        self.sessions.finish_refresh(pending, &user.roles, user_data, client).await
    }

    /// The host user, when the session may go on; else the audit reason.
    fn host_user_refusal(
        &self,
        record: &uap_ports::SessionRecord,
        user: Option<HostUser>,
    ) -> Result<HostUser, &'static str> {
        let user = user.filter(|u| u.id == record.user_id).ok_or("host_user_gone")?;
        if user.active == Some(false) {
            return Err("host_user_inactive");
        }
        if self.authority.is_some() {
            return Ok(user);
        }
        let stored = user.password_hash.as_deref().ok_or("host_user_no_password")?;
        if !self.sessions.credentials_unchanged(record, stored) {
            return Err("credentials_changed");
        }
        Ok(user)
    }
}
