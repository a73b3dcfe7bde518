//! Certificate profiles (ARCHITECTURE.md §4). Each profile fills an rcgen parameters value; the
//! issuing CA signs it. Serial numbers are random and positive (RFC 5280 §4.1.2.2), key
//! identifiers are present (§4.2.1.1, §4.2.1.2), and CA-issued certificates carry the CRL
//! distribution point and the OCSP responder URL built from the public URL.

use der::Encode;
use rcgen::{
    BasicConstraints, CertificateParams, CrlDistributionPoint, CustomExtension, DistinguishedName,
    DnType, IsCa, KeyUsagePurpose, SerialNumber,
};
use ring::rand::{SecureRandom, SystemRandom};
use time::OffsetDateTime;

use super::PkiError;

pub use super::oid::arcs::ORGANIZATION_IDENTIFIER as OID_ORGANIZATION_IDENTIFIER;
use super::oid::arcs::{
    AUTHORITY_INFO_ACCESS as OID_AUTHORITY_INFO_ACCESS,
    EXTENDED_KEY_USAGE as OID_EXTENDED_KEY_USAGE,
};
use super::oid::{
    AD_OCSP as ID_AD_OCSP, KP_OCSP_SIGNING as ID_KP_OCSP_SIGNING,
    KP_TIME_STAMPING as ID_KP_TIME_STAMPING,
};

/// A fresh serial: 16 random bytes, top bits `01` so it is positive and always 16 bytes long
/// (126 bits of entropy; CA/B Forum asks for at least 64).
pub fn random_serial() -> Result<Vec<u8>, PkiError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| PkiError::KeyGeneration)?;
    bytes[0] = (bytes[0] & 0x3f) | 0x40;
    Ok(bytes.to_vec())
}

/// Where relying parties fetch revocation information for certificates issued by `ca`.
#[derive(Debug, Clone)]
pub struct RevocationUrls {
    pub crl: String,
    pub ocsp: String,
}

impl RevocationUrls {
    pub fn for_ca(public_url: &str, ca: &str) -> Self {
        let base = public_url.trim_end_matches('/');
        RevocationUrls {
            crl: format!("{base}/crl/{ca}.crl"),
            ocsp: format!("{base}/ocsp"),
        }
    }
}

fn base_params(
    dn: DistinguishedName,
    serial: &[u8],
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = dn;
    params.serial_number = Some(SerialNumber::from_slice(serial));
    params.not_before = not_before;
    params.not_after = not_after;
    params
}

fn with_revocation(params: &mut CertificateParams, urls: &RevocationUrls) -> Result<(), PkiError> {
    params.use_authority_key_identifier_extension = true;
    params.crl_distribution_points = vec![CrlDistributionPoint {
        uris: vec![urls.crl.clone()],
    }];
    let aia = x509_cert::ext::pkix::AuthorityInfoAccessSyntax(vec![
        x509_cert::ext::pkix::AccessDescription {
            access_method: ID_AD_OCSP,
            access_location: x509_cert::ext::pkix::name::GeneralName::UniformResourceIdentifier(
                der::asn1::Ia5String::new(&urls.ocsp).map_err(|_| PkiError::BadUrl)?,
            ),
        },
    ]);
    let content = aia.to_der().map_err(|_| PkiError::BadUrl)?;
    params
        .custom_extensions
        .push(CustomExtension::from_oid_content(
            OID_AUTHORITY_INFO_ACCESS,
            content,
        ));
    Ok(())
}

/// countryName is a PrintableString (RFC 5280 Appendix A, X520countryName).
/// The subject of the service's own certificates (TSA, the root's OCSP responder):
/// C = CN, O = trustd, CN.
fn service_dn(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, country_cn());
    dn.push(DnType::OrganizationName, "trustd");
    dn.push(DnType::CommonName, common_name);
    dn
}

fn country_cn() -> rcgen::DnValue {
    "CN".try_into()
        .map(rcgen::DnValue::PrintableString)
        .unwrap_or_else(|_| rcgen::DnValue::Utf8String("CN".into()))
}

