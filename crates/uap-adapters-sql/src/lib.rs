//! SQL adapters of UAP, on sea-orm/sqlx for PostgreSQL, MySQL/MariaDB and SQLite.
//!
//! - [`SqlUserDirectory`]: the host application's user table as a
//!   [`uap_ports::UserDirectory`]. The table (and role table) is reflected at
//!   connect time; every configured name is validated as an identifier, checked
//!   against the reflection and quoted per backend; every value is a bound
//!   parameter. It also describes the table and samples hashes for `uap check`.
//! - [`InternalDb`]: UAP's own database — migrations of the design's tables,
//!   [`SqlSessionStore`] ([`uap_ports::SessionStore`]) and [`SqlAuditSink`]
//!   ([`uap_ports::AuditSink`]), scoped to one organization.
//! - [`SchemaSurvey`]: a read-only look at a host database (tables, columns,
//!   row counts, sampled values) for `uap discover`.
//! - `testing` (feature `testing`): throw-away databases for integration tests.
//!
//! Driver errors never cross a port as their own type: they map to
//! [`uap_ports::StoreError`] (connectivity → `Unavailable`, schema mismatch →
//! `Misconfigured` naming the key, table and column, anything else → opaque
//! `Backend`). URLs appear in messages only through [`redact_url`]; the password
//! is handed to the driver outside the URL, so no layer logs it.
//!
//! This crate must never depend on `uap-domain`, the server or another adapter.

mod backend;
mod directory;
mod ident;
mod internal;
mod sql;
mod survey;
#[cfg(feature = "testing")]
pub mod testing;

pub use backend::{SqlBackend, redact_url};
pub use directory::{
    ColumnDescription, ColumnPurpose, ConfigValue, HostTableConfig, OptionalColumn, RoleTableConfig, SkippedColumn,
    SqlUserDirectory, TableDescription, UsedColumn,
};
pub use internal::{
    InternalDb, SqlAuditSink, SqlConfigStore, SqlMfaFactorStore, SqlMiddlewareLogSink, SqlRateLimitStore,
    SqlSessionStore,
};
pub use survey::{SchemaSurvey, SurveyedTable};
