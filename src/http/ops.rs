//! Operations: liveness, readiness, metrics and the API contract.

use actix_web::{web, HttpResponse};

use super::metrics::Metrics;
use super::problem::ApiError;
use crate::context::Context;

/// The contract, served byte-identical to `api-spec/openapi.yaml`.
pub const OPENAPI_YAML: &str = include_str!("../../api-spec/openapi.yaml");

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Ready to take traffic: the database answers, entries do not wait too long for a checkpoint,
/// and no CA or TSA certificate is about to end (TRUSTD_READY_*).
pub async fn readyz(ctx: web::Data<Context>) -> Result<HttpResponse, ApiError> {
    let not_ready = |detail: String| {
        ApiError::new(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            detail,
        )
    };
    if let Err(e) = ctx.store.ping().await {
        tracing::warn!(error = %e, "database not reachable");
        return Err(not_ready("the database is not reachable".into()));
    }
    let now = ctx.clock.now();
    match crate::admin::health::not_ready(&ctx, ctx.readiness, now).await {
        Ok(None) => Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ready"}))),
        Ok(Some(reason)) => {
            tracing::warn!(%reason, "not ready");
            Err(not_ready(reason))
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(not_ready("the readiness checks could not be read".into()))
        }
    }
}

/// Prometheus metrics, for an admin or a `monitor` key (a scraper's, which can read nothing
/// else): route names, counts and latencies say what the service is used for.
pub async fn metrics(
    ctx: web::Data<Context>,
    metrics: web::Data<Metrics>,
    super::middleware::Auth(caller): super::middleware::Auth,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[crate::auth::Role::Admin, crate::auth::Role::Monitor])?;
    let gauges = crate::admin::health::gauges(&ctx, ctx.clock.now()).await?;
    let mut body = metrics.render();
    super::metrics::render_gauges(&gauges, &mut body);
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body))
}

pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/yaml")
        .body(OPENAPI_YAML)
}
