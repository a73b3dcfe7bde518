//! The national (SM2) hierarchy beside the P-256 one (ARCHITECTURE.md §4): an SM2 root
//! (`root-sm2`), an SM2 intermediate CA per department (`{code}-sm2`), the SM2 TSA and the
//! seals' SM2 certificates, all SM2-with-SM3 over GB/T 20518 profiles, and their CRLs.
//!
//! rcgen, which builds the P-256 certificates, has no SM2 and no way to add an algorithm, so
//! the TBS structures are filled here with `x509-cert`'s types and signed with the key's
//! [`Signer`]: the same extensions as the P-256 profiles (certs.rs), the same DER encoder.

use std::time::Duration;

use der::asn1::{BitString, Ia5String, ObjectIdentifier, OctetString, SetOfVec};
use der::flagset::FlagSet;
use der::oid::AssociatedOid;
use der::{Any, Decode, Encode, Tag};
use time::OffsetDateTime;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AccessDescription, AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints,
    CrlDistributionPoints, CrlNumber, CrlReason, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectKeyIdentifier,
};
use x509_cert::ext::Extension;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::Time;
use x509_cert::{Certificate, TbsCertificate, Version};

use super::certs::{RevocationUrls, Validity};
use super::oid;
use super::{validity_of, IssueRequest, Issued, Pki, PkiError};
use crate::keys::{KeyAlgorithm, Signer};
use crate::store::{CertKind, CertificateRecord};

/// Meta key holding the SM2 root's serial.
pub const META_SM2_ROOT_SERIAL: &str = "sm2_root_ca_serial";
/// The name of the SM2 root as an issuer (CRL path `/crl/root-sm2.crl`).
pub const ROOT_SM2: &str = "root-sm2";
const SUFFIX: &str = "-sm2";

/// The issuer name of a department's SM2 CA (`{code}-sm2`).
pub fn department_ca_name(code: &str) -> String {
    format!("{code}{SUFFIX}")
}

/// The department code of an SM2 CA name, if it is one.
pub fn department_of(ca_name: &str) -> Option<&str> {
    ca_name.strip_suffix(SUFFIX).filter(|c| !c.is_empty())
}

fn der_err(_: der::Error) -> PkiError {
    PkiError::BadCertificate
}

fn sm2_with_sm3() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: oid::SM2_WITH_SM3,
        parameters: None,
    }
}

/// One attribute of a name, as UTF8String (PrintableString for the country, X.520).
fn attribute(oid: ObjectIdentifier, value: &str) -> Result<RelativeDistinguishedName, PkiError> {
    let tag = if oid == oid::AT_COUNTRY {
        Tag::PrintableString
    } else {
        Tag::Utf8String
    };
    let atv = AttributeTypeAndValue {
        oid,
        value: Any::new(tag, value.as_bytes()).map_err(der_err)?,
    };
    Ok(RelativeDistinguishedName(
        SetOfVec::try_from(vec![atv]).map_err(der_err)?,
    ))
}

/// C = CN, O, [organizationIdentifier], CN: the same subjects as the P-256 profiles.
pub fn name(organization: &str, code: Option<&str>, common_name: &str) -> Result<Name, PkiError> {
    let mut rdns = vec![
        attribute(oid::AT_COUNTRY, "CN")?,
        attribute(oid::AT_ORGANIZATION, organization)?,
    ];
    if let Some(code) = code {
        rdns.push(attribute(oid::AT_ORGANIZATION_IDENTIFIER, code)?);
    }
    rdns.push(attribute(oid::AT_COMMON_NAME, common_name)?);
    Ok(RdnSequence(rdns))
}

