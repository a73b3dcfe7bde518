//! Per-request middleware: a request id and tracing span, authentication of the bearer token
//! (before any body is read, so a request without a valid key gets 401 whatever its body),
//! and metrics by route template.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue, AUTHORIZATION};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::{ready, Ready};
use tracing::Instrument;
use zeroize::Zeroizing;

use super::metrics::Metrics;
use super::problem::ApiError;
use crate::admin::api_keys;
use crate::auth::Caller;
use crate::context::Context;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// How long a request may take in all.
#[derive(Debug, Clone, Copy)]
pub struct RequestTimeout(pub std::time::Duration);

/// Default of the longest query string accepted, in bytes (`TRUSTD_MAX_QUERY_BYTES`).
pub use crate::config::MAX_QUERY_BYTES;

/// The longest query string accepted, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct MaxQueryBytes(pub usize);

/// Failed authentications allowed per client (see [`super::ratelimit`]).
#[derive(Debug)]
pub struct AuthThrottle(pub super::ratelimit::RateLimiter);

/// The client's address as resolved through trusted proxies, in the request's extensions.
#[derive(Debug, Clone, Copy)]
pub struct Client(pub std::net::IpAddr);

fn too_many(detail: String, retry_after: u64) -> ApiError {
    let mut e = ApiError::new(
        actix_web::http::StatusCode::TOO_MANY_REQUESTS,
        "rate-limited",
        detail,
    );
    e.retry_after = Some(retry_after);
    e
}

/// What authentication found, stored in the request's extensions.
#[derive(Debug, Clone)]
enum AuthOutcome {
    Missing,
    Refused,
    Caller(Caller),
}

/// A new request id: a per-process counter through SipHash under a key drawn at start
/// (std's `RandomState`). Distinct within a process and not guessable across processes,
/// which is all a correlation id needs, without a `getrandom` system call per request
/// (4 % of a status lookup's CPU).
fn new_request_id() -> String {
    use std::hash::BuildHasher;
    use std::sync::atomic::{AtomicU64, Ordering};
    static KEY: std::sync::OnceLock<std::collections::hash_map::RandomState> =
        std::sync::OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{:016x}", KEY.get_or_init(Default::default).hash_one(n))
}

/// The request's id: the one a proxy in front set (`X-Request-Id`, so that its logs and
/// ours name the same request) when it is a plausible id — 1 to 128 characters of
/// `[A-Za-z0-9._:-]`, nothing a log reader could mistake for structure — else a new one.
fn request_id_of(req: &ServiceRequest) -> String {
    req.headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
        })
        .map(str::to_owned)
        .unwrap_or_else(new_request_id)
}

/// What is refused before a request is looked at: an over-long query string, a client over
/// the public endpoints' rate, and a client that failed to authenticate too often (refused
/// before its key is looked at, so guessing keys gets nowhere; other clients are not affected).
fn admit(
    req: &ServiceRequest,
    client: std::net::IpAddr,
    max_query: Option<usize>,
    limiter: Option<&super::ratelimit::RateLimiter>,
    throttle: Option<&AuthThrottle>,
) -> Result<(), ApiError> {
    if let Some(max) = max_query.filter(|max| req.query_string().len() > *max) {
        return Err(ApiError::new(
            actix_web::http::StatusCode::URI_TOO_LONG,
            "uri-too-long",
            format!("the query string is longer than {max} bytes"),
        ));
    }
    if let (Some(limiter), true) = (limiter, super::ratelimit::is_public(req.path())) {
        if let Err(retry_after) = limiter.check(client, Instant::now()) {
            tracing::info!("rate limited");
            return Err(too_many(
                format!("too many requests from this address; retry in {retry_after} s"),
                retry_after,
            ));
        }
    }
    if let (Some(throttle), true) = (throttle, req.headers().contains_key(AUTHORIZATION)) {
        if let Err(retry_after) = throttle.0.peek(client, Instant::now()) {
            tracing::warn!("authentication throttled");
            return Err(too_many(
                format!(
                    "too many failed authentications from this address; retry in {retry_after} s"
                ),
                retry_after,
            ));
        }
    }
    Ok(())
}

