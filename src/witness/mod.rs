//! `trustd witness`: a C2SP tlog-witness (c2sp.org/tlog-witness) that a department, the audit
//! office or another province runs beside trustd. For each log it is given (origin and
//! verifier key) it keeps the latest checkpoint it cosigned, in its own SQLite database, and
//! cosigns a new checkpoint only when it carries a valid log signature and a consistency proof
//! from that one. The check and the new state are one transaction under one lock, written with
//! `synchronous=FULL` before the cosignature leaves: after a crash it cannot have cosigned
//! anything its database does not know, so it never cosigns two inconsistent checkpoints.
//!
//! Its Ed25519 key lives in the same database, sealed under the witness's master key: lose the
//! database and you lose the key with it, so a witness can never come back with its identity
//! but without its memory.

mod http;
mod store;

use std::collections::HashMap;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use crate::keys::vault::MasterKey;
use crate::keys::{KeyAlgorithm, Signer, SoftwareKey};
use crate::log::checkpoint::{split_note, Checkpoint, CheckpointError, NoteVerifier};
use crate::log::cosign::{AddCheckpoint, CosignerKey};
use crate::log::merkle::{empty_root, verify_consistency, Hash};

pub use http::WitnessServer;
use store::{LogState, WitnessStore};

/// Why an add-checkpoint request was not cosigned, as the specification's status codes.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    /// 400: malformed request, or old size above the checkpoint's.
    #[error("{0}")]
    BadRequest(String),
    /// 403: no valid signature by a key of the log, or a signature by one that fails.
    #[error("{0}")]
    Forbidden(String),
    /// 404: a log this witness does not witness.
    #[error("unknown log origin {0:?}")]
    UnknownOrigin(String),
    /// 409: the old size is not the size last cosigned (given).
    #[error("this witness last cosigned size {0}")]
    Conflict(u64),
    /// 422: the checkpoint is not consistent with the one last cosigned.
    #[error("{0}")]
    Inconsistent(String),
    /// 503: the clock is behind the last cosignature, or the database failed.
    #[error("{0}")]
    Unavailable(String),
}

/// Why the witness could not start.
#[derive(Debug, thiserror::Error)]
pub enum WitnessStartError {
    #[error("{0}")]
    Config(String),
    #[error("database: {0}")]
    Store(#[from] sqlx::Error),
    #[error("key: {0}")]
    Key(String),
    #[error("cannot listen on {0}: {1}")]
    Bind(String, std::io::Error),
}

/// The witness: its key, the logs it witnesses, its state.
pub struct Witness {
    cosigner: CosignerKey,
    key: SoftwareKey,
    logs: HashMap<String, Vec<NoteVerifier>>,
    store: WitnessStore,
    /// Serialises check-and-update: a request for size N must not roll back one for N+K.
    lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Witness")
            .field("name", &self.cosigner.name())
            .finish_non_exhaustive()
    }
}

