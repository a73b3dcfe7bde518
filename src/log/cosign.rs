//! Witness cosignatures and the witness protocol's wire format.
//!
//! - c2sp.org/tlog-cosignature (Ed25519, `cosignature/v1`): the key id is
//!   SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key)[..4]; the signature line carries key id ‖ 8-byte
//!   big-endian timestamp ‖ Ed25519 signature over `cosignature/v1\ntime <ts>\n` ‖ the checkpoint
//!   body.
//! - c2sp.org/tlog-witness `add-checkpoint` request: `old <size>\n`, up to 63 base64 proof
//!   lines, an empty line, the signed checkpoint.
//!
//! Hand-written: no Rust crate implements these C2SP texts on our `ring`; each is a few lines
//! of text handling, checked against the C2SP examples and an independent implementation in
//! the tests.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::signature::{UnparsedPublicKey, ED25519};

pub use super::checkpoint::parse_decimal;
use super::checkpoint::{note_key_id, split_note, split_vkey, valid_key_name, CheckpointError};
use super::merkle::Hash;

/// Signature type of Ed25519 checkpoint cosignatures.
pub const ALG_COSIGNATURE_V1: u8 = 0x04;
/// Most consistency proof lines in an add-checkpoint request.
pub const MAX_PROOF_LINES: usize = 63;

/// A witness's (cosigner's) public identity: name and Ed25519 key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignerKey {
    name: String,
    public_key: [u8; 32],
}

impl CosignerKey {
    pub fn new(name: &str, public_key: &[u8]) -> Result<Self, CheckpointError> {
        if !valid_key_name(name) {
            return Err(CheckpointError::BadKey);
        }
        Ok(CosignerKey {
            name: name.to_owned(),
            public_key: public_key.try_into().map_err(|_| CheckpointError::BadKey)?,
        })
    }

    /// Parses a vkey `<name>+<hex key id>+<base64(0x04 ‖ public key)>`.
    pub fn parse(vkey: &str) -> Result<Self, CheckpointError> {
        let (name, id, public) = split_vkey(vkey, ALG_COSIGNATURE_V1)?;
        let cosigner = CosignerKey::new(name, &public)?;
        if hex::encode(cosigner.key_id()) != id {
            return Err(CheckpointError::BadKey);
        }
        Ok(cosigner)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn public_key(&self) -> &[u8; 32] {
        &self.public_key
    }

    pub fn key_id(&self) -> [u8; 4] {
        note_key_id(&self.name, ALG_COSIGNATURE_V1, &self.public_key)
    }

    pub fn to_vkey(&self) -> String {
        let mut key = vec![ALG_COSIGNATURE_V1];
        key.extend_from_slice(&self.public_key);
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(self.key_id()),
            B64.encode(key)
        )
    }

    /// The message a cosignature signs.
    pub fn message(timestamp: u64, body: &str) -> Vec<u8> {
        format!("cosignature/v1\ntime {timestamp}\n{body}").into_bytes()
    }

    /// The note signature line of a cosignature made at `timestamp`.
    pub fn signature_line(&self, timestamp: u64, signature: &[u8]) -> String {
        let mut blob = self.key_id().to_vec();
        blob.extend_from_slice(&timestamp.to_be_bytes());
        blob.extend_from_slice(signature);
        format!("\u{2014} {} {}\n", self.name, B64.encode(blob))
    }

    /// The timestamp of this cosigner's valid cosignature in `note`; `None` when the note has
    /// none by this key. A line with this key's name and id that does not verify is an error.
    pub fn cosigned_at(&self, note: &str) -> Result<Option<u64>, CheckpointError> {
        let (body, lines) = split_note(note)?;
        let mut found = None;
        for line in lines.iter().filter(|l| l.name == self.name) {
            if line.blob[..4] != self.key_id() {
                continue;
            }
            if line.blob.len() != 4 + 8 + 64 {
                return Err(CheckpointError::BadSignature);
            }
            let mut ts = [0u8; 8];
            ts.copy_from_slice(&line.blob[4..12]);
            let timestamp = u64::from_be_bytes(ts);
            UnparsedPublicKey::new(&ED25519, self.public_key)
                .verify(&Self::message(timestamp, body), &line.blob[12..])
                .map_err(|_| CheckpointError::BadSignature)?;
            found = Some(found.map_or(timestamp, |t: u64| t.max(timestamp)));
        }
        Ok(found)
    }
}

/// The cosigners among `cosigners` that validly cosigned `note`. Invalid lines by a known
/// key are not counted; a key counts once whatever name it appears under.
pub fn cosigned_by<'a>(note: &str, cosigners: &'a [CosignerKey]) -> Vec<&'a CosignerKey> {
    let mut out: Vec<&CosignerKey> = Vec::new();
    for c in cosigners {
        if matches!(c.cosigned_at(note), Ok(Some(_)))
            && !out.iter().any(|o| o.public_key == c.public_key)
        {
            out.push(c);
        }
    }
    out
}

