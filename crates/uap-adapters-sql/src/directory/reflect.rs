//! Schema reflection of the host tables: which columns exist, their types and
//! widths. Configured names are checked against this before any query is built
//! (on SQLite a double-quoted name that matches no column is a string literal,
//! so a typo would otherwise silently match nothing).

use sea_orm::{ConnectionTrait, DatabaseConnection, Value};
use uap_ports::StoreError;

use crate::SqlBackend;
use crate::backend::map_err;
use crate::ident::{Ident, TableName};
use crate::sql::Sql;

use super::HOST;

/// How values of a column are compared and bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnKind {
    /// Any integer type: bound as a 64-bit integer.
    Integer,
    /// Character data: bound as text, `LOWER()` applies.
    Text,
    /// A native UUID type: bound as a UUID on PostgreSQL, as text elsewhere.
    Uuid,
    /// Binary data (BYTEA, BLOB, VARBINARY): bound as bytes.
    Bytes,
    /// Anything else: compared through a cast to text.
    Other,
}

/// One column as the database describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReflectedColumn {
    /// The name as the database spells it.
    pub name: Ident,
    /// The type as the database names it (lower case), e.g. `character varying`.
    pub data_type: String,
    /// The declared maximum length in characters, when the engine enforces one.
    pub max_len: Option<u64>,
    /// Whether NULL is allowed.
    pub nullable: bool,
    /// How values are compared and bound.
    pub kind: ColumnKind,
    /// The select-list expression: the quoted name, or a cast to text for types
    /// the row decoder does not read natively.
    pub select: String,
}

impl ReflectedColumn {
    /// The quoted column name.
    pub(crate) fn quoted(&self, backend: SqlBackend) -> String {
        self.name.quoted(backend)
    }
}

/// Reads the columns of `table`, in table order. An empty list means the table
/// does not exist or the connecting user may not see it.
pub(crate) async fn reflect_table(
    conn: &DatabaseConnection,
    backend: SqlBackend,
    table: &TableName,
) -> Result<Vec<ReflectedColumn>, StoreError> {
    let schema: Value = table.schema.as_ref().map(|s| s.as_str().to_owned()).into();
    let name = table.name.as_str().to_owned();
    let mut sql = Sql::new(backend);
    match backend {
        SqlBackend::Postgres => {
            sql.push(
                "SELECT CAST(column_name AS TEXT) AS name, CAST(data_type AS TEXT) AS data_type, \
                 CAST(udt_name AS TEXT) AS udt, CAST(character_maximum_length AS BIGINT) AS max_len, \
                 CAST(is_nullable AS TEXT) AS nullable \
                 FROM information_schema.columns WHERE table_schema = COALESCE(",
            )
            .bind(schema)
            .push(", current_schema()) AND table_name = ")
            .bind(name)
            .push(" ORDER BY ordinal_position");
        }
        SqlBackend::MySql => {
            sql.push(
                "SELECT CAST(COLUMN_NAME AS CHAR) AS name, CAST(DATA_TYPE AS CHAR) AS data_type, \
                 CAST(COLUMN_TYPE AS CHAR) AS udt, CAST(CHARACTER_MAXIMUM_LENGTH AS SIGNED) AS max_len, \
                 CAST(IS_NULLABLE AS CHAR) AS nullable \
                 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(",
            )
            .bind(schema)
            .push(", DATABASE()) AND TABLE_NAME = ")
            .bind(name)
            .push(" ORDER BY ORDINAL_POSITION");
        }
        SqlBackend::Sqlite => {
            sql.push(
                "SELECT name, type AS data_type, type AS udt, NULL AS max_len, \
                 CASE WHEN \"notnull\" = 0 THEN 'YES' ELSE 'NO' END AS nullable \
                 FROM pragma_table_info(",
            )
            .bind(name);
            if table.schema.is_some() {
                sql.push(", ").bind(schema);
            }
            sql.push(") ORDER BY cid");
        }
    }
    let rows = conn.query_all_raw(sql.build()).await.map_err(|e| map_err(HOST, e))?;
    let mut columns = Vec::with_capacity(rows.len());
    for row in rows {
        let get = |col: &str| -> Result<Option<String>, StoreError> {
            row.try_get::<Option<String>>("", col).map_err(|e| map_err(HOST, e))
        };
        let raw_name = get("name")?.unwrap_or_default();
        // A column whose name is not a plain identifier can be neither
        // configured nor selected safely: leave it out of the user's data.
        let Ok(name) = Ident::parse("column", &raw_name) else {
            tracing::debug!(column = %raw_name, "host column with an unusual name ignored");
            continue;
        };
        let data_type = get("data_type")?.unwrap_or_default().to_ascii_lowercase();
        let udt = get("udt")?.unwrap_or_default().to_ascii_lowercase();
        let max_len = row
            .try_get::<Option<i64>>("", "max_len")
            .map_err(|e| map_err(HOST, e))?
            .and_then(|n| u64::try_from(n).ok());
        let nullable = get("nullable")?.is_some_and(|v| v.eq_ignore_ascii_case("yes"));
        let kind = classify(backend, &data_type, &udt);
        let select = select_expr(backend, &name, &data_type, &udt);
        let max_len = if backend == SqlBackend::Sqlite { sqlite_declared_width(&data_type) } else { max_len };
        columns.push(ReflectedColumn {
            name,
            data_type: match backend {
                SqlBackend::MySql => udt,
                SqlBackend::Postgres if data_type == "user-defined" => udt,
                SqlBackend::Postgres | SqlBackend::Sqlite => data_type,
            },
            max_len,
            nullable,
            kind,
            select,
        });
    }
    Ok(columns)
}

