//! `redis-server` child processes on free local ports, each in its own
//! temporary directory, killed on drop; and a 3-master cluster of them.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::{eventually, require_integration};

/// Whether `redis-server` and `redis-cli` can run here; prints `skipping:`
/// when not (a failure under `UAP_REQUIRE_INTEGRATION=1`).
pub fn binaries_available() -> bool {
    let runs = |bin: &str| Command::new(bin).arg("--version").output().is_ok_and(|o| o.status.success());
    if runs("redis-server") && runs("redis-cli") {
        return true;
    }
    assert!(!require_integration(), "redis-server/redis-cli not found but UAP_REQUIRE_INTEGRATION=1");
    eprintln!("skipping: redis-server or redis-cli not found");
    false
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A fresh temporary directory, removed with its [`TempDir`].
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!("uap-redis-it-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).expect("temp dir");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `redis-cli -p <port> <args>` (off the runtime's threads) and returns
/// its stdout, or `None` when it failed.
pub async fn cli(port: u16, args: &[&str]) -> Option<String> {
    let mut command = Command::new("redis-cli");
    command.arg("-p").arg(port.to_string()).args(args);
    let output = tokio::task::spawn_blocking(move || command.output()).await.expect("join").ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// One `redis-server` process, killed (SIGKILL) on drop.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    args: Vec<String>,
    _dir: TempDir,
}

impl RedisServer {
    /// Starts a server without persistence on `port`, with `extra` options,
    /// and waits until it answers `PING`.
    pub async fn start(port: u16, extra: &[String]) -> Self {
        let dir = TempDir::new();
        let mut args: Vec<String> =
            ["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
        args.extend(["--daemonize".into(), "no".into(), "--dir".into(), dir.path().display().to_string()]);
        args.extend(extra.iter().cloned());
        let mut server = Self { port, child: None, args, _dir: dir };
        server.restart().await;
        server
    }

    /// Starts a Sentinel on `port` that monitors the master on `master_port`
    /// as `mymaster`, and waits until it knows the master's address.
    pub async fn sentinel(port: u16, master_port: u16) -> Self {
        let dir = TempDir::new();
        let conf = dir.path().join("sentinel.conf");
        let text = format!(
            "port {port}\nbind 127.0.0.1\ndir {}\nsentinel monitor mymaster 127.0.0.1 {master_port} 1\n",
            dir.path().display()
        );
        std::fs::write(&conf, text).expect("sentinel.conf");
        let args = vec![conf.display().to_string(), "--sentinel".to_owned()];
        let mut server = Self { port, child: None, args, _dir: dir };
        server.restart().await;
        let known = eventually(Duration::from_secs(10), || async move {
            cli(port, &["sentinel", "get-master-addr-by-name", "mymaster"])
                .await
                .filter(|out| out.contains(&master_port.to_string()))
        })
        .await;
        assert!(known.is_some(), "sentinel on {port} does not know the master on {master_port}");
        server
    }

    /// Kills the process at once (no shutdown, no save).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the process again on the same port (after [`RedisServer::kill`])
    /// and waits until it answers (`NOAUTH` counts).
    pub async fn restart(&mut self) {
        self.kill();
        let child = Command::new("redis-server")
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        let port = self.port;
        let up = eventually(Duration::from_secs(10), || async move {
            cli(port, &["ping"]).await.filter(|out| out.contains("PONG") || out.contains("NOAUTH"))
        })
        .await;
        assert!(up.is_some(), "redis-server on port {port} did not come up");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A Redis Cluster of three masters (no replicas) on free local ports.
pub struct Cluster {
    pub nodes: Vec<RedisServer>,
}

impl Cluster {
    /// Starts three `--cluster-enabled yes` servers, joins them with
    /// `redis-cli --cluster create`, and waits for `cluster_state:ok` on all.
    pub async fn start() -> Self {
        let mut nodes = Vec::new();
        for _ in 0..3 {
            let (port, bus) = (free_port(), free_port());
            let conf = format!("nodes-{port}.conf");
            let extra: Vec<String> = ["--cluster-enabled", "yes", "--cluster-config-file", &conf]
                .iter()
                .map(|s| (*s).to_owned())
                .chain(["--cluster-port".to_owned(), bus.to_string()])
                .collect();
            nodes.push(RedisServer::start(port, &extra).await);
        }
        let mut create: Vec<String> = vec!["--cluster".into(), "create".into()];
        create.extend(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)));
        create.extend(["--cluster-replicas".into(), "0".into(), "--cluster-yes".into()]);
        let create: Vec<&str> = create.iter().map(String::as_str).collect();
        assert!(cli(nodes[0].port, &create).await.is_some(), "redis-cli --cluster create failed");
        for node in &nodes {
            let port = node.port;
            let ok = eventually(Duration::from_secs(30), || async move {
                cli(port, &["cluster", "info"]).await.filter(|info| info.contains("cluster_state:ok"))
            })
            .await;
            assert!(ok.is_some(), "cluster node {port} never reached cluster_state:ok");
        }
        Self { nodes }
    }

    /// `redis-cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3`.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self.nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        format!("redis-cluster://{}", hosts.join(","))
    }
}
