//! Log proof parameters (`/api/v1/log/proof/inclusion?index&size`, `…/consistency?from&to`):
//! arbitrary sizes against the installation's log, and the RFC 9162 proof code against an
//! in-memory tree: every proof made must verify, and a proof with one bit changed must not.
#![no_main]

#[path = "../common/mod.rs"]
mod common;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use trustd::log::merkle::{
    consistency_ranges, inclusion_ranges, leaf_hash, verify_consistency, verify_inclusion,
    MemoryTree,
};

const LEAVES: u64 = 300;

fn tree() -> &'static MemoryTree {
    static T: OnceLock<MemoryTree> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = MemoryTree::new();
        for i in 0..LEAVES {
            t.push(leaf_hash(&i.to_be_bytes()));
        }
        t
    })
}

/// The proof with one bit changed (picked by `flip`), unless it is empty.
fn flipped(proof: &[[u8; 32]], flip: u8) -> Option<Vec<[u8; 32]>> {
    if proof.is_empty() {
        return None;
    }
    let mut bad = proof.to_vec();
    let n = usize::from(flip) % bad.len();
    bad[n][usize::from(flip) % 32] ^= 1;
    Some(bad)
}

fn u64_at(data: &[u8], i: usize) -> u64 {
    let mut b = [0u8; 8];
    for (k, x) in data.iter().skip(i * 8).take(8).enumerate() {
        b[k] = *x;
    }
    u64::from_le_bytes(b)
}

fuzz_target!(|data: &[u8]| {
    let (a, b) = (u64_at(data, 0), u64_at(data, 1));
    let flip = data.get(16).copied().unwrap_or(0);
    // The parameters as the HTTP layer parses them, then the installation's log.
    let text = String::from_utf8_lossy(data);
    let _ = trustd::http::params::require_u64("index", Some(&text));
    let inst = common::installation();
    let _ = inst.rt.block_on(inst.ctx.log.inclusion_proof(a, b));
    let _ = inst.rt.block_on(inst.ctx.log.consistency_proof(a, b));
    let _ = inclusion_ranges(a, b);
    let _ = consistency_ranges(a, b);

    let t = tree();
    let (size, index) = (b % (LEAVES + 1), a % (LEAVES + 1));
    if let Some(proof) = t.inclusion_proof(index, size) {
        let leaf = leaf_hash(&index.to_be_bytes());
        let root = t.root(size);
        assert!(verify_inclusion(index, size, &leaf, &proof, &root).is_ok());
        if let Some(bad) = flipped(&proof, flip) {
            assert!(verify_inclusion(index, size, &leaf, &bad, &root).is_err());
        }
    }
    let (old, new) = (index.min(size), index.max(size));
    if let Some(proof) = t.consistency_proof(old, new) {
        let (r1, r2) = (t.root(old), t.root(new));
        if old > 0 {
            assert!(verify_consistency(old, new, &r1, &r2, &proof).is_ok());
            if let Some(bad) = flipped(&proof, flip) {
                assert!(verify_consistency(old, new, &r1, &r2, &bad).is_err());
            }
        }
    }
    // Arbitrary proofs against the real roots never verify by accident.
    let hashes: Vec<[u8; 32]> = data[data.len().min(17)..]
        .chunks_exact(32)
        .map(|c| c.try_into().unwrap_or([0; 32]))
        .collect();
    if size > 0 && index < size {
        let _ = verify_inclusion(index, size, &leaf_hash(b"x"), &hashes, &t.root(size));
    }
    let _ = verify_consistency(old, new, &t.root(old), &t.root(new), &hashes);
});
