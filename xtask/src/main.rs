//! Developer workflows. `cargo xtask ci` is what `.ci/run` calls: format
//! check, clippy with `-D warnings`, the dependency-direction check, and every
//! test against the real services.

mod ci;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::run(),
        Some("deps") => ci::check_dependency_direction(),
        _ => {
            eprintln!("usage: cargo xtask <ci|deps>");
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
