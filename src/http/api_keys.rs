//! `/api/v1/api-keys` (admin). The token is in the creation answer only.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::json::JsonBody;
use super::middleware::Auth;
use super::problem::ApiError;
use crate::admin::api_keys;
use crate::clock::rfc3339;
use crate::context::Context;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    role: String,
    department_code: Option<String>,
    label: Option<String>,
}

pub async fn create(
    ctx: web::Data<Context>,
    Auth(caller): Auth,
    body: JsonBody<CreateApiKey>,
) -> Result<HttpResponse, ApiError> {
    let (record, token, index) = api_keys::create(
        &ctx,
        &caller,
        &body.role,
        body.department_code.as_deref(),
        body.label.as_deref(),
    )
    .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(serde_json::json!({
            "id": record.id,
            "token": token.token.as_str(),
            "role": record.role,
            "department_code": record.department_code,
            "label": record.label,
            "created_at": rfc3339(record.created_at),
            "log_index": index,
        })))
}

pub async fn revoke(
    ctx: web::Data<Context>,
    Auth(caller): Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (at, index) = api_keys::revoke(&ctx, &caller, &path).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "id": path.into_inner(),
        "revoked_at": rfc3339(at),
        "log_index": index,
    })))
}
