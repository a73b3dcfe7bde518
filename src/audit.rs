//! `trustd audit`: an independent check of a running trustd's log, for an auditor to run on
//! another machine. It verifies the checkpoint's signature against a pinned key, recomputes the
//! tree from all entries (with an auditor token), checks the consistency proof from the last
//! checkpoint it saw (kept in the state file) and an inclusion proof, and fails loudly.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::config::{AuditArgs, Secret};
use crate::log::checkpoint::NoteVerifier;
use crate::log::cosign::{cosigned_by, CosignerKey};
use crate::log::merkle::{leaf_hash, verify_consistency, verify_inclusion, Hash, MemoryTree};

#[derive(Debug, Serialize, Deserialize)]
struct AuditState {
    key: String,
    size: u64,
    root: String,
}

/// The audit's verdict or the reason it failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("cannot reach the log: {0}")]
    Http(String),
    #[error("state file: {0}")]
    State(String),
    #[error("CHECKPOINT SIGNATURE INVALID: {0}")]
    Signature(String),
    #[error("LOG SHRANK: last seen size {seen}, now {now}")]
    Shrank { seen: u64, now: u64 },
    #[error("CONSISTENCY FAILURE: {0}")]
    Consistency(String),
    #[error("FORK (split view): {0}")]
    Fork(String),
    #[error("NOT WITNESSED: {0}")]
    NotWitnessed(String),
    #[error("ENTRIES DO NOT MATCH THE CHECKPOINT: {0}")]
    Entries(String),
    #[error("INCLUSION PROOF FAILURE: {0}")]
    Inclusion(String),
}

/// What a successful audit saw.
#[derive(Debug)]
pub struct AuditReport {
    pub size: u64,
    pub root: Hash,
    pub entries_checked: u64,
    pub previous_size: Option<u64>,
    /// The trusted witnesses that cosigned the checkpoint.
    pub witnessed_by: Vec<String>,
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<Secret>,
}

