//! Verification of signed PDFs for anyone (ARCHITECTURE.md §6), ours or another system's: each
//! signature's bytes, cryptography, certificate chain to a trust anchor, revocation at signing
//! time and now, and what changed after it, summed up in ETSI TS 119 102-1 terms
//! (`TOTAL-PASSED`, `TOTAL-FAILED`, `INDETERMINATE` with a sub-indication).
//!
//! Revocation comes from the service's database for certificates its CAs issued, and from the
//! document's own `/DSS` (CRLs and OCSP responses, checked against the issuer) for the rest;
//! nothing is fetched from the network. The offline command (`trustd verify`) uses the DSS only.

pub mod changes;
pub mod cms;
pub mod ofd;
pub mod pdf;
pub mod revocation;
pub mod usage;

use std::collections::HashMap;

use serde::Serialize;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::clock::rfc3339;
use crate::pki::chain::{issued_by, verify_chain, ChainError};
use crate::store::CertKind;

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

/// What a trust anchor is trusted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Purpose {
    /// Signatures and seals on documents.
    Documents,
    /// Time-stamps (signature and document time-stamps).
    Timestamps,
    /// Licence tokens.
    Licences,
}

impl Purpose {
    pub const ALL: [Purpose; 3] = [Purpose::Documents, Purpose::Timestamps, Purpose::Licences];
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Documents => "documents",
            Purpose::Timestamps => "timestamps",
            Purpose::Licences => "licences",
        }
    }
    pub fn parse(s: &str) -> Option<Purpose> {
        Purpose::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// A trusted root, what to call it, what it is trusted for, and whether the certificates
/// under it need revocation status for a signature to pass.
#[derive(Debug, Clone)]
pub struct Anchor {
    pub label: String,
    pub der: Vec<u8>,
    pub purposes: Vec<Purpose>,
    /// When false, a certificate under this anchor with no obtainable status is accepted (a
    /// closed PKI that publishes no CRL or OCSP); a status that says revoked still counts.
    pub revocation_required: bool,
}

impl Anchor {
    /// An anchor for every purpose that requires revocation status.
    pub fn new(label: impl Into<String>, der: Vec<u8>) -> Anchor {
        Anchor {
            label: label.into(),
            der,
            purposes: Purpose::ALL.to_vec(),
            revocation_required: true,
        }
    }
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

/// A certificate's revocation status at some time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CertStatus {
    Good,
    Revoked,
    Unknown,
}

/// Where a revocation status came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StatusSource {
    /// The service's own database (its own certificates).
    Database,
    /// An OCSP response in the document's DSS.
    DssOcsp,
    /// A CRL in the document's DSS.
    DssCrl,
    /// Validation data exists, but none of it is fresh at the time.
    Stale,
    None,
}

