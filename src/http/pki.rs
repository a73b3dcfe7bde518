//! Standard PKI wire formats: the RFC 3161 time-stamping service at `POST /tsa`, and the
//! RFC 6960 OCSP responder at `POST /ocsp` and `GET /ocsp/{base64 request}`.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;

use super::problem::{payload_too_large, ApiError};
use crate::context::Context;
use crate::pki::tsa::MAX_REQUEST_BYTES;

/// Reads a raw body of at most `max` bytes (413 beyond).
pub async fn read_limited(mut payload: web::Payload, max: usize) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| unreadable_body())?;
        if body.len() + chunk.len() > max {
            return Err(payload_too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Streams a raw body of at most `max` bytes into a temporary file (413 beyond), hashing it on
/// the way.
pub async fn receive_upload(
    mut payload: web::Payload,
    max: usize,
) -> Result<crate::upload::Upload, ApiError> {
    let mut upload = crate::upload::Upload::new().map_err(|e| {
        tracing::error!(error = %e, "cannot create a temporary file");
        ApiError::internal()
    })?;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| unreadable_body())?;
        upload.push(&chunk, max as u64).map_err(|e| match e {
            crate::upload::UploadError::TooLarge => payload_too_large(),
            crate::upload::UploadError::Io(e) => {
                tracing::error!(error = %e, "cannot write a temporary file");
                ApiError::internal()
            }
        })?;
    }
    Ok(upload)
}

/// The request's media type, lower-case and without parameters ("" when absent).
pub(super) fn media_type(req: &HttpRequest) -> String {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// 415 unless the request's body is of `media` type; `detail` says what is expected.
pub(super) fn require_media_type(
    req: &HttpRequest,
    media: &str,
    detail: &str,
) -> Result<(), ApiError> {
    if media_type(req) == media {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            detail.to_owned(),
        ))
    }
}

fn unreadable_body() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid-request",
        "the request body could not be read",
    )
}

pub async fn tsa(
    ctx: web::Data<Context>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    require_media_type(
        &req,
        "application/timestamp-query",
        "the body must be an RFC 3161 request, application/timestamp-query",
    )?;
    let body = read_limited(payload, MAX_REQUEST_BYTES).await?;
    let now = ctx.clock.now();
    let ctx2 = ctx.clone();
    let reply = web::block(move || ctx2.tsa.get().respond(&body, now))
        .await
        .map_err(|_| ApiError::internal())?;
    Ok(HttpResponse::Ok()
        .content_type("application/timestamp-reply")
        .body(reply))
}

/// Largest OCSP request accepted.
const MAX_OCSP_REQUEST_BYTES: usize = 16 * 1024;

fn ocsp_reply(der: Vec<u8>, cacheable: bool) -> HttpResponse {
    let mut resp = HttpResponse::Ok();
    resp.content_type("application/ocsp-response");
    if cacheable {
        resp.insert_header(("Cache-Control", "public, max-age=60"));
    }
    resp.body(der)
}

pub async fn ocsp_post(
    ctx: web::Data<Context>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    require_media_type(
        &req,
        "application/ocsp-request",
        "the body must be an RFC 6960 request, application/ocsp-request",
    )?;
    let body = read_limited(payload, MAX_OCSP_REQUEST_BYTES).await?;
    let now = ctx.clock.now();
    Ok(ocsp_reply(ctx.pki.ocsp_respond(&body, now).await, false))
}

/// `GET /ocsp/{request}`: the DER request in base64 (RFC 6960 Appendix A.1), URL-encoded; the
/// URL-safe alphabet is accepted too. What does not decode is a malformed request.
pub async fn ocsp_get(
    ctx: web::Data<Context>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    use base64::Engine as _;
    let text: String = path.chars().filter(|c| !c.is_whitespace()).collect();
    let engines = [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::STANDARD_NO_PAD,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    let der = (text.len() <= MAX_OCSP_REQUEST_BYTES * 2)
        .then(|| engines.iter().find_map(|e| e.decode(&text).ok()))
        .flatten();
    let Some(der) = der else {
        return Ok(ocsp_reply(
            crate::pki::ocsp::error_response(x509_ocsp::OcspResponseStatus::MalformedRequest),
            false,
        ));
    };
    let now = ctx.clock.now();
    Ok(ocsp_reply(ctx.pki.ocsp_respond(&der, now).await, true))
}

/// The largest document a verification accepts: the public gets a smaller upload than a
/// caller with an API key.
fn verify_limit(ctx: &Context, req: &HttpRequest) -> usize {
    if super::middleware::authenticated(req) {
        ctx.max_upload_bytes
    } else {
        ctx.max_public_verify_bytes.min(ctx.max_upload_bytes)
    }
}

/// `POST /api/v1/verify/pdf` (anyone): the PDF as the raw body, streamed like a stamping; the
/// answer is the verification report.
pub async fn verify_pdf(
    ctx: web::Data<Context>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    require_media_type(
        &req,
        "application/pdf",
        "the body must be the PDF itself, Content-Type: application/pdf",
    )?;
    let max = verify_limit(&ctx, &req);
    let (ticket, guard) = ctx
        .documents
        .try_take()
        .ok_or(crate::error::ServiceError::Busy)?;
    let upload = receive_upload(payload, max).await?;
    let anchors = crate::admin::trust_anchors::active(&ctx).await?;
    let report = crate::verify::verify_upload(&ctx, anchors, upload, ticket).await?;
    guard.disarm();
    Ok(HttpResponse::Ok().json(report))
}

/// `POST /api/v1/verify/ofd`: the report on a sealed OFD (`application/ofd`), for anyone.
pub async fn verify_ofd(
    ctx: web::Data<Context>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    require_media_type(
        &req,
        "application/ofd",
        "the body must be the OFD package itself, Content-Type: application/ofd",
    )?;
    let max = verify_limit(&ctx, &req);
    let (_ticket, guard) = ctx
        .documents
        .try_take()
        .ok_or(crate::error::ServiceError::Busy)?;
    let upload = receive_upload(payload, max).await?;
    let anchors = crate::admin::trust_anchors::active(&ctx).await?;
    let report = crate::verify::ofd::verify_upload(&ctx, anchors, upload).await?;
    guard.disarm();
    Ok(HttpResponse::Ok().json(report))
}
