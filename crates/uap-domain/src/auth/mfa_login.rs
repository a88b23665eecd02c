//! The second-factor half of a login: the "MFA required" and "MFA
//! enrollment required" challenges, `POST /mfa/verify`, and TOTP enrollment,
//! confirmation and removal (audited as `MFA_ENROLLED` / `MFA_DISABLED`).
//!
//! A user of `required_roles` without a factor gets no session: the login
//! answers with an enrollment token, which the enroll and confirm routes
//! accept in place of a session token; confirming the factor with it
//! completes the login.

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use time::Duration;
use uap_ports::{Admission, AuditEventType, Delegated, RateLimitKey, RateLimitRule, UserQuery};

use super::engine::Target;
use super::timing::DummyReason;
use super::{AuthService, Dependency, Enrollment, LoginError, LoginSuccess, MfaFlowError, MfaService};
use crate::audit::EventDetails;
use crate::password::Verdict;
use crate::pipeline::{Block, MiddlewareError, VerifiedUser, address_key};
use crate::session::{ClientContext, PendingLogin, SessionError, TicketPurpose};

/// How long an `mfa_token` is accepted.
const MFA_TICKET_SECONDS: i64 = 300;
/// How long an `enrollment_token` is accepted (time to set up an app).
const ENROLLMENT_TICKET_SECONDS: i64 = 600;

/// The single-use counter of a ticket.
fn spend_counter(ticket: &PendingLogin, lifetime: i64) -> (RateLimitKey, RateLimitRule) {
    let key = RateLimitKey { kind: "mfa_ticket".into(), value: ticket.ticket_id.clone() };
    let lifetime = Duration::seconds(lifetime);
    (key, RateLimitRule { max_attempts: 1, window: lifetime, block: lifetime })
}

/// Who is enrolling a TOTP factor.
#[derive(Debug, Clone)]
pub enum Enroller {
    /// A logged-in user (a session token).
    Session { user_id: String, user_data: Value },
    /// A login held back until its user enrolls (an enrollment token).
    Login(PendingLogin),
}

impl Enroller {
    /// The host user concerned.
    #[must_use]
    pub fn user_id(&self) -> &str {
        match self {
            Self::Session { user_id, .. } => user_id,
            Self::Login(pending) => &pending.user_id,
        }
    }