#[derive(Debug, Clone, Serialize)]
pub struct RevocationView {
    /// The certificate it is about.
    pub subject: String,
    pub at_signing_time: CertStatus,
    pub now: CertStatus,
    pub source: StatusSource,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Validation data about this certificate that was not used, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SignatureReport {
    pub field: String,
    pub kind: pdf::SignatureKind,
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
    /// What about the file itself readers may disagree on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_indication: Option<&'static str>,
    pub detail: String,
    pub signatures: Vec<SignatureReport>,
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

/// The anchor a chain ends at, validated at `at`, among the anchors trusted for `purpose`
/// (others are replaced by an empty entry so that indices still name `anchors`).
fn trusted(
    chain: &[Vec<u8>],
    anchors: &[Anchor],
    at: i64,
    purpose: Purpose,
) -> Result<usize, ChainError> {
    let roots: Vec<Vec<u8>> = anchors
        .iter()
        .map(|a| {
            if a.purposes.contains(&purpose) {
                a.der.clone()
            } else {
                Vec::new()
            }
        })
        .collect();
    // A chain that reaches the anchor itself ends one short of it.
    let trimmed: Vec<Vec<u8>> = chain
        .iter()
        .take_while(|c| !roots.contains(c))
        .cloned()
        .collect();
    let path = if trimmed.is_empty() { chain } else { &trimmed };
    verify_chain(path, &roots, at).map(|p| p.root)
}

/// Every certificate the signatures' chains (and their time-stamps' chains) use, once each:
/// what the caller looks up in its database before [`report`].
pub fn chain_certificates(analysis: &pdf::Analysis, pool: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for s in &analysis.signatures {
        let all = full_pool(s, analysis, pool);
        let tsa = s.check.timestamp.as_ref().and_then(|t| t.tsa.as_ref());
        for leaf in s.check.signer.iter().chain(tsa) {
            for c in build_chain(leaf, &all) {
                if !out.contains(&c) {
                    out.push(c);
                }
            }
        }
    }
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

/// Why a time-stamp proves nothing, or `None` when it is a trusted proof of existence: it
/// verifies, its imprint matches, its TSA is a TSA (critical id-kp-timeStamping), chains to an
/// anchor trusted for time-stamps at its time, and is not revoked before it.
fn timestamp_problem(
    t: &cms::TokenCheck,
    anchors: &[Anchor],
    pool: &[Vec<u8>],
    analysis: &pdf::Analysis,
    known: &HashMap<String, KnownStatus>,
) -> Option<String> {
    if let Some(p) = &t.problem {
        return Some(p.clone());
    }
    if !t.signature_ok {
        return Some("its signature does not verify".into());
    }
    if !t.imprint_ok {
        return Some("its message imprint does not match what it claims to time-stamp".into());
    }
    let Some(tsa) = &t.tsa else {
        return Some("its TSA certificate is not in the token".into());
    };
    if let Some(p) = usage::problem(tsa, usage::Usage::TimeStamping) {
        return Some(p);
    }
    let chain = build_chain(tsa, pool);
    let anchor = match trusted(&chain, anchors, t.time, Purpose::Timestamps) {
        Ok(a) => a,
        Err(e) => {
            return Some(format!(
                "its TSA does not chain to an anchor trusted for time-stamps ({e})"
            ))
        }
    };
    let required = anchors.get(anchor).is_none_or(|a| a.revocation_required);
    match revocation_views(&chain, anchors, analysis, known, t.time) {
        (_, _, Some(Revoked { at, .. })) if at <= t.time => {
            Some("its TSA certificate was revoked before the time it claims".into())
        }
        (_, unknown, _) if required && !unknown.is_empty() => Some(format!(
            "the revocation status of its TSA certificate is unknown ({})",
            unknown.join(", ")
        )),
        _ => None,
    }
}

/// A revocation found in a chain: when, and whether it is the signer's (index 0).
struct Revoked {
    at: i64,
    leaf: bool,
}

/// Revocation of every certificate of `chain` below the anchor at time `t`: the views, the
/// subjects whose status is unknown, and the earliest effective revocation.
fn revocation_views(
    chain: &[Vec<u8>],
    anchors: &[Anchor],
    analysis: &pdf::Analysis,
    known: &HashMap<String, KnownStatus>,
    t: i64,
) -> (Vec<RevocationView>, Vec<String>, Option<Revoked>) {
    let roots: Vec<&Vec<u8>> = anchors.iter().map(|a| &a.der).collect();
    let mut views = Vec::new();
    let mut unknown = Vec::new();
    let mut revoked: Option<Revoked> = None;
    for (i, cert) in chain.iter().enumerate() {
        if roots.contains(&cert) {
            continue;
        }
        let Ok((_, x)) = X509Certificate::from_der(cert) else {
            continue;
        };
        let issuer = chain.get(i + 1).map(Vec::as_slice).or_else(|| {
            anchors
                .iter()
                .find(|a| issued_by(cert, &a.der))
                .map(|a| a.der.as_slice())
        });
        let subject = x.subject().to_string();
        let serial = hex::encode(x.raw_serial());
        let (view, status) = status_of(cert, issuer, &serial, subject, analysis, known, t);
        match status {
            None => unknown.push(match view.ignored.first() {
                Some(why) => format!("{} ({why})", view.subject),
                None => view.subject.clone(),
            }),
            Some(status) => {
                if let Some(at) = status.revoked_at {
                    let effective = status.invalidity_date.map_or(at, |d| d.min(at));
                    if revoked.as_ref().is_none_or(|r| effective < r.at) {
                        revoked = Some(Revoked {
                            at: effective,
                            leaf: i == 0,
                        });
                    }
                }
            }
        }
        views.push(view);
    }
    (views, unknown, revoked)
}

/// One certificate's revocation view at `t`, and its status when one could be had: from the
/// service's database for its own certificates, else from the document's DSS.
fn status_of(
    cert: &[u8],
    issuer: Option<&[u8]>,
    serial: &str,
    subject: String,
    analysis: &pdf::Analysis,
    known: &HashMap<String, KnownStatus>,
    t: i64,
) -> (RevocationView, Option<KnownStatus>) {
    let mut ignored = Vec::new();
    let found = match known.get(serial) {
        Some(k) => revocation::Found::Status(StatusSource::Database, k.clone()),
        None => revocation::from_dss(
            cert,
            issuer,
            &analysis.dss_ocsps,
            &analysis.dss_crls,
            t,
            &mut ignored,
        ),
    };
    ignored.dedup();
    let (source, status) = match found {
        revocation::Found::Status(src, k) => (src, k),
        revocation::Found::Stale | revocation::Found::None => {
            let source = if matches!(found, revocation::Found::Stale) {
                StatusSource::Stale
            } else {
                StatusSource::None
            };
            let view = RevocationView {
                subject,
                at_signing_time: CertStatus::Unknown,
                now: CertStatus::Unknown,
                source,
                revoked_at: None,
                reason: None,
                ignored,
            };
            return (view, None);
        }
    };
    let view = RevocationView {
        subject,
        at_signing_time: match status.revoked_at {
            Some(r) if r <= t => CertStatus::Revoked,
            _ => CertStatus::Good,
        },
        now: if status.revoked_at.is_some() {
            CertStatus::Revoked
        } else {
            CertStatus::Good
        },
        source,
        revoked_at: status.revoked_at.map(rfc3339),
        reason: status.reason.clone(),
        ignored,
    };
    (view, Some(status))
}

fn chain_verdict(e: &ChainError) -> &'static str {
    match e {
        ChainError::Untrusted | ChainError::BadSignature(_) | ChainError::Length => {
            "NO_CERTIFICATE_CHAIN_FOUND"
        }
        ChainError::Expired(_) => "OUT_OF_BOUNDS_NO_POE",
        _ => "CHAIN_CONSTRAINTS_FAILURE",
    }
}

/// The indication of one signature, with the report's revocation views and notes.
/// An indication with its sub-indication.
type Verdict = (Indication, Option<&'static str>);

fn verdict(i: Indication, sub: &'static str) -> Verdict {
    (i, Some(sub))
}

/// The signature's own integrity: its format, the digest of the signed bytes, the signature
/// value, and what later revisions changed. `None` when all hold.
fn integrity_verdict(s: &pdf::Found, doc_ts: bool, notes: &mut Vec<String>) -> Option<Verdict> {
    let check = &s.check;
    if let Some(problem) = &s.format_problem {
        notes.push(problem.clone());
        return Some(verdict(Indication::TotalFailed, "FORMAT_FAILURE"));
    }
    if let Some(problem) = &check.problem {
        notes.push(problem.clone());
        if check.signer.is_none() || !check.digest_ok {
            return Some(verdict(Indication::TotalFailed, "FORMAT_FAILURE"));
        }
    }
    if !check.digest_ok {
        notes.push(if doc_ts {
            "the document time-stamp's imprint does not match the signed bytes".into()
        } else {
            "the signed bytes do not match the signature's message digest".into()
        });
        return Some(verdict(Indication::TotalFailed, "HASH_FAILURE"));
    }
    if check.signer.is_none() {
        return Some(verdict(
            Indication::Indeterminate,
            "NO_SIGNING_CERTIFICATE_FOUND",
        ));
    }
    if !check.signature_ok {
        notes.push("the signature value does not verify with the signer's key".into());
        return Some(verdict(Indication::TotalFailed, "SIG_CRYPTO_FAILURE"));
    }
    if s.modifications == changes::Modifications::Disallowed {
        notes.extend(s.modification_notes.iter().cloned());
        return Some(verdict(Indication::TotalFailed, "SIG_CONSTRAINTS_FAILURE"));
    }
    None
}

/// The anchor the chain leads to at `at`, or, when a certificate has expired since, at the
/// proof of existence `poe`.
fn anchor_verdict(
    chain: &[Vec<u8>],
    anchors: &[Anchor],
    at: i64,
    poe: Option<i64>,
    purpose: Purpose,
    notes: &mut Vec<String>,
) -> Result<usize, Verdict> {
    match trusted(chain, anchors, at, purpose) {
        Ok(a) => Ok(a),
        Err(ChainError::Expired(i)) => match poe.map(|t| trusted(chain, anchors, t, purpose)) {
            Some(Ok(a)) => {
                notes
                    .push("a certificate has expired since; it was valid at the time-stamp".into());
                Ok(a)
            }
            _ => {
                notes.push(format!(
                    "certificate {i} of the chain is outside its validity period now (expired or not yet valid), and no trusted time-stamp proves the signature was made while it was valid"
                ));
                Err(verdict(Indication::Indeterminate, "OUT_OF_BOUNDS_NO_POE"))
            }
        },
        Err(e) => {
            notes.push(format!("the certificate chain is not acceptable: {e}"));
            Err(verdict(Indication::Indeterminate, chain_verdict(&e)))
        }
    }
}

/// The revocation judgement: the earliest effective revocation in the chain against the proof
/// of existence, then the certificates without a status (an error when the anchor requires
/// one; `stale` when what there is is too old). `None` when nothing stands in the way.
fn revocation_verdict(
    revoked: Option<&Revoked>,
    unknown: &[String],
    stale: bool,
    poe: Option<i64>,
    required: bool,
    notes: &mut Vec<String>,
) -> Option<Verdict> {
    if let Some(r) = revoked {
        let who = if r.leaf {
            "the signer's certificate"
        } else {
            "a CA certificate of the chain"
        };
        match poe {
            Some(t) if t < r.at => {
                notes.push(format!(
                    "{who} was revoked after the signature's time-stamp"
                ));
            }
            Some(_) => {
                notes.push(format!(
                    "{who} was revoked before the signature's time-stamp"
                ));
                return Some(verdict(Indication::TotalFailed, "REVOKED"));
            }
            None => {
                notes.push(format!(
                    "{who} is revoked and no trusted time-stamp proves the signature was made before"
                ));
                let sub = if r.leaf {
                    "REVOKED_NO_POE"
                } else {
                    "REVOKED_CA_NO_POE"
                };
                return Some(verdict(Indication::Indeterminate, sub));
            }
        }
    }
    if unknown.is_empty() {
        return None;
    }
    if !required {
        notes.push(
            "no revocation status for some certificates; the trust anchor does not require it"
                .into(),
        );
        return None;
    }
    notes.push(format!(
        "no {}revocation status could be had for: {}",
        if stale { "fresh " } else { "" },
        unknown.join("; ")
    ));
    let sub = if stale {
        "REVOCATION_OUT_OF_BOUNDS_NO_POE"
    } else {
        "TRY_LATER"
    };
    Some(verdict(Indication::Indeterminate, sub))
}

/// What a signature's chain must be trusted for, and the role its signer must have.
fn purpose_of(doc_ts: bool) -> (Purpose, usage::Usage) {
    if doc_ts {
        (Purpose::Timestamps, usage::Usage::TimeStamping)
    } else {
        (Purpose::Documents, usage::Usage::Signer)
    }
}

/// The report of one signature before its judgement: what it is and what was checked.
fn base_report(
    s: &pdf::Found,
    ts: Option<&cms::TokenCheck>,
    timestamp_ok: Option<bool>,
    chain: &[Vec<u8>],
) -> SignatureReport {
    let check = &s.check;
    SignatureReport {
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
        timestamp_ok,
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
    }
}

fn judge(
    s: &pdf::Found,
    analysis: &pdf::Analysis,
    anchors: &[Anchor],
    pool: &[Vec<u8>],
    known: &HashMap<String, KnownStatus>,
    now: i64,
) -> SignatureReport {
    let mut notes = Vec::new();
    let doc_ts = s.kind == pdf::SignatureKind::DocumentTimestamp;
    let ts = s.check.timestamp.as_deref();
    let pool = full_pool(s, analysis, pool);
    // A signature time-stamp counts as proof of existence only when it is trustworthy.
    let ts_problem = ts
        .filter(|_| !doc_ts)
        .and_then(|t| timestamp_problem(t, anchors, &pool, analysis, known));
    let poe = ts
        .filter(|_| !doc_ts && ts_problem.is_none())
        .map(|t| t.time);
    if let Some(p) = &ts_problem {
        notes.push(format!(
            "the signature time-stamp is ignored and proves nothing: {p}"
        ));
    }
    let chain = s
        .check
        .signer
        .as_ref()
        .map(|c| build_chain(c, &pool))
        .unwrap_or_default();
    let timestamp_ok =
        ts.map(|t| t.imprint_ok && t.signature_ok && (doc_ts || ts_problem.is_none()));
    let mut report = base_report(s, ts, timestamp_ok, &chain);
    let outcome: Verdict = 'judge: {
        if let Some(v) = integrity_verdict(s, doc_ts, &mut notes) {
            break 'judge v;
        }
        let (purpose, role) = purpose_of(doc_ts);
        if let Some(p) = usage::problem(&chain[0], role) {
            notes.push(p);
            break 'judge verdict(Indication::Indeterminate, "CHAIN_CONSTRAINTS_FAILURE");
        }
        // The chain, now; if it has expired since, at the time-stamp.
        let at = if doc_ts {
            ts.map_or(now, |t| t.time)
        } else {
            now
        };
        let anchor = match anchor_verdict(&chain, anchors, at, poe, purpose, &mut notes) {
            Ok(a) => a,
            Err(v) => break 'judge v,
        };
        report.trust_anchor = anchors.get(anchor).map(|a| a.label.clone());
        let required = anchors.get(anchor).is_none_or(|a| a.revocation_required);
        // Revocation of each certificate of the chain below the anchor, at the best signature
        // time.
        let signing_time = if doc_ts { at } else { poe.unwrap_or(now) };
        let (views, unknown, revoked) =
            revocation_views(&chain, anchors, analysis, known, signing_time);
        let stale = views.iter().any(|v| v.source == StatusSource::Stale);
        report.revocation = views;
        if let Some(v) =
            revocation_verdict(revoked.as_ref(), &unknown, stale, poe, required, &mut notes)
        {
            break 'judge v;
        }
        // A signature time-stamp that is there but cannot be trusted proves nothing, and a
        // signature that presents one is not confirmed (as pyHanko and DSS judge it).
        if ts_problem.is_some() {
            break 'judge verdict(Indication::Indeterminate, "NO_POE");
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
    // Document time-stamps are time-stamps, not signatures: a document that has nothing else
    // is not signed by anybody.
    let signed = signatures
        .iter()
        .any(|s| s.kind != pdf::SignatureKind::DocumentTimestamp);
    if !signed && !signatures.is_empty() {
        return Report {
            warnings: analysis.warnings.clone(),
            indication: Indication::Indeterminate,
            sub_indication: Some("NO_SIGNATURE_FOUND"),
            detail: format!(
                "the document has no signature, only {} document time-stamp(s): a time-stamp proves when, not who",
                signatures.len()
            ),
            signatures,
        };
    }
    match worst {
        None => Report {
            warnings: analysis.warnings.clone(),
            indication: Indication::Indeterminate,
            sub_indication: Some("NO_SIGNATURE_FOUND"),
            detail: "the document has no signatures".into(),
            signatures,
        },
        Some((indication, sub_indication)) => Report {
            warnings: analysis.warnings.clone(),
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

/// Verifies an uploaded PDF for anyone against `anchors` (the installation's root and the
/// registered anchors, as the administration keeps them); the service's own certificates'
/// status comes from its database.
pub async fn verify_upload(
    ctx: &crate::context::Context,
    anchors: Vec<Anchor>,
    mut upload: crate::upload::Upload,
    ticket: crate::work::Ticket,
) -> Result<Report, crate::error::ServiceError> {
    use crate::error::ServiceError;
    let limits = ctx.pdf_limits;
    let analysis = tokio::task::spawn_blocking(move || {
        let bytes = upload.contents().map_err(|_| {
            crate::pdf::PdfError::Malformed("the upload could not be read back".into())
        })?;
        pdf::analyse(&bytes, &limits, &|| ticket.cancelled())
    })
    .await
    .map_err(|_| ServiceError::Join)?
    .map_err(ServiceError::from)?;
    let mut pool = vec![ctx.tsa.get().certificate().to_vec()];
    for root in ctx.pki.roots().await? {
        pool.extend(ctx.pki.links_to(&root).await?);
        pool.push(root.der);
    }
    for ca in ctx
        .store
        .certificates_of_kind(CertKind::DepartmentCa, None)
        .await?
    {
        pool.push(ca.der);
    }
    let known = known_statuses(ctx, chain_certificates(&analysis, &pool)).await?;
    let now = ctx.clock.now().unix_timestamp();
    Ok(report(&analysis, &anchors, &pool, &known, now))
}

/// The database's status of those of `certs` that are the service's own: by serial, and only
/// when the stored certificate is the very one (PDF and OFD verification).
pub async fn known_statuses(
    ctx: &crate::context::Context,
    certs: Vec<Vec<u8>>,
) -> Result<HashMap<String, KnownStatus>, crate::error::ServiceError> {
    let mut known = HashMap::new();
    for cert in certs {
        let Ok((_, x)) = X509Certificate::from_der(&cert) else {
            continue;
        };
        let serial = hex::encode(x.raw_serial());
        if let Some(c) = ctx.store.certificate(&serial).await? {
            if c.der == cert {
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
    Ok(known)
}

/// Offline verification (`trustd verify`): anchors given by the caller, revocation from the
/// document's DSS only.
pub fn verify_offline(
    bytes: &[u8],
    anchors: &[Anchor],
    now: i64,
    limits: &crate::pdf::PdfLimits,
) -> Result<Report, String> {
    let analysis = pdf::analyse(bytes, limits, &|| false).map_err(|e| e.to_string())?;
    Ok(report(&analysis, anchors, &[], &HashMap::new(), now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(
        revoked: Option<Revoked>,
        unknown: &[&str],
        stale: bool,
        poe: Option<i64>,
        required: bool,
    ) -> Option<Verdict> {
        let unknown: Vec<String> = unknown.iter().map(|s| (*s).to_owned()).collect();
        let mut notes = Vec::new();
        let v = revocation_verdict(revoked.as_ref(), &unknown, stale, poe, required, &mut notes);
        assert!(v.is_none() || !notes.is_empty(), "a verdict says why");
        v
    }

    #[test]
    fn revocation_is_judged_against_the_proof_of_existence() {
        let leaf = |at| Some(Revoked { at, leaf: true });
        let ca = |at| Some(Revoked { at, leaf: false });
        assert_eq!(judged(None, &[], false, None, true), None);
        // Revoked after a trusted time-stamp: still good.
        assert_eq!(judged(leaf(100), &[], false, Some(50), true), None);
        assert_eq!(
            judged(leaf(100), &[], false, Some(150), true),
            Some(verdict(Indication::TotalFailed, "REVOKED"))
        );
        assert_eq!(
            judged(leaf(100), &[], false, None, true),
            Some(verdict(Indication::Indeterminate, "REVOKED_NO_POE"))
        );
        assert_eq!(
            judged(ca(100), &[], false, None, true),
            Some(verdict(Indication::Indeterminate, "REVOKED_CA_NO_POE"))
        );
        // No status: an error only where the anchor requires one.
        assert_eq!(
            judged(None, &["CN=x"], false, None, true),
            Some(verdict(Indication::Indeterminate, "TRY_LATER"))
        );
        assert_eq!(
            judged(None, &["CN=x"], true, None, true),
            Some(verdict(
                Indication::Indeterminate,
                "REVOCATION_OUT_OF_BOUNDS_NO_POE"
            ))
        );
        assert_eq!(judged(None, &["CN=x"], false, None, false), None);
        // A revocation is not excused by the anchor not requiring status.
        assert_eq!(
            judged(leaf(100), &[], false, None, false),
            Some(verdict(Indication::Indeterminate, "REVOKED_NO_POE"))
        );
    }
}