impl Client {
    async fn get(&self, path: &str, auth: bool) -> Result<reqwest::Response, AuditError> {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let (true, Some(t)) = (auth, &self.token) {
            req = req.bearer_auth(t.expose());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| AuditError::Http(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(AuditError::Http(format!(
                "GET {path}: HTTP {}",
                resp.status()
            )));
        }
        Ok(resp)
    }
    async fn text(&self, path: &str) -> Result<String, AuditError> {
        self.get(path, false)
            .await?
            .text()
            .await
            .map_err(|e| AuditError::Http(e.to_string()))
    }
    async fn json(&self, path: &str, auth: bool) -> Result<serde_json::Value, AuditError> {
        self.get(path, auth)
            .await?
            .json()
            .await
            .map_err(|e| AuditError::Http(e.to_string()))
    }
}

fn hashes(value: &serde_json::Value) -> Result<Vec<Hash>, AuditError> {
    value["hashes"]
        .as_array()
        .ok_or_else(|| AuditError::Http("proof without hashes".into()))?
        .iter()
        .map(|h| {
            h.as_str()
                .and_then(|s| B64.decode(s).ok())
                .and_then(|v| v.try_into().ok())
                .ok_or_else(|| AuditError::Http("malformed hash in proof".into()))
        })
        .collect()
}

/// Runs the audit. On success the state file holds the new checkpoint.
pub async fn run(args: &AuditArgs) -> Result<AuditReport, AuditError> {
    let mut http = reqwest::Client::builder();
    if let Some(path) = &args.ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| AuditError::State(format!("{}: {e}", path.display())))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| AuditError::State(format!("{}: {e}", path.display())))?
        {
            http = http.add_root_certificate(cert);
        }
    }
    let client = Client {
        http: http.build().map_err(|e| AuditError::Http(e.to_string()))?,
        base: args.url.trim_end_matches('/').to_owned(),
        token: args.token.clone(),
    };
    let state = read_state(&args.state)?;
    let key = match (&args.key, &state) {
        (Some(k), _) => k.clone(),
        (None, Some(s)) => s.key.clone(),
        (None, None) => {
            let k = client.text("/api/v1/log/key").await?.trim().to_owned();
            eprintln!("trustd audit: pinning the log key the server published (first use): {k}");
            k
        }
    };
    let mut verifier =
        NoteVerifier::parse(&key).map_err(|e| AuditError::Signature(format!("pinned key: {e}")))?;
    let mut key = key;
    let mut state = state;
    let note = client.text("/api/v1/log/checkpoint").await?;
    let checkpoint = match verifier.verify(&note, Some(verifier.name())) {
        Ok(c) => c,
        Err(e) => {
            // Perhaps the log rotated its key since: follow the handovers from the pinned key.
            let Some((next, seen)) = follow_rotations(&client, &key, state.as_ref()).await? else {
                return Err(AuditError::Signature(e.to_string()));
            };
            eprintln!("trustd audit: the log rotated its key; following the handover to {next}");
            verifier = NoteVerifier::parse(&next)
                .map_err(|e| AuditError::Signature(format!("handed-over key: {e}")))?;
            key = next;
            state = Some(seen);
            verifier
                .verify(&note, Some(verifier.name()))
                .map_err(|e| AuditError::Signature(e.to_string()))?
        }
    };
    let (size, root) = (checkpoint.size(), *checkpoint.root());
    // Consistency first: a fork is a fork whether or not witnesses cosigned it (honest ones
    // will not have), and the signed note that shows it is kept.
    let previous = match &state {
        Some(s) => match consistent_with(&client, s, size, &root).await {
            Ok(p) => Some(p),
            Err(e) => {
                keep_evidence(args, s, &note, &e);
                return Err(e);
            }
        },
        None => None,
    };
    let witnessed_by = check_witnesses(args, &note)?;
    let mut entries_checked = 0;
    if client.token.is_some() && size > 0 {
        let tree = recompute(&client, size).await?;
        check_tree(&client, &tree, size, &root, previous).await?;
        entries_checked = size;
    }
    let new_state = AuditState {
        key,
        size,
        root: B64.encode(root),
    };
    let bytes =
        serde_json::to_vec_pretty(&new_state).map_err(|e| AuditError::State(e.to_string()))?;
    std::fs::write(&args.state, bytes).map_err(|e| AuditError::State(e.to_string()))?;
    Ok(AuditReport {
        size,
        root,
        entries_checked,
        previous_size: previous.map(|(s, _)| s),
        witnessed_by,
    })
}

/// Follows the log's key rotations from `key` (`/api/v1/log/shards`): for each shard from the
/// one of `key`, its final checkpoint verifies under that key and is consistent with what was
/// seen, and its last entry, proven included, is the handover naming the next key. Returns the
/// current key with the last final checkpoint as the state seen; `None` when `key` is not a
/// rotated key of this log.
async fn follow_rotations(
    client: &Client,
    key: &str,
    seen: Option<&AuditState>,
) -> Result<Option<(String, AuditState)>, AuditError> {
    let shards = client.json("/api/v1/log/shards", false).await?;
    let list: Vec<crate::log::shards::Shard> =
        serde_json::from_value(shards["previous"].clone())
            .map_err(|e| AuditError::Http(format!("shards answer is malformed: {e}")))?;
    let Some(mut at) = list.iter().position(|s| s.vkey == key) else {
        return Ok(None);
    };
    let mut key = key.to_owned();
    let mut state = seen.map(|s| AuditState {
        key: s.key.clone(),
        size: s.size,
        root: s.root.clone(),
    });
    while let Some(shard) = list.get(at) {
        let (next, head) = check_handover(client, &key, shard, state.as_ref()).await?;
        state = Some(head);
        key = next;
        at += 1;
    }
    let current = shards["current"]["vkey"].as_str().unwrap_or_default();
    if current != key {
        return Err(AuditError::Signature(format!(
            "the last handover names {key}, but the log says its key is {current}"
        )));
    }
    Ok(state.map(|s| (key, s)))
}

