//! Verification of sealed OFD documents (GB/T 38540 §9; ARCHITECTURE.md §11), for anyone, with
//! the same report shape and ETSI indications as for PDF. For each seal listed in each
//! document's `Signatures.xml`: every reference's digest; that every file of the package is
//! covered, except the signatures lists and the files of later seals (a file changed or added
//! afterwards fails, as an incremental update does for PDF); the `dataHash` over the raw
//! `Signature.xml`; the signer's SM2 signature over `TBS_Sign`; the seal maker's signature
//! over the seal information; that the signer's certificate is in the seal's certificate list
//! and the seal the one in `Seal.esl`; the chain to an anchor, revocation, and the time-stamp.

use std::collections::HashMap;

use base64::Engine;
use serde::Serialize;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::{
    anchor_verdict, build_chain, cms, revocation_verdict, revocation_views, timestamp_problem,
    usage, verdict, view, Anchor, CertView, Indication, KnownStatus, Purpose, RevocationView,
    Verdict,
};
use crate::clock::rfc3339;
use crate::ofd::xml::{self, Element};
use crate::ofd::{dir_of, resolve, ses, OfdError, Package};

/// One reference of a seal and whether its digest matches.
#[derive(Debug, Clone, Serialize)]
pub struct ReferenceCheck {
    pub file: String,
    pub ok: bool,
}

/// What the seal says about itself.
#[derive(Debug, Clone, Serialize)]
pub struct SealView {
    pub name: String,
    pub es_id: String,
    /// 4 (GB/T 38540) or 1 (GM/T 0031).
    pub version: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_end: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maker: Option<CertView>,
    pub picture_type: String,
    pub width_mm: i64,
    pub height_mm: i64,
}

/// The judgement of one seal.
#[derive(Debug, Clone, Serialize)]
pub struct OfdSignatureReport {
    /// The `ID` in `Signatures.xml` and the path of its `Signature.xml`.
    pub id: String,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<CertView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seal: Option<SealView>,
    /// `timeInfo`, as the signer claims it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp_ok: Option<bool>,
    pub references: Vec<ReferenceCheck>,
    /// Every reference digest matches.
    pub digest_ok: bool,
    /// Files of the package no reference covers (other than what later seals add).
    pub uncovered: Vec<String>,
    pub data_hash_ok: bool,
    pub signature_ok: bool,
    pub seal_maker_signature_ok: bool,
    pub signer_in_seal: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seal_valid_at_signing: Option<bool>,
    pub chain: Vec<CertView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust_anchor: Option<String>,
    pub revocation: Vec<RevocationView>,
    pub indication: Indication,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_indication: Option<&'static str>,
    pub notes: Vec<String>,
}

/// The report for an OFD: the worst seal's indication, like PDF's.
#[derive(Debug, Clone, Serialize)]
pub struct OfdReport {
    pub format: &'static str,
    pub indication: Indication,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_indication: Option<&'static str>,
    pub detail: String,
    pub signatures: Vec<OfdSignatureReport>,
}

/// File digests by (check method, path).
type Digests = HashMap<(String, String), Option<Vec<u8>>>;

/// Most seals judged in one document: a bound on the work a small hostile upload can ask for.
pub const MAX_SEALS: usize = 64;

/// A seal as `Signatures.xml` lists it, with what its `Signature.xml` names.
#[derive(Debug, Clone)]
struct Listed {
    id: String,
    signature_path: String,
    /// The files of this seal: `Signature.xml`, `SignedValue.dat`, `Seal.esl` and anything
    /// else in its own directory.
    own_dir: String,
}

/// Everything read from the package before judging.
#[derive(Debug, Default)]
pub struct OfdAnalysis {
    package: Package,
    seals: Vec<Listed>,
    lists: Vec<String>,
    /// Each file's digest, computed once however many references name it.
    digests: std::sync::Mutex<Digests>,
}

impl OfdAnalysis {
    /// The digest of a file of the package under a `CheckMethod`, computed once.
    fn digest(&self, method: &str, path: &str) -> Option<Vec<u8>> {
        let key = (method.to_owned(), path.to_owned());
        if let Some(d) = self.digests.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return d;
        }
        let d = self
            .package
            .get(path)
            .and_then(|data| digest_of(method, data));
        if let Ok(mut m) = self.digests.lock() {
            m.insert(key, d.clone());
        }
        d
    }
}

