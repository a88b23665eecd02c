//! [`HttpUserDirectory`]: the host user API (CONTRACT §7) as a
//! [`UserDirectory`] and, in delegated mode, a [`PasswordAuthority`].
//!
//! Routes, under the base URL (which may carry a path prefix):
//!
//! - `POST /auth/validate` `{<field>: value}` for each field of the query in
//!   turn: 200 is the user object (first 200 wins), 404 tries the next field,
//!   404 for every field is no such user. The refresh re-read queries by
//!   `id_field`, sent the same way (`{"<id_field>": "<id>"}`): a host must
//!   accept its id field there too.
//! - `GET /users/{id}/roles`: 200 `{roles: [...]}`, 404 = none. Called by
//!   [`UserDirectory::complete`] (after a successful password check) when the
//!   user object has neither the role field nor `roles`.
//! - `POST /auth/verify` `{<field>: value, password}` (delegated mode only):
//!   200 `{valid, user?}`, 404 = refused.
//! - `GET /health`: 200 when the host can serve.
//!
//! Every call carries `Authorization: Bearer <key>` and waits at most the
//! configured timeout; redirects are not followed. Only the GET routes are
//! retried, once, after a short backoff, and only after a transport failure
//! or a 5xx. Any other failure — another status, a timeout, a refused
//! connection, an answer over 1 MiB — is [`StoreError::Unavailable`] (which
//! feeds the circuit breaker); an answer that is not the documented JSON
//! (not an object, no id key, no password key) is [`StoreError::Backend`].
//! Messages name the route, never the key. The user's identifier is matched
//! as the host decides (`identifier_case_insensitive` is the host's business).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use uap_ports::{Delegated, HostUser, PasswordAuthority, PasswordUpdate, StoreError, UserDirectory, UserQuery};

use crate::error::BuildError;
use crate::response::{self, ReadError};

/// The dependency's name in [`StoreError::Unavailable`] and the log.
pub const HOST_API: &str = "host user API";

/// The largest answer read from the host API.
pub const MAX_HOST_ANSWER_BYTES: usize = 1024 * 1024;

/// The pause before the one retry of a GET.
const RETRY_BACKOFF: Duration = Duration::from_millis(100);

const USER_AGENT: &str = concat!("uap-host-api/", env!("CARGO_PKG_VERSION"));

const VALIDATE: &str = "POST /auth/validate";
const VERIFY: &str = "POST /auth/verify";
const ROLES: &str = "GET /users/{id}/roles";
const HEALTH: &str = "GET /health";

/// The key in a user object that carries a list of roles.
const ROLES_KEY: &str = "roles";

/// The user object's keys, as named by the section-2 fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostApiFields {
    /// `id_field`.
    pub id: String,
    /// `password_field` (holds the stored hash; absent in delegated mode).
    pub password: String,
    /// `role_field` (a string); `None` when disabled.
    pub role: Option<String>,
    /// `active_field`; `None` when disabled.
    pub active: Option<String>,
    /// `inactive_field`; `None` when unset. A user object where this key is
    /// set (not absent, `null`, `false`, `0` or `""`) cannot log in.
    pub inactive: Option<String>,
}

/// How to reach the host API.
#[derive(Clone)]
pub struct HostApiConfig {
    /// `host_api_base_url`: an absolute `http`/`https` URL.
    pub base_url: String,
    /// `host_api_key`, sent as `Authorization: Bearer`.
    pub api_key: SecretString,
    /// `host_api_timeout_ms`, per call.
    pub timeout: Duration,
    /// The user object's keys.
    pub fields: HostApiFields,
    /// `host_api_verifies_password`: the host checks passwords
    /// (`POST /auth/verify`); user objects carry no password key.
    pub verifies_password: bool,
}

impl fmt::Debug for HostApiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostApiConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &"***")
            .field("timeout", &self.timeout)
            .field("fields", &self.fields)
            .field("verifies_password", &self.verifies_password)
            .finish()
    }
}

