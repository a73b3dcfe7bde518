//! The time-stamping authority (RFC 3161): answers `TimeStampReq`s with tokens signed by the
//! TSA certificate (issued by the root, extendedKeyUsage timeStamping, critical), and stamps
//! signature values for PAdES B-T. Every request gets a `TimeStampResp`: a malformed or
//! unacceptable request is a rejection with a failure code (RFC 3161 §2.4.2), never an error page.

use std::sync::Arc;

use cmpv2::status::{PkiStatus, PkiStatusInfo};
use cms::content_info::ContentInfo;
use der::asn1::{BitString, GeneralizedTime, Int, OctetString};
use der::{Decode, Encode, Sequence};
use ring::rand::{SecureRandom, SystemRandom};
use time::OffsetDateTime;
use x509_tsp::{Accuracy, MessageImprint, TimeStampReq, TimeStampResp, TspVersion, TstInfo};

use super::cms::{assemble, sha256, signer_info, CmsSigner, ID_CT_TST_INFO, ID_SHA256};
use super::PkiError;
use crate::keys::Signer;

/// The TSA policy: ETSI EN 319 421's best practices time-stamp policy (0.4.0.2023.1.1).
pub use super::oid::TSA_POLICY;
use super::oid::{SHA384 as ID_SHA384, SHA512 as ID_SHA512};
/// Largest request accepted (a request is a hash and a few small fields).
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;

pub struct Tsa {
    key: Arc<dyn Signer>,
    certificate: Vec<u8>,
}

impl std::fmt::Debug for Tsa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tsa(..)")
    }
}

/// PKIFailureInfo bit positions (RFC 3161 §2.4.2).
#[derive(Debug, Clone, Copy)]
enum FailureBit {
    BadAlg = 0,
    BadRequest = 2,
    BadDataFormat = 5,
    UnacceptedPolicy = 15,
    UnacceptedExtension = 16,
    SystemFailure = 25,
}

/// PKIStatusInfo of a rejection. (cmpv2 0.2's `PkiFailureInfo` treats the RFC's bit positions
/// as bit masks, so a rejection is encoded with this type instead.)
#[derive(Sequence)]
struct RejectionStatus<'a> {
    status: u8,
    status_string: Vec<der::asn1::Utf8StringRef<'a>>,
    fail_info: BitString,
}

#[derive(Sequence)]
struct RejectionResp<'a> {
    status: RejectionStatus<'a>,
}

/// A named-bit BIT STRING with one bit set (DER: trailing zero bits removed, X.690 §11.2.2).
fn failure_bits(bit: FailureBit) -> Option<BitString> {
    let n = bit as usize;
    let mut bytes = vec![0u8; n / 8 + 1];
    bytes[n / 8] = 0x80 >> (n % 8);
    BitString::new(7 - (n % 8) as u8, bytes).ok()
}

fn rejection(fail: FailureBit, text: &str) -> Vec<u8> {
    let (Ok(text), Some(bits)) = (der::asn1::Utf8StringRef::new(text), failure_bits(fail)) else {
        return Vec::new();
    };
    RejectionResp {
        status: RejectionStatus {
            status: 2, // rejection
            status_string: vec![text],
            fail_info: bits,
        },
    }
    .to_der()
    .unwrap_or_default()
}

fn random_serial() -> Result<Int, PkiError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| PkiError::KeyGeneration)?;
    bytes[0] = (bytes[0] & 0x3f) | 0x40;
    Int::new(&bytes).map_err(|_| PkiError::Signing)
}

/// The time-stamping unit in use. Its certificate is renewed while the service runs
/// (`startup::renew_tsas`, hourly): the new unit replaces the old here, for the next token.
pub struct CurrentTsa {
    pub kind: crate::store::CertKind,
    inner: std::sync::RwLock<(Arc<Tsa>, i64)>,
    /// Held while renewing, so that one renewal happens at a time on this instance.
    renewing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for CurrentTsa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurrentTsa")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl CurrentTsa {
    pub fn new(kind: crate::store::CertKind, tsa: Tsa, not_after: i64) -> Self {
        CurrentTsa {
            kind,
            inner: std::sync::RwLock::new((Arc::new(tsa), not_after)),
            renewing: tokio::sync::Mutex::new(()),
        }
    }

    /// The unit to stamp with now.
    pub fn get(&self) -> Arc<Tsa> {
        match self.inner.read() {
            Ok(g) => g.0.clone(),
            Err(poisoned) => poisoned.into_inner().0.clone(),
        }
    }

    /// When the current unit's certificate ends (Unix seconds).
    pub fn not_after(&self) -> i64 {
        match self.inner.read() {
            Ok(g) => g.1,
            Err(poisoned) => poisoned.into_inner().1,
        }
    }

    pub fn replace(&self, tsa: Tsa, not_after: i64) {
        match self.inner.write() {
            Ok(mut g) => *g = (Arc::new(tsa), not_after),
            Err(poisoned) => *poisoned.into_inner() = (Arc::new(tsa), not_after),
        }
    }