impl Witness {
    /// Opens (or on first use creates) the witness in `data_dir`: its database and its key.
    pub async fn open(
        data_dir: &std::path::Path,
        name: Option<&str>,
        logs: &[String],
        vault: &MasterKey,
        now: i64,
    ) -> Result<Arc<Witness>, WitnessStartError> {
        let store = WitnessStore::open(&data_dir.join("witness.db")).await?;
        let key = match store.identity().await? {
            Some((stored_name, sealed)) => {
                if name.is_some_and(|n| n != stored_name) {
                    return Err(WitnessStartError::Config(format!(
                        "this witness is {stored_name:?}; its name is part of its key and cannot change (a new name is a new witness: use a new data directory)"
                    )));
                }
                let pkcs8 = vault
                    .open(&binding(&stored_name), &sealed)
                    .map_err(|e| WitnessStartError::Key(e.to_string()))?;
                let key = SoftwareKey::from_pkcs8(KeyAlgorithm::Ed25519, &pkcs8)
                    .map_err(|e| WitnessStartError::Key(e.to_string()))?;
                (stored_name, key)
            }
            None => {
                let name = name.ok_or_else(|| {
                    WitnessStartError::Config(
                        "the first start needs --name (TRUSTD_WITNESS_NAME)".into(),
                    )
                })?;
                if !crate::log::checkpoint::valid_key_name(name) {
                    return Err(WitnessStartError::Config(format!(
                        "{name:?} is not a valid key name (no spaces, no '+', at most 255 bytes)"
                    )));
                }
                let (key, pkcs8) = SoftwareKey::generate(KeyAlgorithm::Ed25519)
                    .map_err(|e| WitnessStartError::Key(e.to_string()))?;
                let sealed = vault
                    .seal(&binding(name), &pkcs8)
                    .map_err(|e| WitnessStartError::Key(e.to_string()))?;
                store
                    .create_identity(name, key.public_key(), &sealed, now)
                    .await?;
                (name.to_owned(), key)
            }
        };
        let (name, key) = key;
        let cosigner = CosignerKey::new(&name, key.public_key())
            .map_err(|_| WitnessStartError::Config(format!("{name:?} is not a valid key name")))?;
        Ok(Arc::new(Witness {
            cosigner,
            key,
            logs: parse_logs(logs)?,
            store,
            lock: tokio::sync::Mutex::new(()),
        }))
    }

    /// The witness's public key as a vkey, for the logs' and verifiers' configuration.
    pub fn vkey(&self) -> String {
        self.cosigner.to_vkey()
    }

    /// Handles an add-checkpoint request body at time `now` (POSIX seconds); returns the
    /// cosignature line.
    pub async fn add_checkpoint(&self, body: &[u8], now: u64) -> Result<String, WitnessError> {
        let request =
            AddCheckpoint::parse(body).map_err(|e| WitnessError::BadRequest(e.to_string()))?;
        let (note_body, _) = split_note(&request.checkpoint).map_err(bad)?;
        let checkpoint = Checkpoint::parse_body(note_body).map_err(bad)?;
        let keys = self
            .logs
            .get(checkpoint.origin())
            .ok_or_else(|| WitnessError::UnknownOrigin(checkpoint.origin().to_owned()))?;
        check_log_signature(keys, &request.checkpoint)?;
        if request.old_size > checkpoint.size() {
            return Err(WitnessError::BadRequest(format!(
                "old size {} is larger than the checkpoint's {}",
                request.old_size,
                checkpoint.size()
            )));
        }
        let _guard = self.lock.lock().await;
        let state = self
            .store
            .state(checkpoint.origin())
            .await
            .map_err(unavailable)?;
        if let Err(e) = check_consistency(&request, &checkpoint, &state) {
            if matches!(e, WitnessError::Inconsistent(_)) {
                // A validly signed checkpoint that does not extend what we cosigned may be
                // proof of a split view: keep it.
                self.store
                    .keep_evidence(checkpoint.origin(), now, &e.to_string(), body)
                    .await
                    .map_err(unavailable)?;
            }
            return Err(e);
        }
        if now < state.cosigned_at {
            return Err(WitnessError::Unavailable(
                "this witness's clock is behind its last cosignature; it will not date one earlier"
                    .into(),
            ));
        }
        let message = CosignerKey::message(now, note_body);
        let signature = self
            .key
            .sign(&message)
            .map_err(|e| WitnessError::Unavailable(e.to_string()))?;
        let line = self.cosigner.signature_line(now, &signature);
        // Stored before it is answered: what the witness said, it remembers.
        self.store
            .advance(
                checkpoint.origin(),
                &state,
                (checkpoint.size(), checkpoint.root()),
                &format!(
                    "{}{line}",
                    verified_note(note_body, keys, &request.checkpoint)
                ),
                now,
            )
            .await
            .map_err(unavailable)?;
        Ok(line)
    }

