//! Runs the stack in order, times every run, and records it
//! (`uap_middleware_logs` through the sink, the histogram through the
//! observer).

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use tracing::Instrument as _;
use uap_ports::{Clock, IdGenerator, MiddlewareLogSink, MiddlewareRun};

use super::{Decision, LoginAttempt, LoginFailure, Middleware, MiddlewareError, Refusal, VerifiedUser};

/// Receives the duration of every middleware run (the server feeds
/// `uap_middleware_execution_seconds`) and the outcome of every password
/// verification of a stored hash (`uap_password_verifications_total`).
pub trait RunObserver: Send + Sync + 'static {
    /// `name` ran for `seconds`.
    fn observe(&self, name: &str, seconds: f64);

    /// A stored hash of `family` ([`crate::password::HashFormat::family_name`],
    /// or "unknown") was verified with `outcome` ("match", "mismatch",
    /// "unsupported").
    fn password_verified(&self, family: &'static str, outcome: &'static str) {
        let _ = (family, outcome);
    }
}

/// The trace span of one middleware run (trace level: free unless a tracing
/// exporter asks for it).
fn run_span(name: &str, hook: &'static str) -> tracing::Span {
    tracing::trace_span!("uap.middleware", middleware = name, hook)
}

/// One configured middleware.
pub struct PipelineEntry {
    pub name: String,
    pub middleware: Arc<dyn Middleware>,
}

/// The ordered stack.
pub struct Pipeline {
    entries: Vec<PipelineEntry>,
    log: Arc<dyn MiddlewareLogSink>,
    observer: Arc<dyn RunObserver>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.entries.iter().map(|e| &e.name)).finish()
    }
}