    pub async fn renewing(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.renewing.lock().await
    }
}

impl Tsa {
    pub fn new(key: Arc<dyn Signer>, certificate: Vec<u8>) -> Self {
        Tsa { key, certificate }
    }

    pub fn certificate(&self) -> &[u8] {
        &self.certificate
    }

    /// A time-stamp token (DER ContentInfo) over a message imprint.
    fn token(
        &self,
        imprint: MessageImprint,
        nonce: Option<Int>,
        now: OffsetDateTime,
    ) -> Result<Vec<u8>, PkiError> {
        let seconds = u64::try_from(now.unix_timestamp()).map_err(|_| PkiError::Signing)?;
        let tst = TstInfo {
            version: TspVersion::V1,
            policy: TSA_POLICY,
            message_imprint: imprint,
            serial_number: random_serial()?,
            gen_time: GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(seconds))
                .map_err(|_| PkiError::Signing)?,
            accuracy: Some(Accuracy {
                seconds: Some(1),
                millis: None,
                micros: None,
            }),
            ordering: false,
            nonce,
            tsa: None,
            extensions: None,
        };
        let tst_der = tst.to_der().map_err(|_| PkiError::Signing)?;
        let signer = CmsSigner {
            key: self.key.as_ref(),
            certificate: &self.certificate,
            chain: &[],
        };
        let info = signer_info(&signer, ID_CT_TST_INFO, &sha256(&tst_der))?;
        assemble(&signer, ID_CT_TST_INFO, Some(&tst_der), info)
    }

    /// A token over SHA-256(`data`) (the signature value, for CAdES/PAdES B-T).
    pub fn stamp(&self, data: &[u8], now: OffsetDateTime) -> Result<Vec<u8>, PkiError> {
        self.stamp_digest(&sha256(data), now)
    }

    /// A token over a SHA-256 digest computed by the caller (a PDF document time-stamp's byte
    /// ranges, PAdES B-LTA).
    pub fn stamp_digest(
        &self,
        digest: &[u8; 32],
        now: OffsetDateTime,
    ) -> Result<Vec<u8>, PkiError> {
        let imprint = MessageImprint {
            hash_algorithm: x509_cert::spki::AlgorithmIdentifier {
                oid: ID_SHA256,
                parameters: None,
            },
            hashed_message: OctetString::new(digest.to_vec()).map_err(|_| PkiError::Signing)?,
        };
        self.token(imprint, None, now)
    }

    /// A token over SM3(`data`) (the SM2 TSA over a GB/T 38540 signature value).
    pub fn stamp_sm3(&self, data: &[u8], now: OffsetDateTime) -> Result<Vec<u8>, PkiError> {
        let imprint = MessageImprint {
            hash_algorithm: x509_cert::spki::AlgorithmIdentifier {
                oid: super::oid::SM3,
                parameters: None,
            },
            hashed_message: OctetString::new(crate::keys::sm2::sm3(data).to_vec())
                .map_err(|_| PkiError::Signing)?,
        };
        self.token(imprint, None, now)
    }

    /// Answers an RFC 3161 request (DER) with a `TimeStampResp` (DER).
    pub fn respond(&self, request: &[u8], now: OffsetDateTime) -> Vec<u8> {
        if request.len() > MAX_REQUEST_BYTES {
            return rejection(FailureBit::BadRequest, "request too large");
        }
        let Ok(req) = TimeStampReq::from_der(request) else {
            return rejection(FailureBit::BadDataFormat, "not a DER TimeStampReq");
        };
        let alg = req.message_imprint.hash_algorithm.oid;
        let expected_len = match alg {
            a if a == ID_SHA256 => 32,
            a if a == ID_SHA384 => 48,
            a if a == ID_SHA512 => 64,
            _ => {
                return rejection(
                    FailureBit::BadAlg,
                    "hash algorithm must be SHA-256, SHA-384 or SHA-512",
                )
            }
        };
        if req.message_imprint.hashed_message.as_bytes().len() != expected_len {
            return rejection(
                FailureBit::BadDataFormat,
                "hash length does not match its algorithm",
            );
        }
        if let Some(policy) = req.req_policy {
            if policy != TSA_POLICY {
                return rejection(FailureBit::UnacceptedPolicy, "unknown policy");
            }
        }
        if req.extensions.is_some() {
            return rejection(
                FailureBit::UnacceptedExtension,
                "extensions are not supported",
            );
        }
        let token = match self.token(req.message_imprint, req.nonce, now) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "time-stamping failed");
                return rejection(FailureBit::SystemFailure, "internal failure");
            }
        };
        let Ok(token) = ContentInfo::from_der(&token) else {
            return rejection(FailureBit::SystemFailure, "internal failure");
        };
        TimeStampResp {
            status: PkiStatusInfo {
                status: PkiStatus::Accepted,
                status_string: None,
                fail_info: None,
            },
            time_stamp_token: Some(token),
        }
        .to_der()
        .unwrap_or_default()
    }
}
