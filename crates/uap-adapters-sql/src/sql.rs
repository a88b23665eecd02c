//! A tiny statement builder: SQL text with per-backend placeholders and the
//! bound values beside it. Identifiers go in only through [`Ident`]/[`TableName`]
//! quoting (or as our own constants); values only through [`Sql::bind`].
//!
//! [`Ident`]: crate::ident::Ident
//! [`TableName`]: crate::ident::TableName

use sea_orm::{Statement, Value};

use crate::SqlBackend;

/// SQL text under construction with its bound values.
#[derive(Debug, Clone)]
pub(crate) struct Sql {
    backend: SqlBackend,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    pub(crate) fn new(backend: SqlBackend) -> Self {
        Self { backend, text: String::with_capacity(128), values: Vec::new() }
    }

    /// Appends trusted SQL text (keywords, quoted identifiers, our constants).
    pub(crate) fn push(&mut self, sql: &str) -> &mut Self {
        self.text.push_str(sql);
        self
    }

    /// Appends a placeholder (`$n` on PostgreSQL, `?` elsewhere) bound to `value`.
    pub(crate) fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.values.push(value.into());
        match self.backend {
            SqlBackend::Postgres => {
                self.text.push('$');
                self.text.push_str(&self.values.len().to_string());
            }
            SqlBackend::MySql | SqlBackend::Sqlite => self.text.push('?'),
        }
        self
    }

    /// Appends `(?, ?, …)` binding each value.
    pub(crate) fn bind_tuple(&mut self, values: impl IntoIterator<Item = Value>) -> &mut Self {
        self.push("(");
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(value);
        }
        self.push(")")
    }

    /// The finished statement.
    pub(crate) fn build(self) -> Statement {
        Statement::from_sql_and_values(self.backend.db_backend(), self.text, self.values)
    }

    #[cfg(test)]
    pub(crate) fn text(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_per_backend() {
        let mut pg = Sql::new(SqlBackend::Postgres);
        pg.push("a = ").bind("x").push(" AND b IN ").bind_tuple(["y".into(), 1_i64.into()]);
        assert_eq!(pg.text(), "a = $1 AND b IN ($2, $3)");
        let mut my = Sql::new(SqlBackend::MySql);
        my.push("a = ").bind("x").push(" AND b IN ").bind_tuple(["y".into(), 1_i64.into()]);
        assert_eq!(my.text(), "a = ? AND b IN (?, ?)");
    }
}
