//! The stores on a real 3-master Redis Cluster started by the test: every
//! multi-key script stays in one slot, and users spread over the masters.

use std::sync::Arc;

use uap_ports::contract::{rate_limit, session_store};
use uap_ports::{Clock, RateLimitStore, SessionStore, SystemClock};

use crate::contract::{odd_ids_round_trip, record};
use crate::server::{Cluster, binaries_available, cli};
use crate::support::{connect, spawned, unique_prefix};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn contracts_hold_on_a_cluster() {
    if !binaries_available() {
        return;
    }
    let cluster = Cluster::start().await;
    let redis = connect(&cluster.url(), &unique_prefix()).await;
    let sessions = redis.session_store();
    session_store::run_all(&sessions, SystemClock.now()).await;
    rate_limit::run_all(&redis.rate_limit_store(), SystemClock.now()).await;
    odd_ids_round_trip(&sessions).await;
    let limits: Arc<dyn RateLimitStore> = Arc::new(redis.rate_limit_store());
    rate_limit::concurrent_attempts(limits, SystemClock.now(), spawned).await;

    // Many users: their slots land on every master, and each user's steps
    // still work there.
    let now = uap_ports::contract::micros(SystemClock.now());
    for i in 0..30 {
        let user = format!("spread-{i}");
        sessions.create(&record(&format!("spread-{i}-a"), &user, now)).await.unwrap();
        sessions.create(&record(&format!("spread-{i}-b"), &user, now)).await.unwrap();
        assert!(sessions.get(&format!("spread-{i}-a")).await.unwrap().is_some());
        assert_eq!(sessions.delete_user_sessions(&user, Some(&format!("spread-{i}-b"))).await.unwrap(), 1);
    }
    for node in &cluster.nodes {
        let keys = cli(node.port, &["dbsize"]).await.unwrap();
        assert!(keys.trim().parse::<u64>().unwrap() > 0, "master {} holds no key", node.port);
    }
    assert!(sessions.purge_expired(now + time::Duration::days(2)).await.unwrap() >= 30, "purge scans every master");
    drop(redis);
}