pub async fn request_middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id = request_id_of(&req);
    let peer = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
    let client = match req.app_data::<web::Data<super::client::ClientAddress>>() {
        Some(resolver) => resolver.resolve(peer, req.headers()),
        None => peer,
    };
    req.extensions_mut().insert(Client(client));
    let span = tracing::info_span!(
        "request",
        id = %request_id,
        method = %req.method(),
        path = %req.path(),
        %client,
        key = tracing::field::Empty
    );
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let method = req.method().to_string();
    let limiter = req
        .app_data::<web::Data<super::ratelimit::RateLimiter>>()
        .cloned();
    let throttle = req.app_data::<web::Data<AuthThrottle>>().cloned();
    let timeout = req
        .app_data::<web::Data<RequestTimeout>>()
        .map(|t| t.0)
        .unwrap_or(std::time::Duration::from_secs(120));
    let max_query = req.app_data::<web::Data<MaxQueryBytes>>().map(|m| m.0);
    async move {
        admit(
            &req,
            client,
            max_query,
            limiter.as_ref().map(|l| l.get_ref()),
            throttle.as_ref().map(|t| t.get_ref()),
        )?;
        authenticate(&req).await?;
        let refused = matches!(
            req.extensions().get::<AuthOutcome>(),
            Some(AuthOutcome::Refused)
        );
        if let (Some(throttle), true) = (&throttle, refused) {
            let _ = throttle.0.check(client, Instant::now());
        }
        let mut res = match tokio::time::timeout(timeout, next.call(req)).await {
            Ok(res) => res?,
            Err(_) => {
                return Err(ApiError::new(
                    actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                    "request-timeout",
                    "the request took too long and was stopped",
                )
                .into())
            }
        };
        let status = res.status();
        let route = res
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            res.headers_mut().insert(REQUEST_ID, v);
        }
        let elapsed = started.elapsed().as_secs_f64();
        if let Some(m) = metrics {
            m.observe(&route, &method, status.as_u16(), elapsed);
            let department = match res.request().extensions().get::<AuthOutcome>() {
                Some(AuthOutcome::Caller(c)) => c.department().map(str::to_owned),
                _ => None,
            };
            if let Some(d) = department {
                m.department_request(&method, &route, status.as_u16(), &d);
            }
        }
        tracing::info!(status = status.as_u16(), route = %route, ms = elapsed * 1000.0, "done");
        Ok(res)
    }
    .instrument(span)
    .await
}

async fn authenticate(req: &ServiceRequest) -> Result<(), ApiError> {
    let header = req.headers().get(AUTHORIZATION);
    let outcome = match header {
        None => AuthOutcome::Missing,
        Some(value) => {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(|t| Zeroizing::new(t.trim().to_owned()));
            match (token, req.app_data::<web::Data<Context>>()) {
                (Some(token), Some(ctx)) => match api_keys::authenticate(ctx, &token).await {
                    Ok(caller) => {
                        tracing::Span::current().record("key", caller.key_id());
                        tracing::debug!(role = caller.role().as_str(), "authenticated");
                        AuthOutcome::Caller(caller)
                    }
                    Err(api_keys::AuthError::Store(e)) => {
                        return Err(ApiError::from(api_keys::AuthError::Store(e)))
                    }
                    Err(e) => {
                        tracing::info!(reason = %e, "authentication refused");
                        if let Some(m) = req.app_data::<web::Data<Metrics>>() {
                            m.auth_failed();
                        }
                        AuthOutcome::Refused
                    }
                },
                _ => AuthOutcome::Refused,
            }
        }
    };
    req.extensions_mut().insert(outcome);
    Ok(())
}

/// Whether the request carried a valid API key (for public routes that give such callers more).
pub fn authenticated(req: &actix_web::HttpRequest) -> bool {
    use actix_web::HttpMessage;
    matches!(
        req.extensions().get::<AuthOutcome>(),
        Some(AuthOutcome::Caller(_))
    )
}

/// Extractor for handlers that need an API key: 401 without a valid one.
#[derive(Debug, Clone)]
pub struct Auth(pub Caller);

impl FromRequest for Auth {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let outcome = req.extensions().get::<AuthOutcome>().cloned();
        ready(match outcome {
            Some(AuthOutcome::Caller(c)) => Ok(Auth(c)),
            Some(AuthOutcome::Refused) => {
                Err(ApiError::unauthorized("the API key is unknown or revoked"))
            }
            _ => Err(ApiError::unauthorized(
                "an API key is required: Authorization: Bearer <key>",
            )),
        })
    }
}
