//! Wire types (serde + OpenAPI schemas) and the one error type of the HTTP
//! layer. Domain types never derive `ToSchema`; they convert here.

mod audit;
mod auth;
mod config;
mod error;

pub use audit::*;
pub use auth::*;
pub use config::*;
pub use error::{ApiError, ErrorShape};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// RFC 3339 UTC text of an instant.
#[must_use]
pub fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_else(|_| at.unix_timestamp().to_string())
}
