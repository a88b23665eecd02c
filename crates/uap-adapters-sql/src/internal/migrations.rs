//! The internal database schema: the design document's five tables (with its
//! indexes), the session columns of [`uap_ports::SessionRecord`], and the MFA
//! factor table; then (second migration) one MFA factor per user and type, and
//! the phase of a middleware run; then (third) the refresh chain's login time
//! and credential fingerprint on sessions; then (fourth) the index the audit
//! queries filter by event type on. Applied by sea-orm-migration, recorded in
//! `uap_migrations` (not `seaql_migrations`, which a host application on
//! sea-orm may own). A released migration is never edited: changes are new
//! migrations.
//!
//! Portable types, chosen to round-trip exactly on all three engines:
//!
//! | logical | PostgreSQL | MySQL/MariaDB | SQLite |
//! |---|---|---|---|
//! | UUID | `VARCHAR(36)` | `VARCHAR(36)` | `VARCHAR(36)` |
//! | JSON | `JSONB` | `JSON` | `TEXT` |
//! | timestamp (UTC, µs) | `TIMESTAMPTZ` | `DATETIME(6)`, UTC by convention | `TEXT`, fixed-width RFC 3339 `YYYY-MM-DDTHH:MM:SS.ffffffZ` (sorts as time does) |
//! | IP address | `VARCHAR(45)` | `VARCHAR(45)` | `VARCHAR(45)` |
//! | bytes | `BYTEA` | `BLOB` | `BLOB` |
//!
//! MySQL tables use `utf8mb4_bin`, so ids and user ids compare case-sensitively
//! as on the other engines. Statements use `IF NOT EXISTS` and MySQL indexes
//! are declared inside `CREATE TABLE`, so a migration interrupted on an engine
//! without transactional DDL can simply be run again.

use sea_orm::ConnectionTrait;
use sea_orm_migration::prelude::{DynIden, IntoIden};
use sea_orm_migration::{DbErr, MigrationName, MigrationTrait, MigratorTrait, SchemaManager};

use crate::SqlBackend;
use crate::ident::quote;

/// The migrations of the internal database, oldest first.
pub(crate) struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateTables), Box::new(SecurityPipeline), Box::new(SessionChain), Box::new(AuditQueries)]
    }

    fn migration_table_name() -> DynIden {
        "uap_migrations".into_iden()
    }
}

/// `m20250101_000001_create_tables`: every table of the first schema.
struct CreateTables;

impl MigrationName for CreateTables {
    fn name(&self) -> &str {
        "m20250101_000001_create_tables"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = match manager.get_database_backend() {
            sea_orm::DbBackend::Postgres => SqlBackend::Postgres,
            sea_orm::DbBackend::MySql => SqlBackend::MySql,
            sea_orm::DbBackend::Sqlite => SqlBackend::Sqlite,
            other => {
                return Err(DbErr::Migration(format!("no UAP schema for the {} backend", other.as_str())));
            }
        };
        for table in TABLES {
            for statement in table.render(backend) {
                manager.get_connection().execute_unprepared(&statement).await?;
            }
        }
        Ok(())
    }
}

/// `m20250601_000002_security_pipeline`: one MFA factor per (organization,
/// user, type) — the unique index `uap_mfa_factors_user_type` that
/// `put_pending` upserts on — and the `phase` column of
/// `uap_middleware_logs`. Each step checks the catalog first, so a run
/// interrupted on an engine without transactional DDL can simply be repeated.
struct SecurityPipeline;

