//! CMS SignedData (RFC 5652) built from the `cms` crate's types: one signer, signed attributes
//! content-type, message-digest and ESS signing-certificate-v2 (RFC 5035), SHA-256 and the
//! signer's key algorithm. Used by the TSA (RFC 3161 tokens) and, for PAdES, by the sealer.

use cms::cert::IssuerAndSerialNumber;
use cms::content_info::CmsVersion;
use cms::signed_data::{EncapsulatedContentInfo, SignerIdentifier, SignerInfo, SignerInfos};
use der::asn1::AnyRef;
use der::asn1::{ObjectIdentifier, OctetString, SetOfVec};
use der::{Any, Decode, Encode, Sequence};
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;

use super::PkiError;
use crate::keys::{KeyAlgorithm, Signer};

pub use super::oid::{
    CONTENT_TYPE as ID_CONTENT_TYPE, CT_TST_INFO as ID_CT_TST_INFO, DATA as ID_DATA,
    ECDSA_WITH_SHA256, ED25519 as ID_ED25519, MESSAGE_DIGEST as ID_MESSAGE_DIGEST,
    SHA256 as ID_SHA256, SIGNED_DATA as ID_SIGNED_DATA,
    SIGNING_CERTIFICATE_V2 as ID_SIGNING_CERTIFICATE_V2, TIMESTAMP_TOKEN as ID_TIMESTAMP_TOKEN,
};

/// ESSCertIDv2 (RFC 5035 §3); hashAlgorithm is left out, meaning its DEFAULT SHA-256.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct EssCertIdV2 {
    pub cert_hash: OctetString,
    pub issuer_serial: IssuerSerial,
}

/// IssuerSerial (RFC 5035 §4).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct IssuerSerial {
    pub issuer: Vec<GeneralName>,
    pub serial_number: SerialNumber,
}

/// SigningCertificateV2 (RFC 5035 §3), without policies.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SigningCertificateV2 {
    pub certs: Vec<EssCertIdV2>,
}

fn der_err(_: der::Error) -> PkiError {
    PkiError::BadCertificate
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, data).as_ref());
    out
}

fn algorithm(oid: ObjectIdentifier) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid,
        parameters: None,
    }
}

fn attribute(oid: ObjectIdentifier, value: Any) -> Result<Attribute, PkiError> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value]).map_err(der_err)?,
    })
}

/// Who signs: the key, its certificate, and further certificates to embed (the chain).
pub struct CmsSigner<'a> {
    pub key: &'a dyn Signer,
    pub certificate: &'a [u8],
    pub chain: &'a [Vec<u8>],
}

/// A SignerInfo over content whose SHA-256 is `content_digest`, with the signed attributes.
pub fn signer_info(
    signer: &CmsSigner<'_>,
    content_type: ObjectIdentifier,
    content_digest: &[u8; 32],
) -> Result<SignerInfo, PkiError> {
    let cert = Certificate::from_der(signer.certificate).map_err(der_err)?;
    let ess = SigningCertificateV2 {
        certs: vec![EssCertIdV2 {
            cert_hash: OctetString::new(sha256(signer.certificate).to_vec()).map_err(der_err)?,
            issuer_serial: IssuerSerial {
                issuer: vec![GeneralName::DirectoryName(
                    cert.tbs_certificate.issuer.clone(),
                )],
                serial_number: cert.tbs_certificate.serial_number.clone(),
            },
        }],
    };
    let attrs = vec![
        attribute(
            ID_CONTENT_TYPE,
            Any::encode_from(&content_type).map_err(der_err)?,
        )?,
        attribute(
            ID_MESSAGE_DIGEST,
            Any::encode_from(&OctetString::new(content_digest.to_vec()).map_err(der_err)?)
                .map_err(der_err)?,
        )?,
        attribute(
            ID_SIGNING_CERTIFICATE_V2,
            Any::encode_from(&ess).map_err(der_err)?,
        )?,
    ];
    let signed_attrs = SetOfVec::try_from(attrs).map_err(der_err)?;
    // The signature covers the DER of the attributes as a SET OF (RFC 5652 §5.4).
    let to_sign = signed_attrs.to_der().map_err(der_err)?;
    let signature = signer.key.sign(&to_sign)?;
    let signature_algorithm = match signer.key.algorithm() {
        KeyAlgorithm::EcdsaP256Sha256 => algorithm(ECDSA_WITH_SHA256),
        KeyAlgorithm::Ed25519 => algorithm(ID_ED25519),
        KeyAlgorithm::Sm2Sm3 => algorithm(super::oid::SM2_WITH_SM3),
    };
    Ok(SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: cert.tbs_certificate.issuer,
            serial_number: cert.tbs_certificate.serial_number,
        }),
        digest_alg: algorithm(ID_SHA256),
        signed_attrs: Some(signed_attrs),
        signature_algorithm,
        signature: OctetString::new(signature).map_err(der_err)?,
        unsigned_attrs: None,
    })
}

