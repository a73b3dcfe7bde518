//! Auditors' access to log entries: any auditor reads the entries; an auditor bound to one
//! department sees that department's entries only.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::Serialize;

use crate::auth::{Caller, Role};
use crate::error::ServiceError;
use crate::store::{EventQuery, EventRecord, Repository};

/// Most entries in one answer of `/log/entries`.
pub const MAX_ENTRIES: u64 = 1000;

#[derive(Debug, Serialize)]
pub struct EntryView {
    pub index: u64,
    /// Base64 of the exact bytes hashed into the tree.
    pub entry: String,
    /// The same entry decoded.
    pub event: serde_json::Value,
}

impl From<EventRecord> for EntryView {
    fn from(r: EventRecord) -> Self {
        EntryView {
            index: r.index,
            event: serde_json::from_slice(&r.entry).unwrap_or(serde_json::Value::Null),
            entry: B64.encode(&r.entry),
        }
    }
}

/// Entries `start..end` (at most [`MAX_ENTRIES`]).
pub async fn entries(
    store: &dyn Repository,
    caller: &Caller,
    start: u64,
    end: u64,
) -> Result<Vec<EntryView>, ServiceError> {
    if end <= start {
        return Err(ServiceError::invalid("end", "must be greater than start"));
    }
    if end - start > MAX_ENTRIES {
        return Err(ServiceError::invalid(
            "end",
            format!("at most {MAX_ENTRIES} entries per call"),
        ));
    }
    caller.require(&[Role::Auditor])?;
    let records = store.events(start, end).await?;
    Ok(records
        .into_iter()
        .filter(|r| visible(caller, r))
        .map(EntryView::from)
        .collect())
}

fn visible(caller: &Caller, record: &EventRecord) -> bool {
    match caller.department() {
        None => true,
        Some(d) => record.department_code.as_deref() == Some(d),
    }
}

/// A page of a search; the auditor's department scope is applied here.
pub async fn search(
    store: &dyn Repository,
    caller: &Caller,
    mut query: EventQuery,
) -> Result<Vec<EntryView>, ServiceError> {
    caller.require(&[Role::Auditor])?;
    if let Some(own) = caller.department() {
        match &query.department_code {
            Some(asked) if asked != own => {
                return Err(ServiceError::Forbidden(
                    "this auditor key is bound to another department".into(),
                ))
            }
            _ => query.department_code = Some(own.to_owned()),
        }
    }
    Ok(store
        .search_events(&query)
        .await?
        .into_iter()
        .map(EntryView::from)
        .collect())
}
