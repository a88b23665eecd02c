//! In-memory stand-ins for the ports the domain uses.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::macros::datetime;
use uap_domain::AuditRecorder;
use uap_domain::auth::{AuthParts, AuthService, AuthSettings, MfaService};
use uap_domain::config::JwtAlgorithm;
use uap_domain::memory::{ManualClock, MemoryEventBus, MemoryRateLimitStore, MemorySessionStore, SequentialIds};
use uap_domain::password::{Argon2Params, PasswordPolicy};
use uap_domain::pipeline::{Block, NoObserver, Pipeline, PipelineEntry, Refusal};
use uap_domain::session::{SessionManager, SessionPolicy, TokenService};
use uap_ports::{
    AuditEvent, AuditEventType, AuditSink, BlockingPool, BusEvent, Delegated, EventBus, HostUser, Job, JobOutput,
    MiddlewareLogSink, MiddlewareRun, PasswordAuthority, PasswordUpdate, PoolError, StoreError, UserDirectory,
    UserQuery,
};

pub const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);
pub const SECRET: &str = "0123456789abcdef0123456789abcdef";

/// Records every event.
#[derive(Default)]
pub struct Events(pub Mutex<Vec<AuditEvent>>);

impl Events {
    pub fn of(&self, kind: AuditEventType) -> Vec<AuditEvent> {
        self.0.lock().unwrap().iter().filter(|e| e.event_type == kind).cloned().collect()
    }
}

#[async_trait]
impl AuditSink for Events {
    async fn write_batch(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        self.0.lock().unwrap().extend_from_slice(events);
        Ok(())
    }
}

/// Runs jobs inline.
pub struct Inline;

#[async_trait]
impl BlockingPool for Inline {
    async fn run(&self, job: Job) -> Result<JobOutput, PoolError> {
        Ok(job())
    }

    async fn pause(&self, _duration: std::time::Duration) {}
}

/// A host table in a vector; records compare-and-set writes.
#[derive(Default)]
pub struct Directory {
    pub users: Mutex<Vec<HostUser>>,
    pub down: Mutex<bool>,
    /// Delegated mode: the plain password of each user id, which the fake
    /// host checks itself (users then carry no hash).
    pub passwords: Mutex<std::collections::HashMap<String, String>>,
    /// Roles [`UserDirectory::complete`] adds (a roles route), by user id.
    pub deferred_roles: Mutex<std::collections::HashMap<String, Vec<String>>>,
    /// Calls of `verify_password`.
    pub verifications: Mutex<Vec<UserQuery>>,
}

impl Directory {
    pub fn add(&self, id: &str, username: &str, hash: &str, active: Option<bool>, roles: &[&str]) {
        let Value::Object(attributes): Value =
            json!({ "username": username, "email": format!("{username}@x"), "api_token": "t" })
        else {
            unreachable!()
        };
        self.users.lock().unwrap().push(HostUser {
            id: id.into(),
            password_hash: Some(hash.into()).filter(|h: &String| !h.is_empty()),
            active,
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            attributes: attributes.into_iter().collect::<Map<_, _>>(),
        });
    }

    pub fn hash_of(&self, id: &str) -> Option<String> {
        self.users.lock().unwrap().iter().find(|u| u.id == id).and_then(|u| u.password_hash.clone())
    }
}

#[async_trait]
impl UserDirectory for Directory {
    async fn find_user(&self, query: &UserQuery) -> Result<Option<HostUser>, StoreError> {
        if *self.down.lock().unwrap() {
            return Err(StoreError::Unavailable { what: "host database", source: None });
        }
        Ok(self
            .users
            .lock()
            .unwrap()
            .iter()
            .find(|u| {
                query.fields.iter().any(|f| {
                    (f == "id" && u.id == query.value)
                        || u.attributes.get(f).and_then(Value::as_str) == Some(query.value.as_str())
                })
            })
            .cloned())
    }

    async fn update_password_hash(&self, id: &str, old: &str, new: &str) -> Result<PasswordUpdate, StoreError> {
        let mut users = self.users.lock().unwrap();
        let Some(user) = users.iter_mut().find(|u| u.id == id) else { return Ok(PasswordUpdate::Stale) };
        if user.password_hash.as_deref() != Some(old) {
            return Ok(PasswordUpdate::Stale);
        }
        user.password_hash = Some(new.into());
        Ok(PasswordUpdate::Updated)
    }

    fn defers(&self, user: &HostUser) -> bool {
        self.deferred_roles.lock().unwrap().contains_key(&user.id)
    }

    async fn complete(&self, mut user: HostUser) -> Result<HostUser, StoreError> {
        if let Some(roles) = self.deferred_roles.lock().unwrap().get(&user.id) {
            user.roles.clone_from(roles);
        }
        Ok(user)
    }

