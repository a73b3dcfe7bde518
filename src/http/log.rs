//! `/api/v1/log/...`: checkpoint, verifier key and proofs for anyone; entries for auditors.

use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use futures_util::stream;
use serde::Deserialize;

use super::middleware::Auth;
use super::params;
use super::problem::ApiError;
use crate::admin::log_entries::{self as query, MAX_ENTRIES};
use crate::auth::Caller;
use crate::context::Context;
use crate::log::tiles::{TileKind, TilePath};
use crate::log::EventType;
use crate::store::EventQuery;
use crate::store::Role;

/// The published checkpoint with its cosignatures: `/log/checkpoint` (c2sp.org/tlog-tiles)
/// and `/api/v1/log/checkpoint`. Mutable, so not cached.
pub async fn checkpoint(ctx: web::Data<Context>) -> Result<HttpResponse, ApiError> {
    let published = ctx.log.published().await?.ok_or_else(|| {
        ApiError::new(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            "no checkpoint yet",
        )
    })?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header(("Cache-Control", "no-cache"))
        .body(published.note))
}

/// `/log/tile/<L>/<N>[.p/<W>]` and `/log/tile/entries/<N>[.p/<W>]` (c2sp.org/tlog-tiles).
/// Hash tiles are public and immutable, so any HTTP cache may keep them. Entry bundles hold
/// the entries themselves, which are auditor-only (some carry pseudonyms of people): they need
/// an auditor key bound to no department, and only private caches may keep them. The public
/// gets no bundle of leaf hashes at that URL instead: the level-0 tiles already are those
/// hashes, and a tile client would take such a bundle for entries that do not match the tree.
pub async fn tile(
    ctx: web::Data<Context>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tile = TilePath::parse(&path).ok_or_else(|| ApiError::not_found("tile"))?;
    let cache = if tile.kind == TileKind::Entries {
        let Auth(caller) = Auth::extract(&req).await?;
        caller.require(&[Role::Auditor])?;
        if caller.department().is_some() {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "entry bundles hold every department's entries: they need an auditor key bound to no department",
            ));
        }
        "private, max-age=31536000, immutable"
    } else {
        "public, max-age=31536000, immutable"
    };
    let bytes = ctx
        .log
        .tile(&tile)
        .await?
        .ok_or_else(|| ApiError::not_found("tile"))?;
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header(("Cache-Control", cache))
        .body(bytes.as_ref().clone()))
}

/// The configured witnesses' names and keys and the quorum (public: verifiers should still
/// pin the keys they trust out of band).
pub async fn witnesses(ctx: web::Data<Context>) -> HttpResponse {
    let policy = ctx.log.witness_policy();
    let list: Vec<serde_json::Value> = policy
        .witnesses
        .iter()
        .map(|w| serde_json::json!({ "name": w.key.name(), "vkey": w.key.to_vkey() }))
        .collect();
    HttpResponse::Ok().json(serde_json::json!({
        "log_vkey": ctx.log.verifier().to_key_string(),
        "quorum": policy.quorum,
        "witnesses": list,
    }))
}

/// The log's shards (public): the current origin and key, and the ended shards with their
/// final checkpoints and handover entries, for auditors that hold an earlier key.
pub async fn shards(ctx: web::Data<Context>) -> Result<HttpResponse, ApiError> {
    let previous = crate::log::shards::ended_shards(ctx.log.store())
        .await
        .map_err(crate::error::ServiceError::from)?;
    let start = previous.last().map_or(0, |s| s.end);
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "current": {
            "origin": ctx.log.origin(),
            "vkey": ctx.log.verifier().to_key_string(),
            "start": start,
        },
        "previous": previous,
    })))
}

/// `/api/v1/log/proofs/{index}`: the c2sp.org/tlog-proof of any entry (a stamping's index is
/// in its `Trustd-Log-Index` header). Public: hashes, the index, the checkpoint, and the entry
/// only when it names no person and no licence (so that walking the indices yields no licence
/// identifier).
pub async fn tlog_proof(
    ctx: web::Data<Context>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let index = params::require_u64("index", Some(path.as_str()))?;
    if index
        >= ctx
            .store
            .log_size()
            .await
            .map_err(crate::error::ServiceError::from)?
    {
        return Err(ApiError::not_found("log entry"));
    }
    proof_response(&ctx, index, None, &format!("trustd-log-{index}")).await
}

/// The proof of logging of entry `index`, as a `.tlog-proof` file; 409 with Retry-After while
/// the entry is not in the published checkpoint (it exists: it is not logged *yet*).
pub async fn proof_response(
    ctx: &Context,
    index: u64,
    licence: Option<&str>,
    name: &str,
) -> Result<HttpResponse, ApiError> {
    let proof = ctx.log.tlog_proof(index, licence).await?.ok_or_else(|| {
        let mut e = ApiError::new(
            StatusCode::CONFLICT,
            "log-proof-pending",
            "the entry is not in the published (witnessed) checkpoint yet; try again shortly",
        );
        e.retry_after = Some(2);
        e
    })?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{name}.tlog-proof\""),
        ))
        .body(proof.to_text()))
}