/// An SM2 public key (uncompressed point) as SubjectPublicKeyInfo: id-ecPublicKey with the
/// sm2p256v1 curve as parameter (GB/T 20518 §5.2.2.6).
pub fn spki(public_key: &[u8]) -> Result<SubjectPublicKeyInfoOwned, PkiError> {
    Ok(SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: oid::EC_PUBLIC_KEY,
            parameters: Some(Any::encode_from(&oid::SM2_CURVE).map_err(der_err)?),
        },
        subject_public_key: BitString::from_bytes(public_key).map_err(der_err)?,
    })
}

/// UTCTime through 2049, GeneralizedTime after (RFC 5280 §4.1.2.5).
fn time(at: OffsetDateTime) -> Result<Time, PkiError> {
    let secs = u64::try_from(at.unix_timestamp()).map_err(|_| PkiError::BadCertificate)?;
    let dt = der::DateTime::from_unix_duration(Duration::from_secs(secs)).map_err(der_err)?;
    if dt.year() < 2050 {
        der::asn1::UtcTime::from_date_time(dt)
            .map(Time::UtcTime)
            .map_err(der_err)
    } else {
        Ok(Time::GeneralTime(
            der::asn1::GeneralizedTime::from_date_time(dt),
        ))
    }
}

fn extension<T: AssociatedOid + Encode>(value: &T, critical: bool) -> Result<Extension, PkiError> {
    Ok(Extension {
        extn_id: T::OID,
        critical,
        extn_value: OctetString::new(value.to_der().map_err(der_err)?).map_err(der_err)?,
    })
}

/// The key identifier of a public key: SHA-1 of its bits (RFC 5280 §4.2.1.2, method 1).
fn key_identifier(public_key: &[u8]) -> Result<OctetString, PkiError> {
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, public_key);
    OctetString::new(digest.as_ref()).map_err(der_err)
}

/// What a certificate is allowed to do.
#[derive(Debug, Clone)]
pub struct Profile {
    /// `Some(path length)` for a CA.
    pub ca: Option<Option<u8>>,
    pub key_usage: FlagSet<KeyUsages>,
    /// A critical extended key usage (time-stamping).
    pub extended_key_usage: Option<ObjectIdentifier>,
    /// CRL distribution point and OCSP URL of the issuer (none on the root).
    pub revocation: Option<RevocationUrls>,
}

impl Profile {
    pub fn ca(path_len: Option<u8>, revocation: Option<RevocationUrls>) -> Profile {
        Profile {
            ca: Some(path_len),
            key_usage: KeyUsages::KeyCertSign | KeyUsages::CRLSign,
            extended_key_usage: None,
            revocation,
        }
    }

    /// A signing end entity: digitalSignature and nonRepudiation (a seal, the TSA).
    pub fn signer(
        revocation: RevocationUrls,
        extended_key_usage: Option<ObjectIdentifier>,
    ) -> Profile {
        Profile {
            ca: None,
            key_usage: KeyUsages::DigitalSignature | KeyUsages::NonRepudiation,
            extended_key_usage,
            revocation: Some(revocation),
        }
    }

    fn extensions(
        &self,
        subject_key: &[u8],
        issuer_key: &[u8],
    ) -> Result<Vec<Extension>, PkiError> {
        let mut out = vec![
            extension(
                &BasicConstraints {
                    ca: self.ca.is_some(),
                    path_len_constraint: self.ca.flatten(),
                },
                true,
            )?,
            extension(&KeyUsage(self.key_usage), true)?,
            extension(&SubjectKeyIdentifier(key_identifier(subject_key)?), false)?,
            extension(
                &AuthorityKeyIdentifier {
                    key_identifier: Some(key_identifier(issuer_key)?),
                    authority_cert_issuer: None,
                    authority_cert_serial_number: None,
                },
                false,
            )?,
        ];
        if let Some(eku) = self.extended_key_usage {
            out.push(extension(&ExtendedKeyUsage(vec![eku]), true)?);
        }
        if let Some(urls) = &self.revocation {
            let uri = |u: &str| {
                Ia5String::new(u)
                    .map(GeneralName::UniformResourceIdentifier)
                    .map_err(|_| PkiError::BadUrl)
            };
            out.push(extension(
                &CrlDistributionPoints(vec![DistributionPoint {
                    distribution_point: Some(DistributionPointName::FullName(vec![
                        uri(&urls.crl)?,
                    ])),
                    reasons: None,
                    crl_issuer: None,
                }]),
                false,
            )?);
            out.push(extension(
                &AuthorityInfoAccessSyntax(vec![AccessDescription {
                    access_method: oid::AD_OCSP,
                    access_location: uri(&urls.ocsp)?,
                }]),
                false,
            )?);
        }
        Ok(out)
    }
}

