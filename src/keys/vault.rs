//! Private keys at rest (ARCHITECTURE.md §4): AES-256-GCM under the master key, each ciphertext bound
//! to the row that holds it through the associated data, so that a ciphertext copied into another
//! row does not decrypt.

use std::fmt;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

/// Format byte of a sealed blob: version 1 = nonce ‖ AES-256-GCM ciphertext ‖ tag (read only);
/// version 2 = the key's id ‖ nonce ‖ ciphertext ‖ tag.
const SEALED_V1: u8 = 1;
const SEALED_V2: u8 = 2;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("the master key must be base64 of exactly 32 bytes")]
    BadMasterKey,
    #[error("a stored key does not decrypt under this master key (wrong master key, or the row was altered)")]
    Decrypt,
    #[error("the system random number generator failed")]
    Random,
}

/// Writes a new file readable by its owner only (0600), synced to disk; fails if it exists.
pub fn write_private_file(path: &std::path::Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Why a master key file could not be had.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyFileError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Key { path: String, source: VaultError },
}

/// The master key in `path` (base64), generated there (mode 0600) when the file is missing.
/// Returns the key and whether it was generated now.
pub fn master_key_file(path: &std::path::Path) -> Result<(MasterKey, bool), MasterKeyFileError> {
    let shown = path.display().to_string();
    let io = |source| MasterKeyFileError::Io {
        path: shown.clone(),
        source,
    };
    let key = |source| MasterKeyFileError::Key {
        path: shown.clone(),
        source,
    };
    let generated = !path.exists();
    if generated {
        let text = MasterKey::generate_base64().map_err(key)?;
        write_private_file(path, text.as_bytes()).map_err(io)?;
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io)?);
    Ok((MasterKey::from_base64(&text).map_err(key)?, generated))
}

/// The key encryption keys: the first encrypts, any decrypts (a rotation adds a new first key,
/// `trustd rekey` re-encrypts under it, then the old one is dropped). Their bytes never leave
/// this type and are not printable.
pub struct MasterKey {
    /// (key id, key), the encrypting one first.
    keys: Vec<([u8; 4], LessSafeKey)>,
    rng: SystemRandom,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// The id a sealed blob names its key by: SHA-256 of a label and the key, first 4 bytes (it
/// says which key, and nothing of it).
fn key_id(bytes: &[u8]) -> [u8; 4] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"trustd master key id\n");
    ctx.update(bytes);
    let d = ctx.finish();
    let mut id = [0u8; 4];
    id.copy_from_slice(&d.as_ref()[..4]);
    id
}

