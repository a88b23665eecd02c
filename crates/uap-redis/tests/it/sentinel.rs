//! The Sentinel URL form against a real Sentinel (started by the test) in
//! front of a real master.

use uap_ports::contract::{rate_limit, session_store};
use uap_ports::{Clock, SystemClock};

use crate::contract::odd_ids_round_trip;
use crate::server::{RedisServer, binaries_available, free_port};
use crate::support::{connect, unique_prefix};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contracts_hold_behind_a_sentinel() {
    if !binaries_available() {
        return;
    }
    let master = RedisServer::start(free_port(), &[]).await;
    let sentinel = RedisServer::sentinel(free_port(), master.port).await;
    let url = format!("redis-sentinel://127.0.0.1:{}/mymaster", sentinel.port);
    let redis = connect(&url, &unique_prefix()).await;
    session_store::run_all(&redis.session_store(), SystemClock.now()).await;
    odd_ids_round_trip(&redis.session_store()).await;
    rate_limit::run_all(&redis.rate_limit_store(), SystemClock.now()).await;
}
