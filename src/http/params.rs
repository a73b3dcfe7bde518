//! Parsing of query parameters and cursors, with errors that name the parameter.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::problem::ApiError;
use crate::admin::{DEFAULT_PAGE, MAX_PAGE};

pub fn parse_u64(field: &str, value: Option<&str>) -> Result<Option<u64>, ApiError> {
    match value {
        None => Ok(None),
        Some(v) => v
            .parse::<u64>()
            .map(Some)
            .map_err(|_| ApiError::bad_request(field, "must be a non-negative integer")),
    }
}

pub fn require_u64(field: &str, value: Option<&str>) -> Result<u64, ApiError> {
    parse_u64(field, value)?.ok_or_else(|| ApiError::bad_request(field, "is required"))
}

pub fn limit(value: Option<&str>) -> Result<u32, ApiError> {
    match parse_u64("limit", value)? {
        None => Ok(DEFAULT_PAGE),
        Some(n) if n >= 1 && n <= u64::from(MAX_PAGE) => Ok(n as u32),
        Some(_) => Err(ApiError::bad_request(
            "limit",
            format!("must be between 1 and {MAX_PAGE}"),
        )),
    }
}

/// An opaque cursor: base64url of a tagged position, so a cursor of one list is refused by another.
pub fn encode_cursor(tag: &str, position: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{tag}:{position}"))
}

pub fn decode_cursor(tag: &str, cursor: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix(&format!("{tag}:")).map(str::to_owned))
        .map(Some)
        .ok_or_else(|| ApiError::unprocessable("cursor", "is not a cursor of this list"))
}

/// RFC 3339 time to unix seconds.
pub fn parse_time(field: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    match value {
        None => Ok(None),
        Some(v) => time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
            .map(|t| Some(t.unix_timestamp()))
            .map_err(|_| {
                ApiError::unprocessable(
                    field,
                    "must be an RFC 3339 time, e.g. 2026-01-31T08:00:00Z",
                )
            }),
    }
}
