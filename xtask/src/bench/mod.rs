//! `cargo xtask bench [--quick] [--check]`: builds the release binary, starts
//! it on free ports with generated configurations (a SQLite host database of
//! bench users), drives it with wrk, and prints a Markdown table plus
//! `target/bench/latest.json` (and `latest.md`). `--check` asserts the
//! performance targets and exits non-zero when one fails.
//!
//! Order: one server per session store — embedded (SQLite internal DB:
//! trivial endpoint, validate, batch, then each raw in-process hash rate
//! right before its login scenario), memory (validate, many sessions, RSS),
//! Redis (validate, when Redis answers and `uap serve` accepts it). Servers are killed when
//! their guard drops, also on error paths.

mod hashing;
mod http;
mod machine;
mod report;
mod server;
mod timing;
mod users;
mod wrk;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::json;
use uap_domain::password::{Argon2Params, PasswordPolicy};

use crate::ci::cargo;
use hashing::{ARGON2_PASSWORD, ARGON2_USER, BCRYPT_PASSWORD, BCRYPT_USER, Hashes, RawRate, raw_rate};
use machine::Machine;
use report::{Batch, Outcome, Results, RunInfo, Verdict};
use server::{Server, Spec, Store, redis_answers};
use users::{create_host_db, create_sessions, login_tokens};
use wrk::{Load, Request, Scenario};

const AUTHENTICATE: &str = "/api/v1/auth/authenticate";
const VALIDATE: &str = "/api/v1/auth/validate";
const VALIDATE_BATCH: &str = "/api/v1/auth/validate/batch";
const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// Command-line flags.
#[derive(Debug, Default, PartialEq, Eq)]
struct Options {
    quick: bool,
    check: bool,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self> {
        let mut options = Self::default();
        for arg in args {
            match arg.as_str() {
                "--quick" => options.quick = true,
                "--check" => options.check = true,
                other => bail!("unknown argument {other:?} (usage: cargo xtask bench [--quick] [--check])"),
            }
        }
        Ok(options)
    }
}

/// Durations, sizes and concurrency of a run.
#[derive(Debug, Clone)]
struct Plan {
    mode: &'static str,
    cores: usize,
    scenario: Duration,
    warmup: Duration,
    raw: Duration,
    host_users: u64,
    sessions: u64,
    wrk_threads: u32,
    connections: u32,
    login_connections: u32,
    batch_connections: u32,
    tokens: usize,
    argon2: Argon2Params,
    /// Refused-login timing, per stored family.
    timing: Duration,
}

impl Plan {
    fn new(quick: bool, cores: usize) -> Self {
        let cores_u32 = u32::try_from(cores).unwrap_or(u32::MAX);
        let (mode, scenario, warmup, raw, host_users, sessions, timing) =
            if quick { ("quick", 5, 1, 3, 10_000, 10_000, 3) } else { ("full", 15, 3, 10, 100_000, 100_000, 10) };
        Self {
            mode,
            cores,
            scenario: Duration::from_secs(scenario),
            warmup: Duration::from_secs(warmup),
            raw: Duration::from_secs(raw),
            host_users,
            sessions,
            // wrk shares the machine with the server: half the cores.
            wrk_threads: (cores_u32 / 2).max(1),
            connections: 64,
            login_connections: cores_u32.saturating_mul(2),
            batch_connections: 16,
            tokens: 100,
            argon2: Argon2Params::default(),
            timing: Duration::from_secs(timing),
        }
    }
}

/// Where things are.
struct Paths {
    root: PathBuf,
    bench: PathBuf,
    run: PathBuf,
    binary: PathBuf,
}

impl Paths {
    fn new() -> Result<Self> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("xtask has no parent directory")?.to_owned();
        let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
        let target = if target.is_absolute() { target } else { root.join(target) };
        let bench = target.join("bench");
        let run = bench.join("run");
        if run.exists() {
            std::fs::remove_dir_all(&run).with_context(|| format!("cannot clear {}", run.display()))?;
        }
        std::fs::create_dir_all(&run).with_context(|| format!("cannot create {}", run.display()))?;
        Ok(Self { root, bench, run, binary: target.join("release").join("uap") })
    }
}