/// Parses a list of cosigner vkeys separated by white space, commas or semicolons.
pub fn parse_cosigners(list: &str) -> Result<Vec<CosignerKey>, CheckpointError> {
    list.split([',', ';', ' ', '\n'])
        .filter(|s| !s.trim().is_empty())
        .map(CosignerKey::parse)
        .collect()
}

/// Why an add-checkpoint body is malformed (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed add-checkpoint request: {0}")]
pub struct RequestError(pub &'static str);

/// An add-checkpoint request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    pub old_size: u64,
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, ending with a newline.
    pub checkpoint: String,
}

impl AddCheckpoint {
    pub fn parse(body: &[u8]) -> Result<Self, RequestError> {
        let text = std::str::from_utf8(body).map_err(|_| RequestError("not UTF-8"))?;
        let (head, note) = text
            .split_once("\n\n")
            .ok_or(RequestError("no empty line before the checkpoint"))?;
        let mut lines = head.split('\n');
        let old_size = lines
            .next()
            .and_then(|l| l.strip_prefix("old "))
            .and_then(parse_decimal)
            .ok_or(RequestError("the first line must be `old <size>`"))?;
        let proof = lines
            .map(|l| {
                B64.decode(l)
                    .ok()
                    .filter(|h| B64.encode(h) == l)
                    .and_then(|h| Hash::try_from(h.as_slice()).ok())
                    .ok_or(RequestError("a proof line is not one base64 hash"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if proof.len() > MAX_PROOF_LINES {
            return Err(RequestError("more than 63 proof lines"));
        }
        if note.is_empty() || !note.ends_with('\n') {
            return Err(RequestError("the checkpoint must end with a newline"));
        }
        Ok(AddCheckpoint {
            old_size,
            proof,
            checkpoint: note.to_owned(),
        })
    }

    pub fn to_body(&self) -> String {
        let mut out = format!("old {}\n", self.old_size);
        for h in &self.proof {
            out.push_str(&B64.encode(h));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The C2SP example checkpoint (c2sp.org/tlog-cosignature).
    const BODY: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    #[test]
    fn cosignature_known_answer() {
        // Seed 00 01 … 1f, name witness.example.com/w1, time 1679315147 (the C2SP example's):
        // the vkey and the signature line below were made by aics-tlog 0.2.1 (Python,
        // `cryptography`), an implementation we did not write.
        let seed: Vec<u8> = (0u8..32).collect();
        let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
        use ring::signature::KeyPair;
        let key = CosignerKey::new("witness.example.com/w1", pair.public_key().as_ref()).unwrap();
        assert_eq!(
            key.to_vkey(),
            "witness.example.com/w1+a0059f11+BAOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
        );
        assert_eq!(CosignerKey::parse(&key.to_vkey()).unwrap(), key);
        let message = CosignerKey::message(1679315147, BODY);
        assert_eq!(
            message,
            b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n\
              CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        );
        let line = key.signature_line(1679315147, pair.sign(&message).as_ref());
        assert_eq!(
            line,
            "\u{2014} witness.example.com/w1 oAWfEQAAAABkGFDLBuRDazBLVac2NE+Y+IjbjQOcXLfF9CSDZVUI\
             oS83rE1nFZsVE8YiWV6Ngr7lV8H6bdoBQGP/l73euDMQ9k+bBQ==\n"
        );
        let note = format!("{BODY}\n{line}");
        assert_eq!(key.cosigned_at(&note), Ok(Some(1679315147)));
        // The same line over another size does not verify; another key ignores it.
        let forged = note.replacen("20852163", "20852164", 1);
        assert_eq!(key.cosigned_at(&forged), Err(CheckpointError::BadSignature));
        let other = CosignerKey::new("witness.example.com/w2", &[7u8; 32]).unwrap();
        assert_eq!(other.cosigned_at(&note), Ok(None));
        assert_eq!(cosigned_by(&note, &[other, key.clone()]), vec![&key]);
        // A vkey of the note-signature type (0x01) is not a cosigner key.
        assert!(CosignerKey::parse(
            "witness.example.com/w1+a0059f11+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
        )
        .is_err());
    }

    #[test]
    fn add_checkpoint_bodies() {
        // The C2SP tlog-witness example request, signatures shortened.
        let body = "old 20852014\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n\
                    jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n\n\
                    example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\
                    \u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";
        let req = AddCheckpoint::parse(body.as_bytes()).unwrap();
        assert_eq!(req.old_size, 20852014);
        assert_eq!(req.proof.len(), 2);
        assert!(req.checkpoint.starts_with("example.com/behind-the-sofa\n"));
        assert_eq!(req.to_body(), body);
        for bad in [
            "old 01\n\nx\n",
            "old -1\n\nx\n",
            "new 1\n\nx\n",
            "old 1\nAAAA\n\nx\n",
            "old 1\n\n",
            "old 1\n\nx",
            "old 99999999999999999999\n\nx\n",
            "old 1\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw\n\nx\n",
        ] {
            assert!(AddCheckpoint::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
        let many = format!(
            "old 1\n{}\nx\n",
            "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n".repeat(64)
        );
        assert!(AddCheckpoint::parse(many.as_bytes()).is_err());
    }
}
