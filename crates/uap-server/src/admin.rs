//! The admin guard (CONTRACT §3 "admin"): one `from_fn` middleware for every
//! admin scope (`/api/v1/audit` now, the configuration API later). In order:
//! no `admin_api_key` configured → 404 (as if the route did not exist); the
//! client address (resolved through `trusted_proxies` exactly as for logins)
//! outside `admin_ip_allowlist`, or unknown → 403; a missing or wrong key
//! (`X-API-Key`, or `Authorization: Bearer`) → 401. Keys are compared as
//! SHA-256 digests in constant time, so neither content nor length leaks.
//! Every call is audited as `API_ACCESS` with `{route, method, outcome,
//! status}` and the client address — never the key.

use std::net::IpAddr;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{ResponseError, web};
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uap_domain::EventDetails;
use uap_ports::AuditEventType;

use crate::api::{ApiError, ErrorShape};
use crate::handlers::{bearer, client};
use crate::state::AppState;

/// The admin key (as a digest) and the allowed client networks.
#[derive(Clone, Default)]
pub struct AdminGuard {
    key_digest: Option<[u8; 32]>,
    allowlist: Vec<IpNet>,
}

impl std::fmt::Debug for AdminGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminGuard")
            .field("configured", &self.key_digest.is_some())
            .field("allowlist", &self.allowlist)
            .finish()
    }
}

/// Why an admin call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// No `admin_api_key`: 404.
    Disabled,
    /// Client address unknown or outside `admin_ip_allowlist`: 403.
    Forbidden,
    /// Missing or wrong key: 401.
    Unauthorized,
}

impl Denial {
    /// The `outcome` recorded in the audit trail.
    #[must_use]
    pub const fn outcome(self) -> &'static str {
        match self {
            Self::Disabled => "disabled",
            Self::Forbidden => "forbidden",
            Self::Unauthorized => "unauthorized",
        }
    }

    fn error(self) -> ApiError {
        match self {
            Self::Disabled => ApiError::NotFound("Not found".into()),
            Self::Forbidden => ApiError::Forbidden("Admin API is not available from this address".into()),
            Self::Unauthorized => {
                ApiError::Unauthorized { shape: ErrorShape::Success, message: "Missing or invalid admin API key" }
            }
        }
    }
}

/// The SHA-256 digest a key is kept and compared as.
pub(crate) fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Whether `presented` is the key of `expected` (a [`digest`]), in constant
/// time; an empty key never is.
pub(crate) fn same_key(expected: &[u8; 32], presented: &str) -> bool {
    !presented.is_empty() && bool::from(digest(presented.as_bytes()).ct_eq(expected))
}

impl AdminGuard {
    /// A guard for `key` (none: admin routes disabled) and `allowlist`.
    #[must_use]
    pub fn new(key: Option<&SecretString>, allowlist: Vec<IpNet>) -> Self {
        Self { key_digest: key.map(|k| digest(k.expose_secret().as_bytes())), allowlist }
    }

    /// The rule on plain values: `client` is the resolved address (`None`
    /// when unknown), `presented` the key the caller sent.
    ///
    /// # Errors
    /// The [`Denial`], checked in the contract's order.
    pub fn check(&self, client: Option<IpAddr>, presented: Option<&str>) -> Result<(), Denial> {
        let Some(expected) = &self.key_digest else { return Err(Denial::Disabled) };
        let allowed = client.is_some_and(|ip| self.allowlist.iter().any(|net| net.contains(&ip.to_canonical())));
        if !allowed {
            return Err(Denial::Forbidden);
        }
        if presented.is_some_and(|key| same_key(expected, key)) { Ok(()) } else { Err(Denial::Unauthorized) }
    }
}

/// The key a request presents: `X-API-Key`, else the Bearer token.
fn presented_key(request: &actix_web::HttpRequest) -> Option<&str> {
    match request.headers().get("x-api-key") {
        Some(value) => value.to_str().ok().map(str::trim),
        None => bearer(request),
    }
}

