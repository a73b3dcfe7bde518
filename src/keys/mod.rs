//! Signing keys behind the [`Signer`] trait, so that a key held in an HSM (PKCS#11) can replace
//! a software key without touching the callers. Software keys come from PKCS#8 bytes that the
//! vault decrypted; their `Debug` output shows only the key id. Below the PKI and the log, which
//! both sign: it uses nothing but the store's key record.

use std::fmt;
use std::sync::Arc;

use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use zeroize::Zeroizing;

use crate::store::StoredKey;

pub mod sm2;
pub mod vault;

/// Why a key could not be made, opened or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key generation failed")]
    KeyGeneration,
    #[error("signing failed")]
    Signing,
    #[error("a stored key is malformed or does not match its id")]
    BadStoredKey,
    #[error(transparent)]
    Vault(#[from] vault::VaultError),
}

/// Key and signature algorithm of a key; a per-CA property (ARCHITECTURE.md §4), so RSA, Ed25519 or
/// SM2 can be added as further variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// ECDSA over P-256 with SHA-256; signatures in ASN.1 DER (X.509, CMS).
    EcdsaP256Sha256,
    /// Ed25519 (the issuance log's checkpoint key).
    Ed25519,
    /// SM2 with SM3 (GB/T 32918, GB/T 35276): the national hierarchy, seals and OFD
    /// signatures; DER signatures, default signer ID.
    Sm2Sm3,
}

impl KeyAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::EcdsaP256Sha256 => "ecdsa-p256-sha256",
            KeyAlgorithm::Ed25519 => "ed25519",
            KeyAlgorithm::Sm2Sm3 => "sm2-sm3",
        }
    }

    pub fn parse(s: &str) -> Option<KeyAlgorithm> {
        match s {
            "ecdsa-p256-sha256" => Some(KeyAlgorithm::EcdsaP256Sha256),
            "ed25519" => Some(KeyAlgorithm::Ed25519),
            "sm2-sm3" => Some(KeyAlgorithm::Sm2Sm3),
            _ => None,
        }
    }
}

/// Something that signs with a private key it does not reveal.
pub trait Signer: Send + Sync {
    /// Stable identifier: hex of the first 16 bytes of SHA-256 over the public key bytes.
    fn key_id(&self) -> &str;
    fn algorithm(&self) -> KeyAlgorithm;
    /// The raw public key (uncompressed EC point, or the 32 Ed25519 bytes).
    fn public_key(&self) -> &[u8];
    /// Signs `message` (hashing it as the algorithm says).
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError>;
}

fn key_id_of(public_key: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, public_key);
    hex::encode(&digest.as_ref()[..16])
}

/// A software key held in memory.
pub struct SoftwareKey {
    id: String,
    algorithm: KeyAlgorithm,
    inner: SoftwareKeyInner,
}

enum SoftwareKeyInner {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Sm2(sm2::Sm2Key),
}

impl fmt::Debug for SoftwareKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftwareKey")
            .field("id", &self.id)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl SoftwareKey {
    /// Generates a key; returns it with its PKCS#8 bytes (to be sealed by the vault).
    pub fn generate(
        algorithm: KeyAlgorithm,
    ) -> Result<(SoftwareKey, Zeroizing<Vec<u8>>), KeyError> {
        let rng = SystemRandom::new();
        if algorithm == KeyAlgorithm::Sm2Sm3 {
            let (_, scalar) = sm2::Sm2Key::generate().ok_or(KeyError::KeyGeneration)?;
            let key = SoftwareKey::from_pkcs8(algorithm, &scalar)?;
            return Ok((key, scalar));
        }
        let pkcs8 = match algorithm {
            KeyAlgorithm::EcdsaP256Sha256 => {
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            }
            KeyAlgorithm::Ed25519 => Ed25519KeyPair::generate_pkcs8(&rng),
            KeyAlgorithm::Sm2Sm3 => return Err(KeyError::KeyGeneration),
        }
        .map_err(|_| KeyError::KeyGeneration)?;
        let pkcs8 = Zeroizing::new(pkcs8.as_ref().to_vec());
        let key = SoftwareKey::from_pkcs8(algorithm, &pkcs8)?;
        Ok((key, pkcs8))
    }

    /// A key from the bytes the vault keeps: PKCS#8 for ring's algorithms, the 32-byte private
    /// scalar for SM2 (ring has no SM2, and the scalar is all an SM2 key is).
    pub fn from_pkcs8(algorithm: KeyAlgorithm, pkcs8: &[u8]) -> Result<SoftwareKey, KeyError> {
        let inner = match algorithm {
            KeyAlgorithm::EcdsaP256Sha256 => SoftwareKeyInner::Ecdsa(
                EcdsaKeyPair::from_pkcs8(
                    &ECDSA_P256_SHA256_ASN1_SIGNING,
                    pkcs8,
                    &SystemRandom::new(),
                )
                .map_err(|_| KeyError::BadStoredKey)?,
            ),
            KeyAlgorithm::Ed25519 => SoftwareKeyInner::Ed25519(
                Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
                    .map_err(|_| KeyError::BadStoredKey)?,
            ),
            KeyAlgorithm::Sm2Sm3 => SoftwareKeyInner::Sm2(
                sm2::Sm2Key::from_scalar(pkcs8).ok_or(KeyError::BadStoredKey)?,
            ),
        };
        let public = match &inner {
            SoftwareKeyInner::Ecdsa(k) => k.public_key().as_ref().to_vec(),
            SoftwareKeyInner::Ed25519(k) => k.public_key().as_ref().to_vec(),
            SoftwareKeyInner::Sm2(k) => k.public_key().to_vec(),
        };
        Ok(SoftwareKey {
            id: key_id_of(&public),
            algorithm,
            inner,
        })
    }

    /// Opens a stored key with the vault.
    pub fn open(stored: &StoredKey, vault: &vault::MasterKey) -> Result<SoftwareKey, KeyError> {
        let algorithm = KeyAlgorithm::parse(&stored.algorithm).ok_or(KeyError::BadStoredKey)?;
        let pkcs8 = vault.open(&key_binding(&stored.id), &stored.sealed_private_key)?;
        let key = SoftwareKey::from_pkcs8(algorithm, &pkcs8)?;
        if key.id != stored.id {
            return Err(KeyError::BadStoredKey);
        }
        Ok(key)
    }

    /// The row to store for this key, its PKCS#8 sealed under the master key.
    pub fn to_stored(
        &self,
        pkcs8: &[u8],
        vault: &vault::MasterKey,
        now: i64,
    ) -> Result<StoredKey, KeyError> {
        Ok(StoredKey {
            id: self.id.clone(),
            algorithm: self.algorithm.as_str().to_owned(),
            public_key: self.public_key().to_vec(),
            sealed_private_key: vault.seal(&key_binding(&self.id), pkcs8)?,
            created_at: now,
        })
    }
}