/// One handover: the shard's final checkpoint under `key`, consistent with `seen`, ending with
/// the proven `log.rotated` entry. Returns the key it names and the final checkpoint as seen.
async fn check_handover(
    client: &Client,
    key: &str,
    shard: &crate::log::shards::Shard,
    seen: Option<&AuditState>,
) -> Result<(String, AuditState), AuditError> {
    let verifier =
        NoteVerifier::parse(key).map_err(|e| AuditError::Signature(format!("key: {e}")))?;
    let last = verifier
        .verify(&shard.final_checkpoint, Some(verifier.name()))
        .map_err(|e| AuditError::Signature(format!("final checkpoint of {}: {e}", shard.origin)))?;
    let (size, root) = (last.size(), *last.root());
    if size == 0 || size != shard.end {
        return Err(AuditError::Signature(format!(
            "the final checkpoint of {} is of size {size}, the shard says {}",
            shard.origin, shard.end
        )));
    }
    if let Some(s) = seen {
        consistent_with(client, s, size, &root).await?;
    }
    let entry = B64
        .decode(&shard.handover_entry)
        .map_err(|_| AuditError::Entries("handover entry is not base64".into()))?;
    let proof = client
        .json(
            &format!("/api/v1/log/proof/inclusion?index={}&size={size}", size - 1),
            false,
        )
        .await?;
    verify_inclusion(size - 1, size, &leaf_hash(&entry), &hashes(&proof)?, &root)
        .map_err(|e| AuditError::Inclusion(format!("handover of {}: {e}", shard.origin)))?;
    let Some((_, next)) = crate::log::shards::handover_target(&entry) else {
        return Err(AuditError::Entries(format!(
            "the last entry of {} is not a log.rotated handover",
            shard.origin
        )));
    };
    Ok((
        next.clone(),
        AuditState {
            key: next,
            size,
            root: B64.encode(root),
        },
    ))
}

/// Writes `<state>.evidence`: the checkpoint seen before and the signed note that does not
/// extend it, for whoever must be shown the log misbehaved.
fn keep_evidence(args: &AuditArgs, seen: &AuditState, note: &str, error: &AuditError) {
    if !matches!(error, AuditError::Fork(_) | AuditError::Shrank { .. }) {
        return;
    }
    let mut path = args.state.clone().into_os_string();
    path.push(".evidence");
    let evidence = serde_json::json!({
        "finding": error.to_string(),
        "seen": {"size": seen.size, "root": seen.root},
        "served_note": note,
    });
    match std::fs::write(&path, evidence.to_string()) {
        Ok(()) => eprintln!(
            "trustd audit: the served checkpoint is kept in {}",
            std::path::Path::new(&path).display()
        ),
        Err(e) => eprintln!("trustd audit: cannot keep the evidence: {e}"),
    }
}

/// The names of the trusted witnesses (`--witness`) that validly cosigned `note`; fails when
/// fewer than the quorum did.
fn check_witnesses(args: &AuditArgs, note: &str) -> Result<Vec<String>, AuditError> {
    let keys = args
        .witness
        .iter()
        .map(|w| CosignerKey::parse(w))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| AuditError::State("a --witness is not a witness vkey".into()))?;
    let quorum = args.quorum.unwrap_or(keys.len());
    let by: Vec<String> = cosigned_by(note, &keys)
        .into_iter()
        .map(|k| k.name().to_owned())
        .collect();
    if by.len() < quorum {
        return Err(AuditError::NotWitnessed(format!(
            "the checkpoint carries valid cosignatures of {} of the trusted witnesses ({}), {quorum} needed",
            by.len(),
            by.join(", ")
        )));
    }
    Ok(by)
}

