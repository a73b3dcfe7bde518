//! The PKI (ARCHITECTURE.md §4): the root CA, department CAs, keys sealed at rest, and the signers
//! that use them. Certificates are built here but stored by the caller, in the same write set
//! as the change they belong to.

pub mod certs;
pub mod chain;
pub mod cms;
pub mod ocsp;
pub mod oid;
pub mod revocation;
pub mod rollover;
pub mod signers;
pub mod sm2;
pub mod tsa;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use time::OffsetDateTime;
use x509_parser::prelude::FromDer;

use crate::keys::vault::{MasterKey, VaultError};
use crate::keys::{self, KeyAlgorithm, KeyError, RcgenKey, Signer, SoftwareKey};
use crate::log::{Event, EventType};
use crate::store::CertKind;
use crate::store::{CertificateRecord, Change, Repository, StoreError, StoredKey, WriteSet};

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
    #[error("the department's CA is revoked: nothing can be issued under it")]
    CaRevoked,
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<KeyError> for PkiError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::KeyGeneration => PkiError::KeyGeneration,
            KeyError::Signing => PkiError::Signing,
            KeyError::BadStoredKey => PkiError::BadStoredKey,
            KeyError::Vault(v) => PkiError::Vault(v),
        }
    }
}

/// A freshly issued certificate and its new key, ready to be stored.
#[derive(Debug)]
pub struct Issued {
    pub key: StoredKey,
    pub certificate: CertificateRecord,
}

impl Issued {
    /// The write set every issuance starts from: the key, the certificate and its log event
    /// (by `actor`, `None` for the service itself), after `lead`, the event of what the
    /// certificate is for (a department's creation, a seal's), when there is one: the first
    /// event is the one whose index the caller answers. The caller adds the changes that go
    /// with it (the department, the seal). Returns the certificate too.
    pub fn into_writes(
        self,
        now: time::OffsetDateTime,
        actor: Option<&str>,
        lead: Option<Event>,
    ) -> (WriteSet, CertificateRecord) {
        let event = certificate_event(&self.certificate, now).actor(actor);
        let mut writes = WriteSet::new()
            .change(Change::InsertKey(self.key))
            .change(Change::InsertCertificate(self.certificate.clone()));
        if let Some(lead) = lead {
            writes = writes.event(lead.to_new_event());
        }
        (writes.event(event.to_new_event()), self.certificate)
    }
}

/// The log event for an issued certificate (its hash, never the key).
pub fn certificate_event(cert: &CertificateRecord, now: time::OffsetDateTime) -> Event {
    let digest = ring::digest::digest(&ring::digest::SHA256, &cert.der);
    let mut event = Event::new(EventType::CertificateIssued, now, cert.serial.as_str())
        .data("kind", cert.kind.as_str())
        .data("issuer", &cert.issuer)
        .data("subject", &cert.subject)
        .data("sha256", hex::encode(digest.as_ref()))
        .data("not_before", cert.not_before)
        .data("not_after", cert.not_after);
    if let Some(d) = &cert.department_code {
        event = event.department(d.as_str());
    }
    event
}

