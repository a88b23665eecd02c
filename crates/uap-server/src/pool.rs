//! The bounded pool for password hashing: a fixed set of dedicated threads
//! (one per core: hashing is CPU-bound, more threads only add contention), at
//! most `queue` jobs waiting; past that a login is shed with 503 instead of
//! queueing without bound.
//!
//! Dedicated threads, not tokio's blocking pool: argon2id allocates its whole
//! memory cost (19 MiB by default) per verify, and tokio's blocking pool
//! spreads jobs over changing threads, each growing its own allocator arena —
//! RSS climbed to 700 MB under a login benchmark. With a fixed pair of threads
//! the allocation is reused.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use tokio::sync::oneshot;
use uap_ports::{BlockingPool, PoolError};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// [`BlockingPool`] over dedicated hashing threads.
#[derive(Debug)]
pub struct HashPool {
    jobs: SyncSender<Job>,
    pending: AtomicUsize,
    max_pending: usize,
}

impl HashPool {
    /// A pool of `threads` threads with up to `queue` more jobs waiting.
    ///
    /// # Errors
    /// When a thread cannot be spawned.
    pub fn new(threads: usize, queue: usize) -> std::io::Result<Self> {
        let threads = threads.max(1);
        let (jobs, receiver) = sync_channel::<Job>(threads + queue);
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..threads {
            let receiver = Arc::clone(&receiver);
            std::thread::Builder::new().name(format!("uap-hash-{index}")).spawn(move || work(&receiver))?;
        }
        Ok(Self { jobs, pending: AtomicUsize::new(0), max_pending: threads + queue })
    }

    /// One thread per available core, and 64 waiting jobs per core.
    ///
    /// # Errors
    /// When a thread cannot be spawned.
    pub fn per_core() -> std::io::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self::new(cores, 64 * cores)
    }
}

/// A hashing thread: runs jobs until the pool is dropped. A panicking job
/// is contained (its caller sees [`PoolError::Failed`]).
fn work(receiver: &Mutex<Receiver<Job>>) {
    loop {
        let job = receiver.lock().unwrap_or_else(PoisonError::into_inner).recv();
        match job {
            Ok(job) => {
                let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
            }
            Err(_) => return,
        }
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
        let (done, finished) = oneshot::channel();
        let wrapped: Job = Box::new(move || {
            job();
            let _ = done.send(());
        });
        self.jobs.try_send(wrapped).map_err(|_| PoolError::Overloaded)?;
        // A job that panicked drops `done` without sending: Failed.
        finished.await.map_err(|_| PoolError::Failed)
    }

    async fn pause(&self, duration: std::time::Duration) {
        tokio::time::sleep(duration).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;

    #[tokio::test]
    async fn runs_jobs_and_sheds_past_the_queue() {
        let pool = Arc::new(HashPool::new(1, 1).unwrap());
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

    #[tokio::test]
    async fn a_panicking_job_fails_alone() {
        let pool = HashPool::new(1, 4).unwrap();
        assert_eq!(pool.run(Box::new(|| panic!("boom"))).await, Err(PoolError::Failed));
        let done = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&done);
        assert_eq!(pool.run(Box::new(move || flag.store(true, Ordering::SeqCst))).await, Ok(()));
        assert!(done.load(Ordering::SeqCst), "the thread survived");
    }
}
