//! What the host directory is told about the host tables: plain data, each
//! value with the configuration key it came from, so errors can name the key.

/// A configured name with the configuration key it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigValue {
    /// The configuration key, e.g. `password_field`.
    pub key: &'static str,
    /// Its value, e.g. `password_hash`.
    pub value: String,
}

impl ConfigValue {
    /// `value` as set through configuration key `key`.
    pub fn new(key: &'static str, value: impl Into<String>) -> Self {
        Self { key, value: value.into() }
    }
}

/// What an optional column means to UAP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnPurpose {
    /// E-mail address (`email_field`): an identifier for `email_password`.
    Email,
    /// Phone number (`phone_field`): an identifier for `phone_password`.
    Phone,
    /// Role name (`role_field`): the user's single role when no role table is set.
    Role,
    /// Active flag (`active_field`): rows where it is false cannot log in.
    Active,
    /// Inactive marker (`inactive_field`): rows where it is set (not NULL,
    /// false, 0 or empty) cannot log in.
    Inactive,
}

/// A column UAP uses when it exists: used only if present when left at its
/// default, required when set explicitly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionalColumn {
    /// The configuration key, e.g. `active_field`.
    pub key: &'static str,
    /// What the column means.
    pub purpose: ColumnPurpose,
    /// The column name.
    pub name: String,
    /// Set explicitly by the operator (then it must exist).
    pub explicit: bool,
}

impl OptionalColumn {
    /// A column left at its default value (used only when present).
    pub fn if_present(key: &'static str, purpose: ColumnPurpose, name: impl Into<String>) -> Self {
        Self { key, purpose, name: name.into(), explicit: false }
    }

    /// A column the operator set explicitly (must exist).
    pub fn required(key: &'static str, purpose: ColumnPurpose, name: impl Into<String>) -> Self {
        Self { key, purpose, name: name.into(), explicit: true }
    }
}

/// A separate table of role assignments (`host_role_table`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleTableConfig {
    /// The table (`host_role_table`), optionally `schema.table`.
    pub table: ConfigValue,
    /// Its column holding the user's id (`role_user_id_field`).
    pub user_id_field: ConfigValue,
    /// Its column holding the role name (`role_name_field`).
    pub role_name_field: ConfigValue,
}

impl RoleTableConfig {
    /// A role table with the standard configuration keys.
    pub fn new(table: impl Into<String>, user_id_field: impl Into<String>, role_name_field: impl Into<String>) -> Self {
        Self {
            table: ConfigValue::new("host_role_table", table),
            user_id_field: ConfigValue::new("role_user_id_field", user_id_field),
            role_name_field: ConfigValue::new("role_name_field", role_name_field),
        }
    }
}

/// The host user table as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostTableConfig {
    /// The user table (`host_user_table`), optionally `schema.table`.
    pub table: ConfigValue,
    /// The id column (`id_field`).
    pub id_field: ConfigValue,
    /// The password-hash column (`password_field`).
    pub password_field: ConfigValue,
    /// The columns a login identifier is matched against, in order
    /// (`identifier_fields`, or e.g. `email_field` when derived from `auth_type`).
    pub identifier_fields: Vec<ConfigValue>,
    /// E-mail, phone, role, active and inactive columns.
    pub optional: Vec<OptionalColumn>,
    /// A separate role table, when configured.
    pub role_table: Option<RoleTableConfig>,
    /// Upper bound of pooled connections to the host database.
    pub max_connections: u32,
}

impl HostTableConfig {
    /// A configuration with the standard keys (`host_user_table`, `id_field`,
    /// `password_field`, `identifier_fields`), no optional columns, no role
    /// table and 10 connections.
    pub fn new(
        table: impl Into<String>,
        id_field: impl Into<String>,
        password_field: impl Into<String>,
        identifier_fields: &[&str],
    ) -> Self {
        Self {
            table: ConfigValue::new("host_user_table", table),
            id_field: ConfigValue::new("id_field", id_field),
            password_field: ConfigValue::new("password_field", password_field),
            identifier_fields: identifier_fields.iter().map(|f| ConfigValue::new("identifier_fields", *f)).collect(),
            optional: Vec::new(),
            role_table: None,
            max_connections: 10,
        }
    }

    /// Adds an optional column.
    #[must_use]
    pub fn with_optional(mut self, column: OptionalColumn) -> Self {
        self.optional.push(column);
        self
    }

    /// Sets the role table.
    #[must_use]
    pub fn with_role_table(mut self, role_table: RoleTableConfig) -> Self {
        self.role_table = Some(role_table);
        self
    }
}