impl MigrationName for SecurityPipeline {
    fn name(&self) -> &str {
        "m20250601_000002_security_pipeline"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for SecurityPipeline {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        let mysql = manager.get_database_backend() == sea_orm::DbBackend::MySql;
        if !manager.has_index("uap_mfa_factors", "uap_mfa_factors_user_type").await? {
            let statement = if mysql {
                "ALTER TABLE `uap_mfa_factors` ADD UNIQUE KEY `uap_mfa_factors_user_type` \
                 (`organization_id`, `user_id`, `factor_type`)"
            } else {
                "CREATE UNIQUE INDEX IF NOT EXISTS \"uap_mfa_factors_user_type\" ON \"uap_mfa_factors\" \
                 (\"organization_id\", \"user_id\", \"factor_type\")"
            };
            conn.execute_unprepared(statement).await?;
        }
        if !manager.has_column("uap_middleware_logs", "phase").await? {
            let statement = if mysql {
                "ALTER TABLE `uap_middleware_logs` ADD COLUMN `phase` VARCHAR(32) NULL"
            } else {
                "ALTER TABLE \"uap_middleware_logs\" ADD COLUMN \"phase\" VARCHAR(32)"
            };
            conn.execute_unprepared(statement).await?;
        }
        Ok(())
    }
}

/// `m20261203_000003_session_chain`: the nullable `auth_time` (the login
/// that started a refresh chain; rows from before read it as `created_at`)
/// and `credential_fingerprint` (a keyed fingerprint of the host password
/// hash at login) columns of `uap_sessions`. Each step checks the catalog
/// first, so an interrupted run can be repeated.
struct SessionChain;

impl MigrationName for SessionChain {
    fn name(&self) -> &str {
        "m20261203_000003_session_chain"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for SessionChain {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        let (quote, timestamp) = match manager.get_database_backend() {
            sea_orm::DbBackend::MySql => ('`', "DATETIME(6) NULL"),
            sea_orm::DbBackend::Postgres => ('"', "TIMESTAMPTZ"),
            _ => ('"', "TEXT"),
        };
        for (column, ty) in [("auth_time", timestamp), ("credential_fingerprint", "VARCHAR(64)")] {
            if !manager.has_column("uap_sessions", column).await? {
                let statement =
                    format!("ALTER TABLE {quote}uap_sessions{quote} ADD COLUMN {quote}{column}{quote} {ty}");
                conn.execute_unprepared(&statement).await?;
            }
        }
        Ok(())
    }
}

/// `m20261203_000004_audit_queries`: `idx_uap_audit_logs_org_type_timestamp`
/// on `uap_audit_logs (organization_id, event_type, timestamp)`, for the
/// admin API's `event_type` filter and the compliance report's per-type
/// aggregates. Checks the catalog first, so it can simply be repeated.
struct AuditQueries;

/// The index [`AuditQueries`] adds.
const AUDIT_TYPE_INDEX: &str = "idx_uap_audit_logs_org_type_timestamp";

impl MigrationName for AuditQueries {
    fn name(&self) -> &str {
        "m20261203_000004_audit_queries"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AuditQueries {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.has_index("uap_audit_logs", AUDIT_TYPE_INDEX).await? {
            return Ok(());
        }
        let statement = if manager.get_database_backend() == sea_orm::DbBackend::MySql {
            format!(
                "ALTER TABLE `uap_audit_logs` ADD KEY `{AUDIT_TYPE_INDEX}` (`organization_id`, `event_type`, `timestamp`)"
            )
        } else {
            format!(
                "CREATE INDEX IF NOT EXISTS \"{AUDIT_TYPE_INDEX}\" ON \"uap_audit_logs\" \
                 (\"organization_id\", \"event_type\", \"timestamp\")"
            )
        };
        manager.get_connection().execute_unprepared(&statement).await?;
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
enum Ty {
    Uuid,
    Str(u16),
    Text,
    Json,
    Ts,
    Bool,
    Int,
    BigInt,
    Bytes,
}

#[derive(Debug, Clone, Copy)]
enum DefaultValue {
    True,
    False,
    One,
}

#[derive(Debug, Clone, Copy)]
struct Col {
    name: &'static str,
    ty: Ty,
    not_null: bool,
    default: Option<DefaultValue>,
}

const fn req(name: &'static str, ty: Ty) -> Col {
    Col { name, ty, not_null: true, default: None }
}

const fn opt(name: &'static str, ty: Ty) -> Col {
    Col { name, ty, not_null: false, default: None }
}

const fn dflt(name: &'static str, ty: Ty, default: DefaultValue) -> Col {
    Col { name, ty, not_null: true, default: Some(default) }
}

struct Table {
    name: &'static str,
    columns: &'static [Col],
    primary_key: &'static str,
    unique: &'static [&'static [&'static str]],
    indexes: &'static [(&'static str, &'static [&'static str])],
}

const ORG: Ty = Ty::Str(255);

const TABLES: &[Table] = &[
    Table {
        name: "uap_configurations",
        columns: &[
            req("id", Ty::Uuid),
            req("organization_id", ORG),
            req("config_name", Ty::Str(255)),
            req("config_data", Ty::Json),
            dflt("version", Ty::Int, DefaultValue::One),
            dflt("is_active", Ty::Bool, DefaultValue::True),
            req("created_at", Ty::Ts),
            req("updated_at", Ty::Ts),
            opt("created_by", Ty::Str(255)),
        ],
        primary_key: "id",
        unique: &[&["organization_id", "config_name"]],
        indexes: &[("idx_uap_configurations_org_active", &["organization_id", "is_active"])],
    },
    Table {
        name: "uap_sessions",
        columns: &[
            req("session_id", Ty::Uuid),
            req("user_id", Ty::Str(255)),
            opt("device_id", Ty::Str(255)),
            req("organization_id", ORG),
            req("created_at", Ty::Ts),
            req("expires_at", Ty::Ts),
            req("last_activity", Ty::Ts),
            opt("ip_address", Ty::Str(45)),
            opt("user_agent", Ty::Text),
            // The design's free-form column, kept for client-supplied metadata.
            opt("metadata", Ty::Json),
            // The `user_data` validate returns (sensitive fields already removed).
            req("user_data", Ty::Json),
            req("family_id", Ty::Uuid),
            opt("refresh_expires_at", Ty::Ts),
            // 'active' | 'rotated'
            req("state", Ty::Str(16)),
            opt("successor_id", Ty::Uuid),
            opt("rotated_at", Ty::Ts),
            // max(expires_at, refresh_expires_at): purge deletes rows before it.
            req("retain_until", Ty::Ts),
        ],
        primary_key: "session_id",
        unique: &[],
        indexes: &[
            ("idx_uap_sessions_user_org", &["user_id", "organization_id"]),
            ("idx_uap_sessions_expires_at", &["expires_at"]),
            ("idx_uap_sessions_family_id", &["family_id"]),
            ("idx_uap_sessions_retain_until", &["retain_until"]),
        ],
    },
    Table {
        name: "uap_audit_logs",
        columns: &[
            req("id", Ty::Uuid),
            req("organization_id", ORG),
            req("event_type", Ty::Str(100)),
            opt("user_id", Ty::Str(255)),
            opt("session_id", Ty::Uuid),
            opt("ip_address", Ty::Str(45)),
            opt("user_agent", Ty::Text),
            req("success", Ty::Bool),
            opt("error_message", Ty::Text),
            opt("metadata", Ty::Json),
            req("timestamp", Ty::Ts),
        ],
        primary_key: "id",
        unique: &[],
        indexes: &[
            ("idx_uap_audit_logs_org_timestamp", &["organization_id", "timestamp"]),
            ("idx_uap_audit_logs_user_timestamp", &["user_id", "timestamp"]),
        ],
    },
    Table {
        name: "uap_rate_limits",
        columns: &[
            req("id", Ty::Uuid),
            req("identifier", Ty::Str(255)),
            req("identifier_type", Ty::Str(50)),
            req("organization_id", ORG),
            dflt("attempt_count", Ty::Int, DefaultValue::One),
            req("window_start", Ty::Ts),
            opt("blocked_until", Ty::Ts),
            req("created_at", Ty::Ts),
            req("updated_at", Ty::Ts),
        ],
        primary_key: "id",
        unique: &[&["identifier", "identifier_type", "organization_id"]],
        indexes: &[("idx_uap_rate_limits_identifier_org", &["identifier", "organization_id"])],
    },
    Table {
        name: "uap_middleware_logs",
        columns: &[
            req("id", Ty::Uuid),
            opt("session_id", Ty::Uuid),
            req("organization_id", ORG),
            req("middleware_name", Ty::Str(255)),
            req("execution_order", Ty::Int),
            opt("execution_time_ms", Ty::Int),
            req("success", Ty::Bool),
            opt("error_message", Ty::Text),
            opt("input_data", Ty::Json),
            opt("output_data", Ty::Json),
            req("timestamp", Ty::Ts),
        ],
        primary_key: "id",
        unique: &[],
        // Not in the design: retention cleanup deletes by organization and age.
        indexes: &[("idx_uap_middleware_logs_org_timestamp", &["organization_id", "timestamp"])],
    },
    Table {
        name: "uap_mfa_factors",
        columns: &[
            req("id", Ty::Uuid),
            req("organization_id", ORG),
            req("user_id", Ty::Str(255)),
            // e.g. 'totp'
            req("factor_type", Ty::Str(32)),
            req("secret_ciphertext", Ty::Bytes),
            req("nonce", Ty::Bytes),
            dflt("confirmed", Ty::Bool, DefaultValue::False),
            opt("last_used_step", Ty::BigInt),
            req("created_at", Ty::Ts),
            req("updated_at", Ty::Ts),
        ],
        primary_key: "id",
        unique: &[],
        indexes: &[("idx_uap_mfa_factors_user_org", &["user_id", "organization_id"])],
    },
];

impl Ty {
    fn sql(self, backend: SqlBackend) -> String {
        use SqlBackend::{MySql, Postgres, Sqlite};
        match (self, backend) {
            (Self::Uuid, _) => "VARCHAR(36)".to_owned(),
            (Self::Str(n), _) => format!("VARCHAR({n})"),
            (Self::Text, _) | (Self::Json | Self::Ts, Sqlite) => "TEXT".to_owned(),
            (Self::Json, Postgres) => "JSONB".to_owned(),
            (Self::Json, MySql) => "JSON".to_owned(),
            (Self::Ts, Postgres) => "TIMESTAMPTZ".to_owned(),
            (Self::Ts, MySql) => "DATETIME(6)".to_owned(),
            (Self::Bool, _) => "BOOLEAN".to_owned(),
            (Self::Int, _) => "INTEGER".to_owned(),
            (Self::BigInt, _) => "BIGINT".to_owned(),
            (Self::Bytes, Postgres) => "BYTEA".to_owned(),
            (Self::Bytes, MySql | Sqlite) => "BLOB".to_owned(),
        }
    }
}

impl DefaultValue {
    const fn sql(self, backend: SqlBackend) -> &'static str {
        match (self, backend) {
            (Self::True, SqlBackend::Postgres) => "TRUE",
            (Self::False, SqlBackend::Postgres) => "FALSE",
            (Self::True | Self::One, _) => "1",
            (Self::False, _) => "0",
        }
    }
}

impl Table {
    /// The statements creating this table and its indexes on `backend`.
    fn render(&self, backend: SqlBackend) -> Vec<String> {
        let q = |name: &str| quote(name, backend);
        let list = |cols: &[&str]| cols.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ");
        let mut parts: Vec<String> = self
            .columns
            .iter()
            .map(|c| {
                let mut def = format!("{} {}", q(c.name), c.ty.sql(backend));
                if c.not_null {
                    def.push_str(" NOT NULL");
                }
                if let Some(d) = c.default {
                    def.push_str(" DEFAULT ");
                    def.push_str(d.sql(backend));
                }
                def
            })
            .collect();
        parts.push(format!("PRIMARY KEY ({})", q(self.primary_key)));
        for cols in self.unique {
            parts.push(format!("UNIQUE ({})", list(cols)));
        }
        let mut statements = Vec::new();
        if backend == SqlBackend::MySql {
            for (name, cols) in self.indexes {
                parts.push(format!("KEY {} ({})", q(name), list(cols)));
            }
            statements.push(format!(
                "CREATE TABLE IF NOT EXISTS {} (\n  {}\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 \
                 COLLATE=utf8mb4_bin",
                q(self.name),
                parts.join(",\n  ")
            ));
        } else {
            statements.push(format!("CREATE TABLE IF NOT EXISTS {} (\n  {}\n)", q(self.name), parts.join(",\n  ")));
            for (name, cols) in self.indexes {
                statements.push(format!("CREATE INDEX IF NOT EXISTS {} ON {} ({})", q(name), q(self.name), list(cols)));
            }
        }
        statements
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_per_backend() {
        let sessions = TABLES.iter().find(|t| t.name == "uap_sessions").unwrap();
        let pg = sessions.render(SqlBackend::Postgres);
        assert!(pg[0].contains("\"expires_at\" TIMESTAMPTZ NOT NULL"), "{}", pg[0]);
        assert!(pg.iter().any(|s| s.contains("\"idx_uap_sessions_family_id\"")));
        let my = sessions.render(SqlBackend::MySql);
        assert_eq!(my.len(), 1, "MySQL indexes live inside CREATE TABLE");
        assert!(my[0].contains("`expires_at` DATETIME(6) NOT NULL"), "{}", my[0]);
        assert!(my[0].contains("COLLATE=utf8mb4_bin"));
        let lite = sessions.render(SqlBackend::Sqlite);
        assert!(lite[0].contains("\"user_data\" TEXT NOT NULL"), "{}", lite[0]);
    }

    #[test]
    fn six_tables() {
        let names: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
        assert_eq!(
            names,
            [
                "uap_configurations",
                "uap_sessions",
                "uap_audit_logs",
                "uap_rate_limits",
                "uap_middleware_logs",
                "uap_mfa_factors"
            ]
        );
    }
}
