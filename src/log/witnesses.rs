//! Witnessing the log's checkpoints (c2sp.org/tlog-witness, client side): the witnesses the
//! admin configured (`TRUSTD_WITNESSES`), the "k of n" policy, and the feeder that sends each
//! new checkpoint with a consistency proof to every witness and keeps the cosignatures that
//! verify under the witness's configured key.

use std::time::Duration;

use super::checkpoint::CheckpointError;
use super::cosign::{parse_decimal, AddCheckpoint, CosignerKey};
use super::{LogError, TransparencyLog};
use crate::store::CheckpointRecord;

/// One witness: its cosigner key and the URL prefix of its `add-checkpoint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witness {
    pub key: CosignerKey,
    pub url: String,
}

/// The configured witnesses and how many cosignatures make a checkpoint witnessed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WitnessPolicy {
    pub witnesses: Vec<Witness>,
    pub quorum: usize,
}

impl WitnessPolicy {
    /// Parses `TRUSTD_WITNESSES`: entries separated by `;` or new lines, each `<vkey> <url>`;
    /// `quorum` defaults to a majority of them.
    pub fn parse(list: &str, quorum: Option<usize>) -> Result<Self, String> {
        let mut witnesses = Vec::new();
        for entry in list
            .split([';', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            let (vkey, url) = entry
                .split_once(char::is_whitespace)
                .ok_or_else(|| format!("{entry:?} is not `<witness vkey> <url>`"))?;
            let key = CosignerKey::parse(vkey).map_err(|_| {
                format!("{vkey:?} is not a witness vkey (name+id+base64 of 0x04 ‖ key)")
            })?;
            let url = url.trim().trim_end_matches('/').to_owned();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!("{url:?} is not an http(s) URL"));
            }
            if witnesses.iter().any(|w: &Witness| {
                w.key.name() == key.name() || w.key.public_key() == key.public_key()
            }) {
                return Err(format!(
                    "witness {} (or its key) is listed twice",
                    key.name()
                ));
            }
            witnesses.push(Witness { key, url });
        }
        let n = witnesses.len();
        let quorum = quorum.unwrap_or(n / 2 + usize::from(n > 0));
        if quorum > n || (n > 0 && quorum == 0) {
            return Err(format!(
                "a quorum of {quorum} of {n} witnesses cannot be met"
            ));
        }
        Ok(WitnessPolicy { witnesses, quorum })
    }

    pub fn is_empty(&self) -> bool {
        self.witnesses.is_empty()
    }

    pub fn keys(&self) -> Vec<CosignerKey> {
        self.witnesses.iter().map(|w| w.key.clone()).collect()
    }

    /// The witnesses as the store knows them: by vkey (name and key), so that cosignatures
    /// kept under a key the admin has since replaced no longer count.
    pub fn ids(&self) -> Vec<String> {
        self.witnesses.iter().map(|w| w.key.to_vkey()).collect()
    }
}

/// How long a witness may take to say what it last cosigned, at start-up.
const VIEW_TIMEOUT: Duration = Duration::from_secs(3);

impl TransparencyLog {
    /// What each configured witness last cosigned of this log (c2sp.org/tlog-witness
    /// monitoring: `GET <url>/<hex SHA-256 of the origin>/checkpoint`), as (witness, size,
    /// base64 root), for the rollback guard. Only checkpoints with a valid signature of this
    /// log count; a witness that does not answer is skipped (logged).
    pub async fn witnessed_views(&self, http: &reqwest::Client) -> Vec<(String, u64, String)> {
        let origin_hash = hex::encode(ring::digest::digest(
            &ring::digest::SHA256,
            self.origin.as_bytes(),
        ));
        let mut out = Vec::new();
        for w in &self.witnesses.witnesses {
            let url = format!("{}/{origin_hash}/checkpoint", w.url);
            let answer = match http.get(&url).timeout(VIEW_TIMEOUT).send().await {
                Ok(r) if r.status() == 200 => r.text().await.ok(),
                Ok(r) if r.status() == 404 => None,
                Ok(r) => {
                    tracing::warn!(
                        witness = w.key.name(),
                        status = r.status().as_u16(),
                        "witness did not say what it cosigned"
                    );
                    None
                }
                Err(e) => {
                    tracing::warn!(witness = w.key.name(), error = %e, "witness unreachable");
                    None
                }
            };
            if let Some(cp) =
                answer.and_then(|note| self.verifier.verify(&note, Some(&self.origin)).ok())
            {
                out.push((
                    format!("witness {}", w.key.name()),
                    cp.size(),
                    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, cp.root()),
                ));
            }
        }
        out
    }
}

/// How long one add-checkpoint call may take.
const WITNESS_TIMEOUT: Duration = Duration::from_secs(10);

/// What one witness said.
#[derive(Debug)]
enum Reply {
    Cosigned(String),
    /// 409: the size the witness last cosigned.
    Conflict(u64),
    Refused(u16, String),
}

