//! `/api/v1/seals` (operators of the seal's department).

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::Value;

use super::json::JsonBody;
use super::middleware::Auth;
use super::problem::ApiError;
use crate::clock::rfc3339;
use crate::context::Context;
use crate::pki::to_pem;
use crate::seal::{self, Seal};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSeal {
    name: String,
    kind: String,
    #[serde(default, deserialize_with = "super::json::optional_integer")]
    valid_days: Option<i64>,
}

/// What the seal's appearance is: the approved image or the generated seal, and any upload
/// waiting for an admin's approval.
fn appearance_view(state: &crate::store::AppearanceState) -> Value {
    let mut v = serde_json::json!({
        "in_use": if state.approved.is_some() { "approved_image" } else { "generated" },
    });
    if let Some((sha256, at, _)) = &state.approved {
        v["approved_sha256"] = Value::from(sha256.clone());
        v["approved_at"] = Value::from(rfc3339(*at));
    }
    if let Some((sha256, at, _)) = &state.pending {
        v["pending_sha256"] = Value::from(sha256.clone());
        v["pending_since"] = Value::from(rfc3339(*at));
    }
    v
}

async fn full_view(ctx: &Context, s: &Seal, log_index: Option<u64>) -> Result<Value, ApiError> {
    let mut v = view(s, log_index);
    v["appearance"] = appearance_view(&seal::appearance_state(ctx, &s.record.id).await?);
    Ok(v)
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
    if let Some(t) = s.certificate.revoked_at {
        v["revoked_at"] = Value::from(rfc3339(t));
        v["revocation_reason"] = Value::from(s.certificate.revocation_reason.clone());
    }
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

/// Revokes the seal (its certificate).
pub async fn revoke(
    ctx: web::Data<Context>,
    Auth(caller): Auth,
    path: web::Path<String>,
    body: JsonBody<super::departments::Revoke>,
) -> Result<HttpResponse, ApiError> {
    let (s, index) = seal::revoke(
        &ctx,
        &caller,
        &path,
        &body.reason,
        body.invalidity_date.as_deref(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(view(&s, Some(index))))
}

pub async fn list(ctx: web::Data<Context>, Auth(caller): Auth) -> Result<HttpResponse, ApiError> {
    let seals = seal::list(&ctx, &caller).await?;
    let mut items: Vec<Value> = Vec::with_capacity(seals.len());
    for s in &seals {
        items.push(full_view(&ctx, s, None).await?);
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

pub async fn get(
    ctx: web::Data<Context>,
    Auth(caller): Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let s = seal::get(&ctx, &caller, &path).await?;
    Ok(HttpResponse::Ok().json(full_view(&ctx, &s, None).await?))
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
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
        ))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(svg))
}

/// Uploads the department's own image (`image/png`, at most 1 MiB) as the seal's appearance:
/// pending until an admin approves it.
pub async fn set_appearance(
    ctx: web::Data<Context>,
    Auth(caller): Auth,
    req: actix_web::HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    seal::get(&ctx, &caller, &path).await?;
    let detail = if super::pki::media_type(&req) == "image/svg+xml" {
        "upload the seal image as PNG (image/png); an SVG cannot be drawn into a PDF \
         faithfully without a renderer, so it is not accepted"
    } else {
        "the body must be the image itself, Content-Type: image/png"
    };
    super::pki::require_media_type(&req, "image/png", detail)?;
    let png = super::pki::read_limited(payload, seal::image::MAX_PNG_BYTES).await?;
    let sha256 = hex::encode(crate::pki::cms::sha256(&png));
    let index = seal::set_appearance(&ctx, &caller, &path, png).await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({
        "seal_id": path.as_str(),
        "appearance": "pending",
        "image_sha256": sha256,
        "log_index": index,
    })))
}

