//! `cargo xtask tidy`: checks of the source tree that are rules of this code
//! base rather than of the compiler, run as tests too (as rust-analyzer's
//! `tidy.rs` does) so `cargo xtask ci` enforces them:
//!
//! - every source file of every crate starts with a `//!` header saying what
//!   it owns;
//! - nothing prints to stdout outside the CLI and the xtask (`println!`,
//!   `print!`): servers log through `tracing`, and the CLI writes through one
//!   writer.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// The workspace root (the parent of `xtask/`).
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The source directories of every workspace member (`crates/*/src`,
/// `xtask/src`).
fn source_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .map(|entries| entries.flatten().map(|e| e.path().join("src")).filter(|p| p.is_dir()).collect())
        .unwrap_or_default();
    dirs.push(root.join("xtask/src"));
    dirs.sort();
    dirs
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).display().to_string()
}

/// Source files that do not start with a `//!` header.
pub(crate) fn files_without_header(root: &Path) -> Vec<String> {
    source_dirs(root)
        .iter()
        .flat_map(|dir| rust_files(dir))
        .filter(|path| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            !text.trim_start().starts_with("//!")
        })
        .map(|path| relative(root, &path))
        .collect()
}

/// `file:line` of every `print!`/`println!` outside `crates/uap-cli/src` and
/// `xtask/` (tests included: they report through `eprintln!`).
pub(crate) fn stdout_prints(root: &Path) -> Vec<String> {
    let allowed = [root.join("crates/uap-cli/src"), root.join("xtask")];
    let mut dirs = vec![root.join("crates")];
    dirs.retain(|d| d.is_dir());
    let mut found = Vec::new();
    for path in dirs.iter().flat_map(|d| rust_files(d)) {
        if allowed.iter().any(|a| path.starts_with(a)) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if calls_macro(code, "println!(") || calls_macro(code, "print!(") {
                found.push(format!("{}:{}", relative(root, &path), n + 1));
            }
        }
    }
    found
}

/// Whether `code` invokes `mac` itself (not `eprintln!` for `println!`).
fn calls_macro(code: &str, mac: &str) -> bool {
    code.match_indices(mac)
        .any(|(at, _)| code[..at].chars().next_back().is_none_or(|c| !(c.is_alphanumeric() || c == '_')))
}

/// Runs every check; the error lists every offence.
pub fn run() -> Result<()> {
    eprintln!("\n==> tidy");
    let root = root();
    let mut problems = Vec::new();
    for file in files_without_header(&root) {
        problems.push(format!("{file}: no `//!` header saying what the module owns"));
    }
    for place in stdout_prints(&root) {
        problems.push(format!("{place}: prints to stdout (use tracing, or the CLI's writer)"));
    }
    if problems.is_empty() {
        eprintln!("tidy: clean");
        return Ok(());
    }
    bail!("tidy found {} problem(s):\n  {}", problems.len(), problems.join("\n  "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_file_has_a_header() {
        let missing = files_without_header(&root());
        assert!(missing.is_empty(), "files without a `//!` header:\n  {}", missing.join("\n  "));
    }

    #[test]
    fn nothing_prints_to_stdout_outside_the_cli() {
        let found = stdout_prints(&root());
        assert!(found.is_empty(), "stdout prints outside the CLI:\n  {}", found.join("\n  "));
    }

    #[test]
    fn the_checks_find_offences() {
        let dir = std::env::temp_dir().join(format!("uap-tidy-{}", std::process::id()));
        let src = dir.join("crates/uap-x/src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::create_dir_all(dir.join("xtask/src")).unwrap();
        std::fs::write(src.join("lib.rs"), "//! Owns x.\nmod a;\n").unwrap();
        std::fs::write(src.join("a.rs"), "fn f() {\n    println!(\"hi\");\n    eprintln!(\"ok\");\n}\n").unwrap();
        assert_eq!(files_without_header(&dir), vec!["crates/uap-x/src/a.rs".to_owned()]);
        assert_eq!(stdout_prints(&dir), vec!["crates/uap-x/src/a.rs:2".to_owned()]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
