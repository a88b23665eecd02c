//! The default user tables of Django, WordPress, phpBB, Drupal 7, Rails
//! Devise and Laravel, recognised by their columns (any table prefix), and
//! the proposal: the generic one from the scoring, then what each framework
//! needs to log its users in as it does itself.

use uap_adapters_sql::SurveyedTable;

use super::analysis::{Candidate, column_named};
use super::proposal::{Proposal, Value};

/// A framework whose default user table discover recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framework {
    Django,
    WordPress,
    PhpBb,
    Drupal7,
    Devise,
    Laravel,
}

/// Each framework with the columns that identify its table, in the order
/// they are tried (the more specific first).
const SIGNATURES: &[(Framework, &[&str])] = &[
    (Framework::Django, &["username", "password", "is_active", "is_superuser", "is_staff", "date_joined"]),
    (Framework::WordPress, &["ID", "user_login", "user_pass", "user_email", "user_activation_key"]),
    (Framework::PhpBb, &["user_id", "user_type", "username_clean", "user_password", "user_form_salt"]),
    (Framework::Drupal7, &["uid", "name", "pass", "mail", "status", "init"]),
    (Framework::Devise, &["email", "encrypted_password", "reset_password_token"]),
    (Framework::Laravel, &["id", "name", "email", "password", "remember_token"]),
];

impl Framework {
    pub(super) const fn name(self) -> &'static str {
        match self {
            Self::Django => "Django (django.contrib.auth)",
            Self::WordPress => "WordPress",
            Self::PhpBb => "phpBB 3",
            Self::Drupal7 => "Drupal 7",
            Self::Devise => "Rails Devise",
            Self::Laravel => "Laravel",
        }
    }

    /// The column the framework keeps the hash in.
    pub(super) const fn password_column(self) -> &'static str {
        match self {
            Self::Django | Self::Laravel => "password",
            Self::WordPress => "user_pass",
            Self::PhpBb => "user_password",
            Self::Drupal7 => "pass",
            Self::Devise => "encrypted_password",
        }
    }
}

/// The framework whose default user table `table` is, by its columns.
pub(super) fn recognise(table: &SurveyedTable) -> Option<Framework> {
    SIGNATURES
        .iter()
        .find(|(_, columns)| columns.iter().all(|c| column_named(table, c).is_some()))
        .map(|(framework, _)| *framework)
}

/// The proposal for the chosen table. `url` is the `--db` URL, `shown` the
/// same with its password redacted.
pub(super) fn propose(c: &Candidate, url: &str, shown: &str) -> Proposal {
    let mut p = Proposal::default();
    p.header("uap.toml proposed by `uap discover` — review it, then run `uap check --config <this file>`.");
    match c.framework {
        Some(fw) => p.header(format!("Recognised: the default user table of {} ({}).", fw.name(), c.table.name)),
        None => p.header(format!("No framework recognised: {} was chosen by its score.", c.table.name)),
    }
    p.header(
        "It holds no secret: set jwt_secret_key (or UAP_JWT_SECRET_KEY) yourself before `uap serve`.\n\
         Try it without risk first: mode = \"shadow\" judges logins without issuing sessions.",
    );
    if shown == url {
        p.str("host_db_url", url, "The host database, as given to `uap discover --db`.");
    } else {
        p.header(format!(
            "host_db_url is left out because the URL holds a password. Set it in the environment:\n  \
             export UAP_HOST_DB_URL='{shown}'   (with the real password instead of ***)"
        ));
    }
    generic(&mut p, c);
    match c.framework {
        Some(Framework::Django) => django(&mut p, c),
        Some(Framework::WordPress) => wordpress(&mut p, c),
        Some(Framework::PhpBb) => phpbb(&mut p, c),
        Some(Framework::Drupal7) => drupal(&mut p, c),
        Some(Framework::Devise) => devise(&mut p, c),
        Some(Framework::Laravel) => laravel(&mut p, c),
        None => {}
    }
    if c.password.plain_digests > 0 && c.password.recognised == 0 {
        p.set(
            "legacy_plain_digests",
            Value::Bool(true),
            format!(
                "{} holds bare hex digests (unsalted md5/sha1/sha256): accepted only with this on, and always \
                 upgraded. Turn it off once they are gone.",
                c.password.column
            ),
        );
    }
    p.str(
        "hash_upgrade",
        "report",
        "Weak hashes are reported on login, never rewritten: the host table stays untouched until you choose \
         \"write_back\".",
    );
    p
}