/// Adds an unsigned attribute (e.g. the signature time-stamp token of CAdES-T).
pub fn add_unsigned_attribute(
    info: &mut SignerInfo,
    oid: ObjectIdentifier,
    value: Any,
) -> Result<(), PkiError> {
    let mut attrs: Vec<Attribute> = info
        .unsigned_attrs
        .take()
        .map(|s| s.into_vec())
        .unwrap_or_default();
    attrs.push(attribute(oid, value)?);
    info.unsigned_attrs = Some(SetOfVec::try_from(attrs).map_err(der_err)?);
    Ok(())
}

/// SignedData (RFC 5652 §5.1) as it is encoded: the certificates are put in as the DER they
/// are stored in (a SET OF in DER order, as the `cms` crate orders it), where decoding them
/// only to encode them again took a third of the assembly.
#[derive(Sequence)]
struct SignedDataOut<'a> {
    version: CmsVersion,
    digest_algorithms: SetOfVec<AlgorithmIdentifierOwned>,
    encap_content_info: EncapsulatedContentInfo,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    certificates: Option<SetOfVec<AnyRef<'a>>>,
    signer_infos: SignerInfos,
}

/// ContentInfo (RFC 5652 §3) around a [`SignedDataOut`], encoded in one pass.
#[derive(Sequence)]
struct ContentInfoOut<'a> {
    content_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    content: SignedDataOut<'a>,
}

/// The ContentInfo (DER) of a SignedData with one signer; `econtent` is the encapsulated
/// content, or `None` for a detached signature.
pub fn assemble(
    signer: &CmsSigner<'_>,
    content_type: ObjectIdentifier,
    econtent: Option<&[u8]>,
    info: SignerInfo,
) -> Result<Vec<u8>, PkiError> {
    let mut certs = vec![AnyRef::from_der(signer.certificate).map_err(der_err)?];
    for c in signer.chain {
        certs.push(AnyRef::from_der(c).map_err(der_err)?);
    }
    let econtent = match econtent {
        Some(bytes) => Some(
            Any::encode_from(&OctetString::new(bytes.to_vec()).map_err(der_err)?)
                .map_err(der_err)?,
        ),
        None => None,
    };
    ContentInfoOut {
        content_type: ID_SIGNED_DATA,
        content: SignedDataOut {
            // RFC 5652 §5.1: version 3 when the content type is not id-data.
            version: if content_type == ID_DATA {
                CmsVersion::V1
            } else {
                CmsVersion::V3
            },
            digest_algorithms: SetOfVec::try_from(vec![algorithm(ID_SHA256)]).map_err(der_err)?,
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: content_type,
                econtent,
            },
            certificates: Some(SetOfVec::try_from(certs).map_err(der_err)?),
            signer_infos: SignerInfos(SetOfVec::try_from(vec![info]).map_err(der_err)?),
        },
    }
    .to_der()
    .map_err(der_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cms::content_info::ContentInfo;
    use cms::signed_data::SignedData;

    fn self_signed(cn: &str) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    /// The certificates go in as stored, in DER order, and the `cms` crate's types decode the
    /// whole (ContentInfo encoding the same bytes) with the certificates in the set.
    #[test]
    fn assembled_signed_data_is_what_the_cms_crate_encodes() {
        let (key, _) = crate::keys::SoftwareKey::generate(KeyAlgorithm::EcdsaP256Sha256).unwrap();
        let certificate = self_signed("signer");
        // Several, so that their order in the SET OF is tested.
        let chain = vec![
            self_signed("b"),
            self_signed("a-longer-name"),
            self_signed("c"),
        ];
        let signer = CmsSigner {
            key: &key,
            certificate: &certificate,
            chain: &chain,
        };
        let info = signer_info(&signer, ID_DATA, &[7u8; 32]).unwrap();
        for econtent in [None, Some(&b"content"[..])] {
            let der = assemble(&signer, ID_DATA, econtent, info.clone()).unwrap();
            let decoded = ContentInfo::from_der(&der).unwrap();
            assert_eq!(decoded.content_type, ID_SIGNED_DATA);
            assert_eq!(decoded.to_der().unwrap(), der);
            let signed = decoded.content.decode_as::<SignedData>().unwrap();
            // The SET OF certificates in DER order (X.690 §11.6: ascending as octet strings).
            // Not compared with the cms crate's re-encoding: it orders certificates of equal
            // length field by field, which differs now and then (a flaky test until 2026-12-01).
            let mut sorted: Vec<&Vec<u8>> = chain.iter().chain([&certificate]).collect();
            sorted.sort();
            let at: Vec<usize> = sorted
                .iter()
                .map(|c| {
                    der.windows(c.len())
                        .position(|w| w == c.as_slice())
                        .unwrap()
                })
                .collect();
            assert!(at.windows(2).all(|p| p[0] < p[1]), "{at:?}");
            let embedded: Vec<Vec<u8>> = signed
                .certificates
                .unwrap()
                .0
                .iter()
                .map(|c| c.to_der().unwrap())
                .collect();
            assert_eq!(embedded.len(), 4);
            for c in chain.iter().chain([&certificate]) {
                assert!(embedded.contains(c));
            }
            assert_eq!(signed.signer_infos.0.len(), 1);
        }
    }
}
