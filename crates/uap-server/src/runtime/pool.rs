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
//!
//! Fairness per client address ([`HashPool::with_key_limit`]): at most
//! `concurrency` jobs of one key (the normalised client address) are queued
//! or running at once; more of that key wait for their turn at a gate in
//! front of the pool (at most [`WAITERS_PER_PERMIT`] × `concurrency` waiters,
//! each for at most [`KEY_WAIT`]), past that they are shed like an overloaded
//! pool. A flood from one address then occupies `concurrency` slots, not the
//! whole queue. A job keeps its key's slot until it has run on a thread, even
//! when the waiting request is cancelled.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Semaphore, oneshot};
use uap_ports::{BlockingPool, Job, JobOutput, PoolError};

/// What a hashing thread runs: a job with its answer channel.
type ThreadJob = Box<dyn FnOnce() + Send + 'static>;

/// Waiters allowed per key, per job slot of that key.
pub const WAITERS_PER_PERMIT: usize = 8;

/// The longest a job waits for its key's turn before it is shed.
pub const KEY_WAIT: Duration = Duration::from_secs(5);

/// [`BlockingPool`] over dedicated hashing threads.
#[derive(Debug)]
pub struct HashPool {
    jobs: SyncSender<ThreadJob>,
    pending: AtomicUsize,
    max_pending: usize,
    keys: Option<Arc<KeyLimit>>,
}

/// The per-key gates.
#[derive(Debug)]
struct KeyLimit {
    concurrency: usize,
    /// Jobs of one key holding or awaiting a slot.
    max_users: usize,
    wait: Duration,
    gates: Mutex<HashMap<String, Gate>>,
}

#[derive(Debug)]
struct Gate {
    slots: Arc<Semaphore>,
    users: usize,
}

/// One job's use of its key's gate; the gate is forgotten with its last user.
struct GateUse {
    limit: Arc<KeyLimit>,
    key: String,
}

impl Drop for GateUse {
    fn drop(&mut self) {
        let mut gates = self.limit.gates.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(gate) = gates.get_mut(&self.key) {
            gate.users = gate.users.saturating_sub(1);
            if gate.users == 0 {
                gates.remove(&self.key);
            }
        }
    }
}

impl KeyLimit {
    /// Joins `key`'s gate, or `None` when it already has too many users.
    fn enter(self: &Arc<Self>, key: &str) -> Option<(GateUse, Arc<Semaphore>)> {
        let mut gates = self.gates.lock().unwrap_or_else(PoisonError::into_inner);
        let gate = gates
            .entry(key.to_owned())
            .or_insert_with(|| Gate { slots: Arc::new(Semaphore::new(self.concurrency)), users: 0 });
        if gate.users >= self.max_users {
            return None;
        }
        gate.users += 1;
        let slots = Arc::clone(&gate.slots);
        Some((GateUse { limit: Arc::clone(self), key: key.to_owned() }, slots))
    }
}

impl HashPool {
    /// A pool of `threads` threads with up to `queue` more jobs waiting.
    ///
    /// # Errors
    /// When a thread cannot be spawned.
    pub fn new(threads: usize, queue: usize) -> std::io::Result<Self> {
        let threads = threads.max(1);
        let (jobs, receiver) = sync_channel::<ThreadJob>(threads + queue);
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..threads {
            let receiver = Arc::clone(&receiver);
            std::thread::Builder::new().name(format!("uap-hash-{index}")).spawn(move || work(&receiver))?;
        }
        Ok(Self { jobs, pending: AtomicUsize::new(0), max_pending: threads + queue, keys: None })
    }

    /// At most `concurrency` jobs of one key queued or running at once (see
    /// the module documentation).
    #[must_use]
    pub fn with_key_limit(self, concurrency: usize) -> Self {
        self.with_key_limit_and_wait(concurrency, KEY_WAIT)
    }

    fn with_key_limit_and_wait(mut self, concurrency: usize, wait: Duration) -> Self {
        let concurrency = concurrency.max(1);
        self.keys = Some(Arc::new(KeyLimit {
            concurrency,
            max_users: concurrency.saturating_mul(WAITERS_PER_PERMIT + 1),
            wait,
            gates: Mutex::new(HashMap::new()),
        }));
        self
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
fn work(receiver: &Mutex<Receiver<ThreadJob>>) {
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
    async fn run(&self, job: Job) -> Result<JobOutput, PoolError> {
        if self.pending.fetch_add(1, Ordering::AcqRel) >= self.max_pending {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            return Err(PoolError::Overloaded);
        }
        let _pending = Pending(&self.pending);
        let (done, finished) = oneshot::channel();
        let wrapped: ThreadJob = Box::new(move || {
            let _ = done.send(job());
        });
        self.jobs.try_send(wrapped).map_err(|_| PoolError::Overloaded)?;
        // A job that panicked drops `done` without sending: Failed.
        finished.await.map_err(|_| PoolError::Failed)
    }

    async fn run_keyed(&self, key: &str, job: Job) -> Result<JobOutput, PoolError> {
        let Some(limit) = &self.keys else {
            return self.run(job).await;
        };
        let Some((gate_use, slots)) = limit.enter(key) else {
            tracing::debug!(key = %key, "too many password checks waiting for one client address; shed");
            return Err(PoolError::Overloaded);
        };
        let slot = match tokio::time::timeout(limit.wait, slots.acquire_owned()).await {
            Ok(Ok(slot)) => slot,
            Ok(Err(_)) => return Err(PoolError::Failed),
            Err(_) => {
                tracing::debug!(key = %key, "a password check waited too long for its client address's turn; shed");
                return Err(PoolError::Overloaded);
            }
        };
        // The slot and the gate are held until the job has run, even if this
        // request is cancelled meanwhile (the job stays queued).
        let held: Job = Box::new(move || {
            let _held = (slot, gate_use);
            job()
        });
        self.run(held).await
    }

    async fn pause(&self, duration: std::time::Duration) {
        tokio::time::sleep(duration).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;

    /// A job returning nothing.
    fn job(f: impl FnOnce() + Send + 'static) -> Job {
        Box::new(move || {
            f();
            Box::new(()) as JobOutput
        })
    }

    /// Whether a job ran (its output dropped).
    fn ran(result: Result<JobOutput, PoolError>) -> Result<(), PoolError> {
        result.map(drop)
    }

    #[tokio::test]
    async fn runs_jobs_and_sheds_past_the_queue() {
        let pool = Arc::new(HashPool::new(1, 1).unwrap());
        let done = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&done);
        pool.run(job(move || flag.store(true, Ordering::SeqCst))).await.unwrap();
        assert!(done.load(Ordering::SeqCst));

        // Hold the only thread, fill the one queue slot, then the next is shed.
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
        let blocker = {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move {
                pool.run(job(move || {
                    let _ = started_tx.send(());
                    let _ = release_rx.recv();
                }))
                .await
            })
        };
        started_rx.await.unwrap();
        let queued = {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move { pool.run(job(|| {})).await })
        };
        while pool.pending.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        assert_eq!(ran(pool.run(job(|| {})).await), Err(PoolError::Overloaded));
        release_tx.send(()).unwrap();
        assert_eq!(ran(blocker.await.unwrap()), Ok(()));
        assert_eq!(ran(queued.await.unwrap()), Ok(()));
        assert_eq!(pool.pending.load(Ordering::SeqCst), 0);
    }

