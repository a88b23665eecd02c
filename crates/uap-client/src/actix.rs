//! actix-web integration: [`AuthenticatedUser`] is a `FromRequest`
//! extractor, [`RequireRoles`] a role-guarding one.
//!
//! Register the [`Validator`] as app data (`App::new().app_data(validator)`
//! or `web::Data::new(validator)`); a handler taking an `AuthenticatedUser`
//! then answers 401 `{"error": ...}` without or with a bad token, 503 when
//! UAP is down, and runs only for a valid token.
//!
//! ```no_run
//! use actix_web::{App, HttpServer, get, web};
//! use uap_client::actix::{RequireRoles, Roles};
//! use uap_client::{AuthenticatedUser, UapClient, Validator};
//!
//! struct Admin;
//! impl Roles for Admin {
//!     const ROLES: &'static [&'static str] = &["admin"];
//! }
//!
//! #[get("/me")]
//! async fn me(user: AuthenticatedUser) -> String {
//!     format!("hello {}", user.user_id)
//! }
//!
//! #[get("/admin")]
//! async fn admin(user: RequireRoles<Admin>) -> String {
//!     format!("hello admin {}", user.user_id)
//! }
//!
//! # async fn run() -> anyhow::Result<()> {
//! let validator = Validator::remote(UapClient::new("http://127.0.0.1:8000")?);
//! HttpServer::new(move || App::new().app_data(validator.clone()).service(me).service(admin))
//!     .bind(("127.0.0.1", 8080))?
//!     .run()
//!     .await?;
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use actix_web::{FromRequest, HttpMessage as _, HttpRequest, HttpResponse, ResponseError, web};

use crate::models::AuthenticatedUser;
use crate::validator::Validator;
use crate::web::{Rejection, bearer_token};

impl ResponseError for Rejection {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let Some(challenge) = self.www_authenticate() {
            response.insert_header((WWW_AUTHENTICATE, challenge));
        }
        response.content_type("application/json").body(self.body())
    }
}

fn validator_of(req: &HttpRequest) -> Option<Validator> {
    req.app_data::<Validator>()
        .cloned()
        .or_else(|| req.app_data::<web::Data<Validator>>().map(|data| data.get_ref().clone()))
}

impl FromRequest for AuthenticatedUser {
    type Error = Rejection;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Rejection>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            // A second extractor in the same request reuses the first answer.
            if let Some(user) = req.extensions().get::<Self>() {
                return Ok(user.clone());
            }
            let Some(validator) = validator_of(&req) else {
                tracing::error!("uap_client::Validator is not registered as app data: answering 503");
                return Err(Rejection::Unavailable);
            };
            let header = req.headers().get(AUTHORIZATION).and_then(|value| value.to_str().ok());
            let token = bearer_token(header).ok_or(Rejection::MissingToken)?.to_owned();
            let user = validator.validate(&token).await.map_err(|err| Rejection::from_error(&err))?;
            req.extensions_mut().insert(user.clone());
            Ok(user)
        })
    }
}

impl AuthenticatedUser {
    /// `Ok` when the user holds any of `roles`, else the 403 rejection (use
    /// with `?` in a handler returning `Result<_, actix_web::Error>`).
    ///
    /// # Errors
    /// [`Rejection::MissingRole`] (403 JSON).
    pub fn require_any_role(&self, roles: &[&str]) -> Result<(), Rejection> {
        if self.has_any_role(roles) {
            Ok(())
        } else {
            Err(Rejection::MissingRole(roles.iter().map(|role| (*role).to_owned()).collect()))
        }
    }
}

/// A set of roles, any of which admits a request to a [`RequireRoles`] route.
pub trait Roles {
    /// The roles (any one suffices).
    const ROLES: &'static [&'static str];
}

/// An [`AuthenticatedUser`] holding any of `R::ROLES`; others get 403 JSON
/// (and 401/503 as the plain extractor). Derefs to the user.
pub struct RequireRoles<R: Roles> {
    user: AuthenticatedUser,
    roles: PhantomData<R>,
}

impl<R: Roles> RequireRoles<R> {
    /// The user.
    #[must_use]
    pub fn into_inner(self) -> AuthenticatedUser {
        self.user
    }
}

impl<R: Roles> Deref for RequireRoles<R> {
    type Target = AuthenticatedUser;

    fn deref(&self) -> &AuthenticatedUser {
        &self.user
    }
}

impl<R: Roles> std::fmt::Debug for RequireRoles<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RequireRoles").field(&self.user).finish()
    }
}

impl<R: Roles + 'static> FromRequest for RequireRoles<R> {
    type Error = Rejection;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Rejection>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = AuthenticatedUser::from_request(req, payload);
        Box::pin(async move {
            let user = user.await?;
            user.require_any_role(R::ROLES)?;
            Ok(Self { user, roles: PhantomData })
        })
    }
}