/// The issuer side of a certificate: its name and key (the subject's own, self-signed).
pub struct IssuerOf<'a> {
    pub name: Name,
    pub public_key: Vec<u8>,
    pub signer: &'a dyn Signer,
}

impl<'a> IssuerOf<'a> {
    /// The issuer described by its DER certificate and its key.
    pub fn certificate(der: &[u8], signer: &'a dyn Signer) -> Result<IssuerOf<'a>, PkiError> {
        let cert = Certificate::from_der(der).map_err(der_err)?;
        Ok(IssuerOf {
            name: cert.tbs_certificate.subject,
            public_key: signer.public_key().to_vec(),
            signer,
        })
    }
}

/// Builds and signs an SM2-with-SM3 certificate.
pub fn build_certificate(
    subject: Name,
    subject_key: &[u8],
    serial: &[u8],
    validity: Validity,
    profile: &Profile,
    issuer: &IssuerOf<'_>,
) -> Result<Vec<u8>, PkiError> {
    if issuer.signer.algorithm() != KeyAlgorithm::Sm2Sm3 {
        return Err(PkiError::Signing);
    }
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(serial).map_err(der_err)?,
        signature: sm2_with_sm3(),
        issuer: issuer.name.clone(),
        validity: x509_cert::time::Validity {
            not_before: time(validity.not_before)?,
            not_after: time(validity.not_after)?,
        },
        subject,
        subject_public_key_info: spki(subject_key)?,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(profile.extensions(subject_key, &issuer.public_key)?),
    };
    let tbs_der = tbs.to_der().map_err(der_err)?;
    let signature = issuer.signer.sign(&tbs_der)?;
    Certificate {
        tbs_certificate: tbs,
        signature_algorithm: sm2_with_sm3(),
        signature: BitString::from_bytes(&signature).map_err(der_err)?,
    }
    .to_der()
    .map_err(der_err)
}

/// A revoked certificate as the CRL lists it.
pub struct RevokedEntry {
    pub serial: Vec<u8>,
    pub revoked_at: OffsetDateTime,
    pub reason: CrlReason,
}

/// Builds and signs an SM2-with-SM3 CRL (RFC 5280 §5, v2, CRL number and authority key id).
pub fn build_crl(
    issuer: &IssuerOf<'_>,
    number: i64,
    revoked: &[RevokedEntry],
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
) -> Result<Vec<u8>, PkiError> {
    let mut entries = Vec::with_capacity(revoked.len());
    for r in revoked {
        entries.push(x509_cert::crl::RevokedCert {
            serial_number: SerialNumber::new(&r.serial).map_err(der_err)?,
            revocation_date: time(r.revoked_at)?,
            crl_entry_extensions: Some(vec![extension(&r.reason, false)?]),
        });
    }
    let tbs = x509_cert::crl::TbsCertList {
        version: Version::V2,
        signature: sm2_with_sm3(),
        issuer: issuer.name.clone(),
        this_update: time(this_update)?,
        next_update: Some(time(next_update)?),
        revoked_certificates: (!entries.is_empty()).then_some(entries),
        crl_extensions: Some(vec![
            extension(
                &AuthorityKeyIdentifier {
                    key_identifier: Some(key_identifier(&issuer.public_key)?),
                    authority_cert_issuer: None,
                    authority_cert_serial_number: None,
                },
                false,
            )?,
            extension(
                &CrlNumber(der::asn1::Uint::new(&number.to_be_bytes()).map_err(der_err)?),
                false,
            )?,
        ]),
    };
    let tbs_der = tbs.to_der().map_err(der_err)?;
    let signature = issuer.signer.sign(&tbs_der)?;
    x509_cert::crl::CertificateList {
        tbs_cert_list: tbs,
        signature_algorithm: sm2_with_sm3(),
        signature: BitString::from_bytes(&signature).map_err(der_err)?,
    }
    .to_der()
    .map_err(der_err)
}