    /// A job that signals its start and then waits to be released.
    fn holding(started: oneshot::Sender<()>, release: std::sync::mpsc::Receiver<()>) -> Job {
        job(move || {
            let _ = started.send(());
            let _ = release.recv();
        })
    }

    #[tokio::test]
    async fn one_key_gets_its_share_and_others_keep_the_pool() {
        // Two threads, a big queue, one job per key at once, one waiter per slot.
        let pool = Arc::new(HashPool::new(2, 64).unwrap().with_key_limit_and_wait(1, Duration::from_secs(30)));
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let (started_tx, started_rx) = oneshot::channel::<()>();
        let first = {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move { pool.run_keyed("203.0.113.9", holding(started_tx, release_rx)).await })
        };
        started_rx.await.unwrap();
        // The flooding key's next jobs wait at its gate, not in the pool.
        let flood: Vec<_> = (0..WAITERS_PER_PERMIT)
            .map(|_| {
                let pool = Arc::clone(&pool);
                tokio::spawn(async move { pool.run_keyed("203.0.113.9", job(|| {})).await })
            })
            .collect();
        let users = |pool: &HashPool| {
            let keys = pool.keys.as_ref().unwrap();
            keys.gates.lock().unwrap().get("203.0.113.9").map_or(0, |g| g.users)
        };
        while users(&pool) < WAITERS_PER_PERMIT + 1 {
            tokio::task::yield_now().await;
        }
        assert_eq!(pool.pending.load(Ordering::SeqCst), 1, "only one job of the key is in the pool");
        // Past its waiters the key is shed at once.
        assert_eq!(ran(pool.run_keyed("203.0.113.9", job(|| {})).await), Err(PoolError::Overloaded));
        // Another key still gets the pool's other thread straight away.
        let done = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&done);
        pool.run_keyed("198.51.100.7", job(move || flag.store(true, Ordering::SeqCst))).await.unwrap();
        assert!(done.load(Ordering::SeqCst));

        release_tx.send(()).unwrap();
        assert_eq!(ran(first.await.unwrap()), Ok(()));
        for waiter in flood {
            assert_eq!(ran(waiter.await.unwrap()), Ok(()), "waiters run in turn");
        }
        assert!(pool.keys.as_ref().unwrap().gates.lock().unwrap().is_empty(), "gates are forgotten");
    }

    #[tokio::test]
    async fn a_key_waiting_too_long_is_shed_and_a_cancelled_request_keeps_its_slot() {
        let pool = Arc::new(HashPool::new(2, 64).unwrap().with_key_limit_and_wait(1, Duration::from_millis(50)));
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let (started_tx, started_rx) = oneshot::channel::<()>();
        let first = {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move { pool.run_keyed("k", holding(started_tx, release_rx)).await })
        };
        started_rx.await.unwrap();
        // The request is cancelled; its job is still running and keeps the slot.
        first.abort();
        assert!(first.await.unwrap_err().is_cancelled());
        assert_eq!(ran(pool.run_keyed("k", job(|| {})).await), Err(PoolError::Overloaded), "bounded wait");
        release_tx.send(()).unwrap();
        // Once the job has run, the key's slot is free again.
        let mut outcome = Err(PoolError::Overloaded);
        while outcome.is_err() {
            outcome = ran(pool.run_keyed("k", job(|| {})).await);
        }
        assert_eq!(outcome, Ok(()));
    }

    #[tokio::test]
    async fn a_panicking_job_fails_alone() {
        let pool = HashPool::new(1, 4).unwrap();
        assert_eq!(ran(pool.run(job(|| panic!("boom"))).await), Err(PoolError::Failed));
        let done = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&done);
        assert_eq!(ran(pool.run(job(move || flag.store(true, Ordering::SeqCst))).await), Ok(()));
        assert!(done.load(Ordering::SeqCst), "the thread survived");
    }
}