    /// The latest cosigned checkpoint of the log whose origin's SHA-256 is `origin_hash` (hex),
    /// with this witness's cosignature: the specification's monitoring endpoint.
    pub async fn latest(&self, origin_hash: &str) -> Result<Option<String>, WitnessError> {
        self.store
            .cosigned_checkpoint(origin_hash)
            .await
            .map_err(unavailable)
    }
}

fn binding(name: &str) -> String {
    format!("trustd:witness:{name}")
}

fn bad(e: CheckpointError) -> WitnessError {
    WitnessError::BadRequest(e.to_string())
}

fn unavailable(e: sqlx::Error) -> WitnessError {
    tracing::error!(error = %e, "witness database");
    WitnessError::Unavailable("the witness's database is unavailable".into())
}

/// The logs to witness, by origin (a log's key name is its origin).
fn parse_logs(logs: &[String]) -> Result<HashMap<String, Vec<NoteVerifier>>, WitnessStartError> {
    let mut out: HashMap<String, Vec<NoteVerifier>> = HashMap::new();
    for vkey in logs.iter().map(|l| l.trim()).filter(|l| !l.is_empty()) {
        let verifier = NoteVerifier::parse(vkey).map_err(|_| {
            WitnessStartError::Config(format!(
                "{vkey:?} is not a log verifier key (name+id+base64)"
            ))
        })?;
        out.entry(verifier.name().to_owned())
            .or_default()
            .push(verifier);
    }
    Ok(out)
}

/// The note as the witness keeps it: the body and the log's signature lines that verified
/// (not whatever else the request carried).
fn verified_note(body: &str, keys: &[NoteVerifier], note: &str) -> String {
    let mut out = format!("{body}\n");
    for key in keys {
        if key.verify(note, None).is_ok() {
            if let Ok((_, lines)) = split_note(note) {
                for line in lines
                    .iter()
                    .filter(|l| l.name == key.name() && l.blob[..4] == key.key_id())
                {
                    out.push_str(&format!(
                        "\u{2014} {} {}\n",
                        line.name,
                        B64.encode(&line.blob)
                    ));
                }
            }
        }
    }
    out
}

/// 403 unless some key of the log signed the note and no line by one of its keys fails.
fn check_log_signature(keys: &[NoteVerifier], note: &str) -> Result<(), WitnessError> {
    let mut signed = false;
    for key in keys {
        match key.verify(note, None) {
            Ok(_) => signed = true,
            Err(CheckpointError::NoSignature(_)) => {}
            Err(CheckpointError::BadSignature) => {
                return Err(WitnessError::Forbidden(
                    "a signature line of the log's key does not verify".into(),
                ))
            }
            Err(e) => return Err(WitnessError::BadRequest(e.to_string())),
        }
    }
    if signed {
        Ok(())
    } else {
        Err(WitnessError::Forbidden(
            "no signature by a key this witness trusts for the log".into(),
        ))
    }
}

/// The specification's checks of the old size and the proof against the state.
fn check_consistency(
    request: &AddCheckpoint,
    checkpoint: &Checkpoint,
    state: &LogState,
) -> Result<(), WitnessError> {
    if request.old_size != state.size {
        return Err(WitnessError::Conflict(state.size));
    }
    let root: &Hash = checkpoint.root();
    if checkpoint.size() == 0 && *root != empty_root() {
        return Err(WitnessError::Inconsistent(
            "a checkpoint of size 0 must have the empty tree's root".into(),
        ));
    }
    if request.old_size == 0 {
        if !request.proof.is_empty() {
            return Err(WitnessError::Inconsistent(
                "the proof must be empty from size 0".into(),
            ));
        }
        return Ok(());
    }
    verify_consistency(
        request.old_size,
        checkpoint.size(),
        &state.root,
        root,
        &request.proof,
    )
    .map_err(|e| {
        WitnessError::Inconsistent(format!(
            "not consistent with the checkpoint of size {} this witness cosigned: {e}",
            state.size
        ))
    })
}
