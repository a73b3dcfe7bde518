//! The C2SP text formats trustd reads from strangers (issue 16): add-checkpoint bodies (the
//! witness), signed notes and cosignature lines, tile paths, tlog-proofs and witness lists.
//! Whatever parses must round-trip where a canonical form exists; nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trustd::log::checkpoint::{split_note, Checkpoint, NoteVerifier};
use trustd::log::cosign::{parse_cosigners, AddCheckpoint, CosignerKey};
use trustd::log::proof::{check_file, ProofPolicy, TlogProof};
use trustd::log::tiles::TilePath;
use trustd::log::witnesses::WitnessPolicy;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = AddCheckpoint::parse(data) {
        assert_eq!(AddCheckpoint::parse(req.to_body().as_bytes()).ok(), Some(req));
    }
    let text = String::from_utf8_lossy(data);
    if let Ok((body, _)) = split_note(&text) {
        let _ = Checkpoint::parse_body(body);
    }
    if let Some(tile) = TilePath::parse(&text) {
        assert_eq!(TilePath::parse(&tile.to_path()), Some(tile));
        let _ = tile.range_in(u64::MAX);
    }
    let _ = CosignerKey::parse(&text);
    let _ = NoteVerifier::parse(&text);
    let _ = parse_cosigners(&text);
    let _ = WitnessPolicy::parse(&text, None);
    if let Ok(proof) = TlogProof::parse(&text) {
        let key = NoteVerifier::new("example.org/log", &[1u8; 32]).unwrap();
        let witness = CosignerKey::new("example.org/w", &[2u8; 32]).unwrap();
        let policy = ProofPolicy {
            log: key,
            witnesses: vec![witness.clone()],
            quorum: 1,
        };
        // No key here signs anything: no proof may pass.
        assert!(check_file(&proof, data, &policy).is_err());
        let _ = witness.cosigned_at(&proof.checkpoint);
    }
});
