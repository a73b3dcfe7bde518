//! Revocation status from a document's own validation data (its `/DSS`), with ETSI EN 319
//! 102-1 semantics: an OCSP answer counts only when signed by the certificate's issuer or by a
//! responder that issuer certified with id-kp-OCSPSigning, when its CertID names that issuer
//! (name and key hashes) and that serial, and when it is fresh at the validation time; a CRL
//! only when its issuer signed it (with cRLSign if the key usage is stated) and it is fresh.

use der::{Decode, Encode};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::usage::{self, Usage};
use super::KnownStatus;
use crate::pki::chain::issued_by;

/// Where a status came from, or why there is none.
#[derive(Debug, Clone)]
pub enum Found {
    Status(super::StatusSource, KnownStatus),
    /// Validation data exists for the certificate but none of it is fresh at the time.
    Stale,
    None,
}

/// Fresh at `t`: the answer was issued after `t` (it then also speaks for `t`: revocation is
/// not undone), or `t` falls before its next update.
fn fresh(this_update: i64, next_update: Option<i64>, t: i64) -> bool {
    this_update >= t || next_update.is_some_and(|n| t <= n && this_update <= t + 300)
}

fn digest(oid: &str, data: &[u8]) -> Option<Vec<u8>> {
    let alg = match oid {
        "1.3.14.3.2.26" => &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        "2.16.840.1.101.3.4.2.1" => &ring::digest::SHA256,
        "2.16.840.1.101.3.4.2.2" => &ring::digest::SHA384,
        "2.16.840.1.101.3.4.2.3" => &ring::digest::SHA512,
        _ => return None,
    };
    Some(ring::digest::digest(alg, data).as_ref().to_vec())
}