/// Whether a password may be sent to `url`: only over `https://`, or to a
/// loopback address (`localhost`, 127.0.0.0/8, `::1`). `false` for a URL
/// that does not parse.
#[must_use]
pub fn password_route_allowed(url: &str) -> bool {
    let Ok(url) = Url::parse(url) else {
        return false;
    };
    let Some(host) = url.host_str() else {
        return false;
    };
    match url.scheme() {
        "https" => true,
        "http" => {
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            host.eq_ignore_ascii_case("localhost") || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        _ => false,
    }
}

/// Checks that `url` is an absolute `http`/`https` URL with a host.
///
/// # Errors
/// What is wrong with it.
pub fn check_base_url(url: &str) -> Result<(), String> {
    let parsed = Url::parse(url).map_err(|e| format!("is not an absolute URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("must be an http:// or https:// URL, not {}://", parsed.scheme()));
    }
    if parsed.host().is_none() {
        return Err("has no host".into());
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err("must not carry a query or a fragment".into());
    }
    Ok(())
}

/// The host user API of CONTRACT §7.
#[derive(Clone)]
pub struct HttpUserDirectory {
    client: reqwest::Client,
    base: Url,
    key: SecretString,
    timeout: Duration,
    fields: HostApiFields,
    verifies_password: bool,
}

impl fmt::Debug for HttpUserDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpUserDirectory")
            .field("base", &self.base_url())
            .field("key", &"***")
            .field("timeout", &self.timeout)
            .field("verifies_password", &self.verifies_password)
            .finish_non_exhaustive()
    }
}

/// What a call brought back: a status and a bounded body.
struct Answer {
    status: StatusCode,
    body: Vec<u8>,
}

impl HttpUserDirectory {
    /// A directory over the host API `config` describes. Nothing is sent
    /// yet (see [`UserDirectory::health`]).
    ///
    /// # Errors
    /// [`BuildError::HostApi`] naming the key for a base URL that is not an
    /// absolute `http`/`https` URL, a zero timeout, or delegated mode over
    /// plain HTTP to a non-loopback host; [`BuildError::Client`] when TLS
    /// cannot be set up.
    pub fn new(config: HostApiConfig) -> Result<Self, BuildError> {
        check_base_url(&config.base_url)
            .map_err(|reason| BuildError::HostApi(format!("host_api_base_url {reason}")))?;
        if config.timeout.is_zero() {
            return Err(BuildError::HostApi("host_api_timeout_ms must be greater than zero".into()));
        }
        if config.verifies_password && !password_route_allowed(&config.base_url) {
            return Err(BuildError::HostApi(
                "host_api_verifies_password = true sends passwords to the host: host_api_base_url must be \
                 https:// or a loopback address"
                    .into(),
            ));
        }
        let base = Url::parse(&config.base_url)
            .map_err(|e| BuildError::HostApi(format!("host_api_base_url is not an absolute URL ({e})")))?;
        Ok(Self {
            client: response::client(USER_AGENT)?,
            base,
            key: config.api_key,
            timeout: config.timeout,
            fields: config.fields,
            verifies_password: config.verifies_password,
        })
    }

    /// The base URL, for messages: any user name and password in it are
    /// left out.
    #[must_use]
    pub fn base_url(&self) -> String {
        let mut url = self.base.clone();
        let _ = url.set_password(None);
        let _ = url.set_username("");
        url.to_string()
    }

    /// Whether this directory runs in delegated mode.
    #[must_use]
    pub fn verifies_password(&self) -> bool {
        self.verifies_password
    }