/// The uploaded image waiting for approval, for the admin to review.
pub async fn pending_appearance(
    ctx: web::Data<Context>,
    Auth(caller): Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let png = seal::pending_appearance(&ctx, &caller, &path).await?;
    Ok(HttpResponse::Ok()
        .content_type("image/png")
        .insert_header(("Content-Security-Policy", "default-src 'none'"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Cache-Control", "no-store"))
        .body(png))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approve {
    image_sha256: String,
}

/// Approves the pending image with the SHA-256 the admin reviewed (admin).
pub async fn approve_appearance(
    ctx: web::Data<Context>,
    Auth(caller): Auth,
    path: web::Path<String>,
    body: JsonBody<Approve>,
) -> Result<HttpResponse, ApiError> {
    let index = seal::approve_appearance(&ctx, &caller, &path, &body.image_sha256).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "seal_id": path.as_str(),
        "appearance": "approved",
        "image_sha256": body.image_sha256.trim().to_ascii_lowercase(),
        "log_index": index,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StampQuery {
    page: Option<String>,
    x: Option<String>,
    y: Option<String>,
    width: Option<String>,
    visible: Option<String>,
    reason: Option<String>,
    location: Option<String>,
    level: Option<String>,
}

fn points(
    field: &str,
    value: Option<&str>,
    default: f64,
    min: f64,
    max: f64,
) -> Result<f64, ApiError> {
    match value {
        None => Ok(default),
        Some(v) => match v.parse::<f64>() {
            Ok(n) if n.is_finite() && (min..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(
                field,
                format!("must be a number of points between {min} and {max}"),
            )),
        },
    }
}

fn text(field: &str, value: Option<&str>) -> Result<Option<String>, ApiError> {
    match value {
        None => Ok(None),
        Some(v) if v.chars().count() <= 200 && !v.chars().any(char::is_control) => {
            Ok(Some(v.to_owned()))
        }
        Some(_) => Err(ApiError::unprocessable(
            field,
            "must be at most 200 characters, no control characters",
        )),
    }
}

impl StampQuery {
    fn parse(&self) -> Result<seal::StampOptions, ApiError> {
        let page =
            match &self.page {
                None => None,
                Some(p) => Some(p.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                    ApiError::bad_request("page", "must be a page number from 1")
                })?),
            };
        let visible = match self.visible.as_deref() {
            None | Some("true") | Some("1") => true,
            Some("false") | Some("0") => false,
            Some(_) => return Err(ApiError::bad_request("visible", "must be true or false")),
        };
        let level = match self.level.as_deref() {
            None => seal::Level::Timestamped,
            Some(l) => seal::Level::parse(l)
                .ok_or_else(|| ApiError::bad_request("level", "must be B-B, B-T, B-LT or B-LTA"))?,
        };
        Ok(seal::StampOptions {
            placement: crate::seal::pdf::Placement {
                page,
                x: points("x", self.x.as_deref(), 36.0, 0.0, 14_400.0)?,
                y: points("y", self.y.as_deref(), 36.0, 0.0, 14_400.0)?,
                width: points("width", self.width.as_deref(), 120.0, 20.0, 1_000.0)?,
                visible,
            },
            reason: text("reason", self.reason.as_deref())?,
            location: text("location", self.location.as_deref())?,
            level,
        })
    }
}

/// Seals the PDF in the body (`application/pdf`) and answers the sealed file.
pub async fn stamp(
    ctx: web::Data<Context>,
    Auth(caller): Auth,
    req: actix_web::HttpRequest,
    path: web::Path<String>,
    query: web::Query<StampQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    // Authorise first (another department's seal is 404, other roles 403), then validate.
    seal::stamp_kit(&ctx, &caller, &path).await?;
    if super::pki::media_type(&req) == "application/ofd" {
        return stamp_ofd(ctx, caller, path.into_inner(), &query, payload).await;
    }
    let options = query.parse()?;
    super::pki::require_media_type(
        &req,
        "application/pdf",
        "the body must be the PDF (Content-Type: application/pdf) or the OFD package (application/ofd) itself",
    )?;
    let (ticket, guard) = ctx
        .documents
        .try_take()
        .ok_or(crate::error::ServiceError::Busy)?;
    let body = super::pki::receive_upload(payload, ctx.max_upload_bytes).await?;
    let stamped = seal::stamp(&ctx, &caller, &path, body, options, ticket).await?;
    guard.disarm();
    let len = stamped.original.len() + stamped.update.len() as u64;
    let stream = stamped
        .original
        .stream_with(stamped.update)
        .map_err(|_| ApiError::internal())?;
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header(("Trustd-Log-Index", stamped.log_index.to_string()))
        .insert_header(("Trustd-Document-Sha256", stamped.sha256))
        .insert_header(("Trustd-Seal-Visible", stamped.visible.to_string()))
        .body(actix_web::body::SizedStream::new(len, stream)))
}

/// Millimetres of an OFD placement: outside the schema's range (PDF's, `schema`) it is 400
/// like any value the contract refuses; inside it but outside OFD's narrower `range`, a rule
/// the schema cannot state, 422.
fn millimetres(
    field: &str,
    value: Option<&str>,
    default: f64,
    schema: (f64, f64),
    range: (f64, f64),
) -> Result<f64, ApiError> {
    let Some(v) = value else {
        return Ok(default);
    };
    let n = v
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && (schema.0..=schema.1).contains(n))
        .ok_or_else(|| {
            ApiError::bad_request(
                field,
                format!("must be a number between {} and {}", schema.0, schema.1),
            )
        })?;
    if (range.0..=range.1).contains(&n) {
        Ok(n)
    } else {
        Err(ApiError::unprocessable(
            field,
            format!(
                "for an OFD, must be a number of millimetres between {} and {}",
                range.0, range.1
            ),
        ))
    }
}

