//! The proposed `uap.toml`: an ordered list of section-2 keys, each with the
//! comment that says why, rendered as TOML text.

use std::fmt::Write as _;

/// The order keys are printed in (others follow, as set).
const ORDER: &[&str] = &[
    "host_db_url",
    "host_user_table",
    "auth_type",
    "username_field",
    "email_field",
    "identifier_fields",
    "identifier_case_insensitive",
    "password_field",
    "password_transform",
    "id_field",
    "active_field",
    "inactive_field",
    "role_field",
    "host_role_table",
    "role_user_id_field",
    "role_name_field",
    "sensitive_fields",
    "legacy_plain_digests",
    "hash_upgrade",
    "hash_upgrade_skip",
];

/// A TOML value of the proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Value {
    Str(String),
    Bool(bool),
    List(Vec<String>),
}

/// One proposed key with the reason for it.
#[derive(Debug, Clone)]
pub(super) struct Key {
    pub name: &'static str,
    pub value: Value,
    pub why: String,
}

/// The whole proposal: comment lines at the top, then the keys.
#[derive(Debug, Default)]
pub(super) struct Proposal {
    pub header: Vec<String>,
    pub keys: Vec<Key>,
}

impl Proposal {
    pub(super) fn header(&mut self, line: impl Into<String>) {
        self.header.push(line.into());
    }

    pub(super) fn set(&mut self, name: &'static str, value: Value, why: impl Into<String>) {
        let why = why.into();
        match self.keys.iter_mut().find(|k| k.name == name) {
            Some(key) => {
                key.value = value;
                key.why = why;
            }
            None => self.keys.push(Key { name, value, why }),
        }
    }

    pub(super) fn str(&mut self, name: &'static str, value: &str, why: impl Into<String>) {
        self.set(name, Value::Str(value.to_owned()), why);
    }

    pub(super) fn remove(&mut self, name: &str) {
        self.keys.retain(|k| k.name != name);
    }

    /// The TOML text: every comment line starts with `#`, every key is
    /// preceded by its reason.
    pub(super) fn render(&self) -> String {
        let mut out = String::new();
        for line in &self.header {
            comment(&mut out, line);
        }
        let mut keys: Vec<&Key> = self.keys.iter().collect();
        keys.sort_by_key(|k| ORDER.iter().position(|o| *o == k.name).unwrap_or(ORDER.len()));
        for key in keys {
            out.push('\n');
            comment(&mut out, &key.why);
            let _ = writeln!(out, "{} = {}", key.name, render_value(&key.value));
        }
        out
    }
}

/// Width comment lines are wrapped at.
const WIDTH: usize = 100;

fn comment(out: &mut String, text: &str) {
    for line in text.lines() {
        if line.is_empty() {
            out.push_str("#\n");
            continue;
        }
        let indent: String = line.chars().take_while(|c| *c == ' ').collect();
        let mut current = String::new();
        for word in line.split_whitespace() {
            if !current.is_empty() && current.len() + 1 + word.len() > WIDTH {
                let _ = writeln!(out, "# {indent}{current}");
                current.clear();
            }
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(word);
        }
        let _ = writeln!(out, "# {indent}{current}");
    }
}

fn render_value(value: &Value) -> String {
    match value {
        Value::Str(s) => quote(s),
        Value::Bool(b) => b.to_string(),
        Value::List(items) => format!("[{}]", items.iter().map(|s| quote(s)).collect::<Vec<_>>().join(", ")),
    }
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_comments_and_values() {
        let mut p = Proposal::default();
        p.header("first line\nsecond");
        p.str("host_user_table", "users", "the table");
        p.set("sensitive_fields", Value::List(vec!["a".into(), "b\"c".into()]), "why\nand more");
        p.set("identifier_case_insensitive", Value::Bool(true), "ci");
        p.str("host_user_table", "auth_user", "replaced");
        let text = p.render();
        assert_eq!(
            text,
            "# first line\n# second\n\n# replaced\nhost_user_table = \"auth_user\"\n\n# ci\n\
             identifier_case_insensitive = true\n\n# why\n# and more\nsensitive_fields = [\"a\", \"b\\\"c\"]\n",
            "keys in the canonical order, each after its comment"
        );
        let long = "word ".repeat(40);
        p.str("role_field", "", long.trim());
        assert!(p.render().lines().all(|l| l.len() <= WIDTH + 2), "comments wrap");
        p.remove("sensitive_fields");
        assert!(!p.render().contains("sensitive_fields"));
        assert_eq!(quote("a\\b\u{1}"), "\"a\\\\b\\u0001\"");
    }
}
