//! Scoring one table as a user table: which column holds password hashes
//! (sampled and recognised by `uap_domain::password`), which columns
//! identify a user, the id, an active flag, a role column or role table.

use std::collections::{BTreeMap, BTreeSet};

use uap_adapters_sql::{SchemaSurvey, SurveyedTable};
use uap_domain::password::{PasswordPolicy, StoredHash};
use uap_ports::StoreError;
use uap_ports::flag_value;

use super::frameworks::{self, Framework};

/// Values sampled from a column named like a password.
const SAMPLE: u64 = 200;
/// Values sampled from other text columns when no named column holds hashes.
const SAMPLE_UNNAMED: u64 = 20;
/// Distinct values read from a candidate active flag.
const FLAG_SAMPLE: u64 = 20;

/// Column names that hold a password hash, best first.
const PASSWORD_NAMES: &[&str] = &[
    "password",
    "encrypted_password",
    "password_hash",
    "hashed_password",
    "password_digest",
    "passwd",
    "pass",
    "pwd",
    "user_pass",
    "user_password",
    "pass_hash",
    "passhash",
];
/// Login names, best first.
const USERNAME_NAMES: &[&str] = &["username", "user_name", "login", "user_login", "username_clean", "uname", "name"];
/// E-mail columns, best first.
const EMAIL_NAMES: &[&str] = &["email", "email_address", "mail", "user_email"];
/// Id columns, best first.
const ID_NAMES: &[&str] = &["id", "uid", "user_id", "userid"];
/// Active flags (1 = may log in).
const ACTIVE_NAMES: &[&str] = &["is_active", "active", "enabled", "is_enabled", "activated", "is_activated", "status"];
/// Flags where 1 keeps the user out: `active_field` cannot express them;
/// `inactive_field` can, but discover leaves that choice to the operator
/// (the meaning of such a column is the host's).
const INVERTED_NAMES: &[&str] = &[
    "is_blocked",
    "blocked",
    "banned",
    "is_banned",
    "disabled",
    "is_disabled",
    "locked",
    "is_locked",
    "deleted",
    "is_deleted",
    "suspended",
    "is_suspended",
    "spam",
];
/// Role columns.
const ROLE_NAMES: &[&str] = &["role", "user_role", "role_name"];
/// Table names that usually hold users.
const USER_TABLE_NAMES: &[&str] =
    &["users", "user", "accounts", "account", "members", "member", "customers", "auth_user"];

/// The column holding password hashes and what its sample showed.
#[derive(Debug, Clone, Default)]
pub(super) struct PasswordColumn {
    pub column: String,
    pub sampled: usize,
    /// Values recognised with the default policy.
    pub recognised: usize,
    /// Values recognised only as bare hex digests (`legacy_plain_digests`).
    pub plain_digests: usize,
    /// Census label → count.
    pub census: BTreeMap<String, usize>,
    /// Family names seen (`HashFormat::family_name`).
    pub families: BTreeSet<&'static str>,
}

/// A role table of UAP's one-table shape.
#[derive(Debug, Clone)]
pub(super) struct RoleTable {
    pub table: String,
    pub user_id: String,
    pub name: String,
}

/// A table that could be the user table, with what was found in it.
#[derive(Debug)]
pub(super) struct Candidate {
    pub table: SurveyedTable,
    pub rows: Option<u64>,
    pub score: i64,
    /// Short reasons for the score.
    pub reasons: Vec<String>,
    /// Longer findings, printed for the chosen table.
    pub findings: Vec<String>,
    pub framework: Option<Framework>,
    pub password: PasswordColumn,
    pub usernames: Vec<String>,
    pub emails: Vec<String>,
    pub id: Option<String>,
    pub active: Option<String>,
    /// Why a flag-like column is not proposed as `active_field`.
    pub active_notes: Vec<String>,
    pub role: Option<String>,
    pub role_table: Option<RoleTable>,
}

impl Candidate {
    /// The table's own spelling of `name`, when it has such a column
    /// (compared case-insensitively).
    pub(super) fn column(&self, name: &str) -> Option<String> {
        column_named(&self.table, name)
    }
}

pub(super) fn column_named(table: &SurveyedTable, name: &str) -> Option<String> {
    table.columns.iter().find(|c| c.name.eq_ignore_ascii_case(name)).map(|c| c.name.clone())
}

fn first_of(table: &SurveyedTable, names: &[&str]) -> Vec<String> {
    names.iter().filter_map(|n| column_named(table, n)).collect()
}

fn is_textual(data_type: &str) -> bool {
    let t = data_type.to_ascii_lowercase();
    ["char", "text", "clob", "blob", "binary", "bytea", "string"].iter().any(|k| t.contains(k))
}

