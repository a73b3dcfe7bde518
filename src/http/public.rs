//! Public endpoints for citizens and anyone holding a licence: the verification page
//! `/v/{identifier}` (server-rendered HTML, Chinese first, no scripts, fonts or images), the
//! same facts as JSON, the signed token, the signing keys, and licence verification.

use std::sync::OnceLock;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse, HttpResponseBuilder};
use base64::Engine;
use serde::Deserialize;

use super::json::JsonBody;
use super::problem::ApiError;
use crate::context::Context;
use crate::licence::{self, PublicStatus, Status};

const STYLE: &str = "\
*{box-sizing:border-box}\
body{margin:0;font-family:system-ui,-apple-system,'PingFang SC','Noto Sans CJK SC','Microsoft YaHei',sans-serif;background:#f4f5f7;color:#1b1f24;line-height:1.5}\
main{max-width:34rem;margin:0 auto;padding:1rem}\
h1{font-size:1.15rem;margin:.5rem 0 1rem}\
h1 span,.en{display:block;font-size:.8rem;font-weight:normal;color:#4b5563}\
.verdict{border-radius:12px;padding:1.1rem 1rem;margin-bottom:1rem;border:3px solid}\
.verdict .big{font-size:2rem;font-weight:700;margin:0}\
.verdict p{margin:.2rem 0}\
.valid{background:#e6f4ea;border-color:#137333;color:#0d5323}\
.suspended{background:#fff4d6;border-color:#a05a00;color:#6b3d00}\
.revoked{background:#fde7e7;border-color:#b3261e;color:#8c1d18}\
.expired{background:#eceff1;border-color:#455a64;color:#263238}\
.not_found{background:#e8eaf6;border-color:#3949ab;color:#1a237e}\
dl{background:#fff;border-radius:12px;padding:.5rem 1rem;margin:0 0 1rem}\
dt{font-size:.85rem;color:#4b5563;margin-top:.6rem}\
dd{margin:0 0 .4rem;font-size:1.05rem;word-break:break-all}\
.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85rem}\
a{color:#0b57d0}footer{font-size:.8rem;color:#4b5563}";

/// CSP that allows nothing but the inline style above (by hash): no scripts, no fonts, no
/// images, no frames, no forms.
fn csp() -> &'static str {
    static CSP: OnceLock<String> = OnceLock::new();
    CSP.get_or_init(|| {
        let digest = ring::digest::digest(&ring::digest::SHA256, STYLE.as_bytes());
        format!(
            "default-src 'none'; style-src 'sha256-{}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
        )
    })
}

