//! Request headers as the emulator reads them.

use axum::http::HeaderMap;

/// All values of a header, joined with ", " as HTTP allows, or `None`.
pub(crate) fn joined(headers: &HeaderMap, name: &str) -> Option<String> {
    let values: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}
