//! Rotating the log's signing key (`trustd log rotate`, ARCHITECTURE.md §13): a new shard, with
//! a new origin and a new key, continuing the same tree.
//!
//! The old key endorses the new one before the new one signs anything: a `log.rotated` entry
//! naming the new origin and key is appended and the old key signs the checkpoint that ends
//! with it (the old shard's final checkpoint). Only then do the meta rows switch, and the new
//! key signs that same tree head under the new origin. Because the tree continues, the
//! consistency proofs an auditor already checks carry over; `trustd audit` holding the old key
//! follows the handover (final checkpoint, the entry's inclusion in it, the key it names) to
//! the new one ([`crate::audit`]). Witnesses are configured for the new origin by their
//! operators (a new origin is a new log to them, cosigned from size 0).

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::checkpoint::{valid_key_name, Checkpoint, NoteVerifier};
use super::{Event, EventType, LogError, TransparencyLog, META_LOG_KEY, META_LOG_ORIGIN};
use crate::keys::Signer;
use crate::store::{Change, Repository, StoredKey, WriteSet};

/// Meta key of the ended shards (JSON list of [`Shard`]).
pub const META_LOG_SHARDS: &str = "log_shards";

/// A shard that ended: its origin and key, the size it ended at, the final checkpoint its key
/// signed, and the `log.rotated` entry (the last of the shard) naming the next key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub origin: String,
    /// The shard's note verifier key (c2sp.org/signed-note vkey).
    pub vkey: String,
    /// The tree size at which it ended; its last entry is the handover.
    pub end: u64,
    pub final_checkpoint: String,
    /// Base64 of the `log.rotated` entry at index `end - 1`.
    pub handover_entry: String,
}

/// The ended shards recorded in `store`, oldest first.
pub async fn ended_shards(store: &dyn Repository) -> Result<Vec<Shard>, LogError> {
    match store.meta(META_LOG_SHARDS).await? {
        None => Ok(Vec::new()),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| LogError::Inconsistent(format!("{META_LOG_SHARDS}: {e}"))),
    }
}

/// What a rotation did.
#[derive(Debug, Serialize)]
pub struct Rotated {
    pub previous: Shard,
    pub origin: String,
    pub vkey: String,
}

/// The `log.rotated` entry's fields an auditor checks: the next origin and key.
pub fn handover_target(entry: &[u8]) -> Option<(String, String)> {
    let value: serde_json::Value = serde_json::from_slice(entry).ok()?;
    if value["type"] != EventType::LogRotated.as_str() {
        return None;
    }
    let data = &value["data"];
    Some((
        data["origin"].as_str()?.to_owned(),
        data["vkey"].as_str()?.to_owned(),
    ))
}

impl TransparencyLog {
    /// Ends this shard and starts the next under `origin` with `signer` (whose sealed key,
    /// `key`, is stored in the handover's write). Every instance must be stopped: one still
    /// running would sign with the old key.
    pub async fn rotate(
        &self,
        signer: Arc<dyn Signer>,
        key: StoredKey,
        origin: &str,
        now: OffsetDateTime,
    ) -> Result<Rotated, LogError> {
        if !valid_key_name(origin) || origin == self.origin {
            return Err(LogError::BadRequest(format!(
                "{origin:?} is not a new valid origin"
            )));
        }
        let next = NoteVerifier::new(origin, signer.public_key())?;
        while self.integrate(now).await?.is_some() {}
        let event = Event::new(EventType::LogRotated, now, origin)
            .data("previous_origin", self.origin.as_str())
            .data("previous_vkey", self.verifier.to_key_string())
            .data("origin", origin)
            .data("vkey", next.to_key_string());
        let handover = event.to_new_event();
        let entry = handover.entry.clone();
        let indices = self
            .store
            .apply(
                WriteSet::new()
                    .change(Change::InsertKey(key))
                    .event(handover),
            )
            .await?;
        while self.integrate(now).await?.is_some() {}
        let last = self
            .latest()
            .await?
            .ok_or_else(|| LogError::Inconsistent("no checkpoint after the handover".into()))?;
        if indices.first().map(|i| i + 1) != Some(last.size) {
            return Err(LogError::Inconsistent(
                "entries were appended during the rotation: stop every instance first".into(),
            ));
        }
        let root: super::Hash = last
            .root
            .as_slice()
            .try_into()
            .map_err(|_| LogError::Inconsistent("stored root is not 32 bytes".into()))?;
        let successor = TransparencyLog::new(self.store.clone(), signer.clone(), origin.into())?;
        let note = successor.sign(&Checkpoint::new(origin, last.size, root)?)?;
        let previous = Shard {
            origin: self.origin.clone(),
            vkey: self.verifier.to_key_string(),
            end: last.size,
            final_checkpoint: last.note,
            handover_entry: B64.encode(&entry),
        };
        let mut shards = ended_shards(self.store.as_ref()).await?;
        let first = shards.is_empty();
        shards.push(previous.clone());
        let shards = serde_json::to_vec(&shards)
            .map_err(|e| LogError::Inconsistent(format!("{META_LOG_SHARDS}: {e}")))?;
        let shards = if first {
            Change::InsertMeta {
                key: META_LOG_SHARDS.into(),
                value: shards,
            }
        } else {
            Change::SetMeta {
                key: META_LOG_SHARDS.into(),
                value: shards,
            }
        };
        let switch = WriteSet::new()
            .change(Change::SetCheckpointNote {
                size: last.size,
                root: last.root.clone(),
                note,
            })
            .change(Change::SetMeta {
                key: META_LOG_KEY.into(),
                value: signer.key_id().as_bytes().to_vec(),
            })
            .change(Change::SetMeta {
                key: META_LOG_ORIGIN.into(),
                value: origin.as_bytes().to_vec(),
            })
            .change(shards);
        self.store.apply(switch).await?;
        Ok(Rotated {
            previous,
            origin: origin.to_owned(),
            vkey: next.to_key_string(),
        })
    }
}
