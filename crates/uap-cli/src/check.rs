//! `uap check`: reflect the host table, then a census of stored hash formats;
//! on a host user API, reach `GET /health`. With `--identifier`, fetch one
//! user as a login would and name its stored hash's format.

use std::collections::BTreeMap;

use indicatif::{ProgressBar, ProgressStyle};
use uap_domain::password::{HashUpgrade, StoredHash, Weakness};

use crate::output::Out;
use uap_adapters_sql::SqlUserDirectory;
use uap_ports::UserQuery;
use uap_server::{Config, HostDirectory, StartupError};

use crate::Failure;

/// Rows per sampling query.
const BATCH: u64 = 5_000;
/// Show a progress bar above this many rows.
const PROGRESS_ABOVE: u64 = 20_000;

pub(crate) async fn run(config: &Config, sample: u64, identifier: Option<&str>) -> Result<(), Failure> {
    let host = uap_server::connect_host_directory(&config.host).await.map_err(|err| match err {
        StartupError::HostDirectory(uap_ports::StoreError::Unavailable { .. }) => Failure::runtime(err.to_string()),
        other => Failure::from(other),
    })?;
    match &host {
        HostDirectory::Database(directory) => census(config, directory, sample).await?,
        HostDirectory::Api(api) => {
            Out::line(&format!("host user API {}: GET /health answered 200", api.base_url()));
            if api.verifies_password() {
                Out::line("  delegated mode: the host verifies passwords itself (POST /auth/verify); no hash is read");
            }
        }
    }
    if let Some(identifier) = identifier {
        lookup(config, &host, identifier).await?;
    }
    Ok(())
}

/// Where a failure of `host` comes from, for messages.
fn source_name(host: &HostDirectory) -> String {
    match host {
        HostDirectory::Database(_) => "host database".to_owned(),
        HostDirectory::Api(api) => format!("host user API {}", api.base_url()),
    }
}

/// Fetches the user `identifier` names, as a login would, and names its
/// stored hash's format.
async fn lookup(config: &Config, host: &HostDirectory, identifier: &str) -> Result<(), Failure> {
    let fields = config.auth.identifier_fields.clone();
    let query = UserQuery {
        value: identifier.to_owned(),
        fields: fields.clone(),
        case_insensitive: config.auth.case_insensitive,
    };
    let directory = host.directory();
    let failed =
        |e: uap_ports::StoreError| Failure::runtime(format!("{}: {}", source_name(host), uap_ports::error_chain(&e)));
    let Some(user) = directory.find_user(&query).await.map_err(failed)? else {
        return Err(Failure::runtime(format!(
            "{}: no user matches {identifier:?} in {}",
            source_name(host),
            fields.join(", ")
        )));
    };
    let user = directory.complete(user).await.map_err(failed)?;
    let active = match user.active {
        Some(true) => "active",
        Some(false) => "INACTIVE (cannot log in)",
        None => "no active flag",
    };
    let roles = if user.roles.is_empty() { "none".to_owned() } else { user.roles.join(", ") };
    Out::line(&format!("user {identifier:?}: id {}, {active}, roles: {roles}", user.id));
    let format = match (&user.password_hash, host.authority().is_some()) {
        (_, true) => "none read: the host verifies passwords itself (host_api_verifies_password = true)".to_owned(),
        (None, false) => "none stored (this user cannot log in)".to_owned(),
        (Some(stored), false) => match StoredHash::parse(stored, &config.auth.policy) {
            Some(hash) => {
                let assessment = hash.assess(&config.auth.policy);
                let weak = if matches!(assessment.weakness, Weakness::Strong) { "" } else { " (weak)" };
                format!("{}{weak}", assessment.label)
            }
            None => "unknown format (login denied)".to_owned(),
        },
    };
    Out::line(&format!("  stored hash: {format}"));
    Ok(())
}

/// The table's columns and the census of its stored hash formats.
async fn census(config: &Config, directory: &SqlUserDirectory, sample: u64) -> Result<(), Failure> {
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
