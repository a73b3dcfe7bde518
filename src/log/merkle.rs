//! RFC 9162 §2.1 Merkle trees (same hashing as RFC 6962).
//!
//! Proofs are planned as lists of *ranges* of leaves whose tree hashes form the proof; every
//! range is an aligned run of complete subtrees ([`NodeId`]), so a proof for any size needs
//! O(log n) stored node hashes, fetched in one query. Verification follows the RFC's
//! algorithms (§2.1.3.2, §2.1.4.2) step by step.

use ring::digest::{Context, SHA256};

use crate::store::NodeId;

pub type Hash = [u8; 32];

/// Leaf hash: SHA-256(0x00 ‖ entry).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut ctx = Context::new(&SHA256);
    ctx.update(&[0x00]);
    ctx.update(entry);
    digest32(ctx)
}

/// Interior node hash: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut ctx = Context::new(&SHA256);
    ctx.update(&[0x01]);
    ctx.update(left);
    ctx.update(right);
    digest32(ctx)
}

fn digest32(ctx: Context) -> Hash {
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// Hash of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    digest32(Context::new(&SHA256))
}

/// Largest power of two strictly smaller than `n` (n ≥ 2).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// A range of leaves `[start, end)` whose tree hash MTH(D[start:end]) is part of a proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeafRange {
    pub start: u64,
    pub end: u64,
}

impl LeafRange {
    /// The complete subtrees, largest first, whose fold is this range's tree hash:
    /// MTH = H(N1, H(N2, … Nk)). Valid for the aligned ranges that proofs use.
    pub fn nodes(self) -> Vec<NodeId> {
        let mut out = Vec::new();
        let mut start = self.start;
        let mut remaining = self.end - self.start;
        while remaining > 0 {
            let level = 63 - remaining.leading_zeros();
            let width = 1u64 << level;
            out.push(NodeId {
                level: level as u8,
                index: start >> level,
            });
            start += width;
            remaining -= width;
        }
        out
    }
}

/// Folds the hashes of a range's nodes (in [`LeafRange::nodes`] order) into its tree hash.
pub fn fold_range(hashes: &[Hash]) -> Option<Hash> {
    let (last, rest) = hashes.split_last()?;
    Some(rest.iter().rev().fold(*last, |acc, h| node_hash(h, &acc)))
}

/// The ranges of an inclusion proof for leaf `index` in a tree of `size` (RFC 9162 §2.1.3.1),
/// in proof order. `None` when `index >= size`.
pub fn inclusion_ranges(index: u64, size: u64) -> Option<Vec<LeafRange>> {
    if index >= size {
        return None;
    }
    let mut out = Vec::new();
    path(index, 0, size, &mut out);
    Some(out)
}

fn path(m: u64, start: u64, end: u64, out: &mut Vec<LeafRange>) {
    let n = end - start;
    if n <= 1 {
        return;
    }
    let k = split_point(n);
    if m < k {
        path(m, start, start + k, out);
        out.push(LeafRange {
            start: start + k,
            end,
        });
    } else {
        path(m - k, start + k, end, out);
        out.push(LeafRange {
            start,
            end: start + k,
        });
    }
}

/// The ranges of a consistency proof between sizes `old` and `new` (RFC 9162 §2.1.4.1).
/// `None` unless `1 <= old <= new`.
pub fn consistency_ranges(old: u64, new: u64) -> Option<Vec<LeafRange>> {
    if old == 0 || old > new {
        return None;
    }
    let mut out = Vec::new();
    subproof(old, 0, new, true, &mut out);
    Some(out)
}

fn subproof(m: u64, start: u64, end: u64, complete: bool, out: &mut Vec<LeafRange>) {
    let n = end - start;
    if m == n {
        if !complete {
            out.push(LeafRange { start, end });
        }
        return;
    }
    let k = split_point(n);
    if m <= k {
        subproof(m, start, start + k, complete, out);
        out.push(LeafRange {
            start: start + k,
            end,
        });
    } else {
        subproof(m - k, start + k, end, false, out);
        out.push(LeafRange {
            start,
            end: start + k,
        });
    }
}