/// The state kept from the last run, if any.
fn read_state(path: &std::path::Path) -> Result<Option<AuditState>, AuditError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| AuditError::State(e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(AuditError::State(e.to_string())),
    }
}

/// The log has not shrunk since the checkpoint seen last time, and the server's consistency
/// proof between the two verifies. Returns that checkpoint's size and root.
async fn consistent_with(
    client: &Client,
    seen: &AuditState,
    size: u64,
    root: &Hash,
) -> Result<(u64, Hash), AuditError> {
    let old_root: Hash = B64
        .decode(&seen.root)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| AuditError::State("root is malformed".into()))?;
    if seen.size > size {
        return Err(AuditError::Shrank {
            seen: seen.size,
            now: size,
        });
    }
    if seen.size == size && seen.size > 0 && old_root != *root {
        return Err(AuditError::Fork(format!(
            "two signed checkpoints of size {size} with different roots: {} seen before, {} now",
            seen.root,
            B64.encode(root)
        )));
    }
    if seen.size > 0 {
        let proof = client
            .json(
                &format!("/api/v1/log/proof/consistency?from={}&to={size}", seen.size),
                false,
            )
            .await?;
        verify_consistency(seen.size, size, &old_root, root, &hashes(&proof)?)
            .map_err(|e| {
                AuditError::Fork(format!(
                    "the checkpoint of size {size} does not extend the one of size {} seen before ({e})",
                    seen.size
                ))
            })?;
    }
    Ok((seen.size, old_root))
}

/// The tree of every entry, read page by page, each entry hashed here.
async fn recompute(client: &Client, size: u64) -> Result<MemoryTree, AuditError> {
    let mut tree = MemoryTree::new();
    while tree.len() < size {
        let start = tree.len();
        let end = (start + 1000).min(size);
        let page = client
            .json(
                &format!("/api/v1/log/entries?start={start}&end={end}"),
                true,
            )
            .await?;
        let list = page["entries"]
            .as_array()
            .ok_or_else(|| AuditError::Http("entries answer is malformed".into()))?;
        for item in list {
            let index = item["index"].as_u64().unwrap_or(u64::MAX);
            if index != tree.len() {
                return Err(AuditError::Entries(format!(
                    "expected entry {}, got {index} (a department-bound auditor key cannot audit the whole log)",
                    tree.len()
                )));
            }
            let bytes = item["entry"]
                .as_str()
                .and_then(|s| B64.decode(s).ok())
                .ok_or_else(|| AuditError::Entries(format!("entry {index} is not base64")))?;
            tree.push(leaf_hash(&bytes));
        }
        if list.is_empty() {
            return Err(AuditError::Entries(format!(
                "entries from {start} are missing"
            )));
        }
    }
    Ok(tree)
}

/// The recomputed tree has the signed root, still has the root seen before, and the server's
/// inclusion proof for the newest entry matches it.
async fn check_tree(
    client: &Client,
    tree: &MemoryTree,
    size: u64,
    root: &Hash,
    previous: Option<(u64, Hash)>,
) -> Result<(), AuditError> {
    if tree.root(size) != *root {
        return Err(AuditError::Entries(format!(
            "the root recomputed from the {size} entries differs from the signed checkpoint"
        )));
    }
    if let Some((old_size, old_root)) = previous {
        if old_size > 0 && tree.root(old_size) != old_root {
            return Err(AuditError::Consistency(format!(
                "entries 0..{old_size} no longer hash to the checkpoint seen before"
            )));
        }
    }
    let last = size - 1;
    let proof = client
        .json(
            &format!("/api/v1/log/proof/inclusion?index={last}&size={size}"),
            false,
        )
        .await?;
    verify_inclusion(
        last,
        size,
        &tree.range_hash(last, size),
        &hashes(&proof)?,
        root,
    )
    .map_err(|e| AuditError::Inclusion(e.to_string()))
}
