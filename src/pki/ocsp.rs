//! OCSP responder (RFC 6960) for the root and every department CA. Each CA answers through a
//! delegated responder certificate it issued (id-kp-OCSPSigning, id-pkix-ocsp-nocheck), made on
//! first use and renewed before it expires. Statuses come from the database: good, revoked
//! (time and reason), or unknown for a serial the CA did not issue. The nonce is echoed. A
//! request that does not parse gets the `malformedRequest` status, never an HTTP error.

use std::sync::Arc;

use der::asn1::OctetString;
use der::{Decode, Encode};
use time::OffsetDateTime;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspGeneralizedTime, OcspRequest, OcspResponse,
    OcspResponseStatus, ResponderId, ResponseData, RevokedInfo, SingleResponse, Version,
};

use super::{certs, IssueRequest, Issued, Pki, PkiError};
use crate::keys::{KeyAlgorithm, Signer};
use crate::store::CertKind;
use crate::store::CertificateRecord;

/// Most certificates asked about in one request.
pub const MAX_REQUESTS: usize = 32;
/// How long a delegated responder certificate lives, and when it is renewed.
const RESPONDER_DAYS: i64 = 30;
const RESPONDER_RENEW_SECONDS: i64 = 2 * 86_400;
/// nextUpdate of an answer: when a client should ask again at the latest.
const ANSWER_LIFETIME_SECONDS: i64 = 3_600;
/// A signed answer to a request without a nonce is reused for this long (RFC 5019 style
/// pre-produced responses). A revocation on this instance clears them at once; on another
/// instance of a cluster it shows here within this time.
pub const ANSWER_REUSE_SECONDS: i64 = 1;
/// Reusable answers: request bytes → (unix time made, response).
pub type ReusedAnswers = std::collections::HashMap<Vec<u8>, (i64, Vec<u8>)>;
/// Recently read statuses: serial → (unix time read, status).
pub type RecentStatuses = std::collections::HashMap<String, (i64, Option<OcspRow>)>;

/// What OCSP needs of a certificate row.
#[derive(Debug, Clone)]
pub struct OcspRow {
    issuer: String,
    revoked_at: Option<i64>,
    reason: Option<String>,
}

/// Most answers kept for reuse.
const MAX_REUSED_ANSWERS: usize = 10_000;

use super::oid::{
    ECDSA_WITH_SHA256 as OID_ECDSA_SHA256, ED25519 as OID_ED25519, OCSP_NONCE as OID_NONCE,
    SHA1 as OID_SHA1, SHA256 as OID_SHA256,
};

/// A CA as OCSP requests name it: hashes of its subject and key under SHA-1 and SHA-256.
#[derive(Clone)]
pub struct KnownCa {
    /// `root` or a department code (the `issuer` of the certificates it signed).
    pub name: String,
    pub cert: CertificateRecord,
    hashes: [(der::asn1::ObjectIdentifier, Vec<u8>, Vec<u8>); 2],
}

/// A CA's delegated responder: its certificate and key, and the SHA-1 of its key (its
/// ResponderID).
pub struct Responder {
    pub cert: CertificateRecord,
    pub signer: Arc<dyn Signer>,
    key_hash: Vec<u8>,
}

impl Responder {
    fn new(cert: CertificateRecord, signer: Arc<dyn Signer>) -> Arc<Responder> {
        let key_hash = digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, signer.public_key());
        Arc::new(Responder {
            cert,
            signer,
            key_hash,
        })
    }
}

fn digest(alg: &'static ring::digest::Algorithm, data: &[u8]) -> Vec<u8> {
    ring::digest::digest(alg, data).as_ref().to_vec()
}

impl KnownCa {
    fn new(name: String, cert: CertificateRecord) -> Result<Self, PkiError> {
        use x509_parser::prelude::{FromDer, X509Certificate};
        let (_, x) = X509Certificate::from_der(&cert.der).map_err(|_| PkiError::BadCertificate)?;
        let subject = x.subject().as_raw().to_vec();
        let key = x.public_key().subject_public_key.data.to_vec();
        let sha1 = &ring::digest::SHA1_FOR_LEGACY_USE_ONLY;
        let sha256 = &ring::digest::SHA256;
        let hashes = [
            (OID_SHA1, digest(sha1, &subject), digest(sha1, &key)),
            (OID_SHA256, digest(sha256, &subject), digest(sha256, &key)),
        ];
        Ok(KnownCa { name, cert, hashes })
    }