/// Finds the configured column `name`: exact on PostgreSQL, case-insensitive on
/// MySQL and SQLite (whose column names are).
pub(crate) fn find_column(columns: &[ReflectedColumn], backend: SqlBackend, name: &str) -> Option<usize> {
    columns.iter().position(|c| match backend {
        SqlBackend::Postgres => c.name.as_str() == name,
        SqlBackend::MySql | SqlBackend::Sqlite => c.name.as_str().eq_ignore_ascii_case(name),
    })
}

/// `(columns: id, username, …)` for error messages.
pub(crate) fn column_list(columns: &[ReflectedColumn]) -> String {
    const SHOWN: usize = 25;
    let mut names: Vec<&str> = columns.iter().take(SHOWN).map(|c| c.name.as_str()).collect();
    if columns.len() > SHOWN {
        names.push("…");
    }
    format!("(columns: {})", names.join(", "))
}

fn classify(backend: SqlBackend, data_type: &str, udt: &str) -> ColumnKind {
    match backend {
        SqlBackend::Postgres => match udt {
            "int2" | "int4" | "int8" => ColumnKind::Integer,
            "text" | "varchar" | "bpchar" | "name" | "citext" => ColumnKind::Text,
            "uuid" => ColumnKind::Uuid,
            "bytea" => ColumnKind::Bytes,
            _ => ColumnKind::Other,
        },
        SqlBackend::MySql => match data_type {
            "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" => ColumnKind::Integer,
            "varchar" | "char" | "text" | "tinytext" | "mediumtext" | "longtext" | "enum" => ColumnKind::Text,
            "uuid" => ColumnKind::Uuid,
            "binary" | "varbinary" | "blob" | "tinyblob" | "mediumblob" | "longblob" => ColumnKind::Bytes,
            _ => ColumnKind::Other,
        },
        // SQLite's type affinity rules, in their order of precedence.
        SqlBackend::Sqlite => {
            let t = data_type.to_ascii_uppercase();
            if t.contains("INT") {
                ColumnKind::Integer
            } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
                ColumnKind::Text
            } else if t.contains("BLOB") {
                ColumnKind::Bytes
            } else {
                ColumnKind::Other
            }
        }
    }
}

/// Types the row decoder reads natively are selected as they are; the rest
/// (numeric, money, inet, arrays, enums, citext…) as text.
fn select_expr(backend: SqlBackend, name: &Ident, data_type: &str, udt: &str) -> String {
    let quoted = name.quoted(backend);
    let native = match backend {
        SqlBackend::Postgres => matches!(
            udt,
            "bool"
                | "int2"
                | "int4"
                | "int8"
                | "float4"
                | "float8"
                | "text"
                | "varchar"
                | "bpchar"
                | "name"
                | "uuid"
                | "json"
                | "jsonb"
                | "timestamptz"
                | "timestamp"
                | "date"
                | "bytea"
        ),
        SqlBackend::MySql => matches!(
            data_type,
            "tinyint"
                | "smallint"
                | "mediumint"
                | "int"
                | "integer"
                | "bigint"
                | "float"
                | "double"
                | "varchar"
                | "char"
                | "text"
                | "tinytext"
                | "mediumtext"
                | "longtext"
                | "json"
                | "binary"
                | "varbinary"
                | "blob"
                | "tinyblob"
                | "mediumblob"
                | "longblob"
                | "date"
                | "datetime"
                | "timestamp"
        ),
        SqlBackend::Sqlite => true,
    };
    if native {
        quoted
    } else if backend == SqlBackend::MySql && data_type == "bit" {
        format!("CAST({quoted} AS UNSIGNED) AS {quoted}")
    } else {
        format!("CAST({quoted} AS {}) AS {quoted}", text_type(backend))
    }
}

/// The type to cast to for a text comparison.
pub(crate) const fn text_type(backend: SqlBackend) -> &'static str {
    match backend {
        SqlBackend::MySql => "CHAR",
        SqlBackend::Postgres | SqlBackend::Sqlite => "TEXT",
    }
}

/// The width a SQLite column declares for character data (`VARCHAR(100)`,
/// `CHARACTER VARYING(255)`, `NCHAR(60)`): SQLite itself does not enforce it,
/// but the host application (or the database it migrates to) may, so a
/// write-back must not exceed it. `None` for other types and no width.
fn sqlite_declared_width(declared: &str) -> Option<u64> {
    let declared = declared.to_ascii_lowercase();
    let (name, rest) = declared.split_once('(')?;
    if !name.contains("char") && !name.contains("clob") && !name.contains("text") {
        return None;
    }
    let (width, _) = rest.split_once(')')?;
    // `DECIMAL(10,2)`-like pairs are not widths of text.
    width.trim().parse::<u64>().ok().filter(|w| *w > 0)
}

#[cfg(test)]
mod tests {
    use super::sqlite_declared_width;

    #[test]
    fn sqlite_widths_come_from_the_declared_type() {
        assert_eq!(sqlite_declared_width("varchar(100)"), Some(100));
        assert_eq!(sqlite_declared_width("VARCHAR ( 128 )"), Some(128));
        assert_eq!(sqlite_declared_width("character varying(255)"), Some(255));
        assert_eq!(sqlite_declared_width("nchar(60)"), Some(60));
        assert_eq!(sqlite_declared_width("text"), None);
        assert_eq!(sqlite_declared_width("varchar"), None);
        assert_eq!(sqlite_declared_width("decimal(10,2)"), None);
        assert_eq!(sqlite_declared_width("blob(16)"), None);
        assert_eq!(sqlite_declared_width("varchar(0)"), None);
    }
}
