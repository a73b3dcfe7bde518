//! Certificate path validation for relying-party checks (licence tokens, and later PDF
//! signatures): signatures up the chain, validity at the given time, CA flags and path
//! length (RFC 5280 §6.1, the parts that apply to our two- and three-level chains). Time is a
//! parameter, never read from the clock here.

use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

/// Most certificates walked in one chain: a work budget against hostile input.
const MAX_DEPTH: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("certificate {0} is not DER X.509")]
    Malformed(usize),
    #[error("certificate {0} is not signed by the next one")]
    BadSignature(usize),
    #[error("certificate {0} is outside its validity period at the time of checking (expired or not yet valid)")]
    Expired(usize),
    #[error(
        "certificate {0} is used as an issuer but is not a CA (no basicConstraints with cA true)"
    )]
    NotCa(usize),
    #[error("certificate {0} is a CA whose path length constraint is exceeded")]
    PathLength(usize),
    #[error("certificate {0} is used as an issuer but its key usage lacks keyCertSign")]
    NoKeyCertSign(usize),
    #[error("certificate {0}'s issuer name is not the subject of the next certificate")]
    NameMismatch(usize),
    #[error("certificate {0} has a critical extension {1} that is not understood")]
    UnknownCritical(usize, String),
    #[error("the chain does not end at a trusted root")]
    Untrusted,
    #[error("the chain is empty or too long")]
    Length,
}

/// The trusted root a chain ended at, by position in the `roots` slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedPath {
    pub root: usize,
}

/// Validates `chain` (leaf first, then intermediates) up to one of `roots` at unix time `at`.
pub fn verify_chain(
    chain: &[Vec<u8>],
    roots: &[Vec<u8>],
    at: i64,
) -> Result<TrustedPath, ChainError> {
    if chain.is_empty() || chain.len() > MAX_DEPTH {
        return Err(ChainError::Length);
    }
    let parsed: Vec<X509Certificate<'_>> = chain
        .iter()
        .enumerate()
        .map(|(i, der)| match X509Certificate::from_der(der) {
            Ok(([], c)) => Ok(c),
            _ => Err(ChainError::Malformed(i)),
        })
        .collect::<Result<_, _>>()?;
    let time =
        x509_parser::time::ASN1Time::from_timestamp(at).map_err(|_| ChainError::Expired(0))?;
    for (i, cert) in parsed.iter().enumerate() {
        if !cert.validity().is_valid_at(time) {
            return Err(ChainError::Expired(i));
        }
        check_critical(cert, i)?;
        if let Some(issuer) = parsed.get(i + 1) {
            if cert.issuer() != issuer.subject() {
                return Err(ChainError::NameMismatch(i));
            }
            check_issuer(issuer, i + 1, i)?;
            let (Some(child_der), Some(issuer_der)) = (chain.get(i), chain.get(i + 1)) else {
                return Err(ChainError::Length);
            };
            if !signed_by(child_der, cert, issuer_der, issuer) {
                return Err(ChainError::BadSignature(i));
            }
        }
    }
    let top = parsed.last().ok_or(ChainError::Length)?;
    let top_index = parsed.len() - 1;
    for (r, root_der) in roots.iter().enumerate() {
        let Ok((_, root)) = X509Certificate::from_der(root_der) else {
            continue;
        };
        // The top of the chain is the root itself, or is issued by it.
        if root_der == &chain[top_index] {
            return Ok(TrustedPath { root: r });
        }
        if top.issuer() == root.subject()
            && root.validity().is_valid_at(time)
            && signed_by(&chain[top_index], top, root_der, &root)
        {
            // The anchor's own constraints: a CA, keyCertSign, and its path length over the
            // intermediates of the chain.
            check_issuer(&root, parsed.len(), top_index)?;
            return Ok(TrustedPath { root: r });
        }
    }
    Err(ChainError::Untrusted)
}

/// Extensions this validation understands (RFC 5280 §4.2): a critical one outside this list
/// makes the certificate unusable (§6.1.4 (o)). Name constraints and policy processing are not
/// implemented, so critical ones are refused too.
const UNDERSTOOD: &[&str] = &[
    "2.5.29.19",            // basicConstraints
    "2.5.29.15",            // keyUsage
    "2.5.29.37",            // extKeyUsage
    "2.5.29.17",            // subjectAltName
    "2.5.29.14",            // subjectKeyIdentifier
    "2.5.29.35",            // authorityKeyIdentifier
    "2.5.29.32",            // certificatePolicies (no policy is required of the path)
    "2.5.29.31",            // cRLDistributionPoints
    "1.3.6.1.5.5.7.1.1",    // authorityInfoAccess
    "1.3.6.1.5.5.7.48.1.5", // id-pkix-ocsp-nocheck
];

