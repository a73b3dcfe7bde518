//! CMS checks for PDF signatures (RFC 5652, ETSI EN 319 122 CAdES, RFC 3161 tokens): the
//! message digest against the signed bytes, the signature over the signed attributes with the
//! signer's certificate (ECDSA P-256/P-384, RSA PKCS#1 v1.5 and PSS, Ed25519), and the
//! signature time-stamp token of CAdES signatures.

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{ObjectIdentifier, OctetString};
use der::{Decode, Encode, Reader, SliceReader, Tagged};
use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};

use crate::pki::oid;

/// ESSCertIDv2 (RFC 5035): the hash of the signer's certificate, SHA-256 unless stated.
#[derive(Clone, Debug, der::Sequence)]
struct EssCertIdV2 {
    #[asn1(optional = "true")]
    hash_algorithm: Option<x509_cert::spki::AlgorithmIdentifierOwned>,
    cert_hash: OctetString,
    #[asn1(optional = "true")]
    issuer_serial: Option<der::Any>,
}

#[derive(Clone, Debug, der::Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
    #[asn1(optional = "true")]
    policies: Option<der::Any>,
}

/// ESSCertID (RFC 2634): the SHA-1 hash of the signer's certificate.
#[derive(Clone, Debug, der::Sequence)]
struct EssCertId {
    cert_hash: OctetString,
    #[asn1(optional = "true")]
    issuer_serial: Option<der::Any>,
}

#[derive(Clone, Debug, der::Sequence)]
struct SigningCertificate {
    certs: Vec<EssCertId>,
    #[asn1(optional = "true")]
    policies: Option<der::Any>,
}

/// A digest algorithm the verifier supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digest {
    Sha256,
    Sha384,
    Sha512,
    /// SM3 (GB/T 32905), in tokens of the SM2 TSA.
    Sm3,
}