fn parse_xml(package: &Package, path: &str) -> Result<Element, String> {
    let bytes = package
        .get(path)
        .ok_or_else(|| format!("{path} is missing"))?;
    xml::parse(bytes).map_err(|e| format!("{path}: {e}"))
}

/// Reads the package and the seals its documents list. A package that is not one is refused.
pub fn analyse(bytes: &[u8], limits: &crate::ofd::OfdLimits) -> Result<OfdAnalysis, OfdError> {
    let package = Package::read(bytes, limits)?;
    let mut seals = Vec::new();
    let mut lists = Vec::new();
    let docs = package.documents()?;
    for doc in &docs {
        let Some(list_path) = doc.signatures.clone() else {
            continue;
        };
        // The signatures list is the one file no seal covers: it must not be a document.
        if docs.iter().any(|d| d.doc_root == list_path) || list_path == "OFD.xml" {
            return Err(OfdError::Malformed(format!(
                "the signatures list {list_path} is a document file"
            )));
        }
        lists.push(list_path.clone());
        let Some(list_bytes) = package.get(&list_path) else {
            continue;
        };
        let list =
            xml::parse(list_bytes).map_err(|e| OfdError::Malformed(format!("{list_path}: {e}")))?;
        for s in list.children_named("Signature") {
            let base = s.attribute("BaseLoc").unwrap_or_default();
            let path = resolve(dir_of(&list_path), base).ok_or_else(|| {
                OfdError::Malformed(format!("{list_path}: a Signature has no usable BaseLoc"))
            })?;
            if seals.iter().any(|l: &Listed| l.signature_path == path) {
                return Err(OfdError::Malformed(format!(
                    "{list_path} lists {path} twice"
                )));
            }
            if seals.len() >= MAX_SEALS {
                return Err(OfdError::Malformed(format!(
                    "more than {MAX_SEALS} seals: not judged"
                )));
            }
            seals.push(Listed {
                id: s.attribute("ID").unwrap_or_default().to_owned(),
                own_dir: dir_of(&path).to_owned(),
                signature_path: path,
            });
        }
    }
    Ok(OfdAnalysis {
        package,
        seals,
        lists,
        digests: Default::default(),
    })
}

impl OfdAnalysis {
    /// Every certificate the seals carry (signers, makers, time-stamp authorities), for the
    /// caller to look up in its database.
    pub fn certificates(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for s in &self.seals {
            if let Some(Ok(sig)) = self.signed_value(s).map(|(_, b)| ses::read_signature(&b)) {
                out.push(sig.cert.clone());
                out.push(sig.seal.maker_cert.clone());
                if let Some(token) = &sig.time_stamp {
                    if let Some(t) = cms::check_token(token, &|d| d.of(&sig.signature)) {
                        out.extend(t.certs);
                    }
                }
            }
        }
        out
    }

    /// The parsed `Signature.xml` and the bytes of its `SignedValue.dat`.
    fn signed_value(&self, s: &Listed) -> Option<(Element, Vec<u8>)> {
        let doc = parse_xml(&self.package, &s.signature_path).ok()?;
        let path = resolve(dir_of(&s.signature_path), &doc.child("SignedValue")?.text)?;
        Some((doc, self.package.get(&path)?.to_vec()))
    }
}

/// Whether a `CheckMethod` names SM3 (by name or OID), SHA-256, or something unsupported.
fn digest_of(method: &str, data: &[u8]) -> Option<Vec<u8>> {
    match method.trim() {
        "" | "SM3" | "sm3" | "1.2.156.10197.1.401" => Some(crate::keys::sm2::sm3(data).to_vec()),
        "SHA256" | "SHA-256" | "2.16.840.1.101.3.4.2.1" => Some(
            ring::digest::digest(&ring::digest::SHA256, data)
                .as_ref()
                .to_vec(),
        ),
        _ => None,
    }
}