fn unix(t: &der::asn1::GeneralizedTime) -> i64 {
    i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

/// The status of `cert` (issued by `issuer`) at `t` from the DSS's OCSP answers and CRLs.
pub fn from_dss(
    cert: &[u8],
    issuer: Option<&[u8]>,
    ocsps: &[Vec<u8>],
    crls: &[Vec<u8>],
    t: i64,
    ignored: &mut Vec<String>,
) -> Found {
    let Ok((_, c)) = X509Certificate::from_der(cert) else {
        return Found::None;
    };
    let Some(issuer) = issuer else {
        return Found::None;
    };
    let Ok((_, i)) = X509Certificate::from_der(issuer) else {
        return Found::None;
    };
    let mut stale = false;
    for der in ocsps {
        match ocsp_status(&c, issuer, &i, der, t, ignored) {
            Found::Status(src, k) => return Found::Status(src, k),
            Found::Stale => stale = true,
            Found::None => {}
        }
    }
    for der in crls {
        let Ok((_, crl)) = x509_parser::parse_x509_crl(der) else {
            continue;
        };
        if crl.issuer() != i.subject() {
            continue;
        }
        if crl.verify_signature(i.public_key()).is_err() {
            ignored.push(
                "a CRL naming the issuer was ignored: the issuer's key did not sign it".into(),
            );
            continue;
        }
        if let Ok(Some(ku)) = i.key_usage() {
            if !ku.value.crl_sign() {
                ignored.push("a CRL was ignored: its issuer's key usage lacks cRLSign".into());
                continue;
            }
        }
        let entry = crl
            .iter_revoked_certificates()
            .find(|r| r.raw_serial() == c.raw_serial());
        if entry.is_none()
            && !fresh(
                crl.last_update().timestamp(),
                crl.next_update().map(|n| n.timestamp()),
                t,
            )
        {
            ignored.push("a CRL was ignored: it is not fresh at the validation time".into());
            stale = true;
            continue;
        }
        return Found::Status(
            super::StatusSource::DssCrl,
            KnownStatus {
                revoked_at: entry.map(|e| e.revocation_date.timestamp()),
                reason: entry
                    .and_then(|e| e.reason_code())
                    .map(|(_, r)| r.to_string()),
                invalidity_date: entry
                    .and_then(|e| e.invalidity_date())
                    .map(|(_, t)| t.timestamp()),
            },
        );
    }
    if stale {
        Found::Stale
    } else {
        Found::None
    }
}

/// Whether the OCSP response is signed by the issuer's own key, or by a delegated responder
/// the issuer certified with id-kp-OCSPSigning (carried in the response). Any other signer is
/// ignored.
fn signed_by_issuer(basic: &x509_ocsp::BasicOcspResponse, issuer: &[u8], tbs: &[u8]) -> bool {
    let mut candidates: Vec<Vec<u8>> = vec![issuer.to_vec()];
    candidates.extend(
        basic
            .certs
            .iter()
            .flatten()
            .filter_map(|c| c.to_der().ok())
            .filter(|r| issued_by(r, issuer) && usage::problem(r, Usage::OcspSigning).is_none()),
    );
    candidates.iter().any(|signer| {
        super::cms::verify_signature(
            signer,
            &basic.signature_algorithm.oid,
            None,
            tbs,
            basic.signature.raw_bytes(),
        )
    })
}

/// The basic response an OCSP response carries, with the DER of what its signature covers.
fn basic_response(der: &[u8]) -> Option<(x509_ocsp::BasicOcspResponse, Vec<u8>)> {
    let bytes = x509_ocsp::OcspResponse::from_der(der)
        .ok()?
        .response_bytes?;
    let basic = x509_ocsp::BasicOcspResponse::from_der(bytes.response.as_bytes()).ok()?;
    let tbs = basic.tbs_response_data.to_der().ok()?;
    Some((basic, tbs))
}

fn ocsp_status(
    c: &X509Certificate<'_>,
    issuer: &[u8],
    i: &X509Certificate<'_>,
    der: &[u8],
    t: i64,
    ignored: &mut Vec<String>,
) -> Found {
    let Some((basic, tbs)) = basic_response(der) else {
        return Found::None;
    };
    let signed = signed_by_issuer(&basic, issuer, &tbs);
    let about = |single: &x509_ocsp::SingleResponse| {
        single.cert_id.serial_number.as_bytes() == c.raw_serial()
    };
    if !signed {
        if basic.tbs_response_data.responses.iter().any(about) {
            ignored.push(
                "an OCSP answer was ignored: its responder is neither the issuer nor a responder the issuer certified with id-kp-OCSPSigning".into(),
            );
        }
        return Found::None;
    }
    let name_der = i.subject().as_raw();
    let key_bits = i.public_key().subject_public_key.data.as_ref();
    let mut stale = false;
    for single in &basic.tbs_response_data.responses {
        let id = &single.cert_id;
        if id.serial_number.as_bytes() != c.raw_serial() {
            continue;
        }
        let alg = id.hash_algorithm.oid.to_string();
        if digest(&alg, name_der).as_deref() != Some(id.issuer_name_hash.as_bytes())
            || digest(&alg, key_bits).as_deref() != Some(id.issuer_key_hash.as_bytes())
        {
            ignored.push("an OCSP answer was ignored: its CertID names another issuer".into());
            continue;
        }
        let status = match &single.cert_status {
            x509_ocsp::CertStatus::Good(_) => {
                if !fresh(
                    unix(&single.this_update.0),
                    single.next_update.as_ref().map(|n| unix(&n.0)),
                    t,
                ) {
                    ignored.push(
                        "an OCSP answer was ignored: it is not fresh at the validation time".into(),
                    );
                    stale = true;
                    continue;
                }
                KnownStatus {
                    revoked_at: None,
                    reason: None,
                    invalidity_date: None,
                }
            }
            x509_ocsp::CertStatus::Revoked(info) => KnownStatus {
                revoked_at: Some(unix(&info.revocation_time.0)),
                reason: info.revocation_reason.map(|r| format!("{r:?}")),
                invalidity_date: None,
            },
            x509_ocsp::CertStatus::Unknown(_) => continue,
        };
        return Found::Status(super::StatusSource::DssOcsp, status);
    }
    if stale {
        Found::Stale
    } else {
        Found::None
    }
}
