//! `/api/v1/trust-anchors`: registered by the admin, listed for anyone.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::Value;

use super::json::JsonBody;
use super::middleware::Auth;
use super::problem::ApiError;
use crate::admin::trust_anchors::{self, Anchor};
use crate::clock::rfc3339;
use crate::context::Context;
use crate::pki::to_pem;
use crate::verify::Purpose;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddAnchor {
    label: String,
    pem: String,
    /// What it is trusted for (default: everything).
    #[serde(default)]
    purposes: Option<Vec<String>>,
    /// Whether certificates under it need revocation status (default true).
    #[serde(default)]
    revocation_required: Option<bool>,
}

fn view(a: &Anchor, log_index: Option<u64>) -> Value {
    let mut v = serde_json::json!({
        "id": a.record.id,
        "label": a.record.label,
        "subject": a.record.subject,
        "sha256": a.record.sha256,
        "not_before": rfc3339(a.record.not_before),
        "not_after": rfc3339(a.record.not_after),
        "pem": to_pem(&a.record.der),
        "builtin": a.builtin,
        "purposes": a.record.purposes.split(',').collect::<Vec<_>>(),
        "revocation_required": a.record.revocation_required,
        "disabled": a.record.disabled,
    });
    if let Some(i) = log_index {
        v["log_index"] = Value::from(i);
    }
    v
}

pub async fn add(
    ctx: web::Data<Context>,
    Auth(caller): Auth,
    body: JsonBody<AddAnchor>,
) -> Result<HttpResponse, ApiError> {
    let mut policy = trust_anchors::Policy::default();
    if let Some(p) = &body.purposes {
        let parsed: Option<Vec<Purpose>> = p.iter().map(|s| Purpose::parse(s)).collect();
        match parsed {
            Some(list) if !list.is_empty() => policy.purposes = list,
            _ => {
                return Err(crate::error::ServiceError::invalid(
                    "purposes",
                    "must be a non-empty list of documents, timestamps, licences",
                )
                .into())
            }
        }
    }
    if let Some(r) = body.revocation_required {
        policy.revocation_required = r;
    }
    let (anchor, index) = trust_anchors::add(&ctx, &caller, &body.label, &body.pem, policy).await?;
    Ok(HttpResponse::Created().json(view(&anchor, Some(index))))
}

pub async fn list(ctx: web::Data<Context>) -> Result<HttpResponse, ApiError> {
    let anchors = trust_anchors::list(&ctx).await?;
    let items: Vec<Value> = anchors.iter().map(|a| view(a, None)).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

pub async fn disable(
    ctx: web::Data<Context>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let anchor = trust_anchors::set_disabled(&ctx, &caller, &id, true).await?;
    Ok(HttpResponse::Ok().json(view(&anchor, None)))
}

pub async fn enable(
    ctx: web::Data<Context>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let anchor = trust_anchors::set_disabled(&ctx, &caller, &id, false).await?;
    Ok(HttpResponse::Ok().json(view(&anchor, None)))
}

pub async fn delete(
    ctx: web::Data<Context>,
    Auth(caller): Auth,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    trust_anchors::delete(&ctx, &caller, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