/// Subject of the installation's root CA.
pub fn root_ca_params(
    common_name: &str,
    serial: &[u8],
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> CertificateParams {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, country_cn());
    dn.push(DnType::OrganizationName, "trustd");
    dn.push(DnType::CommonName, common_name);
    let mut params = base_params(dn, serial, not_before, not_after);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

/// A link certificate between two roots: the subject and key of one root (its name built as
/// [`root_ca_params`] built it), certified by the other, revocable through the certifying
/// root's CRL and OCSP.
pub fn root_link_params(
    common_name: &str,
    serial: &[u8],
    validity: Validity,
    urls: &RevocationUrls,
) -> Result<CertificateParams, PkiError> {
    let mut params = root_ca_params(common_name, serial, validity.not_before, validity.not_after);
    with_revocation(&mut params, urls)?;
    Ok(params)
}

/// The TSA certificate: issued by the root, digitalSignature + nonRepudiation, and
/// extendedKeyUsage id-kp-timeStamping marked critical (RFC 3161 §2.3; rcgen writes EKU as
/// non-critical, so the extension is encoded here).
pub fn tsa_params(
    common_name: &str,
    serial: &[u8],
    validity: Validity,
    urls: &RevocationUrls,
) -> Result<CertificateParams, PkiError> {
    let mut params = base_params(
        service_dn(common_name),
        serial,
        validity.not_before,
        validity.not_after,
    );
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::ContentCommitment,
    ];
    with_revocation(&mut params, urls)?;
    let eku = x509_cert::ext::pkix::ExtendedKeyUsage(vec![ID_KP_TIME_STAMPING]);
    let mut ext = CustomExtension::from_oid_content(
        OID_EXTENDED_KEY_USAGE,
        eku.to_der().map_err(|_| PkiError::BadUrl)?,
    );
    ext.set_criticality(true);
    params.custom_extensions.push(ext);
    Ok(params)
}

/// A CA's delegated OCSP responder (RFC 6960 §4.2.2.2): extendedKeyUsage id-kp-OCSPSigning,
/// id-pkix-ocsp-nocheck (so clients do not ask about the responder itself), digitalSignature.
/// `department` is (code, name) for a department CA's responder, `None` for the root's.
pub fn ocsp_responder_params(
    department: Option<(&str, &str)>,
    common_name: &str,
    serial: &[u8],
    validity: Validity,
) -> Result<CertificateParams, PkiError> {
    let dn = match department {
        Some((code, name)) => department_dn(code, name, common_name),
        None => service_dn(common_name),
    };
    let mut params = base_params(dn, serial, validity.not_before, validity.not_after);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    let eku = x509_cert::ext::pkix::ExtendedKeyUsage(vec![ID_KP_OCSP_SIGNING]);
    params
        .custom_extensions
        .push(CustomExtension::from_oid_content(
            OID_EXTENDED_KEY_USAGE,
            eku.to_der().map_err(|_| PkiError::BadUrl)?,
        ));
    // id-pkix-ocsp-nocheck, value NULL.
    params
        .custom_extensions
        .push(CustomExtension::from_oid_content(
            &[1, 3, 6, 1, 5, 5, 7, 48, 1, 5],
            vec![0x05, 0x00],
        ));
    Ok(params)
}

/// The subject of a department's certificates: C, O = name, organizationIdentifier = code, CN.
pub fn department_dn(code: &str, name: &str, common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, country_cn());
    dn.push(DnType::OrganizationName, name);
    dn.push(
        DnType::CustomDnType(OID_ORGANIZATION_IDENTIFIER.to_vec()),
        code,
    );
    dn.push(DnType::CommonName, common_name);
    dn
}

/// A department's intermediate CA: pathLen 0, keyCertSign + cRLSign (RFC 5280 §4.2.1.9, §4.2.1.3).
pub fn department_ca_params(
    code: &str,
    name: &str,
    serial: &[u8],
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    urls: &RevocationUrls,
) -> Result<CertificateParams, PkiError> {
    let dn = department_dn(code, name, &format!("{name} CA"));
    let mut params = base_params(dn, serial, not_before, not_after);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    with_revocation(&mut params, urls)?;
    Ok(params)
}

/// The subject of a department's end-entity certificate.
#[derive(Debug, Clone, Copy)]
pub struct DepartmentSubject<'a> {
    pub code: &'a str,
    pub name: &'a str,
    pub common_name: &'a str,
}

/// A validity period (RFC 5280 §4.1.2.5).
#[derive(Debug, Clone, Copy)]
pub struct Validity {
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// An end-entity certificate of a department (licence signer, seal, OCSP responder):
/// not a CA, the given key usages, CRL DP and OCSP URL of the department CA.
pub fn department_leaf_params(
    subject: DepartmentSubject<'_>,
    serial: &[u8],
    validity: Validity,
    key_usages: Vec<KeyUsagePurpose>,
    urls: &RevocationUrls,
) -> Result<CertificateParams, PkiError> {
    let dn = department_dn(subject.code, subject.name, subject.common_name);
    let mut params = base_params(dn, serial, validity.not_before, validity.not_after);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = key_usages;
    with_revocation(&mut params, urls)?;
    Ok(params)
}
