//! The host database as a [`UserDirectory`]: the configured user table (and
//! role table) is reflected at connect time, every configured name is checked
//! against it, and lookups run as parameterised statements over the reflected
//! columns.

mod check;
mod config;
mod query;
pub(crate) mod reflect;
pub(crate) mod row;

use async_trait::async_trait;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use uap_ports::{HostUser, PasswordUpdate, StoreError, UserDirectory, UserQuery};

pub use check::{ColumnDescription, SkippedColumn, TableDescription, UsedColumn};
pub use config::{ColumnPurpose, ConfigValue, HostTableConfig, OptionalColumn, RoleTableConfig};

use crate::SqlBackend;
use crate::backend::{Connected, PoolSettings, connect, map_err};
use crate::ident::{Ident, TableName};
use reflect::{ReflectedColumn, column_list, find_column, reflect_table};

/// The dependency name in [`StoreError::Unavailable`].
pub(crate) const HOST: &str = "host database";

/// The host user table (PostgreSQL, MySQL/MariaDB or SQLite) as a
/// [`UserDirectory`].
pub struct SqlUserDirectory {
    conn: DatabaseConnection,
    backend: SqlBackend,
    resolved: Resolved,
}

impl std::fmt::Debug for SqlUserDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlUserDirectory")
            .field("backend", &self.backend)
            .field("table", &self.resolved.table.to_string())
            .finish_non_exhaustive()
    }
}

/// The configuration resolved against the reflected schema.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub table: TableName,
    pub columns: Vec<ReflectedColumn>,
    pub select_list: String,
    pub id: usize,
    pub password: usize,
    /// Columns a query may name: identifiers, present optional columns, the id.
    pub queryable: Vec<usize>,
    pub role_column: Option<usize>,
    pub active: Option<usize>,
    /// The `inactive_field` column: set means the user cannot log in.
    pub inactive: Option<usize>,
    pub role_table: Option<RoleTable>,
    pub used: Vec<UsedColumn>,
    pub skipped: Vec<SkippedColumn>,
}

/// The role table resolved against its reflected schema.
#[derive(Debug, Clone)]
pub(crate) struct RoleTable {
    pub table: TableName,
    pub columns: Vec<ReflectedColumn>,
    pub user_id: ReflectedColumn,
    pub role_name: ReflectedColumn,
}

impl SqlUserDirectory {
    /// Connects to the host database at `url` (`postgres://`, `postgresql://`,
    /// `mysql://`, `mariadb://`, `sqlite://`), reflects the configured tables and
    /// checks every configured column.
    ///
    /// # Errors
    /// [`StoreError::Misconfigured`] naming the configuration key, table and
    /// column for an invalid name, a missing table or a missing required column,
    /// an unsupported URL, or a server that refuses the credentials;
    /// [`StoreError::Unavailable`] when the server cannot be reached. Messages
    /// show the URL with its password redacted.
    pub async fn connect(url: &str, config: HostTableConfig) -> Result<Self, StoreError> {
        let table = TableName::parse(config.table.key, &config.table.value)?;
        for value in [&config.id_field, &config.password_field].into_iter().chain(&config.identifier_fields) {
            Ident::parse(value.key, &value.value)?;
        }
        for column in config.optional.iter().filter(|c| !c.name.is_empty()) {
            Ident::parse(column.key, &column.name)?;
        }
        let role_table = match &config.role_table {
            Some(rt) => {
                Ident::parse(rt.user_id_field.key, &rt.user_id_field.value)?;
                Ident::parse(rt.role_name_field.key, &rt.role_name_field.value)?;
                Some((TableName::parse(rt.table.key, &rt.table.value)?, rt))
            }
            None => None,
        };
        let settings = PoolSettings { max_connections: config.max_connections, own_sqlite: false };
        let Connected { conn, backend } = connect("host_db_url", HOST, url, settings).await?;
        let mut resolved = resolve(&conn, backend, &config, table).await?;
        if let Some((table, rt)) = role_table {
            resolved.role_table = Some(resolve_role_table(&conn, backend, table, rt).await?);
        }
        Ok(Self { conn, backend, resolved })
    }

    /// The engine behind this directory.
    #[must_use]
    pub fn backend(&self) -> SqlBackend {
        self.backend
    }

