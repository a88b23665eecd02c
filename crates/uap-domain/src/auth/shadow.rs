//! Shadow mode (`mode = "shadow"`): the host application keeps logging its
//! users in and mirrors each attempt to UAP, which judges it exactly as a
//! login — middleware, host lookup, verification — but starts no session and
//! writes nothing to the host, and audits `SHADOW_LOGIN` with its verdict next
//! to the host's own, so a cut-over comes with evidence.

use serde_json::json;
use uap_ports::AuditEventType;

use super::engine::{Checked, Refused};
use super::{AuthService, Dependency, LoginError, LoginRequest};
use crate::audit::EventDetails;
use crate::password;
use crate::pipeline::{Challenge, Decision, LoginAttempt, LoginFailure};
use crate::session::ClientContext;

/// The `hash_format` of an attempt that never reached a stored hash
/// (unknown user, blocked before the lookup).
pub const NO_HASH: &str = "none";

/// What UAP would have answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowVerdict {
    /// A session would have been issued (or a second factor asked for).
    pub would_accept: bool,
    /// Why (`accepted`, `mfa_required`, or the refusal's audit reason).
    pub reason: String,
    /// The stored hash's census label, or [`NO_HASH`].
    pub hash_format: String,
    /// The host user, when one was found.
    pub user_id: Option<String>,
}

impl AuthService {
    /// Judges a mirrored login as [`AuthService::authenticate`] would, with
    /// the same middleware runs (a refusal counts towards the rate limit as
    /// it would), but issues no session and writes nothing to the host (the
    /// configuration turns `write_back` into `report` in shadow mode). Audits
    /// `SHADOW_LOGIN` with `{would_accept, host_decision, agreed, hash_format,
    /// reason}`.
    ///
    /// # Errors
    /// A malformed request, and dependency failures, as for a login; never
    /// a refusal (that is a verdict).
    pub async fn judge(
        &self,
        request: LoginRequest,
        host_decision: Option<bool>,
        client: &ClientContext,
    ) -> Result<ShadowVerdict, LoginError> {
        let (attempt, password) = self.attempt(request, client)?;
        let verdict = self.verdict(&attempt, password).await?;
        let agreed = host_decision.map(|host| host == verdict.would_accept);
        let details = EventDetails {
            user_id: verdict.user_id.as_deref(),
            session_id: None,
            error: (!verdict.would_accept).then_some(verdict.reason.as_str()),
            metadata: json!({
                "would_accept": verdict.would_accept,
                "host_decision": host_decision,
                "agreed": agreed,
                "hash_format": verdict.hash_format,
                "reason": verdict.reason,
                "identifier": attempt.identifier,
            }),
        };
        self.audit
            .record(AuditEventType::ShadowLogin, verdict.would_accept, client, details)
            .await
            .map_err(|e| LoginError::unavailable(Dependency::AuditQueue, &e))?;
        Ok(verdict)
    }

    async fn verdict(
        &self,
        attempt: &LoginAttempt,
        password: secrecy::SecretString,
    ) -> Result<ShadowVerdict, LoginError> {
        if let Decision::Block(block) = self.pipeline.pre_authenticate(attempt).await? {
            return Ok(self.refusal(attempt, block.reason, NO_HASH, None).await);
        }
        let (user, checked): (_, Checked) = match self.check_credentials(attempt, password).await? {
            Ok(found) => found,
            Err(Refused { reason, user_id, block, label }) => {
                let reason = block.map_or_else(|| reason.to_owned(), |b| b.reason);
                return Ok(self.refusal(attempt, reason, label.as_deref().unwrap_or(NO_HASH), user_id).await);
            }
        };
        let hash_format = checked.label.unwrap_or_else(|| password::UNKNOWN_FORMAT.to_owned());
        let verified = self.verified(user);
        let reason = match self.pipeline.post_authenticate(attempt, &verified).await? {
            Decision::Continue => "accepted",
            Decision::Challenge(Challenge::Mfa | Challenge::MfaEnrollment) => "mfa_required",
            Decision::Block(block) => {
                return Ok(self.refusal(attempt, block.reason, &hash_format, Some(verified.user_id)).await);
            }
        };
        Ok(ShadowVerdict {
            would_accept: true,
            reason: reason.to_owned(),
            hash_format,
            user_id: Some(verified.user_id),
        })
    }

    /// A refused attempt: `on_failure` runs as it would for a login (the
    /// rate limit counts it), and the verdict.
    async fn refusal(
        &self,
        attempt: &LoginAttempt,
        reason: String,
        hash_format: &str,
        user_id: Option<String>,
    ) -> ShadowVerdict {
        let failure = LoginFailure { reason: reason.clone(), user_id: user_id.clone() };
        self.pipeline.on_failure(attempt, &failure).await;
        ShadowVerdict { would_accept: false, reason, hash_format: hash_format.to_owned(), user_id }
    }
}