    fn matches(&self, id: &CertId) -> bool {
        self.hashes.iter().any(|(oid, name, key)| {
            *oid == id.hash_algorithm.oid
                && name.as_slice() == id.issuer_name_hash.as_bytes()
                && key.as_slice() == id.issuer_key_hash.as_bytes()
        })
    }
}

fn generalized(unix: i64) -> Result<OcspGeneralizedTime, PkiError> {
    let secs = u64::try_from(unix).map_err(|_| PkiError::Signing)?;
    der::DateTime::from_unix_duration(std::time::Duration::from_secs(secs))
        .map(OcspGeneralizedTime::from)
        .map_err(|_| PkiError::Signing)
}

/// An `OCSPResponse` carrying only an error status.
pub fn error_response(status: OcspResponseStatus) -> Vec<u8> {
    OcspResponse {
        response_status: status,
        response_bytes: None,
    }
    .to_der()
    .unwrap_or_else(|_| vec![0x30, 0x03, 0x0a, 0x01, status as u8])
}

impl Pki {
    /// Every CA that can be asked about, loaded once and reloaded when a request names an
    /// unknown one (a department created since).
    async fn known_cas(&self, reload: bool) -> Result<Arc<Vec<KnownCa>>, PkiError> {
        if !reload {
            if let Some(cas) = self.ocsp_cas.read().ok().and_then(|c| c.clone()) {
                return Ok(cas);
            }
        }
        let mut cas = Vec::new();
        for root in self.roots().await? {
            cas.push(KnownCa::new(
                super::ca_name(&root).unwrap_or_default(),
                root,
            )?);
        }
        for cert in self
            .store
            .certificates_of_kind(CertKind::DepartmentCa, None)
            .await?
        {
            let name = super::ca_name(&cert).unwrap_or_default();
            cas.push(KnownCa::new(name, cert)?);
        }
        // The national hierarchy: its CAs answer for their certificates themselves.
        if let Ok(root) = self.sm2_root().await {
            cas.push(KnownCa::new(super::sm2::ROOT_SM2.into(), root)?);
        }
        for cert in self
            .store
            .certificates_of_kind(CertKind::Sm2DepartmentCa, None)
            .await?
        {
            let name = super::ca_name(&cert).unwrap_or_default();
            cas.push(KnownCa::new(name, cert)?);
        }
        let cas = Arc::new(cas);
        if let Ok(mut slot) = self.ocsp_cas.write() {
            *slot = Some(cas.clone());
        }
        Ok(cas)
    }

    async fn find_ca(&self, id: &CertId) -> Result<Option<KnownCa>, PkiError> {
        for reload in [false, true] {
            if let Some(ca) = self.known_cas(reload).await?.iter().find(|c| c.matches(id)) {
                return Ok(Some(ca.clone()));
            }
        }
        Ok(None)
    }

    /// The CA's delegated responder, issuing (and storing, logged) a new one when there is
    /// none that stays valid for two more days.
    pub async fn ocsp_responder(
        &self,
        ca: &KnownCa,
        now: OffsetDateTime,
    ) -> Result<Arc<Responder>, PkiError> {
        // Near the CA's own end a new responder cannot outlive it: one that lasts as long as
        // the CA is as good as any, so it is kept (not re-issued on every request).
        let usable = |c: &CertificateRecord| {
            c.revoked_at.is_none()
                && c.not_after > now.unix_timestamp()
                && (c.not_after > now.unix_timestamp() + RESPONDER_RENEW_SECONDS
                    || c.not_after >= ca.cert.not_after)
        };
        // An SM2 CA signs its answers itself (RFC 6960 §4.2.2.2 allows the CA): no delegated
        // responder profile is defined for the national hierarchy here.
        if matches!(
            ca.cert.kind,
            CertKind::Sm2RootCa | CertKind::Sm2DepartmentCa
        ) {
            return Ok(Responder::new(
                ca.cert.clone(),
                self.signer(&ca.cert.key_id).await?,
            ));
        }
        let cached = self
            .ocsp_responders
            .read()
            .ok()
            .and_then(|m| m.get(&ca.cert.serial).cloned());
        if let Some(r) = cached.filter(|r| usable(&r.cert)) {
            return Ok(r);
        }
        let department = ca.cert.department_code.as_deref();
        let stored = self
            .store
            .certificates_of_kind(CertKind::Ocsp, department)
            .await?
            .into_iter()
            .filter(|c| c.issuer == ca.name && usable(c))
            .rfind(|c| {
                // Issued by this very CA certificate (a department may have had another).
                crate::pki::chain::issued_by(&c.der, &ca.cert.der)
            });
        let cert = match stored {
            Some(c) => c,
            None => {
                let issued = self.issue_ocsp_responder(ca, now).await?;
                let (writes, certificate) = issued.into_writes(now, None, None);
                self.store.apply(writes).await?;
                certificate
            }
        };
        let signer = self.signer(&cert.key_id).await?;
        let responder = Responder::new(cert, signer);
        if let Ok(mut m) = self.ocsp_responders.write() {
            m.insert(ca.cert.serial.clone(), responder.clone());
        }
        Ok(responder)
    }