/// What one hook produced, for the log.
enum Outcome<'a> {
    Decided(&'a Decision),
    Notified,
    Failed(&'a MiddlewareError),
}

impl Pipeline {
    /// A pipeline over `entries`, in order.
    #[must_use]
    pub fn new(
        entries: Vec<PipelineEntry>,
        log: Arc<dyn MiddlewareLogSink>,
        observer: Arc<dyn RunObserver>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        Self { entries, log, observer, clock, ids }
    }

    /// The observer of runs and verifications.
    #[must_use]
    pub fn observer(&self) -> &dyn RunObserver {
        self.observer.as_ref()
    }

    /// The configured names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.name.as_str())
    }

    /// Runs every `pre_authenticate` until one does not continue.
    ///
    /// # Errors
    /// The first [`MiddlewareError`] (fail closed).
    pub async fn pre_authenticate(&self, attempt: &LoginAttempt) -> Result<Decision, MiddlewareError> {
        for (order, entry) in self.entries.iter().enumerate() {
            let started = Instant::now();
            let result =
                entry.middleware.pre_authenticate(attempt).instrument(run_span(&entry.name, "pre_authenticate")).await;
            self.record(order, entry, "pre_authenticate", attempt, started, outcome(&result), None).await;
            match result? {
                Decision::Continue => {}
                other => return Ok(other),
            }
        }
        Ok(Decision::Continue)
    }

    /// Runs every `before_verify` until one does not continue.
    ///
    /// # Errors
    /// The first [`MiddlewareError`] (fail closed).
    pub async fn before_verify(
        &self,
        attempt: &LoginAttempt,
        user_id: Option<&str>,
    ) -> Result<Decision, MiddlewareError> {
        for (order, entry) in self.entries.iter().enumerate() {
            let started = Instant::now();
            let result = entry
                .middleware
                .before_verify(attempt, user_id)
                .instrument(run_span(&entry.name, "before_verify"))
                .await;
            self.record(order, entry, "before_verify", attempt, started, outcome(&result), None).await;
            match result? {
                Decision::Continue => {}
                other => return Ok(other),
            }
        }
        Ok(Decision::Continue)
    }

    /// Runs every `post_authenticate` until one does not continue.
    ///
    /// # Errors
    /// The first [`MiddlewareError`] (fail closed).
    pub async fn post_authenticate(
        &self,
        attempt: &LoginAttempt,
        user: &VerifiedUser,
    ) -> Result<Decision, MiddlewareError> {
        for (order, entry) in self.entries.iter().enumerate() {
            let started = Instant::now();
            let result = entry
                .middleware
                .post_authenticate(attempt, user)
                .instrument(run_span(&entry.name, "post_authenticate"))
                .await;
            self.record(order, entry, "post_authenticate", attempt, started, outcome(&result), None).await;
            match result? {
                Decision::Continue => {}
                other => return Ok(other),
            }
        }
        Ok(Decision::Continue)
    }

    /// Runs every `on_failure`; errors are logged, never raised (the login
    /// is already refused).
    pub async fn on_failure(&self, attempt: &LoginAttempt, failure: &LoginFailure) {
        for (order, entry) in self.entries.iter().enumerate() {
            let started = Instant::now();
            let result =
                entry.middleware.on_failure(attempt, failure).instrument(run_span(&entry.name, "on_failure")).await;
            let outcome = match &result {
                Ok(()) => Outcome::Notified,
                Err(err) => {
                    tracing::warn!(middleware = %entry.name, error = %err, "on_failure hook failed");
                    Outcome::Failed(err)
                }
            };
            self.record(order, entry, "on_failure", attempt, started, outcome, Some(&failure.reason)).await;
        }
    }

    #[expect(clippy::too_many_arguments, reason = "one record per run, all parts needed")]
    async fn record(
        &self,
        order: usize,
        entry: &PipelineEntry,
        phase: &'static str,
        attempt: &LoginAttempt,
        started: Instant,
        outcome: Outcome<'_>,
        failure_reason: Option<&str>,
    ) {
        let elapsed = started.elapsed();
        self.observer.observe(&entry.name, elapsed.as_secs_f64());
        let (success, error, output) = match outcome {
            Outcome::Decided(Decision::Continue) => (true, None, json!({ "action": "continue" })),
            Outcome::Decided(Decision::Block(block)) => (
                false,
                Some(block.reason.clone()),
                json!({ "action": "block", "refusal": refusal_name(block.refusal), "retry_after": block.retry_after() }),
            ),
            Outcome::Decided(Decision::Challenge(_)) => {
                (false, Some("challenge".to_owned()), json!({ "action": "challenge" }))
            }
            Outcome::Notified => (true, None, json!({ "action": "notified" })),
            Outcome::Failed(err) => (false, Some(err.to_string()), json!({ "action": "error" })),
        };
        let run = MiddlewareRun {
            id: self.ids.new_id(),
            session_id: None,
            middleware_name: entry.name.clone(),
            execution_order: u32::try_from(order).unwrap_or(u32::MAX),
            phase,
            execution_time_ms: u32::try_from(elapsed.as_millis()).unwrap_or(u32::MAX),
            success,
            error_message: error,
            input_data: json!({
                "phase": phase,
                "identifier": attempt.identifier,
                "ip": attempt.ip.map(|ip| ip.to_string()),
                "failure_reason": failure_reason,
            }),
            output_data: output,
            timestamp: self.clock.now(),
        };
        if let Err(err) = self.log.write_runs(std::slice::from_ref(&run)).await {
            tracing::error!(error = %err, "middleware log queue refused a run");
        }
    }
}

fn outcome(result: &Result<Decision, MiddlewareError>) -> Outcome<'_> {
    match result {
        Ok(decision) => Outcome::Decided(decision),
        Err(err) => Outcome::Failed(err),
    }
}

/// An observer that ignores durations (tests, embedding without metrics).
#[derive(Debug, Default)]
pub struct NoObserver;

impl RunObserver for NoObserver {
    fn observe(&self, _name: &str, _seconds: f64) {}
}

/// The `refusal` recorded in a middleware run's `output_data`.
const fn refusal_name(refusal: Refusal) -> &'static str {
    match refusal {
        Refusal::Unauthorized => "unauthorized",
        Refusal::Forbidden => "forbidden",
        Refusal::RateLimited { .. } => "rate_limited",
    }
}
