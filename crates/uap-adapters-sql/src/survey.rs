//! A read-only survey of a host database for `uap discover`: which tables
//! there are, their columns and types, how many rows, and a sample of a
//! column's values.
//!
//! The connection cannot write (see [`connect_read_only`]); table and column
//! names are parsed as identifiers and quoted per backend, and the sample size
//! is a bound parameter. Tables whose names are not plain identifiers are left
//! out: UAP could not be configured to use them anyway.

use sea_orm::{ConnectionTrait, DatabaseConnection, Value};
use uap_ports::StoreError;

use crate::SqlBackend;
use crate::backend::{Connected, connect_read_only, map_err};
use crate::directory::ColumnDescription;
use crate::directory::reflect::{ReflectedColumn, column_list, find_column, reflect_table};
use crate::directory::row::{Cell, decode_row};
use crate::ident::{Ident, TableName};
use crate::sql::Sql;

/// The dependency name in [`StoreError::Unavailable`].
const WHAT: &str = "host database";
/// The key named in messages about the URL.
const URL_KEY: &str = "--db";

/// A read-only connection to a host database, for `uap discover`.
pub struct SchemaSurvey {
    conn: DatabaseConnection,
    backend: SqlBackend,
}

impl std::fmt::Debug for SchemaSurvey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaSurvey").field("backend", &self.backend).finish_non_exhaustive()
    }
}

/// One table of the surveyed database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurveyedTable {
    /// Its name as the database spells it.
    pub name: String,
    /// Its columns, in table order.
    pub columns: Vec<ColumnDescription>,
}