/// `cargo xtask bench`.
pub fn run(args: &[String]) -> Result<()> {
    let options = Options::parse(args)?;
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let plan = Plan::new(options.quick, cores);
    ensure_installed("wrk", "-v")?;
    ensure_installed("sqlite3", "-version")?;
    step("cargo build --release -p uap-cli --locked");
    let status =
        cargo().args(["build", "--release", "-p", "uap-cli", "--locked"]).status().context("cannot run cargo build")?;
    if !status.success() {
        bail!("the release build failed ({status})");
    }
    let paths = Paths::new()?;
    let mut machine = Machine::detect();
    let bench = Bench { plan: &plan, paths: &paths };
    let mut results = bench.all(machine.clone())?;
    machine.finish();
    results.machine = machine;

    let checks = report::checks(&results);
    let mut markdown = Vec::new();
    report::render(&results, &checks, &mut markdown)?;
    std::fs::write(paths.bench.join("latest.md"), &markdown)?;
    std::fs::write(paths.bench.join("latest.json"), report::json(&results, &checks)?)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout)?;
    stdout.write_all(&markdown)?;
    writeln!(stdout, "\nwritten: {}", paths.bench.join("latest.json").display())?;
    stdout.flush()?;

    let failed = checks.iter().filter(|c| c.verdict == Verdict::Fail).count();
    if options.check && failed > 0 {
        bail!("{failed} performance target(s) failed");
    }
    Ok(())
}

/// Lets the server finish the background work of the previous scenario.
fn settle(server: &Server) -> Result<()> {
    let waited = server.settle(Duration::from_secs(15))?;
    if waited >= Duration::from_millis(100) {
        eprintln!("(waited {:.1} s for the server to go idle)", waited.as_secs_f64());
    }
    Ok(())
}

fn step(name: &str) {
    eprintln!("\n==> {name}");
}

/// Installs a Debian package when its command is missing.
fn ensure_installed(command: &str, probe: &str) -> Result<()> {
    match Command::new(command).arg(probe).stdout(Stdio::null()).stderr(Stdio::null()).status() {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            step(&format!("{command} is missing: apt-get install -y {command}"));
            let update = Command::new("apt-get").arg("update").status().context("cannot run apt-get")?;
            let install = Command::new("apt-get").args(["install", "-y", command]).status()?;
            if !update.success() || !install.success() {
                bail!("cannot install {command} (apt-get install -y {command} failed; run it as root)");
            }
            Ok(())
        }
        Err(err) => Err(err).with_context(|| format!("cannot run {command}")),
    }
}

/// One run.
struct Bench<'a> {
    plan: &'a Plan,
    paths: &'a Paths,
}

