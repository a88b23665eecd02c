//! The in-memory stores meet the shared contracts.

use std::sync::Arc;

use futures::executor::block_on;
use uap_domain::memory::{MemoryMfaFactorStore, MemoryRateLimitStore, MemorySessionStore};
use uap_ports::contract::rate_limit::Task;
use uap_ports::{MfaFactorStore, RateLimitStore};

use crate::fakes::T0;

#[test]
fn memory_session_store_contract() {
    block_on(uap_ports::contract::session_store::run_all(&MemorySessionStore::new(), T0));
}

#[test]
fn memory_rate_limit_store_contract() {
    block_on(uap_ports::contract::rate_limit::run_all(&MemoryRateLimitStore::new(), T0));
}

/// Runs `task` on a thread of its own: real parallelism without a runtime.
fn on_thread<T: Send + 'static>(task: Task<T>) -> Task<T> {
    let handle = std::thread::spawn(move || block_on(task));
    Box::pin(async move { handle.join().expect("task thread") })
}

#[test]
fn memory_rate_limit_store_is_atomic() {
    let store: Arc<dyn RateLimitStore> = Arc::new(MemoryRateLimitStore::new());
    let tally = block_on(uap_ports::contract::rate_limit::concurrent_attempts(store, T0, on_thread));
    assert_eq!((tally.allowed, tally.blocked, tally.newly_blocked), (5, 95, 1));
}

#[test]
fn memory_mfa_factor_store_contract() {
    block_on(uap_ports::contract::mfa::run_all(&MemoryMfaFactorStore::new(), T0));
}

#[test]
fn memory_mfa_factor_store_is_atomic() {
    let store: Arc<dyn MfaFactorStore> = Arc::new(MemoryMfaFactorStore::new());
    block_on(uap_ports::contract::mfa::concurrent_steps(store, T0, on_thread));
}
