//! The upper levels of the Merkle tree kept in memory, so that a proof reads only the few nodes
//! near its leaf from the database (ARCHITECTURE.md §8).
//!
//! A stored node is the hash of a complete subtree: once written it never changes, so a copy
//! can be kept without ever being invalidated. Level `l` of a tree of `size` leaves holds the
//! nodes `0 .. size >> l`, a dense run, so each level is a vector indexed by node index.
//! Levels below [`LOWEST`] are left to the database (they are most of the tree: level 8 and up
//! is 1/128 of the nodes, 2.4 MiB at 10,000,000 entries), and so is any level with more than
//! [`MOST_PER_LEVEL`] nodes, which bounds the memory at 64 MiB whatever the log's size.

use std::sync::RwLock;

use crate::store::{NodeId, Repository, StoreError};

use super::merkle::Hash;

/// Lowest level kept.
pub const LOWEST: u8 = 8;
/// Most nodes kept of one level (32 MiB of hashes).
const MOST_PER_LEVEL: u64 = 1 << 20;
/// Levels in a tree of fewer than 2^64 leaves.
const LEVELS: usize = 64;

/// The kept levels; level `l` is `levels[l]` (empty below [`LOWEST`]).
pub struct UpperLevels {
    levels: RwLock<Vec<Vec<Hash>>>,
}

impl Default for UpperLevels {
    fn default() -> Self {
        UpperLevels {
            levels: RwLock::new(vec![Vec::new(); LEVELS]),
        }
    }
}

impl UpperLevels {
    /// The kept hash of a node, if it is kept.
    pub fn get(&self, id: NodeId) -> Option<Hash> {
        if id.level < LOWEST {
            return None;
        }
        let levels = self.levels.read().ok()?;
        let index = usize::try_from(id.index).ok()?;
        levels.get(usize::from(id.level))?.get(index).copied()
    }

    /// Whether a node is one this cache would keep.
    pub fn keeps(id: NodeId) -> bool {
        id.level >= LOWEST && usize::from(id.level) < LEVELS && id.index < MOST_PER_LEVEL
    }

    /// Reads from the store the nodes of a tree of `size` leaves not kept yet (one range read
    /// per level that grew). Two callers may read the same range; only the first extends.
    pub async fn catch_up(&self, store: &dyn Repository, size: u64) -> Result<(), StoreError> {
        for level in LOWEST..LEVELS as u8 {
            let want = size >> level;
            if want == 0 {
                break;
            }
            if want > MOST_PER_LEVEL {
                continue;
            }
            let have = self.len(level);
            if have >= want {
                continue;
            }
            let hashes = store.node_range(level, have, want).await?;
            if hashes.len() as u64 != want - have {
                // Not all stored yet (another instance is integrating): read them next time.
                continue;
            }
            if let Ok(mut levels) = self.levels.write() {
                if let Some(kept) = levels.get_mut(usize::from(level)) {
                    if kept.len() as u64 == have {
                        kept.extend(hashes);
                    }
                }
            }
        }
        Ok(())
    }

    fn len(&self, level: u8) -> u64 {
        self.levels
            .read()
            .ok()
            .and_then(|levels| levels.get(usize::from(level)).map(|l| l.len() as u64))
            .unwrap_or(0)
    }
}
