//! The bounded blocking pool for password hashing: at most `threads` jobs run
//! at once (one per core: hashing is CPU-bound, more threads only add
//! contention), at most `queue` wait; past that a login is shed with 503
//! instead of queueing without bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use tokio::sync::Semaphore;
use uap_ports::{BlockingPool, PoolError};

/// [`BlockingPool`] over tokio's blocking threads, bounded by a semaphore.
#[derive(Debug)]
pub struct HashPool {
    running: Arc<Semaphore>,
    pending: AtomicUsize,
    max_pending: usize,
}

impl HashPool {
    /// A pool running `threads` jobs at once with up to `queue` more waiting.
    #[must_use]
    pub fn new(threads: usize, queue: usize) -> Self {
        Self {
            running: Arc::new(Semaphore::new(threads.max(1))),
            pending: AtomicUsize::new(0),
            max_pending: threads.max(1) + queue,
        }
    }

    /// One thread per available core, and 64 waiting jobs per core.
    #[must_use]
    pub fn per_core() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self::new(cores, 64 * cores)
    }
}

/// Decrements the pending count however the job ends (including cancellation
/// of the waiting request).
struct Pending<'a>(&'a AtomicUsize);

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[async_trait]
impl BlockingPool for HashPool {
    async fn run(&self, job: Box<dyn FnOnce() + Send + 'static>) -> Result<(), PoolError> {
        if self.pending.fetch_add(1, Ordering::AcqRel) >= self.max_pending {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            return Err(PoolError::Overloaded);
        }
        let _pending = Pending(&self.pending);
        let permit = Arc::clone(&self.running).acquire_owned().await.map_err(|_| PoolError::Failed)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            job();
        })
        .await
        .map_err(|_| PoolError::Failed)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;

    #[tokio::test]
    async fn runs_jobs_and_sheds_past_the_queue() {
        let pool = Arc::new(HashPool::new(1, 1));
        let done = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&done);
        pool.run(Box::new(move || flag.store(true, Ordering::SeqCst))).await.unwrap();
        assert!(done.load(Ordering::SeqCst));

        // Hold the only thread, fill the one queue slot, then the next is shed.
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
        let blocker = {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move {
                pool.run(Box::new(move || {
                    let _ = started_tx.send(());
                    let _ = release_rx.recv();
                }))
                .await
            })
        };
        started_rx.await.unwrap();
        let queued = {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move { pool.run(Box::new(|| {})).await })
        };
        while pool.pending.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        assert_eq!(pool.run(Box::new(|| {})).await, Err(PoolError::Overloaded));
        release_tx.send(()).unwrap();
        assert_eq!(blocker.await.unwrap(), Ok(()));
        assert_eq!(queued.await.unwrap(), Ok(()));
        assert_eq!(pool.pending.load(Ordering::SeqCst), 0);
    }
}