/// What the caller knows: the anchors, extra certificates for chains, its own statuses.
pub struct Context<'a> {
    pub anchors: &'a [Anchor],
    pub pool: &'a [Vec<u8>],
    pub known: &'a HashMap<String, KnownStatus>,
    pub now: i64,
}

/// The report for an analysed OFD.
pub fn report(analysis: &OfdAnalysis, ctx: &Context<'_>) -> OfdReport {
    let signatures: Vec<OfdSignatureReport> = analysis
        .seals
        .iter()
        .enumerate()
        .map(|(i, s)| judge(analysis, i, s, ctx))
        .collect();
    match signatures
        .iter()
        .map(|s| (s.indication, s.sub_indication))
        .max_by_key(|s| s.0)
    {
        None => OfdReport {
            format: "ofd",
            indication: Indication::Indeterminate,
            sub_indication: Some("NO_SIGNATURE_FOUND"),
            detail: "the document has no seals".into(),
            signatures,
        },
        Some((indication, sub_indication)) => OfdReport {
            format: "ofd",
            indication,
            sub_indication,
            detail: format!(
                "{} seal(s); the document's indication is the worst of them",
                signatures.len()
            ),
            signatures,
        },
    }
}

fn empty_report(s: &Listed) -> OfdSignatureReport {
    OfdSignatureReport {
        id: s.id.clone(),
        path: s.signature_path.clone(),
        signer: None,
        seal: None,
        signing_time: None,
        timestamp_time: None,
        timestamp_ok: None,
        references: Vec::new(),
        digest_ok: false,
        uncovered: Vec::new(),
        data_hash_ok: false,
        signature_ok: false,
        seal_maker_signature_ok: false,
        signer_in_seal: false,
        seal_valid_at_signing: None,
        chain: Vec::new(),
        trust_anchor: None,
        revocation: Vec::new(),
        indication: Indication::TotalFailed,
        sub_indication: Some("FORMAT_FAILURE"),
        notes: Vec::new(),
    }
}

/// The references of a `Signature.xml`, checked against the package.
fn check_references(
    analysis: &OfdAnalysis,
    doc: &Element,
    base: &str,
    r: &mut OfdSignatureReport,
) -> Vec<String> {
    let package = &analysis.package;
    let Some(refs) = doc.child("SignedInfo").and_then(|i| i.child("References")) else {
        r.notes.push("Signature.xml has no References".into());
        return Vec::new();
    };
    let method = refs.attribute("CheckMethod").unwrap_or_default();
    let mut covered = Vec::new();
    // A seal names each file once: more references than files is not a seal.
    if refs.children_named("Reference").count() > package.entries.len() {
        r.notes
            .push("the seal has more references than the package has files".into());
        r.references.push(ReferenceCheck {
            file: String::new(),
            ok: false,
        });
        return covered;
    }
    for reference in refs.children_named("Reference") {
        let written = reference.attribute("FileRef").unwrap_or_default();
        let Some(path) = resolve(base, written) else {
            r.notes.push(format!(
                "a reference names no file of the package: {written:?}"
            ));
            r.references.push(ReferenceCheck {
                file: written.to_owned(),
                ok: false,
            });
            continue;
        };
        let expected = reference.child("CheckValue").and_then(|v| {
            base64::engine::general_purpose::STANDARD
                .decode(v.text.trim())
                .ok()
        });
        let ok = if covered.contains(&path) {
            r.notes.push(format!("{path} is referenced twice"));
            false
        } else if digest_of(method, &[]).is_none() {
            r.notes.push(format!(
                "the reference check method {method:?} is not supported"
            ));
            false
        } else if package.get(&path).is_none() {
            r.notes.push(format!("{path} is referenced but missing"));
            false
        } else {
            analysis.digest(method, &path) == expected
        };
        if !ok {
            r.notes.push(format!(
                "{path}: its digest does not match (the file was changed after sealing)"
            ));
        }
        r.references.push(ReferenceCheck {
            file: path.clone(),
            ok,
        });
        covered.push(path);
    }
    covered
}

