//! Verification of signed PDFs for anyone (DESIGN.md §6), ours or another system's: each
//! signature's bytes, cryptography, certificate chain to a trust anchor, revocation at signing
//! time and now, and what changed after it, summed up in ETSI TS 119 102-1 terms
//! (`TOTAL-PASSED`, `TOTAL-FAILED`, `INDETERMINATE` with a sub-indication).
//!
//! Revocation comes from the service's database for certificates its CAs issued, and from the
//! document's own `/DSS` (CRLs and OCSP responses, checked against the issuer) for the rest;
//! nothing is fetched from the network. The offline command (`trustd verify`) uses the DSS only.

pub mod changes;
pub mod cms;
pub mod pdf;

use std::collections::HashMap;

use serde::Serialize;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::pki::chain::{issued_by, verify_chain, ChainError};

/// ETSI TS 119 102-1 main indication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Indication {
    #[serde(rename = "TOTAL-PASSED")]
    TotalPassed,
    #[serde(rename = "INDETERMINATE")]
    Indeterminate,
    #[serde(rename = "TOTAL-FAILED")]
    TotalFailed,
}

/// A trusted root and what to call it.
#[derive(Debug, Clone)]
pub struct Anchor {
    pub label: String,
    pub der: Vec<u8>,
}

/// What the service's database says about one of its certificates.
#[derive(Debug, Clone)]
pub struct KnownStatus {
    pub revoked_at: Option<i64>,
    pub reason: Option<String>,
    pub invalidity_date: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CertView {
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub not_before: String,
    pub not_after: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RevocationView {
    /// The certificate it is about.
    pub subject: String,
    /// `good`, `revoked` or `unknown`.
    pub at_signing_time: &'static str,
    pub now: &'static str,
    /// `database`, `dss-ocsp`, `dss-crl`, or `none`.
    pub source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SignatureReport {
    pub field: String,
    pub kind: &'static str,
    pub sub_filter: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<CertView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer_organisation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer_organisation_identifier: Option<String>,
    /// `/M`, as the signer claims it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp_ok: Option<bool>,
    pub digest_ok: bool,
    pub signature_ok: bool,
    pub covers_whole_document: bool,
    /// The revision it signs (1-based) and where its bytes end.
    pub revision: usize,
    pub covered_bytes: usize,
    pub modifications: changes::Modifications,
    pub modification_notes: Vec<String>,
    pub changes: Vec<changes::Change>,
    pub chain: Vec<CertView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust_anchor: Option<String>,
    pub revocation: Vec<RevocationView>,
    pub indication: Indication,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_indication: Option<&'static str>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub indication: Indication,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_indication: Option<&'static str>,
    pub detail: String,
    pub signatures: Vec<SignatureReport>,
}

fn rfc3339(unix: i64) -> String {
    crate::admin::rfc3339(unix)
}

fn view(der: &[u8]) -> Option<CertView> {
    let (_, c) = X509Certificate::from_der(der).ok()?;
    Some(CertView {
        subject: c.subject().to_string(),
        issuer: c.issuer().to_string(),
        serial: hex::encode(c.raw_serial()),
        not_before: rfc3339(c.validity().not_before.timestamp()),
        not_after: rfc3339(c.validity().not_after.timestamp()),
    })
}

fn attribute(der: &[u8], oid: &str) -> Option<String> {
    let (_, c) = X509Certificate::from_der(der).ok()?;
    let value = c
        .subject()
        .iter_attributes()
        .find(|a| a.attr_type().to_id_string() == oid)?
        .as_str()
        .ok()?
        .to_owned();
    Some(value)
}

/// Builds the path from `leaf` up through `pool` (issuer by name and signature), leaf first,
/// stopping at a self-signed certificate or when no issuer is known.
pub fn build_chain(leaf: &[u8], pool: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut chain = vec![leaf.to_vec()];
    for _ in 0..8 {
        let current = chain.last().cloned().unwrap_or_default();
        let Ok((_, c)) = X509Certificate::from_der(&current) else {
            break;
        };
        if c.subject() == c.issuer() {
            break;
        }
        let next = pool.iter().find(|p| {
            **p != current
                && !chain.contains(p)
                && X509Certificate::from_der(p).is_ok_and(|(_, i)| i.subject() == c.issuer())
                && issued_by(&current, p)
        });
        match next {
            Some(n) => chain.push(n.clone()),
            None => break,
        }
    }
    chain
}

/// The anchor a chain ends at, validated at `at`.
fn trusted(chain: &[Vec<u8>], anchors: &[Anchor], at: i64) -> Result<usize, ChainError> {
    let roots: Vec<Vec<u8>> = anchors.iter().map(|a| a.der.clone()).collect();
    // A chain that reaches the anchor itself ends one short of it.
    let trimmed: Vec<Vec<u8>> = chain
        .iter()
        .take_while(|c| !roots.contains(c))
        .cloned()
        .collect();
    let path = if trimmed.is_empty() { chain } else { &trimmed };
    verify_chain(path, &roots, at).map(|p| p.root)
}

/// Revocation status of a certificate from the document's DSS: OCSP answers (signed by the
/// issuer or its delegated responder), then CRLs (signed by the issuer).
fn dss_status(
    cert: &[u8],
    issuer: Option<&[u8]>,
    analysis: &pdf::Analysis,
) -> Option<(&'static str, KnownStatus)> {
    use der::Decode;
    let (_, c) = X509Certificate::from_der(cert).ok()?;
    let issuer = issuer?;
    let (_, i) = X509Certificate::from_der(issuer).ok()?;
    for der in &analysis.dss_ocsps {
        let Ok(r) = x509_ocsp::OcspResponse::from_der(der) else {
            continue;
        };
        let Some(bytes) = r.response_bytes else {
            continue;
        };
        let Ok(basic) = x509_ocsp::BasicOcspResponse::from_der(bytes.response.as_bytes()) else {
            continue;
        };
        // The responder: the issuer itself, or a certificate the issuer signed.
        let responder = basic
            .certs
            .as_ref()
            .and_then(|cs| cs.first())
            .and_then(|c| der::Encode::to_der(c).ok())
            .filter(|r| issued_by(r, issuer))
            .unwrap_or_else(|| issuer.to_vec());
        let Ok(tbs) = der::Encode::to_der(&basic.tbs_response_data) else {
            continue;
        };
        if !cms::verify_signature(
            &responder,
            &basic.signature_algorithm.oid,
            None,
            &tbs,
            basic.signature.raw_bytes(),
        ) {
            continue;
        }
        for single in &basic.tbs_response_data.responses {
            if single.cert_id.serial_number.as_bytes() != c.raw_serial() {
                continue;
            }
            let status = match &single.cert_status {
                x509_ocsp::CertStatus::Good(_) => KnownStatus {
                    revoked_at: None,
                    reason: None,
                    invalidity_date: None,
                },
                x509_ocsp::CertStatus::Revoked(info) => KnownStatus {
                    revoked_at: i64::try_from(info.revocation_time.0.to_unix_duration().as_secs())
                        .ok(),
                    reason: info.revocation_reason.map(|r| format!("{r:?}")),
                    invalidity_date: None,
                },
                x509_ocsp::CertStatus::Unknown(_) => continue,
            };
            return Some(("dss-ocsp", status));
        }
    }
    for der in &analysis.dss_crls {
        let Ok((_, crl)) = x509_parser::parse_x509_crl(der) else {
            continue;
        };
        if crl.issuer() != i.subject() || crl.verify_signature(i.public_key()).is_err() {
            continue;
        }
        let entry = crl
            .iter_revoked_certificates()
            .find(|r| r.raw_serial() == c.raw_serial());
        return Some((
            "dss-crl",
            KnownStatus {
                revoked_at: entry.map(|e| e.revocation_date.timestamp()),
                reason: entry
                    .and_then(|e| e.reason_code())
                    .map(|(_, r)| r.to_string()),
                invalidity_date: entry
                    .and_then(|e| e.invalidity_date())
                    .map(|(_, t)| t.timestamp()),
            },
        ));
    }
    None
}

/// Serials (lower-case hex) of every certificate the signatures' chains use: what the caller
/// looks up in its database before [`report`].
pub fn chain_serials(analysis: &pdf::Analysis, pool: &[Vec<u8>]) -> Vec<String> {
    let mut out = Vec::new();
    for s in &analysis.signatures {
        let mut certs = Vec::new();
        if let Some(signer) = &s.check.signer {
            certs.extend(build_chain(signer, &full_pool(s, analysis, pool)));
        }
        if let Some(tsa) = s.check.timestamp.as_ref().and_then(|t| t.tsa.clone()) {
            certs.extend(build_chain(&tsa, &full_pool(s, analysis, pool)));
        }
        for c in certs {
            if let Ok((_, x)) = X509Certificate::from_der(&c) {
                out.push(hex::encode(x.raw_serial()));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn full_pool(s: &pdf::Found, analysis: &pdf::Analysis, pool: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut all = s.check.certs.clone();
    if let Some(t) = &s.check.timestamp {
        all.extend(t.certs.iter().cloned());
    }
    all.extend(analysis.dss_certs.iter().cloned());
    all.extend(pool.iter().cloned());
    all
}

/// The indication of one signature, with the report's revocation views and notes.
#[allow(clippy::too_many_arguments)]
fn judge(
    s: &pdf::Found,
    analysis: &pdf::Analysis,
    anchors: &[Anchor],
    pool: &[Vec<u8>],
    known: &HashMap<String, KnownStatus>,
    now: i64,
) -> SignatureReport {
    let mut notes = Vec::new();
    let check = &s.check;
    let ts = check.timestamp.as_deref();
    let pool = full_pool(s, analysis, pool);
    // A time-stamp counts as proof of existence when it checks out and its TSA is trusted.
    let ts_trusted = ts.filter(|t| {
        t.imprint_ok
            && t.signature_ok
            && t.tsa
                .as_ref()
                .is_some_and(|tsa| trusted(&build_chain(tsa, &pool), anchors, now).is_ok())
    });
    let poe = ts_trusted.map(|t| t.time);
    let chain = check
        .signer
        .as_ref()
        .map(|c| build_chain(c, &pool))
        .unwrap_or_default();
    let mut report = SignatureReport {
        field: s.field.clone(),
        kind: s.kind,
        sub_filter: s.sub_filter.clone(),
        signer: check.signer.as_deref().and_then(view),
        signer_organisation: check
            .signer
            .as_deref()
            .and_then(|c| attribute(c, "2.5.4.10")),
        signer_organisation_identifier: check
            .signer
            .as_deref()
            .and_then(|c| attribute(c, "2.5.4.97")),
        signing_time: s.claimed_time.clone(),
        timestamp_time: ts.map(|t| rfc3339(t.time)),
        timestamp_ok: ts.map(|t| t.imprint_ok && t.signature_ok),
        digest_ok: check.digest_ok,
        signature_ok: check.signature_ok,
        covers_whole_document: s.whole_document,
        revision: s.revision,
        covered_bytes: s.covered_to,
        modifications: s.modifications,
        modification_notes: s.modification_notes.clone(),
        changes: s.changes.clone(),
        chain: chain.iter().filter_map(|c| view(c)).collect(),
        trust_anchor: None,
        revocation: Vec::new(),
        indication: Indication::TotalPassed,
        sub_indication: None,
        notes: Vec::new(),
    };
    let verdict = |i: Indication, sub: &'static str| (i, Some(sub));
    let outcome: (Indication, Option<&'static str>) = 'judge: {
        if let Some(problem) = &s.format_problem {
            notes.push(problem.clone());
            break 'judge verdict(Indication::TotalFailed, "FORMAT_FAILURE");
        }
        if let Some(problem) = &check.problem {
            notes.push(problem.clone());
            if check.signer.is_none() && !check.digest_ok {
                break 'judge verdict(Indication::TotalFailed, "FORMAT_FAILURE");
            }
        }
        if !check.digest_ok {
            break 'judge verdict(Indication::TotalFailed, "HASH_FAILURE");
        }
        if check.signer.is_none() {
            break 'judge verdict(Indication::Indeterminate, "NO_SIGNING_CERTIFICATE_FOUND");
        }
        if !check.signature_ok {
            break 'judge verdict(Indication::TotalFailed, "SIG_CRYPTO_FAILURE");
        }
        if s.modifications == changes::Modifications::Disallowed {
            notes.extend(s.modification_notes.iter().cloned());
            break 'judge verdict(Indication::TotalFailed, "SIG_CONSTRAINTS_FAILURE");
        }
        if let Some(t) = ts {
            if !(t.imprint_ok && t.signature_ok) {
                notes.push("the signature time-stamp does not verify".into());
                break 'judge verdict(Indication::TotalFailed, "TIMESTAMP_ORDER_FAILURE");
            }
        }
        // The chain, now; if it has expired since, at the time-stamp.
        let anchor = match trusted(&chain, anchors, now) {
            Ok(a) => a,
            Err(ChainError::Expired(_)) => match poe.map(|t| trusted(&chain, anchors, t)) {
                Some(Ok(a)) => {
                    notes.push(
                        "a certificate has expired since; it was valid at the time-stamp".into(),
                    );
                    a
                }
                _ => break 'judge verdict(Indication::Indeterminate, "OUT_OF_BOUNDS_NO_POE"),
            },
            Err(_) => {
                break 'judge verdict(Indication::Indeterminate, "NO_CERTIFICATE_CHAIN_FOUND")
            }
        };
        report.trust_anchor = anchors.get(anchor).map(|a| a.label.clone());
        // Revocation of each certificate of the chain below the anchor.
        let signing_time = poe.unwrap_or(now);
        let roots: Vec<&Vec<u8>> = anchors.iter().map(|a| &a.der).collect();
        let mut worst: Option<(Indication, &'static str)> = None;
        for (i, cert) in chain.iter().enumerate() {
            if roots.contains(&cert) {
                continue;
            }
            let Ok((_, x)) = X509Certificate::from_der(cert) else {
                continue;
            };
            let serial = hex::encode(x.raw_serial());
            let issuer = chain.get(i + 1).map(Vec::as_slice).or_else(|| {
                anchors
                    .iter()
                    .find(|a| issued_by(cert, &a.der))
                    .map(|a| a.der.as_slice())
            });
            let (source, status) = match known.get(&serial) {
                Some(k) => ("database", Some(k.clone())),
                None => match dss_status(cert, issuer, analysis) {
                    Some((src, k)) => (src, Some(k)),
                    None => ("none", None),
                },
            };
            let subject = x.subject().to_string();
            let Some(status) = status else {
                report.revocation.push(RevocationView {
                    subject,
                    at_signing_time: "unknown",
                    now: "unknown",
                    source,
                    revoked_at: None,
                    reason: None,
                });
                continue;
            };
            let revoked_at = status.revoked_at;
            report.revocation.push(RevocationView {
                subject,
                at_signing_time: match revoked_at {
                    Some(t) if t <= signing_time => "revoked",
                    _ => "good",
                },
                now: if revoked_at.is_some() {
                    "revoked"
                } else {
                    "good"
                },
                source,
                revoked_at: revoked_at.map(rfc3339),
                reason: status.reason.clone(),
            });
            let Some(at) = revoked_at else { continue };
            // Compromised before the proof of existence, or revoked with none: the signature
            // cannot stand. Revoked after a trusted time-stamp: it stands, and says so.
            let effective = status.invalidity_date.map_or(at, |d| d.min(at));
            let outcome = match poe {
                Some(t) if t < effective => {
                    notes.push(format!(
                        "{} was revoked after the signature's time-stamp",
                        if i == 0 {
                            "the signer's certificate"
                        } else {
                            "a CA certificate"
                        }
                    ));
                    None
                }
                Some(_) => Some((Indication::TotalFailed, "REVOKED")),
                None if i == 0 => Some((Indication::Indeterminate, "REVOKED_NO_POE")),
                None => Some((Indication::Indeterminate, "REVOKED_CA_NO_POE")),
            };
            if let Some(o) = outcome {
                if worst.is_none_or(|w| o.0 > w.0) {
                    worst = Some(o);
                }
            }
        }
        if let Some((i, sub)) = worst {
            break 'judge (i, Some(sub));
        }
        (Indication::TotalPassed, None)
    };
    report.indication = outcome.0;
    report.sub_indication = outcome.1;
    report.notes = notes;
    report
}

/// The report for an analysed document. `pool` holds extra certificates for building chains
/// (the service's CAs); `known` the database's status of the chains' certificates by serial.
pub fn report(
    analysis: &pdf::Analysis,
    anchors: &[Anchor],
    pool: &[Vec<u8>],
    known: &HashMap<String, KnownStatus>,
    now: i64,
) -> Report {
    let signatures: Vec<SignatureReport> = analysis
        .signatures
        .iter()
        .map(|s| judge(s, analysis, anchors, pool, known, now))
        .collect();
    let worst = signatures
        .iter()
        .max_by_key(|s| s.indication)
        .map(|s| (s.indication, s.sub_indication));
    match worst {
        None => Report {
            indication: Indication::Indeterminate,
            sub_indication: Some("NO_SIGNATURE_FOUND"),
            detail: "the document has no signatures".into(),
            signatures,
        },
        Some((indication, sub_indication)) => Report {
            indication,
            sub_indication,
            detail: format!(
                "{} signature(s); the document's indication is the worst of them",
                signatures.len()
            ),
            signatures,
        },
    }
}

/// Verifies an uploaded PDF for anyone: trust anchors are this installation's root and the
/// registered ones; the service's own certificates' status comes from its database.
pub async fn verify_upload(
    ctx: &crate::context::Context,
    mut upload: crate::upload::Upload,
) -> Result<Report, crate::error::ServiceError> {
    use crate::error::ServiceError;
    let limits = ctx.pdf_limits;
    let analysis = tokio::task::spawn_blocking(move || {
        let bytes = upload.read_all().map_err(|_| {
            crate::pdf::PdfError::Malformed("the upload could not be read back".into())
        })?;
        pdf::analyse(&bytes, &limits)
    })
    .await
    .map_err(|_| ServiceError::Join)?
    .map_err(ServiceError::from)?;
    let anchors: Vec<Anchor> = crate::admin::trust_anchors::list(ctx)
        .await?
        .into_iter()
        .map(|a| Anchor {
            label: a.record.label,
            der: a.record.der,
        })
        .collect();
    let mut pool = vec![ctx.pki.root().await?.der, ctx.tsa.certificate().to_vec()];
    for ca in ctx
        .store
        .certificates_of_kind("department-ca", None)
        .await?
    {
        pool.push(ca.der);
    }
    let mut known = HashMap::new();
    let in_chains: Vec<Vec<u8>> = analysis
        .signatures
        .iter()
        .flat_map(|s| {
            let p = full_pool(s, &analysis, &pool);
            let mut certs = Vec::new();
            if let Some(signer) = &s.check.signer {
                certs.extend(build_chain(signer, &p));
            }
            if let Some(tsa) = s.check.timestamp.as_ref().and_then(|t| t.tsa.clone()) {
                certs.extend(build_chain(&tsa, &p));
            }
            certs
        })
        .collect();
    for serial in chain_serials(&analysis, &pool) {
        if let Some(c) = ctx.store.certificate(&serial).await? {
            // Ours only if it is the very certificate in the chain.
            if in_chains.contains(&c.der) {
                known.insert(
                    serial,
                    KnownStatus {
                        revoked_at: c.revoked_at,
                        reason: c.revocation_reason,
                        invalidity_date: c.invalidity_date,
                    },
                );
            }
        }
    }
    let now = ctx.clock.now().unix_timestamp();
    Ok(report(&analysis, &anchors, &pool, &known, now))
}

/// Offline verification (`trustd verify`): anchors given by the caller, revocation from the
/// document's DSS only.
pub fn verify_offline(
    bytes: &[u8],
    anchors: &[Anchor],
    now: i64,
    limits: &crate::pdf::PdfLimits,
) -> Result<Report, String> {
    let analysis = pdf::analyse(bytes, limits).map_err(|e| e.to_string())?;
    Ok(report(&analysis, anchors, &[], &HashMap::new(), now))
}
