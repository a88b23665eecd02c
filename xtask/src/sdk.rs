//! `cargo xtask sdk-test` (and the last step of `cargo xtask ci`): the Python
//! and Node SDK suites (`sdk/python`, `sdk/node`) against the debug `uap`
//! binary of the current target dir, which they start themselves (`UAP_BIN`).
//!
//! Their dependencies come from the registries at pinned versions and are kept
//! between runs under `<target dir>/tools/`: a virtualenv rebuilt only when
//! what it was built from changes (a stamp file holds that), and npm's cache
//! for `npm ci`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::tidy::root;

/// Runs both SDK suites.
pub fn run() -> Result<()> {
    let root = root();
    // The same units as the test step (workspace, all targets and features):
    // after it, this build is a no-op.
    step(
        "cargo build (uap)",
        crate::ci::cargo().args(["build", "--workspace", "--all-targets", "--all-features", "--locked"]),
    )?;
    let target = target_dir(&root);
    let uap = target.join("debug").join(if cfg!(windows) { "uap.exe" } else { "uap" });
    if !uap.is_file() {
        bail!("no uap binary at {} after the build", uap.display());
    }
    let tools = target.join("tools");
    python(&root, &tools, &uap)?;
    node(&root, &tools, &uap)
}

/// `CARGO_TARGET_DIR` (absolute), else `<root>/target`.
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() { dir } else { std::env::current_dir().unwrap_or_else(|_| root.into()).join(dir) }
        }
        _ => root.join("target"),
    }
}

fn step(name: &str, command: &mut Command) -> Result<()> {
    eprintln!("\n==> {name}");
    let started = Instant::now();
    let status = command.status().with_context(|| format!("cannot start {name}"))?;
    if !status.success() {
        bail!("{name} failed ({status})");
    }
    eprintln!("{name}: {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// What the virtualenv is built from; it is rebuilt when this changes.
fn python_stamp(sdk: &Path, interpreter_version: &str) -> Result<String> {
    let mut stamp = format!("python {}\nsource {}\n", interpreter_version.trim(), sdk.display());
    for file in ["pyproject.toml", "constraints.txt"] {
        let text = std::fs::read_to_string(sdk.join(file)).with_context(|| format!("cannot read sdk/python/{file}"))?;
        stamp.push_str(&format!("--- {file}\n{text}"));
    }
    Ok(stamp)
}

fn python(root: &Path, tools: &Path, uap: &Path) -> Result<()> {
    let sdk = root.join("sdk/python");
    let venv = tools.join("sdk-python");
    let version = Command::new("python3").arg("--version").output().context("python3 is not installed")?;
    if !version.status.success() {
        bail!("python3 --version failed");
    }
    let stamp = python_stamp(&sdk, &String::from_utf8_lossy(&version.stdout))?;
    let stamp_file = venv.join("uap-sdk.stamp");
    if std::fs::read_to_string(&stamp_file).ok().as_deref() == Some(stamp.as_str()) {
        eprintln!("\n==> Python SDK: reusing {}", venv.display());
    } else {
        if venv.exists() {
            std::fs::remove_dir_all(&venv).with_context(|| format!("cannot remove {}", venv.display()))?;
        }
        step("python3 -m venv", Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
        step(
            "pip install sdk/python[test]",
            Command::new(venv.join("bin/pip"))
                .args(["install", "--quiet", "--disable-pip-version-check", "-c"])
                .arg(sdk.join("constraints.txt"))
                .arg("-e")
                .arg(format!("{}[test]", sdk.display())),
        )?;
        std::fs::write(&stamp_file, &stamp).with_context(|| format!("cannot write {}", stamp_file.display()))?;
    }
    step(
        "pytest sdk/python",
        Command::new(venv.join("bin/python"))
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
            .current_dir(&sdk)
            .env("UAP_BIN", uap),
    )
}

fn node(root: &Path, tools: &Path, uap: &Path) -> Result<()> {
    let sdk = root.join("sdk/node");
    let version = Command::new("node").arg("--version").output().context("node is not installed")?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    if node_major(&version).is_none_or(|major| major < 20) {
        bail!("the Node SDK needs Node >= 20, found {version:?}");
    }
    step(
        "npm ci sdk/node",
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefer-offline", "--cache"])
            .arg(tools.join("npm-cache"))
            .current_dir(&sdk),
    )?;
    step("npm test sdk/node", Command::new("npm").arg("test").current_dir(&sdk).env("UAP_BIN", uap))
}

/// The major version of `node --version` (`v20.20.2` → 20).
fn node_major(version: &str) -> Option<u32> {
    version.strip_prefix('v')?.split('.').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_node_major_versions() {
        assert_eq!(node_major("v20.20.2"), Some(20));
        assert_eq!(node_major("v18.19.0"), Some(18));
        assert_eq!(node_major("20.1.0"), None);
        assert_eq!(node_major(""), None);
    }

    #[test]
    fn the_stamp_follows_the_sdk_files_and_the_interpreter() {
        let sdk = root().join("sdk/python");
        let a = python_stamp(&sdk, "Python 3.11.7\n").unwrap();
        assert_eq!(a, python_stamp(&sdk, "Python 3.11.7").unwrap());
        assert_ne!(a, python_stamp(&sdk, "Python 3.12.1").unwrap());
        let pyproject = std::fs::read_to_string(sdk.join("pyproject.toml")).unwrap();
        assert!(a.contains(&pyproject), "the stamp holds pyproject.toml");
        assert!(a.contains("constraints.txt"));
    }
}
