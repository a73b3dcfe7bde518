//! Private keys at rest (ARCHITECTURE.md §4): AES-256-GCM under the master key, each ciphertext bound
//! to the row that holds it through the associated data, so that a ciphertext copied into another
//! row does not decrypt.

use std::fmt;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

/// Format byte of a sealed blob: version 1 = nonce ‖ AES-256-GCM ciphertext ‖ tag.
const SEALED_V1: u8 = 1;

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

/// The key encryption key. Its bytes never leave this type and are not printable.
pub struct MasterKey {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, VaultError> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| VaultError::BadMasterKey)?;
        Ok(MasterKey {
            key: LessSafeKey::new(unbound),
            rng: SystemRandom::new(),
        })
    }

    pub fn from_base64(text: &str) -> Result<Self, VaultError> {
        use base64::Engine;
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|_| VaultError::BadMasterKey)?,
        );
        if bytes.len() != 32 {
            return Err(VaultError::BadMasterKey);
        }
        Self::from_bytes(&bytes)
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

    /// Encrypts `plaintext`, bound to `binding` (e.g. `"key:<id>"`).
    pub fn seal(&self, binding: &str, plaintext: &[u8]) -> Result<Vec<u8>, VaultError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| VaultError::Random)?;
        let mut buf = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(binding.as_bytes()),
                &mut buf,
            )
            .map_err(|_| VaultError::Random)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + buf.len());
        out.push(SEALED_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        zeroize::Zeroize::zeroize(&mut buf);
        Ok(out)
    }

    /// Decrypts a blob made by [`MasterKey::seal`] with the same binding.
    pub fn open(&self, binding: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let (version, rest) = sealed.split_first().ok_or(VaultError::Decrypt)?;
        if *version != SEALED_V1 || rest.len() < NONCE_LEN {
            return Err(VaultError::Decrypt);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| VaultError::Decrypt)?;
        let mut buf = Zeroizing::new(ciphertext.to_vec());
        let plain_len = self
            .key
            .open_in_place(nonce, Aad::from(binding.as_bytes()), buf.as_mut_slice())
            .map_err(|_| VaultError::Decrypt)?
            .len();
        buf.truncate(plain_len);
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MasterKey {
        MasterKey::from_base64(&MasterKey::generate_base64().unwrap()).unwrap()
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