/// Files no reference of seal `index` covers, other than the signatures lists, the seal's own
/// `Signature.xml` and `SignedValue.dat`, and the files of the seals after it.
fn uncovered(
    analysis: &OfdAnalysis,
    index: usize,
    covered: &[String],
    own: &[String],
) -> Vec<String> {
    // A later seal's directory excuses what is in it, but only a directory of its own: one
    // that holds none of the files this seal covers (a "later seal" listed with its
    // Signature.xml among the pages must not excuse files added beside the pages).
    let later: Vec<String> = analysis.seals[index + 1..]
        .iter()
        .map(|s| format!("{}/", s.own_dir))
        .filter(|dir| dir != "/" && !covered.iter().any(|c| c.starts_with(dir.as_str())))
        .collect();
    analysis
        .package
        .entries
        .iter()
        .map(|e| &e.name)
        .filter(|n| {
            !covered.contains(n)
                && !own.contains(n)
                && !analysis.lists.contains(n)
                && !later.iter().any(|dir| n.starts_with(dir.as_str()))
        })
        .cloned()
        .collect()
}

fn judge(
    analysis: &OfdAnalysis,
    index: usize,
    s: &Listed,
    ctx: &Context<'_>,
) -> OfdSignatureReport {
    let mut r = empty_report(s);
    let Some((doc, value)) = analysis.signed_value(s) else {
        r.notes
            .push("the seal's Signature.xml or SignedValue.dat is missing or unreadable".into());
        return r;
    };
    let base = dir_of(&s.signature_path);
    let covered = check_references(analysis, &doc, base, &mut r);
    r.digest_ok = !r.references.is_empty() && r.references.iter().all(|x| x.ok);
    let value_path = resolve(
        base,
        doc.child("SignedValue").map_or("", |v| v.text.as_str()),
    );
    let own: Vec<String> = [Some(s.signature_path.clone()), value_path]
        .into_iter()
        .flatten()
        .collect();
    r.uncovered = uncovered(analysis, index, &covered, &own);
    for f in &r.uncovered {
        r.notes.push(format!(
            "{f} is not covered by the seal (added or changed after sealing?)"
        ));
    }
    let sig = match ses::read_signature(&value) {
        Ok(sig) => sig,
        Err(e) => {
            r.notes
                .push(format!("SignedValue.dat is not a SES_Signature: {e}"));
            return r;
        }
    };
    let outcome = judge_signature(analysis, &doc, s, &sig, ctx, &mut r);
    r.indication = outcome.0;
    r.sub_indication = outcome.1;
    r
}

/// The cryptographic and seal checks, then the chain, time and revocation.
fn judge_signature(
    analysis: &OfdAnalysis,
    doc: &Element,
    s: &Listed,
    sig: &ses::Signature,
    ctx: &Context<'_>,
    r: &mut OfdSignatureReport,
) -> Verdict {
    let signed_xml = analysis.package.get(&s.signature_path).unwrap_or_default();
    r.data_hash_ok = sig.data_hash == crate::keys::sm2::sm3(signed_xml);
    if resolve("", &sig.property_info).as_deref() != Some(s.signature_path.as_str()) {
        r.notes.push(format!(
            "propertyInfo names {:?}, not this seal's Signature.xml",
            sig.property_info
        ));
    }
    r.signer = view(&sig.cert);
    r.signing_time = sig.time.map(rfc3339);
    r.signature_ok =
        ses::is_sm2(&sig.algorithm) && verify_with(&sig.cert, &sig.tbs, &sig.signature);
    let seal = &sig.seal;
    r.seal_maker_signature_ok = ses::is_sm2(&seal.maker_algorithm)
        && seal
            .maker_signed
            .iter()
            .any(|m| verify_with(&seal.maker_cert, m, &seal.maker_signature));
    r.signer_in_seal = in_cert_list(seal, &sig.cert);
    r.seal = Some(SealView {
        name: seal.name.clone(),
        es_id: seal.es_id.clone(),
        version: seal.version,
        valid_start: seal.valid_start.map(rfc3339),
        valid_end: seal.valid_end.map(rfc3339),
        maker: view(&seal.maker_cert),
        picture_type: seal.picture_type.clone(),
        width_mm: seal.width,
        height_mm: seal.height,
    });
    let seal_file_ok = doc
        .child("SignedInfo")
        .and_then(|i| i.child("Seal"))
        .and_then(|e| e.child("BaseLoc"))
        .and_then(|b| resolve(dir_of(&s.signature_path), &b.text))
        .is_none_or(|p| analysis.package.get(&p) == Some(sig.seal_der.as_slice()));
    if let Some(v) = integrity(r, seal_file_ok) {
        return v;
    }
    trust(sig, ctx, r)
}