impl TransparencyLog {
    /// Sends the latest checkpoint to every witness that has not cosigned it and stores the
    /// cosignatures that verify. Returns how many witnesses have cosigned it.
    pub async fn feed_witnesses(
        &self,
        http: &reqwest::Client,
        now: i64,
    ) -> Result<usize, LogError> {
        let Some(latest) = self.store.latest_checkpoint().await? else {
            return Ok(0);
        };
        let have = self.store.cosignatures(latest.size).await?;
        let pending: Vec<&Witness> = self
            .witnesses
            .witnesses
            .iter()
            .filter(|w| !have.iter().any(|(id, _)| *id == w.key.to_vkey()))
            .collect();
        let calls = pending.iter().map(|w| self.cosign_with(http, w, &latest));
        let mut cosigned = have.len();
        for (witness, result) in pending
            .iter()
            .zip(futures_util::future::join_all(calls).await)
        {
            match result {
                Ok(Some(line)) => {
                    self.store
                        .add_cosignature(latest.size, &witness.key.to_vkey(), &line, now)
                        .await?;
                    cosigned += 1;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(witness = witness.key.name(), error = %e, "witness did not cosign")
                }
            }
        }
        Ok(cosigned)
    }

    /// One witness's cosignature line for `checkpoint`, after at most one 409 that tells the
    /// size it knows.
    async fn cosign_with(
        &self,
        http: &reqwest::Client,
        witness: &Witness,
        checkpoint: &CheckpointRecord,
    ) -> Result<Option<String>, LogError> {
        let mut old = self
            .store
            .cosigned_size(witness.key.name())
            .await?
            .unwrap_or(0);
        for _ in 0..2 {
            if old > checkpoint.size {
                // The witness saw a bigger tree of ours than our newest checkpoint: either it
                // is confused or someone signed with our key. Never quietly go on.
                tracing::error!(
                    witness = witness.key.name(),
                    witness_size = old,
                    log_size = checkpoint.size,
                    "witness has cosigned a larger tree than this log's latest checkpoint"
                );
                return Ok(None);
            }
            let proof = if old == 0 || old == checkpoint.size {
                Vec::new()
            } else {
                self.consistency_hashes(old, checkpoint.size).await?
            };
            let request = AddCheckpoint {
                old_size: old,
                proof,
                checkpoint: checkpoint.note.clone(),
            };
            match send(http, witness, &request).await {
                Ok(Reply::Cosigned(lines)) => {
                    return Ok(self.valid_line(witness, &checkpoint.note, &lines));
                }
                Ok(Reply::Conflict(size)) => old = size,
                Ok(Reply::Refused(status, body)) => {
                    tracing::warn!(witness = witness.key.name(), status, body = %body.chars().take(200).collect::<String>(), "witness refused the checkpoint");
                    return Ok(None);
                }
                Err(e) => {
                    tracing::warn!(witness = witness.key.name(), error = %e, "witness unreachable");
                    return Ok(None);
                }
            }
        }
        Ok(None)
    }

    /// The line among a witness's response lines that is its valid cosignature of `note`.
    fn valid_line(&self, witness: &Witness, note: &str, lines: &str) -> Option<String> {
        lines.split_inclusive('\n').find_map(|line| {
            let line = if line.ends_with('\n') {
                line.to_owned()
            } else {
                format!("{line}\n")
            };
            match witness.key.cosigned_at(&format!("{note}{line}")) {
                Ok(Some(_)) => Some(line),
                Ok(None) => None,
                Err(CheckpointError::BadSignature) => {
                    tracing::warn!(
                        witness = witness.key.name(),
                        "witness sent a cosignature that does not verify"
                    );
                    None
                }
                Err(_) => None,
            }
        })
    }
}

/// Largest witness answer read: a few signature lines; a witness cannot make the log buffer more.
const MAX_ANSWER: usize = 16 * 1024;

async fn send(
    http: &reqwest::Client,
    witness: &Witness,
    request: &AddCheckpoint,
) -> Result<Reply, String> {
    let mut response = http
        .post(format!("{}/add-checkpoint", witness.url))
        .timeout(WITNESS_TIMEOUT)
        .body(request.to_body())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if bytes.len() + chunk.len() > MAX_ANSWER {
            return Err(format!("answer longer than {MAX_ANSWER} bytes"));
        }
        bytes.extend_from_slice(&chunk);
    }
    let body = String::from_utf8_lossy(&bytes).into_owned();
    Ok(match status {
        200 => Reply::Cosigned(body),
        409 => match body.strip_suffix('\n').and_then(parse_decimal) {
            Some(size) => Reply::Conflict(size),
            None => Reply::Refused(409, body),
        },
        _ => Reply::Refused(status, body),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const W1: &str = "witness.example.com/w1+a0059f11+BAOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4";

    #[test]
    fn policies_parse() {
        let p = WitnessPolicy::parse(&format!("{W1} http://127.0.0.1:7380/"), None).unwrap();
        assert_eq!((p.witnesses.len(), p.quorum), (1, 1));
        assert_eq!(p.witnesses[0].url, "http://127.0.0.1:7380");
        assert_eq!(
            WitnessPolicy::parse("", None).unwrap(),
            WitnessPolicy::default()
        );
        assert!(WitnessPolicy::parse(&format!("{W1} http://a"), Some(2)).is_err());
        assert!(WitnessPolicy::parse(&format!("{W1} http://a; {W1} http://b"), None).is_err());
        let same_key = W1.replacen(
            "witness.example.com/w1+a0059f11",
            "other.example+72d9ef04",
            1,
        );
        assert!(CosignerKey::parse(&same_key).is_ok());
        assert!(
            WitnessPolicy::parse(&format!("{W1} http://a; {same_key} http://b"), None).is_err()
        );
        assert!(WitnessPolicy::parse(&format!("{W1} ftp://a"), None).is_err());
        assert!(WitnessPolicy::parse("nokey http://a", None).is_err());
    }
}
