//! `uap`: argument parsing and calls into the server and adapters. No logic of
//! its own beyond presenting results.

mod audit;
mod check;
mod demo;
mod discover;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use uap_domain::password::{self, PasswordPolicy, PreferredAlgorithm};
use uap_server::config::{self, Config, SettingsError};
use uap_server::{Application, StartupError};

use crate::output::Out;

/// UAP — zero-migration authentication against your application's own users.
#[derive(Parser)]
#[command(name = "uap", version, about, propagate_version = true)]
struct Cli {
    /// Print error details.
    #[arg(long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Try UAP in one command: a SQLite host database with demo users in many
    /// legacy hash formats, served on 127.0.0.1.
    Demo {
        #[arg(long, default_value_t = 8000)]
        port: u16,
        #[arg(long, default_value = "uap-demo")]
        dir: PathBuf,
    },
    /// Run the server.
    Serve {
        /// Configuration file (default: ./uap.toml when present).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Create or upgrade UAP's internal database. Idempotent.
    Migrate {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Check the host data source against the configuration and print a
    /// census of the stored password hash formats.
    Check {
        #[arg(long)]
        config: Option<PathBuf>,
        /// How many stored hashes to sample at most.
        #[arg(long, default_value_t = 100_000)]
        sample: u64,
        /// Also fetch this user (as a login would find it) and name the
        /// format of its stored hash.
        #[arg(long, value_name = "VALUE")]
        identifier: Option<String>,
    },
    /// Survey a host database read-only and propose a uap.toml for its user
    /// table (stdout; the reasoning on stderr).
    Discover {
        /// The host database URL (postgres://, mysql://, mariadb://, sqlite://).
        #[arg(long)]
        db: String,
        /// Use this table instead of the best-scoring one.
        #[arg(long)]
        table: Option<String>,
        /// Write the proposal to FILE instead of stdout.
        #[arg(long, value_name = "FILE")]
        write: Option<PathBuf>,
        /// Let --write replace an existing file.
        #[arg(long, requires = "write")]
        force: bool,
    },
    /// The audit trail: compliance report, retention cleanup.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Read a password from stdin and print its hash.
    Hash {
        /// argon2id | bcrypt | scrypt | pbkdf2_sha256 (default: the configured one).
        #[arg(long)]
        algorithm: Option<String>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Print the compliance report of a period as JSON (as
    /// `GET /api/v1/audit/report`).
    Report {
        /// Start (RFC 3339 or YYYY-MM-DD); default: 30 days before --to.
        #[arg(long)]
        from: Option<String>,
        /// End (RFC 3339, or YYYY-MM-DD for the whole day); default: now.
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Delete audit and middleware-log rows older than `audit_retention_days`.
    Cleanup {
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

/// A failure with its exit code: 2 for configuration or usage, 1 for runtime.
pub(crate) struct Failure {
    code: u8,
    message: String,
    detail: Option<String>,
}

impl Failure {
    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self { code: 2, message: message.into(), detail: None }
    }

    pub(crate) fn runtime(message: impl Into<String>) -> Self {
        Self { code: 1, message: message.into(), detail: None }
    }
}

impl From<SettingsError> for Failure {
    fn from(err: SettingsError) -> Self {
        Self::config(err.to_string())
    }
}

impl From<StartupError> for Failure {
    fn from(err: StartupError) -> Self {
        let code = match &err {
            StartupError::Config(_) | StartupError::Invalid(_) => 2,
            StartupError::HostDirectory(uap_ports::StoreError::Misconfigured(_))
            | StartupError::InternalDb(uap_ports::StoreError::Misconfigured(_)) => 2,
            _ => 1,
        };
        Self { code, message: err.to_string(), detail: Some(format!("{err:?}")) }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let verbose = cli.verbose;
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            if let (true, Some(detail)) = (verbose, failure.detail) {
                eprintln!("detail: {detail}");
            }
            ExitCode::from(failure.code)
        }
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    match cli.command {
        Command::Demo { port, dir } => demo::run(port, &dir).await,
        Command::Serve { config } => {
            let config = config::load(config.as_deref())?;
            let telemetry =
                uap_server::telemetry::init_with(&config.telemetry, &config.service_name).map_err(Failure::config)?;
            let served = serve(config).await;
            telemetry.shutdown().await;
            served
        }
        Command::Migrate { config } => {
            let config = config::load(config.as_deref())?;
            uap_server::connect_internal_db(&config, true).await?;
            Out::line("internal database is up to date");
            Ok(())
        }
        Command::Check { config, sample, identifier } => {
            let config = config::load(config.as_deref())?;
            check::run(&config, sample, identifier.as_deref()).await
        }
        Command::Audit { command: AuditCommand::Report { from, to, config } } => {
            let config = config::load(config.as_deref())?;
            audit::report(&config, from.as_deref(), to.as_deref()).await
        }
        Command::Audit { command: AuditCommand::Cleanup { config } } => {
            let config = config::load(config.as_deref())?;
            audit::cleanup(&config).await
        }
        Command::Discover { db, table, write, force } => {
            discover::run(discover::Options { db, table, write, force }).await
        }
        Command::Hash { algorithm, config } => hash(algorithm.as_deref(), config.as_deref()),
    }
}

pub(crate) async fn serve(config: Config) -> Result<(), Failure> {
    let app = Application::build(config).await?;
    app.run_until_stopped().await.map_err(|e| Failure::runtime(format!("server error: {e}")))
}

fn hash(algorithm: Option<&str>, config: Option<&std::path::Path>) -> Result<(), Failure> {
    // The configuration is optional here: `uap hash` works without a host DB.
    let policy = match config::load(config) {
        Ok(config) => config.auth.policy,
        Err(_) if config.is_none() => PasswordPolicy::default(),
        Err(err) => return Err(err.into()),
    };
    let algorithm = match algorithm {
        None => policy.preferred,
        Some(name) => serde_json::from_value::<PreferredAlgorithm>(serde_json::Value::from(name)).map_err(|_| {
            Failure::config(format!(
                "--algorithm: unknown algorithm {name:?} (argon2id, bcrypt, scrypt, pbkdf2_sha256)"
            ))
        })?,
    };
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| Failure::runtime(format!("cannot read the password from stdin: {e}")))?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        return Err(Failure::config("no password on stdin"));
    }
    let hashed = password::hash_with(&policy, algorithm, password).map_err(|e| Failure::config(e.to_string()))?;
    Out::line(&hashed);
    Ok(())
}
