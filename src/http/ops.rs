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

pub async fn readyz(ctx: web::Data<Context>) -> Result<HttpResponse, ApiError> {
    match ctx.store.ping().await {
        Ok(()) => Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ready"}))),
        Err(e) => {
            tracing::warn!(error = %e, "database not reachable");
            Err(ApiError::new(
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                "not-ready",
                "the database is not reachable",
            ))
        }
    }
}

/// Prometheus metrics, for an admin or a `monitor` key (a scraper's, which can read nothing
/// else): route names, counts and latencies say what the service is used for.
pub async fn metrics(
    metrics: web::Data<Metrics>,
    super::middleware::Auth(caller): super::middleware::Auth,
) -> Result<HttpResponse, ApiError> {
    caller.require(&[crate::auth::Role::Admin, crate::auth::Role::Monitor])?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render()))
}

pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/yaml")
        .body(OPENAPI_YAML)
}
