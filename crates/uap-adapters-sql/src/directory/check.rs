//! What `uap check` asks of the host database: a description of the reflected
//! tables and a sample of the stored password hashes.

use sea_orm::{ConnectionTrait, Value};
use uap_ports::StoreError;

use super::config::OptionalColumn;
use super::query::{self, Page};
use super::reflect::{ColumnKind, ReflectedColumn};
use super::row::{Cell, decode_row};
use super::{HOST, SqlUserDirectory};
use crate::SqlBackend;
use crate::backend::map_err;

/// One reflected column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDescription {
    /// Its name as the database spells it.
    pub name: String,
    /// Its type as the database names it, e.g. `character varying`, `varchar(255)`.
    pub data_type: String,
    /// The declared maximum length, where the engine enforces one (not SQLite).
    pub max_len: Option<u64>,
    /// Whether NULL is allowed.
    pub nullable: bool,
}

impl From<&ReflectedColumn> for ColumnDescription {
    fn from(c: &ReflectedColumn) -> Self {
        Self {
            name: c.name.as_str().to_owned(),
            data_type: c.data_type.clone(),
            max_len: c.max_len,
            nullable: c.nullable,
        }
    }
}

/// A configured column that UAP uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsedColumn {
    /// The configuration key, e.g. `password_field`.
    pub key: &'static str,
    /// The column it names.
    pub column: String,
}

impl UsedColumn {
    pub(crate) fn new(key: &'static str, column: &ReflectedColumn) -> Self {
        Self { key, column: column.name.as_str().to_owned() }
    }
}

/// An optional column that UAP does not use, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedColumn {
    /// The configuration key, e.g. `active_field`.
    pub key: &'static str,
    /// The configured column name.
    pub column: String,
    /// Why it is not used.
    pub reason: String,
}

impl SkippedColumn {
    pub(crate) fn new(column: &OptionalColumn, reason: &str) -> Self {
        Self { key: column.key, column: column.name.clone(), reason: reason.to_owned() }
    }
}

/// What `uap check` prints about the host tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDescription {
    /// The engine.
    pub backend: SqlBackend,
    /// The user table as configured (`schema.table` or `table`).
    pub table: String,
    /// Its columns, in table order.
    pub columns: Vec<ColumnDescription>,
    /// The configured columns in use.
    pub used: Vec<UsedColumn>,
    /// The optional columns not in use, with the reason.
    pub skipped: Vec<SkippedColumn>,
    /// The role table and its columns, when configured.
    pub role_table: Option<(String, Vec<ColumnDescription>)>,
    /// The number of rows; `None` when counting failed.
    pub row_count: Option<u64>,
}

impl SqlUserDirectory {
    /// Describes the reflected tables, the columns in use and those skipped,
    /// and counts the rows.
    pub async fn describe(&self) -> TableDescription {
        let r = &self.resolved;
        let row_count = self.count(false).await.ok();
        TableDescription {
            backend: self.backend,
            table: r.table.to_string(),
            columns: r.columns.iter().map(ColumnDescription::from).collect(),
            used: r.used.clone(),
            skipped: r.skipped.clone(),
            role_table: r.role_table.as_ref().map(|rt| {
                let columns = rt.columns.iter().map(ColumnDescription::from).collect();
                (rt.table.to_string(), columns)
            }),
            row_count,
        }
    }

    /// Reads up to `limit` stored password hashes (NULL and empty ones left
    /// out), `batch` rows per query in id order, calling `progress(done, total)`
    /// after each batch.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] or [`StoreError::Backend`] when a query fails.
    pub async fn password_hashes(
        &self,
        limit: u64,
        batch: u64,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<Vec<String>, StoreError> {
        let r = &self.resolved;
        let total = self.count(true).await?.min(limit);
        let batch = batch.max(1);
        let keyset = r.columns.get(r.id).is_some_and(query::keyset_pageable);
        let mut page = if keyset { Page::After(None) } else { Page::Offset(0) };
        let mut hashes = Vec::new();
        let mut done = 0_u64;
        progress(0, total);
        while done < total {
            let size = batch.min(total - done);
            let sql = query::sample_hashes(r, self.backend, &page, size);
            let rows = self.conn.query_all_raw(sql.build()).await.map_err(|e| map_err(HOST, e))?;
            let fetched = rows.len() as u64;
            let mut last_id = None;
            for row in &rows {
                let mut cells = decode_row(row, 2)?.into_iter();
                last_id = cells.next();
                if let Some(hash) = cells.next().as_ref().and_then(Cell::text)
                    && !hash.is_empty()
                {
                    hashes.push(hash);
                }
            }
            done += fetched;
            progress(done, total);
            if fetched < size {
                break;
            }
            page = match page {
                Page::Offset(n) => Page::Offset(n + fetched),
                Page::After(_) => Page::After(last_id.and_then(|c| self.id_value(&c))),
            };
        }
        Ok(hashes)
    }

    /// `SELECT COUNT(*)` of the user table (only rows with a hash when asked).
    async fn count(&self, with_password: bool) -> Result<u64, StoreError> {
        let sql = query::count(&self.resolved, self.backend, with_password);
        let row = self.conn.query_one_raw(sql.build()).await.map_err(|e| map_err(HOST, e))?;
        let n = match row.map(|row| decode_row(&row, 1)).transpose()? {
            Some(cells) => match cells.first() {
                Some(Cell::Int(n)) => u64::try_from(*n).unwrap_or_default(),
                Some(Cell::UInt(n)) => *n,
                _ => 0,
            },
            None => 0,
        };
        Ok(n)
    }

    /// A decoded id as a parameter for `id > ?`.
    fn id_value(&self, cell: &Cell) -> Option<Value> {
        let column = self.resolved.columns.get(self.resolved.id)?;
        match (column.kind, cell) {
            (ColumnKind::Bytes, Cell::Bytes(b)) => Some(Value::Bytes(Some(b.clone()))),
            _ => query::operand(column, self.backend, &cell.text()?),
        }
    }
}
