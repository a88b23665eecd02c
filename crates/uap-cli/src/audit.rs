//! `uap audit report` (the compliance report as JSON on stdout, the same as
//! `GET /api/v1/audit/report`) and `uap audit cleanup` (retention, with a
//! progress bar on stderr).

use indicatif::{ProgressBar, ProgressStyle};
use uap_ports::{Clock, SystemClock};
use uap_server::Config;
use uap_server::retention::{self, Table};

use crate::Failure;
use crate::output::Out;

async fn internal_db(config: &Config) -> Result<uap_adapters_sql::InternalDb, Failure> {
    Ok(uap_server::connect_internal_db(config, config.storage.auto_migrate).await?)
}

pub(crate) async fn report(config: &Config, from: Option<&str>, to: Option<&str>) -> Result<(), Failure> {
    let now = SystemClock.now();
    let (start, end) = uap_server::audit::report_period(from, to, ("--from", "--to"), now).map_err(Failure::config)?;
    let db = internal_db(config).await?;
    let report = uap_server::audit::report(&db.audit_sink(), start, end, now)
        .await
        .map_err(|e| Failure::runtime(format!("internal database (database_url): {e}")))?;
    let json = serde_json::to_string_pretty(&report).map_err(|e| Failure::runtime(format!("report: {e}")))?;
    Out::line(&json);
    Ok(())
}

pub(crate) async fn cleanup(config: &Config) -> Result<(), Failure> {
    let db = internal_db(config).await?;
    let cutoff = retention::cutoff(SystemClock.now(), config.audit_retention_days);
    let pending = retention::pending(&db, cutoff)
        .await
        .map_err(|e| Failure::runtime(format!("internal database (database_url): {e}")))?;
    let bar = ProgressBar::with_draw_target(
        Some(pending.audit_logs + pending.middleware_logs),
        indicatif::ProgressDrawTarget::stderr(),
    );
    bar.set_style(
        ProgressStyle::with_template("deleting rows older than {prefix} {bar:40} {pos}/{len} ({msg})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_prefix(uap_server::api::rfc3339(cutoff));
    bar.set_message("audit logs");
    let progress = |table: Table, deleted: u64| {
        let (name, done) = match table {
            Table::AuditLogs => ("audit logs", deleted),
            Table::MiddlewareLogs => ("middleware logs", pending.audit_logs + deleted),
        };
        bar.set_message(name);
        bar.set_position(done);
    };
    let deleted = retention::cleanup(&db, cutoff, retention::BATCH, progress)
        .await
        .map_err(|e| Failure::runtime(format!("internal database (database_url): {e}")))?;
    bar.finish_and_clear();
    Out::line(&format!(
        "deleted {} audit log rows and {} middleware log rows older than {} ({} days)",
        deleted.audit_logs,
        deleted.middleware_logs,
        uap_server::api::rfc3339(cutoff),
        config.audit_retention_days
    ));
    Ok(())
}
