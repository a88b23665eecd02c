//! `uap discover`: survey a host database read-only, score its tables as user
//! tables, recognise the framework that made the best one, and propose a
//! `uap.toml` (on stdout, a comment per key) with the reasoning on stderr.
//!
//! The proposal holds no secret: no `jwt_secret_key`, and a URL with a
//! password is left out (a comment says to set `UAP_HOST_DB_URL`). The URL is
//! only ever shown through [`redact_url`].

mod analysis;
mod frameworks;
mod proposal;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use uap_adapters_sql::{SchemaSurvey, SqlBackend, SurveyedTable, redact_url};

use crate::Failure;
use crate::output::Out;
use analysis::Candidate;

/// Show a progress bar when more tables than this are surveyed (and stderr
/// is a terminal).
const PROGRESS_ABOVE: usize = 20;

/// The command line of `uap discover`.
pub(crate) struct Options {
    pub db: String,
    pub table: Option<String>,
    pub write: Option<PathBuf>,
    pub force: bool,
}

pub(crate) async fn run(options: Options) -> Result<(), Failure> {
    let shown = redact_url(&options.db);
    if let Err(err) = SqlBackend::from_url("--db", &options.db) {
        return Err(Failure::config(err.to_string()));
    }
    if let Some(path) = &options.write
        && path.exists()
        && !options.force
    {
        return Err(Failure::config(format!(
            "--write: {} exists; not overwritten (add --force to replace it)",
            path.display()
        )));
    }
    let survey = SchemaSurvey::connect(&options.db).await.map_err(|err| {
        Failure::runtime(format!("cannot reach the host database {shown}: {}", uap_ports::error_chain(&err)))
    })?;
    let host = |err: uap_ports::StoreError| {
        Failure::runtime(format!("host database {shown}: {}", uap_ports::error_chain(&err)))
    };
    let names = survey.table_names().await.map_err(host)?;
    let plural = if names.len() == 1 { "" } else { "s" };
    note(&format!("{} database {shown}: {} table{plural}", survey.backend(), names.len()));

    let forced = match &options.table {
        Some(name) => Some(
            survey
                .table(name)
                .await
                .map_err(|e| match e {
                    uap_ports::StoreError::Misconfigured(_) => Failure::config(e.to_string()),
                    other => host(other),
                })?
                .ok_or_else(|| {
                    Failure::runtime(format!("--table: table {name:?} does not exist in {shown} (or is not visible)"))
                })?,
        ),
        None => None,
    };
    let mut tables: Vec<SurveyedTable> = Vec::with_capacity(names.len());
    let bar = progress(names.len());
    for name in &names {
        bar.set_message(name.clone());
        if let Some(table) = survey.table(name).await.map_err(host)? {
            tables.push(table);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();

    let candidates: Vec<SurveyedTable> = match &forced {
        Some(table) => vec![table.clone()],
        None => tables.clone(),
    };
    let mut scored: Vec<Candidate> = Vec::new();
    let bar = progress(candidates.len());
    for table in candidates {
        bar.set_message(table.name.clone());
        if let Some(candidate) = analysis::analyse(&survey, table, &tables).await.map_err(host)? {
            scored.push(candidate);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    scored.sort_by(|a, b| b.score.cmp(&a.score).then_with(|| a.table.name.cmp(&b.table.name)));

    for candidate in &scored {
        note(&format!(
            "candidate {} (score {}): {}",
            candidate.table.name,
            candidate.score,
            candidate.reasons.join("; ")
        ));
    }
    let Some(best) = scored.into_iter().next() else {
        let why = "a password column (named like `password`, or holding recognised password hashes) beside a \
                   login identifier";
        return Err(Failure::runtime(match options.table.as_deref() {
            Some(t) => format!("table {t:?} of {shown} does not look like a user table: it lacks {why}"),
            None => format!(
                "no table of {shown} looks like a user table: none has {why}; name the table with --table if it \
                 has one"
            ),
        }));
    };
    if let Some(rows) = best.rows {
        note(&format!("chosen: {} ({rows} rows)", best.table.name));
    } else {
        note(&format!("chosen: {}", best.table.name));
    }
    for line in &best.findings {
        note(&format!("  {line}"));
    }
    let text = frameworks::propose(&best, &options.db, &shown).render();
    match &options.write {
        Some(path) => {
            write_file(path, &text, options.force)?;
            note(&format!("proposal written to {}; next: `uap check --config {}`", path.display(), path.display()));
        }
        None => {
            for line in text.lines() {
                Out::line(line);
            }
        }
    }
    Ok(())
}

/// A reasoning line on stderr.
fn note(line: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{line}");
}

/// A progress bar on stderr for scans over [`PROGRESS_ABOVE`] tables, hidden
/// when stderr is not a terminal.
fn progress(len: usize) -> ProgressBar {
    if len <= PROGRESS_ABOVE || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("surveying {bar:40} {pos}/{len} tables {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

fn write_file(path: &std::path::Path, text: &str, force: bool) -> Result<(), Failure> {
    let mut open = std::fs::OpenOptions::new();
    open.write(true);
    if force {
        open.create(true).truncate(true);
    } else {
        open.create_new(true);
    }
    let mut file = open.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Failure::config(format!("--write: {} exists; not overwritten (add --force to replace it)", path.display()))
        } else {
            Failure::runtime(format!("--write: cannot write {}: {e}", path.display()))
        }
    })?;
    file.write_all(text.as_bytes())
        .map_err(|e| Failure::runtime(format!("--write: cannot write {}: {e}", path.display())))
}
