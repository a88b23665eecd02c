//! The blocking-pool port: CPU-heavy work (password hashing) off the async
//! workers, bounded so overload sheds instead of queueing.

use async_trait::async_trait;

/// A bounded pool of threads for CPU-heavy work (password hashing), so that it
/// never blocks the async workers.
#[async_trait]
pub trait BlockingPool: Send + Sync + 'static {
    /// Runs `job` on the pool and waits for it.
    ///
    /// # Errors
    /// [`PoolError::Overloaded`] when the queue is full: the caller sheds the
    /// request (503) instead of queueing without bound.
    async fn run(&self, job: Box<dyn FnOnce() + Send + 'static>) -> Result<(), PoolError>;

    /// Runs `job` for `key` (the normalised client address): a pool that
    /// shares itself fairly lets only a few jobs of one key be queued or
    /// running at once, so one client waits on itself, not on everyone. The
    /// default ignores the key.
    ///
    /// # Errors
    /// As [`BlockingPool::run`]; also [`PoolError::Overloaded`] when `key`
    /// already has too many jobs waiting, or waited too long for its turn.
    async fn run_keyed(&self, key: &str, job: Box<dyn FnOnce() + Send + 'static>) -> Result<(), PoolError> {
        let _ = key;
        self.run(job).await
    }

    /// Waits `duration` without holding a pool thread (the response floor of
    /// refused logins: a timer, not work).
    async fn pause(&self, duration: std::time::Duration);
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