    async fn health(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl PasswordAuthority for Directory {
    async fn verify_password(&self, query: &UserQuery, password: &str) -> Result<Delegated, StoreError> {
        self.verifications.lock().unwrap().push(query.clone());
        let Some(mut user) = self.find_user(query).await? else {
            return Ok(Delegated::Refused);
        };
        if self.passwords.lock().unwrap().get(&user.id).map(String::as_str) != Some(password) {
            return Ok(Delegated::Refused);
        }
        user.password_hash = None;
        Ok(Delegated::Accepted(user))
    }
}

/// Everything wired over fakes.
pub struct World {
    pub clock: Arc<ManualClock>,
    pub store: Arc<MemorySessionStore>,
    pub events: Arc<Events>,
    pub directory: Arc<Directory>,
    pub auth: AuthService,
    /// Everything announced on the event bus, in order.
    pub announced: Arc<Mutex<Vec<BusEvent>>>,
}

/// What a test world is configured with: the typed parts the server's
/// configuration would produce.
#[derive(Debug, Clone)]
pub struct Settings {
    pub auth: AuthSettings,
    pub sessions: SessionPolicy,
    /// The directory also checks passwords itself (delegated mode).
    pub delegated: bool,
}

impl Settings {
    /// The password policy.
    pub fn policy(&self) -> &PasswordPolicy {
        &self.auth.policy
    }

    /// With the session rules changed by `change`.
    pub fn sessions(mut self, change: impl FnOnce(&mut SessionPolicy)) -> Self {
        change(&mut self.sessions);
        self
    }

    /// With the login rules changed by `change`.
    pub fn auth(mut self, change: impl FnOnce(&mut AuthSettings)) -> Self {
        change(&mut self.auth);
        self
    }
}

/// The defaults with cheap hashes (argon2 64 KiB × 1, bcrypt cost 4).
pub fn fast_settings() -> Settings {
    let policy = PasswordPolicy {
        argon2: Argon2Params { memory_kib: 64, iterations: 1, parallelism: 1 },
        bcrypt_cost: 4,
        ..PasswordPolicy::default()
    };
    Settings {
        auth: AuthSettings { policy, ..AuthSettings::default() },
        sessions: SessionPolicy::default(),
        delegated: false,
    }
}

/// Drops middleware runs.
pub struct NoRuns;

#[async_trait]
impl MiddlewareLogSink for NoRuns {
    async fn write_runs(&self, _runs: &[MiddlewareRun]) -> Result<(), StoreError> {
        Ok(())
    }
}

pub fn world(settings: Settings) -> World {
    world_with(settings, |_| (Vec::new(), None))
}

/// What a test's middleware stack may be built over.
pub struct Parts {
    pub clock: Arc<ManualClock>,
    pub ids: Arc<SequentialIds>,
    pub events: Arc<Events>,
    pub rate_limits: Arc<MemoryRateLimitStore>,
}

impl Parts {
    pub fn audit(&self) -> AuditRecorder {
        AuditRecorder::new(self.events.clone(), self.clock.clone(), self.ids.clone())
    }
}

pub fn world_with(
    settings: Settings,
    stack: impl FnOnce(&Parts) -> (Vec<PipelineEntry>, Option<Arc<MfaService>>),
) -> World {
    let clock = Arc::new(ManualClock::new(T0));
    let store = Arc::new(MemorySessionStore::new());
    let events = Arc::new(Events::default());
    let directory = Arc::new(Directory::default());
    let rate_limits = Arc::new(MemoryRateLimitStore::new());
    let ids = Arc::new(SequentialIds::default());
    let parts =
        Parts { clock: clock.clone(), ids: ids.clone(), events: events.clone(), rate_limits: rate_limits.clone() };
    let (pipeline, mfa) = stack(&parts);
    let audit = AuditRecorder::new(events.clone(), clock.clone(), ids.clone());
    let tokens = TokenService::new(JwtAlgorithm::HS256, SECRET.as_bytes(), "UAP".into(), None).unwrap();
    let dummy = uap_domain::password::dummy_hash(settings.policy()).unwrap();
    let dummy = uap_domain::password::StoredHash::parse(&dummy, settings.policy()).unwrap();
    let bus = Arc::new(MemoryEventBus::new());
    let announced = Arc::new(Mutex::new(Vec::new()));
    let heard = announced.clone();
    futures::executor::block_on(bus.subscribe(Arc::new(move |event| heard.lock().unwrap().push(event)))).unwrap();
    let sessions =
        SessionManager::new(store.clone(), tokens, settings.sessions, clock.clone(), ids.clone(), audit.clone(), bus);
    let pipeline = Pipeline::new(pipeline, Arc::new(NoRuns), Arc::new(NoObserver), clock.clone(), ids.clone());
    let authority = settings.delegated.then(|| directory.clone() as Arc<dyn PasswordAuthority>);
    let auth = AuthService::new(AuthParts {
        directory: directory.clone(),
        authority,
        sessions,
        pool: Arc::new(Inline),
        settings: settings.auth,
        dummy_hash: dummy,
        audit,
        pipeline: Arc::new(pipeline),
        mfa,
        tickets: rate_limits.clone(),
        clock: clock.clone(),
    });
    World { clock, store, events, directory, auth, announced }
}

/// The HTTP status a block maps to (as the server's error mapping does).
pub fn block_status(block: &Block) -> u16 {
    match block.refusal {
        Refusal::Unauthorized => 401,
        Refusal::Forbidden => 403,
        Refusal::RateLimited { .. } => 429,
    }
}
