//! Developer workflows. `cargo xtask ci` is what `.ci/run` calls: format
//! check, clippy with `-D warnings`, the dependency-direction check, and every
//! test against the real services. `cargo xtask bench [--quick] [--check]`
//! measures the release binary under load (see `docs/performance.md`); it is
//! not part of `ci`. `cargo xtask tidy` checks the source tree's own rules
//! (also run by `ci` and as tests); `cargo xtask openapi` rewrites the
//! committed OpenAPI snapshot `docs/openapi.json`.

mod bench;
mod ci;
mod deploy_lint;
mod sdk;
mod tidy;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::run(),
        Some("deps") => ci::check_dependency_direction(),
        Some("bench") => bench::run(args.get(1..).unwrap_or_default()),
        Some("tidy") => tidy::run(),
        Some("deploy-lint") => deploy_lint::run(),
        Some("sdk-test") => sdk::run(),
        Some("openapi") => ci::write_openapi(),
        _ => {
            eprintln!("usage: cargo xtask <ci|deps|tidy|deploy-lint|openapi|sdk-test|bench [--quick] [--check]>");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            ExitCode::FAILURE
        }
    }
}
