//! `JsonBody<T>`: the JSON request body extractor. Unlike actix's `Json`, its errors name the
//! field at fault by its path (`holder.code`), bodies over the JSON limit (`TRUSTD_MAX_JSON_BYTES`,
//! 1 MiB by default) are 413 whatever the app-wide payload limit (which is sized for PDF
//! uploads), and anything not JSON is 415.

use actix_web::dev::Payload;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use super::problem::{payload_too_large, ApiError};

/// Largest JSON body accepted by default.
pub const MAX_JSON_BYTES: usize = 1024 * 1024;

/// The configured JSON body limit (app data; [`MAX_JSON_BYTES`] when absent).
#[derive(Debug, Clone, Copy)]
pub struct JsonLimit(pub usize);

#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T> std::ops::Deref for JsonBody<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// Parses JSON bytes, naming the failing field.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let msg = inner.to_string();
        // Missing or unknown fields are reported at the enclosing object: name the field.
        if let Some(field) = field_in_message(&msg) {
            // serde_path_to_error's path already ends with an unknown field, not a missing one.
            let field = if path == "." {
                field
            } else if msg.starts_with("unknown field") {
                path
            } else {
                format!("{path}.{field}")
            };
            ApiError::bad_request(field, msg)
        } else if inner.is_syntax() || inner.is_eof() || path == "." {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid-request",
                format!("malformed JSON: {msg}"),
            )
        } else {
            ApiError::bad_request(path, msg)
        }
    })?;
    de.end().map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            format!("malformed JSON: {e}"),
        )
    })?;
    Ok(value)
}

/// The field named in serde's "missing field `x`" / "unknown field `x`" messages.
fn field_in_message(msg: &str) -> Option<String> {
    if !(msg.starts_with("missing field") || msg.starts_with("unknown field")) {
        return None;
    }
    let start = msg.find('`')? + 1;
    let end = start + msg[start..].find('`')?;
    Some(msg[start..end].to_owned())
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = is_json(req);
        let limit = req
            .app_data::<actix_web::web::Data<JsonLimit>>()
            .map_or(MAX_JSON_BYTES, |l| l.0);
        let mut payload = payload.take();
        Box::pin(async move {
            if !json {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported-media-type",
                    "the body must be application/json",
                ));
            }
            let mut body = Vec::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|_| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid-request",
                        "the request body could not be read",
                    )
                })?;
                if body.len() + chunk.len() > limit {
                    return Err(payload_too_large());
                }
                body.extend_from_slice(&chunk);
            }
            parse(&body).map(JsonBody)
        })
    }
}

/// An optional integer field that also takes a JSON number with a zero fraction (`247.0`):
/// JSON Schema calls that an integer, and so do JSON libraries that write every number as a
/// float.
pub fn optional_integer<'de, D>(d: D) -> Result<Option<i64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error;
    let Some(n) = <Option<serde_json::Number> as serde::Deserialize>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(i) = n.as_i64() {
        return Ok(Some(i));
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
        _ => Err(D::Error::custom(format!(
            "invalid type: number {n}, expected an integer"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Holder {
        name: String,
        code: String,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        holder: Holder,
        n: u32,
    }

    #[derive(Debug, serde::Deserialize)]
    struct Days {
        #[serde(default, deserialize_with = "optional_integer")]
        days: Option<i64>,
    }

    #[test]
    fn integers_may_be_written_as_whole_floats() {
        let days = |json: &str| parse::<Days>(json.as_bytes()).map(|d| d.days);
        assert_eq!(days(r#"{"days": 247}"#).unwrap(), Some(247));
        assert_eq!(days(r#"{"days": 247.0}"#).unwrap(), Some(247));
        assert_eq!(days(r#"{"days": null}"#).unwrap(), None);
        assert_eq!(days("{}").unwrap(), None);
        for bad in [
            r#"{"days": 247.5}"#,
            r#"{"days": "1"}"#,
            r#"{"days": 1e300}"#,
        ] {
            assert_eq!(
                days(bad).unwrap_err().field.as_deref(),
                Some("days"),
                "{bad}"
            );
        }
    }

    fn field(json: &str) -> Option<String> {
        parse::<Outer>(json.as_bytes()).unwrap_err().field
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            field(r#"{"holder": {"name": "a", "code": 1}, "n": 1}"#).as_deref(),
            Some("holder.code")
        );
        assert_eq!(
            field(r#"{"holder": {"name": "a"}, "n": 1}"#).as_deref(),
            Some("holder.code")
        );
        assert_eq!(
            field(r#"{"holder": {"name": "a", "code": "b"}}"#).as_deref(),
            Some("n")
        );
        assert_eq!(
            field(r#"{"holder": {"name": "a", "code": "b", "x": 1}, "n": 1}"#).as_deref(),
            Some("holder.x")
        );
        assert_eq!(
            field(r#"{"holder": {"name": "a", "code": "b"}, "n": -1}"#).as_deref(),
            Some("n")
        );
        assert_eq!(field(r#"{"holder": "#), None);
        assert!(
            parse::<Outer>(br#"{"holder": {"name": "a", "code": "b"}, "n": 1} trailing"#).is_err()
        );
    }
}