fn verify_with(cert: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let Ok((_, c)) = X509Certificate::from_der(cert) else {
        return false;
    };
    crate::keys::sm2::verify(&c.public_key().subject_public_key.data, message, signature)
}

/// certListType 1 holds certificates; 2 their digests (SM3, SHA-256 or SHA-1).
fn in_cert_list(seal: &ses::Seal, cert: &[u8]) -> bool {
    seal.cert_list.iter().any(|c| {
        c.as_slice() == cert
            || (seal.cert_list_type == 2
                && (c.as_slice() == crate::keys::sm2::sm3(cert)
                    || c.as_slice() == ring::digest::digest(&ring::digest::SHA256, cert).as_ref()
                    || c.as_slice()
                        == ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, cert)
                            .as_ref()))
    })
}

/// The verdict of the integrity checks, if one fails.
fn integrity(r: &mut OfdSignatureReport, seal_file_ok: bool) -> Option<Verdict> {
    let failures = [
        (r.digest_ok, "a reference digest does not match", "HASH_FAILURE"),
        (r.uncovered.is_empty(), "files were added or changed after sealing", "HASH_FAILURE"),
        (r.data_hash_ok, "dataHash is not the SM3 of Signature.xml", "HASH_FAILURE"),
        (r.signature_ok, "the SM2 signature over TBS_Sign does not verify", "SIG_CRYPTO_FAILURE"),
        (
            r.seal_maker_signature_ok,
            "the seal maker's signature over the seal does not verify (a forged or altered seal)",
            "SIG_CRYPTO_FAILURE",
        ),
        (
            r.signer_in_seal,
            "the signer's certificate is not in the seal's certificate list: whoever signed was not entitled to use this seal",
            "SIG_CONSTRAINTS_FAILURE",
        ),
        (
            seal_file_ok,
            "Seal.esl is not the seal inside the signature",
            "SIG_CONSTRAINTS_FAILURE",
        ),
    ];
    failures.iter().find(|(ok, _, _)| !ok).map(|(_, why, sub)| {
        r.notes.push((*why).to_owned());
        verdict(Indication::TotalFailed, sub)
    })
}

/// The time-stamp: its check, and the proof of existence it gives when it is acceptable.
struct TimeStamp {
    poe: Option<i64>,
    problem: Option<String>,
}

fn time_stamp(sig: &ses::Signature, ctx: &Context<'_>, r: &mut OfdSignatureReport) -> TimeStamp {
    let empty = super::pdf::Analysis::default();
    let token = sig
        .time_stamp
        .as_ref()
        .and_then(|t| cms::check_token(t, &|d| d.of(&sig.signature)));
    if sig.time_stamp.is_some() && token.is_none() {
        r.notes.push("the time-stamp cannot be read".into());
    }
    let problem = token.as_ref().and_then(|t| {
        let mut pool = ctx.pool.to_vec();
        pool.extend(t.certs.iter().cloned());
        timestamp_problem(t, ctx.anchors, &pool, &empty, ctx.known)
    });
    if let Some(t) = &token {
        r.timestamp_time = Some(rfc3339(t.time));
        r.timestamp_ok = Some(problem.is_none());
    }
    if let Some(p) = &problem {
        r.notes
            .push(format!("the time-stamp is not acceptable: {p}"));
    }
    TimeStamp {
        poe: token.filter(|_| problem.is_none()).map(|t| t.time),
        problem,
    }
}

