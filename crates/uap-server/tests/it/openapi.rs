//! The committed OpenAPI snapshot (`docs/openapi.json`) matches the routes the
//! server serves. `cargo xtask openapi` rewrites it (this test with
//! `UAP_UPDATE_OPENAPI=1`); otherwise a route or schema change without a new
//! snapshot fails here.

use std::path::PathBuf;

use utoipa::OpenApi;

fn snapshot_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

#[test]
fn openapi_snapshot_is_current() {
    let mut current = uap_server::openapi::ApiDoc::openapi().to_pretty_json().unwrap();
    current.push('\n');
    let path = snapshot_path();
    if std::env::var_os("UAP_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &current).unwrap();
        eprintln!("wrote {}", path.display());
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == current,
        "docs/openapi.json is stale: the routes or their schemas changed. Run `cargo xtask openapi` and commit it."
    );
}
