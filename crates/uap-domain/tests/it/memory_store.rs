//! The in-memory session store meets the shared contract.

use futures::executor::block_on;
use uap_domain::memory::MemorySessionStore;

use crate::fakes::T0;

#[test]
fn memory_session_store_contract() {
    block_on(uap_ports::contract::session_store::run_all(&MemorySessionStore::new(), T0));
}