/// Analyses `table`; `None` when it has no password column or no login
/// identifier (it cannot be a user table UAP logs users in from).
pub(super) async fn analyse(
    survey: &SchemaSurvey,
    table: SurveyedTable,
    all: &[SurveyedTable],
) -> Result<Option<Candidate>, StoreError> {
    let framework = frameworks::recognise(&table);
    let mut usernames = first_of(&table, USERNAME_NAMES);
    let emails = first_of(&table, EMAIL_NAMES);
    // A bare `name` beside an e-mail column is usually a display name
    // (Laravel, many hand-made tables): log in with the e-mail then.
    if !emails.is_empty() && usernames.iter().all(|u| u.eq_ignore_ascii_case("name")) {
        usernames.clear();
    }
    let mut findings = Vec::new();
    let mut reasons = Vec::new();

    let Some(password) = find_password(survey, &table, framework, !usernames.is_empty() || !emails.is_empty()).await?
    else {
        return Ok(None);
    };
    if usernames.is_empty() && emails.is_empty() && framework.is_none() {
        return Ok(None);
    }
    let rows = survey.count_rows(&table.name).await.ok();
    let mut score: i64 = 0;
    if let Some(fw) = framework {
        score += 100;
        reasons.push(format!("recognised as {}", fw.name()));
    }
    let lower = table.name.to_ascii_lowercase();
    if USER_TABLE_NAMES.contains(&lower.as_str()) || lower.ends_with("_users") || lower.ends_with("_user") {
        score += 15;
        reasons.push("named like a user table".into());
    } else if lower.contains("user") || lower.contains("member") || lower.contains("account") {
        score += 8;
        reasons.push("name mentions users".into());
    }
    if PASSWORD_NAMES.contains(&password.column.to_ascii_lowercase().as_str()) {
        score += 15;
    }
    if password.recognised > 0 {
        score += 10 + i64::try_from(password.recognised * 50 / password.sampled.max(1)).unwrap_or(0);
        reasons.push(format!(
            "{} holds recognised password hashes ({} of {} sampled)",
            password.column, password.recognised, password.sampled
        ));
    } else {
        reasons.push(format!("{} is named like a password column (no recognised hash sampled)", password.column));
    }
    if let Some(u) = usernames.first() {
        score += 10;
        reasons.push(format!("login column {u}"));
    }
    if let Some(e) = emails.first() {
        score += 8;
        reasons.push(format!("e-mail column {e}"));
    }
    let id = first_of(&table, ID_NAMES).into_iter().next();
    if id.is_some() {
        score += 3;
    }
    let (active, active_notes) = find_active(survey, &table).await?;
    if let Some(a) = &active {
        score += 3;
        reasons.push(format!("active flag {a}"));
    }
    let role = first_of(&table, ROLE_NAMES).into_iter().next();
    let role_table = if role.is_none() { find_role_table(&table, all) } else { None };
    if role.is_some() || role_table.is_some() {
        score += 3;
    }
    findings.extend(hash_findings(&table.name, &password));
    findings.extend(active_notes.iter().cloned());
    Ok(Some(Candidate {
        table,
        rows,
        score,
        reasons,
        findings,
        framework,
        password,
        usernames,
        emails,
        id,
        active,
        active_notes,
        role,
        role_table,
    }))
}

fn hash_findings(table: &str, password: &PasswordColumn) -> Vec<String> {
    let mut lines = vec![format!(
        "password column {table}.{}: {} of {} sampled values recognised{}",
        password.column,
        password.recognised,
        password.sampled,
        if password.plain_digests > 0 {
            format!(" (+{} bare hex digests, only with legacy_plain_digests)", password.plain_digests)
        } else {
            String::new()
        }
    )];
    let mut census: Vec<(&String, &usize)> = password.census.iter().collect();
    census.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    for (label, count) in census {
        lines.push(format!("  {label}: {count}"));
    }
    lines
}

/// The column holding password hashes: the named column (or the framework's)
/// whose sample holds the most recognised hashes; failing that, any text
/// column holding recognised hashes when the table has a login identifier;
/// failing that, a named column with nothing recognisable (an empty table).
async fn find_password(
    survey: &SchemaSurvey,
    table: &SurveyedTable,
    framework: Option<Framework>,
    has_identifier: bool,
) -> Result<Option<PasswordColumn>, StoreError> {
    let textual: Vec<&str> =
        table.columns.iter().filter(|c| is_textual(&c.data_type)).map(|c| c.name.as_str()).collect();
    let mut named: Vec<String> = Vec::new();
    if let Some(column) = framework.and_then(|f| column_named(table, f.password_column())) {
        named.push(column);
    }
    for name in PASSWORD_NAMES {
        if let Some(column) = column_named(table, name)
            && !named.contains(&column)
            && textual.iter().any(|t| t.eq_ignore_ascii_case(&column))
        {
            named.push(column);
        }
    }
    let mut best: Option<PasswordColumn> = None;
    for column in &named {
        let sample = sample_hashes(survey, &table.name, column, SAMPLE).await?;
        if best.as_ref().is_none_or(|b| sample.recognised > b.recognised) {
            best = Some(sample);
        }
    }
    if best.as_ref().is_some_and(|b| b.recognised > 0) || !has_identifier {
        return Ok(best);
    }
    for column in textual.iter().filter(|c| !named.iter().any(|n| n.eq_ignore_ascii_case(c))) {
        let sample = sample_hashes(survey, &table.name, column, SAMPLE_UNNAMED).await?;
        if sample.recognised * 2 > sample.sampled && best.as_ref().is_none_or(|b| sample.recognised > b.recognised) {
            best = Some(sample);
        }
    }
    Ok(best)
}

