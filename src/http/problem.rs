//! RFC 9457 problem details: every error answer is `application/problem+json` with a stable
//! `type` (`/problems/<name>`), a title, the status and a human `detail`. Internal errors keep
//! their cause in the log (with the request id) and say nothing of it in the body.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::admin::api_keys::AuthError;
use crate::error::ServiceError;
use crate::log::LogError;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// An HTTP error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// Last segment of the problem type URI, e.g. `invalid-request`.
    pub kind: &'static str,
    pub detail: String,
    /// For 400s: the field or parameter at fault.
    pub field: Option<String>,
    /// Value of the `Allow` header for 405s.
    pub allow: Option<String>,
    /// Seconds for the `Retry-After` header of 429s.
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            kind,
            detail: detail.into(),
            field: None,
            allow: None,
            retry_after: None,
        }
    }

    pub fn bad_request(field: impl Into<String>, detail: impl Into<String>) -> Self {
        let field = field.into();
        let mut e = ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            format!("{field}: {}", detail.into()),
        );
        e.field = Some(field);
        e
    }

    /// A request that fits the API's contract (the types, lengths and patterns of
    /// `openapi.yaml`) but whose content is refused by a rule no schema states: a check
    /// character, an order between two values, a reference to something that does not exist
    /// for this purpose. 422, where a request of the wrong shape is 400.
    pub fn unprocessable(field: impl Into<String>, detail: impl Into<String>) -> Self {
        let mut e = ApiError::bad_request(field, detail);
        e.status = StatusCode::UNPROCESSABLE_ENTITY;
        e
    }

    pub fn not_found(what: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("{what} not found"),
        )
    }

    pub fn unauthorized(detail: &str) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn internal() -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal-error",
            "the server could not complete the request; it has been logged",
        )
    }

    pub fn problem_type(&self) -> String {
        format!("/problems/{}", self.kind)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.kind, self.detail)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let body = ProblemBody {
            kind: self.problem_type(),
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            detail: &self.detail,
            field: self.field.as_deref(),
        };
        let mut resp = HttpResponse::build(self.status);
        resp.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        if self.status == StatusCode::UNAUTHORIZED {
            resp.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        if let Some(allow) = &self.allow {
            resp.insert_header((header::ALLOW, allow.as_str()));
        }
        if let Some(seconds) = self.retry_after {
            resp.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        resp.body(serde_json::to_vec(&body).unwrap_or_default())
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid { field, reason } => ApiError::unprocessable(field, reason),
            ServiceError::NotFound(what) => ApiError::not_found(what),
            ServiceError::Conflict(detail) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", detail)
            }
            ServiceError::Forbidden(detail) => {
                ApiError::new(StatusCode::FORBIDDEN, "forbidden", detail)
            }
            ServiceError::Busy => {
                let mut e = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    ServiceError::Busy.to_string(),
                );
                e.retry_after = Some(1);
                e
            }
            ServiceError::Document { kind, detail } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, kind, detail)
            }
            ServiceError::Pki(crate::pki::PkiError::CaRevoked) => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                crate::pki::PkiError::CaRevoked.to_string(),
            ),
            ServiceError::Log(LogError::BadRequest(detail)) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-request", detail)
            }
            other => {
                tracing::error!(error = %other, "request failed");
                ApiError::internal()
            }
        }
    }
}

impl From<LogError> for ApiError {
    fn from(e: LogError) -> Self {
        ServiceError::from(e).into()
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Unknown | AuthError::Revoked => {
                tracing::info!(reason = %e, "authentication refused");
                ApiError::unauthorized("the API key is unknown or revoked")
            }
            AuthError::Store(e) => ServiceError::from(e).into(),
        }
    }
}

pub fn payload_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload-too-large",
        "the request body is larger than allowed",
    )
}

/// The field a serde error message names (`missing field `x``, `unknown field `x``, `invalid type … for `x``).
fn field_of(msg: &str) -> Option<String> {
    let start = msg.find('`')? + 1;
    let end = start + msg[start..].find('`')?;
    let candidate = &msg[start..end];
    (msg.contains("field") && !candidate.is_empty()).then(|| candidate.to_owned())
}

/// Query string errors: 400.
pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    let msg = err.to_string();
    let api = match field_of(&msg) {
        Some(field) => ApiError::bad_request(field, msg),
        None => ApiError::new(StatusCode::BAD_REQUEST, "invalid-request", msg),
    };
    api.into()
}

/// Path parameter errors: 404 (the resource named does not exist in that form).
pub fn path_error(
    _err: actix_web::error::PathError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::not_found("resource").into()
}