fn secure(mut builder: HttpResponseBuilder) -> HttpResponseBuilder {
    use actix_web::http::header::{self, HeaderValue};
    builder
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(csp()),
        ))
        .insert_header((
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .insert_header((
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .insert_header((header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
    builder
}

/// Appends `s` to `out`, escaped for HTML text and attribute values.
fn esc_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// (class, Chinese verdict, English verdict, symbol, explanation zh, explanation en)
fn verdict(
    status: Status,
) -> (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
) {
    match status {
        Status::Valid => ("valid", "有效", "Valid", "✓", "该证照由签发部门签发，当前有效。", "This licence was issued by the department named below and is valid now."),
        Status::Suspended => ("suspended", "已暂停", "Suspended", "‖", "该证照已被签发部门暂停使用，当前不可作为有效证明。", "The issuing department has suspended this licence: it is not valid now."),
        Status::Revoked => ("revoked", "已撤销", "Revoked", "✕", "该证照已被签发部门撤销，不再有效。", "The issuing department has revoked this licence: it is no longer valid."),
        Status::Expired => ("expired", "已过期", "Expired", "⌛", "该证照已超过有效期，不再有效。", "This licence has passed its end date: it is no longer valid."),
        Status::NotFound => ("not_found", "未找到", "Not found", "?", "未找到该证照。请核对二维码或证照标识；它可能不是本平台签发的。", "No licence with this identifier exists here. Check the QR code; it may not have been issued by this service."),
    }
}

fn row(out: &mut String, zh: &str, en: &str, value: &str, class: &str) {
    use std::fmt::Write as _;
    let _ = write!(
        out,
        "<dt>{zh} <span class=\"en\" lang=\"en\">{en}</span></dt><dd class=\"{class}\">"
    );
    esc_into(out, value);
    out.push_str("</dd>");
}

/// The page, written into one buffer (it is the citizen's hot path).
fn render(identifier: &str, status: Option<&PublicStatus>, checked_at: &str) -> String {
    use std::fmt::Write as _;
    let (class, zh, en, symbol, explain_zh, explain_en) =
        verdict(status.map_or(Status::NotFound, |s| s.status));
    let mut page = String::with_capacity(STYLE.len() + 4096);
    let _ = write!(
        page,
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <title>电子证照核验：{zh} — Licence check: {en}</title><style>{STYLE}</style></head>\
         <body><main><h1>电子证照核验 <span lang=\"en\">Electronic licence verification</span></h1>"
    );
    let _ = write!(
        page,
        "<section class=\"verdict {class}\" role=\"status\" aria-live=\"polite\" aria-label=\"核验结果 {zh} {en}\">\
         <p class=\"big\" id=\"verdict\"><span aria-hidden=\"true\">{symbol}</span> {zh}</p>\
         <p lang=\"en\"><strong>{en}</strong></p><p>{explain_zh}</p><p lang=\"en\">{explain_en}</p></section>"
    );
    page.push_str("<dl>");
    if let Some(s) = status {
        row(&mut page, "证照名称", "Licence", &s.licence_name, "");
        row(&mut page, "证照编号", "Number", &s.number, "");
        row(&mut page, "持证主体", "Holder", &s.holder.name, "");
        row(&mut page, "证件号码", "Holder ID", &s.holder.code, "mono");
        row(
            &mut page,
            "签发部门",
            "Issued by",
            &format!("{}（{}）", s.issuer.name, s.issuer.code),
            "",
        );
        row(&mut page, "签发日期", "Issue date", &s.issue_date, "");
        let until = s.valid_until.as_deref().unwrap_or("长期 long-term");
        row(
            &mut page,
            "有效期",
            "Valid",
            &format!("{} 至 {}", s.valid_from, until),
            "",
        );
        if let Some(changed) = &s.status_changed_at {
            row(&mut page, "状态变更时间", "Status changed", changed, "");
        }
    }
    row(&mut page, "核验时间", "Checked at", checked_at, "");
    row(&mut page, "证照标识", "Identifier", identifier, "mono");
    page.push_str("</dl>");
    if status.is_some() {
        let mut id = String::with_capacity(identifier.len());
        esc_into(&mut id, identifier);
        let _ = write!(
            page,
            "<p><a href=\"/api/v1/public/licences/{id}\">JSON 状态 <span lang=\"en\">JSON status</span></a> · \
             <a href=\"/api/v1/public/licences/{id}/token\">签名令牌 <span lang=\"en\">Signed token</span></a></p>"
        );
    }
    page.push_str(
        "<footer><p>本页由签发部门共享的电子证照服务生成，不含任何外部资源。<span lang=\"en\">Generated by the shared licence service; no external resources.</span></p></footer>\
         </main></body></html>",
    );
    page
}

pub async fn page(
    ctx: web::Data<Context>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let identifier = path.into_inner();
    let found = licence::public_status(&ctx, &identifier).await?;
    let checked_at = crate::clock::rfc3339(ctx.clock.now().unix_timestamp());
    let status = found.as_ref();
    let html = render(&identifier, status, &checked_at);
    let code = if status.is_some() {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    Ok(secure(HttpResponse::build(code))
        .content_type("text/html; charset=utf-8")
        .body(html))
}

pub async fn status(
    ctx: web::Data<Context>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    match licence::public_status(&ctx, &path).await? {
        Some(s) => Ok(HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(StatusAnswer {
                token_url: format!(
                    "{}/api/v1/public/licences/{}/token",
                    ctx.public_url, s.identifier
                ),
                status: &s,
            })),
        None => Err(ApiError::not_found("licence")),
    }
}

/// The public status answer: the status and where its public token is (serialized as it
/// is, not through a `serde_json::Value`).
#[derive(serde::Serialize)]
struct StatusAnswer<'a> {
    #[serde(flatten)]
    status: &'a licence::PublicStatus,
    token_url: String,
}

/// The licence's public token: the SD-JWT's issuer-signed part without disclosures (digests of
/// the personal claims, never the claims).
pub async fn token(
    ctx: web::Data<Context>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let record = match licence::identifier::LicenceIdentifier::parse(&path) {
        Ok(_) => ctx
            .store
            .licence(&path)
            .await
            .map_err(crate::error::ServiceError::from)?,
        Err(_) => None,
    };
    match record {
        Some(record) => match licence::public_token(&record) {
            Some(token) => Ok(HttpResponse::Ok()
                .content_type("application/sd-jwt")
                .insert_header(("Cache-Control", "no-store"))
                .body(token)),
            None => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not-found",
                "this licence was issued before public tokens without personal data; \
                 ask the issuing department for its token",
            )),
        },
        None => Err(ApiError::not_found("licence")),
    }
}

pub async fn jwks(ctx: web::Data<Context>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok()
        .content_type("application/jwk-set+json")
        .json(licence::jwks(&ctx).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    token: Option<String>,
    identifier: Option<String>,
}

pub async fn verify_licence(
    ctx: web::Data<Context>,
    body: JsonBody<VerifyRequest>,
) -> Result<HttpResponse, ApiError> {
    let report = match (&body.token, &body.identifier) {
        (Some(t), None) => licence::verify_token(&ctx, t).await?,
        (None, Some(id)) => licence::verify_identifier(&ctx, id).await?,
        _ => {
            return Err(ApiError::unprocessable(
                "token",
                "give exactly one of token or identifier",
            ))
        }
    };
    Ok(HttpResponse::Ok().json(report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_escapes_and_never_shows_green_for_other_verdicts() {
        let html = render("<script>alert(1)</script>", None, "2026-01-01T00:00:00Z");
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("未找到") && html.contains("class=\"verdict not_found\""));
        for s in [
            Status::Suspended,
            Status::Revoked,
            Status::Expired,
            Status::NotFound,
        ] {
            assert_ne!(verdict(s).0, "valid");
        }
        assert!(csp().contains("style-src 'sha256-") && csp().contains("default-src 'none'"));
    }
}
