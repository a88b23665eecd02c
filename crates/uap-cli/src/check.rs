//! `uap check`: reflect the host table, then a census of stored hash formats.

use std::collections::BTreeMap;

use indicatif::{ProgressBar, ProgressStyle};
use uap_domain::password::{HashUpgrade, StoredHash, Weakness};

use crate::output::Out;
use uap_server::{Config, StartupError};

use crate::Failure;

/// Rows per sampling query.
const BATCH: u64 = 5_000;
/// Show a progress bar above this many rows.
const PROGRESS_ABOVE: u64 = 20_000;

pub(crate) async fn run(config: &Config, sample: u64) -> Result<(), Failure> {
    let directory = uap_server::connect_host_directory(&config.host).await.map_err(|err| match err {
        StartupError::HostDirectory(uap_ports::StoreError::Unavailable { .. }) => Failure::runtime(err.to_string()),
        other => Failure::from(other),
    })?;
    let table = directory.describe().await;
    let rows = table.row_count.map_or_else(|| "? rows".to_owned(), |n| format!("{n} rows"));
    Out::line(&format!("host table {} ({}): {rows}", table.table, table.backend.as_str()));
    let used: Vec<String> = table.used.iter().map(|u| format!("{} = {}", u.key, u.column)).collect();
    Out::line(&format!("  columns used: {}", used.join(", ")));
    for skipped in &table.skipped {
        Out::line(&format!("  not used: {} = {} ({})", skipped.key, skipped.column, skipped.reason));
    }
    if let Some((role_table, _)) = &table.role_table {
        Out::line(&format!("  roles from table {role_table}"));
    }

    let bar = ProgressBar::hidden();
    let mut progress = |done: u64, total: u64| {
        if total > PROGRESS_ABOVE {
            if bar.is_hidden() {
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                bar.set_style(
                    ProgressStyle::with_template("sampling {bar:40} {pos}/{len} hashes ({eta})")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
            }
            bar.set_length(total);
            bar.set_position(done);
        }
    };
    let hashes = directory
        .password_hashes(sample, BATCH, &mut progress)
        .await
        .map_err(|e| Failure::runtime(format!("host database: {e}")))?;
    bar.finish_and_clear();

    let policy = &config.auth.policy;
    let mut census: BTreeMap<String, (u64, Weakness)> = BTreeMap::new();
    for stored in &hashes {
        let (label, weakness) = match StoredHash::parse(stored, policy) {
            Some(hash) => {
                let assessment = hash.assess(policy);
                (assessment.label, assessment.weakness)
            }
            None => ("unknown format (login denied)".to_owned(), Weakness::Strong),
        };
        census.entry(label).or_insert((0, weakness)).0 += 1;
    }
    let total = hashes.len() as u64;
    Out::line(&format!("{total} password hashes sampled"));
    let mut rows: Vec<(String, (u64, Weakness))> = census.into_iter().collect();
    rows.sort_by(|a, b| b.1.0.cmp(&a.1.0).then_with(|| a.0.cmp(&b.0)));
    let upgradable = match policy.upgrade {
        HashUpgrade::WriteBack => "  (weak: will be upgraded on login)",
        HashUpgrade::Report => "  (weak: set hash_upgrade = \"write_back\" to upgrade on login)",
        HashUpgrade::Off => "  (weak)",
    };
    for (label, (count, weakness)) in rows {
        #[expect(clippy::cast_precision_loss, reason = "a percentage for display")]
        let percent = count as f64 * 100.0 / total.max(1) as f64;
        let suffix = match weakness {
            Weakness::Strong => "",
            Weakness::Upgradable => upgradable,
            Weakness::Skipped => "  (weak: its family is in hash_upgrade_skip)",
            Weakness::NeedsReset => "  (weak: nothing stronger verifies in the host; a password reset upgrades it)",
        };
        Out::line(&format!("  {label:<44} {percent:>5.1}% {count:>9}{suffix}"));
    }
    Ok(())
}
