//! Host rows to [`HostUser`]: each column is decoded by its runtime type into a
//! [`Cell`], then into the id text, the hash, the active flag, roles and the
//! JSON attributes.
//!
//! JSON mapping of attributes: integers and floats → numbers (NaN/∞ → null),
//! booleans (PostgreSQL `boolean`, MySQL `TINYINT(1)`, SQLite declared
//! `BOOLEAN`) → `true`/`false`, text → strings, UUIDs → their text form,
//! JSON columns → their value, timestamps → RFC 3339 (timestamps without a
//! zone are taken as UTC), dates → `YYYY-MM-DD`, NULL → null. Types the
//! decoder does not read natively (numeric/decimal, money, inet, arrays,
//! enums, time…) were selected as text and arrive as strings. Binary columns
//! are included as a string when they hold valid UTF-8 and left out otherwise
//! (no base64: a binary blob is not user data a host application shows).

use sea_orm::QueryResult;
use sea_orm::sqlx::mysql::MySqlRow;
use sea_orm::sqlx::postgres::PgRow;
use sea_orm::sqlx::sqlite::SqliteRow;
use sea_orm::sqlx::types::JsonValue;
use sea_orm::sqlx::{Column, Row, TypeInfo, ValueRef};
use serde_json::{Map, Number};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime};
use uap_ports::{HostUser, StoreError, flag_value, marker_set};

use super::Resolved;

/// One decoded column value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
    Json(JsonValue),
    /// A value no decoder could read; left out of the attributes.
    Unreadable,
}

impl Cell {
    /// The value as text (ids, hashes, role names); `None` for NULL.
    pub(crate) fn text(&self) -> Option<String> {
        match self {
            Self::Null | Self::Unreadable => None,
            Self::Bool(b) => Some(b.to_string()),
            Self::Int(n) => Some(n.to_string()),
            Self::UInt(n) => Some(n.to_string()),
            Self::Float(n) => Some(n.to_string()),
            Self::Text(s) => Some(s.clone()),
            Self::Json(JsonValue::String(s)) => Some(s.clone()),
            Self::Json(v) => Some(v.to_string()),
            // BINARY(n) pads with NUL bytes.
            Self::Bytes(b) => std::str::from_utf8(b).ok().map(|s| s.trim_end_matches('\0').to_owned()),
        }
    }

    /// The value as an "is active" flag. NULL and unrecognised text count as
    /// inactive: an account whose state is unknown does not log in.
    pub(crate) fn truthy(&self) -> bool {
        match self {
            Self::Bool(b) => *b,
            Self::Int(n) => *n != 0,
            Self::UInt(n) => *n != 0,
            Self::Float(n) => *n != 0.0,
            Self::Json(JsonValue::Bool(b)) => *b,
            Self::Null | Self::Unreadable => false,
            Self::Text(_) | Self::Bytes(_) | Self::Json(_) => {
                let text = self.text().unwrap_or_default();
                flag_value(&text).unwrap_or_else(|| {
                    tracing::warn!(value = %text.trim(), "unrecognised active flag; treated as inactive");
                    false
                })
            }
        }
    }

    /// The value as an "is inactive" marker (`inactive_field`): set unless it
    /// is NULL, false, 0 or empty. Text reads as [`flag_value`] does (`0`,
    /// `false`, `no`, `off`… are not set), except that `inactive` and
    /// `disabled` are set, and any other text (a timestamp, a reason) is set.
    /// An unreadable value counts as set: an account whose state is unknown
    /// does not log in.
    pub(crate) fn is_set(&self) -> bool {
        match self {
            Self::Null | Self::Json(JsonValue::Null) => false,
            Self::Bool(b) | Self::Json(JsonValue::Bool(b)) => *b,
            Self::Int(n) => *n != 0,
            Self::UInt(n) => *n != 0,
            Self::Float(n) => *n != 0.0,
            Self::Unreadable => true,
            Self::Text(_) | Self::Bytes(_) | Self::Json(_) => self.text().is_none_or(|text| marker_set(&text)),
        }
    }