/// Why an inclusion proof was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InclusionError {
    #[error("index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("proof has {0} hashes too many")]
    TooLong(usize),
    #[error("proof is too short")]
    TooShort,
    #[error("computed root does not match")]
    RootMismatch,
}

/// Why a consistency proof was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsistencyError {
    #[error("sizes must satisfy 1 <= old ({old}) <= new ({new})")]
    BadSizes { old: u64, new: u64 },
    #[error("proof must be empty for equal sizes")]
    NotEmpty,
    #[error("proof is empty")]
    Empty,
    #[error("proof has hashes too many")]
    TooLong,
    #[error("proof is too short")]
    TooShort,
    #[error("old root does not match")]
    OldRootMismatch,
    #[error("new root does not match")]
    NewRootMismatch,
}

/// RFC 9162 §2.1.3.2.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), InclusionError> {
    if index >= size {
        return Err(InclusionError::IndexOutOfRange { index, size });
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for (i, p) in proof.iter().enumerate() {
        if s == 0 {
            return Err(InclusionError::TooLong(proof.len() - i));
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(InclusionError::TooShort);
    }
    if &r != root {
        return Err(InclusionError::RootMismatch);
    }
    Ok(())
}

/// RFC 9162 §2.1.4.2.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ConsistencyError> {
    if old == 0 || old > new {
        return Err(ConsistencyError::BadSizes { old, new });
    }
    if old == new {
        if !proof.is_empty() {
            return Err(ConsistencyError::NotEmpty);
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ConsistencyError::NewRootMismatch)
        };
    }
    if proof.is_empty() {
        return Err(ConsistencyError::Empty);
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut f, mut s) = (old - 1, new - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if s == 0 {
            return Err(ConsistencyError::TooLong);
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ConsistencyError::TooShort);
    }
    if &fr != old_root {
        return Err(ConsistencyError::OldRootMismatch);
    }
    if &sr != new_root {
        return Err(ConsistencyError::NewRootMismatch);
    }
    Ok(())
}

/// An in-memory tree of leaf hashes: the reference for tests and for `trustd audit`, which
/// recomputes everything from the entries it fetched.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    leaves: Vec<Hash>,
}

impl MemoryTree {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn push(&mut self, leaf: Hash) {
        self.leaves.push(leaf);
    }
    pub fn len(&self) -> u64 {
        self.leaves.len() as u64
    }
    pub fn is_empty(&self) -> bool {
        self.leaves.is_empty()
    }

    /// MTH(D[start:end]) computed from the leaves.
    pub fn range_hash(&self, start: u64, end: u64) -> Hash {
        let n = end - start;
        match n {
            0 => empty_root(),
            1 => self.leaves[start as usize],
            _ => {
                let k = split_point(n);
                node_hash(
                    &self.range_hash(start, start + k),
                    &self.range_hash(start + k, end),
                )
            }
        }
    }

    pub fn root(&self, size: u64) -> Hash {
        self.range_hash(0, size)
    }

    pub fn inclusion_proof(&self, index: u64, size: u64) -> Option<Vec<Hash>> {
        Some(
            inclusion_ranges(index, size)?
                .into_iter()
                .map(|r| self.range_hash(r.start, r.end))
                .collect(),
        )
    }

    pub fn consistency_proof(&self, old: u64, new: u64) -> Option<Vec<Hash>> {
        Some(
            consistency_ranges(old, new)?
                .into_iter()
                .map(|r| self.range_hash(r.start, r.end))
                .collect(),
        )
    }
}