impl StampQuery {
    /// An OFD seal's placement: page, and x, y, width in millimetres from the page's top-left
    /// corner (OFD's own units); the seal is square. PDF's options do not apply.
    fn ofd_placement(&self) -> Result<crate::seal::ofd::OfdPlacement, ApiError> {
        for (name, given) in [
            ("level", self.level.is_some()),
            ("visible", self.visible.is_some()),
            ("reason", self.reason.is_some()),
            ("location", self.location.is_some()),
        ] {
            if given {
                return Err(ApiError::unprocessable(
                    name,
                    "does not apply to OFD documents",
                ));
            }
        }
        let page =
            match &self.page {
                None => None,
                Some(p) => Some(p.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                    ApiError::bad_request("page", "must be a page number from 1")
                })?),
            };
        let width = millimetres(
            "width",
            self.width.as_deref(),
            40.0,
            (20.0, 1_000.0),
            (20.0, 200.0),
        )?;
        Ok(crate::seal::ofd::OfdPlacement {
            page,
            x: millimetres(
                "x",
                self.x.as_deref(),
                20.0,
                (0.0, 14_400.0),
                (0.0, 5_000.0),
            )?,
            y: millimetres(
                "y",
                self.y.as_deref(),
                20.0,
                (0.0, 14_400.0),
                (0.0, 5_000.0),
            )?,
            width,
            height: width,
        })
    }
}

/// Seals the OFD in the body (`application/ofd`) with the seal's SM2 key and SESeal.
async fn stamp_ofd(
    ctx: web::Data<Context>,
    caller: crate::auth::Caller,
    id: String,
    query: &StampQuery,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let placement = query.ofd_placement()?;
    let (_ticket, guard) = ctx
        .documents
        .try_take()
        .ok_or(crate::error::ServiceError::Busy)?;
    let body = super::pki::receive_upload(payload, ctx.max_upload_bytes).await?;
    let stamped = seal::national::stamp_ofd(&ctx, &caller, &id, body, placement).await?;
    guard.disarm();
    Ok(HttpResponse::Ok()
        .content_type("application/ofd")
        .insert_header(("Trustd-Log-Index", stamped.log_index.to_string()))
        .insert_header(("Trustd-Document-Sha256", stamped.sha256))
        .body(stamped.bytes))
}

/// The seal's GB/T 38540 seal (SESeal v4, DER), for its department's operators.
pub async fn esl(
    ctx: web::Data<Context>,
    Auth(caller): Auth,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let der = seal::national::esl(&ctx, &caller, &path).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{}.esl\"", path.as_str()),
        ))
        .body(der))
}