/// Whether `signature_algorithm` names SM2 with SM3 (the standard OID, or sm2sign as some
/// producers write it).
pub fn is_sm2_signature(algorithm: &str) -> bool {
    algorithm == oid::SM2_WITH_SM3.to_string() || algorithm == oid::SM2_SIGN.to_string()
}

fn record(
    request: &IssueRequest<'_>,
    serial: &[u8],
    key_id: &str,
    der: Vec<u8>,
) -> Result<CertificateRecord, PkiError> {
    let (not_before, not_after) = validity_of(&der)?;
    Ok(CertificateRecord {
        serial: hex::encode(serial),
        issuer: request.issuer_name.to_owned(),
        kind: request.kind,
        subject: request.subject.to_owned(),
        department_code: request.department.map(str::to_owned),
        key_id: key_id.to_owned(),
        der,
        not_before,
        not_after,
        revoked_at: None,
        revocation_reason: None,
        invalidity_date: None,
        ca_name: None,
        created_at: request.now.unix_timestamp(),
    })
}

impl Pki {
    /// Builds the SM2 root (self-signed, 20 years). Not stored: the caller stores it with the
    /// meta row naming it.
    pub fn build_sm2_root(
        &self,
        common_name: &str,
        now: OffsetDateTime,
    ) -> Result<Issued, PkiError> {
        let (signer, key) = self.new_key(KeyAlgorithm::Sm2Sm3, now.unix_timestamp())?;
        let serial = super::certs::random_serial()?;
        let subject = name("trustd", None, common_name)?;
        let issuer = IssuerOf {
            name: subject.clone(),
            public_key: signer.public_key().to_vec(),
            signer: signer.as_ref(),
        };
        let validity = Validity {
            not_before: now,
            not_after: now + time::Duration::days(365 * 20),
        };
        let der = build_certificate(
            subject,
            signer.public_key(),
            &serial,
            validity,
            &Profile::ca(None, None),
            &issuer,
        )?;
        let request = IssueRequest {
            issuer_name: ROOT_SM2,
            kind: CertKind::Sm2RootCa,
            subject: common_name,
            department: None,
            days: 365 * 20,
            now,
        };
        Ok(Issued {
            certificate: record(&request, &serial, &key.id, der)?,
            key,
        })
    }

    /// The SM2 root certificate.
    pub async fn sm2_root(&self) -> Result<CertificateRecord, PkiError> {
        let serial = self
            .store
            .meta(META_SM2_ROOT_SERIAL)
            .await?
            .ok_or(PkiError::NoRoot)?;
        let serial = String::from_utf8(serial).map_err(|_| PkiError::BadCertificate)?;
        self.store
            .certificate(&serial)
            .await?
            .ok_or(PkiError::NoRoot)
    }

    /// A department's current SM2 CA: the newest that is not revoked (`CaRevoked` when none).
    pub async fn department_sm2_ca(&self, code: &str) -> Result<CertificateRecord, PkiError> {
        let cas = self
            .store
            .certificates_of_kind(CertKind::Sm2DepartmentCa, Some(code))
            .await?;
        super::current_ca(cas).ok_or(PkiError::CaRevoked)
    }

