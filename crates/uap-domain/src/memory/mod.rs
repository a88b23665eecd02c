//! In-memory adapters: the `session_store = "memory"` stores (one process,
//! lost on restart), the event bus of a single instance, and the fakes used
//! by tests. Locks are never held across an await.

mod clock;
mod events;
mod mfa;
mod rate_limit;
mod sessions;

pub use clock::{ManualClock, SequentialIds};
pub use events::MemoryEventBus;
pub use mfa::MemoryMfaFactorStore;
pub use rate_limit::MemoryRateLimitStore;
pub use sessions::MemorySessionStore;
