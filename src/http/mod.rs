//! The HTTP layer: handlers parse, call a service, render. The route table is here, in one
//! place; the OpenAPI test reads it through [`route_table`].

pub mod api_keys;
pub mod ca;
pub mod client;
pub mod departments;
pub mod json;
pub mod licences;
pub mod log;
pub mod metrics;
pub mod middleware;
pub mod ops;
pub mod params;
pub mod pki;
pub mod problem;
pub mod public;
pub mod ratelimit;
pub mod seals;
pub mod trust_anchors;

use actix_web::http::Method;
use actix_web::{web, HttpRequest, Route};

use crate::licence::StatusAction;
use problem::ApiError;

/// Every route of the service: method, path template (OpenAPI syntax), handler.
#[rustfmt::skip]
fn routes() -> Vec<(Method, &'static str, Route)> {
    // Routes are tried in this order (each dynamic one a pattern match): the public hot paths
    // (a citizen's check, OCSP) come first.
    vec![
        (Method::GET,    "/healthz",                                     web::get().to(ops::healthz)),
        (Method::GET,    "/v/{identifier}",                              web::get().to(public::page)),
        (Method::GET,    "/api/v1/public/licences/{identifier}",         web::get().to(public::status)),
        (Method::POST,   "/ocsp",                                        web::post().to(pki::ocsp_post)),
        (Method::GET,    "/readyz",                                      web::get().to(ops::readyz)),
        (Method::GET,    "/metrics",                                     web::get().to(ops::metrics)),
        (Method::GET,    "/api-spec/openapi.yaml",                       web::get().to(ops::openapi)),
        (Method::POST,   "/api/v1/departments",                          web::post().to(departments::create)),
        (Method::GET,    "/api/v1/departments",                          web::get().to(departments::list)),
        (Method::GET,    "/api/v1/departments/{code}",                   web::get().to(departments::get)),
        (Method::POST,   "/api/v1/api-keys",                             web::post().to(api_keys::create)),
        (Method::DELETE, "/api/v1/api-keys/{id}",                        web::delete().to(api_keys::revoke)),
        (Method::GET,    "/ca/{ca}.pem",                                 web::get().to(ca::certificate)),
        (Method::GET,    "/crl/{ca}.crl",                                web::get().to(ca::crl)),
        (Method::POST,   "/api/v1/trust-anchors",                        web::post().to(trust_anchors::add)),
        (Method::GET,    "/api/v1/trust-anchors",                        web::get().to(trust_anchors::list)),
        (Method::POST,   "/api/v1/trust-anchors/{id}/disable",           web::post().to(trust_anchors::disable)),
        (Method::POST,   "/api/v1/trust-anchors/{id}/enable",            web::post().to(trust_anchors::enable)),
        (Method::DELETE, "/api/v1/trust-anchors/{id}",                   web::delete().to(trust_anchors::delete)),
        (Method::POST,   "/api/v1/departments/{code}/ca/revoke",         web::post().to(departments::revoke_ca)),
        (Method::POST,   "/api/v1/departments/{code}/ca",                web::post().to(departments::new_ca)),
        (Method::GET,    "/api/v1/log/checkpoint",                       web::get().to(log::checkpoint)),
        (Method::GET,    "/api/v1/log/key",                              web::get().to(log::key)),
        (Method::GET,    "/api/v1/log/proof/inclusion",                  web::get().to(log::inclusion)),
        (Method::GET,    "/api/v1/log/proof/consistency",                web::get().to(log::consistency)),
        (Method::GET,    "/api/v1/log/entries",                          web::get().to(log::entries)),
        (Method::GET,    "/api/v1/log/search",                           web::get().to(log::search)),
        (Method::GET,    "/api/v1/log/export",                           web::get().to(log::export)),
        (Method::GET,    "/api/v1/log/witnesses",                        web::get().to(log::witnesses)),
        (Method::GET,    "/api/v1/log/shards",                           web::get().to(log::shards)),
        (Method::GET,    "/api/v1/log/proofs/{index}",                   web::get().to(log::tlog_proof)),
        (Method::GET,    "/log/checkpoint",                              web::get().to(log::checkpoint)),
        (Method::GET,    "/log/tile/{tile:.+}",                          web::get().to(log::tile)),
        (Method::POST,   "/api/v1/licence-types",                        web::post().to(licences::create_type)),
        (Method::GET,    "/api/v1/licence-types",                        web::get().to(licences::list_types)),
        (Method::POST,   "/api/v1/licences",                             web::post().to(licences::issue)),
        (Method::GET,    "/api/v1/licences",                             web::get().to(licences::by_holder)),
        (Method::GET,    "/api/v1/licences/{identifier}",                web::get().to(licences::get)),
        (Method::POST,   "/api/v1/licences/{identifier}/revoke",         licences::status_change(StatusAction::Revoke)),
        (Method::POST,   "/api/v1/licences/{identifier}/suspend",        licences::status_change(StatusAction::Suspend)),
        (Method::POST,   "/api/v1/licences/{identifier}/reinstate",      licences::status_change(StatusAction::Reinstate)),
        (Method::POST,   "/api/v1/licences/{identifier}/presentations",  web::post().to(licences::present)),
        (Method::GET,    "/api/v1/licences/{identifier}/qr.svg",         web::get().to(licences::qr_svg)),
        (Method::GET,    "/api/v1/licences/{identifier}/qr.png",         web::get().to(licences::qr_png)),
        (Method::GET,    "/api/v1/licences/{identifier}/log-proof",      web::get().to(licences::log_proof)),
        (Method::GET,    "/api/v1/public/licences/{identifier}/token",   web::get().to(public::token)),
        (Method::GET,    "/api/v1/public/jwks.json",                     web::get().to(public::jwks)),
        (Method::POST,   "/api/v1/verify/licence",                       web::post().to(public::verify_licence)),
        (Method::POST,   "/api/v1/verify/pdf",                           web::post().to(pki::verify_pdf)),
        (Method::POST,   "/api/v1/verify/ofd",                           web::post().to(pki::verify_ofd)),
        (Method::POST,   "/tsa",                                         web::post().to(pki::tsa)),
        (Method::GET,    "/ocsp/{request:.+}",                           web::get().to(pki::ocsp_get)),
        (Method::POST,   "/api/v1/seals",                                web::post().to(seals::create)),
        (Method::GET,    "/api/v1/seals",                                web::get().to(seals::list)),
        (Method::GET,    "/api/v1/seals/{id}",                           web::get().to(seals::get)),
        (Method::GET,    "/api/v1/seals/{id}/appearance.svg",            web::get().to(seals::appearance)),
        (Method::PUT,    "/api/v1/seals/{id}/appearance",                web::put().to(seals::set_appearance)),
        (Method::GET,    "/api/v1/seals/{id}/appearance/pending.png",    web::get().to(seals::pending_appearance)),
        (Method::POST,   "/api/v1/seals/{id}/appearance/approve",        web::post().to(seals::approve_appearance)),
        (Method::POST,   "/api/v1/seals/{id}/stamp",                     web::post().to(seals::stamp)),
        (Method::GET,    "/api/v1/seals/{id}/esl",                       web::get().to(seals::esl)),
        (Method::POST,   "/api/v1/seals/{id}/revoke",                    web::post().to(seals::revoke)),
    ]
}

