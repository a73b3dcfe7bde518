//! `/api/v1/licence-types` and `/api/v1/licences/...` (operators; auditors read).

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::json::JsonBody;
use super::middleware::Auth;
use super::problem::ApiError;
use crate::auth::Caller;
use crate::context::Context;
use crate::licence::{self, qr, FieldSpec, NewLicence, NewLicenceType, StatusAction};
use crate::store::{LicenceRecord, LicenceTypeRecord};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateType {
    name: String,
    fields: Vec<FieldSpec>,
    holder_kind: String,
    #[serde(default, deserialize_with = "super::json::optional_integer")]
    validity_days: Option<i64>,
    #[serde(default)]
    token_omits_holder_code: bool,
}

fn type_view(t: &LicenceTypeRecord, log_index: Option<u64>) -> Value {
    let mut v = serde_json::json!({
        "type_code": t.type_code,
        "department_code": t.department_code,
        "name": t.name,
        "fields": licence::type_fields(t),
        "holder_kind": t.holder_kind,
        "validity_days": t.validity_days,
        "token_omits_holder_code": t.token_omits_holder_code,
        "created_at": crate::clock::rfc3339(t.created_at),
    });
    if let Some(i) = log_index {
        v["log_index"] = Value::from(i);
    }
    v
}

pub async fn create_type(
    ctx: web::Data<Context>,
    Auth(caller): Auth,
    body: JsonBody<CreateType>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let input = NewLicenceType {
        name: body.name,
        fields: body.fields,
        holder_kind: body.holder_kind,
        validity_days: body.validity_days,
        token_omits_holder_code: body.token_omits_holder_code,
    };
    let (record, index) = licence::register_type(&ctx, &caller, input).await?;
    Ok(HttpResponse::Created().json(type_view(&record, Some(index))))
}

pub async fn list_types(
    ctx: web::Data<Context>,
    Auth(caller): Auth,
) -> Result<HttpResponse, ApiError> {
    let types = licence::list_types(&ctx, &caller).await?;
    let items: Vec<Value> = types.iter().map(|t| type_view(t, None)).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

/// The full record, as its issuing department (or a reader with a purpose) sees it.
#[derive(Debug, Serialize)]
pub struct LicenceView {
    identifier: String,
    type_code: String,
    number: String,
    holder: Value,
    issuer_code: String,
    issue_date: String,
    valid_from: String,
    valid_until: Option<String>,
    area_code: Option<String>,
    face: Value,
    status: licence::Status,
    status_reason: Option<String>,
    status_changed_at: Option<String>,
    previous_identifier: Option<String>,
    /// The full token and the holder's SD-JWT: for the issuing department's operators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sd_jwt: Option<String>,
    verify_url: String,
    qr_svg_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    log_index: Option<u64>,
}

fn view(ctx: &Context, caller: &Caller, r: LicenceRecord, log_index: Option<u64>) -> LicenceView {
    let status = licence::effective_status(&r, licence::today(ctx.clock.now()));
    let holds_tokens = licence::may_hold_tokens(caller, &r);
    LicenceView {
        verify_url: format!("{}/v/{}", ctx.public_url, r.identifier),
        qr_svg_url: format!("{}/api/v1/licences/{}/qr.svg", ctx.public_url, r.identifier),
        holder: serde_json::json!({"name": r.holder_name, "code_type": r.holder_code_type, "code": r.holder_code}),
        face: serde_json::from_str(&r.face).unwrap_or(Value::Null),
        status_changed_at: r.status_at.map(crate::clock::rfc3339),
        identifier: r.identifier,
        type_code: r.type_code,
        number: r.number,
        issuer_code: r.issuer_code,
        issue_date: r.issue_date,
        valid_from: r.valid_from,
        valid_until: r.valid_until,
        area_code: r.area_code,
        status,
        status_reason: r.status_reason,
        previous_identifier: r.previous_identifier,
        token: holds_tokens.then_some(r.token),
        sd_jwt: if holds_tokens { r.sd_jwt } else { None },
        log_index,
    }
}

pub async fn issue(
    ctx: web::Data<Context>,
    Auth(caller): Auth,
    body: JsonBody<NewLicence>,
) -> Result<HttpResponse, ApiError> {
    let (record, index) = licence::issue(&ctx, &caller, body.0).await?;
    Ok(HttpResponse::Created().json(view(&ctx, &caller, record, Some(index))))
}

#[derive(Debug, Deserialize)]
pub struct PurposeQuery {
    purpose: Option<String>,
}

pub async fn get(
    ctx: web::Data<Context>,
    Auth(caller): Auth,
    path: web::Path<String>,
    q: web::Query<PurposeQuery>,
) -> Result<HttpResponse, ApiError> {
    let (record, index) = licence::read(&ctx, &caller, &path, q.purpose.as_deref()).await?;
    Ok(HttpResponse::Ok().json(view(&ctx, &caller, record, index)))
}

#[derive(Debug, Deserialize)]
pub struct HolderQuery {
    holder_code: Option<String>,
    purpose: Option<String>,
}

pub async fn by_holder(
    ctx: web::Data<Context>,
    Auth(caller): Auth,
    q: web::Query<HolderQuery>,
) -> Result<HttpResponse, ApiError> {
    let code = q
        .holder_code
        .as_deref()
        .ok_or_else(|| ApiError::bad_request("holder_code", "is required"))?;
    let (records, index) = licence::by_holder(&ctx, &caller, code, q.purpose.as_deref()).await?;
    let items: Vec<LicenceView> = records
        .into_iter()
        .map(|r| view(&ctx, &caller, r, None))
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items, "log_index": index })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    reason: String,
}

