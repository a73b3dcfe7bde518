//! Offline proofs of logging (c2sp.org/tlog-proof@v1):
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64 of the log entry>        (trustd: the entry, when it is public)
//! index <n>
//! <base64 inclusion proof hash>…
//!
//! <the checkpoint, verbatim, with the log's signature and the witnesses' cosignatures>
//! ```
//!
//! Verifying needs no network: the log's key, the witnesses' keys and a quorum, and the entry
//! (from `extra`, which is not trusted by itself: its leaf hash must be proven included).

use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use base64::Engine;

use super::checkpoint::{Checkpoint, CheckpointError, NoteVerifier};
use super::cosign::{cosigned_by, parse_decimal, CosignerKey};
use super::merkle::{leaf_hash, verify_inclusion, Hash, InclusionError};

const HEADER: &str = "c2sp.org/tlog-proof@v1";
/// Most proof hashes: an inclusion proof in a tree of fewer than 2^64 leaves.
const MAX_HASHES: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("not a c2sp.org/tlog-proof@v1 proof: {0}")]
    Malformed(&'static str),
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    #[error("witnessed by {found} of the trusted witnesses, the policy needs {needed}")]
    NotWitnessed { found: usize, needed: usize },
    #[error("the proof carries no entry: give the entry to check it against")]
    NoEntry,
    #[error("inclusion: {0}")]
    Inclusion(#[from] InclusionError),
    #[error("the logged entry is not about this file: {0}")]
    NotAbout(String),
}

/// A parsed proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    pub extra: Option<Vec<u8>>,
    pub index: u64,
    pub hashes: Vec<Hash>,
    pub checkpoint: String,
}

