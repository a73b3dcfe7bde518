//! Checkpoints in the C2SP signed-note format (c2sp.org/signed-note, c2sp.org/tlog-checkpoint):
//!
//! ```text
//! <origin>\n<size>\n<base64 root hash>\n
//! \n
//! — <key name> <base64(key id ‖ Ed25519 signature)>\n
//! ```
//!
//! The signature covers the body (the first three lines with their newlines). The key id is
//! the first 4 bytes of SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public key), 0x01 naming Ed25519.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::signature::{UnparsedPublicKey, ED25519};

use super::merkle::Hash;

/// Signature type byte for Ed25519 in signed notes.
const ALG_ED25519: u8 = 0x01;
/// The em dash that starts a signature line.
const SIG_PREFIX: &str = "\u{2014} ";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint text is malformed: {0}")]
    Malformed(&'static str),
    #[error("verifier key is malformed")]
    BadKey,
    #[error("no signature by key {0}")]
    NoSignature(String),
    #[error("signature does not verify")]
    BadSignature,
    #[error("origin is {found:?}, expected {expected:?}")]
    WrongOrigin { found: String, expected: String },
}

/// The checkpoint body: origin, tree size, root hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash,
}

impl Checkpoint {
    /// `origin` must be one non-empty line.
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Self, CheckpointError> {
        if origin.is_empty() || origin.contains('\n') {
            return Err(CheckpointError::Malformed(
                "origin must be one non-empty line",
            ));
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
    pub fn origin(&self) -> &str {
        &self.origin
    }
    pub fn size(&self) -> u64 {
        self.size
    }
    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// The signed body.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    /// Parses a checkpoint body (the note text before the signatures, final newline included).
    /// Extension lines after the root hash are allowed and ignored (c2sp.org/tlog-checkpoint).
    pub fn parse_body(body: &str) -> Result<Self, CheckpointError> {
        let mut lines = body.split('\n');
        let origin = lines
            .next()
            .ok_or(CheckpointError::Malformed("no origin"))?;
        let size = lines
            .next()
            .and_then(parse_decimal)
            .ok_or(CheckpointError::Malformed("bad tree size"))?;
        let root: Hash = lines
            .next()
            .and_then(|s| B64.decode(s).ok())
            .and_then(|v| v.try_into().ok())
            .ok_or(CheckpointError::Malformed("bad root hash"))?;
        Checkpoint::new(origin, size, root)
    }
}

/// An Ed25519 note verifier: name and public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    public_key: [u8; 32],
}

impl NoteVerifier {
    pub fn new(name: &str, public_key: &[u8]) -> Result<Self, CheckpointError> {
        if name.is_empty() || name.contains(['+', ' ', '\n']) {
            return Err(CheckpointError::BadKey);
        }
        Ok(NoteVerifier {
            name: name.to_owned(),
            public_key: public_key.try_into().map_err(|_| CheckpointError::BadKey)?,
        })
    }

    /// Parses `<name>+<hex key id>+<base64(0x01 ‖ public key)>`.
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        let (name, id, public) = split_vkey(text, ALG_ED25519)?;
        let verifier = NoteVerifier::new(name, &public)?;
        if hex::encode(verifier.key_id()) != id {
            return Err(CheckpointError::BadKey);
        }
        Ok(verifier)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> [u8; 4] {
        note_key_id(&self.name, ALG_ED25519, &self.public_key)
    }

    /// The verifier key string.
    pub fn to_key_string(&self) -> String {
        let mut key = vec![ALG_ED25519];
        key.extend_from_slice(&self.public_key);
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(self.key_id()),
            B64.encode(key)
        )
    }

    /// The signature line for `signature` over a body.
    pub fn signature_line(&self, signature: &[u8]) -> String {
        let mut blob = self.key_id().to_vec();
        blob.extend_from_slice(signature);
        format!("{SIG_PREFIX}{} {}\n", self.name, B64.encode(blob))
    }

    /// Verifies a signed note and returns its checkpoint. Signature lines by other keys are
    /// ignored; at least one must be ours and valid.
    pub fn verify(
        &self,
        note: &str,
        expected_origin: Option<&str>,
    ) -> Result<Checkpoint, CheckpointError> {
        let (body, signatures) = split_note(note)?;
        let checkpoint = Checkpoint::parse_body(body)?;
        if let Some(expected) = expected_origin {
            if checkpoint.origin != expected {
                return Err(CheckpointError::WrongOrigin {
                    found: checkpoint.origin.clone(),
                    expected: expected.to_owned(),
                });
            }
        }
        // A line with our name and key id that does not verify makes the note malformed
        // (c2sp.org/signed-note), even beside a valid one.
        let mut valid = false;
        for line in signatures.iter().filter(|l| l.name == self.name) {
            if line.blob[..4] != self.key_id() {
                continue;
            }
            if line.blob.len() != 4 + 64 || !self.verifies(body, &line.blob[4..]) {
                return Err(CheckpointError::BadSignature);
            }
            valid = true;
        }
        if valid {
            Ok(checkpoint)
        } else {
            Err(CheckpointError::NoSignature(self.name.clone()))
        }
    }

    fn verifies(&self, body: &str, signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, self.public_key)
            .verify(body.as_bytes(), signature)
            .is_ok()
    }
}