    /// The account label authenticator apps show: email, else username,
    /// else the user id.
    fn account(&self) -> &str {
        let user_data = match self {
            Self::Session { user_data, .. } => user_data,
            Self::Login(pending) => &pending.user_data,
        };
        ["email", "username"]
            .iter()
            .find_map(|field| user_data.get(*field).and_then(Value::as_str))
            .unwrap_or_else(|| self.user_id())
    }
}

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
                return Err(LoginError::Blocked(Block::mfa_rate_limited(retry_after)));
            }
            Err(MfaFlowError::Unavailable(detail)) => {
                return Err(LoginError::Unavailable { dependency: Dependency::MfaStore, cause: detail });
            }
            Err(_) => {
                self.audit_failure(Some(&ticket.user_id), "mfa_failed", &ticket.user_id, client).await?;
                return Err(LoginError::MfaFailed("Invalid code"));
            }
        }
        // Single use: the first completion spends the ticket.
        self.spend(&ticket, MFA_TICKET_SECONDS).await?;
        let verified = VerifiedUser { user_id: ticket.user_id, roles: ticket.roles, user_data: ticket.user_data };
        let metadata = json!({ "device_id": ticket.device_id, "mfa": "totp" });
        self.start_session(verified, ticket.device_id, metadata, ticket.credential_fingerprint, client).await
    }

    /// The answer to a login held back for its second factor: "MFA
    /// required" with an `mfa_token`, or "MFA enrollment required" with an
    /// `enrollment_token`.
    pub(super) fn mfa_challenge(
        &self,
        user: &VerifiedUser,
        device_id: Option<String>,
        purpose: TicketPurpose,
        credential_fingerprint: Option<String>,
    ) -> Result<LoginError, LoginError> {
        let now = self.clock.now();
        let lifetime = match purpose {
            TicketPurpose::Mfa => MFA_TICKET_SECONDS,
            TicketPurpose::Enroll => ENROLLMENT_TICKET_SECONDS,
        };
        let ticket = PendingLogin {
            ticket_id: self.sessions.new_id(),
            purpose,
            user_id: user.user_id.clone(),
            roles: user.roles.clone(),
            user_data: user.user_data.clone(),
            device_id,
            expires_at: now.unix_timestamp() + lifetime,
            credential_fingerprint,
        };
        let token =
            self.sessions.tokens().seal_ticket(&ticket).map_err(|_| LoginError::Session(SessionError::Signing))?;
        Ok(match purpose {
            TicketPurpose::Mfa => LoginError::MfaRequired { mfa_token: token },
            TicketPurpose::Enroll => {
                tracing::info!(user_id = %user.user_id, "MFA required by role but no factor enrolled: enrollment token issued");
                LoginError::MfaEnrollmentRequired { enrollment_token: token }
            }
        })
    }

    /// Spends a ticket: the first call succeeds, any later one is refused.
    async fn spend(&self, ticket: &PendingLogin, lifetime: i64) -> Result<(), LoginError> {
        let (key, rule) = spend_counter(ticket, lifetime);
        let admission = self
            .tickets
            .attempt(&key, rule, self.clock.now())
            .await
            .map_err(|e| LoginError::Middleware(MiddlewareError::unavailable("rate-limit store", e)))?;
        if matches!(admission, Admission::Allowed { .. }) {
            Ok(())
        } else {
            Err(LoginError::MfaFailed("Token already used"))
        }
    }

    /// Whether the ticket was spent already (without spending it), so a
    /// spent enrollment token cannot enroll a factor again.
    async fn spent(&self, ticket: &PendingLogin, lifetime: i64) -> Result<bool, LoginError> {
        let (key, rule) = spend_counter(ticket, lifetime);
        let now = self.clock.now();
        let unavailable = |e| LoginError::Middleware(MiddlewareError::unavailable("rate-limit store", e));
        let blocked = self.tickets.blocked_until(&key, now).await.map_err(unavailable)?.is_some();
        Ok(blocked || self.tickets.attempts(&key, rule, now).await.map_err(unavailable)? > 0)
    }

    fn mfa_service(&self) -> Result<&MfaService, LoginError> {
        self.mfa.as_deref().ok_or(LoginError::MfaFailed("MFA is not enabled"))
    }

    /// Who calls the enroll or confirm route: `enrollment_token` (a body
    /// field) when given, else the Bearer token — an enrollment token (no
    /// dots) or a session token (a JWS).
    ///
    /// # Errors
    /// [`LoginError::MfaFailed`] for an enrollment token that is garbled,
    /// altered, expired or of another purpose (an `mfa_token`);
    /// [`LoginError::Session`] for a session token that is not valid.
    pub async fn enroller(
        &self,
        bearer: Option<&str>,
        enrollment_token: Option<&str>,
        client: &ClientContext,
    ) -> Result<Enroller, LoginError> {
        let token = match (enrollment_token, bearer) {
            (Some(token), _) => token,
            (None, Some(token)) if token.contains('.') => {
                let session = self.sessions.validate(token, client).await?;
                let user_data = Value::clone(&session.record.user_data);
                return Ok(Enroller::Session { user_id: session.record.user_id, user_data });
            }
            (None, Some(token)) => token,
            (None, None) => return Err(LoginError::MfaFailed("Missing bearer token")),
        };
        let pending = self
            .sessions
            .tokens()
            .open_ticket(token, TicketPurpose::Enroll, self.clock.now())
            .map_err(|_| LoginError::MfaFailed("Invalid or expired enrollment token"))?;
        if self.spent(&pending, ENROLLMENT_TICKET_SECONDS).await? {
            return Err(LoginError::MfaFailed("Token already used"));
        }
        Ok(Enroller::Login(pending))
    }

    /// Starts TOTP enrollment after checking the user's current password
    /// (re-read from the host store, verified on the blocking pool). Every
    /// attempt counts in the MFA wrong-code limiter; only a valid code
    /// (confirm, login) resets it, so a password cannot be guessed here.
    ///
    /// # Errors
    /// [`LoginError::InvalidCredentials`] for a wrong password (audited
    /// `FAILED_LOGIN` / `mfa_enroll_wrong_password`), [`LoginError::Mfa`]
    /// when rate-limited or already enrolled, store failures.
    pub async fn enroll_totp(
        &self,
        enroller: &Enroller,
        password: SecretString,
        client: &ClientContext,
    ) -> Result<Enrollment, LoginError> {
        let mfa = self.mfa_service()?;
        let user_id = enroller.user_id();
        mfa.count_attempt(user_id).await.map_err(LoginError::Mfa)?;
        let query = UserQuery {
            value: user_id.to_owned(),
            fields: vec![self.settings.id_field.clone()],
            case_insensitive: false,
        };
        if let Some(authority) = &self.authority {
            // Delegated mode: the host checks the password, asked by id.
            let verdict = authority
                .verify_password(&query, password.expose_secret())
                .await
                .map_err(|e| LoginError::unavailable(Dependency::HostDirectory, &e))?;
            let accepted = matches!(&verdict, Delegated::Accepted(u) if u.id == user_id && u.active != Some(false));
            return self.enroll_checked(mfa, enroller, accepted, client).await;
        }
        let user = self
            .directory
            .find_user(&query)
            .await
            .map_err(|e| LoginError::unavailable(Dependency::HostDirectory, &e))?;
        let stored =
            user.as_ref().filter(|u| u.id == user_id && u.active != Some(false)).and_then(|u| u.password_hash.clone());
        // The client's hashing share, as for a login (one address cannot
        // monopolise the pool through this route either).
        let ip = client.ip_address;
        let fairness = address_key(ip, self.settings.address_ipv6_prefix);
        let verdict = match stored {
            Some(stored) => self.check(&fairness, Target::Stored(stored), password, false).await?.verdict,
            None => {
                self.check(&fairness, Target::Dummy(DummyReason::UnknownUser), password, false).await?;
                Verdict::Mismatch
            }
        };
        self.enroll_checked(mfa, enroller, verdict == Verdict::Match, client).await
    }

    /// Starts enrollment once the password check is done (`matched`: it was
    /// right); a wrong password is audited and refused.
    async fn enroll_checked(
        &self,
        mfa: &MfaService,
        enroller: &Enroller,
        matched: bool,
        client: &ClientContext,
    ) -> Result<Enrollment, LoginError> {
        let user_id = enroller.user_id();
        if !matched {
            self.audit_failure(Some(user_id), "mfa_enroll_wrong_password", user_id, client).await?;
            return Err(LoginError::InvalidCredentials);
        }
        let enrollment = mfa.enroll(user_id, enroller.account()).await.map_err(LoginError::Mfa)?;
        self.audit_mfa(
            AuditEventType::MfaEnrolled,
            user_id,
            None,
            json!({ "factor": "totp", "step": "started" }),
            client,
        )
        .await?;
        Ok(enrollment)
    }

    /// Activates the pending factor with a current code. After an
    /// enrollment token this also completes the held-back login (the token
    /// is spent): the session is returned.
    ///
    /// # Errors
    /// [`LoginError::Mfa`] for a wrong code, no pending factor or too many
    /// wrong codes; [`LoginError::MfaFailed`] for a spent enrollment token.
    pub async fn confirm_totp(
        &self,
        enroller: Enroller,
        code: &str,
        client: &ClientContext,
    ) -> Result<Option<LoginSuccess>, LoginError> {
        let mfa = self.mfa_service()?;
        mfa.confirm(enroller.user_id(), code).await.map_err(LoginError::Mfa)?;
        let metadata = json!({ "factor": "totp", "step": "confirmed" });
        self.audit_mfa(AuditEventType::MfaEnrolled, enroller.user_id(), None, metadata, client).await?;
        let Enroller::Login(ticket) = enroller else {
            return Ok(None);
        };
        self.spend(&ticket, ENROLLMENT_TICKET_SECONDS).await?;
        let metadata = json!({ "device_id": ticket.device_id, "mfa": "totp", "mfa_enrolled": true });
        let verified = VerifiedUser { user_id: ticket.user_id, roles: ticket.roles, user_data: ticket.user_data };
        self.start_session(verified, ticket.device_id, metadata, ticket.credential_fingerprint, client).await.map(Some)
    }

    /// Removes the factor of the session's user after a current code.
    ///
    /// # Errors
    /// [`LoginError::Session`] for a token that is not a valid session
    /// (an enrollment token included), [`LoginError::Mfa`] for a wrong code.
    pub async fn disable_totp(&self, bearer: &str, code: &str, client: &ClientContext) -> Result<(), LoginError> {
        let mfa = self.mfa_service()?;
        let session = self.sessions.validate(bearer, client).await?;
        let record = &session.record;
        let outcome = mfa.remove(&record.user_id, code).await;
        let error = match &outcome {
            Ok(()) => None,
            Err(MfaFlowError::InvalidCode) => Some("invalid_code"),
            Err(MfaFlowError::RateLimited { .. }) => Some("mfa_rate_limited"),
            Err(_) => None,
        };
        if outcome.is_ok() || error.is_some() {
            let details = EventDetails {
                user_id: Some(&record.user_id),
                session_id: Some(&record.session_id),
                error,
                metadata: json!({ "factor": "totp" }),
            };
            self.audit
                .record(AuditEventType::MfaDisabled, outcome.is_ok(), client, details)
                .await
                .map_err(|e| LoginError::unavailable(Dependency::AuditQueue, &e))?;
        }
        outcome.map_err(LoginError::Mfa)
    }

    async fn audit_mfa(
        &self,
        event: AuditEventType,
        user_id: &str,
        session_id: Option<&str>,
        metadata: Value,
        client: &ClientContext,
    ) -> Result<(), LoginError> {
        let details = EventDetails { user_id: Some(user_id), session_id, error: None, metadata };
        self.audit
            .record(event, true, client, details)
            .await
            .map_err(|e| LoginError::unavailable(Dependency::AuditQueue, &e))
    }
}