fn check_critical(cert: &X509Certificate<'_>, index: usize) -> Result<(), ChainError> {
    for ext in cert.extensions() {
        let oid = ext.oid.to_id_string();
        if ext.critical && !UNDERSTOOD.contains(&oid.as_str()) {
            return Err(ChainError::UnknownCritical(index, oid));
        }
    }
    Ok(())
}

/// The issuer must be a CA whose path length allows the certificates below it.
fn check_issuer(
    issuer: &X509Certificate<'_>,
    index: usize,
    below: usize,
) -> Result<(), ChainError> {
    check_critical(issuer, index)?;
    match issuer.key_usage() {
        Ok(Some(ku)) if !ku.value.key_cert_sign() => return Err(ChainError::NoKeyCertSign(index)),
        Ok(_) => {}
        Err(_) => return Err(ChainError::Malformed(index)),
    }
    match issuer.basic_constraints() {
        Ok(Some(bc)) if bc.value.ca => {
            // pathLenConstraint counts the non-self-issued intermediates below this CA.
            if let Some(max) = bc.value.path_len_constraint {
                if u32::try_from(below).unwrap_or(u32::MAX) > max {
                    return Err(ChainError::PathLength(index));
                }
            }
            Ok(())
        }
        _ => Err(ChainError::NotCa(index)),
    }
}

/// Whether `child` carries a valid signature of `issuer`'s key (both DER certificates).
pub fn issued_by(child: &[u8], issuer: &[u8]) -> bool {
    let (Ok((_, c)), Ok((_, i))) = (
        X509Certificate::from_der(child),
        X509Certificate::from_der(issuer),
    ) else {
        return false;
    };
    signed_by(child, &c, issuer, &i)
}

/// Most (child, issuer) answers remembered per thread.
const MEMO_ENTRIES: usize = 4096;

