//! Wire types of `GET`/`PUT /api/v1/config/`.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// `GET /api/v1/config/` answer.
#[derive(Serialize, ToSchema)]
pub struct ConfigurationView {
    /// The stored version this runtime was built from (`null`: the file's,
    /// never changed through the API).
    pub version: Option<i64>,
    /// Every CONTRACT §2 key with its running value; secrets as `"***"`.
    #[schema(value_type = Object)]
    pub configuration: Value,
}

/// `PUT /api/v1/config/` success.
#[derive(Serialize, ToSchema)]
pub struct ConfigurationResponse {
    pub success: bool,
    pub message: String,
    /// The stored version now running.
    pub version: i64,
}

/// `PUT /api/v1/config/` refusal (422): the running configuration is untouched.
#[derive(Serialize, ToSchema)]
pub struct ConfigurationRefusal {
    pub success: bool,
    pub message: String,
    /// Each problem, naming the key, table, column or middleware at fault.
    pub validation_errors: Vec<String>,
}