/// What the scoring found, for any table.
fn generic(p: &mut Proposal, c: &Candidate) {
    p.str("host_user_table", &c.table.name, format!("The user table: {}.", c.reasons.join("; ")));
    match (c.usernames.first(), c.emails.first()) {
        (Some(user), _) => {
            p.str("auth_type", "username_password", format!("Users log in with {user}."));
            p.str("username_field", user, "The login name column.");
        }
        (None, Some(email)) => {
            p.str("auth_type", "email_password", format!("No login-name column; users log in with {email}."));
            p.str("email_field", email, "The e-mail column users log in with.");
        }
        (None, None) => {}
    }
    let census = if c.password.census.is_empty() {
        "no stored hash to sample yet".to_owned()
    } else {
        let mut formats: Vec<(&String, &usize)> = c.password.census.iter().collect();
        formats.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        formats.iter().map(|(l, n)| format!("{l} ×{n}")).collect::<Vec<_>>().join(", ")
    };
    p.str(
        "password_field",
        &c.password.column,
        format!("The stored password hashes ({} sampled: {census}).", c.password.sampled),
    );
    match (&c.id, c.usernames.first().or(c.emails.first())) {
        (Some(id), _) => p.str("id_field", id, "The user's id (the session's user_id)."),
        (None, Some(login)) => p.str(
            "id_field",
            login,
            format!("No id-like column (id, uid, user_id): the unique login column {login} serves as the id."),
        ),
        (None, None) => {}
    }
    match &c.active {
        Some(active) => p.str(
            "active_field",
            active,
            format!("Rows where {active} is false/0 cannot log in (its sampled values are all 0/1-like)."),
        ),
        None => {
            let why = if c.active_notes.is_empty() {
                "No active flag found: every row with a valid password may log in.".to_owned()
            } else {
                format!("No usable active flag: {}.", c.active_notes.join("; "))
            };
            p.str("active_field", "", why);
        }
    }
    match (&c.role, &c.role_table) {
        (Some(role), _) => p.str("role_field", role, format!("The user's role is in {role}.")),
        (None, Some(rt)) => {
            p.str("role_field", "", "Roles come from the role table below, not from a column.");
            p.str("host_role_table", &rt.table, format!("{} lists each user's roles, one per row.", rt.table));
            p.str("role_user_id_field", &rt.user_id, "Its column holding the user's id.");
            p.str("role_name_field", &rt.name, "Its column holding the role name.");
        }
        (None, None) => p.str("role_field", "", "No role column or role table found: users have no roles."),
    }
}

/// Sets `sensitive_fields` to those of `names` the table has.
fn sensitive(p: &mut Proposal, c: &Candidate, names: &[&str], why: &str) {
    let present: Vec<String> = names.iter().filter_map(|n| c.column(n)).collect();
    if !present.is_empty() {
        p.set("sensitive_fields", Value::List(present), why);
    }
}

fn django(p: &mut Proposal, _c: &Candidate) {
    p.str("auth_type", "username_password", "Django's ModelBackend logs users in by username.");
    p.str("username_field", "username", "auth_user.username (USERNAME_FIELD of the default User model).");
    p.str("id_field", "id", "auth_user.id.");
    p.str("active_field", "is_active", "Django's ModelBackend refuses users with is_active = false.");
    p.str(
        "role_field",
        "",
        "Django keeps groups in auth_user_groups → auth_group (two joins); UAP's role table is one table with \
         the role name beside the user id, so roles are left off (is_staff/is_superuser stay in user_data).",
    );
}

fn wordpress(p: &mut Proposal, c: &Candidate) {
    let login = c.column("user_login").unwrap_or_else(|| "user_login".into());
    let email = c.column("user_email").unwrap_or_else(|| "user_email".into());
    p.remove("username_field");
    p.str("auth_type", "custom", "WordPress (4.5+) logs users in with their login name or their e-mail address.");
    p.set(
        "identifier_fields",
        Value::List(vec![login, email]),
        "Matched in this order, as wp_authenticate does; the request carries the value in `username` or \
         `identifier`.",
    );
    p.str("id_field", &c.column("ID").unwrap_or_else(|| "ID".into()), "wp_users.ID.");
    p.str(
        "active_field",
        "",
        "WordPress has no login flag in wp_users: user_status is unused by core, and multisite's spam/deleted \
         columns mean 1 = kept out, the opposite of active_field.",
    );
    p.str(
        "role_field",
        "",
        "WordPress roles are a serialized PHP array in wp_usermeta (meta_key <prefix>capabilities), which UAP \
         cannot read: roles are left off.",
    );
    sensitive(p, c, &["user_activation_key"], "The password-reset key is never returned in user_data.");
}

