//! The second-factor half of a login: the "MFA required" challenge and
//! `POST /mfa/verify`.

use serde_json::json;
use time::Duration;
use uap_ports::{Admission, RateLimitKey, RateLimitRule};

use super::{AuthService, LoginError, LoginSuccess, MfaFlowError};
use crate::pipeline::{Block, MiddlewareError, VerifiedUser};
use crate::session::{ClientContext, PendingLogin, SessionError, TicketPurpose};

/// How long an `mfa_token` is accepted.
const MFA_TICKET_SECONDS: i64 = 300;

impl AuthService {
    /// Completes a login that answered "MFA required".
    ///
    /// # Errors
    /// [`LoginError::MfaFailed`] for a bad, expired or spent ticket or a wrong
    /// code; [`LoginError::Blocked`] (429) after too many wrong codes.
    pub async fn complete_mfa(
        &self,
        mfa_token: &str,
        code: &str,
        client: &ClientContext,
    ) -> Result<LoginSuccess, LoginError> {
        let Some(mfa) = &self.mfa else {
            return Err(LoginError::MfaFailed("MFA is not enabled"));
        };
        let now = self.clock.now();
        let ticket = self
            .sessions
            .tokens()
            .open_ticket(mfa_token, TicketPurpose::Mfa, now)
            .map_err(|_| LoginError::MfaFailed("Invalid or expired MFA token"))?;
        match mfa.check_code(&ticket.user_id, code).await {
            Ok(()) => {}
            Err(MfaFlowError::RateLimited { retry_after }) => {
                return Err(LoginError::Blocked(Block {
                    status: 429,
                    message: "Too many invalid codes; try again later".into(),
                    retry_after: Some(retry_after),
                    reason: "mfa_rate_limited".into(),
                }));
            }
            Err(MfaFlowError::Unavailable(detail)) => {
                return Err(LoginError::Middleware(MiddlewareError::unavailable("MFA store", detail)));
            }
            Err(_) => {
                self.audit_failure(Some(&ticket.user_id), "mfa_failed", &ticket.user_id, client).await?;
                return Err(LoginError::MfaFailed("Invalid code"));
            }
        }
        // Single use: the first completion spends the ticket.
        let key = RateLimitKey { kind: "mfa_ticket".into(), value: ticket.ticket_id.clone() };
        let lifetime = Duration::seconds(MFA_TICKET_SECONDS);
        let rule = RateLimitRule { max_attempts: 1, window: lifetime, block: lifetime };
        let admission = self
            .tickets
            .attempt(&key, rule, now)
            .await
            .map_err(|e| LoginError::Middleware(MiddlewareError::unavailable("rate-limit store", e)))?;
        if !matches!(admission, Admission::Allowed { .. }) {
            return Err(LoginError::MfaFailed("MFA token already used"));
        }
        let verified = VerifiedUser { user_id: ticket.user_id, roles: ticket.roles, user_data: ticket.user_data };
        let metadata = json!({ "device_id": ticket.device_id, "mfa": "totp" });
        self.succeed(verified, ticket.device_id, metadata, client).await
    }

    pub(super) fn mfa_challenge(
        &self,
        user: &VerifiedUser,
        device_id: Option<String>,
    ) -> Result<LoginError, LoginError> {
        let now = self.clock.now();
        let ticket = PendingLogin {
            ticket_id: uuid::Uuid::new_v4().to_string(),
            purpose: TicketPurpose::Mfa,
            user_id: user.user_id.clone(),
            roles: user.roles.clone(),
            user_data: user.user_data.clone(),
            device_id,
            expires_at: now.unix_timestamp() + MFA_TICKET_SECONDS,
        };
        let mfa_token =
            self.sessions.tokens().seal_ticket(&ticket).map_err(|_| LoginError::Session(SessionError::Signing))?;
        Ok(LoginError::MfaRequired { mfa_token })
    }
}