/// Splits a vkey `<name>+<hex key id>+<base64(type ‖ public key)>` whose type is `alg` into
/// name, id and public key (the caller checks the id against the name and key).
pub fn split_vkey(text: &str, alg: u8) -> Result<(&str, &str, Vec<u8>), CheckpointError> {
    // The base64 key may itself contain '+': split off the name and id only.
    let mut parts = text.trim().splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(CheckpointError::BadKey);
    };
    let key = B64.decode(key).map_err(|_| CheckpointError::BadKey)?;
    match key.split_first() {
        Some((&t, public)) if t == alg => Ok((name, id, public.to_vec())),
        _ => Err(CheckpointError::BadKey),
    }
}

/// ASCII decimal without sign or leading zeros, at most 2^63 - 1 (c2sp.org/tlog-checkpoint
/// sizes, tlog-witness old sizes, tlog-proof indices).
pub fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse::<u64>().ok().filter(|n| *n <= i64::MAX as u64)
}

/// The key id of a signed-note key: SHA-256(name ‖ 0x0A ‖ signature type ‖ public key)[..4].
pub fn note_key_id(name: &str, alg: u8, public_key: &[u8]) -> [u8; 4] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(name.as_bytes());
    ctx.update(b"\n");
    ctx.update(&[alg]);
    ctx.update(public_key);
    let d = ctx.finish();
    let mut id = [0u8; 4];
    id.copy_from_slice(&d.as_ref()[..4]);
    id
}

/// Whether `name` may be a key name or origin: non-empty, at most 255 bytes, no '+', no
/// white space, no control character (c2sp.org/signed-note).
pub fn valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name
            .chars()
            .any(|c| c == '+' || c.is_whitespace() || c.is_control())
}

/// One signature line of a note: the key name and base64-decoded key id ‖ signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureLine<'a> {
    pub name: &'a str,
    pub blob: Vec<u8>,
}

/// Most signature lines read from one note (a log signature and its witnesses' cosignatures).
pub const MAX_SIGNATURE_LINES: usize = 100;

/// Splits a signed note into its body (final newline included) and its signature lines.
pub fn split_note(note: &str) -> Result<(&str, Vec<SignatureLine<'_>>), CheckpointError> {
    let split = note.find("\n\n").ok_or(CheckpointError::Malformed(
        "no blank line before signatures",
    ))?;
    let body = &note[..split + 1];
    let mut lines = Vec::new();
    for line in note[split + 2..].split_terminator('\n') {
        if lines.len() == MAX_SIGNATURE_LINES {
            return Err(CheckpointError::Malformed("too many signature lines"));
        }
        let rest = line
            .strip_prefix(SIG_PREFIX)
            .ok_or(CheckpointError::Malformed("bad signature line"))?;
        let (name, blob) = rest
            .split_once(' ')
            .ok_or(CheckpointError::Malformed("bad signature line"))?;
        let decoded = B64
            .decode(blob)
            .ok()
            .filter(|b| b.len() > 4 && B64.encode(b) == blob)
            .ok_or(CheckpointError::Malformed("bad signature base64"))?;
        if !valid_key_name(name) {
            return Err(CheckpointError::Malformed("bad key name"));
        }
        lines.push(SignatureLine {
            name,
            blob: decoded,
        });
    }
    if !note.ends_with('\n') {
        return Err(CheckpointError::Malformed(
            "note does not end with a newline",
        ));
    }
    Ok((body, lines))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyAlgorithm, Signer, SoftwareKey};

    #[test]
    fn sign_and_verify() {
        let (key, _) = SoftwareKey::generate(KeyAlgorithm::Ed25519).unwrap();
        let v = NoteVerifier::new("example.org/log", key.public_key()).unwrap();
        let cp = Checkpoint::new("example.org/log", 7, [9u8; 32]).unwrap();
        let body = cp.body();
        let note = format!(
            "{body}\n{}",
            v.signature_line(&key.sign(body.as_bytes()).unwrap())
        );
        assert_eq!(v.verify(&note, Some("example.org/log")).unwrap(), cp);
        // The key string round-trips.
        assert_eq!(NoteVerifier::parse(&v.to_key_string()).unwrap(), v);
        // A changed size, a wrong origin or another key fails.
        let forged = note.replacen("\n7\n", "\n8\n", 1);
        assert_eq!(v.verify(&forged, None), Err(CheckpointError::BadSignature));
        assert!(matches!(
            v.verify(&note, Some("other")),
            Err(CheckpointError::WrongOrigin { .. })
        ));
        let (other, _) = SoftwareKey::generate(KeyAlgorithm::Ed25519).unwrap();
        let v2 = NoteVerifier::new("example.org/log", other.public_key()).unwrap();
        assert!(v2.verify(&note, None).is_err());
        assert!(v.verify("garbage", None).is_err());
        assert!(v.verify("o\n01\nAAAA\n\n", None).is_err());
    }

    #[test]
    fn key_id_is_the_c2sp_construction() {
        // Key id = SHA-256(name ‖ "\n" ‖ 0x01 ‖ key)[..4], checked against an independent computation.
        let v = NoteVerifier::new("a", &[0u8; 32]).unwrap();
        let mut input = b"a\n\x01".to_vec();
        input.extend_from_slice(&[0u8; 32]);
        let d = ring::digest::digest(&ring::digest::SHA256, &input);
        assert_eq!(v.key_id(), d.as_ref()[..4]);
    }
}
