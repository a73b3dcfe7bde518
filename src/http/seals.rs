//! `/api/v1/seals` (operators of the seal's department).

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::Value;

use super::json::JsonBody;
use super::middleware::Auth;
use super::problem::ApiError;
use crate::admin::rfc3339;
use crate::context::Context;
use crate::pki::to_pem;
use crate::seal::{self, Seal};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSeal {
    name: String,
    kind: String,
    valid_days: Option<i64>,
}

fn view(s: &Seal, log_index: Option<u64>) -> Value {
    let mut v = serde_json::json!({
        "id": s.record.id,
        "name": s.record.name,
        "kind": s.record.kind,
        "department_code": s.record.department_code,
        "certificate_pem": to_pem(&s.certificate.der),
        "certificate_serial": s.certificate.serial,
        "status": s.status(),
        "not_before": rfc3339(s.certificate.not_before),
        "not_after": rfc3339(s.certificate.not_after),
        "created_at": rfc3339(s.record.created_at),
    });
    if let Some(i) = log_index {
        v["log_index"] = Value::from(i);
    }
    v
}

pub async fn create(
    ctx: web::Data<Context>,
    Auth(caller): Auth,
    body: JsonBody<CreateSeal>,
) -> Result<HttpResponse, ApiError> {
    let (s, index) = seal::create(&ctx, &caller, &body.name, &body.kind, body.valid_days).await?;
    Ok(HttpResponse::Created().json(view(&s, Some(index))))
}

pub async fn list(ctx: web::Data<Context>, Auth(caller): Auth) -> Result<HttpResponse, ApiError> {
    let seals = seal::list(&ctx, &caller).await?;
    let items: Vec<Value> = seals.iter().map(|s| view(s, None)).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

pub async fn get(
    ctx: web::Data<Context>,
    Auth(caller): Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(view(&seal::get(&ctx, &caller, &path).await?, None)))
}

pub async fn appearance(
    ctx: web::Data<Context>,
    Auth(caller): Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let svg = seal::appearance(&ctx, &caller, &path).await?;
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'",
        ))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(svg))
}
