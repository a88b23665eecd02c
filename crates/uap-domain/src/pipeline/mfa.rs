//! `mfa`: after a successful password check, users with an active TOTP
//! factor — and users in `required_roles` — must give a code: in the same
//! request (`mfa_code`) or through `POST /mfa/verify` with the `mfa_token`
//! of the 401 "MFA required" answer.
//!
//! A user in `required_roles` without a factor yet gets no session: the
//! login is answered "MFA enrollment required" with an enrollment token that
//! only the TOTP enroll and confirm routes accept.

use std::sync::Arc;

use async_trait::async_trait;

use super::{Block, Challenge, Decision, LoginAttempt, Middleware, MiddlewareError, VerifiedUser};
use crate::auth::{MfaFlowError, MfaService};

/// `required_roles`.
#[derive(Debug, Clone, Default)]
pub struct MfaPolicy {
    pub required_roles: Vec<String>,
}

/// The `mfa` middleware.
pub struct MfaMiddleware {
    service: Arc<MfaService>,
    policy: MfaPolicy,
}

impl MfaMiddleware {
    /// The middleware over `service`.
    #[must_use]
    pub fn new(service: Arc<MfaService>, policy: MfaPolicy) -> Self {
        Self { service, policy }
    }

    fn required_by_role(&self, user: &VerifiedUser) -> bool {
        user.roles.iter().any(|role| self.policy.required_roles.iter().any(|r| r.eq_ignore_ascii_case(role)))
    }
}

#[async_trait]
impl Middleware for MfaMiddleware {
    async fn post_authenticate(
        &self,
        attempt: &LoginAttempt,
        user: &VerifiedUser,
    ) -> Result<Decision, MiddlewareError> {
        let enrolled =
            self.service.is_enrolled(&user.user_id).await.map_err(|e| MiddlewareError::unavailable("MFA store", e))?;
        if !enrolled {
            if self.required_by_role(user) {
                return Ok(Decision::Challenge(Challenge::MfaEnrollment));
            }
            return Ok(Decision::Continue);
        }
        let Some(code) = attempt.mfa_code.as_deref() else {
            return Ok(Decision::Challenge(Challenge::Mfa));
        };
        match self.service.check_code(&user.user_id, code).await {
            Ok(()) => Ok(Decision::Continue),
            Err(MfaFlowError::RateLimited { retry_after }) => Ok(Decision::Block(Block::mfa_rate_limited(retry_after))),
            Err(MfaFlowError::Unavailable(detail)) => Err(MiddlewareError::unavailable("MFA store", detail)),
            Err(_) => Ok(Decision::Block(Block::unauthorized("Invalid MFA code", "mfa_failed"))),
        }
    }
}
