//! CMS checks for PDF signatures (RFC 5652, ETSI EN 319 122 CAdES, RFC 3161 tokens): the
//! message digest against the signed bytes, the signature over the signed attributes with the
//! signer's certificate (ECDSA P-256/P-384, RSA PKCS#1 v1.5 and PSS, Ed25519), and the
//! signature time-stamp token of CAdES signatures.

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{ObjectIdentifier, OctetString};
use der::{Decode, Encode, Reader, SliceReader};
use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};

const OID_SHA256: &str = "2.16.840.1.101.3.4.2.1";
const OID_SHA384: &str = "2.16.840.1.101.3.4.2.2";
const OID_SHA512: &str = "2.16.840.1.101.3.4.2.3";
const OID_MESSAGE_DIGEST: &str = "1.2.840.113549.1.9.4";
const OID_TIMESTAMP_TOKEN: &str = "1.2.840.113549.1.9.16.2.14";
const OID_TST_INFO: &str = "1.2.840.113549.1.9.16.1.4";

/// A digest algorithm the verifier supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digest {
    Sha256,
    Sha384,
    Sha512,
}

impl Digest {
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Digest> {
        match oid.to_string().as_str() {
            OID_SHA256 => Some(Digest::Sha256),
            OID_SHA384 => Some(Digest::Sha384),
            OID_SHA512 => Some(Digest::Sha512),
            _ => None,
        }
    }
    pub fn ring(self) -> &'static ring::digest::Algorithm {
        match self {
            Digest::Sha256 => &ring::digest::SHA256,
            Digest::Sha384 => &ring::digest::SHA384,
            Digest::Sha512 => &ring::digest::SHA512,
        }
    }
    pub fn of(self, data: &[u8]) -> Vec<u8> {
        ring::digest::digest(self.ring(), data).as_ref().to_vec()
    }
}

/// What a CMS SignedData says about its signer.
#[derive(Debug, Clone, Default)]
pub struct SignerCheck {
    /// The message digest attribute (or the TSTInfo imprint) matches the signed bytes.
    pub digest_ok: bool,
    /// The signature verifies with the signer certificate's key.
    pub signature_ok: bool,
    /// The signer's certificate, when the CMS carries it.
    pub signer: Option<Vec<u8>>,
    /// Every certificate the CMS carries.
    pub certs: Vec<Vec<u8>>,
    /// The signature time-stamp (CAdES signatures) or the token's own time (a document
    /// time-stamp), unix seconds, with the token's check.
    pub timestamp: Option<Box<TokenCheck>>,
    /// What could not be read, if anything.
    pub problem: Option<String>,
}

/// An RFC 3161 token's check.
#[derive(Debug, Clone, Default)]
pub struct TokenCheck {
    pub time: i64,
    /// The imprint matches what it time-stamps.
    pub imprint_ok: bool,
    /// The TSA's signature over the token verifies.
    pub signature_ok: bool,
    pub tsa: Option<Vec<u8>>,
    pub certs: Vec<Vec<u8>>,
}

fn parse_signed_data(der: &[u8]) -> Result<SignedData, String> {
    // /Contents is zero padded after the DER: read one ContentInfo and ignore the rest.
    let mut reader = SliceReader::new(der).map_err(|_| "the signature is empty".to_owned())?;
    let info = ContentInfo::decode(&mut reader)
        .map_err(|e| format!("the signature is not a CMS ContentInfo: {e}"))?;
    let _ = reader.position();
    if info.content_type.to_string() != "1.2.840.113549.1.7.2" {
        return Err("the signature is not CMS SignedData".into());
    }
    let content = info
        .content
        .to_der()
        .map_err(|_| "the SignedData cannot be read".to_owned())?;
    SignedData::from_der(&content).map_err(|e| format!("the SignedData cannot be read: {e}"))
}

