//! The statements run against the host tables. Every name comes from
//! reflection (validated identifiers, quoted per backend); every value is a
//! bound parameter of the column's own type.

use sea_orm::Value;

use super::reflect::{ColumnKind, ReflectedColumn, text_type};
use super::{Resolved, RoleTable};
use crate::SqlBackend;
use crate::sql::Sql;

/// `value` as a parameter comparable with `column`, or `None` when no row can
/// hold it there (text that is not an integer, for an integer column…).
pub(crate) fn operand(column: &ReflectedColumn, backend: SqlBackend, value: &str) -> Option<Value> {
    match column.kind {
        ColumnKind::Integer => value.parse::<i64>().ok().filter(|n| n.to_string() == value).map(Value::from),
        ColumnKind::Uuid if backend == SqlBackend::Postgres => uuid::Uuid::parse_str(value).ok().map(Value::from),
        ColumnKind::Bytes => Some(Value::Bytes(Some(value.as_bytes().to_vec()))),
        ColumnKind::Uuid | ColumnKind::Text | ColumnKind::Other => Some(Value::from(value)),
    }
}

/// Appends `<column> = <operand>`: `LOWER()` on both sides for a
/// case-insensitive text comparison, a cast to text for columns of types
/// without a native parameter here.
fn push_eq(sql: &mut Sql, backend: SqlBackend, column: &ReflectedColumn, operand: Value, case_insensitive: bool) {
    let quoted = column.quoted(backend);
    let lhs = match column.kind {
        ColumnKind::Other => format!("CAST({quoted} AS {})", text_type(backend)),
        _ => quoted,
    };
    let textual = matches!(column.kind, ColumnKind::Text | ColumnKind::Other)
        || (column.kind == ColumnKind::Uuid && backend != SqlBackend::Postgres);
    if case_insensitive && textual {
        sql.push("LOWER(").push(&lhs).push(") = LOWER(").bind(operand).push(")");
    } else {
        sql.push(&lhs).push(" = ").bind(operand);
    }
}

/// `SELECT <every column> FROM <table> WHERE c1 = ? OR c2 = ? … LIMIT 2`.
///
/// With several columns, a trailing rank column (the index of the first
/// listed column that matched) orders the rows, so the first listed column
/// wins; two rows of the same rank are ambiguous. `None` when the value fits
/// none of the columns. The flag tells whether the rank column is there.
pub(crate) fn select_user(
    resolved: &Resolved,
    backend: SqlBackend,
    fields: &[usize],
    value: &str,
    case_insensitive: bool,
) -> Option<(Sql, bool)> {
    let usable: Vec<(&ReflectedColumn, Value)> = fields
        .iter()
        .filter_map(|&i| resolved.columns.get(i))
        .filter_map(|c| operand(c, backend, value).map(|v| (c, v)))
        .collect();
    if usable.is_empty() {
        return None;
    }
    let ranked = usable.len() > 1;
    let mut sql = Sql::new(backend);
    sql.push("SELECT ").push(&resolved.select_list);
    if ranked {
        sql.push(", CASE");
        for (rank, (column, operand)) in usable.iter().enumerate() {
            sql.push(" WHEN ");
            push_eq(&mut sql, backend, column, operand.clone(), case_insensitive);
            sql.push(&format!(" THEN {rank}"));
        }
        sql.push(&format!(" ELSE {} END", usable.len()));
    }
    sql.push(" FROM ").push(&resolved.table.quoted(backend)).push(" WHERE ");
    for (n, (column, operand)) in usable.into_iter().enumerate() {
        if n > 0 {
            sql.push(" OR ");
        }
        push_eq(&mut sql, backend, column, operand, case_insensitive);
    }
    if ranked {
        sql.push(&format!(" ORDER BY {}", resolved.columns.len() + 1));
    }
    sql.push(" LIMIT 2");
    Some((sql, ranked))
}

