//! The PKI (DESIGN.md §3): the root CA, department CAs, keys sealed at rest, and the signers
//! that use them. Certificates are built here but stored by the caller, in the same write set
//! as the change they belong to.

pub mod certs;
pub mod chain;
pub mod cms;
pub mod keys;
pub mod tsa;
pub mod vault;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use time::OffsetDateTime;
use x509_parser::prelude::FromDer;

use crate::store::{CertificateRecord, Repository, StoreError, StoredKey};
use keys::{KeyAlgorithm, RcgenKey, Signer, SoftwareKey};
use vault::{MasterKey, VaultError};

/// Meta key holding the root CA's serial.
pub const META_ROOT_SERIAL: &str = "root_ca_serial";

/// Errors of the PKI layer.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("key generation failed")]
    KeyGeneration,
    #[error("signing failed")]
    Signing,
    #[error("a stored key is malformed or does not match its id")]
    BadStoredKey,
    #[error("a stored certificate is malformed")]
    BadCertificate,
    #[error("the public URL cannot be put in a certificate")]
    BadUrl,
    #[error("certificate building failed: {0}")]
    Build(#[from] rcgen::Error),
    #[error("the root CA does not exist yet")]
    NoRoot,
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A freshly issued certificate and its new key, ready to be stored.
#[derive(Debug)]
pub struct Issued {
    pub key: StoredKey,
    pub certificate: CertificateRecord,
}

/// The PKI service: opens stored keys with the master key (caching them in memory) and issues
/// certificates.
pub struct Pki {
    vault: MasterKey,
    store: Arc<dyn Repository>,
    public_url: String,
    signers: RwLock<HashMap<String, Arc<dyn Signer>>>,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki")
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

/// Reads the validity of a DER certificate as unix seconds.
pub fn validity_of(der: &[u8]) -> Result<(i64, i64), PkiError> {
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der)
        .map_err(|_| PkiError::BadCertificate)?;
    Ok((
        cert.validity().not_before.timestamp(),
        cert.validity().not_after.timestamp(),
    ))
}

/// PEM text of a DER certificate.
pub fn to_pem(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

impl Pki {
    pub fn new(vault: MasterKey, store: Arc<dyn Repository>, public_url: String) -> Self {
        Pki {
            vault,
            store,
            public_url,
            signers: RwLock::new(HashMap::new()),
        }
    }

    pub fn vault(&self) -> &MasterKey {
        &self.vault
    }

    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The signer for a stored key, opened once and then cached.
    pub async fn signer(&self, key_id: &str) -> Result<Arc<dyn Signer>, PkiError> {
        if let Some(s) = self
            .signers
            .read()
            .ok()
            .and_then(|m| m.get(key_id).cloned())
        {
            return Ok(s);
        }
        let stored = self
            .store
            .key(key_id)
            .await?
            .ok_or(PkiError::BadStoredKey)?;
        let signer: Arc<dyn Signer> = Arc::new(SoftwareKey::open(&stored, &self.vault)?);
        if let Ok(mut map) = self.signers.write() {
            map.insert(key_id.to_owned(), signer.clone());
        }
        Ok(signer)
    }

    /// A new key: the signer (cached) and the sealed row to store.
    pub fn new_key(
        &self,
        algorithm: KeyAlgorithm,
        now: i64,
    ) -> Result<(Arc<dyn Signer>, StoredKey), PkiError> {
        let (key, pkcs8) = SoftwareKey::generate(algorithm)?;
        let stored = key.to_stored(&pkcs8, &self.vault, now)?;
        let signer: Arc<dyn Signer> = Arc::new(key);
        if let Ok(mut map) = self.signers.write() {
            map.insert(stored.id.clone(), signer.clone());
        }
        Ok((signer, stored))
    }

    /// The root CA certificate.
    pub async fn root(&self) -> Result<CertificateRecord, PkiError> {
        let serial = self
            .store
            .meta(META_ROOT_SERIAL)
            .await?
            .ok_or(PkiError::NoRoot)?;
        let serial = String::from_utf8(serial).map_err(|_| PkiError::BadCertificate)?;
        self.store
            .certificate(&serial)
            .await?
            .ok_or(PkiError::NoRoot)
    }

    /// Builds the root CA (self-signed, 20 years). Not stored: see [`crate::startup`].
    pub fn build_root(&self, common_name: &str, now: OffsetDateTime) -> Result<Issued, PkiError> {
        let (signer, key) = self.new_key(KeyAlgorithm::EcdsaP256Sha256, now.unix_timestamp())?;
        let serial = certs::random_serial()?;
        let params = certs::root_ca_params(
            common_name,
            &serial,
            now,
            now + time::Duration::days(365 * 20),
        );
        let cert = params.self_signed(&RcgenKey(signer))?;
        let der = cert.der().to_vec();
        let (not_before, not_after) = validity_of(&der)?;
        Ok(Issued {
            certificate: CertificateRecord {
                serial: hex::encode(&serial),
                issuer: "root".into(),
                kind: "root-ca".into(),
                subject: common_name.to_owned(),
                department_code: None,
                key_id: key.id.clone(),
                der,
                not_before,
                not_after,
                revoked_at: None,
                revocation_reason: None,
                created_at: now.unix_timestamp(),
            },
            key,
        })
    }

    /// Issues the TSA certificate under the root (10 years, within the root's life).
    pub async fn issue_tsa(&self, now: OffsetDateTime) -> Result<Issued, PkiError> {
        let root = self.root().await?;
        let root_signer = self.signer(&root.key_id).await?;
        let (signer, key) = self.new_key(KeyAlgorithm::EcdsaP256Sha256, now.unix_timestamp())?;
        let serial = certs::random_serial()?;
        let root_end = OffsetDateTime::from_unix_timestamp(root.not_after)
            .map_err(|_| PkiError::BadCertificate)?;
        let validity = certs::Validity {
            not_before: now,
            not_after: (now + time::Duration::days(365 * 10)).min(root_end),
        };
        let urls = certs::RevocationUrls::for_ca(&self.public_url, "root");
        let name = "trustd Time-Stamping Authority";
        let params = certs::tsa_params(name, &serial, validity, &urls)?;
        let issuer =
            rcgen::Issuer::from_ca_cert_der(&root.der.as_slice().into(), RcgenKey(root_signer))?;
        let public = keys::PublicKeyOnly {
            algorithm: signer.algorithm(),
            raw: signer.public_key().to_vec(),
        };
        let der = params.signed_by(&public, &issuer)?.der().to_vec();
        let (not_before, not_after) = validity_of(&der)?;
        Ok(Issued {
            certificate: CertificateRecord {
                serial: hex::encode(&serial),
                issuer: "root".into(),
                kind: "tsa".into(),
                subject: name.into(),
                department_code: None,
                key_id: key.id.clone(),
                der,
                not_before,
                not_after,
                revoked_at: None,
                revocation_reason: None,
                created_at: now.unix_timestamp(),
            },
            key,
        })
    }

    /// Issues an end-entity certificate under a department's CA for a new key.
    pub async fn issue_department_leaf(
        &self,
        department_code: &str,
        kind: &str,
        common_name: &str,
        key_usages: Vec<rcgen::KeyUsagePurpose>,
        valid_days: i64,
        now: OffsetDateTime,
    ) -> Result<Issued, PkiError> {
        let ca = self
            .store
            .certificates_of_kind("department-ca", Some(department_code))
            .await?
            .into_iter()
            .rfind(|c| c.revoked_at.is_none())
            .ok_or(PkiError::NoRoot)?;
        let department = self
            .store
            .department(department_code)
            .await?
            .ok_or(PkiError::NoRoot)?;
        let ca_signer = self.signer(&ca.key_id).await?;
        let (signer, key) = self.new_key(KeyAlgorithm::EcdsaP256Sha256, now.unix_timestamp())?;
        let serial = certs::random_serial()?;
        let ca_end = OffsetDateTime::from_unix_timestamp(ca.not_after)
            .map_err(|_| PkiError::BadCertificate)?;
        let not_after = (now + time::Duration::days(valid_days)).min(ca_end);
        let urls = certs::RevocationUrls::for_ca(&self.public_url, department_code);
        let subject = certs::DepartmentSubject {
            code: department_code,
            name: &department.name,
            common_name,
        };
        let validity = certs::Validity {
            not_before: now,
            not_after,
        };
        let params = certs::department_leaf_params(subject, &serial, validity, key_usages, &urls)?;
        let issuer =
            rcgen::Issuer::from_ca_cert_der(&ca.der.as_slice().into(), RcgenKey(ca_signer))?;
        let public = keys::PublicKeyOnly {
            algorithm: signer.algorithm(),
            raw: signer.public_key().to_vec(),
        };
        let der = params.signed_by(&public, &issuer)?.der().to_vec();
        let (not_before, not_after) = validity_of(&der)?;
        Ok(Issued {
            certificate: CertificateRecord {
                serial: hex::encode(&serial),
                issuer: department_code.to_owned(),
                kind: kind.to_owned(),
                subject: common_name.to_owned(),
                department_code: Some(department_code.to_owned()),
                key_id: key.id.clone(),
                der,
                not_before,
                not_after,
                revoked_at: None,
                revocation_reason: None,
                created_at: now.unix_timestamp(),
            },
            key,
        })
    }

    /// Issues a department's intermediate CA under the root (10 years, within the root's life).
    pub async fn issue_department_ca(
        &self,
        code: &str,
        name: &str,
        now: OffsetDateTime,
    ) -> Result<Issued, PkiError> {
        let root = self.root().await?;
        let root_signer = self.signer(&root.key_id).await?;
        let (signer, key) = self.new_key(KeyAlgorithm::EcdsaP256Sha256, now.unix_timestamp())?;
        let serial = certs::random_serial()?;
        let not_after = (now + time::Duration::days(365 * 10)).min(
            OffsetDateTime::from_unix_timestamp(root.not_after)
                .map_err(|_| PkiError::BadCertificate)?,
        );
        let urls = certs::RevocationUrls::for_ca(&self.public_url, "root");
        let params = certs::department_ca_params(code, name, &serial, now, not_after, &urls)?;
        let issuer =
            rcgen::Issuer::from_ca_cert_der(&root.der.as_slice().into(), RcgenKey(root_signer))?;
        let public = keys::PublicKeyOnly {
            algorithm: signer.algorithm(),
            raw: signer.public_key().to_vec(),
        };
        let der = params.signed_by(&public, &issuer)?.der().to_vec();
        let (not_before, not_after) = validity_of(&der)?;
        Ok(Issued {
            certificate: CertificateRecord {
                serial: hex::encode(&serial),
                issuer: "root".into(),
                kind: "department-ca".into(),
                subject: format!("{name} CA"),
                department_code: Some(code.to_owned()),
                key_id: key.id.clone(),
                der,
                not_before,
                not_after,
                revoked_at: None,
                revocation_reason: None,
                created_at: now.unix_timestamp(),
            },
            key,
        })
    }
}