    /// New key, random serial, validity within the issuer's, the issuer's SM2 signature.
    async fn issue_sm2_under(
        &self,
        issuer: &CertificateRecord,
        request: IssueRequest<'_>,
        subject: Name,
        profile: Profile,
    ) -> Result<Issued, PkiError> {
        let now = request.now;
        let issuer_signer = self.signer(&issuer.key_id).await?;
        let (signer, key) = self.new_key(KeyAlgorithm::Sm2Sm3, now.unix_timestamp())?;
        let serial = super::certs::random_serial()?;
        let issuer_end = OffsetDateTime::from_unix_timestamp(issuer.not_after)
            .map_err(|_| PkiError::BadCertificate)?;
        let validity = Validity {
            not_before: now,
            not_after: (now + time::Duration::days(request.days)).min(issuer_end),
        };
        let issuer_of = IssuerOf::certificate(&issuer.der, issuer_signer.as_ref())?;
        let der = build_certificate(
            subject,
            signer.public_key(),
            &serial,
            validity,
            &profile,
            &issuer_of,
        )?;
        Ok(Issued {
            certificate: record(&request, &serial, &key.id, der)?,
            key,
        })
    }

    /// Issues a department's SM2 intermediate CA under the SM2 root (10 years, pathLen 0).
    pub async fn issue_sm2_department_ca(
        &self,
        code: &str,
        department_name: &str,
        generation: u32,
        now: OffsetDateTime,
    ) -> Result<Issued, PkiError> {
        let root = self.sm2_root().await?;
        let common_name = format!("{department_name} SM2 CA");
        let request = IssueRequest {
            issuer_name: ROOT_SM2,
            kind: CertKind::Sm2DepartmentCa,
            subject: &common_name,
            department: Some(code),
            days: 365 * 10,
            now,
        };
        let urls = RevocationUrls::for_ca(&self.public_url, ROOT_SM2);
        let subject = name(department_name, Some(code), &common_name)?;
        let mut issued = self
            .issue_sm2_under(&root, request, subject, Profile::ca(Some(0), Some(urls)))
            .await?;
        if generation > 1 {
            let first = department_ca_name(code);
            issued.certificate.ca_name = Some(super::ca_generation_name(&first, generation));
        }
        Ok(issued)
    }

    /// Issues an SM2 signing certificate (a seal's) under the department's SM2 CA.
    pub async fn issue_sm2_leaf(
        &self,
        code: &str,
        kind: CertKind,
        common_name: &str,
        valid_days: i64,
        now: OffsetDateTime,
    ) -> Result<Issued, PkiError> {
        let ca = self.department_sm2_ca(code).await?;
        let department = self.store.department(code).await?.ok_or(PkiError::NoRoot)?;
        let ca_name = super::ca_name(&ca).ok_or(PkiError::BadCertificate)?;
        let request = IssueRequest {
            issuer_name: &ca_name,
            kind,
            subject: common_name,
            department: Some(code),
            days: valid_days,
            now,
        };
        let urls = RevocationUrls::for_ca(&self.public_url, &ca_name);
        let subject = name(&department.name, Some(code), common_name)?;
        self.issue_sm2_under(&ca, request, subject, Profile::signer(urls, None))
            .await
    }

    /// Issues the SM2 TSA's certificate under the SM2 root (10 years).
    pub async fn issue_sm2_tsa(&self, now: OffsetDateTime) -> Result<Issued, PkiError> {
        let root = self.sm2_root().await?;
        let common_name = "trustd SM2 Time-Stamping Authority";
        let request = IssueRequest {
            issuer_name: ROOT_SM2,
            kind: CertKind::Sm2Tsa,
            subject: common_name,
            department: None,
            days: 365 * 10,
            now,
        };
        let urls = RevocationUrls::for_ca(&self.public_url, ROOT_SM2);
        let subject = name("trustd", None, common_name)?;
        let profile = Profile::signer(urls, Some(oid::KP_TIME_STAMPING));
        self.issue_sm2_under(&root, request, subject, profile).await
    }

