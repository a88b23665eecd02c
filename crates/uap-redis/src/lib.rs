//! Redis adapters of UAP: the [`SessionStore`](uap_ports::SessionStore) and
//! [`RateLimitStore`](uap_ports::RateLimitStore) shared by every instance, and
//! the [`EventBus`](uap_ports::EventBus) that fans revocations and config
//! changes out between them. It owns the key layout, the Lua scripts that make
//! each multi-key step atomic, and the connection policy. It implements ports
//! and nothing else: it never depends on `uap-domain`, another adapter or the
//! server, and no `fred` type crosses a port (errors become
//! [`StoreError`](uap_ports::StoreError)). Requires Redis (or Valkey) 7.0 or
//! later (`PEXPIRETIME`, `SET … PXAT`).
//!
//! # `redis_url`
//!
//! Parsed by fred's `Config::from_url`, with two conveniences added
//! (comma-separated host lists and a Sentinel service name in the path):
//!
//! | Deployment | Forms |
//! |---|---|
//! | Standalone | `redis://[user:pass@]host[:6379][/db]` |
//! | Standalone, TLS (rustls, ring, system roots) | `rediss://[user:pass@]host[:port][/db]` |
//! | Cluster | `redis-cluster://[user:pass@]h1:7000,h2:7001,h3:7002` or `redis-cluster://h1:7000?node=h2:7001&node=h3:7002` (`rediss-cluster://` for TLS); any reachable node is enough, the rest are discovered |
//! | Sentinel | `redis-sentinel://[user:pass@]s1:26379,s2:26379/mymaster[/db]` or `redis-sentinel://s1:26379/db?sentinelServiceName=mymaster&node=s2:26379` (`rediss-sentinel://` for TLS); the credentials are the data nodes' |
//!
//! The password never appears in an error or a log line (see
//! [`RedisConfig`]'s `Debug`). Host names in a list cannot be IPv6 literals.
//!
//! # Key layout
//!
//! `P` is the key prefix (`redis_key_prefix`, default `uap:`; braces are
//! refused). `T` is the user tag: the user id with `%`, `{` and `}`
//! percent-encoded, so it holds no `}` and the braces below are a Redis Cluster
//! hash tag that covers it whole.
//!
//! | Key | Type | Holds | Expires |
//! |---|---|---|---|
//! | `P{u:T}:session:<session_id>` | hash | the record (times in Unix microseconds) | `retain_until()` + 5 min |
//! | `P{u:T}:sessions` | sorted set | the user's session ids, scored by `retain_until()` (µs) | extended on every add to its newest member's expiry |
//! | `Psession:<session_id>` | string | pointer: the session's user tag `T` | with its record |
//! | `Pfamily:<family_id>` | set | pointer: the user tag(s) of a refresh chain | extended to its newest member's expiry |
//! | `Prl:<len(kind)>:<kind>:<value>` | hash | rate-limit counter: `count`, `start`, `until` (µs) | window or block + 1 s, set by every write |
//! | `Pactive` | sorted set | every active session id, scored by `expires_at` (µs): `count_active` is one `ZCOUNT`; kept in step best effort after each write (outside the user slots), trimmed by the purge | members leave on delete, rotation and purge |
//! | `Pevents` | channel | JSON [`BusEvent`](uap_ports::BusEvent)s | — |
//!
//! # Cluster design: everything of one user in one slot
//!
//! Logout-all, the single-device policy and `delete_family` must end several
//! sessions in one atomic step, and `rotate` must mark one session and store
//! its successor atomically. In a cluster a Lua script may only touch keys of
//! one hash slot, so every key that a multi-key step touches carries the hash
//! tag `{u:T}` of its user: a user's records and index share a slot, and each
//! of those steps is one script there. The price is that a session id alone no
//! longer names its slot, so `get(session_id)` first reads the small pointer
//! `Psession:<id>` (its user tag) and then the record:
//!
//! - standalone and Sentinel: one script follows the pointer on the server,
//!   so `get` (the validate hot path) stays one round trip;
//! - cluster: two reads (pointer, then record), two round trips.
//!
//! Pointers are written before and deleted after their records, so a pointer
//! may dangle (read as "no session") but a record is never unreachable.
//! `delete_family` finds the chain's user(s) through `Pfamily:<id>` and runs
//! one script per user (a chain never changes user). `rotate` runs in the
//! successor's user slot: a successor must belong to the old session's user,
//! otherwise the old session is reported `NotFound`. The alternative — one
//! hash tag for all sessions — keeps `get` at one round trip everywhere but
//! puts every session on one cluster node.
//!
//! # Expiry and purge
//!
//! Redis deletes each record 5 minutes (a margin for clock skew between UAP
//! and Redis) after its `retain_until()` by the Redis clock; the domain checks
//! `expires_at` itself, so a lingering record never validates. Index members
//! whose record has gone are dropped lazily (on create, list, logout-all and
//! purge). [`SessionStore::purge_expired`](uap_ports::SessionStore::purge_expired)
//! honours the caller's `now`: it walks the user indexes with `SCAN` (every
//! master of a cluster) and removes the records whose `retain_until()` is
//! before `now`. Its cost grows with the key space; the TTLs already do the
//! work, so it only trims the margin.
//!
//! Rate-limit counters are one hash per key, and every attempt is one script
//! (read, decide, write, set expiry) with the SQL store's semantics; a blocked
//! attempt writes nothing. Times must lie within ±2^53 µs of 1970 (years 1685
//! to 2255; later instants are clamped) because Lua numbers are doubles.
//!
//! # Faults
//!
//! Redis down never reads as "valid": every call returns
//! [`StoreError::Unavailable`](uap_ports::StoreError::Unavailable) (`what:
//! "redis"`), and callers fail closed. Commands fail fast: once a client
//! knows its connection is gone, calls fail at once (microseconds); the few
//! issued in the moment before it notices wait at most the per-command
//! timeout (`RedisConfig::timeout`, default 2 s). The command queue is bounded
//! and nothing is retried (a script sent twice could count an attempt twice).
//! The clients reconnect by themselves with an exponential backoff from
//! 100 ms capped at 1 s, without limit, so service resumes within about a
//! second of Redis coming back, without a restart; scripts the restarted
//! server lost are sent again (`NOSCRIPT` falls back to `EVAL`). `connect`
//! fails with `Unavailable` after at most about twice the timeout when Redis
//! cannot be reached. The event bus subscribes on a dedicated connection per
//! subscription that resubscribes after a reconnect; delivery is at most once
//! (events published while a subscriber is disconnected are lost).

mod client;
mod config;
mod error;
mod events;
mod keys;
mod rate_limit;
mod sessions;
mod time;

pub use client::Redis;
pub use config::{DEFAULT_KEY_PREFIX, DEFAULT_TIMEOUT, RedisConfig};
pub use events::RedisEventBus;
pub use rate_limit::RedisRateLimitStore;
pub use sessions::RedisSessionStore;