/// The middleware (`actix_web::middleware::from_fn(admin::guard)`) on an
/// admin scope.
///
/// # Errors
/// Only what the wrapped service returns.
pub async fn guard(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(state) = request.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(request.into_response(ApiError::Internal.error_response()).map_into_right_body());
    };
    // Everything needed from the request is taken now: the router needs the
    // request to itself again (no clone of it may live across `next.call`).
    let (verdict, route, method, context) = {
        let http = request.request();
        let verdict = state.runtime().admin.check(state.client_ip.resolve(http), presented_key(http));
        (verdict, http.path().to_owned(), http.method().to_string(), client(http, &state))
    };
    let (response, outcome, success) = match verdict {
        Err(denial) => {
            let response = request.into_response(denial.error().error_response()).map_into_right_body();
            (response, denial.outcome(), false)
        }
        Ok(()) => {
            let response = next.call(request).await?.map_into_left_body();
            let ok = response.status().is_success();
            (response, if ok { "ok" } else { "error" }, ok)
        }
    };
    let status = response.status().as_u16();
    if !success {
        tracing::info!(%route, %method, outcome, status, client = context.ip_address.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string()), "admin call refused or failed");
    }
    let details = EventDetails {
        user_id: None,
        session_id: None,
        error: (!success).then_some(outcome),
        metadata: json!({ "route": route, "method": method, "outcome": outcome, "status": status }),
    };
    if let Err(err) = state.audit.record(AuditEventType::ApiAccess, success, &context, details).await {
        tracing::error!(error = %err, "audit queue refused API_ACCESS");
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "admin-key-0123456789";

    fn guard() -> AdminGuard {
        AdminGuard::new(
            Some(&SecretString::from(KEY)),
            vec!["127.0.0.1/32".parse().unwrap(), "::1/128".parse().unwrap()],
        )
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn unconfigured_is_404_before_anything_else() {
        let off = AdminGuard::new(None, vec!["0.0.0.0/0".parse().unwrap()]);
        assert_eq!(off.check(ip("127.0.0.1"), Some(KEY)), Err(Denial::Disabled));
        assert_eq!(off.check(None, None), Err(Denial::Disabled));
    }

    #[test]
    fn address_is_checked_before_the_key() {
        let g = guard();
        assert_eq!(g.check(ip("10.1.2.3"), Some(KEY)), Err(Denial::Forbidden));
        assert_eq!(g.check(ip("10.1.2.3"), None), Err(Denial::Forbidden));
        assert_eq!(g.check(None, Some(KEY)), Err(Denial::Forbidden), "an unknown client is outside");
        assert_eq!(g.check(ip("::ffff:127.0.0.1"), Some(KEY)), Ok(()), "IPv4-mapped loopback is loopback");
        assert_eq!(g.check(ip("::1"), Some(KEY)), Ok(()));
    }

    #[test]
    fn key_must_match_exactly() {
        let g = guard();
        assert_eq!(g.check(ip("127.0.0.1"), Some(KEY)), Ok(()));
        assert_eq!(g.check(ip("127.0.0.1"), None), Err(Denial::Unauthorized));
        assert_eq!(g.check(ip("127.0.0.1"), Some("")), Err(Denial::Unauthorized));
        assert_eq!(g.check(ip("127.0.0.1"), Some(&KEY[..KEY.len() - 1])), Err(Denial::Unauthorized));
        assert_eq!(g.check(ip("127.0.0.1"), Some(&format!("{KEY}x"))), Err(Denial::Unauthorized));
        assert_eq!(g.check(ip("127.0.0.1"), Some(&KEY.to_uppercase())), Err(Denial::Unauthorized));
    }

    #[test]
    fn debug_hides_the_key() {
        let debug = format!("{:?}", guard());
        assert!(!debug.contains(KEY) && debug.contains("configured: true"), "{debug}");
    }
}