impl SchemaSurvey {
    /// Connects read-only to `url` (`postgres://`, `mysql://`, `mariadb://`,
    /// `sqlite://`; a missing SQLite file is an error, never created).
    ///
    /// # Errors
    /// [`StoreError::Misconfigured`] for an unsupported URL or a server that
    /// refuses the credentials or the database, [`StoreError::Unavailable`]
    /// when it cannot be reached. Messages show the URL with its password
    /// redacted.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let Connected { conn, backend } = connect_read_only(URL_KEY, WHAT, url).await?;
        Ok(Self { conn, backend })
    }

    /// The engine surveyed.
    #[must_use]
    pub fn backend(&self) -> SqlBackend {
        self.backend
    }

    /// The base tables of the connection's schema (PostgreSQL
    /// `current_schema()`, the MySQL database of the URL, SQLite's main
    /// database), by name. Names that are not plain identifiers are left out.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] or [`StoreError::Backend`] when the query fails.
    pub async fn table_names(&self) -> Result<Vec<String>, StoreError> {
        let text = match self.backend {
            SqlBackend::Postgres => {
                "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name"
            }
            SqlBackend::MySql => {
                "SELECT CAST(TABLE_NAME AS CHAR) FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME"
            }
            SqlBackend::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
                 ORDER BY name"
            }
        };
        let mut sql = Sql::new(self.backend);
        sql.push(text);
        let rows = self.conn.query_all_raw(sql.build()).await.map_err(|e| map_err(WHAT, e))?;
        let mut names = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(name) = decode_row(row, 1)?.first().and_then(Cell::text)
                && Ident::parse("table", &name).is_ok()
            {
                names.push(name);
            }
        }
        Ok(names)
    }

    /// The columns of `table` (`table` or `schema.table`); `None` when it does
    /// not exist or the connecting user may not see it.
    ///
    /// # Errors
    /// [`StoreError::Misconfigured`] naming `--table` for a name that is not
    /// an identifier; [`StoreError::Unavailable`] or [`StoreError::Backend`]
    /// when the query fails.
    pub async fn table(&self, table: &str) -> Result<Option<SurveyedTable>, StoreError> {
        let name = TableName::parse("--table", table)?;
        let columns = reflect_table(&self.conn, self.backend, &name).await?;
        Ok((!columns.is_empty()).then(|| SurveyedTable {
            name: name.to_string(),
            columns: columns.iter().map(ColumnDescription::from).collect(),
        }))
    }

    /// `SELECT COUNT(*)` of `table`.
    ///
    /// # Errors
    /// As [`SchemaSurvey::table`].
    pub async fn count_rows(&self, table: &str) -> Result<u64, StoreError> {
        let name = TableName::parse("--table", table)?;
        let mut sql = Sql::new(self.backend);
        sql.push("SELECT COUNT(*) FROM ").push(&name.quoted(self.backend));
        let row = self.conn.query_one_raw(sql.build()).await.map_err(|e| map_err(WHAT, e))?;
        Ok(match row.map(|row| decode_row(&row, 1)).transpose()?.as_deref() {
            Some([Cell::Int(n)]) => u64::try_from(*n).unwrap_or_default(),
            Some([Cell::UInt(n)]) => *n,
            _ => 0,
        })
    }

    /// Up to `limit` values of `column` in `table` as text, NULL and empty
    /// values left out (binary values that are not UTF-8 too). With
    /// `distinct`, each value once.
    ///
    /// # Errors
    /// [`StoreError::Misconfigured`] naming the table and column when either
    /// does not exist; otherwise as [`SchemaSurvey::table`].
    pub async fn sample(
        &self,
        table: &str,
        column: &str,
        limit: u64,
        distinct: bool,
    ) -> Result<Vec<String>, StoreError> {
        let name = TableName::parse("--table", table)?;
        let column = self.column(&name, column).await?;
        let mut sql = Sql::new(self.backend);
        sql.push(if distinct { "SELECT DISTINCT " } else { "SELECT " })
            .push(&column.select)
            .push(" FROM ")
            .push(&name.quoted(self.backend))
            .push(" WHERE ")
            .push(&column.quoted(self.backend))
            .push(" IS NOT NULL LIMIT ")
            .bind(Value::from(i64::try_from(limit).unwrap_or(i64::MAX)));
        let rows = self.conn.query_all_raw(sql.build()).await.map_err(|e| map_err(WHAT, e))?;
        let mut values = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(value) = decode_row(row, 1)?.first().and_then(Cell::text).filter(|v| !v.is_empty()) {
                values.push(value);
            }
        }
        Ok(values)
    }

    async fn column(&self, table: &TableName, column: &str) -> Result<ReflectedColumn, StoreError> {
        Ident::parse("column", column)?;
        let columns = reflect_table(&self.conn, self.backend, table).await?;
        if columns.is_empty() {
            return Err(StoreError::Misconfigured(format!("--table: table {:?} does not exist", table.to_string())));
        }
        find_column(&columns, self.backend, column).and_then(|i| columns.get(i).cloned()).ok_or_else(|| {
            StoreError::Misconfigured(format!(
                "column {column:?} does not exist in table {:?} {}",
                table.to_string(),
                column_list(&columns)
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, Statement};

    use super::*;
    use crate::testing::TestDb;

    /// The survey sees tables, columns, counts and samples, and its
    /// connection refuses to write on every engine.
    async fn survey_is_read_only(db: TestDb) {
        db.execute("CREATE TABLE members (id INTEGER PRIMARY KEY, login VARCHAR(40), pw VARCHAR(100))").await;
        db.execute("INSERT INTO members (id, login, pw) VALUES (1, 'a', 'x'), (2, 'b', ''), (3, 'c', NULL)").await;
        let survey = SchemaSurvey::connect(&db.url).await.unwrap();
        assert!(survey.table_names().await.unwrap().contains(&"members".to_owned()));
        let table = survey.table("members").await.unwrap().unwrap();
        let names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["id", "login", "pw"]);
        assert!(survey.table("absent").await.unwrap().is_none());
        assert_eq!(survey.count_rows("members").await.unwrap(), 3);
        assert_eq!(survey.sample("members", "pw", 10, false).await.unwrap(), ["x"], "NULL and empty left out");
        assert_eq!(survey.sample("members", "login", 2, false).await.unwrap().len(), 2, "the limit holds");
        let err = survey.sample("members", "passwd", 10, false).await.unwrap_err().to_string();
        assert!(err.contains("passwd") && err.contains("members"), "{err}");
        assert!(survey.table("members; DROP TABLE members").await.is_err());

        let insert = Statement::from_string(
            survey.backend.db_backend(),
            "INSERT INTO members (id, login, pw) VALUES (4, 'd', 'y')",
        );
        assert!(survey.conn.execute_raw(insert).await.is_err(), "the survey connection must not write");
        assert_eq!(survey.count_rows("members").await.unwrap(), 3);
        db.cleanup().await;
    }

    #[tokio::test]
    async fn read_only_on_sqlite() {
        survey_is_read_only(TestDb::sqlite()).await;
    }

    #[tokio::test]
    async fn read_only_on_postgres() {
        let Some(db) = TestDb::postgres().await else { return };
        survey_is_read_only(db).await;
    }

    #[tokio::test]
    async fn read_only_on_mariadb() {
        let Some(db) = TestDb::mysql().await else { return };
        survey_is_read_only(db).await;
    }
}
