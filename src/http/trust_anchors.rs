//! `/api/v1/trust-anchors`: registered by the admin, listed for anyone.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::Value;

use super::json::JsonBody;
use super::middleware::Auth;
use super::problem::ApiError;
use crate::admin::rfc3339;
use crate::admin::trust_anchors::{self, Anchor};
use crate::context::Context;
use crate::pki::to_pem;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddAnchor {
    label: String,
    pem: String,
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
    let (anchor, index) = trust_anchors::add(&ctx, &caller, &body.label, &body.pem).await?;
    Ok(HttpResponse::Created().json(view(&anchor, Some(index))))
}

pub async fn list(ctx: web::Data<Context>) -> Result<HttpResponse, ApiError> {
    let anchors = trust_anchors::list(&ctx).await?;
    let items: Vec<Value> = anchors.iter().map(|a| view(a, None)).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}
