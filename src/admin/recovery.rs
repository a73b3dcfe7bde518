//! Backup, restore and the rollback guard (ARCHITECTURE.md §13, docs/OPERATIONS.md).
//!
//! A database restored to an earlier point would silently undo what came after it: revoked
//! seals and keys good again, CRL numbers going back, and the log signing a fork of the
//! checkpoints auditors hold. So each instance keeps a **high-water mark** outside the database
//! (`<data dir>/log-high-water.json`: the latest checkpoint and the highest CRL number of every
//! CA), and the witnesses keep theirs; at start a database behind either is refused until
//! `trustd log replay EXPORT` has put back, byte for byte, the entries it lacks (the root must
//! come out equal to the mark's) with the revocations they record, and has moved every CRL
//! number past the last one published.

use std::collections::BTreeMap;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::log::entry::EventType;
use crate::store::{Change, LicenceState, NewEvent, Repository, StoreError, WriteSet};

/// The mark's file in the data directory.
pub const MARK_FILE: &str = "log-high-water.json";

/// What this installation has published at most.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HighWater {
    pub origin: String,
    pub size: u64,
    /// Base64 root hash.
    pub root: String,
    pub note: String,
    /// CA name → the highest CRL number signed.
    pub crl_numbers: BTreeMap<String, i64>,
    /// The origins of the log's earlier shards (`trustd log rotate`): the tree is the same.
    #[serde(default)]
    pub previous_origins: Vec<String>,
}

/// Whether `mark` is a mark of the log whose database mark is `db` under `origin`: the same
/// origin, or one the other names as an earlier shard of the same tree.
pub fn of_log(mark: &HighWater, db: Option<&HighWater>, origin: &str) -> bool {
    mark.origin == origin
        || mark.previous_origins.iter().any(|o| o == origin)
        || db.is_some_and(|d| d.previous_origins.contains(&mark.origin))
}

