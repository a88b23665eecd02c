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