    async fn issue_ocsp_responder(
        &self,
        ca: &KnownCa,
        now: OffsetDateTime,
    ) -> Result<Issued, PkiError> {
        let (department, name) = match &ca.cert.department_code {
            None => (None, None),
            Some(code) => {
                let d = self.store.department(code).await?.ok_or(PkiError::NoRoot)?;
                (Some(code.clone()), Some(d.name))
            }
        };
        let common_name = match &name {
            Some(n) => format!("{n} OCSP Responder"),
            None => "trustd Root OCSP Responder".to_owned(),
        };
        let request = IssueRequest {
            issuer_name: &ca.name,
            kind: CertKind::Ocsp,
            subject: &common_name,
            department: department.as_deref(),
            days: RESPONDER_DAYS,
            now,
        };
        let code = department.clone();
        self.issue_under(&ca.cert, request, |serial, validity| {
            certs::ocsp_responder_params(
                code.as_deref().zip(name.as_deref()),
                &common_name,
                serial,
                validity,
            )
        })
        .await
    }

    /// Our own OCSP response about `cert` (DER) issued by `issuer` (DER), for a PDF's DSS.
    pub async fn ocsp_response_for(
        &self,
        cert: &[u8],
        issuer: &[u8],
        now: OffsetDateTime,
    ) -> Result<Vec<u8>, PkiError> {
        let request = request_for(cert, issuer)?;
        self.ocsp_answer(&request, now)
            .await
            .map(|(der, _)| der)
            .map_err(|_| PkiError::Signing)
    }

    /// Answers a DER `OCSPRequest` with a DER `OCSPResponse`.
    pub async fn ocsp_respond(&self, request: &[u8], now: OffsetDateTime) -> Vec<u8> {
        let t = now.unix_timestamp();
        if let Some((made, der)) = self
            .ocsp_answers
            .lock()
            .ok()
            .and_then(|m| m.get(request).cloned())
        {
            if (0..ANSWER_REUSE_SECONDS).contains(&(t - made)) {
                return der;
            }
        }
        match self.ocsp_answer(request, now).await {
            Ok((der, reusable)) => {
                if reusable {
                    if let Ok(mut m) = self.ocsp_answers.lock() {
                        if m.len() >= MAX_REUSED_ANSWERS {
                            m.retain(|_, (made, _)| t - *made < ANSWER_REUSE_SECONDS);
                        }
                        m.insert(request.to_vec(), (t, der.clone()));
                    }
                }
                der
            }
            Err(status) => error_response(status),
        }
    }

    /// Forgets the reusable answers and statuses (after a revocation).
    pub fn forget_ocsp_answers(&self) {
        if let Ok(mut m) = self.ocsp_answers.lock() {
            m.clear();
        }
        if let Ok(mut m) = self.ocsp_statuses.lock() {
            m.clear();
        }
    }