/// The mark kept in `dir`, if any.
pub fn read_mark(dir: &Path) -> Result<Option<HighWater>, String> {
    let path = dir.join(MARK_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Replaces the mark atomically (a new file renamed over the old, both synced), unless the
/// kept one is larger: the mark never goes back.
pub fn write_mark(dir: &Path, mark: &HighWater) -> Result<(), String> {
    if let Some(kept) = read_mark(dir)? {
        if of_log(&kept, Some(mark), &mark.origin) && kept.size > mark.size {
            return Ok(());
        }
    }
    let path = dir.join(MARK_FILE);
    let tmp = dir.join(format!("{MARK_FILE}.{}.tmp", std::process::id()));
    let io = |e: std::io::Error| format!("{}: {e}", path.display());
    let bytes = serde_json::to_vec_pretty(mark).map_err(|e| e.to_string())?;
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(&bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, &path).map_err(io)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The mark of what the database holds now: its latest checkpoint and CRL numbers.
pub async fn current_mark(
    store: &dyn Repository,
    origin: &str,
) -> Result<Option<HighWater>, StoreError> {
    let Some(cp) = store.latest_checkpoint().await? else {
        return Ok(None);
    };
    let previous_origins = crate::log::shards::ended_shards(store)
        .await
        .map_err(|e| StoreError::Corrupt(e.to_string()))?
        .into_iter()
        .map(|shard| shard.origin)
        .collect();
    Ok(Some(HighWater {
        origin: origin.to_owned(),
        size: cp.size,
        root: B64.encode(&cp.root),
        note: cp.note,
        crl_numbers: store.crl_numbers().await?.into_iter().collect(),
        previous_origins,
    }))
}

/// Why the database is behind what was published, if it is: behind the mark (`mark`), or
/// behind a checkpoint a witness cosigned (`witnessed`, as (witness, size, base64 root)).
pub fn behind(
    db: Option<&HighWater>,
    mark: Option<&HighWater>,
    witnessed: &[(String, u64, String)],
) -> Option<String> {
    let (size, root) = db.map_or((0, String::new()), |d| (d.size, d.root.clone()));
    let mut seen: Vec<(String, u64, String)> = witnessed.to_vec();
    if let Some(m) = mark {
        seen.push((
            format!("the high-water mark ({MARK_FILE})"),
            m.size,
            m.root.clone(),
        ));
    }
    seen.into_iter().find_map(|(who, s, r)| {
        if s > size {
            Some(format!(
                "the database holds the log up to {size} entries, but {who} shows {s} were published: it was restored to an earlier point. Writes are refused until `trustd log replay EXPORT` (an auditor's export of the log) has put back what is missing (docs/OPERATIONS.md, restore)"
            ))
        } else if s == size && r != root {
            Some(format!(
                "the database's checkpoint of {size} entries has another root than the one {who} shows: this database is not the one that published the log"
            ))
        } else {
            None
        }
    })
}

/// What a replay did.
#[derive(Debug, Default, Serialize)]
pub struct Replayed {
    /// Entries put back into the log.
    pub entries: u64,
    /// Revocations and status changes re-applied.
    pub changes: u64,
    /// Entries put back whose objects could not be (created after the backup: their keys and
    /// records are not in the log), as (index, type, subject).
    pub not_restored: Vec<(u64, String, String)>,
}

/// One line of `/api/v1/log/export`.
#[derive(Debug, Deserialize)]
struct ExportLine {
    index: u64,
    entry: String,
}

/// The entries of an export from index `from` on, checked to be dense.
pub fn entries_from(export: &str, from: u64) -> Result<Vec<(u64, Vec<u8>)>, String> {
    let mut out = Vec::new();
    for (n, line) in export
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let item: ExportLine =
            serde_json::from_str(line).map_err(|e| format!("export line {}: {e}", n + 1))?;
        if item.index < from {
            continue;
        }
        let expected = from + out.len() as u64;
        if item.index != expected {
            return Err(format!(
                "the export lacks entry {expected} (next is {}): it must hold every entry the database lacks",
                item.index
            ));
        }
        let bytes = B64
            .decode(&item.entry)
            .map_err(|_| format!("export line {}: entry is not base64", n + 1))?;
        out.push((item.index, bytes));
    }
    Ok(out)
}

/// Before anything is written: the database's entries followed by the export's must reach the
/// mark and hash to its root there. A forged, reordered or truncated export is refused with the
/// database untouched (checking after the replay would leave its entries and revocations in).
pub async fn check_export(
    store: &dyn Repository,
    entries: &[(u64, Vec<u8>)],
    mark: &HighWater,
) -> Result<(), String> {
    let size = store.log_size().await.map_err(|e| e.to_string())?;
    let mut tree = crate::log::merkle::MemoryTree::new();
    let mut at = 0;
    while at < size {
        let end = (at + 50_000).min(size);
        for h in store
            .leaf_hashes(at, end)
            .await
            .map_err(|e| e.to_string())?
        {
            tree.push(h);
        }
        at = end;
    }
    for (_, entry) in entries {
        tree.push(crate::log::merkle::leaf_hash(entry));
    }
    if tree.len() < mark.size {
        return Err(format!(
            "the export ends at {} entries, but {} were published ({MARK_FILE}): nothing was written",
            tree.len(),
            mark.size
        ));
    }
    if B64.encode(tree.root(mark.size)) != mark.root {
        return Err(format!(
            "the database's entries and the export's do not hash to the root published at {} entries ({MARK_FILE}): the export is not this log's; nothing was written",
            mark.size
        ));
    }
    Ok(())
}

/// The event row of an exported entry, exactly as it was logged.
fn event_of(entry: &[u8]) -> Result<(NewEvent, serde_json::Value), String> {
    let value: serde_json::Value =
        serde_json::from_slice(entry).map_err(|_| "an exported entry is not JSON".to_owned())?;
    let time = value["time"]
        .as_str()
        .and_then(|t| OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok())
        .ok_or("an exported entry has no time")?;
    let event = NewEvent {
        entry: entry.to_vec(),
        leaf_hash: crate::log::merkle::leaf_hash(entry),
        event_type: value["type"].as_str().unwrap_or_default().to_owned(),
        department_code: value["department"].as_str().map(str::to_owned),
        subject: value["subject"].as_str().unwrap_or_default().to_owned(),
        created_at: time.unix_timestamp(),
    };
    Ok((event, value))
}

/// The state change an entry records, when the entry holds all of it and the object exists:
/// revocations of certificates and API keys, licence status changes.
async fn change_of(
    store: &dyn Repository,
    event: &NewEvent,
    value: &serde_json::Value,
) -> Result<Option<Change>, StoreError> {
    let at = event.created_at;
    let data = &value["data"];
    let text = |k: &str| data[k].as_str().unwrap_or_default().to_owned();
    Ok(match EventType::parse(&event.event_type) {
        Some(EventType::CertificateRevoked) => {
            let serial = text("serial");
            match store.certificate(&serial).await? {
                Some(c) if c.revoked_at.is_none() => Some(Change::RevokeCertificate {
                    serial,
                    at,
                    reason: text("reason"),
                    invalidity_date: data["invalidity_date"].as_i64(),
                }),
                _ => None,
            }
        }
        Some(EventType::ApiKeyRevoked) => match store.api_key(&event.subject).await? {
            Some(k) if k.revoked_at.is_none() => Some(Change::RevokeApiKey {
                id: event.subject.clone(),
                at,
            }),
            _ => None,
        },
        Some(
            t @ (EventType::LicenceRevoked
            | EventType::LicenceSuspended
            | EventType::LicenceReinstated),
        ) => {
            let to = match t {
                EventType::LicenceRevoked => LicenceState::Revoked,
                EventType::LicenceSuspended => LicenceState::Suspended,
                _ => LicenceState::Valid,
            };
            match store.licence(&event.subject).await? {
                Some(l) if l.status != to => Some(Change::SetLicenceStatus {
                    identifier: event.subject.clone(),
                    from: l.status,
                    to,
                    reason: text("reason"),
                    at,
                }),
                _ => None,
            }
        }
        _ => None,
    })
}

/// Entry types whose object a replay cannot make again (keys and records are not in the log).
fn creates_something(event_type: &str) -> bool {
    event_type.ends_with(".created")
        || event_type.ends_with(".issued")
        || event_type.ends_with(".registered")
        || event_type.ends_with(".added")
        || event_type == "api_key.replaced"
}

/// Appends `entries` (dense, starting at the database's log size) byte for byte, each with the
/// revocation or status change it records, one write set per entry so that indices stay the
/// exported ones.
pub async fn replay(
    store: &dyn Repository,
    entries: &[(u64, Vec<u8>)],
) -> Result<Replayed, String> {
    let mut report = Replayed::default();
    for (index, entry) in entries {
        let (event, value) = event_of(entry)?;
        let change = change_of(store, &event, &value)
            .await
            .map_err(|e| e.to_string())?;
        if change.is_none() && creates_something(&event.event_type) {
            report
                .not_restored
                .push((*index, event.event_type.clone(), event.subject.clone()));
        }
        let mut writes = WriteSet::new();
        if let Some(c) = change {
            writes = writes.change(c);
            report.changes += 1;
        }
        let assigned = store
            .apply(writes.event(event))
            .await
            .map_err(|e| e.to_string())?;
        if assigned.first() != Some(index) {
            return Err(format!(
                "entry {index} was stored at {assigned:?}: the database's log is not where the export expects"
            ));
        }
        report.entries += 1;
    }
    Ok(report)
}