fn phpbb(p: &mut Proposal, c: &Candidate) {
    p.str("auth_type", "username_password", "phpBB logs users in by username.");
    p.str(
        "username_field",
        &c.column("username_clean").unwrap_or_else(|| "username_clean".into()),
        "phpBB looks a login up by username_clean, the lower-cased (utf8_clean_string) username.",
    );
    p.set(
        "identifier_case_insensitive",
        Value::Bool(true),
        "username_clean is lower case: \"Admin\" must find \"admin\" as phpBB does.",
    );
    p.str("id_field", &c.column("user_id").unwrap_or_else(|| "user_id".into()), "phpbb_users.user_id.");
    let inactive_reason = c.column("user_inactive_reason");
    p.str(
        "active_field",
        "",
        if inactive_reason.is_some() {
            "phpBB has no 1 = may-log-in flag; inactive users are kept out by inactive_field. The anonymous \
             user and bots (user_type 2) have no password and cannot log in."
        } else {
            "phpBB has no 1 = may-log-in flag, and this table has no user_inactive_reason: LIMITATION — inactive \
             users (user_type 1) with a password can log in through UAP."
        },
    );
    if let Some(reason) = inactive_reason {
        p.str(
            "inactive_field",
            &reason,
            "phpBB refuses inactive users (user_type 1): their user_inactive_reason is 1 register, 2 profile, \
             3 manual or 4 remind, and 0 for usable accounts.",
        );
    }
    p.str(
        "role_field",
        "",
        "phpBB groups are phpbb_user_group → phpbb_groups (two joins), and group_id is a number: roles are left \
         off.",
    );
    p.str(
        "password_transform",
        "html_escape",
        "phpBB hashes htmlspecialchars(password): a password with & < > \" verifies only with this.",
    );
    sensitive(
        p,
        c,
        &["user_actkey", "user_newpasswd", "user_form_salt", "user_last_confirm_key", "reset_token"],
        "phpBB's secret-bearing columns (activation key, pending new password, form salt, confirm key, reset \
         token) are never returned in user_data.",
    );
}

fn drupal(p: &mut Proposal, c: &Candidate) {
    p.remove("email_field");
    p.str("auth_type", "username_password", "Drupal 7 logs users in by name.");
    p.str("username_field", &c.column("name").unwrap_or_else(|| "name".into()), "users.name.");
    p.str(
        "id_field",
        &c.column("uid").unwrap_or_else(|| "uid".into()),
        "users.uid (uid 0 is the anonymous user, with no password).",
    );
    p.str(
        "active_field",
        &c.column("status").unwrap_or_else(|| "status".into()),
        "Drupal refuses blocked users (status = 0).",
    );
    p.str(
        "role_field",
        "",
        "Drupal 7 roles are users_roles(uid, rid) → role(rid, name) (two tables): roles are left off.",
    );
    sensitive(p, c, &["data"], "users.data is a serialized array of module data, not for clients.");
    p.set(
        "hash_upgrade_skip",
        Value::List(vec!["phpass".into()]),
        "Drupal 7 verifies imported phpass ($P$) rows but not bcrypt: never rewrite them, even with write_back.",
    );
}

fn devise(p: &mut Proposal, c: &Candidate) {
    let email = c.column("email").unwrap_or_else(|| "email".into());
    p.remove("username_field");
    p.str("auth_type", "email_password", "Devise logs users in by e-mail (authentication_keys = [:email]).");
    p.str("email_field", &email, "users.email.");
    p.set(
        "identifier_case_insensitive",
        Value::Bool(true),
        "Devise's case_insensitive_keys = [:email]: e-mails match whatever their case.",
    );
    p.str(
        "password_field",
        &c.column("encrypted_password").unwrap_or_else(|| "encrypted_password".into()),
        "Devise's bcrypt hash.",
    );
    let locked_at = c.column("locked_at");
    if c.active.is_none() {
        let why = match (&locked_at, c.column("confirmed_at")) {
            (_, Some(confirmed)) => format!(
                "Devise has no 1 = may-log-in flag. {confirmed} (confirmable) is NULL for unconfirmed users, \
                 which neither active_field nor inactive_field can express: LIMITATION — unconfirmed users can \
                 log in through UAP."
            ),
            (Some(_), None) => {
                "Devise has no 1 = may-log-in flag; locked users are kept out by inactive_field.".to_owned()
            }
            (None, None) => "Devise's default modules keep nobody out.".to_owned(),
        };
        p.str("active_field", "", why);
    }
    if let Some(locked_at) = locked_at {
        p.str(
            "inactive_field",
            &locked_at,
            format!("Devise lockable refuses locked users: {locked_at} is NULL until the account is locked."),
        );
    }
    sensitive(
        p,
        c,
        &["reset_password_token", "confirmation_token", "unlock_token", "unconfirmed_email"],
        "Devise's token columns are never returned in user_data.",
    );
}

fn laravel(p: &mut Proposal, c: &Candidate) {
    let email = c.column("email").unwrap_or_else(|| "email".into());
    p.remove("username_field");
    p.str("auth_type", "email_password", "Laravel's default guard logs users in by e-mail (Auth::attempt).");
    p.str("email_field", &email, "users.email.");
    if c.active.is_none() && c.active_notes.is_empty() {
        p.str(
            "active_field",
            "",
            "Laravel's default users table keeps nobody out (email_verified_at gates routes, not the login).",
        );
    }
    sensitive(
        p,
        c,
        &["remember_token", "two_factor_secret", "two_factor_recovery_codes"],
        "Laravel's remember-me token (and Fortify's two-factor secrets) are never returned in user_data.",
    );
}