    /// A certificate's issuer and revocation, from the database, remembered for
    /// [`ANSWER_REUSE_SECONDS`] like the answers.
    async fn certificate_status(
        &self,
        serial: &str,
        now: i64,
    ) -> Result<Option<OcspRow>, PkiError> {
        if let Some((at, status)) = self
            .ocsp_statuses
            .lock()
            .ok()
            .and_then(|m| m.get(serial).cloned())
        {
            if (0..ANSWER_REUSE_SECONDS).contains(&(now - at)) {
                return Ok(status);
            }
        }
        let status = self.store.certificate(serial).await?.map(|c| OcspRow {
            issuer: c.issuer,
            revoked_at: c.revoked_at,
            reason: c.revocation_reason,
        });
        if let Ok(mut m) = self.ocsp_statuses.lock() {
            if m.len() >= MAX_REUSED_ANSWERS {
                m.retain(|_, (at, _)| now - *at < ANSWER_REUSE_SECONDS);
            }
            m.insert(serial.to_owned(), (now, status.clone()));
        }
        Ok(status)
    }

    /// What this CA's responder says of one certificate it is asked about: good, revoked
    /// (with time and reason), or unknown (another CA's, or not one this service issued).
    async fn status_for(
        &self,
        ca: &KnownCa,
        id: &CertId,
        now: OffsetDateTime,
    ) -> Result<CertStatus, PkiError> {
        if !ca.matches(id) {
            return Ok(CertStatus::unknown());
        }
        let serial = hex::encode(id.serial_number.as_bytes());
        Ok(
            match self
                .certificate_status(&serial, now.unix_timestamp())
                .await?
            {
                Some(c) if c.issuer == ca.name => match c.revoked_at {
                    None => CertStatus::good(),
                    Some(at) => CertStatus::revoked(RevokedInfo {
                        revocation_time: generalized(at)?,
                        revocation_reason: Some(crl_reason(c.reason.as_deref())),
                    }),
                },
                _ => CertStatus::unknown(),
            },
        )
    }

    async fn ocsp_answer(
        &self,
        request: &[u8],
        now: OffsetDateTime,
    ) -> Result<(Vec<u8>, bool), OcspResponseStatus> {
        let malformed = OcspResponseStatus::MalformedRequest;
        let internal = |e: PkiError| {
            tracing::error!(error = %e, "OCSP answer failed");
            OcspResponseStatus::InternalError
        };
        let req = OcspRequest::from_der(request).map_err(|_| malformed)?;
        let list = &req.tbs_request.request_list;
        if list.is_empty() || list.len() > MAX_REQUESTS {
            return Err(malformed);
        }
        // One responder answers: the CA of the first certificate asked about. Certificates
        // of other CAs in the same request are unknown to it.
        let ca = self
            .find_ca(&list[0].req_cert)
            .await
            .map_err(internal)?
            .ok_or(OcspResponseStatus::Unauthorized)?;
        let responder = self.ocsp_responder(&ca, now).await.map_err(internal)?;
        let this_update = generalized(now.unix_timestamp()).map_err(internal)?;
        let next_update =
            generalized(now.unix_timestamp() + ANSWER_LIFETIME_SECONDS).map_err(internal)?;
        let mut responses = Vec::with_capacity(list.len());
        for r in list {
            let status = self
                .status_for(&ca, &r.req_cert, now)
                .await
                .map_err(internal)?;
            responses.push(SingleResponse {
                cert_id: r.req_cert.clone(),
                cert_status: status,
                this_update,
                next_update: Some(next_update),
                single_extensions: None,
            });
        }
        let nonce = req
            .tbs_request
            .request_extensions
            .as_ref()
            .and_then(|e| e.iter().find(|x| x.extn_id == OID_NONCE).cloned());
        let tbs = ResponseData {
            version: Version::V1,
            responder_id: ResponderId::ByKey(
                OctetString::new(responder.key_hash.as_slice()).map_err(|_| malformed)?,
            ),
            produced_at: this_update,
            responses,
            response_extensions: nonce.clone().map(|n| vec![n]),
        };
        sign_response(&responder, tbs)
            .map(|der| (der, nonce.is_none()))
            .map_err(|e| match e {
                Some(e) => internal(e),
                None => OcspResponseStatus::InternalError,
            })
    }
}