impl Digest {
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Digest> {
        match *oid {
            oid::SHA256 => Some(Digest::Sha256),
            oid::SHA384 => Some(Digest::Sha384),
            oid::SHA512 => Some(Digest::Sha512),
            oid::SM3 => Some(Digest::Sm3),
            _ => None,
        }
    }
    /// ring's algorithm (`None` for SM3, which ring lacks).
    pub fn ring(self) -> Option<&'static ring::digest::Algorithm> {
        match self {
            Digest::Sha256 => Some(&ring::digest::SHA256),
            Digest::Sha384 => Some(&ring::digest::SHA384),
            Digest::Sha512 => Some(&ring::digest::SHA512),
            Digest::Sm3 => None,
        }
    }
    pub fn of(self, data: &[u8]) -> Vec<u8> {
        match self.ring() {
            Some(alg) => ring::digest::digest(alg, data).as_ref().to_vec(),
            None => crate::keys::sm2::sm3(data).to_vec(),
        }
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
    /// What is wrong with the token's signer, if anything.
    pub problem: Option<String>,
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
    if crate::pki::sm2::is_sm2_signature(&sig_alg) {
        // SM2 keys are id-ecPublicKey on sm2p256v1; ring has no SM2.
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .map(|o| o.to_id_string());
        return curve.as_deref() == Some("1.2.156.10197.1.301")
            && crate::keys::sm2::verify(&spki.subject_public_key.data, message, signature);
    }
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

fn attribute(
    attrs: &Option<x509_cert::attr::Attributes>,
    oid: ObjectIdentifier,
) -> Option<&x509_cert::attr::Attribute> {
    attrs.as_ref()?.iter().find(|a| a.oid == oid)
}

/// Checks one signer: the message digest attribute against `expected` (computed by the
/// caller with the signer's digest algorithm) and the signature over the signed attributes.
fn check_signer(
    info: &SignerInfo,
    certs: &[Vec<u8>],
    expected: &dyn Fn(Digest) -> Vec<u8>,
    content_type: ObjectIdentifier,
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
        .find(|a| a.oid == oid::MESSAGE_DIGEST)
        .and_then(|a| a.values.iter().next())
        .and_then(|v| v.decode_as::<OctetString>().ok())
        .is_some_and(|d| d.as_bytes() == wanted.as_slice());
    // The signed content type must be what is signed (RFC 5652 §11.1), and an ESS
    // signing-certificate attribute must name the certificate that verifies (RFC 5035).
    let signed_type = attrs
        .iter()
        .find(|a| a.oid == oid::CONTENT_TYPE)
        .and_then(|a| a.values.iter().next())
        .and_then(|v| v.decode_as::<ObjectIdentifier>().ok());
    if signed_type != Some(content_type) {
        out.problem = Some(
            "the signed content-type attribute is missing or does not name what is signed".into(),
        );
        return out;
    }
    if let Some(cert) = &out.signer {
        if let Some(problem) = ess_problem(attrs, cert) {
            out.problem = Some(problem);
            return out;
        }
    }
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
    if sd.encap_content_info.econtent_type != oid::DATA {
        return SignerCheck {
            problem: Some("a detached PDF signature must sign id-data content".into()),
            ..Default::default()
        };
    }
    let mut out = check_signer(info, &certs, digest_of, oid::DATA);
    if let Some(attr) = attribute(&info.unsigned_attrs, oid::TIMESTAMP_TOKEN) {
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
    if sd.encap_content_info.econtent_type != oid::CT_TST_INFO {
        return None;
    }
    let econtent = sd.encap_content_info.econtent.as_ref()?;
    let tst_der = econtent.value().to_vec();
    let (imprint, time) = tst_fields(&tst_der)?;
    let certs = certificates(&sd);
    let info = sd.signer_infos.0.iter().next()?;
    let check = check_signer(info, &certs, &|d| d.of(&tst_der), oid::CT_TST_INFO);
    let imprint_ok = Digest::from_oid(&imprint.hash_algorithm.oid)
        .is_some_and(|d| imprint.hashed_message.as_bytes() == digest_of(d).as_slice());
    Some(TokenCheck {
        time,
        imprint_ok,
        signature_ok: check.digest_ok && check.signature_ok && check.problem.is_none(),
        tsa: check.signer,
        certs,
        problem: check.problem,
    })
}

/// Why the ESS signing-certificate(-v2) attribute does not name `cert`, if it is present.
fn ess_problem(attrs: &x509_cert::attr::Attributes, cert: &[u8]) -> Option<String> {
    let value = |wanted: ObjectIdentifier| {
        attrs
            .iter()
            .find(|a| a.oid == wanted)
            .and_then(|a| a.values.iter().next())
            .and_then(|v| v.to_der().ok())
    };
    if let Some(der) = value(oid::SIGNING_CERTIFICATE_V2) {
        let Ok(sc) = SigningCertificateV2::from_der(&der) else {
            return Some("the signing-certificate-v2 attribute cannot be read".into());
        };
        let first = sc.certs.first()?;
        let alg = first.hash_algorithm.as_ref().map_or(oid::SHA256, |a| a.oid);
        let Some(digest) = Digest::from_oid(&alg) else {
            return Some(format!(
                "the signing-certificate-v2 hash algorithm {alg} is not supported"
            ));
        };
        if first.cert_hash.as_bytes() != digest.of(cert).as_slice() {
            return Some(
                "the signing-certificate-v2 attribute names another certificate than the signer's"
                    .into(),
            );
        }
        return None;
    }
    if let Some(der) = value(oid::SIGNING_CERTIFICATE) {
        let Ok(sc) = SigningCertificate::from_der(&der) else {
            return Some("the signing-certificate attribute cannot be read".into());
        };
        let first = sc.certs.first()?;
        let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, cert);
        if first.cert_hash.as_bytes() != sha1.as_ref() {
            return Some(
                "the signing-certificate attribute names another certificate than the signer's"
                    .into(),
            );
        }
    }
    None
}

/// The message imprint and time of an RFC 3161 TSTInfo. Read field by field by hand because
/// the `der` crate's GeneralizedTime refuses fractional seconds, which RFC 3161 §2.4.2 allows
/// (and openssl and pyHanko accept); the fraction is dropped (the time is kept to the second).
fn tst_fields(tst: &[u8]) -> Option<(x509_tsp::MessageImprint, i64)> {
    let mut outer = SliceReader::new(tst).ok()?;
    let header = der::Header::decode(&mut outer).ok()?;
    if header.tag != der::Tag::Sequence {
        return None;
    }
    let body = outer.read_slice(header.length).ok()?;
    let mut r = SliceReader::new(body).ok()?;
    let version = der::asn1::Any::decode(&mut r).ok()?;
    if version.tag() != der::Tag::Integer || version.value() != [1] {
        return None;
    }
    let _policy = ObjectIdentifier::decode(&mut r).ok()?;
    let imprint = x509_tsp::MessageImprint::decode(&mut r).ok()?;
    let serial = der::asn1::Any::decode(&mut r).ok()?;
    if serial.tag() != der::Tag::Integer {
        return None;
    }
    let time = der::asn1::Any::decode(&mut r).ok()?;
    if time.tag() != der::Tag::GeneralizedTime {
        return None;
    }
    Some((imprint, generalized_time(time.value())?))
}

/// `YYYYMMDDHHMMSS[.f+]Z` as unix seconds.
fn generalized_time(text: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?;
    let text = text.strip_suffix('Z')?;
    let (whole, fraction) = match text.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (text, None),
    };
    if whole.len() != 14 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Some(f) = fraction {
        // DER: at least one digit, no trailing zero.
        if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) || f.ends_with('0') {
            return None;
        }
    }
    let n = |a: usize, b: usize| whole.get(a..b)?.parse::<u8>().ok();
    let year: i32 = whole.get(0..4)?.parse().ok()?;
    let month = time::Month::try_from(n(4, 6)?).ok()?;
    let date = time::Date::from_calendar_date(year, month, n(6, 8)?).ok()?;
    let t = time::Time::from_hms(n(8, 10)?, n(10, 12)?, n(12, 14)?).ok()?;
    Some(
        time::PrimitiveDateTime::new(date, t)
            .assume_utc()
            .unix_timestamp(),
    )
}

#[cfg(test)]
mod tests {
    use super::generalized_time;

    #[test]
    fn generalized_time_with_and_without_fractions() {
        assert_eq!(generalized_time(b"20260101000000Z"), Some(1_767_225_600));
        assert_eq!(generalized_time(b"20260101000000.25Z"), Some(1_767_225_600));
        assert_eq!(generalized_time(b"20260101000000.Z"), None);
        assert_eq!(generalized_time(b"20260101000000.50Z"), None);
        assert_eq!(generalized_time(b"20260101000000"), None);
        assert_eq!(generalized_time(b"20261301000000Z"), None);
    }
}