/// Complete-subtree hashes that become complete when leaves `from..to` are appended, given the
/// hashes of the complete subtrees already on the right edge (`frontier`, from
/// [`frontier_nodes`]) and the new leaf hashes. Returns nodes of level ≥ 1.
pub fn new_complete_nodes(
    from: u64,
    frontier: &[(NodeId, Hash)],
    new_leaves: &[Hash],
) -> Vec<(NodeId, Hash)> {
    // Stack of complete subtrees on the right edge, as (level, index, hash), largest first.
    let mut stack: Vec<(u8, u64, Hash)> = frontier
        .iter()
        .map(|(id, h)| (id.level, id.index, *h))
        .collect();
    let mut out = Vec::new();
    for (i, leaf) in new_leaves.iter().enumerate() {
        let mut node = (0u8, from + i as u64, *leaf);
        while let Some(&(level, index, hash)) = stack.last() {
            if level != node.0 {
                break;
            }
            stack.pop();
            node = (level + 1, index >> 1, node_hash(&hash, &node.2));
            out.push((
                NodeId {
                    level: node.0,
                    index: node.1,
                },
                node.2,
            ));
        }
        stack.push(node);
    }
    out
}

/// The complete subtrees on the right edge of a tree of `size` leaves, largest first: one per
/// set bit of `size`.
pub fn frontier_nodes(size: u64) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut start = 0u64;
    for level in (0..64u8).rev() {
        let width = 1u64 << level;
        if size & width != 0 {
            out.push(NodeId {
                level,
                index: start >> level,
            });
            start += width;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Hash {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    /// The leaves of the RFC 6962 reference test vectors (certificate-transparency merkle tests).
    fn rfc6962_tree() -> MemoryTree {
        let leaves: [&[u8]; 8] = [
            b"",
            b"\x00",
            b"\x10",
            b"\x20\x21",
            b"\x30\x31",
            b"\x40\x41\x42\x43",
            b"\x50\x51\x52\x53\x54\x55\x56\x57",
            b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
        ];
        let mut t = MemoryTree::new();
        for l in leaves {
            t.push(leaf_hash(l));
        }
        t
    }

    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    #[test]
    fn known_roots() {
        let t = rfc6962_tree();
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        for (i, root) in ROOTS.iter().enumerate() {
            assert_eq!(t.root(i as u64 + 1), h(root), "size {}", i + 1);
        }
    }

    #[test]
    fn known_inclusion_proofs() {
        let t = rfc6962_tree();
        let cases: &[(u64, u64, &[&str])] = &[
            (0, 1, &[]),
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                3,
                &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
            ),
            (
                1,
                5,
                &[
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (index, size, expected) in cases {
            let proof = t.inclusion_proof(*index, *size).unwrap();
            let expected: Vec<Hash> = expected.iter().map(|s| h(s)).collect();
            assert_eq!(proof, expected, "index {index} size {size}");
            let leaf = t.range_hash(*index, index + 1);
            verify_inclusion(*index, *size, &leaf, &proof, &t.root(*size)).unwrap();
        }
    }

    #[test]
    fn known_consistency_proofs() {
        let t = rfc6962_tree();
        let cases: &[(u64, u64, &[&str])] = &[
            (1, 1, &[]),
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (old, new, expected) in cases {
            let proof = t.consistency_proof(*old, *new).unwrap();
            let expected: Vec<Hash> = expected.iter().map(|s| h(s)).collect();
            assert_eq!(proof, expected, "{old} -> {new}");
            verify_consistency(*old, *new, &t.root(*old), &t.root(*new), &proof).unwrap();
        }
    }

    /// Deterministic pseudo-random leaves (no RNG crate needed for reproducible tests).
    fn tree_of(n: u64) -> MemoryTree {
        let mut t = MemoryTree::new();
        for i in 0..n {
            t.push(leaf_hash(&i.to_be_bytes()));
        }
        t
    }

    #[test]
    fn every_inclusion_proof_round_trips_and_rejects_changes() {
        let t = tree_of(300);
        for size in 1..=300u64 {
            let root = t.root(size);
            // Every index for small trees, a spread of indices for larger ones.
            let step = if size <= 64 { 1 } else { 7 };
            for index in (0..size).step_by(step).chain([size - 1]) {
                let leaf = t.range_hash(index, index + 1);
                let proof = t.inclusion_proof(index, size).unwrap();
                verify_inclusion(index, size, &leaf, &proof, &root).unwrap();
                // Wrong leaf, wrong index, short, long and altered proofs fail.
                let other = leaf_hash(b"not a leaf");
                assert!(verify_inclusion(index, size, &other, &proof, &root).is_err());
                if size > 1 {
                    let wrong_index = (index + 1) % size;
                    assert!(verify_inclusion(wrong_index, size, &leaf, &proof, &root).is_err());
                }
                if !proof.is_empty() {
                    assert!(
                        verify_inclusion(index, size, &leaf, &proof[..proof.len() - 1], &root)
                            .is_err()
                    );
                    let mut altered = proof.clone();
                    altered[0][0] ^= 1;
                    assert!(verify_inclusion(index, size, &leaf, &altered, &root).is_err());
                }
                let mut long = proof.clone();
                long.push(root);
                assert!(verify_inclusion(index, size, &leaf, &long, &root).is_err());
                assert!(verify_inclusion(size, size, &leaf, &proof, &root).is_err());
            }
        }
    }

    #[test]
    fn every_consistency_proof_round_trips_and_rejects_changes() {
        let t = tree_of(300);
        for new in 1..=300u64 {
            let new_root = t.root(new);
            let step = if new <= 64 { 1 } else { 5 };
            for old in (1..=new).step_by(step).chain([new]) {
                let old_root = t.root(old);
                let proof = t.consistency_proof(old, new).unwrap();
                verify_consistency(old, new, &old_root, &new_root, &proof).unwrap();
                let wrong = leaf_hash(b"x");
                assert!(verify_consistency(old, new, &wrong, &new_root, &proof).is_err());
                assert!(verify_consistency(old, new, &old_root, &wrong, &proof).is_err());
                if !proof.is_empty() {
                    assert!(verify_consistency(
                        old,
                        new,
                        &old_root,
                        &new_root,
                        &proof[..proof.len() - 1]
                    )
                    .is_err());
                    let mut altered = proof.clone();
                    let last = altered.len() - 1;
                    altered[last][5] ^= 0x80;
                    assert!(verify_consistency(old, new, &old_root, &new_root, &altered).is_err());
                }
                let mut long = proof.clone();
                long.push(new_root);
                assert!(verify_consistency(old, new, &old_root, &new_root, &long).is_err());
            }
        }
        assert!(consistency_ranges(0, 5).is_none());
        assert!(consistency_ranges(6, 5).is_none());
    }

    #[test]
    fn ranges_decompose_into_stored_nodes() {
        let t = tree_of(300);
        for size in 1..=300u64 {
            for index in [0, size / 3, size - 1] {
                for r in inclusion_ranges(index, size).unwrap() {
                    let hashes: Vec<Hash> = r
                        .nodes()
                        .iter()
                        .map(|n| t.range_hash(n.index << n.level, (n.index + 1) << n.level))
                        .collect();
                    assert_eq!(fold_range(&hashes).unwrap(), t.range_hash(r.start, r.end));
                }
            }
        }
    }

    #[test]
    fn incremental_nodes_match_the_tree() {
        let t = tree_of(300);
        let mut stored: std::collections::HashMap<NodeId, Hash> = Default::default();
        let mut size = 0u64;
        for batch in [1u64, 2, 3, 10, 1, 64, 100, 119] {
            let frontier: Vec<(NodeId, Hash)> = frontier_nodes(size)
                .into_iter()
                .map(|n| {
                    let h = if n.level == 0 {
                        t.range_hash(n.index, n.index + 1)
                    } else {
                        stored[&n]
                    };
                    (n, h)
                })
                .collect();
            let leaves: Vec<Hash> = (size..size + batch)
                .map(|i| t.range_hash(i, i + 1))
                .collect();
            for (id, hash) in new_complete_nodes(size, &frontier, &leaves) {
                assert_eq!(
                    hash,
                    t.range_hash(id.index << id.level, (id.index + 1) << id.level)
                );
                stored.insert(id, hash);
            }
            size += batch;
        }
        assert_eq!(size, 300);
        // Every complete subtree of level >= 1 within 300 leaves was produced exactly once.
        let expected: usize = (1..9).map(|l| (300u64 >> l) as usize).sum();
        assert_eq!(stored.len(), expected);
    }
}