    /// The URL of `segments` under the base.
    fn url(&self, route: &'static str, segments: &[&str]) -> Result<Url, StoreError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| StoreError::backend(format!("{HOST_API} {route}: the base URL cannot take a path")))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// One call: the status and the body, at most [`MAX_HOST_ANSWER_BYTES`].
    async fn call(
        &self,
        route: &'static str,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Answer, Failure> {
        let mut request = self
            .client
            .request(method, url)
            .timeout(self.timeout)
            .header(ACCEPT, "application/json")
            .header(AUTHORIZATION, format!("Bearer {}", self.key.expose_secret()));
        if let Some(body) = body {
            let bytes = serde_json::to_vec(body)
                .map_err(|e| Failure::Fatal(StoreError::backend(format!("{HOST_API} {route}: {e}"))))?;
            request = request.header(CONTENT_TYPE, "application/json").body(bytes);
        }
        let answer = request.send().await.map_err(|err| {
            Failure::Transient(unavailable(route, &format!("no answer: {}", response::describe(err, self.timeout))))
        })?;
        let status = answer.status();
        let body =
            response::read_limited(answer, self.timeout, MAX_HOST_ANSWER_BYTES).await.map_err(|err| match err {
                ReadError::Transport(text) => {
                    Failure::Transient(unavailable(route, &format!("answer cut short: {text}")))
                }
                ReadError::TooLarge => Failure::Fatal(unavailable(
                    route,
                    &format!("answer larger than {} MiB", MAX_HOST_ANSWER_BYTES / (1024 * 1024)),
                )),
            })?;
        Ok(Answer { status, body })
    }

    /// A GET, retried once after [`RETRY_BACKOFF`] when the first attempt
    /// failed in transport or answered 5xx.
    async fn get(&self, route: &'static str, url: Url) -> Result<Answer, StoreError> {
        let first = match self.call(route, Method::GET, url.clone(), None).await {
            Ok(answer) if !answer.status.is_server_error() => return Ok(answer),
            Ok(answer) => answer_failure(route, &answer),
            Err(Failure::Transient(err)) => err,
            Err(Failure::Fatal(err)) => return Err(err),
        };
        tracing::debug!(route, error = %first, "host API GET failed; retrying once");
        tokio::time::sleep(RETRY_BACKOFF).await;
        self.call(route, Method::GET, url, None).await.map_err(Failure::into_error)
    }

    /// A POST, never retried.
    async fn post(&self, route: &'static str, segments: &[&str], body: &Value) -> Result<Answer, StoreError> {
        let url = self.url(route, segments)?;
        self.call(route, Method::POST, url, Some(body)).await.map_err(Failure::into_error)
    }

    /// The user object of an answer, mapped per §7.
    fn user(&self, route: &'static str, body: &[u8], with_password: bool) -> Result<HostUser, StoreError> {
        let object = json_object(route, body)?;
        self.user_from(route, object, with_password)
    }

    fn user_from(
        &self,
        route: &'static str,
        mut object: Map<String, Value>,
        with_password: bool,
    ) -> Result<HostUser, StoreError> {
        let fields = &self.fields;
        let id = match object.get(&fields.id) {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(_) => {
                return Err(bad(
                    route,
                    &format!("the user object's id key `{}` is not a string or a number", fields.id),
                ));
            }
            None => return Err(bad(route, &format!("the user object has no id key `{}`", fields.id))),
        };
        let stored = object.remove(&fields.password);
        let password_hash = if with_password {
            match stored {
                Some(Value::String(s)) => Some(s).filter(|s| !s.is_empty()),
                Some(Value::Null) => None,
                Some(_) => {
                    return Err(bad(
                        route,
                        &format!("the user object's password key `{}` is not a string", fields.password),
                    ));
                }
                None => return Err(bad(route, &format!("the user object has no password key `{}`", fields.password))),
            }
        } else {
            None
        };
        let mut roles = Vec::new();
        if let Some(role) = fields.role.as_ref().and_then(|key| object.get(key)) {
            match role {
                Value::String(s) if !s.is_empty() => roles.push(s.clone()),
                Value::String(_) | Value::Null => {}
                _ => {
                    return Err(bad(
                        route,
                        &format!(
                            "the user object's role key `{}` is not a string",
                            fields.role.as_deref().unwrap_or_default()
                        ),
                    ));
                }
            }
        }
        if let Some(list) = object.get(ROLES_KEY) {
            roles.extend(role_list(route, list)?);
        }
        dedup(&mut roles);
        // Either key refusing wins.
        let active = fields.active.as_ref().and_then(|key| object.get(key)).map(truthy);
        let inactive = fields.inactive.as_ref().map(|key| object.get(key).is_some_and(is_set));
        let active = match (active, inactive) {
            (Some(a), Some(set)) => Some(a && !set),
            (a, set) => a.or(set.map(|set| !set)),
        };
        Ok(HostUser { id, password_hash, active, roles, attributes: object })
    }

    /// Whether the lookup left the roles to the roles route: the object has
    /// neither the role field nor `roles`.
    fn roles_deferred(&self, user: &HostUser) -> bool {
        !user.attributes.contains_key(ROLES_KEY)
            && self.fields.role.as_ref().is_none_or(|key| !user.attributes.contains_key(key))
    }

    /// `GET /users/{id}/roles`.
    async fn fetch_roles(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        let url = self.url(ROLES, &["users", user_id, "roles"])?;
        let answer = self.get(ROLES, url).await?;
        match answer.status {
            StatusCode::OK => {
                let object = json_object(ROLES, &answer.body)?;
                let list = object.get(ROLES_KEY).ok_or_else(|| bad(ROLES, "the answer has no `roles` key"))?;
                let mut roles = role_list(ROLES, list)?;
                dedup(&mut roles);
                Ok(roles)
            }
            StatusCode::NOT_FOUND => Ok(Vec::new()),
            _ => Err(answer_failure(ROLES, &answer)),
        }
    }
}

/// A failed call: `Transient` ones may be retried (GETs only).
enum Failure {
    Transient(StoreError),
    Fatal(StoreError),
}

impl Failure {
    fn into_error(self) -> StoreError {
        match self {
            Self::Transient(err) | Self::Fatal(err) => err,
        }
    }
}

fn unavailable(route: &'static str, detail: &str) -> StoreError {
    StoreError::unavailable(HOST_API, format!("{route}: {detail}"))
}

fn bad(route: &'static str, detail: &str) -> StoreError {
    StoreError::backend(format!("{HOST_API} {route}: {detail}"))
}

/// An answer whose status the route does not document.
fn answer_failure(route: &'static str, answer: &Answer) -> StoreError {
    unavailable(route, &format!("host answered HTTP {}", answer.status))
}

/// The answer as a JSON object. Messages never quote the body: a user
/// object holds a password hash.
fn json_object(route: &'static str, body: &[u8]) -> Result<Map<String, Value>, StoreError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(other) => Err(bad(route, &format!("the answer is not a JSON object but {}", kind(&other)))),
        Err(err) => Err(bad(route, &format!("the answer is not JSON ({err}, {} bytes)", body.len()))),
    }
}