/// The handler of one status change (`/revoke`, `/suspend`, `/reinstate`): the same steps, the
/// action fixed by the route.
pub fn status_change(action: StatusAction) -> actix_web::Route {
    web::post().to(
        move |ctx: web::Data<Context>,
              Auth(caller): Auth,
              path: web::Path<String>,
              body: JsonBody<StatusChange>| async move {
            let (record, index) =
                licence::change_status(&ctx, &caller, &path, action, &body.0.reason).await?;
            Ok::<_, ApiError>(HttpResponse::Ok().json(view(&ctx, &caller, record, Some(index))))
        },
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresentationRequest {
    disclose: Vec<String>,
}

/// An SD-JWT presentation of the licence disclosing only the listed claims (the issuing
/// department, on the holder's behalf).
pub async fn present(
    ctx: web::Data<Context>,
    Auth(caller): Auth,
    path: web::Path<String>,
    body: JsonBody<PresentationRequest>,
) -> Result<HttpResponse, ApiError> {
    if body.disclose.len() > licence::sd_jwt::MAX_DISCLOSURES {
        return Err(ApiError::unprocessable("disclose", "lists too many claims"));
    }
    let (presentation, disclosed) = licence::present(&ctx, &caller, &path, &body.disclose).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "identifier": path.as_str(),
        "presentation": presentation,
        "disclosed": disclosed,
    })))
}

/// QR codes are for the issuing department (it prints them on the licence).
async fn qr_url(ctx: &Context, caller: &crate::auth::Caller, id: &str) -> Result<String, ApiError> {
    let (record, _) = licence::read(ctx, caller, id, None)
        .await
        .map_err(|e| match e {
            crate::error::ServiceError::Invalid { .. } => {
                ApiError::from(crate::error::ServiceError::Forbidden(
                    "only the issuing department prints its QR codes".into(),
                ))
            }
            other => other.into(),
        })?;
    Ok(format!("{}/v/{}", ctx.public_url, record.identifier))
}

pub async fn qr_svg(
    ctx: web::Data<Context>,
    Auth(caller): Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let url = qr_url(&ctx, &caller, &path).await?;
    let svg = qr::svg(&url).map_err(|e| ApiError::unprocessable("identifier", e.to_string()))?;
    Ok(HttpResponse::Ok().content_type("image/svg+xml").body(svg))
}

pub async fn qr_png(
    ctx: web::Data<Context>,
    Auth(caller): Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let url = qr_url(&ctx, &caller, &path).await?;
    let png = qr::png(&url).map_err(|e| ApiError::unprocessable("identifier", e.to_string()))?;
    Ok(HttpResponse::Ok().content_type("image/png").body(png))
}

/// `/api/v1/licences/{identifier}/log-proof` (public): the c2sp.org/tlog-proof that the
/// licence's issuance was logged, with the entry (holder commitment, token hashes, no personal
/// data) in `extra`, for `trustd verify --log-proof` beside the licence token.
pub async fn log_proof(
    ctx: web::Data<Context>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let index = ctx
        .issuance_index(&path)
        .await?
        .ok_or_else(|| ApiError::not_found("licence"))?;
    super::log::proof_response(&ctx, index, Some(&path), &path).await
}