impl Bench<'_> {
    fn all(&self, machine: Machine) -> Result<Results> {
        let plan = self.plan;
        let policy = hashing::policy(plan.argon2);
        step("hashing the bench passwords and writing the host database");
        let hashes = Hashes::generate(&policy)?;
        let host_db = self.paths.run.join("host.db");
        create_host_db(&host_db, &hashes, plan.host_users)?;

        // The embedded store: the default deployment.
        let embedded = self.start("embedded", Store::Database, &host_db)?;
        let ready_embedded_ms = embedded.ready_after.as_secs_f64() * 1e3;
        let idle_rss_embedded_mb = embedded.rss_mb()?;
        let tokens = login_tokens(embedded.addr(), plan.tokens)?;
        let trivial = self.scenario("trivial", "/health/live", Request::Get, plan.connections, 200);
        let trivial = self.measure(&embedded, &trivial, true)?;
        let validate_embedded = self.validate(&embedded, "validate_embedded", &tokens)?;
        let batch_body = json!({ "tokens": tokens }).to_string();
        let batch = self.scenario("batch", VALIDATE_BATCH, Request::PostJson(batch_body), plan.batch_connections, 200);
        let batch_load = self.measure(&embedded, &batch, false)?;
        let tokens_per_call = tokens.len();
        let batch = Batch {
            tokens_per_call,
            tokens_per_second: batch_load.per_second * tokens_per_call as f64,
            load: batch_load,
        };
        let login = |name, user: &str, password: &str, status| {
            let body = json!({ "username": user, "password": password }).to_string();
            self.scenario(name, AUTHENTICATE, Request::PostJson(body), plan.login_connections, status)
        };
        // Other work on the machine drifts; measuring A-B-A (raw half, login,
        // raw half) and A-B-B-A (unknown, wrong, wrong, unknown) lets a
        // linear drift disturb both sides of each comparison alike.
        let raw_then_login = |name, stored: &str, password: &str, login: Scenario| -> Result<(RawRate, Load)> {
            settle(&embedded)?;
            let before = self.raw(name, &policy, stored, password, plan.raw / 2)?;
            let load = self.measure(&embedded, &login, false)?;
            settle(&embedded)?;
            let after = self.raw(name, &policy, stored, password, plan.raw / 2)?;
            Ok((before.merge(&after), load))
        };
        let (raw_argon2, login_argon2) = raw_then_login(
            "argon2id",
            &hashes.argon2,
            ARGON2_PASSWORD,
            login("login_argon2", ARGON2_USER, ARGON2_PASSWORD, 200),
        )?;
        let (raw_bcrypt, login_bcrypt) = raw_then_login(
            "bcrypt",
            &hashes.bcrypt,
            BCRYPT_PASSWORD,
            login("login_bcrypt", BCRYPT_USER, BCRYPT_PASSWORD, 200),
        )?;
        let half = Duration::from_secs(plan.scenario.as_secs().div_ceil(2));
        let unknown =
            Scenario { duration: half, ..login("login_unknown_user", "no_such_bench_user", ARGON2_PASSWORD, 401) };
        let wrong = Scenario { duration: half, ..login("login_wrong_password", ARGON2_USER, "not-the-password", 401) };
        let unknown_first = self.measure(&embedded, &unknown, false)?;
        let wrong_first = self.measure(&embedded, &wrong, false)?;
        let wrong_password = wrong_first.merge(&self.measure(&embedded, &wrong, false)?);
        let unknown_user = unknown_first.merge(&self.measure(&embedded, &unknown, false)?);
        let rss_after_logins_mb = embedded.rss_mb()?;
        drop(embedded);

        // Refused-login timing per stored family, on a fresh server.
        let timing_server = self.start("timing", Store::Memory, &host_db)?;
        step(&format!(
            "refused-login timing: wrong password vs unknown user per stored family, 1 connection, {} s each",
            plan.timing.as_secs()
        ));
        let refusal_timing = timing::measure(timing_server.addr(), &timing::families(&hashes), plan.timing)?;
        drop(timing_server);

        // The memory store: validate, then many sessions.
        let memory = self.start("memory", Store::Memory, &host_db)?;
        let ready_memory_ms = memory.ready_after.as_secs_f64() * 1e3;
        let idle_rss_memory_mb = memory.rss_mb()?;
        let tokens = login_tokens(memory.addr(), plan.tokens)?;
        let validate_memory = self.validate(&memory, "validate_memory", &tokens)?;
        step(&format!("{} logins (memory store), then RSS", plan.sessions));
        let sessions = create_sessions(&memory, plan.sessions, plan.host_users, plan.cores * 4)?;
        drop(memory);

        let validate_redis = self.redis(&host_db)?;

        Ok(Results {
            machine,
            run: RunInfo {
                mode: plan.mode,
                scenario_seconds: plan.scenario.as_secs(),
                wrk_threads: plan.wrk_threads,
                connections: plan.connections,
                login_connections: plan.login_connections,
                batch_connections: plan.batch_connections,
                host_users: plan.host_users,
                argon2: format!(
                    "m={} t={} p={}",
                    plan.argon2.memory_kib, plan.argon2.iterations, plan.argon2.parallelism
                ),
                commit: commit(&self.paths.root),
                unix_time: unix_time(),
            },
            trivial,
            validate_embedded,
            validate_memory,
            validate_redis,
            batch,
            raw_argon2,
            login_argon2,
            raw_bcrypt,
            login_bcrypt,
            unknown_user,
            wrong_password,
            refusal_timing,
            idle_rss_embedded_mb,
            idle_rss_memory_mb,
            rss_after_logins_mb,
            sessions,
            ready_embedded_ms,
            ready_memory_ms,
        })
    }

    /// The raw in-process verify rate of a bench user's stored hash.
    fn raw(
        &self,
        name: &str,
        policy: &PasswordPolicy,
        stored: &str,
        password: &str,
        duration: Duration,
    ) -> Result<RawRate> {
        let cores = self.plan.cores;
        step(&format!("raw {name} verify in-process, {cores} threads, {:.1} s", duration.as_secs_f64()));
        let rate = raw_rate(name, policy, stored, password, cores, duration)?;
        eprintln!("{:.1} verifies/s", rate.per_second);
        Ok(rate)
    }

    /// Writes `<name>.toml` and starts a server with it.
    fn start(&self, name: &str, store: Store, host_db: &Path) -> Result<Server> {
        step(&format!("starting uap serve ({name} store)"));
        let port = server::free_port()?;
        let spec = Spec { port, host_db, internal_db: &self.paths.run.join("uap.db"), store, argon2: self.plan.argon2 };
        let config = self.paths.run.join(format!("{name}.toml"));
        std::fs::write(&config, server::config_toml(&spec))?;
        Server::start(&self.paths.binary, &config, &self.paths.run.join(format!("{name}.log")), port)
    }

    /// A scenario of the plan's length, on the plan's wrk threads.
    fn scenario(
        &self,
        name: &'static str,
        path: &'static str,
        request: Request,
        connections: u32,
        expect_status: u16,
    ) -> Scenario {
        let plan = self.plan;
        Scenario { name, path, request, threads: plan.wrk_threads, connections, duration: plan.scenario, expect_status }
    }

    /// Runs a scenario with wrk (after an unmeasured warm-up when asked).
    fn measure(&self, server: &Server, scenario: &Scenario, warm_up: bool) -> Result<Load> {
        if warm_up {
            let warm_up = Scenario { duration: self.plan.warmup, ..scenario.clone() };
            wrk::run(&warm_up, server.addr(), &self.paths.run)?;
        }
        settle(server)?;
        step(&format!("{}: {} connections, {} s", scenario.name, scenario.connections, scenario.duration.as_secs()));
        let load = wrk::run(scenario, server.addr(), &self.paths.run)?;
        eprintln!(
            "{:.1} req/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
            load.per_second, load.p50_ms, load.p99_ms, load.errors
        );
        Ok(load)
    }

    fn validate(&self, server: &Server, name: &'static str, tokens: &[String]) -> Result<Load> {
        let scenario = self.scenario(name, VALIDATE, Request::Bearer(tokens.to_vec()), self.plan.connections, 200);
        self.measure(server, &scenario, true)
    }

    /// Validate with the Redis store, or why it cannot be measured.
    fn redis(&self, host_db: &Path) -> Result<Outcome<Load>> {
        let url = std::env::var("UAP_BENCH_REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned());
        if let Err(reason) = redis_answers(&url) {
            eprintln!("\nRedis store: not available ({reason})");
            return Ok(Outcome::NotAvailable(reason));
        }
        let server = match self.start("redis", Store::Redis(url), host_db) {
            Ok(server) => server,
            Err(err) => {
                let reason = short_reason(&format!("{err:#}"));
                eprintln!("Redis store: not available ({reason})");
                return Ok(Outcome::NotAvailable(format!("uap serve refused it: {reason}")));
            }
        };
        let tokens = login_tokens(server.addr(), self.plan.tokens)?;
        Ok(Outcome::Measured(self.validate(&server, "validate_redis", &tokens)?))
    }
}