thread_local! {
    /// Signature checks already made on this thread, by the SHA-256 of both certificates: a
    /// verification walks the same few chains many times (each signature, its time-stamp, the
    /// revocation data), and the answer for two given certificates never changes.
    static SIGNED_BY: std::cell::RefCell<std::collections::HashMap<[u8; 64], bool>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

fn signed_by(
    child_der: &[u8],
    child: &X509Certificate<'_>,
    issuer_der: &[u8],
    issuer: &X509Certificate<'_>,
) -> bool {
    let mut key = [0u8; 64];
    let (a, b) = key.split_at_mut(32);
    a.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, child_der).as_ref());
    b.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, issuer_der).as_ref());
    if let Some(known) = SIGNED_BY.with(|m| m.borrow().get(&key).copied()) {
        return known;
    }
    let ok = if super::sm2::is_sm2_signature(&child.signature_algorithm.algorithm.to_id_string()) {
        // x509-parser verifies with ring, which has no SM2.
        crate::keys::sm2::verify(
            &issuer.public_key().subject_public_key.data,
            child.tbs_certificate.as_ref(),
            &child.signature_value.data,
        )
    } else {
        child.verify_signature(Some(issuer.public_key())).is_ok()
    };
    SIGNED_BY.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= MEMO_ENTRIES {
            m.clear();
        }
        m.insert(key, ok);
    });
    ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };

    const NOW: i64 = 1_800_000_000; // 2027-01-15

    struct Made {
        params: CertificateParams,
        key: KeyPair,
        der: Vec<u8>,
    }

    fn params(cn: &str, ca: Option<BasicConstraints>) -> CertificateParams {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.not_before = time::OffsetDateTime::from_unix_timestamp(NOW - 86_400 * 365).unwrap();
        p.not_after = time::OffsetDateTime::from_unix_timestamp(NOW + 86_400 * 365).unwrap();
        if let Some(bc) = ca {
            p.is_ca = IsCa::Ca(bc);
            p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        } else {
            p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        }
        p
    }

    fn root(bc: BasicConstraints) -> Made {
        let params = params("Test Root", Some(bc));
        let key = KeyPair::generate().unwrap();
        let der = params.self_signed(&key).unwrap().der().to_vec();
        Made { params, key, der }
    }

    fn issue(params: CertificateParams, by: &Made) -> Made {
        let key = KeyPair::generate().unwrap();
        let issuer = Issuer::from_params(&by.params, &by.key);
        let der = params.signed_by(&key, &issuer).unwrap().der().to_vec();
        Made { params, key, der }
    }

    #[test]
    fn a_good_three_level_chain_validates() {
        let r = root(BasicConstraints::Constrained(1));
        let ca = issue(
            params("Test CA", Some(BasicConstraints::Constrained(0))),
            &r,
        );
        let leaf = issue(params("Leaf", None), &ca);
        let got = verify_chain(&[leaf.der, ca.der], &[r.der], NOW);
        assert_eq!(got, Ok(TrustedPath { root: 0 }));
    }

    #[test]
    fn an_issuer_that_is_not_a_ca_is_refused() {
        let r = root(BasicConstraints::Unconstrained);
        let not_ca = issue(params("End Entity", None), &r);
        let leaf = issue(params("Leaf", None), &not_ca);
        assert_eq!(
            verify_chain(&[leaf.der, not_ca.der], std::slice::from_ref(&r.der), NOW),
            Err(ChainError::NoKeyCertSign(1))
        );
        // keyCertSign without basicConstraints: still not a CA.
        let mut p = params("Pretender", None);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let pretender = issue(p, &r);
        let leaf = issue(params("Leaf", None), &pretender);
        assert_eq!(
            verify_chain(&[leaf.der, pretender.der], &[r.der], NOW),
            Err(ChainError::NotCa(1))
        );
    }

    #[test]
    fn path_length_is_enforced_including_the_anchors() {
        // The root allows no intermediate below it.
        let r = root(BasicConstraints::Constrained(0));
        let ca = issue(params("Test CA", Some(BasicConstraints::Unconstrained)), &r);
        let leaf = issue(params("Leaf", None), &ca);
        assert_eq!(
            verify_chain(&[leaf.der, ca.der], std::slice::from_ref(&r.der), NOW),
            Err(ChainError::PathLength(2))
        );
        // An intermediate with pathLen 0 over another intermediate.
        let r = root(BasicConstraints::Unconstrained);
        let upper = issue(
            params("Upper CA", Some(BasicConstraints::Constrained(0))),
            &r,
        );
        let lower = issue(
            params("Lower CA", Some(BasicConstraints::Unconstrained)),
            &upper,
        );
        let leaf = issue(params("Leaf", None), &lower);
        assert_eq!(
            verify_chain(&[leaf.der, lower.der, upper.der], &[r.der], NOW),
            Err(ChainError::PathLength(2))
        );
    }

    #[test]
    fn an_expired_intermediate_is_refused() {
        let r = root(BasicConstraints::Unconstrained);
        let mut p = params("Old CA", Some(BasicConstraints::Unconstrained));
        p.not_after = time::OffsetDateTime::from_unix_timestamp(NOW - 86_400).unwrap();
        let ca = issue(p, &r);
        let leaf = issue(params("Leaf", None), &ca);
        assert_eq!(
            verify_chain(
                &[leaf.der.clone(), ca.der.clone()],
                std::slice::from_ref(&r.der),
                NOW
            ),
            Err(ChainError::Expired(1))
        );
        // Valid at an earlier time.
        assert!(verify_chain(&[leaf.der, ca.der], &[r.der], NOW - 86_400 * 2).is_ok());
    }

    #[test]
    fn names_must_chain() {
        let r = root(BasicConstraints::Unconstrained);
        let ca = issue(params("Test CA", Some(BasicConstraints::Unconstrained)), &r);
        // A leaf signed by the CA's key but naming another issuer.
        let other = Made {
            params: params("Someone Else", Some(BasicConstraints::Unconstrained)),
            key: KeyPair::from_pem(&ca.key.serialize_pem()).unwrap(),
            der: Vec::new(),
        };
        let leaf = issue(params("Leaf", None), &other);
        assert_eq!(
            verify_chain(&[leaf.der, ca.der], &[r.der], NOW),
            Err(ChainError::NameMismatch(0))
        );
    }

    #[test]
    fn unknown_critical_extensions_are_refused() {
        let r = root(BasicConstraints::Unconstrained);
        let mut p = params("Leaf", None);
        let mut ext =
            rcgen::CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 99999, 1], vec![5, 0]);
        ext.set_criticality(true);
        p.custom_extensions = vec![ext];
        let leaf = issue(p, &r);
        assert_eq!(
            verify_chain(&[leaf.der], &[r.der], NOW),
            Err(ChainError::UnknownCritical(0, "1.3.6.1.4.1.99999.1".into()))
        );
    }

    #[test]
    fn a_chain_to_another_root_is_untrusted() {
        let r = root(BasicConstraints::Unconstrained);
        let stranger = root(BasicConstraints::Unconstrained);
        let leaf = issue(params("Leaf", None), &r);
        assert_eq!(
            verify_chain(&[leaf.der], &[stranger.der], NOW),
            Err(ChainError::Untrusted)
        );
    }
}