    /// Pool connections checked out right now (`uap_database_connections_active`).
    #[must_use]
    pub fn connections_in_use(&self) -> u64 {
        use sea_orm::DatabaseConnectionType as Kind;
        let (size, idle) = match &self.conn.inner {
            Kind::SqlxPostgresPoolConnection(_) => {
                let pool = self.conn.get_postgres_connection_pool();
                (pool.size(), pool.num_idle())
            }
            Kind::SqlxMySqlPoolConnection(_) => {
                let pool = self.conn.get_mysql_connection_pool();
                (pool.size(), pool.num_idle())
            }
            Kind::SqlxSqlitePoolConnection(_) => {
                let pool = self.conn.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle())
            }
            _ => (0, 0),
        };
        u64::from(size).saturating_sub(idle as u64)
    }

    /// The column index a query may name as `field`.
    fn field_index(&self, field: &str) -> Result<usize, StoreError> {
        find_column(&self.resolved.columns, self.backend, field)
            .filter(|i| self.resolved.queryable.contains(i))
            .ok_or_else(|| {
                StoreError::Misconfigured(format!(
                    "identifier field {field:?} is not a configured column of table {:?}",
                    self.resolved.table.to_string()
                ))
            })
    }

    async fn roles_of(&self, user_id: &str) -> Result<Option<Vec<String>>, StoreError> {
        let Some(role_table) = &self.resolved.role_table else {
            return Ok(None);
        };
        let Some(sql) = query::select_roles(role_table, self.backend, user_id) else {
            return Ok(Some(Vec::new()));
        };
        let rows = self.conn.query_all_raw(sql.build()).await.map_err(|e| map_err(HOST, e))?;
        let mut roles = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(role) = row::decode_row(row, 1)?.first().and_then(row::Cell::text) {
                roles.push(role);
            }
        }
        Ok(Some(roles))
    }
}

#[async_trait]
impl UserDirectory for SqlUserDirectory {
    async fn find_user(&self, query: &UserQuery) -> Result<Option<HostUser>, StoreError> {
        let fields = query.fields.iter().map(|f| self.field_index(f)).collect::<Result<Vec<_>, _>>()?;
        if query.value.contains('\0') {
            // No identifier holds a NUL (PostgreSQL text cannot even store one).
            return Ok(None);
        }
        let resolved = &self.resolved;
        let Some((sql, ranked)) =
            query::select_user(resolved, self.backend, &fields, &query.value, query.case_insensitive)
        else {
            return Ok(None);
        };
        let rows = self.conn.query_all_raw(sql.build()).await.map_err(|e| map_err(HOST, e))?;
        let width = resolved.columns.len();
        let mut decoded = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut cells = row::decode_row(r, width + usize::from(ranked))?;
            let rank = (cells.len() > width).then(|| cells.pop()).flatten();
            decoded.push((cells, rank));
        }
        let mut decoded = decoded.into_iter();
        let Some((cells, rank)) = decoded.next() else {
            return Ok(None);
        };
        if decoded.next().is_some_and(|(_, other)| other == rank) {
            tracing::warn!(
                table = %resolved.table,
                "a login identifier matches more than one host user; treated as no user"
            );
            return Ok(None);
        }
        let mut user = row::host_user(cells, resolved)?;
        if let Some(roles) = self.roles_of(&user.id).await? {
            user.roles = roles;
        }
        Ok(Some(user))
    }

    async fn update_password_hash(
        &self,
        user_id: &str,
        expected_old: &str,
        new_hash: &str,
    ) -> Result<PasswordUpdate, StoreError> {
        if [user_id, expected_old, new_hash].iter().any(|v| v.contains('\0')) {
            return Ok(PasswordUpdate::Stale);
        }
        let resolved = &self.resolved;
        if let Some(column) = resolved.columns.get(resolved.password) {
            let len = match column.kind {
                reflect::ColumnKind::Bytes => new_hash.len(),
                _ => new_hash.chars().count(),
            };
            if let Some(max) = column.max_len.and_then(|m| usize::try_from(m).ok())
                && len > max
            {
                return Ok(PasswordUpdate::ColumnTooNarrow { max_len: max });
            }
        }
        let Some(sql) = query::update_password(resolved, self.backend, user_id, expected_old, new_hash) else {
            return Ok(PasswordUpdate::Stale);
        };
        let result = self.conn.execute_raw(sql.build()).await.map_err(|e| map_err(HOST, e))?;
        Ok(match result.rows_affected() {
            0 => PasswordUpdate::Stale,
            1 => PasswordUpdate::Updated,
            n => {
                tracing::warn!(table = %resolved.table, rows = n, "password update matched several rows");
                PasswordUpdate::Updated
            }
        })
    }

    async fn health(&self) -> Result<(), StoreError> {
        let stmt = Statement::from_string(self.backend.db_backend(), "SELECT 1");
        self.conn.execute_raw(stmt).await.map(|_| ()).map_err(|e| StoreError::unavailable(HOST, e))
    }
}