    /// The value as JSON; `None` leaves the column out.
    pub(crate) fn into_json(self) -> Option<JsonValue> {
        match self {
            Self::Null => Some(JsonValue::Null),
            Self::Bool(b) => Some(JsonValue::Bool(b)),
            Self::Int(n) => Some(JsonValue::Number(n.into())),
            Self::UInt(n) => Some(JsonValue::Number(n.into())),
            Self::Float(n) => Some(Number::from_f64(n).map_or(JsonValue::Null, JsonValue::Number)),
            Self::Text(s) => Some(JsonValue::String(s)),
            Self::Json(v) => Some(v),
            Self::Bytes(b) => String::from_utf8(b).ok().map(JsonValue::String),
            Self::Unreadable => None,
        }
    }
}

/// Decodes the first `count` columns of `row`.
pub(crate) fn decode_row(row: &QueryResult, count: usize) -> Result<Vec<Cell>, StoreError> {
    if let Some(r) = row.try_as_pg_row() {
        Ok((0..count).map(|i| pg_cell(r, i)).collect())
    } else if let Some(r) = row.try_as_mysql_row() {
        Ok((0..count).map(|i| mysql_cell(r, i)).collect())
    } else if let Some(r) = row.try_as_sqlite_row() {
        Ok((0..count).map(|i| sqlite_cell(r, i)).collect())
    } else {
        Err(StoreError::backend("a row of an unexpected driver"))
    }
}

/// Builds the user from a decoded row (roles from a role table are added by the caller).
pub(crate) fn host_user(cells: Vec<Cell>, resolved: &Resolved) -> Result<HostUser, StoreError> {
    let id = cells
        .get(resolved.id)
        .and_then(Cell::text)
        .ok_or_else(|| StoreError::backend("a host user row has a NULL or unreadable id"))?;
    let password_hash = match cells.get(resolved.password) {
        Some(Cell::Bytes(b)) if std::str::from_utf8(b).is_err() => {
            tracing::warn!(user_id = %id, "stored password is binary data that is not UTF-8");
            None
        }
        Some(cell) => cell.text().filter(|s| !s.is_empty()),
        None => None,
    };
    // Either column refusing wins; a missing cell refuses.
    let active = resolved.active.map(|i| cells.get(i).is_some_and(Cell::truthy));
    let not_inactive = resolved.inactive.map(|i| cells.get(i).is_some_and(|c| !c.is_set()));
    let active = match (active, not_inactive) {
        (Some(a), Some(b)) => Some(a && b),
        (a, b) => a.or(b),
    };
    let roles = resolved
        .role_column
        .and_then(|i| cells.get(i).and_then(Cell::text))
        .filter(|r| !r.is_empty())
        .into_iter()
        .collect();
    let mut attributes = Map::new();
    for (i, (cell, column)) in cells.into_iter().zip(&resolved.columns).enumerate() {
        if i == resolved.password {
            continue;
        }
        if let Some(value) = cell.into_json() {
            attributes.insert(column.name.as_str().to_owned(), value);
        }
    }
    Ok(HostUser { id, password_hash, active, roles, attributes })
}

fn rfc3339(t: OffsetDateTime) -> Option<Cell> {
    t.format(&Rfc3339).ok().map(Cell::Text)
}

fn date(d: Date) -> Option<Cell> {
    d.format(format_description!("[year]-[month]-[day]")).ok().map(Cell::Text)
}

fn text_or_bytes<R>(row: &R, i: usize) -> Cell
where
    R: Row,
    usize: sea_orm::sqlx::ColumnIndex<R>,
    for<'r> String: sea_orm::sqlx::Decode<'r, R::Database> + sea_orm::sqlx::Type<R::Database>,
    for<'r> Vec<u8>: sea_orm::sqlx::Decode<'r, R::Database> + sea_orm::sqlx::Type<R::Database>,
{
    row.try_get::<String, _>(i)
        .map(Cell::Text)
        .or_else(|_| row.try_get::<Vec<u8>, _>(i).map(Cell::Bytes))
        .unwrap_or(Cell::Unreadable)
}