/// The PKI service: opens stored keys with the master key (caching them in memory) and issues
/// certificates.
pub struct Pki {
    vault: MasterKey,
    store: Arc<dyn Repository>,
    public_url: String,
    signers: RwLock<HashMap<String, Arc<dyn Signer>>>,
    /// The CAs OCSP requests can name, and each CA's delegated responder (by CA serial).
    ocsp_cas: RwLock<Option<Arc<Vec<ocsp::KnownCa>>>>,
    ocsp_responders: RwLock<HashMap<String, Arc<ocsp::Responder>>>,
    /// Signed answers to requests without a nonce, by request bytes, with when they were made.
    ocsp_answers: std::sync::Mutex<ocsp::ReusedAnswers>,
    ocsp_statuses: std::sync::Mutex<ocsp::RecentStatuses>,
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

/// The DER of every PEM `CERTIFICATE` block in `text`.
pub fn pem_certificates(text: &str) -> Vec<Vec<u8>> {
    use base64::Engine;
    let begin = "-----BEGIN CERTIFICATE-----";
    let end = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(begin) {
        let after = &rest[start + begin.len()..];
        let Some(stop) = after.find(end) else { break };
        let body: String = after[..stop]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(body) {
            out.push(der);
        }
        rest = &after[stop + end.len()..];
    }
    out
}

/// The name a CA certificate issues under: its leaves record it as their issuer and its CRL is
/// `/crl/{name}.crl`. The first root is `root` and the first SM2 root `root-sm2`; a
/// department's first CA is named by its code (`{code}-sm2` for its SM2 CA). A CA that renews
/// or replaces one stores its own name, `{first name}.{generation}`, so that its predecessor
/// keeps answering (CRL and OCSP) for what the predecessor certified. `None` for a leaf.
pub fn ca_name(cert: &CertificateRecord) -> Option<String> {
    if let Some(name) = &cert.ca_name {
        return Some(name.clone());
    }
    let code = cert.department_code.as_deref().unwrap_or_default();
    match cert.kind {
        CertKind::RootCa => Some("root".into()),
        CertKind::Sm2RootCa => Some(sm2::ROOT_SM2.into()),
        CertKind::DepartmentCa => Some(code.to_owned()),
        CertKind::Sm2DepartmentCa => Some(sm2::department_ca_name(code)),
        _ => None,
    }
}

/// A CA's generation: 1 for the first, `n` for `{name}.{n}`.
pub fn ca_generation(name: &str) -> u32 {
    name.rsplit_once('.')
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(1)
}

/// The first-generation name of a CA name (`X.3` → `X`).
pub fn ca_first_name(name: &str) -> &str {
    match name.rsplit_once('.') {
        Some((base, n)) if n.parse::<u32>().is_ok() => base,
        _ => name,
    }
}

/// The name of generation `generation` of the CA first named `first`.
pub fn ca_generation_name(first: &str, generation: u32) -> String {
    if generation <= 1 {
        first.to_owned()
    } else {
        format!("{first}.{generation}")
    }
}

/// The current CA among a department's CAs: the one of the highest generation, unless it is
/// revoked (an older generation only answers for what it certified; it does not come back).
pub fn current_ca(cas: Vec<CertificateRecord>) -> Option<CertificateRecord> {
    cas.into_iter()
        .max_by_key(|c| ca_name(c).map_or(1, |n| ca_generation(&n)))
        .filter(|c| c.revoked_at.is_none())
}

/// The next generation after a department's CAs.
pub fn next_generation(cas: &[CertificateRecord]) -> u32 {
    cas.iter()
        .filter_map(|c| ca_name(c).map(|n| ca_generation(&n)))
        .max()
        .unwrap_or(0)
        + 1
}

impl Pki {
    pub fn new(vault: MasterKey, store: Arc<dyn Repository>, public_url: String) -> Self {
        Pki {
            vault,
            store,
            public_url,
            signers: RwLock::new(HashMap::new()),
            ocsp_cas: RwLock::new(None),
            ocsp_responders: RwLock::new(HashMap::new()),
            ocsp_answers: std::sync::Mutex::new(HashMap::new()),
            ocsp_statuses: std::sync::Mutex::new(HashMap::new()),
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

    /// Every generation of the root, oldest first (all are trusted by this installation).
    pub async fn roots(&self) -> Result<Vec<CertificateRecord>, PkiError> {
        let mut roots = self
            .store
            .certificates_of_kind(CertKind::RootCa, None)
            .await?;
        roots.sort_by_key(|r| ca_name(r).map_or(1, |n| ca_generation(&n)));
        Ok(roots)
    }

    /// The CA that issued `cert` (by the issuer name it records).
    pub async fn issuer_of(&self, cert: &CertificateRecord) -> Result<CertificateRecord, PkiError> {
        self.ca(&cert.issuer).await?.ok_or(PkiError::BadCertificate)
    }

    /// The link certificates that certify `root`'s key under the other roots (DER): with them a
    /// relying party that trusts any generation of the root reaches this one.
    pub async fn links_to(&self, root: &CertificateRecord) -> Result<Vec<Vec<u8>>, PkiError> {
        Ok(self
            .store
            .certificates_of_kind(CertKind::RootLink, None)
            .await?
            .into_iter()
            .filter(|l| l.key_id == root.key_id && l.revoked_at.is_none())
            .map(|l| l.der)
            .collect())
    }

    /// The current root CA certificate (the one that issues from now on).
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
                kind: CertKind::RootCa,
                subject: common_name.to_owned(),
                department_code: None,
                key_id: key.id.clone(),
                der,
                not_before,
                not_after,
                revoked_at: None,
                revocation_reason: None,
                invalidity_date: None,
                ca_name: None,
                created_at: now.unix_timestamp(),
            },
            key,
        })
    }

    /// What every issued certificate goes through: a new key, a random serial, the profile's
    /// parameters (built by `params` from the serial and the validity), the issuer's signature,
    /// and the record to store. The validity ends at `days` or at the issuer's end, if sooner.
    async fn issue_under<F>(
        &self,
        issuer: &CertificateRecord,
        request: IssueRequest<'_>,
        params: F,
    ) -> Result<Issued, PkiError>
    where
        F: FnOnce(&[u8], certs::Validity) -> Result<rcgen::CertificateParams, PkiError>,
    {
        let now = request.now;
        let issuer_signer = self.signer(&issuer.key_id).await?;
        let (signer, key) = self.new_key(KeyAlgorithm::EcdsaP256Sha256, now.unix_timestamp())?;
        let serial = certs::random_serial()?;
        let issuer_end = OffsetDateTime::from_unix_timestamp(issuer.not_after)
            .map_err(|_| PkiError::BadCertificate)?;
        let validity = certs::Validity {
            not_before: now,
            not_after: (now + time::Duration::days(request.days)).min(issuer_end),
        };
        let params = params(&serial, validity)?;
        let issuer = rcgen::Issuer::from_ca_cert_der(
            &issuer.der.as_slice().into(),
            RcgenKey(issuer_signer),
        )?;
        let public = keys::PublicKeyOnly {
            algorithm: signer.algorithm(),
            raw: signer.public_key().to_vec(),
        };
        let der = params.signed_by(&public, &issuer)?.der().to_vec();
        let (not_before, not_after) = validity_of(&der)?;
        Ok(Issued {
            certificate: CertificateRecord {
                serial: hex::encode(&serial),
                issuer: request.issuer_name.to_owned(),
                kind: request.kind,
                subject: request.subject.to_owned(),
                department_code: request.department.map(str::to_owned),
                key_id: key.id.clone(),
                der,
                not_before,
                not_after,
                revoked_at: None,
                revocation_reason: None,
                invalidity_date: None,
                ca_name: None,
                created_at: now.unix_timestamp(),
            },
            key,
        })
    }

    /// A department's current CA: its unrevoked CA of the highest generation (`CaRevoked`
    /// when none).
    pub async fn department_ca(
        &self,
        department_code: &str,
    ) -> Result<CertificateRecord, PkiError> {
        let cas = self
            .store
            .certificates_of_kind(CertKind::DepartmentCa, Some(department_code))
            .await?;
        current_ca(cas).ok_or(PkiError::CaRevoked)
    }

    /// Issues the TSA certificate under the root (10 years, within the root's life).
    pub async fn issue_tsa(&self, now: OffsetDateTime) -> Result<Issued, PkiError> {
        let root = self.root().await?;
        let root_name = ca_name(&root).ok_or(PkiError::NoRoot)?;
        let name = "trustd Time-Stamping Authority";
        let urls = certs::RevocationUrls::for_ca(&self.public_url, &root_name);
        let request = IssueRequest {
            issuer_name: &root_name,
            kind: CertKind::Tsa,
            subject: name,
            department: None,
            days: 365 * 10,
            now,
        };
        self.issue_under(&root, request, |serial, validity| {
            certs::tsa_params(name, serial, validity, &urls)
        })
        .await
    }

    /// Issues an end-entity certificate under a department's current CA for a new key.
    pub async fn issue_department_leaf(
        &self,
        department_code: &str,
        kind: CertKind,
        common_name: &str,
        key_usages: Vec<rcgen::KeyUsagePurpose>,
        valid_days: i64,
        now: OffsetDateTime,
    ) -> Result<Issued, PkiError> {
        let ca = self.department_ca(department_code).await?;
        let leaf = Leaf {
            kind,
            common_name,
            key_usages,
            valid_days,
        };
        self.issue_leaf_under(&ca, leaf, now).await
    }

    /// Issues an end-entity certificate for a new key under the department CA `ca` (which
    /// may not be stored yet: a renewal issues its seals' certificates in the same write).
    pub async fn issue_leaf_under(
        &self,
        ca: &CertificateRecord,
        leaf: Leaf<'_>,
        now: OffsetDateTime,
    ) -> Result<Issued, PkiError> {
        let Leaf {
            kind,
            common_name,
            key_usages,
            valid_days,
        } = leaf;
        let department_code = ca
            .department_code
            .as_deref()
            .ok_or(PkiError::BadCertificate)?;
        let ca_name = ca_name(ca).ok_or(PkiError::BadCertificate)?;
        let department = self
            .store
            .department(department_code)
            .await?
            .ok_or(PkiError::NoRoot)?;
        let urls = certs::RevocationUrls::for_ca(&self.public_url, &ca_name);
        let subject = certs::DepartmentSubject {
            code: department_code,
            name: &department.name,
            common_name,
        };
        let request = IssueRequest {
            issuer_name: &ca_name,
            kind,
            subject: common_name,
            department: Some(department_code),
            days: valid_days,
            now,
        };
        self.issue_under(ca, request, |serial, validity| {
            certs::department_leaf_params(subject, serial, validity, key_usages, &urls)
        })
        .await
    }

    /// Issues generation `generation` of a department's intermediate CA under the root (10
    /// years, within the root's life).
    pub async fn issue_department_ca(
        &self,
        code: &str,
        name: &str,
        generation: u32,
        now: OffsetDateTime,
    ) -> Result<Issued, PkiError> {
        let root = self.root().await?;
        let root_name = ca_name(&root).ok_or(PkiError::NoRoot)?;
        let urls = certs::RevocationUrls::for_ca(&self.public_url, &root_name);
        let subject = format!("{name} CA");
        let request = IssueRequest {
            issuer_name: &root_name,
            kind: CertKind::DepartmentCa,
            subject: &subject,
            department: Some(code),
            days: 365 * 10,
            now,
        };
        let mut issued = self
            .issue_under(&root, request, |serial, validity| {
                certs::department_ca_params(
                    code,
                    name,
                    serial,
                    validity.not_before,
                    validity.not_after,
                    &urls,
                )
            })
            .await?;
        if generation > 1 {
            issued.certificate.ca_name = Some(ca_generation_name(code, generation));
        }
        Ok(issued)
    }
}

/// What a seal's certificate is for: signing, with non-repudiation (content commitment).
pub const SEAL_KEY_USAGES: [rcgen::KeyUsagePurpose; 2] = [
    rcgen::KeyUsagePurpose::DigitalSignature,
    rcgen::KeyUsagePurpose::ContentCommitment,
];

/// An end-entity certificate to issue under a department CA.
pub struct Leaf<'a> {
    pub kind: CertKind,
    pub common_name: &'a str,
    pub key_usages: Vec<rcgen::KeyUsagePurpose>,
    pub valid_days: i64,
}

/// The record-keeping side of an issuance: who issues, what kind, for whom, for how long.
struct IssueRequest<'a> {
    issuer_name: &'a str,
    kind: CertKind,
    subject: &'a str,
    department: Option<&'a str>,
    days: i64,
    now: OffsetDateTime,
}