/// The seal's own validity: at the trusted time-stamp, else now (the signer's own claimed time
/// proves nothing: a seal that has expired cannot be used by backdating `timeInfo`); the
/// claimed time must fall inside it too.
fn seal_validity(sig: &ses::Signature, at: i64, r: &mut OfdSignatureReport) -> Option<bool> {
    let inside = |t: i64| match (sig.seal.valid_start, sig.seal.valid_end) {
        (Some(a), Some(b)) => Some(a <= t && t <= b),
        _ => None,
    };
    let valid = match (inside(at), sig.time.and_then(inside)) {
        (Some(a), Some(b)) => Some(a && b),
        (a, b) => a.or(b),
    };
    r.seal_valid_at_signing = valid;
    if valid == Some(false) {
        r.notes.push(format!(
            "the seal was used at {} outside its validity ({} to {})",
            rfc3339(at),
            sig.seal.valid_start.map(rfc3339).unwrap_or_default(),
            sig.seal.valid_end.map(rfc3339).unwrap_or_default()
        ));
    }
    valid
}

/// The seal maker must be a CA (of the signer's chain, or one of its own) that chains to an
/// anchor when it made the seal: a seal made by anyone is no seal.
fn maker_verdict(
    sig: &ses::Signature,
    chain: &[Vec<u8>],
    maker_chain: &[Vec<u8>],
    ctx: &Context<'_>,
    r: &mut OfdSignatureReport,
) -> Option<Verdict> {
    if !chain[1..].contains(&sig.seal.maker_cert) && !is_ca(&sig.seal.maker_cert) {
        r.notes.push(
            "the seal maker is neither a CA of the signer's chain nor a CA: anyone with a signing key could make such a seal".into(),
        );
        return Some(verdict(
            Indication::Indeterminate,
            "CHAIN_CONSTRAINTS_FAILURE",
        ));
    }
    // Checked when it made the seal (the seal's validity starts then), or now.
    let made = sig.seal.valid_start.unwrap_or(ctx.now).min(ctx.now);
    let mut notes = Vec::new();
    let outcome = anchor_verdict(
        maker_chain,
        ctx.anchors,
        made,
        None,
        Purpose::Documents,
        &mut notes,
    );
    r.notes.extend(notes);
    match outcome {
        Ok(_) => None,
        Err(v) => {
            r.notes
                .push("the seal maker's certificate does not chain to a trusted anchor".into());
            Some(v)
        }
    }
}

/// Revocation of the signer's chain and of the maker's where it is not the signer's, at `t`.
fn revocation(
    chain: &[Vec<u8>],
    maker_chain: &[Vec<u8>],
    ctx: &Context<'_>,
    t: i64,
) -> (Vec<RevocationView>, Vec<String>, Option<super::Revoked>) {
    let empty = super::pdf::Analysis::default();
    let (mut views, mut unknown, mut revoked) =
        revocation_views(chain, ctx.anchors, &empty, ctx.known, t);
    if maker_chain.iter().all(|c| chain.contains(c)) {
        return (views, unknown, revoked);
    }
    let (v, u, rv) = revocation_views(maker_chain, ctx.anchors, &empty, ctx.known, t);
    for x in v {
        if !views.iter().any(|seen| seen.subject == x.subject) {
            views.push(x);
        }
    }
    for x in u {
        if !unknown.contains(&x) {
            unknown.push(x);
        }
    }
    if let Some(m) = rv {
        if revoked.as_ref().is_none_or(|s| m.at < s.at) {
            revoked = Some(super::Revoked {
                at: m.at,
                leaf: false,
            });
        }
    }
    (views, unknown, revoked)
}