async fn sample_hashes(
    survey: &SchemaSurvey,
    table: &str,
    column: &str,
    limit: u64,
) -> Result<PasswordColumn, StoreError> {
    let values = survey.sample(table, column, limit, false).await?;
    let policy = PasswordPolicy::default();
    let legacy = PasswordPolicy { legacy_plain_digests: true, ..PasswordPolicy::default() };
    let mut found = PasswordColumn { column: column.to_owned(), sampled: values.len(), ..PasswordColumn::default() };
    for value in &values {
        if let Some(hash) = StoredHash::parse(value, &policy) {
            found.recognised += 1;
            let format = hash.format();
            found.families.insert(format.family_name());
            *found.census.entry(label(&format.label(), value)).or_default() += 1;
        } else if let Some(hash) = StoredHash::parse(value, &legacy) {
            found.plain_digests += 1;
            *found.census.entry(format!("{} (needs legacy_plain_digests)", hash.format().label())).or_default() += 1;
        } else {
            *found.census.entry("unknown format (login denied)".to_owned()).or_default() += 1;
        }
    }
    Ok(found)
}

/// The census label, with the bcrypt prefix (`$2a$`, `$2y$`…) that tells
/// the frameworks apart.
fn label(label: &str, value: &str) -> String {
    let prefix = value.strip_prefix("$wp").unwrap_or(value);
    match prefix.get(..4) {
        Some(p @ ("$2a$" | "$2b$" | "$2y$" | "$2x$")) => format!("{label} ({p})"),
        _ => match value.get(..3) {
            Some(p @ ("$P$" | "$H$" | "$S$")) => format!("{label} ({p})"),
            _ => label.to_owned(),
        },
    }
}

/// An active flag whose sampled values are all 0/1-like, and notes on
/// flag-like columns that cannot be one.
async fn find_active(
    survey: &SchemaSurvey,
    table: &SurveyedTable,
) -> Result<(Option<String>, Vec<String>), StoreError> {
    let mut notes = Vec::new();
    let mut chosen = None;
    for column in first_of(table, ACTIVE_NAMES) {
        let values = survey.sample(&table.name, &column, FLAG_SAMPLE, true).await?;
        let odd: Vec<&String> = values.iter().filter(|v| flag_value(v).is_none()).collect();
        if odd.is_empty() {
            if chosen.is_none() {
                chosen = Some(column);
            }
        } else {
            let shown: Vec<String> = odd.iter().take(5).map(|v| format!("{v:?}")).collect();
            notes.push(format!(
                "{column} holds values other than 0/1 ({}): not usable as active_field, which reads 1/true as \
                 \"may log in\"",
                shown.join(", ")
            ));
        }
    }
    for column in first_of(table, INVERTED_NAMES) {
        notes.push(format!(
            "{column} looks like a flag where 1 keeps a user out; active_field needs the opposite (1 = may log \
             in), so it is not used: if any set value keeps a user out, set inactive_field = \"{column}\""
        ));
    }
    Ok((chosen, notes))
}

/// A table named like roles with a user-id column and a text role-name
/// column: UAP's `host_role_table` shape.
fn find_role_table(users: &SurveyedTable, all: &[SurveyedTable]) -> Option<RoleTable> {
    let singular = users.name.trim_end_matches('s').to_ascii_lowercase();
    let user_ids = ["user_id", "userid", "uid", "member_id", "account_id"];
    all.iter().filter(|t| t.name != users.name && t.name.to_ascii_lowercase().contains("role")).find_map(|t| {
        let user_id = user_ids
            .iter()
            .map(|n| (*n).to_owned())
            .chain(std::iter::once(format!("{singular}_id")))
            .find_map(|n| column_named(t, &n))?;
        let name = ["role_name", "role", "name"].iter().find_map(|n| {
            t.columns
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(n) && is_textual(&c.data_type))
                .map(|c| c.name.clone())
        })?;
        Some(RoleTable { table: t.name.clone(), user_id, name })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_carry_the_prefix() {
        assert_eq!(label("bcrypt cost 10", "$2y$10$abc"), "bcrypt cost 10 ($2y$)");
        assert_eq!(label("wordpress bcrypt cost 10", "$wp$2y$10$abc"), "wordpress bcrypt cost 10 ($2y$)");
        assert_eq!(label("phpass", "$H$9abc"), "phpass ($H$)");
        assert_eq!(label("django pbkdf2_sha256", "pbkdf2_sha256$1$a$b"), "django pbkdf2_sha256");
    }

    #[test]
    fn textual_types() {
        for t in ["varchar(255)", "character varying", "TEXT", "longblob", "bytea", "nchar(10)"] {
            assert!(is_textual(t), "{t}");
        }
        for t in ["integer", "bigint unsigned", "boolean", "datetime", "tinyint(1)"] {
            assert!(!is_textual(t), "{t}");
        }
    }
}
