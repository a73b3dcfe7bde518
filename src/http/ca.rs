//! `/ca/{ca}.pem`: the roots (`root`, `root.2`, …), their links (`links`) and the department
//! CA certificates, for anyone.

use actix_web::{web, HttpResponse};

use super::problem::ApiError;
use crate::admin::departments;
use crate::context::Context;
use crate::pki::to_pem;

/// `/crl/{ca}.crl`: the CA's current CRL (DER), for anyone.
pub async fn crl(
    ctx: web::Data<Context>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let now = ctx.clock.now();
    let der = ctx
        .pki
        .current_crl(&path, now)
        .await
        .map_err(crate::error::ServiceError::from)?
        .ok_or(crate::error::ServiceError::NotFound("CA"))?;
    Ok(HttpResponse::Ok()
        .content_type("application/pkix-crl")
        .insert_header(("Cache-Control", "public, max-age=300"))
        .body(der))
}

pub async fn certificate(
    ctx: web::Data<Context>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let pem = if path.as_str() == "links" {
        departments::root_links(&ctx)
            .await?
            .iter()
            .map(|der| to_pem(der))
            .collect::<String>()
    } else {
        to_pem(&departments::ca_certificate(&ctx, &path).await?)
    };
    Ok(HttpResponse::Ok()
        .content_type("application/x-pem-file")
        .body(pem))
}