/// A DER `OCSPRequest` (SHA-1 CertID, no nonce) about `cert` issued by `issuer`, both DER.
pub fn request_for(cert: &[u8], issuer: &[u8]) -> Result<Vec<u8>, PkiError> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, c) = X509Certificate::from_der(cert).map_err(|_| PkiError::BadCertificate)?;
    let (_, i) = X509Certificate::from_der(issuer).map_err(|_| PkiError::BadCertificate)?;
    let sha1 = &ring::digest::SHA1_FOR_LEGACY_USE_ONLY;
    let id = CertId {
        hash_algorithm: x509_cert::spki::AlgorithmIdentifierOwned {
            oid: OID_SHA1,
            parameters: Some(der::asn1::Null.into()),
        },
        issuer_name_hash: OctetString::new(digest(sha1, i.subject().as_raw()))
            .map_err(|_| PkiError::BadCertificate)?,
        issuer_key_hash: OctetString::new(digest(sha1, &i.public_key().subject_public_key.data))
            .map_err(|_| PkiError::BadCertificate)?,
        serial_number: x509_cert::serial_number::SerialNumber::new(c.raw_serial())
            .map_err(|_| PkiError::BadCertificate)?,
    };
    OcspRequest {
        tbs_request: x509_ocsp::TbsRequest {
            version: Version::V1,
            requestor_name: None,
            request_list: vec![x509_ocsp::Request {
                req_cert: id,
                single_request_extensions: None,
            }],
            request_extensions: None,
        },
        optional_signature: None,
    }
    .to_der()
    .map_err(|_| PkiError::BadCertificate)
}

/// RFC 6960 `BasicOCSPResponse` built from parts already encoded: the response data as it was
/// signed and the responder's certificate as stored, so neither is decoded and encoded again
/// for each answer (with x509-ocsp's own type that was a quarter of a nonce answer's time).
#[derive(der::Sequence)]
struct EncodedBasicResponse<'a> {
    tbs_response_data: der::asn1::AnyRef<'a>,
    signature_algorithm: x509_cert::spki::AlgorithmIdentifierRef<'a>,
    signature: der::asn1::BitStringRef<'a>,
    #[asn1(context_specific = "0", optional = "true", tag_mode = "EXPLICIT")]
    certs: Option<Vec<der::asn1::AnyRef<'a>>>,
}

impl der::oid::AssociatedOid for EncodedBasicResponse<'_> {
    const OID: der::oid::ObjectIdentifier = BasicOcspResponse::OID;
}

impl x509_ocsp::AsResponseBytes for EncodedBasicResponse<'_> {}

/// The basic OCSP response over `tbs`, signed by the responder, with its certificate. `None`
/// as the error when encoding fails, `Some` when signing does.
fn sign_response(responder: &Responder, tbs: ResponseData) -> Result<Vec<u8>, Option<PkiError>> {
    let tbs_der = tbs.to_der().map_err(|_| None)?;
    let signature = responder
        .signer
        .sign(&tbs_der)
        .map_err(|e| Some(PkiError::from(e)))?;
    let algorithm = match responder.signer.algorithm() {
        KeyAlgorithm::Ed25519 => OID_ED25519,
        KeyAlgorithm::Sm2Sm3 => super::oid::SM2_WITH_SM3,
        KeyAlgorithm::EcdsaP256Sha256 => OID_ECDSA_SHA256,
    };
    let basic = EncodedBasicResponse {
        tbs_response_data: der::asn1::AnyRef::try_from(tbs_der.as_slice()).map_err(|_| None)?,
        signature_algorithm: x509_cert::spki::AlgorithmIdentifierRef {
            oid: algorithm,
            parameters: None,
        },
        signature: der::asn1::BitStringRef::from_bytes(&signature).map_err(|_| None)?,
        certs: Some(vec![der::asn1::AnyRef::try_from(
            responder.cert.der.as_slice(),
        )
        .map_err(|_| None)?]),
    };
    OcspResponse::successful(basic)
        .and_then(|r| r.to_der())
        .map_err(|_| None)
}

/// The RFC 5280 CRLReason of a stored reason name.
pub(crate) fn crl_reason(name: Option<&str>) -> x509_cert::ext::pkix::CrlReason {
    use x509_cert::ext::pkix::CrlReason;
    match super::revocation::reason_code(name) {
        1 => CrlReason::KeyCompromise,
        2 => CrlReason::CaCompromise,
        3 => CrlReason::AffiliationChanged,
        4 => CrlReason::Superseded,
        5 => CrlReason::CessationOfOperation,
        9 => CrlReason::PrivilegeWithdrawn,
        _ => CrlReason::Unspecified,
    }
}
