//! `/ca/{ca}.pem`: the root (`root`) and department CA certificates, for anyone.

use actix_web::{web, HttpResponse};

use super::problem::ApiError;
use crate::admin::departments;
use crate::context::Context;
use crate::pki::to_pem;

pub async fn certificate(
    ctx: web::Data<Context>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let der = departments::ca_certificate(&ctx, &path).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/x-pem-file")
        .body(to_pem(&der)))
}