fn certificates(sd: &SignedData) -> Vec<Vec<u8>> {
    sd.certificates
        .as_ref()
        .map(|set| {
            set.0
                .iter()
                .filter_map(|c| match c {
                    CertificateChoices::Certificate(c) => c.to_der().ok(),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The certificate a signer identifier names, among `certs`.
fn find_signer(sid: &SignerIdentifier, certs: &[Vec<u8>]) -> Option<Vec<u8>> {
    certs
        .iter()
        .find(|der| {
            let Ok((_, c)) = X509Certificate::from_der(der) else {
                return false;
            };
            match sid {
                SignerIdentifier::IssuerAndSerialNumber(isn) => {
                    c.raw_serial() == isn.serial_number.as_bytes()
                        && isn
                            .issuer
                            .to_der()
                            .is_ok_and(|issuer| issuer == c.issuer().as_raw())
                }
                SignerIdentifier::SubjectKeyIdentifier(ski) => {
                    c.iter_extensions().any(|e| match e.parsed_extension() {
                        ParsedExtension::SubjectKeyIdentifier(k) => k.0 == ski.0.as_bytes(),
                        _ => false,
                    })
                }
            }
        })
        .cloned()
}

/// Verifies `signature` over `message` with the key of certificate `cert`, choosing the
/// algorithm from the key type, the signature algorithm and the digest algorithm.
pub fn verify_signature(
    cert: &[u8],
    signature_algorithm: &ObjectIdentifier,
    digest: Option<Digest>,
    message: &[u8],
    signature: &[u8],
) -> bool {
    use ring::signature as sig;
    let Ok((_, c)) = X509Certificate::from_der(cert) else {
        return false;
    };
    let spki = c.public_key();
    let key_alg = spki.algorithm.algorithm.to_id_string();
    let sig_alg = signature_algorithm.to_string();
    let hash = match sig_alg.as_str() {
        "1.2.840.10045.4.3.2" | "1.2.840.113549.1.1.11" => Some(Digest::Sha256),
        "1.2.840.10045.4.3.3" | "1.2.840.113549.1.1.12" => Some(Digest::Sha384),
        "1.2.840.10045.4.3.4" | "1.2.840.113549.1.1.13" => Some(Digest::Sha512),
        _ => digest,
    };
    let algorithm: &'static dyn sig::VerificationAlgorithm = match key_alg.as_str() {
        "1.2.840.10045.2.1" => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            match (curve.as_deref(), hash) {
                (Some("1.2.840.10045.3.1.7"), Some(Digest::Sha256)) => &sig::ECDSA_P256_SHA256_ASN1,
                (Some("1.2.840.10045.3.1.7"), Some(Digest::Sha384)) => &sig::ECDSA_P256_SHA384_ASN1,
                (Some("1.3.132.0.34"), Some(Digest::Sha384)) => &sig::ECDSA_P384_SHA384_ASN1,
                (Some("1.3.132.0.34"), Some(Digest::Sha256)) => &sig::ECDSA_P384_SHA256_ASN1,
                _ => return false,
            }
        }
        "1.2.840.113549.1.1.1" => match (sig_alg.as_str(), hash) {
            ("1.2.840.113549.1.1.10", Some(Digest::Sha256)) => &sig::RSA_PSS_2048_8192_SHA256,
            ("1.2.840.113549.1.1.10", Some(Digest::Sha384)) => &sig::RSA_PSS_2048_8192_SHA384,
            ("1.2.840.113549.1.1.10", Some(Digest::Sha512)) => &sig::RSA_PSS_2048_8192_SHA512,
            (_, Some(Digest::Sha256)) => &sig::RSA_PKCS1_2048_8192_SHA256,
            (_, Some(Digest::Sha384)) => &sig::RSA_PKCS1_2048_8192_SHA384,
            (_, Some(Digest::Sha512)) => &sig::RSA_PKCS1_2048_8192_SHA512,
            _ => return false,
        },
        "1.3.101.112" => &sig::ED25519,
        _ => return false,
    };
    sig::UnparsedPublicKey::new(algorithm, &spki.subject_public_key.data)
        .verify(message, signature)
        .is_ok()
}

fn attribute<'a>(
    attrs: &'a Option<x509_cert::attr::Attributes>,
    oid: &str,
) -> Option<&'a x509_cert::attr::Attribute> {
    attrs.as_ref()?.iter().find(|a| a.oid.to_string() == oid)
}

/// Checks one signer: the message digest attribute against `expected` (computed by the
/// caller with the signer's digest algorithm) and the signature over the signed attributes.
fn check_signer(
    info: &SignerInfo,
    certs: &[Vec<u8>],
    expected: &dyn Fn(Digest) -> Vec<u8>,
) -> SignerCheck {
    let mut out = SignerCheck {
        certs: certs.to_vec(),
        signer: find_signer(&info.sid, certs),
        ..Default::default()
    };
    let Some(digest) = Digest::from_oid(&info.digest_alg.oid) else {
        out.problem = Some(format!(
            "digest algorithm {} is not supported",
            info.digest_alg.oid
        ));
        return out;
    };
    let Some(attrs) = &info.signed_attrs else {
        out.problem = Some("signatures without signed attributes are not supported".into());
        return out;
    };
    let wanted = expected(digest);
    out.digest_ok = attrs
        .iter()
        .find(|a| a.oid.to_string() == OID_MESSAGE_DIGEST)
        .and_then(|a| a.values.iter().next())
        .and_then(|v| v.decode_as::<OctetString>().ok())
        .is_some_and(|d| d.as_bytes() == wanted.as_slice());
    if let (Some(cert), Ok(message)) = (&out.signer, attrs.to_der()) {
        out.signature_ok = verify_signature(
            cert,
            &info.signature_algorithm.oid,
            Some(digest),
            &message,
            info.signature.as_bytes(),
        );
    }
    out
}

/// Checks a detached CMS signature (`adbe.pkcs7.detached`, `ETSI.CAdES.detached`): `digest_of`
/// gives the signed bytes' digest under an algorithm. The signature time-stamp, if any, is
/// checked against the signature value.
pub fn check_detached(der: &[u8], digest_of: &dyn Fn(Digest) -> Vec<u8>) -> SignerCheck {
    let sd = match parse_signed_data(der) {
        Ok(sd) => sd,
        Err(problem) => {
            return SignerCheck {
                problem: Some(problem),
                ..Default::default()
            }
        }
    };
    let certs = certificates(&sd);
    let Some(info) = sd.signer_infos.0.iter().next() else {
        return SignerCheck {
            problem: Some("the SignedData has no signer".into()),
            ..Default::default()
        };
    };
    let mut out = check_signer(info, &certs, digest_of);
    if let Some(attr) = attribute(&info.unsigned_attrs, OID_TIMESTAMP_TOKEN) {
        if let Some(token) = attr.values.iter().next().and_then(|v| v.to_der().ok()) {
            let signature = info.signature.as_bytes().to_vec();
            out.timestamp = check_token(&token, &|d| d.of(&signature)).map(Box::new);
        }
    }
    out
}

/// Checks an RFC 3161 token: its TSA signature, and its imprint against `digest_of` (the
/// digest of what it time-stamps, under the imprint's algorithm). `None` if unreadable.
pub fn check_token(der: &[u8], digest_of: &dyn Fn(Digest) -> Vec<u8>) -> Option<TokenCheck> {
    let sd = parse_signed_data(der).ok()?;
    if sd.encap_content_info.econtent_type.to_string() != OID_TST_INFO {
        return None;
    }
    let econtent = sd.encap_content_info.econtent.as_ref()?;
    let tst_der = econtent.value().to_vec();
    let tst = x509_tsp::TstInfo::from_der(&tst_der).ok()?;
    let certs = certificates(&sd);
    let info = sd.signer_infos.0.iter().next()?;
    let check = check_signer(info, &certs, &|d| d.of(&tst_der));
    let imprint_ok = Digest::from_oid(&tst.message_imprint.hash_algorithm.oid)
        .is_some_and(|d| tst.message_imprint.hashed_message.as_bytes() == digest_of(d).as_slice());
    Some(TokenCheck {
        time: i64::try_from(tst.gen_time.to_unix_duration().as_secs()).unwrap_or_default(),
        imprint_ok,
        signature_ok: check.digest_ok && check.signature_ok,
        tsa: check.signer,
        certs,
    })
}
