//! tower integration for axum, tonic or plain hyper services:
//! [`UapAuthLayer`] validates the bearer token of every request (except the
//! excluded paths), inserts the [`AuthenticatedUser`](crate::AuthenticatedUser) into the request
//! extensions and answers 401/403/503 `{"error": ...}` itself.
//!
//! ```no_run
//! use axum::{Extension, Router, routing::get};
//! use uap_client::tower::UapAuthLayer;
//! use uap_client::{AuthenticatedUser, UapClient, Validator};
//!
//! async fn me(Extension(user): Extension<AuthenticatedUser>) -> String {
//!     format!("hello {}", user.user_id)
//! }
//!
//! # fn app() -> anyhow::Result<Router> {
//! let validator = Validator::remote(UapClient::new("http://127.0.0.1:8000")?);
//! let app = Router::new()
//!     .route("/me", get(me))
//!     .route("/health", get(|| async { "ok" }))
//!     .layer(UapAuthLayer::new(validator).exclude(["/health"]));
//! # Ok(app)
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};
use http_body_util::{Either, Full};
use tower_layer::Layer;
use tower_service::Service;

use crate::validator::Validator;
use crate::web::{ExcludedPaths, Rejection, bearer_token};

/// The body of a response through [`UapAuth`]: the inner service's, or the
/// layer's own JSON rejection.
pub type UapBody<B> = Either<B, Full<Bytes>>;

/// Validates the bearer token of each request; see the module docs.
#[derive(Clone, Debug)]
pub struct UapAuthLayer {
    validator: Validator,
    excluded: Arc<ExcludedPaths>,
    roles: Arc<[String]>,
}

impl UapAuthLayer {
    /// Every request needs a valid token.
    #[must_use]
    pub fn new(validator: Validator) -> Self {
        Self { validator, excluded: Arc::new(ExcludedPaths::default()), roles: Arc::from(Vec::new()) }
    }

    /// Paths that skip authentication: exact, or a prefix ending in `*`.
    #[must_use]
    pub fn exclude<I, S>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.excluded = Arc::new(ExcludedPaths::new(paths));
        self
    }

    /// The user must hold any of `roles` (403 otherwise).
    #[must_use]
    pub fn require_roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }
}

impl<S> Layer<S> for UapAuthLayer {
    type Service = UapAuth<S>;

    fn layer(&self, inner: S) -> UapAuth<S> {
        UapAuth { inner, config: self.clone() }
    }
}

/// The service [`UapAuthLayer`] wraps around `S`.
#[derive(Clone, Debug)]
pub struct UapAuth<S> {
    inner: S,
    config: UapAuthLayer,
}

/// The JSON answer of a rejection.
fn reject<B>(rejection: &Rejection) -> Response<UapBody<B>> {
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(rejection.body()))));
    *response.status_mut() = StatusCode::from_u16(rejection.status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(challenge) = rejection.www_authenticate() {
        response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    }
    response
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for UapAuth<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = Response<UapBody<ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        // The clone that was polled ready serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let config = self.config.clone();
        Box::pin(async move {
            if !config.excluded.contains(req.uri().path()) {
                let header = req.headers().get(AUTHORIZATION).and_then(|value| value.to_str().ok());
                let Some(token) = bearer_token(header).map(str::to_owned) else {
                    return Ok(reject(&Rejection::MissingToken));
                };
                let user = match config.validator.validate(&token).await {
                    Ok(user) => user,
                    Err(err) => return Ok(reject(&Rejection::from_error(&err))),
                };
                if !config.roles.is_empty() && !user.has_any_role(&config.roles) {
                    return Ok(reject(&Rejection::MissingRole(config.roles.to_vec())));
                }
                req.extensions_mut().insert(user);
            }
            let response = inner.call(req).await?;
            Ok(response.map(Either::Left))
        })
    }
}