/// `SELECT role_name FROM role_table WHERE user_id = ? ORDER BY 1`.
pub(crate) fn select_roles(roles: &RoleTable, backend: SqlBackend, user_id: &str) -> Option<Sql> {
    let operand = operand(&roles.user_id, backend, user_id)?;
    let name = roles.role_name.quoted(backend);
    let mut sql = Sql::new(backend);
    sql.push("SELECT ");
    if roles.role_name.kind == ColumnKind::Text {
        sql.push(&name);
    } else {
        sql.push(&format!("CAST({name} AS {})", text_type(backend)));
    }
    sql.push(" FROM ").push(&roles.table.quoted(backend)).push(" WHERE ");
    push_eq(&mut sql, backend, &roles.user_id, operand, false);
    sql.push(" ORDER BY 1");
    Some(sql)
}

/// The password value as a parameter of the password column's type.
fn password_value(column: &ReflectedColumn, hash: &str) -> Value {
    match column.kind {
        ColumnKind::Bytes => Value::Bytes(Some(hash.as_bytes().to_vec())),
        _ => Value::from(hash),
    }
}

/// `UPDATE t SET pw = ? WHERE id = ? AND pw = ?` (compare-and-set); `None`
/// when `user_id` cannot be an id of this table.
pub(crate) fn update_password(
    resolved: &Resolved,
    backend: SqlBackend,
    user_id: &str,
    expected_old: &str,
    new_hash: &str,
) -> Option<Sql> {
    let id = resolved.columns.get(resolved.id)?;
    let pw = resolved.columns.get(resolved.password)?;
    let id_operand = operand(id, backend, user_id)?;
    let mut sql = Sql::new(backend);
    sql.push("UPDATE ")
        .push(&resolved.table.quoted(backend))
        .push(" SET ")
        .push(&pw.quoted(backend))
        .push(" = ")
        .bind(password_value(pw, new_hash))
        .push(" WHERE ");
    push_eq(&mut sql, backend, id, id_operand, false);
    sql.push(" AND ").push(&pw.quoted(backend)).push(" = ").bind(password_value(pw, expected_old));
    Some(sql)
}

/// `SELECT COUNT(*) FROM t [WHERE pw IS NOT NULL]`.
pub(crate) fn count(resolved: &Resolved, backend: SqlBackend, with_password: bool) -> Sql {
    let mut sql = Sql::new(backend);
    sql.push("SELECT COUNT(*) FROM ").push(&resolved.table.quoted(backend));
    if let Some(pw) = resolved.columns.get(resolved.password).filter(|_| with_password) {
        sql.push(" WHERE ").push(&pw.quoted(backend)).push(" IS NOT NULL");
    }
    sql
}

/// Where the next page of stored hashes starts.
#[derive(Debug, Clone)]
pub(crate) enum Page {
    /// Keyset pagination: ids after this one.
    After(Option<Value>),
    /// For ids of a type without an ordered parameter: rows after this many.
    Offset(u64),
}

/// `SELECT id, pw FROM t WHERE pw IS NOT NULL [AND id > ?] ORDER BY id LIMIT n`.
pub(crate) fn sample_hashes(resolved: &Resolved, backend: SqlBackend, page: &Page, size: u64) -> Sql {
    let mut sql = Sql::new(backend);
    let (Some(id), Some(pw)) = (resolved.columns.get(resolved.id), resolved.columns.get(resolved.password)) else {
        return sql;
    };
    let (id_q, pw_q) = (id.quoted(backend), pw.quoted(backend));
    sql.push("SELECT ")
        .push(&id.select)
        .push(", ")
        .push(&pw.select)
        .push(" FROM ")
        .push(&resolved.table.quoted(backend))
        .push(" WHERE ")
        .push(&pw_q)
        .push(" IS NOT NULL");
    if let Page::After(Some(last)) = page {
        sql.push(" AND ").push(&id_q).push(" > ").bind(last.clone());
    }
    sql.push(" ORDER BY ").push(&id_q).push(&format!(" LIMIT {size}"));
    if let Page::Offset(n) = page {
        sql.push(&format!(" OFFSET {n}"));
    }
    sql
}

/// Whether ids of `column` can be paged by keyset (`id > ?`).
pub(crate) fn keyset_pageable(column: &ReflectedColumn) -> bool {
    column.kind != ColumnKind::Other
}
