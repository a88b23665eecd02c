//! `cargo xtask ci`.

use std::process::Command;

use anyhow::{Context, Result, bail};

/// Crates the core (`uap-domain`, `uap-ports`) must never depend on.
const FORBIDDEN_IN_CORE: &[&str] =
    &["actix-web", "actix-http", "sea-orm", "sqlx", "sqlx-core", "fred", "reqwest", "hyper", "utoipa", "mio", "tokio"];

/// Local services and the variables the integration tests read.
const SERVICES: &[(&str, &str)] = &[
    ("UAP_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"),
    ("UAP_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
    ("UAP_TEST_REDIS_URL", "redis://127.0.0.1:6379"),
];

/// `cargo`, the one running this xtask when known.
pub(crate) fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn run_step(name: &str, command: &mut Command) -> Result<()> {
    eprintln!("\n==> {name}");
    let status = command.status().with_context(|| format!("cannot start {name}"))?;
    if !status.success() {
        bail!("{name} failed ({status})");
    }
    Ok(())
}

/// The whole CI pipeline.
pub fn run() -> Result<()> {
    run_step("cargo fmt --check", cargo().args(["fmt", "--all", "--", "--check"]))?;
    run_step(
        "cargo clippy",
        cargo().args(["clippy", "--workspace", "--all-targets", "--all-features", "--locked", "--", "-D", "warnings"]),
    )?;
    check_dependency_direction()?;
    crate::tidy::run()?;
    crate::deploy_lint::run()?;

    let mut tests = if has_nextest() {
        let mut c = cargo();
        c.args(["nextest", "run", "--workspace", "--all-features", "--locked", "--no-fail-fast"]);
        c
    } else {
        let mut c = cargo();
        c.args(["test", "--workspace", "--all-features", "--locked", "--no-fail-fast"]);
        c
    };
    for (var, default) in SERVICES {
        if std::env::var_os(var).is_none() {
            tests.env(var, default);
        }
    }
    tests.env("UAP_REQUIRE_INTEGRATION", "1");
    run_step("tests", &mut tests)?;
    crate::sdk::run()?;
    Ok(())
}

/// `cargo xtask openapi`: regenerates `docs/openapi.json` from the server's
/// route annotations (the snapshot test in `uap-server` fails when it is stale).
pub fn write_openapi() -> Result<()> {
    run_step(
        "write docs/openapi.json",
        cargo()
            .args([
                "test",
                "-p",
                "uap-server",
                "--test",
                "it",
                "--locked",
                "--",
                "openapi::openapi_snapshot_is_current",
            ])
            .env("UAP_UPDATE_OPENAPI", "1"),
    )
}

fn has_nextest() -> bool {
    cargo().args(["nextest", "--version"]).output().is_ok_and(|o| o.status.success())
}

/// Fails when `uap-domain` or `uap-ports` pulls in an I/O framework.
pub fn check_dependency_direction() -> Result<()> {
    eprintln!("\n==> dependency direction");
    for package in ["uap-ports", "uap-domain"] {
        let output = cargo()
            .args(["tree", "--locked", "-p", package, "-e", "normal", "--prefix", "none", "--format", "{p}"])
            .output()
            .context("cannot run cargo tree")?;
        if !output.status.success() {
            bail!("cargo tree -p {package} failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        let tree = String::from_utf8_lossy(&output.stdout);
        let offenders = forbidden(&tree);
        if !offenders.is_empty() {
            bail!(
                "{package} depends on {} (the core must stay free of I/O crates; see ARCHITECTURE.md)",
                offenders.join(", ")
            );
        }
        eprintln!("{package}: clean");
    }
    Ok(())
}

/// The forbidden crate names appearing in a `cargo tree --format {p}` listing.
fn forbidden(tree: &str) -> Vec<String> {
    let mut found: Vec<String> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| FORBIDDEN_IN_CORE.contains(name))
        .map(str::to_owned)
        .collect();
    found.sort();
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_forbidden_crates_by_exact_name() {
        let tree = "uap-domain v0.1.0 (/x)\nserde v1.0.0\ntokio v1.54.0\ntokio-util v0.7.0\nsqlx v0.9.0\n";
        assert_eq!(forbidden(tree), vec!["sqlx".to_owned(), "tokio".to_owned()]);
        assert!(forbidden("uap-ports v0.1.0\nasync-trait v0.1.0\n").is_empty());
    }
}