/// (method, path) of every registered route, paths as OpenAPI templates (a segment pattern
/// such as `{request:.+}` written `{request}`).
pub fn route_table() -> Vec<(Method, String)> {
    routes()
        .into_iter()
        .map(|(m, p, _)| {
            let mut out = String::new();
            let mut rest = p;
            while let Some(colon) = rest.find(':') {
                let close = rest[colon..].find('}').map_or(rest.len(), |c| colon + c);
                out.push_str(&rest[..colon]);
                rest = &rest[close..];
            }
            out.push_str(rest);
            (m, out)
        })
        .collect()
}

/// Registers the routes, grouped by path so that a known path with a wrong method is a 405.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut groups: Vec<(&'static str, Vec<(Method, Route)>)> = Vec::new();
    for (method, path, route) in routes() {
        match groups.iter_mut().find(|(p, _)| *p == path) {
            Some((_, list)) => list.push((method, route)),
            None => groups.push((path, vec![(method, route)])),
        }
    }
    for (path, list) in groups {
        let allow = list
            .iter()
            .map(|(m, _)| m.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let mut resource = web::resource(path);
        for (_, route) in list {
            resource = resource.route(route);
        }
        resource = resource.default_service(web::to(move || {
            let allow = allow.clone();
            async move {
                let mut e = ApiError::new(
                    actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
                    "method-not-allowed",
                    format!("this path allows {allow}"),
                );
                e.allow = Some(allow);
                Err::<actix_web::HttpResponse, _>(e)
            }
        }));
        cfg.service(resource);
    }
}

/// Answer for paths that match no route.
pub async fn not_found(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    tracing::debug!(path = %req.path(), "no route");
    Err(ApiError::not_found("route"))
}