/// What a JSON value is, for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn role_list(route: &'static str, list: &Value) -> Result<Vec<String>, StoreError> {
    match list {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .filter(|item| !matches!(item, Value::String(s) if s.is_empty()))
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                _ => Err(bad(route, "`roles` holds something other than strings")),
            })
            .collect(),
        _ => Err(bad(route, "`roles` is not a list")),
    }
}

fn dedup(roles: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    roles.retain(|role| seen.insert(role.clone()));
}

/// An "is active" flag: booleans, numbers (non-zero), and the usual words.
/// `null` and anything unrecognised count as inactive.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Value::String(s) => uap_ports::flag_value(s) == Some(true),
        Value::Null | Value::Array(_) | Value::Object(_) => false,
    }
}

/// An "is inactive" marker: set unless `null`, `false`, `0`, or a string
/// that is empty or a "no" word (`0`, `false`, `f`, `no`, `n`, `off`). Any
/// other string (a timestamp, a reason), array or object is set.
fn is_set(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_none_or(|n| n != 0.0),
        Value::String(s) => uap_ports::marker_set(s),
        Value::Array(_) | Value::Object(_) => true,
    }
}

#[async_trait]
impl UserDirectory for HttpUserDirectory {
    async fn find_user(&self, query: &UserQuery) -> Result<Option<HostUser>, StoreError> {
        for field in &query.fields {
            let body = Value::Object(Map::from_iter([(field.clone(), Value::String(query.value.clone()))]));
            let answer = self.post(VALIDATE, &["auth", "validate"], &body).await?;
            match answer.status {
                StatusCode::OK => return self.user(VALIDATE, &answer.body, !self.verifies_password).map(Some),
                StatusCode::NOT_FOUND => {}
                _ => return Err(answer_failure(VALIDATE, &answer)),
            }
        }
        Ok(None)
    }

    fn defers(&self, user: &HostUser) -> bool {
        self.roles_deferred(user)
    }

    async fn complete(&self, mut user: HostUser) -> Result<HostUser, StoreError> {
        if self.roles_deferred(&user) {
            user.roles = self.fetch_roles(&user.id).await?;
        }
        Ok(user)
    }

    async fn update_password_hash(&self, _: &str, _: &str, _: &str) -> Result<PasswordUpdate, StoreError> {
        // The host API has no write route.
        Ok(PasswordUpdate::Unsupported)
    }

    async fn health(&self) -> Result<(), StoreError> {
        let url = self.url(HEALTH, &["health"])?;
        let answer = self.get(HEALTH, url).await?;
        if answer.status == StatusCode::OK { Ok(()) } else { Err(answer_failure(HEALTH, &answer)) }
    }
}

#[async_trait]
impl PasswordAuthority for HttpUserDirectory {
    async fn verify_password(&self, query: &UserQuery, password: &str) -> Result<Delegated, StoreError> {
        if !self.verifies_password {
            return Err(StoreError::Misconfigured(
                "POST /auth/verify is used only with host_api_verifies_password = true".into(),
            ));
        }
        for field in &query.fields {
            let body = Value::Object(Map::from_iter([
                (field.clone(), Value::String(query.value.clone())),
                ("password".to_owned(), Value::String(password.to_owned())),
            ]));
            let answer = self.post(VERIFY, &["auth", "verify"], &body).await?;
            match answer.status {
                StatusCode::OK => {}
                StatusCode::NOT_FOUND => continue,
                _ => return Err(answer_failure(VERIFY, &answer)),
            }
            let mut object = json_object(VERIFY, &answer.body)?;
            return match object.get("valid") {
                Some(Value::Bool(false)) => Ok(Delegated::Refused),
                Some(Value::Bool(true)) => match object.remove("user") {
                    Some(Value::Object(user)) => Ok(Delegated::Accepted(self.user_from(VERIFY, user, false)?)),
                    _ => Err(bad(VERIFY, "the answer is `valid: true` without a `user` object")),
                },
                _ => Err(bad(VERIFY, "the answer has no boolean `valid` key")),
            };
        }
        Ok(Delegated::Refused)
    }
}