    /// Signs an SM2 CA's CRL.
    pub(super) async fn sign_sm2_crl(
        &self,
        ca_cert: &CertificateRecord,
        number: i64,
        revoked: &[CertificateRecord],
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<Vec<u8>, PkiError> {
        let signer = self.signer(&ca_cert.key_id).await?;
        let issuer = IssuerOf::certificate(&ca_cert.der, signer.as_ref())?;
        let mut entries = Vec::with_capacity(revoked.len());
        for c in revoked {
            entries.push(RevokedEntry {
                serial: hex::decode(&c.serial).map_err(|_| PkiError::BadCertificate)?,
                revoked_at: OffsetDateTime::from_unix_timestamp(c.revoked_at.unwrap_or_default())
                    .map_err(|_| PkiError::BadCertificate)?,
                reason: super::ocsp::crl_reason(c.revocation_reason.as_deref()),
            });
        }
        build_crl(&issuer, number, &entries, this_update, next_update)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SoftwareKey;

    fn key() -> SoftwareKey {
        SoftwareKey::generate(KeyAlgorithm::Sm2Sm3).unwrap().0
    }

    #[test]
    fn a_chain_of_sm2_certificates_validates_and_a_changed_byte_does_not() {
        let now = OffsetDateTime::now_utc();
        let validity = Validity {
            not_before: now,
            not_after: now + time::Duration::days(365),
        };
        let (root_key, ca_key, leaf_key) = (key(), key(), key());
        let root_name = name("trustd", None, "Root").unwrap();
        let root_issuer = IssuerOf {
            name: root_name.clone(),
            public_key: root_key.public_key().to_vec(),
            signer: &root_key,
        };
        let root = build_certificate(
            root_name,
            root_key.public_key(),
            &[0x41; 16],
            validity,
            &Profile::ca(None, None),
            &root_issuer,
        )
        .unwrap();
        let urls = RevocationUrls::for_ca("https://t.example", "X-sm2");
        let ca = build_certificate(
            name("某部门", Some("91110000100000000X"), "某部门 SM2 CA").unwrap(),
            ca_key.public_key(),
            &[0x42; 16],
            validity,
            &Profile::ca(Some(0), Some(urls.clone())),
            &root_issuer,
        )
        .unwrap();
        let ca_issuer = IssuerOf::certificate(&ca, &ca_key).unwrap();
        let leaf = build_certificate(
            name("某部门", Some("91110000100000000X"), "合同专用章").unwrap(),
            leaf_key.public_key(),
            &[0x43; 16],
            validity,
            &Profile::signer(urls, None),
            &ca_issuer,
        )
        .unwrap();
        let at = now.unix_timestamp();
        let chain = [leaf.clone(), ca.clone()];
        assert!(super::super::chain::verify_chain(&chain, std::slice::from_ref(&root), at).is_ok());
        let mut forged = leaf.clone();
        let n = forged.len();
        forged[n - 80] ^= 1;
        let chain = [forged, ca.clone()];
        assert!(
            super::super::chain::verify_chain(&chain, std::slice::from_ref(&root), at).is_err()
        );
        // The CRL verifies under the CA's key.
        let crl = build_crl(
            &ca_issuer,
            7,
            &[RevokedEntry {
                serial: vec![0x43; 16],
                revoked_at: now,
                reason: CrlReason::KeyCompromise,
            }],
            now,
            now + time::Duration::hours(24),
        )
        .unwrap();
        let parsed = x509_cert::crl::CertificateList::from_der(&crl).unwrap();
        let tbs = parsed.tbs_cert_list.to_der().unwrap();
        assert!(crate::keys::sm2::verify(
            ca_key.public_key(),
            &tbs,
            parsed.signature.raw_bytes()
        ));
    }
}