/// The time-stamp, the signer's usage, the seal's validity, the chains of the signer and of the
/// maker, and revocation, after the integrity checks passed.
fn trust(sig: &ses::Signature, ctx: &Context<'_>, r: &mut OfdSignatureReport) -> Verdict {
    let ts = time_stamp(sig, ctx, r);
    if let Some(p) = usage::problem(&sig.cert, usage::Usage::Signer) {
        r.notes.push(p);
        return verdict(Indication::Indeterminate, "CHAIN_CONSTRAINTS_FAILURE");
    }
    let valid = seal_validity(sig, ts.poe.unwrap_or(ctx.now), r);
    let mut pool = ctx.pool.to_vec();
    pool.push(sig.seal.maker_cert.clone());
    let chain = build_chain(&sig.cert, &pool);
    r.chain = chain.iter().filter_map(|c| view(c)).collect();
    let anchor = match anchor_verdict(
        &chain,
        ctx.anchors,
        ctx.now,
        ts.poe,
        Purpose::Documents,
        &mut r.notes,
    ) {
        Ok(a) => a,
        Err(v) => return v,
    };
    r.trust_anchor = ctx.anchors.get(anchor).map(|a| a.label.clone());
    let maker_chain = build_chain(&sig.seal.maker_cert, &pool);
    if let Some(v) = maker_verdict(sig, &chain, &maker_chain, ctx, r) {
        return v;
    }
    match (valid, ts.poe) {
        (Some(false), Some(_)) => return verdict(Indication::TotalFailed, "EXPIRED"),
        (Some(false), None) => return verdict(Indication::Indeterminate, "OUT_OF_BOUNDS_NO_POE"),
        _ => {}
    }
    let required = ctx
        .anchors
        .get(anchor)
        .is_none_or(|a| a.revocation_required);
    let (views, unknown, revoked) =
        revocation(&chain, &maker_chain, ctx, ts.poe.unwrap_or(ctx.now));
    let stale = views.iter().any(|v| v.source == super::StatusSource::Stale);
    r.revocation = views;
    if let Some(v) = revocation_verdict(
        revoked.as_ref(),
        &unknown,
        stale,
        ts.poe,
        required,
        &mut r.notes,
    ) {
        return v;
    }
    if ts.problem.is_some() {
        return verdict(Indication::Indeterminate, "NO_POE");
    }
    (Indication::TotalPassed, None)
}

/// Verifies an uploaded OFD for anyone against `anchors`; the service's own certificates'
/// status comes from its database.
pub async fn verify_upload(
    ctx: &crate::context::Context,
    anchors: Vec<Anchor>,
    mut upload: crate::upload::Upload,
) -> Result<OfdReport, crate::error::ServiceError> {
    use crate::error::ServiceError;
    use crate::store::CertKind;
    let limits = ctx.ofd_limits;
    let analysis = tokio::task::spawn_blocking(move || {
        let bytes = upload
            .contents()
            .map_err(|_| OfdError::Malformed("the upload could not be read back".into()))?;
        analyse(&bytes, &limits)
    })
    .await
    .map_err(|_| ServiceError::Join)?
    .map_err(ServiceError::from)?;
    let mut pool = vec![
        ctx.pki.sm2_root().await?.der,
        ctx.tsa_sm2.get().certificate().to_vec(),
    ];
    for ca in ctx
        .store
        .certificates_of_kind(CertKind::Sm2DepartmentCa, None)
        .await?
    {
        pool.push(ca.der);
    }
    let mut certs = analysis.certificates();
    certs.extend(pool.iter().cloned());
    let known = super::known_statuses(ctx, certs).await?;
    let now = ctx.clock.now().unix_timestamp();
    // Signature checks are CPU work: off the async threads.
    tokio::task::spawn_blocking(move || {
        let context = Context {
            anchors: &anchors,
            pool: &pool,
            known: &known,
            now,
        };
        report(&analysis, &context)
    })
    .await
    .map_err(|_| ServiceError::Join)
}

/// Offline verification (`trustd verify FILE.ofd`): anchors given by the caller, no
/// revocation source.
pub fn verify_offline(bytes: &[u8], anchors: &[Anchor], now: i64) -> Result<OfdReport, String> {
    let analysis = analyse(bytes, &crate::ofd::OfdLimits::default()).map_err(|e| e.to_string())?;
    let context = Context {
        anchors,
        pool: &[],
        known: &HashMap::new(),
        now,
    };
    Ok(report(&analysis, &context))
}

/// Whether a certificate is a CA (basicConstraints cA) that may sign certificates.
fn is_ca(der: &[u8]) -> bool {
    let Ok((_, c)) = X509Certificate::from_der(der) else {
        return false;
    };
    let ca = matches!(c.basic_constraints(), Ok(Some(bc)) if bc.value.ca);
    let ku = match c.key_usage() {
        Ok(Some(ku)) => ku.value.key_cert_sign(),
        Ok(None) => true,
        Err(_) => false,
    };
    ca && ku
}
