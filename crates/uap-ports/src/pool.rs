//! The blocking-pool port: CPU-heavy work (password hashing) off the async
//! workers, bounded so overload sheds instead of queueing.

use std::any::Any;

use async_trait::async_trait;

/// What a job returns, typed back by [`compute`].
pub type JobOutput = Box<dyn Any + Send>;

/// A job for the pool.
pub type Job = Box<dyn FnOnce() -> JobOutput + Send + 'static>;

/// A bounded pool of threads for CPU-heavy work (password hashing), so that it
/// never blocks the async workers.
#[async_trait]
pub trait BlockingPool: Send + Sync + 'static {
    /// Runs `job` on the pool and returns what it returned ([`compute`] is
    /// the typed way to call it).
    ///
    /// # Errors
    /// [`PoolError::Overloaded`] when the queue is full: the caller sheds the
    /// request (503) instead of queueing without bound.
    async fn run(&self, job: Job) -> Result<JobOutput, PoolError>;

    /// Runs `job` for `key` (the normalised client address): a pool that
    /// shares itself fairly lets only a few jobs of one key be queued or
    /// running at once, so one client waits on itself, not on everyone. The
    /// default ignores the key.
    ///
    /// # Errors
    /// As [`BlockingPool::run`]; also [`PoolError::Overloaded`] when `key`
    /// already has too many jobs waiting, or waited too long for its turn.
    async fn run_keyed(&self, key: &str, job: Job) -> Result<JobOutput, PoolError> {
        let _ = key;
        self.run(job).await
    }

    /// Waits `duration` without holding a pool thread (the response floor of
    /// refused logins: a timer, not work).
    async fn pause(&self, duration: std::time::Duration);
}

/// Runs `job` on `pool` in the share of `key` and returns its result.
///
/// # Errors
/// As [`BlockingPool::run_keyed`].
pub async fn compute<T: Send + 'static>(
    pool: &dyn BlockingPool,
    key: &str,
    job: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PoolError> {
    let output = pool.run_keyed(key, Box::new(move || Box::new(job()) as JobOutput)).await?;
    // A pool returns the output of the job it was given; anything else is a
    // broken pool, and the caller fails closed.
    output.downcast::<T>().map(|value| *value).map_err(|_| PoolError::Failed)
}

/// Why a job did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// Too many jobs are already waiting.
    #[error("too many password checks in progress")]
    Overloaded,
    /// The job panicked or the pool shut down.
    #[error("password check failed to run")]
    Failed,
}
