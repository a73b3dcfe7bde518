//! The issuance log (ARCHITECTURE.md §8): entries are appended in the writing transaction (see
//! [`crate::store::Repository::apply`], which assigns the final index there: simple, and the
//! index in a response is final; it serialises writers on one counter row, so slow work such
//! as signing stays outside that transaction). An integrator then stores the new complete
//! subtree hashes and signs a checkpoint, at most a fraction of a second later.

pub mod checkpoint;
pub mod cosign;
pub mod entry;
pub mod merkle;
pub mod proof;
pub mod shards;
pub mod tiles;
mod upper;
pub mod witnesses;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use time::OffsetDateTime;

use crate::cache::ImmutableCache;
use crate::keys::{KeyError, Signer};
use crate::store::{CheckpointRecord, NodeId, Repository, StoreError};
use checkpoint::{Checkpoint, CheckpointError, NoteVerifier};
use merkle::{fold_range, frontier_nodes, new_complete_nodes, Hash, LeafRange};
use proof::TlogProof;
use tiles::{TileKind, TilePath};
use upper::UpperLevels;
use witnesses::WitnessPolicy;

pub use entry::{Event, EventType};

/// Meta key of the log key's id and of the checkpoint origin.
pub const META_LOG_KEY: &str = "log_key_id";
pub const META_LOG_ORIGIN: &str = "log_origin";

/// Most leaves integrated in one transaction.
const INTEGRATION_BATCH: u64 = 50_000;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{0}")]
    BadRequest(String),
    #[error("stored log data is inconsistent: {0}")]
    Inconsistent(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

/// The log service.
pub struct TransparencyLog {
    store: Arc<dyn Repository>,
    signer: Arc<dyn Signer>,
    verifier: NoteVerifier,
    origin: String,
    witnesses: WitnessPolicy,
    /// Hash tiles already served: their bytes never change (8 KiB each, at most 16 MiB).
    tiles: ImmutableCache<TilePath, Arc<Vec<u8>>>,
    published: std::sync::Mutex<Option<(std::time::Instant, Published)>>,
    /// The upper tree levels (immutable nodes) in memory.
    upper: UpperLevels,
    /// The largest integrated size seen: it only grows, so a proof for a size at most this
    /// needs no read of it.
    integrated: AtomicU64,
}

/// How long a read of the published checkpoint is reused.
const PUBLISHED_TTL: std::time::Duration = std::time::Duration::from_millis(250);

/// The checkpoint the log publishes, with the cosignatures it has.
#[derive(Debug, Clone)]
pub struct Published {
    pub size: u64,
    pub note: String,
    /// Whether a quorum of the configured witnesses cosigned it.
    pub witnessed: bool,
}

impl std::fmt::Debug for TransparencyLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransparencyLog")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// An inclusion proof as served.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InclusionProof {
    pub index: u64,
    pub size: u64,
    pub leaf_hash: String,
    pub hashes: Vec<String>,
}

/// A consistency proof as served.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConsistencyProof {
    pub from: u64,
    pub to: u64,
    pub hashes: Vec<String>,
}

impl TransparencyLog {
    pub fn new(
        store: Arc<dyn Repository>,
        signer: Arc<dyn Signer>,
        origin: String,
    ) -> Result<Self, LogError> {
        // The key name of the note is the origin, as in C2SP tlog-checkpoint logs.
        let verifier = NoteVerifier::new(&origin, signer.public_key())?;
        Ok(TransparencyLog {
            store,
            signer,
            verifier,
            origin,
            witnesses: WitnessPolicy::default(),
            tiles: ImmutableCache::new(2048),
            published: std::sync::Mutex::new(None),
            upper: UpperLevels::default(),
            integrated: AtomicU64::new(0),
        })
    }

    /// The log with the witnesses it asks to cosign its checkpoints.
    pub fn with_witnesses(mut self, witnesses: WitnessPolicy) -> Self {
        self.witnesses = witnesses;
        self
    }

