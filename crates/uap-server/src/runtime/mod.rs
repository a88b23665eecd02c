//! The runtime adapters: tokio-based decorators that make a port safe to
//! call under load, wired by the composition root (`startup.rs`).
//!
//! - [`pool`]: the bounded hashing pool (`BlockingPool`), fair per client address.
//! - [`protected`]: the host directory behind a concurrency cap, a circuit
//!   breaker and single-flight lookups.
//! - [`session_cache`]: the `database` session store behind a short read cache
//!   that hears revocations from the event bus.
//! - [`batch_queue`]: the bounded queue and batching writer of audit events and
//!   middleware runs (backpressure, drained on shutdown).

pub mod batch_queue;
pub mod pool;
pub mod protected;
pub mod session_cache;