pub async fn key(ctx: web::Data<Context>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(format!("{}\n", ctx.log.verifier().to_key_string()))
}

#[derive(Debug, Deserialize)]
pub struct InclusionQuery {
    index: Option<String>,
    size: Option<String>,
}

pub async fn inclusion(
    ctx: web::Data<Context>,
    q: web::Query<InclusionQuery>,
) -> Result<HttpResponse, ApiError> {
    let index = params::require_u64("index", q.index.as_deref())?;
    let size = params::require_u64("size", q.size.as_deref())?;
    Ok(HttpResponse::Ok().json(ctx.log.inclusion_proof(index, size).await?))
}

#[derive(Debug, Deserialize)]
pub struct ConsistencyQuery {
    from: Option<String>,
    to: Option<String>,
}

pub async fn consistency(
    ctx: web::Data<Context>,
    q: web::Query<ConsistencyQuery>,
) -> Result<HttpResponse, ApiError> {
    let from = params::require_u64("from", q.from.as_deref())?;
    let to = params::require_u64("to", q.to.as_deref())?;
    Ok(HttpResponse::Ok().json(ctx.log.consistency_proof(from, to).await?))
}

#[derive(Debug, Deserialize)]
pub struct EntriesQuery {
    start: Option<String>,
    end: Option<String>,
}

pub async fn entries(
    ctx: web::Data<Context>,
    Auth(caller): Auth,
    q: web::Query<EntriesQuery>,
) -> Result<HttpResponse, ApiError> {
    let start = params::require_u64("start", q.start.as_deref())?;
    let end = match params::parse_u64("end", q.end.as_deref())? {
        Some(end) => end,
        None => start.saturating_add(MAX_ENTRIES),
    };
    let entries = query::entries(ctx.store.as_ref(), &caller, start, end).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "entries": entries })))
}

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    department: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    subject: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

fn event_query(q: &SearchQuery) -> Result<EventQuery, ApiError> {
    if let Some(d) = &q.department {
        crate::codes::CreditCode::parse(d)
            .map_err(|e| ApiError::unprocessable("department", e.to_string()))?;
    }
    if let Some(t) = &q.event_type {
        if EventType::parse(t).is_none() {
            return Err(ApiError::unprocessable("type", "is not an event type"));
        }
    }
    let after = params::decode_cursor("log", q.cursor.as_deref())?
        .map(|s| {
            s.parse::<u64>()
                .map_err(|_| ApiError::unprocessable("cursor", "is not a cursor of this list"))
        })
        .transpose()?;
    Ok(EventQuery {
        department_code: q.department.clone(),
        event_type: q.event_type.clone(),
        subject: q.subject.clone(),
        since: params::parse_time("since", q.since.as_deref())?,
        until: params::parse_time("until", q.until.as_deref())?,
        after,
        limit: params::limit(q.limit.as_deref())?,
    })
}

pub async fn search(
    ctx: web::Data<Context>,
    Auth(caller): Auth,
    q: web::Query<SearchQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = event_query(&q)?;
    let limit = query.limit as usize;
    let entries = query::search(ctx.store.as_ref(), &caller, query).await?;
    let next_cursor = (entries.len() == limit)
        .then(|| {
            entries
                .last()
                .map(|e| params::encode_cursor("log", &e.index.to_string()))
        })
        .flatten();
    Ok(HttpResponse::Ok()
        .json(serde_json::json!({ "entries": entries, "next_cursor": next_cursor })))
}

/// Streams every matching entry as NDJSON, one page at a time (memory stays flat).
pub async fn export(
    ctx: web::Data<Context>,
    Auth(caller): Auth,
    q: web::Query<SearchQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut query = event_query(&q)?;
    query.limit = 500;
    // Check access (and department scope) before the stream starts.
    let first = query::search(ctx.store.as_ref(), &caller, query.clone()).await?;
    struct State {
        ctx: web::Data<Context>,
        caller: Caller,
        query: EventQuery,
        page: Option<Vec<query::EntryView>>,
    }
    let state = State {
        ctx,
        caller,
        query,
        page: Some(first),
    };
    let body = stream::unfold(state, |mut st| async move {
        let page = match st.page.take() {
            Some(p) => p,
            None => {
                match query::search(st.ctx.store.as_ref(), &st.caller, st.query.clone()).await {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::error!(error = %e, "log export stopped");
                        return None;
                    }
                }
            }
        };
        if page.is_empty() {
            return None;
        }
        st.query.after = page.last().map(|e| e.index);
        let mut chunk = Vec::new();
        for entry in &page {
            if serde_json::to_writer(&mut chunk, entry).is_ok() {
                chunk.push(b'\n');
            }
        }
        Some((Ok::<_, actix_web::Error>(web::Bytes::from(chunk)), st))
    });
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .streaming(body))
}