    pub fn witness_policy(&self) -> &WitnessPolicy {
        &self.witnesses
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn store(&self) -> &dyn Repository {
        self.store.as_ref()
    }

    pub fn verifier(&self) -> &NoteVerifier {
        &self.verifier
    }

    /// The latest signed checkpoint note, if any.
    pub async fn latest(&self) -> Result<Option<CheckpointRecord>, LogError> {
        Ok(self.store.latest_checkpoint().await?)
    }

    /// Integrates committed entries not yet in the tree and signs a checkpoint for the new size.
    /// Returns the new checkpoint, or `None` when there was nothing to do or another instance
    /// integrated first.
    pub async fn integrate(
        &self,
        now: OffsetDateTime,
    ) -> Result<Option<CheckpointRecord>, LogError> {
        let from = self.store.integrated_size().await?;
        self.integrated.fetch_max(from, Ordering::Relaxed);
        let committed = self.store.log_size().await?;
        let previous = self.store.latest_checkpoint().await?;
        if committed == from && previous.is_some() {
            return Ok(None);
        }
        let to = committed.min(from + INTEGRATION_BATCH);
        let frontier_ids = frontier_nodes(from);
        let frontier = self.fetch(&frontier_ids).await?;
        let frontier: Vec<(NodeId, Hash)> = frontier_ids
            .iter()
            .map(|id| {
                frontier
                    .get(id)
                    .map(|h| (*id, *h))
                    .ok_or_else(|| LogError::Inconsistent(format!("missing node {id:?}")))
            })
            .collect::<Result<_, _>>()?;
        // The tree we extend must be the one the last checkpoint signed: then the new tree is
        // consistent with it by construction, and the log never signs two inconsistent heads.
        let old_root = root_of_frontier(&frontier);
        if let Some(prev) = &previous {
            if prev.size != from || prev.root != old_root {
                return Err(LogError::Inconsistent(
                    "stored tree does not match the last signed checkpoint".into(),
                ));
            }
        }
        let leaves = self.store.leaf_hashes(from, to).await?;
        if leaves.len() as u64 != to - from {
            return Err(LogError::Inconsistent(
                "entries missing from the log".into(),
            ));
        }
        let nodes = new_complete_nodes(from, &frontier, &leaves);
        let mut known: HashMap<NodeId, Hash> = frontier.iter().copied().collect();
        known.extend(nodes.iter().copied());
        for (i, leaf) in leaves.iter().enumerate() {
            known.insert(
                NodeId {
                    level: 0,
                    index: from + i as u64,
                },
                *leaf,
            );
        }
        let new_frontier: Vec<(NodeId, Hash)> = frontier_nodes(to)
            .into_iter()
            .map(|id| {
                known
                    .get(&id)
                    .map(|h| (id, *h))
                    .ok_or_else(|| LogError::Inconsistent(format!("missing node {id:?}")))
            })
            .collect::<Result<_, _>>()?;
        let root = root_of_frontier(&new_frontier);
        let note = self.sign(&Checkpoint::new(&self.origin, to, root)?)?;
        let record = CheckpointRecord {
            size: to,
            root: root.to_vec(),
            note,
            created_at: now.unix_timestamp(),
        };
        if self.store.store_integration(from, &nodes, &record).await? {
            self.integrated.fetch_max(to, Ordering::Relaxed);
            Ok(Some(record))
        } else {
            Ok(None)
        }
    }

    /// Test hook, not an API: signs a checkpoint of any size and root with the log key without
    /// checking that it extends the tree, as an operator forking the log could; tests use it to
    /// show that witnesses and `trustd audit` catch the fork.
    #[doc(hidden)]
    pub fn sign_any_checkpoint_for_tests(&self, size: u64, root: Hash) -> Result<String, LogError> {
        self.sign(&Checkpoint::new(&self.origin, size, root)?)
    }

    /// The checkpoint to publish: with witnesses configured, the latest one a quorum of them
    /// cosigned, with their cosignatures (`None` before the first: an unwitnessed one would be
    /// published only to be followed by a smaller witnessed one); without, the latest signed
    /// one. With witnesses, read at most every [`PUBLISHED_TTL`] (it is asked for on every
    /// public request, and finding the witnessed size is a grouping query).
    pub async fn published(&self) -> Result<Option<Published>, LogError> {
        if self.witnesses.is_empty() {
            // One indexed read, always fresh.
            return self.read_published().await;
        }
        if let Ok(guard) = self.published.lock() {
            if let Some((at, p)) = guard.as_ref() {
                if at.elapsed() < PUBLISHED_TTL {
                    return Ok(Some(p.clone()));
                }
            }
        }
        let published = self.read_published().await?;
        if let (Some(p), Ok(mut guard)) = (&published, self.published.lock()) {
            *guard = Some((std::time::Instant::now(), p.clone()));
        }
        Ok(published)
    }

    async fn read_published(&self) -> Result<Option<Published>, LogError> {
        if self.witnesses.is_empty() {
            return Ok(self.store.latest_checkpoint().await?.map(|r| Published {
                size: r.size,
                note: r.note,
                witnessed: false,
            }));
        }
        let ids = self.witnesses.ids();
        let Some(size) = self
            .store
            .witnessed_size(&ids, self.witnesses.quorum)
            .await?
        else {
            return Ok(None);
        };
        let record = self
            .store
            .checkpoint_at(size)
            .await?
            .ok_or_else(|| LogError::Inconsistent(format!("no checkpoint of size {size}")))?;
        let lines = self.store.cosignatures(size).await?;
        let mut note = record.note;
        for id in &ids {
            if let Some((_, line)) = lines.iter().find(|(w, _)| w == id) {
                note.push_str(line);
            }
        }
        Ok(Some(Published {
            size,
            note,
            witnessed: true,
        }))
    }

    /// A c2sp.org/tlog-proof of entry `index` in the published checkpoint, `None` while the
    /// entry is not in it yet. `extra` carries the entry when anyone may read it
    /// ([`entry::is_public`]; `licence`: the licence the caller named); otherwise the proof
    /// stands only beside the entry.
    pub async fn tlog_proof(
        &self,
        index: u64,
        licence: Option<&str>,
    ) -> Result<Option<TlogProof>, LogError> {
        let Some(published) = self.published().await? else {
            return Ok(None);
        };
        if index >= published.size {
            return Ok(None);
        }
        let ranges = merkle::inclusion_ranges(index, published.size)
            .ok_or_else(|| LogError::Inconsistent("inclusion ranges".into()))?;
        let hashes = self.range_hashes(&ranges).await?;
        let event = self
            .store
            .events(index, index + 1)
            .await?
            .pop()
            .ok_or_else(|| LogError::Inconsistent("entry missing".into()))?;
        Ok(Some(TlogProof {
            extra: entry::is_public(&event.entry, licence).then_some(event.entry),
            index,
            hashes,
            checkpoint: published.note,
        }))
    }

    /// A tile of the tree or an entry bundle (c2sp.org/tlog-tiles), `None` if the latest
    /// checkpoint does not hold all of it. Hash tiles are kept once read (they never change);
    /// entry bundles are read each time (larger, and for auditors only).
    pub async fn tile(&self, path: &TilePath) -> Result<Option<Arc<Vec<u8>>>, LogError> {
        match path.kind {
            TileKind::Entries => Ok(self.read_tile(path).await?.map(Arc::new)),
            TileKind::Hashes(_) => {
                self.tiles
                    .get_or_load(path, || async {
                        Ok::<_, LogError>(self.read_tile(path).await?.map(Arc::new))
                    })
                    .await
            }
        }
    }

    async fn read_tile(&self, path: &TilePath) -> Result<Option<Vec<u8>>, LogError> {
        let size = self.store.integrated_size().await?;
        let (Some((start, end)), Some(level)) = (path.range_in(size), path.tree_level()) else {
            return Ok(None);
        };
        let expected = (end - start) as usize;
        let out = match path.kind {
            TileKind::Entries => {
                let events = self.store.events(start, end).await?;
                if events.len() != expected {
                    return Err(LogError::Inconsistent("entries missing".into()));
                }
                tiles::entry_bundle(events.iter().map(|e| e.entry.as_slice()))
                    .ok_or_else(|| LogError::Inconsistent("an entry exceeds 64 KiB".into()))?
            }
            TileKind::Hashes(_) => {
                let hashes = if level == 0 {
                    self.store.leaf_hashes(start, end).await?
                } else {
                    self.store.node_range(level, start, end).await?
                };
                if hashes.len() != expected {
                    return Err(LogError::Inconsistent("tree nodes missing".into()));
                }
                hashes.concat()
            }
        };
        Ok(Some(out))
    }

    fn sign(&self, checkpoint: &Checkpoint) -> Result<String, LogError> {
        let body = checkpoint.body();
        let signature = self.signer.sign(body.as_bytes())?;
        Ok(format!(
            "{body}\n{}",
            self.verifier.signature_line(&signature)
        ))
    }

    /// The hashes of stored nodes: the upper levels from memory (read up to the integrated
    /// size when one is missing), the rest in one database read.
    async fn fetch(&self, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>, LogError> {
        let mut out = HashMap::with_capacity(ids.len());
        let mut missing = self.take_kept(ids, &mut out);
        if missing.iter().any(|id| UpperLevels::keeps(*id)) {
            let size = self.integrated.load(Ordering::Relaxed);
            self.upper.catch_up(self.store.as_ref(), size).await?;
            missing = self.take_kept(&missing, &mut out);
        }
        if !missing.is_empty() {
            out.extend(self.store.nodes(&missing).await?);
        }
        Ok(out)
    }

    /// Puts the kept nodes of `ids` in `out`; returns the others.
    fn take_kept(&self, ids: &[NodeId], out: &mut HashMap<NodeId, Hash>) -> Vec<NodeId> {
        let mut missing = Vec::new();
        for id in ids {
            match self.upper.get(*id) {
                Some(hash) => {
                    out.insert(*id, hash);
                }
                None => missing.push(*id),
            }
        }
        missing
    }

    async fn range_hashes(&self, ranges: &[LeafRange]) -> Result<Vec<Hash>, LogError> {
        let ids: Vec<NodeId> = ranges.iter().flat_map(|r| r.nodes()).collect();
        let known = self.fetch(&ids).await?;
        fold_ranges(ranges, &known)
    }

    /// Checks that a tree of `size` is integrated (read from the store only when `size` is
    /// beyond the largest integrated size seen).
    async fn checked_size(&self, size: u64) -> Result<(), LogError> {
        if size <= self.integrated.load(Ordering::Relaxed) {
            return Ok(());
        }
        let integrated = self.store.integrated_size().await?;
        self.integrated.fetch_max(integrated, Ordering::Relaxed);
        if size > integrated {
            return Err(LogError::BadRequest(format!(
                "tree size {size} is beyond the latest checkpoint ({integrated})"
            )));
        }
        Ok(())
    }

    /// RFC 9162 inclusion proof of entry `index` in the tree of `size` (≤ the checkpointed size).
    pub async fn inclusion_proof(&self, index: u64, size: u64) -> Result<InclusionProof, LogError> {
        self.checked_size(size).await?;
        let ranges = merkle::inclusion_ranges(index, size).ok_or_else(|| {
            LogError::BadRequest(format!("index {index} is not below size {size}"))
        })?;
        let leaf_id = NodeId { level: 0, index };
        let ids: Vec<NodeId> = std::iter::once(leaf_id)
            .chain(ranges.iter().flat_map(|r| r.nodes()))
            .collect();
        let known = self.fetch(&ids).await?;
        let leaf = known
            .get(&leaf_id)
            .ok_or_else(|| LogError::Inconsistent("leaf missing".into()))?;
        let hashes = fold_ranges(&ranges, &known)?;
        Ok(InclusionProof {
            index,
            size,
            leaf_hash: B64.encode(leaf),
            hashes: hashes.iter().map(|h| B64.encode(h)).collect(),
        })
    }

    /// RFC 9162 consistency proof between two tree sizes (1 ≤ from ≤ to ≤ checkpointed size).
    pub async fn consistency_proof(
        &self,
        from: u64,
        to: u64,
    ) -> Result<ConsistencyProof, LogError> {
        let hashes = self.consistency_hashes(from, to).await?;
        Ok(ConsistencyProof {
            from,
            to,
            hashes: hashes.iter().map(|h| B64.encode(h)).collect(),
        })
    }
}

impl TransparencyLog {
    /// The hashes of an RFC 9162 consistency proof (1 ≤ from ≤ to ≤ checkpointed size).
    pub async fn consistency_hashes(&self, from: u64, to: u64) -> Result<Vec<Hash>, LogError> {
        self.checked_size(to).await?;
        let ranges = merkle::consistency_ranges(from, to).ok_or_else(|| {
            LogError::BadRequest(format!(
                "sizes must satisfy 1 <= from ({from}) <= to ({to})"
            ))
        })?;
        self.range_hashes(&ranges).await
    }
}

/// The tree hash of each range from the hashes of its nodes.
fn fold_ranges(ranges: &[LeafRange], known: &HashMap<NodeId, Hash>) -> Result<Vec<Hash>, LogError> {
    ranges
        .iter()
        .map(|r| {
            let hashes: Vec<Hash> = r
                .nodes()
                .iter()
                .map(|id| known.get(id).copied())
                .collect::<Option<_>>()
                .ok_or_else(|| LogError::Inconsistent("proof node missing".into()))?;
            fold_range(&hashes).ok_or_else(|| LogError::Inconsistent("empty range".into()))
        })
        .collect()
}

/// Root of a tree from its right-edge complete subtrees (largest first).
fn root_of_frontier(frontier: &[(NodeId, Hash)]) -> Hash {
    let hashes: Vec<Hash> = frontier.iter().map(|(_, h)| *h).collect();
    fold_range(&hashes).unwrap_or_else(merkle::empty_root)
}