/// The stored key's private part sealed again under the vault's current master key (it must
/// open, and be the key its row says, with one of the vault's keys).
pub fn reseal(stored: &StoredKey, vault: &vault::MasterKey) -> Result<Vec<u8>, KeyError> {
    SoftwareKey::open(stored, vault)?;
    let binding = key_binding(&stored.id);
    let plain = vault.open(&binding, &stored.sealed_private_key)?;
    Ok(vault.seal(&binding, &plain)?)
}

/// Associated data that binds a sealed private key to its row.
fn key_binding(id: &str) -> String {
    format!("trustd:keys:{id}")
}

impl Signer for SoftwareKey {
    fn key_id(&self) -> &str {
        &self.id
    }
    fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }
    fn public_key(&self) -> &[u8] {
        match &self.inner {
            SoftwareKeyInner::Ecdsa(k) => k.public_key().as_ref(),
            SoftwareKeyInner::Ed25519(k) => k.public_key().as_ref(),
            SoftwareKeyInner::Sm2(k) => k.public_key(),
        }
    }
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.inner {
            SoftwareKeyInner::Ecdsa(k) => k
                .sign(&SystemRandom::new(), message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::Signing),
            SoftwareKeyInner::Ed25519(k) => Ok(k.sign(message).as_ref().to_vec()),
            SoftwareKeyInner::Sm2(k) => k.sign(message).ok_or(KeyError::Signing),
        }
    }
}

/// Adapts a [`Signer`] to rcgen, which builds and signs the P-256 certificates. rcgen has no
/// SM2: the national hierarchy is built by `pki::sm2` instead, and an SM2 key given here
/// refuses to sign rather than make a certificate whose algorithm lies.
pub struct RcgenKey(pub Arc<dyn Signer>);

impl rcgen::PublicKeyData for RcgenKey {
    fn der_bytes(&self) -> &[u8] {
        self.0.public_key()
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        match self.0.algorithm() {
            KeyAlgorithm::EcdsaP256Sha256 | KeyAlgorithm::Sm2Sm3 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyAlgorithm::Ed25519 => &rcgen::PKCS_ED25519,
        }
    }
}

impl rcgen::SigningKey for RcgenKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        if self.0.algorithm() == KeyAlgorithm::Sm2Sm3 {
            return Err(rcgen::Error::UnsupportedSignatureAlgorithm);
        }
        self.0.sign(msg).map_err(|_| rcgen::Error::RingUnspecified)
    }
}

/// The public key of a certificate subject, for building a certificate without its private key.
pub struct PublicKeyOnly {
    pub algorithm: KeyAlgorithm,
    pub raw: Vec<u8>,
}

impl rcgen::PublicKeyData for PublicKeyOnly {
    fn der_bytes(&self) -> &[u8] {
        &self.raw
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        match self.algorithm {
            KeyAlgorithm::EcdsaP256Sha256 | KeyAlgorithm::Sm2Sm3 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyAlgorithm::Ed25519 => &rcgen::PKCS_ED25519,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_prints_no_key_material() {
        let (key, pkcs8) = SoftwareKey::generate(KeyAlgorithm::EcdsaP256Sha256).unwrap();
        let printed = format!("{key:?}");
        assert!(printed.contains(key.key_id()));
        assert!(!printed.contains(&hex::encode(&pkcs8[pkcs8.len() - 16..])));
        assert!(!printed.to_lowercase().contains("private"));
    }

    #[test]
    fn stored_key_round_trip() {
        let vault = super::vault::MasterKey::from_bytes(&[7u8; 32]).unwrap();
        for alg in [
            KeyAlgorithm::EcdsaP256Sha256,
            KeyAlgorithm::Ed25519,
            KeyAlgorithm::Sm2Sm3,
        ] {
            let (key, pkcs8) = SoftwareKey::generate(alg).unwrap();
            let stored = key.to_stored(&pkcs8, &vault, 0).unwrap();
            let opened = SoftwareKey::open(&stored, &vault).unwrap();
            assert_eq!(opened.public_key(), key.public_key());
            let other = super::vault::MasterKey::from_bytes(&[8u8; 32]).unwrap();
            assert!(SoftwareKey::open(&stored, &other).is_err());
        }
    }
}