fn pg_cell(row: &PgRow, i: usize) -> Cell {
    match row.try_get_raw(i) {
        Ok(raw) if raw.is_null() => return Cell::Null,
        Ok(_) => {}
        Err(_) => return Cell::Unreadable,
    }
    let cell = match row.column(i).type_info().name() {
        "BOOL" => row.try_get::<bool, _>(i).ok().map(Cell::Bool),
        "INT2" => row.try_get::<i16, _>(i).ok().map(|n| Cell::Int(n.into())),
        "INT4" => row.try_get::<i32, _>(i).ok().map(|n| Cell::Int(n.into())),
        "INT8" => row.try_get::<i64, _>(i).ok().map(Cell::Int),
        "FLOAT4" => row.try_get::<f32, _>(i).ok().map(|n| Cell::Float(n.into())),
        "FLOAT8" => row.try_get::<f64, _>(i).ok().map(Cell::Float),
        "UUID" => row.try_get::<uuid::Uuid, _>(i).ok().map(|u| Cell::Text(u.to_string())),
        "JSON" | "JSONB" => row.try_get::<JsonValue, _>(i).ok().map(Cell::Json),
        "TIMESTAMPTZ" => row.try_get::<OffsetDateTime, _>(i).ok().and_then(rfc3339),
        "TIMESTAMP" => row.try_get::<PrimitiveDateTime, _>(i).ok().and_then(|t| rfc3339(t.assume_utc())),
        "DATE" => row.try_get::<Date, _>(i).ok().and_then(date),
        "BYTEA" => row.try_get::<Vec<u8>, _>(i).ok().map(Cell::Bytes),
        _ => None,
    };
    cell.unwrap_or_else(|| text_or_bytes(row, i))
}

fn mysql_cell(row: &MySqlRow, i: usize) -> Cell {
    match row.try_get_raw(i) {
        Ok(raw) if raw.is_null() => return Cell::Null,
        Ok(_) => {}
        Err(_) => return Cell::Unreadable,
    }
    let cell = match row.column(i).type_info().name() {
        "BOOLEAN" => row.try_get::<bool, _>(i).ok().map(Cell::Bool),
        "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" => row.try_get::<i64, _>(i).ok().map(Cell::Int),
        t if t.ends_with(" UNSIGNED") => row.try_get::<u64, _>(i).ok().map(Cell::UInt),
        "FLOAT" => row.try_get::<f32, _>(i).ok().map(|n| Cell::Float(n.into())),
        "DOUBLE" => row.try_get::<f64, _>(i).ok().map(Cell::Float),
        "DATETIME" | "TIMESTAMP" => row.try_get::<OffsetDateTime, _>(i).ok().and_then(rfc3339),
        "DATE" => row.try_get::<Date, _>(i).ok().and_then(date),
        "JSON" => row.try_get::<JsonValue, _>(i).ok().map(Cell::Json),
        _ => None,
    };
    cell.unwrap_or_else(|| text_or_bytes(row, i))
}

fn sqlite_cell(row: &SqliteRow, i: usize) -> Cell {
    let storage = match row.try_get_raw(i) {
        Ok(raw) if raw.is_null() => return Cell::Null,
        Ok(raw) => raw.type_info().name().to_owned(),
        Err(_) => return Cell::Unreadable,
    };
    let declared = row.column(i).type_info().name();
    let cell = match storage.as_str() {
        "INTEGER" => {
            row.try_get::<i64, _>(i).ok().map(|n| if declared == "BOOLEAN" { Cell::Bool(n != 0) } else { Cell::Int(n) })
        }
        "REAL" => row.try_get::<f64, _>(i).ok().map(Cell::Float),
        "TEXT" => row.try_get::<String, _>(i).ok().map(|s| match declared {
            "DATETIME" | "DATE" => Cell::Text(normalise_sqlite_time(s)),
            _ => Cell::Text(s),
        }),
        "BLOB" => row.try_get::<Vec<u8>, _>(i).ok().map(Cell::Bytes),
        _ => None,
    };
    cell.unwrap_or_else(|| text_or_bytes(row, i))
}

