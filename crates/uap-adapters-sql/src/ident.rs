//! SQL identifiers taken from configuration: parsed, never interpolated raw.
//!
//! An identifier is `[A-Za-z_][A-Za-z0-9_$]{0,62}`: no quote, dot, space or
//! control character can pass, so quoting it per backend is always safe. Values
//! are never identifiers: they are bound parameters.

use uap_ports::StoreError;

use crate::SqlBackend;

/// Longest identifier PostgreSQL keeps (MySQL allows 64, SQLite more).
const MAX_LEN: usize = 63;

/// A validated column, table or schema name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Ident(String);

impl Ident {
    /// Parses `value`, the setting of configuration key `key`.
    ///
    /// # Errors
    /// [`StoreError::Misconfigured`] naming the key and the value.
    pub(crate) fn parse(key: &str, value: &str) -> Result<Self, StoreError> {
        if is_valid(value) { Ok(Self(value.to_owned())) } else { Err(invalid(key, value)) }
    }

    /// The identifier as written in the configuration.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The identifier quoted for `backend`: `"x"` or `` `x` ``.
    pub(crate) fn quoted(&self, backend: SqlBackend) -> String {
        quote(&self.0, backend)
    }
}

impl std::fmt::Display for Ident {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A table name, optionally qualified by one schema (`schema.table`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableName {
    pub(crate) schema: Option<Ident>,
    pub(crate) name: Ident,
}

impl TableName {
    /// Parses `value`, the setting of configuration key `key`.
    ///
    /// # Errors
    /// [`StoreError::Misconfigured`] naming the key and the value.
    pub(crate) fn parse(key: &str, value: &str) -> Result<Self, StoreError> {
        match value.split_once('.') {
            Some((schema, name)) if is_valid(schema) && is_valid(name) => {
                Ok(Self { schema: Some(Ident(schema.to_owned())), name: Ident(name.to_owned()) })
            }
            None if is_valid(value) => Ok(Self { schema: None, name: Ident(value.to_owned()) }),
            _ => Err(invalid(key, value)),
        }
    }

    /// The name quoted for `backend`, e.g. `"public"."users"`.
    pub(crate) fn quoted(&self, backend: SqlBackend) -> String {
        match &self.schema {
            Some(schema) => format!("{}.{}", schema.quoted(backend), self.name.quoted(backend)),
            None => self.name.quoted(backend),
        }
    }
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.name),
            None => write!(f, "{}", self.name),
        }
    }
}

/// Quotes a name that is known to be valid (validated or a constant of ours).
pub(crate) fn quote(name: &str, backend: SqlBackend) -> String {
    match backend {
        SqlBackend::MySql => format!("`{name}`"),
        SqlBackend::Postgres | SqlBackend::Sqlite => format!("\"{name}\""),
    }
}

fn is_valid(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    s.len() <= MAX_LEN
        && (first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

fn invalid(key: &str, value: &str) -> StoreError {
    StoreError::Misconfigured(format!(
        "{key}: {value:?} is not a valid SQL identifier (letters, digits, `_` and `$`, not \
         starting with a digit, at most {MAX_LEN} characters)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &[&str] = &[
        "users",
        "Users",
        "_private",
        "user_2fa",
        "wp_users",
        "auth_user",
        "price$usd",
        "a",
        "_",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_", // 63
    ];

    const BAD: &[&str] = &[
        "",
        "1users",
        "$users",
        "user name",
        "users;",
        "users; DROP TABLE users; --",
        "users\" OR \"1\"=\"1",
        "users` OR 1=1 -- ",
        "users' OR '1'='1",
        "password--",
        "pass/*x*/word",
        "email)",
        "LOWER(email)",
        "a.b.c",
        ".users",
        "users.",
        "tab\tle",
        "new\nline",
        "nul\0byte",
        "ünïcödé",
        "usérs",
        "\u{200b}users",
        "users\u{ff1b}",
    ];

    #[test]
    fn accepts_plain_identifiers() {
        for name in GOOD {
            assert_eq!(Ident::parse("k", name).unwrap().as_str(), *name);
            assert_eq!(TableName::parse("k", name).unwrap().name.as_str(), *name);
        }
    }

    #[test]
    fn rejects_everything_else_naming_key_and_value() {
        for name in BAD {
            let err = Ident::parse("password_field", name).unwrap_err().to_string();
            assert!(err.starts_with("password_field: "), "{err}");
            assert!(err.contains(&format!("{name:?}")), "{err}");
            assert!(TableName::parse("host_user_table", name).is_err(), "{name:?}");
        }
    }

    #[test]
    fn tables_take_one_schema() {
        let t = TableName::parse("host_user_table", "auth.users").unwrap();
        assert_eq!(t.quoted(SqlBackend::Postgres), "\"auth\".\"users\"");
        assert_eq!(t.quoted(SqlBackend::MySql), "`auth`.`users`");
        assert_eq!(t.to_string(), "auth.users");
        assert!(Ident::parse("k", "auth.users").is_err(), "columns take no schema");
        for bad in ["a.b.c", "a..b", "1a.b", "a.1b", "a. b", "a;.b"] {
            assert!(TableName::parse("k", bad).is_err(), "{bad}");
        }
    }

    /// Property: for every single character in every position, the parser
    /// agrees with the grammar, and whatever it accepts quotes safely.
    #[test]
    fn every_character_in_every_position() {
        let samples: Vec<char> =
            (0_u32..0x250).chain([0x2028, 0x2029, 0xfeff, 0xff02, 0x1f600]).filter_map(char::from_u32).collect();
        for c in samples {
            let allowed_later = c.is_ascii_alphanumeric() || c == '_' || c == '$';
            let allowed_first = c.is_ascii_alphabetic() || c == '_';
            for (name, want) in [
                (format!("{c}"), allowed_first),
                (format!("{c}x"), allowed_first),
                (format!("x{c}"), allowed_later),
                (format!("ab{c}cd"), allowed_later),
            ] {
                let got = Ident::parse("k", &name);
                assert_eq!(got.is_ok(), want, "{name:?}");
                if let Ok(ident) = got {
                    for backend in [SqlBackend::Postgres, SqlBackend::MySql, SqlBackend::Sqlite] {
                        let q = ident.quoted(backend);
                        let inner = &q[1..q.len() - 1];
                        assert!(!inner.contains(['"', '`', '\'', ';', ' ', '.']), "{q}");
                        assert_eq!(inner, name);
                    }
                }
            }
        }
    }

    #[test]
    fn length_limit() {
        assert!(Ident::parse("k", &"a".repeat(63)).is_ok());
        assert!(Ident::parse("k", &"a".repeat(64)).is_err());
    }
}