impl TlogProof {
    pub fn to_text(&self) -> String {
        let mut out = format!("{HEADER}\n");
        if let Some(extra) = &self.extra {
            out.push_str(&format!("extra {}\n", B64.encode(extra)));
        }
        out.push_str(&format!("index {}\n", self.index));
        for h in &self.hashes {
            out.push_str(&B64.encode(h));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }

    pub fn parse(text: &str) -> Result<Self, ProofError> {
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or(ProofError::Malformed("no empty line before the checkpoint"))?;
        let mut lines = head.split('\n').peekable();
        if lines.next() != Some(HEADER) {
            return Err(ProofError::Malformed("first line"));
        }
        let extra = match lines.peek().and_then(|l| l.strip_prefix("extra ")) {
            Some(b64) => {
                let bytes = B64
                    .decode(b64)
                    .map_err(|_| ProofError::Malformed("extra is not base64"))?;
                lines.next();
                Some(bytes)
            }
            None => None,
        };
        let index = lines
            .next()
            .and_then(|l| l.strip_prefix("index "))
            .and_then(parse_decimal)
            .ok_or(ProofError::Malformed("index line"))?;
        let hashes = lines
            .map(|l| {
                B64.decode(l)
                    .ok()
                    .and_then(|h| Hash::try_from(h.as_slice()).ok())
                    .ok_or(ProofError::Malformed("a proof line is not one base64 hash"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if hashes.len() > MAX_HASHES {
            return Err(ProofError::Malformed("too many proof hashes"));
        }
        Ok(TlogProof {
            extra,
            index,
            hashes,
            checkpoint: checkpoint.to_owned(),
        })
    }
}

/// Whose signatures a proof must carry.
#[derive(Debug, Clone)]
pub struct ProofPolicy {
    pub log: NoteVerifier,
    pub witnesses: Vec<CosignerKey>,
    /// Valid cosignatures needed from `witnesses`.
    pub quorum: usize,
}

/// What a verified proof shows.
#[derive(Debug, Clone)]
pub struct Verified {
    pub checkpoint: Checkpoint,
    pub witnessed_by: Vec<String>,
    /// The proven entry: `entry` if given, else the proof's `extra`.
    pub entry: Vec<u8>,
}

/// Checks the log's signature, the quorum of cosignatures and the inclusion of `entry` (or,
/// without it, of the proof's `extra`) at the proof's index.
pub fn verify(
    proof: &TlogProof,
    entry: Option<&[u8]>,
    policy: &ProofPolicy,
) -> Result<Verified, ProofError> {
    // tlog-proof step 2: the origin must be the log's (its key name), not only its key.
    let checkpoint = policy
        .log
        .verify(&proof.checkpoint, Some(policy.log.name()))?;
    let witnessed_by: Vec<String> = cosigned_by(&proof.checkpoint, &policy.witnesses)
        .into_iter()
        .map(|c| c.name().to_owned())
        .collect();
    if witnessed_by.len() < policy.quorum {
        return Err(ProofError::NotWitnessed {
            found: witnessed_by.len(),
            needed: policy.quorum,
        });
    }
    let entry = entry
        .map(<[u8]>::to_vec)
        .or_else(|| proof.extra.clone())
        .ok_or(ProofError::NoEntry)?;
    verify_inclusion(
        proof.index,
        checkpoint.size(),
        &leaf_hash(&entry),
        &proof.hashes,
        checkpoint.root(),
    )?;
    Ok(Verified {
        checkpoint,
        witnessed_by,
        entry,
    })
}

/// What a verified proof of logging says about a file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoggedFile {
    pub index: u64,
    pub log: String,
    pub checkpoint_size: u64,
    pub witnessed_by: Vec<String>,
    pub event_type: String,
    /// The entry's member that holds the file's SHA-256.
    pub bound_by: &'static str,
}

/// Verifies `proof` and that its entry logged `file`: a stamping whose output is the file (PDF
/// or OFD), or the issuance of the licence whose token (JWS, or the SD-JWT's signed part) the
/// file holds.
pub fn check_file(
    proof: &TlogProof,
    file: &[u8],
    policy: &ProofPolicy,
) -> Result<LoggedFile, ProofError> {
    let verified = verify(proof, None, policy)?;
    let entry: serde_json::Value = serde_json::from_slice(&verified.entry)
        .map_err(|_| ProofError::NotAbout("the entry is not JSON".into()))?;
    let event_type = entry["type"].as_str().unwrap_or_default().to_owned();
    let data = &entry["data"];
    let bound_by = match event_type.as_str() {
        "document.stamped" => {
            (data["output_sha256"].as_str() == Some(&sha256_hex(file))).then_some("output_sha256")
        }
        "licence.issued" => std::str::from_utf8(file)
            .ok()
            .and_then(|text| licence_binding(data, text.trim())),
        other => {
            return Err(ProofError::NotAbout(format!(
                "a {other:?} entry logs no document or licence"
            )))
        }
    }
    .ok_or_else(|| {
        ProofError::NotAbout(format!(
            "the {event_type} entry holds another file's SHA-256"
        ))
    })?;
    Ok(LoggedFile {
        index: proof.index,
        log: verified.checkpoint.origin().to_owned(),
        checkpoint_size: verified.checkpoint.size(),
        witnessed_by: verified.witnessed_by,
        event_type,
        bound_by,
    })
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

/// How a licence token file is bound to a `licence.issued` entry: the whole compact JWS
/// (`token_sha256`), or an SD-JWT whose issuer-signed part is the logged one (`sd_jwt_sha256`)
/// and whose every disclosure is one that part (or another of its disclosures) lists: a
/// disclosure added by someone else is refused. An SD-JWT with key binding is not taken.
fn licence_binding(data: &serde_json::Value, text: &str) -> Option<&'static str> {
    if data["token_sha256"].as_str() == Some(&sha256_hex(text.as_bytes())) {
        return Some("token_sha256");
    }
    let (jwt, rest) = text.split_once('~')?;
    if data["sd_jwt_sha256"].as_str() != Some(&sha256_hex(jwt.as_bytes())) {
        return None;
    }
    let parts: Vec<&str> = rest.split('~').collect();
    let (key_binding, disclosures) = parts.split_last()?;
    if !key_binding.is_empty() {
        return None;
    }
    let mut listed = std::collections::HashSet::new();
    let payload = jwt.split('.').nth(1)?;
    let claims: serde_json::Value = serde_json::from_slice(&B64URL.decode(payload).ok()?).ok()?;
    if claims.get("_sd_alg").is_some_and(|a| a != "sha-256") {
        return None;
    }
    sd_digests(&claims, &mut listed);
    for d in disclosures {
        let decoded: serde_json::Value = serde_json::from_slice(&B64URL.decode(d).ok()?).ok()?;
        sd_digests(&decoded, &mut listed);
    }
    disclosures
        .iter()
        .all(|d| {
            let digest = ring::digest::digest(&ring::digest::SHA256, d.as_bytes());
            listed.contains(&B64URL.encode(digest))
        })
        .then_some("sd_jwt_sha256")
}

/// The digests an SD-JWT payload (or a disclosure) lists: `_sd` arrays and `{"...": d}`
/// array elements (RFC 9901 §4.2).
fn sd_digests(value: &serde_json::Value, out: &mut std::collections::HashSet<String>) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::Array(list)) = map.get("_sd") {
                out.extend(list.iter().filter_map(|d| d.as_str().map(str::to_owned)));
            }
            if let Some(d) = map.get("...").and_then(|d| d.as_str()) {
                out.insert(d.to_owned());
            }
            map.values().for_each(|v| sd_digests(v, out));
        }
        serde_json::Value::Array(list) => list.iter().for_each(|v| sd_digests(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyAlgorithm, Signer, SoftwareKey};
    use crate::log::merkle::MemoryTree;

    #[test]
    fn sd_jwt_disclosures_must_be_listed() {
        let digest =
            |d: &str| B64URL.encode(ring::digest::digest(&ring::digest::SHA256, d.as_bytes()));
        let d1 = B64URL.encode(r#"["s1","name","张三"]"#);
        let d2 = B64URL.encode(r#"["s2","code","1101"]"#);
        let forged = B64URL.encode(r#"["s3","name","李四"]"#);
        let payload = serde_json::json!({"_sd": [digest(&d1)], "holder": {"_sd": [digest(&d2)]}, "_sd_alg": "sha-256"});
        let jwt = format!("e30.{}.c2ln", B64URL.encode(payload.to_string()));
        let data = serde_json::json!({"token_sha256": sha256_hex(b"other"), "sd_jwt_sha256": sha256_hex(jwt.as_bytes())});
        assert_eq!(
            licence_binding(&data, &format!("{jwt}~{d1}~{d2}~")),
            Some("sd_jwt_sha256")
        );
        assert_eq!(
            licence_binding(&data, &format!("{jwt}~{d2}~")),
            Some("sd_jwt_sha256")
        );
        assert_eq!(
            licence_binding(&data, &format!("{jwt}~")),
            Some("sd_jwt_sha256")
        );
        assert_eq!(
            licence_binding(&data, &format!("{jwt}~{d1}~{forged}~")),
            None
        );
        assert_eq!(
            licence_binding(&data, &format!("{jwt}~{d1}~eyJhbGciOiJub25lIn0.e30.")),
            None
        );
        assert_eq!(licence_binding(&data, &jwt), None);
        assert_eq!(licence_binding(&data, "other"), Some("token_sha256"));
    }

    #[test]
    fn proofs_round_trip_and_fail_when_changed() {
        let entries: Vec<Vec<u8>> = (0..7).map(|i| format!("entry {i}").into_bytes()).collect();
        let mut tree = MemoryTree::new();
        for e in &entries {
            tree.push(leaf_hash(e));
        }
        let (log_key, _) = SoftwareKey::generate(KeyAlgorithm::Ed25519).unwrap();
        let log = NoteVerifier::new("example.org/log", log_key.public_key()).unwrap();
        let (w_key, _) = SoftwareKey::generate(KeyAlgorithm::Ed25519).unwrap();
        let witness = CosignerKey::new("example.org/w1", w_key.public_key()).unwrap();
        let body = Checkpoint::new("example.org/log", 7, tree.root(7))
            .unwrap()
            .body();
        let log_line = log.signature_line(&log_key.sign(body.as_bytes()).unwrap());
        let message = CosignerKey::message(1_700_000_000, &body);
        let cosig = witness.signature_line(1_700_000_000, &w_key.sign(&message).unwrap());
        let proof = TlogProof {
            extra: Some(entries[3].clone()),
            index: 3,
            hashes: tree.inclusion_proof(3, 7).unwrap(),
            checkpoint: format!("{body}\n{log_line}{cosig}"),
        };
        let text = proof.to_text();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra ZW50cnkgMw==\nindex 3\n"));
        let parsed = TlogProof::parse(&text).unwrap();
        assert_eq!(parsed, proof);
        let policy = ProofPolicy {
            log: log.clone(),
            witnesses: vec![witness.clone()],
            quorum: 1,
        };
        let ok = verify(&parsed, None, &policy).unwrap();
        assert_eq!(ok.witnessed_by, vec!["example.org/w1".to_owned()]);
        assert_eq!(ok.entry, b"entry 3");
        // Another entry, another index, a quorum of two, or no cosignature fail.
        assert!(verify(&parsed, Some(b"entry 4"), &policy).is_err());
        let mut moved = parsed.clone();
        moved.index = 4;
        assert!(verify(&moved, None, &policy).is_err());
        let two = ProofPolicy {
            quorum: 2,
            ..policy.clone()
        };
        assert!(matches!(
            verify(&parsed, None, &two),
            Err(ProofError::NotWitnessed {
                found: 1,
                needed: 2
            })
        ));
        let mut bare = parsed.clone();
        bare.checkpoint = format!("{body}\n{log_line}");
        assert!(verify(&bare, None, &policy).is_err());
        // Without extra the proof stands only with the entry given.
        let mut no_extra = parsed;
        no_extra.extra = None;
        assert_eq!(
            verify(&no_extra, None, &policy).unwrap_err(),
            ProofError::NoEntry
        );
        assert!(verify(&no_extra, Some(b"entry 3"), &policy).is_ok());
        assert!(TlogProof::parse(&text.replacen("index 3", "index 03", 1)).is_err());
        assert!(TlogProof::parse("c2sp.org/tlog-proof@v1\nindex 1\n").is_err());
    }
}