impl MasterKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, VaultError> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| VaultError::BadMasterKey)?;
        Ok(MasterKey {
            keys: vec![(key_id(bytes), LessSafeKey::new(unbound))],
            rng: SystemRandom::new(),
        })
    }

    /// One key, or several separated by commas or white space (the first encrypts), each
    /// base64 of 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, VaultError> {
        use base64::Engine;
        let mut keys = Vec::new();
        for part in text
            .split([',', ' ', '\n'])
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let bytes = Zeroizing::new(
                base64::engine::general_purpose::STANDARD
                    .decode(part)
                    .map_err(|_| VaultError::BadMasterKey)?,
            );
            if bytes.len() != 32 {
                return Err(VaultError::BadMasterKey);
            }
            keys.extend(Self::from_bytes(&bytes)?.keys);
        }
        if keys.is_empty() {
            return Err(VaultError::BadMasterKey);
        }
        Ok(MasterKey {
            keys,
            rng: SystemRandom::new(),
        })
    }

    /// 32 fresh random bytes, base64: the content of a generated `master.key`.
    pub fn generate_base64() -> Result<Zeroizing<String>, VaultError> {
        use base64::Engine;
        let mut bytes = Zeroizing::new([0u8; 32]);
        SystemRandom::new()
            .fill(bytes.as_mut())
            .map_err(|_| VaultError::Random)?;
        Ok(Zeroizing::new(
            base64::engine::general_purpose::STANDARD.encode(bytes.as_ref()),
        ))
    }

    /// Hex id of the key that encrypts.
    pub fn current_id(&self) -> String {
        hex::encode(self.keys[0].0)
    }

    /// Whether `sealed` is encrypted under the key that encrypts (else `trustd rekey` redoes it).
    pub fn is_current(&self, sealed: &[u8]) -> bool {
        sealed.first() == Some(&SEALED_V2) && sealed.get(1..5) == Some(&self.keys[0].0[..])
    }

    /// Encrypts `plaintext` under the first key, bound to `binding` (e.g. `"key:<id>"`):
    /// 2 ‖ key id ‖ nonce ‖ AES-256-GCM ciphertext ‖ tag.
    pub fn seal(&self, binding: &str, plaintext: &[u8]) -> Result<Vec<u8>, VaultError> {
        let (id, key) = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| VaultError::Random)?;
        let mut buf = plaintext.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(binding.as_bytes()),
            &mut buf,
        )
        .map_err(|_| VaultError::Random)?;
        let mut out = Vec::with_capacity(5 + NONCE_LEN + buf.len());
        out.push(SEALED_V2);
        out.extend_from_slice(id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        zeroize::Zeroize::zeroize(&mut buf);
        Ok(out)
    }

    /// Decrypts a blob made by [`MasterKey::seal`] with the same binding: a version-2 blob
    /// with the key it names, a version-1 blob (no key id) with whichever key opens it.
    pub fn open(&self, binding: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let (version, rest) = sealed.split_first().ok_or(VaultError::Decrypt)?;
        let (candidates, body): (Vec<&LessSafeKey>, &[u8]) = match *version {
            SEALED_V1 => (self.keys.iter().map(|(_, k)| k).collect(), rest),
            SEALED_V2 if rest.len() >= 4 => (
                self.keys
                    .iter()
                    .filter(|(id, _)| id[..] == rest[..4])
                    .map(|(_, k)| k)
                    .collect(),
                &rest[4..],
            ),
            _ => return Err(VaultError::Decrypt),
        };
        if body.len() < NONCE_LEN {
            return Err(VaultError::Decrypt);
        }
        let (nonce, ciphertext) = body.split_at(NONCE_LEN);
        for key in candidates {
            let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| VaultError::Decrypt)?;
            let mut buf = Zeroizing::new(ciphertext.to_vec());
            if let Ok(plain) =
                key.open_in_place(nonce, Aad::from(binding.as_bytes()), buf.as_mut_slice())
            {
                let plain_len = plain.len();
                buf.truncate(plain_len);
                return Ok(buf);
            }
        }
        Err(VaultError::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MasterKey {
        MasterKey::from_base64(&MasterKey::generate_base64().unwrap()).unwrap()
    }

    #[test]
    fn several_keys_decrypt_the_first_encrypts() {
        let k1 = MasterKey::generate_base64().unwrap();
        let k2 = MasterKey::generate_base64().unwrap();
        let old = MasterKey::from_base64(&k1).unwrap();
        let sealed_old = old.seal("key:a", b"secret").unwrap();
        let both = MasterKey::from_base64(&format!("{},{}", *k2, *k1)).unwrap();
        assert_eq!(
            both.open("key:a", &sealed_old).unwrap().as_slice(),
            b"secret"
        );
        assert!(!both.is_current(&sealed_old));
        let sealed_new = both.seal("key:a", b"secret").unwrap();
        assert!(both.is_current(&sealed_new));
        let new = MasterKey::from_base64(&k2).unwrap();
        assert_eq!(
            new.open("key:a", &sealed_new).unwrap().as_slice(),
            b"secret"
        );
        assert!(new.open("key:a", &sealed_old).is_err());
        assert!(old.open("key:a", &sealed_new).is_err());
        // A version-1 blob (no key id) still opens, with whichever key made it.
        let mut v1 = vec![SEALED_V1];
        v1.extend_from_slice(&sealed_old[5..]);
        assert_eq!(both.open("key:a", &v1).unwrap().as_slice(), b"secret");
        assert!(MasterKey::from_base64("").is_err());
        assert!(MasterKey::from_base64(&format!("{},AAAA", *k1)).is_err());
    }

    #[test]
    fn round_trip() {
        let k = key();
        let sealed = k.seal("key:a", b"secret").unwrap();
        assert_eq!(k.open("key:a", &sealed).unwrap().as_slice(), b"secret");
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
    }

    #[test]
    fn ciphertext_bound_to_row() {
        let k = key();
        let sealed = k.seal("key:a", b"secret").unwrap();
        assert!(matches!(k.open("key:b", &sealed), Err(VaultError::Decrypt)));
    }

    #[test]
    fn wrong_master_key_fails() {
        let sealed = key().seal("key:a", b"secret").unwrap();
        assert!(matches!(
            key().open("key:a", &sealed),
            Err(VaultError::Decrypt)
        ));
    }

    #[test]
    fn tampered_or_short_blob_fails() {
        let k = key();
        let mut sealed = k.seal("key:a", b"secret").unwrap();
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(k.open("key:a", &sealed).is_err());
        assert!(k.open("key:a", &[1, 2, 3]).is_err());
        assert!(k.open("key:a", &[]).is_err());
    }

    #[test]
    fn master_key_must_be_32_bytes() {
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
        assert!(MasterKey::from_base64("not base64!").is_err());
        assert!(format!("{:?}", key()) == "MasterKey(..)");
    }
}