/// SQLite keeps times as text in whatever form the host wrote them; the usual
/// `YYYY-MM-DD HH:MM:SS[.fff]` (UTC by SQLite's convention) becomes RFC 3339.
fn normalise_sqlite_time(s: String) -> String {
    if OffsetDateTime::parse(&s, &Rfc3339).is_ok() {
        return s;
    }
    let with_fraction = format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond]");
    let plain = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    PrimitiveDateTime::parse(&s, with_fraction)
        .or_else(|_| PrimitiveDateTime::parse(&s, plain))
        .ok()
        .and_then(|t| t.assume_utc().format(&Rfc3339).ok())
        .unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn active_flags() {
        for yes in [
            Cell::Bool(true),
            Cell::Int(1),
            Cell::Int(-1),
            Cell::Text("TRUE".into()),
            Cell::Text(" t ".into()),
            Cell::Text("yes".into()),
            Cell::Bytes(b"1".to_vec()),
        ] {
            assert!(yes.truthy(), "{yes:?}");
        }
        for no in [
            Cell::Bool(false),
            Cell::Int(0),
            Cell::Null,
            Cell::Text("0".into()),
            Cell::Text("false".into()),
            Cell::Text("no".into()),
            Cell::Text("maybe".into()),
            Cell::Text(String::new()),
        ] {
            assert!(!no.truthy(), "{no:?}");
        }
    }

    #[test]
    fn inactive_markers() {
        for set in [
            Cell::Bool(true),
            Cell::Int(1),
            Cell::Int(4),
            Cell::UInt(2),
            Cell::Float(0.5),
            Cell::Text("2024-01-02T03:04:05Z".into()),
            Cell::Text("1".into()),
            Cell::Text("banned for spam".into()),
            Cell::Text("inactive".into()),
            Cell::Bytes(b"x".to_vec()),
            Cell::Bytes(vec![0xff]),
            Cell::Unreadable,
        ] {
            assert!(set.is_set(), "{set:?}");
        }
        for unset in [
            Cell::Null,
            Cell::Bool(false),
            Cell::Int(0),
            Cell::UInt(0),
            Cell::Float(0.0),
            Cell::Text(String::new()),
            Cell::Text(" 0 ".into()),
            Cell::Text("false".into()),
            Cell::Json(JsonValue::Null),
            Cell::Json(JsonValue::Bool(false)),
        ] {
            assert!(!unset.is_set(), "{unset:?}");
        }
    }

    #[test]
    fn text_of_cells() {
        assert_eq!(Cell::Int(42).text().as_deref(), Some("42"));
        assert_eq!(Cell::Bytes(b"$2y$10$abc\0\0".to_vec()).text().as_deref(), Some("$2y$10$abc"));
        assert_eq!(Cell::Bytes(vec![0xff, 0xfe]).text(), None);
        assert_eq!(Cell::Null.text(), None);
    }

    #[test]
    fn json_of_cells() {
        assert_eq!(Cell::Float(f64::NAN).into_json(), Some(json!(null)));
        assert_eq!(Cell::UInt(u64::MAX).into_json(), Some(json!(u64::MAX)));
        assert_eq!(Cell::Bytes(vec![0xff]).into_json(), None);
        assert_eq!(Cell::Bytes(b"ok".to_vec()).into_json(), Some(json!("ok")));
        assert_eq!(Cell::Unreadable.into_json(), None);
    }

    #[test]
    fn sqlite_times() {
        assert_eq!(normalise_sqlite_time("2024-01-02 03:04:05".into()), "2024-01-02T03:04:05Z");
        assert_eq!(normalise_sqlite_time("2024-01-02 03:04:05.25".into()), "2024-01-02T03:04:05.25Z");
        assert_eq!(normalise_sqlite_time("2024-01-02T03:04:05+02:00".into()), "2024-01-02T03:04:05+02:00");
        assert_eq!(normalise_sqlite_time("yesterday".into()), "yesterday");
    }
}
