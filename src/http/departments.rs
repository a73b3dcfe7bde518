//! `/api/v1/departments` (admin).

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::json::JsonBody;
use super::middleware::Auth;
use super::params;
use super::problem::ApiError;
use crate::admin::departments;
use crate::clock::rfc3339;
use crate::context::Context;
use crate::pki::to_pem;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateDepartment {
    code: String,
    name: String,
}

#[derive(Debug, Serialize)]
pub struct DepartmentView {
    code: String,
    name: String,
    ca_serial: String,
    ca_certificate_pem: String,
    ca_status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ca_revoked_at: Option<String>,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    log_index: Option<u64>,
}

fn view(d: departments::Department, log_index: Option<u64>) -> DepartmentView {
    DepartmentView {
        ca_certificate_pem: to_pem(&d.ca.der),
        ca_status: if d.ca.revoked_at.is_some() {
            "revoked"
        } else {
            "valid"
        },
        ca_revoked_at: d.ca.revoked_at.map(rfc3339),
        ca_serial: d.ca.serial,
        code: d.record.code,
        name: d.record.name,
        created_at: rfc3339(d.record.created_at),
        log_index,
    }
}

pub async fn create(
    ctx: web::Data<Context>,
    Auth(caller): Auth,
    body: JsonBody<CreateDepartment>,
) -> Result<HttpResponse, ApiError> {
    let (department, index) = departments::create(&ctx, &caller, &body.code, &body.name).await?;
    Ok(HttpResponse::Created().json(view(department, Some(index))))
}

/// A revocation request: an RFC 5280 reason name and, optionally, when the key became unusable.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revoke {
    pub reason: String,
    pub invalidity_date: Option<String>,
}

/// Revokes the department's CA (admin).
pub async fn revoke_ca(
    ctx: web::Data<Context>,
    Auth(caller): Auth,
    path: web::Path<String>,
    body: JsonBody<Revoke>,
) -> Result<HttpResponse, ApiError> {
    let (department, index) = departments::revoke_ca(
        &ctx,
        &caller,
        &path,
        &body.reason,
        body.invalidity_date.as_deref(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(view(department, Some(index))))
}

/// A new CA for a department whose CA was revoked (admin): 201 with the department.
pub async fn new_ca(
    ctx: web::Data<Context>,
    Auth(caller): Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (department, index) = departments::new_ca(&ctx, &caller, &path).await?;
    Ok(HttpResponse::Created().json(view(department, Some(index))))
}

pub async fn get(
    ctx: web::Data<Context>,
    Auth(caller): Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let department = departments::get(&ctx, &caller, &path).await?;
    Ok(HttpResponse::Ok().json(view(department, None)))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

pub async fn list(
    ctx: web::Data<Context>,
    Auth(caller): Auth,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = params::limit(query.limit.as_deref())?;
    let after = params::decode_cursor("departments", query.cursor.as_deref())?;
    let items = departments::list(&ctx, &caller, after.as_deref(), limit).await?;
    let next_cursor = (items.len() == limit as usize)
        .then(|| {
            items
                .last()
                .map(|d| params::encode_cursor("departments", &d.record.code))
        })
        .flatten();
    let items: Vec<DepartmentView> = items.into_iter().map(|d| view(d, None)).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({"items": items, "next_cursor": next_cursor})))
}