/// Checks the configuration against the reflected user table.
async fn resolve(
    conn: &DatabaseConnection,
    backend: SqlBackend,
    config: &HostTableConfig,
    table: TableName,
) -> Result<Resolved, StoreError> {
    let columns = reflect_table(conn, backend, &table).await?;
    if columns.is_empty() {
        return Err(missing_table(config.table.key, &table));
    }
    let require = |value: &ConfigValue| {
        find_column(&columns, backend, &value.value)
            .ok_or_else(|| missing_column(value.key, &value.value, &table, &columns))
    };
    let id = require(&config.id_field)?;
    let password = require(&config.password_field)?;
    let mut used = vec![
        UsedColumn::new(config.id_field.key, &columns[id]),
        UsedColumn::new(config.password_field.key, &columns[password]),
    ];
    let mut queryable = vec![id];
    for field in &config.identifier_fields {
        let i = require(field)?;
        used.push(UsedColumn::new(field.key, &columns[i]));
        queryable.push(i);
    }
    let (mut role_column, mut active, mut inactive, mut skipped) = (None, None, None, Vec::new());
    for column in &config.optional {
        if column.name.is_empty() {
            skipped.push(SkippedColumn::new(column, "disabled (set to an empty name)"));
            continue;
        }
        let found = find_column(&columns, backend, &column.name);
        let Some(i) = found else {
            if column.explicit {
                return Err(missing_column(column.key, &column.name, &table, &columns));
            }
            skipped.push(SkippedColumn::new(column, "no such column (optional at its default)"));
            continue;
        };
        used.push(UsedColumn::new(column.key, &columns[i]));
        queryable.push(i);
        match column.purpose {
            ColumnPurpose::Role => role_column = Some(i),
            ColumnPurpose::Active => active = Some(i),
            ColumnPurpose::Inactive => inactive = Some(i),
            ColumnPurpose::Email | ColumnPurpose::Phone => {}
        }
    }
    let select_list = columns.iter().map(|c| c.select.as_str()).collect::<Vec<_>>().join(", ");
    Ok(Resolved {
        table,
        columns,
        select_list,
        id,
        password,
        queryable,
        role_column,
        active,
        inactive,
        role_table: None,
        used,
        skipped,
    })
}

/// Checks the role table configuration against its reflected schema.
async fn resolve_role_table(
    conn: &DatabaseConnection,
    backend: SqlBackend,
    table: TableName,
    config: &RoleTableConfig,
) -> Result<RoleTable, StoreError> {
    let columns = reflect_table(conn, backend, &table).await?;
    if columns.is_empty() {
        return Err(missing_table(config.table.key, &table));
    }
    let require = |value: &ConfigValue| {
        find_column(&columns, backend, &value.value)
            .and_then(|i| columns.get(i).cloned())
            .ok_or_else(|| missing_column(value.key, &value.value, &table, &columns))
    };
    let user_id = require(&config.user_id_field)?;
    let role_name = require(&config.role_name_field)?;
    Ok(RoleTable { table, columns, user_id, role_name })
}

fn missing_column(key: &str, name: &str, table: &TableName, columns: &[ReflectedColumn]) -> StoreError {
    StoreError::Misconfigured(format!(
        "{key}: column {name:?} does not exist in table {:?} {}",
        table.to_string(),
        column_list(columns)
    ))
}

fn missing_table(key: &str, table: &TableName) -> StoreError {
    StoreError::Misconfigured(format!(
        "{key}: table {:?} does not exist in the host database (or the database user may not \
         see its columns)",
        table.to_string()
    ))
}