/// The last line of an error (the server's own message), at most 200 characters.
fn short_reason(error: &str) -> String {
    let line = error.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or(error).trim();
    let line = line.strip_prefix("error: ").unwrap_or(line);
    line.chars().take(200).collect()
}

fn commit(root: &Path) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let Some(head) = git(&["rev-parse", "--short", "HEAD"]) else {
        return "unknown".into();
    };
    let dirty = git(&["status", "--porcelain"]).is_some_and(|s| !s.is_empty());
    if dirty { format!("{head} (uncommitted changes)") } else { head }
}

#[expect(clippy::disallowed_methods, reason = "the report's timestamp; xtask has no Clock port")]
fn unix_time() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn parses_flags() {
        assert_eq!(Options::parse(&[]).unwrap(), Options::default());
        assert_eq!(Options::parse(&args(&["--check", "--quick"])).unwrap(), Options { quick: true, check: true });
        assert!(Options::parse(&args(&["--fast"])).is_err());
    }

    #[test]
    fn quick_plan_is_shorter_and_smaller() {
        let (quick, full) = (Plan::new(true, 2), Plan::new(false, 2));
        assert!(quick.scenario < full.scenario && quick.sessions < full.sessions);
        assert_eq!(full.sessions, 100_000);
        assert_eq!((full.wrk_threads, full.login_connections, full.connections), (1, 4, 64));
        assert_eq!(Plan::new(false, 1).wrk_threads, 1);
    }

    #[test]
    fn reasons_are_the_servers_last_line() {
        let err = "the server exited (exit status: 2): {\"level\":\"WARN\"}\nerror: session_store: not in this build";
        assert_eq!(short_reason(err), "session_store: not in this build");
    }
}
