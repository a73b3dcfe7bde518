//! Administration of the installation: departments (each with its CA) and API keys.

pub mod api_keys;
pub mod departments;
pub mod trust_anchors;

use time::OffsetDateTime;

/// RFC 3339 text of a unix time.
pub fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Limits of a list request.
pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 500;
