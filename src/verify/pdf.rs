//! Reading a PDF's signatures: where they are, what each covers, whether its bytes and
//! signature check out, and what was changed in the revisions after it.

use lopdf::{Dictionary, Document, Object, ObjectId};

use super::changes::{self, Change, Modifications};
use super::cms::{self, Digest, SignerCheck};
use crate::pdf::load::load_within;
use crate::pdf::scan::Budget;
use crate::pdf::{PdfError, PdfLimits};

/// Most signatures verified in one document, and fields walked.
const MAX_FIELDS: usize = 10_000;

/// What a signature is (ISO 32000-2 §12.8): an approval signature, the certification
/// signature (the one DocMDP names), or a document time-stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureKind {
    Approval,
    Certification,
    DocumentTimestamp,
}

/// One signature as found in the file, with its checks.
#[derive(Debug, Clone)]
pub struct Found {
    pub field: String,
    /// `approval`, `certification` or `document-timestamp`.
    pub kind: SignatureKind,
    pub sub_filter: String,
    /// `/M`, as written.
    pub claimed_time: Option<String>,
    pub byte_range: Option<[usize; 4]>,
    /// Where the signed bytes end (the revision it signs).
    pub covered_to: usize,
    pub whole_document: bool,
    /// 1-based number of the revision it signs.
    pub revision: usize,
    pub check: SignerCheck,
    /// What the revisions after it changed, and whether each change is allowed.
    pub modifications: Modifications,
    pub modification_notes: Vec<String>,
    pub changes: Vec<Change>,
    pub format_problem: Option<String>,
}

/// Everything read from a document.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    pub signatures: Vec<Found>,
    /// Certificates, CRLs and OCSP responses of the document's `/DSS`.
    pub dss_certs: Vec<Vec<u8>>,
    pub dss_crls: Vec<Vec<u8>>,
    pub dss_ocsps: Vec<Vec<u8>>,
    /// What about the file itself readers may disagree on (streams whose /Length is wrong).
    pub warnings: Vec<String>,
}

fn resolve<'a>(doc: &'a Document, o: &'a Object) -> Option<&'a Object> {
    match o {
        Object::Reference(id) => doc.get_object(*id).ok(),
        o => Some(o),
    }
}

fn text(o: &Object) -> String {
    match o {
        Object::String(bytes, _) => {
            if bytes.starts_with(&[0xFE, 0xFF]) {
                let units: Vec<u16> = bytes[2..]
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect();
                String::from_utf16_lossy(&units)
            } else {
                String::from_utf8_lossy(bytes).into_owned()
            }
        }
        Object::Name(n) => String::from_utf8_lossy(n).into_owned(),
        _ => String::new(),
    }
}

/// Signature fields with a value: (qualified name, signature dictionary, its object id).
fn signature_fields(
    doc: &Document,
    max_signatures: usize,
) -> Vec<(String, Dictionary, Option<ObjectId>)> {
    let Some(catalog) = doc
        .trailer
        .get(b"Root")
        .ok()
        .and_then(|r| r.as_reference().ok())
        .and_then(|id| doc.get_dictionary(id).ok())
    else {
        return Vec::new();
    };
    let Some(form) = catalog
        .get(b"AcroForm")
        .ok()
        .and_then(|f| resolve(doc, f))
        .and_then(|f| f.as_dict().ok())
    else {
        return Vec::new();
    };
    let fields = form
        .get(b"Fields")
        .ok()
        .and_then(|f| resolve(doc, f))
        .and_then(|f| f.as_array().ok())
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    // (field, parent's qualified name, inherited FT)
    let mut stack: Vec<(Object, String, bool)> = fields
        .into_iter()
        .rev()
        .map(|f| (f, String::new(), false))
        .collect();
    while let Some((item, parent, parent_sig)) = stack.pop() {
        if seen.len() > MAX_FIELDS || out.len() > max_signatures {
            break;
        }
        let id = item.as_reference().ok();
        if let Some(id) = id {
            if !seen.insert(id) {
                continue;
            }
        }
        let Some(field) = resolve(doc, &item).and_then(|f| f.as_dict().ok()) else {
            continue;
        };
        let name = field.get(b"T").map(text).unwrap_or_default();
        let qualified = match (parent.is_empty(), name.is_empty()) {
            (true, _) => name.clone(),
            (false, true) => parent.clone(),
            (false, false) => format!("{parent}.{name}"),
        };
        let is_sig = field
            .get(b"FT")
            .and_then(Object::as_name)
            .map(|n| n == b"Sig")
            .unwrap_or(parent_sig);
        if let Ok(kids) = field.get(b"Kids").and_then(Object::as_array) {
            for kid in kids.iter().rev() {
                stack.push((kid.clone(), qualified.clone(), is_sig));
            }
        }
        if !is_sig {
            continue;
        }
        let Ok(value) = field.get(b"V") else { continue };
        let sig_id = value.as_reference().ok();
        match resolve(doc, value).and_then(|v| v.as_dict().ok()) {
            Some(sig) => out.push((qualified, sig.clone(), sig_id)),
            // A value that does not parse is a broken signature, not no signature.
            None => out.push((qualified, Dictionary::new(), sig_id)),
        }
    }
    out
}

/// The certification signature's dictionary id (`/Perms /DocMDP`), if any.
fn certification_id(doc: &Document) -> Option<ObjectId> {
    let catalog = doc
        .trailer
        .get(b"Root")
        .ok()?
        .as_reference()
        .ok()
        .and_then(|id| doc.get_dictionary(id).ok())?;
    let perms = resolve(doc, catalog.get(b"Perms").ok()?)?.as_dict().ok()?;
    perms.get(b"DocMDP").ok()?.as_reference().ok()
}

/// The streams of the `/DSS` under `key`, decoded: each referenced stream once, whatever
/// the number of references, and within the document's decompression budget.
fn dss_items(doc: &Document, key: &[u8], budget: &Budget) -> Result<Vec<Vec<u8>>, PdfError> {
    let Some(dss) = doc
        .trailer
        .get(b"Root")
        .ok()
        .and_then(|r| r.as_reference().ok())
        .and_then(|id| doc.get_dictionary(id).ok())
        .and_then(|c| c.get(b"DSS").ok())
        .and_then(|d| resolve(doc, d))
        .and_then(|d| d.as_dict().ok())
    else {
        return Ok(Vec::new());
    };
    let Some(items) = dss
        .get(key)
        .ok()
        .and_then(|a| resolve(doc, a))
        .and_then(|a| a.as_array().ok())
    else {
        return Ok(Vec::new());
    };
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for item in items.iter().take(MAX_FIELDS) {
        let Ok(id) = item.as_reference() else {
            continue;
        };
        if !seen.insert(id) {
            continue;
        }
        let Some(stream) = doc.get_object(id).ok().and_then(|s| s.as_stream().ok()) else {
            continue;
        };
        let data = if stream.dict.has(b"Filter") {
            stream
                .decompressed_content_with_limit(budget.left())
                .map_err(|_| {
                    PdfError::Malformed(
                        "a DSS stream cannot be inflated within the document's decompression limit"
                            .into(),
                    )
                })?
        } else {
            stream.content.clone()
        };
        budget.charge(data.len())?;
        out.push(data);
    }
    Ok(out)
}

/// The signature's `/ByteRange`, checked against the file: `[0 b c d]` with one hole that is
/// exactly a hex string (`<`, hex digits, `>`) whose value is this dictionary's `/Contents`,
/// and an end that is the end of a revision (`ends`).
fn byte_range(
    sig: &Dictionary,
    bytes: &[u8],
    ends: &[(usize, usize)],
) -> Result<[usize; 4], String> {
    let arr = sig
        .get(b"ByteRange")
        .and_then(Object::as_array)
        .map_err(|_| "the signature has no /ByteRange".to_owned())?;
    let v: Vec<usize> = arr
        .iter()
        .filter_map(|o| o.as_i64().ok())
        .filter_map(|n| usize::try_from(n).ok())
        .collect();
    if v.len() != 4 || arr.len() != 4 {
        return Err("/ByteRange is not exactly four non-negative integers".into());
    }
    let [a, b, c, d] = [v[0], v[1], v[2], v[3]];
    let end = c.checked_add(d).ok_or("/ByteRange overflows")?;
    if a != 0 {
        return Err("/ByteRange does not start at the beginning of the file".into());
    }
    if b == 0 || c <= b + 1 || end > bytes.len() {
        return Err("/ByteRange does not describe the file".into());
    }
    // The hole must be exactly one hex string, the /Contents of this dictionary.
    let hole = &bytes[b..c];
    let inner = &hole[1..hole.len() - 1];
    if hole.first() != Some(&b'<')
        || hole.last() != Some(&b'>')
        || !inner.iter().all(u8::is_ascii_hexdigit)
        || !inner.len().is_multiple_of(2)
    {
        return Err(
            "/ByteRange's hole is not exactly the /Contents hex string: other bytes are left unsigned"
                .into(),
        );
    }
    let contents = match sig.get(b"Contents") {
        Ok(Object::String(s, _)) => s,
        _ => return Err("the signature has no /Contents string".into()),
    };
    // Compared pair by pair, without decoding the hole into a copy.
    let nibble = |h: u8| char::from(h).to_digit(16).unwrap_or(0);
    let same = inner.len() == contents.len() * 2
        && inner
            .chunks_exact(2)
            .zip(contents.iter())
            .all(|(pair, byte)| nibble(pair[0]) * 16 + nibble(pair[1]) == u32::from(*byte));
    if !same {
        return Err("/ByteRange's hole is not this signature's /Contents".into());
    }
    if !ends.iter().any(|&(e, eol)| end == e || end == eol) {
        return Err("/ByteRange does not end at the end of a revision (%%EOF)".into());
    }
    Ok([a, b, c, d])
}

/// `/Contents` must be one DER object followed only by zero padding.
fn padding_problem(contents: &[u8]) -> Option<String> {
    use der::{Decode, Reader};
    if contents.is_empty() {
        return Some("the signature's /Contents is empty".into());
    }
    let mut reader = der::SliceReader::new(contents).ok()?;
    let header = der::Header::decode(&mut reader).ok()?;
    let total = usize::try_from(u32::from(reader.position())).ok()?
        + usize::try_from(u32::from(header.length)).ok()?;
    match contents.get(total..) {
        Some(rest) if rest.iter().all(|b| *b == 0) => None,
        Some(_) => Some("/Contents holds bytes after the signature other than zero padding".into()),
        None => None,
    }
}

/// The digest of the signed ranges under an algorithm.
fn ranges_digest(bytes: &[u8], [_, b, c, d]: [usize; 4], digest: Digest) -> Vec<u8> {
    let Some(alg) = digest.ring() else {
        let mut both = Vec::with_capacity(b + d);
        both.extend_from_slice(&bytes[..b]);
        both.extend_from_slice(&bytes[c..c + d]);
        return digest.of(&both);
    };
    let mut ctx = ring::digest::Context::new(alg);
    ctx.update(&bytes[..b]);
    ctx.update(&bytes[c..c + d]);
    ctx.finish().as_ref().to_vec()
}

/// The revisions of the file that load on their own, in order: (end offset, document). The
/// last is the whole file.
struct Revisions {
    ends: Vec<(usize, usize)>,
    loaded: Vec<(usize, Document)>,
}

impl Revisions {
    /// 1-based number of the revision ending at `end`.
    fn number(&self, end: usize) -> usize {
        self.ends
            .iter()
            .position(|&(e, eol)| end == e || end == eol)
            .map_or(self.ends.len().max(1), |i| i + 1)
    }
}

/// Loads every revision from the first one a signature covers to the last.
fn revisions(
    bytes: &[u8],
    from: usize,
    last: &Document,
    limits: &PdfLimits,
    budget: &Budget,
    ends: Vec<(usize, usize)>,
    cancelled: &dyn Fn() -> bool,
) -> Result<Revisions, PdfError> {
    let mut loaded = Vec::new();
    for &(_, eol) in &ends {
        if eol < from || eol >= bytes.len() {
            continue;
        }
        if cancelled() {
            return Err(PdfError::Cancelled);
        }
        // A `%%EOF` that is not a real revision end (linearisation, text in a stream) does not
        // load on its own and is skipped.
        match crate::pdf::load::load_revision(&bytes[..eol], limits, budget) {
            Ok(d) => loaded.push((eol, d)),
            // A bomb stops everything; anything else only this revision.
            Err(e) if budget.left() == 0 => return Err(e),
            Err(_) => {}
        }
    }
    loaded.push((bytes.len(), last.clone()));
    Ok(Revisions { ends, loaded })
}

/// Bytes after the last revision that no cross-reference section covers.
fn trailing_bytes(bytes: &[u8], ends: &[(usize, usize)]) -> Option<Change> {
    let last = ends.last().map_or(bytes.len(), |&(_, eol)| eol);
    let rest = bytes.get(last..)?;
    if rest.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let looks_like_objects = [&b"obj"[..], b"stream", b"trailer", b"xref"]
        .iter()
        .any(|k| rest.windows(k.len()).any(|w| w == *k));
    Some(Change {
        revision: ends.len() + 1,
        object: None,
        page: None,
        what: format!(
            "{} bytes were appended after the last revision without a cross-reference section",
            rest.len()
        ),
        allowed: !looks_like_objects,
        why: if looks_like_objects {
            "they hold PDF objects that some readers would show".into()
        } else {
            "they hold no PDF objects and are ignored".into()
        },
    })
}

/// Reads every signature of `bytes` and checks what can be checked from the file alone.
pub fn analyse(
    bytes: &[u8],
    limits: &PdfLimits,
    cancelled: &dyn Fn() -> bool,
) -> Result<Analysis, PdfError> {
    let budget = Budget::default();
    let doc = load_within(bytes, limits, &budget)?;
    let mut out = Analysis {
        dss_certs: dss_items(&doc, b"Certs", &budget)?,
        dss_crls: dss_items(&doc, b"CRLs", &budget)?,
        dss_ocsps: dss_items(&doc, b"OCSPs", &budget)?,
        ..Default::default()
    };
    let fields = signature_fields(&doc, limits.max_signatures);
    if fields.len() > limits.max_signatures {
        return Err(PdfError::Malformed(format!(
            "the document has more than {} signatures, more than is verified",
            limits.max_signatures
        )));
    }
    let ends = crate::pdf::scan::revision_ends(bytes);
    let fields = in_file_order(fields, bytes, &ends);
    let first = fields
        .first()
        .map(|(_, _, _, range)| end_of(range))
        .unwrap_or(usize::MAX);
    // Each step from one revision to the next, judged once for every signature before it.
    let revs = if first < bytes.len() {
        revisions(bytes, first, &doc, limits, &budget, ends.clone(), cancelled)?
    } else {
        Revisions {
            loaded: Vec::new(),
            ends: ends.clone(),
        }
    };
    let steps = revision_steps(&revs, &doc);
    let bad = crate::pdf::query::bad_stream_lengths(bytes, &doc);
    if let Some(first) = bad.first() {
        out.warnings.push(format!(
            "{} stream(s) declare a /Length that does not end at endstream (the first at byte {first}): readers may disagree on what they hold",
            bad.len()
        ));
    }
    let signed = Signed {
        bytes,
        certification: certification_id(&doc),
        revs: &revs,
        steps: &steps,
        bad: &bad,
        trailing: trailing_bytes(bytes, &ends),
    };
    for (field, sig, sig_id, range) in fields {
        if cancelled() {
            return Err(PdfError::Cancelled);
        }
        out.signatures
            .push(signed.examine(field, &sig, sig_id, range));
    }
    Ok(out)
}

type Field = (
    String,
    Dictionary,
    Option<ObjectId>,
    Result<[usize; 4], String>,
);

/// Where a signature's bytes end (unreadable ranges last).
fn end_of(range: &Result<[usize; 4], String>) -> usize {
    range
        .as_ref()
        .map(|[_, _, c, d]| c + d)
        .unwrap_or(usize::MAX)
}

/// Each signature with its byte range, checked once, in file order: by where its bytes end.
fn in_file_order(
    fields: Vec<(String, Dictionary, Option<ObjectId>)>,
    bytes: &[u8],
    ends: &[(usize, usize)],
) -> Vec<Field> {
    let mut fields: Vec<Field> = fields
        .into_iter()
        .map(|(field, sig, id)| {
            let range = byte_range(&sig, bytes, ends);
            (field, sig, id, range)
        })
        .collect();
    fields.sort_by_key(|(_, _, _, range)| end_of(range));
    fields
}

/// What changed from each revision to the next, by the end of the earlier one.
fn revision_steps(revs: &Revisions, doc: &Document) -> Vec<(usize, Vec<Change>)> {
    let roles: Vec<changes::Roles> = revs
        .loaded
        .iter()
        .map(|(_, d)| changes::classify(d))
        .collect();
    revs.loaded
        .iter()
        .zip(&roles)
        .zip(revs.loaded.iter().zip(&roles).skip(1))
        .map(
            |(((old_end, old), old_roles), ((new_end, new), new_roles))| {
                let step = changes::step(
                    changes::Revision {
                        doc: old,
                        roles: old_roles,
                    },
                    changes::Revision {
                        doc: new,
                        roles: new_roles,
                    },
                    doc,
                    revs.number(*new_end),
                    changes::docmdp(old),
                );
                (*old_end, step)
            },
        )
        .collect()
}

/// What every signature of one document is judged against.
struct Signed<'a> {
    bytes: &'a [u8],
    certification: Option<ObjectId>,
    revs: &'a Revisions,
    steps: &'a [(usize, Vec<Change>)],
    /// Offsets of streams whose /Length does not end at endstream.
    bad: &'a [usize],
    /// Bytes after the last revision, as a change.
    trailing: Option<Change>,
}

impl Signed<'_> {
    /// One signature: its kind, its byte range and padding, its CMS, and what changed after it.
    fn examine(
        &self,
        field: String,
        sig: &Dictionary,
        sig_id: Option<ObjectId>,
        range: Result<[usize; 4], String>,
    ) -> Found {
        let sub_filter = sig.get(b"SubFilter").map(text).unwrap_or_default();
        let doc_ts = sub_filter == "ETSI.RFC3161" || sig.has_type(b"DocTimeStamp");
        let kind = if doc_ts {
            SignatureKind::DocumentTimestamp
        } else if sig_id.is_some() && sig_id == self.certification {
            SignatureKind::Certification
        } else {
            SignatureKind::Approval
        };
        let mut found = Found {
            field,
            kind,
            sub_filter: sub_filter.clone(),
            claimed_time: sig.get(b"M").ok().map(text),
            byte_range: None,
            covered_to: 0,
            whole_document: false,
            revision: 0,
            check: SignerCheck::default(),
            modifications: Modifications::None,
            modification_notes: Vec::new(),
            changes: Vec::new(),
            format_problem: None,
        };
        if sig.is_empty() {
            found.format_problem = Some(format!(
                "the signature dictionary{} cannot be read: its /Contents or another value is not valid PDF syntax",
                sig_id.map(|(n, g)| format!(" (object {n} {g})")).unwrap_or_default()
            ));
            return found;
        }
        let contents = match sig.get(b"Contents") {
            Ok(Object::String(s, _)) if !s.is_empty() => s.clone(),
            Ok(Object::String(..)) => {
                found.format_problem = Some("the signature's /Contents is empty".into());
                return found;
            }
            _ => {
                found.format_problem = Some("the signature has no /Contents string".into());
                return found;
            }
        };
        let range = match range {
            Ok(r) => r,
            Err(problem) => {
                found.format_problem = Some(problem);
                return found;
            }
        };
        let [_, _, c, d] = range;
        found.byte_range = Some(range);
        found.covered_to = c + d;
        found.whole_document = c + d == self.bytes.len();
        found.revision = self.revs.number(c + d);
        if let Some(problem) = padding_problem(&contents) {
            found.format_problem = Some(problem);
            return found;
        }
        let digest_of = |alg: Digest| ranges_digest(self.bytes, range, alg);
        found.check = signer_check(&contents, &sub_filter, doc_ts, &digest_of);
        let list = self.changes_after(&found, c + d);
        found.modifications = changes::verdict(&list);
        found.modification_notes = list
            .iter()
            .filter(|c| !c.allowed)
            .map(modification_note)
            .collect();
        found.changes = list;
        found
    }

    /// What changed after the signed bytes: later revisions, streams of misleading length,
    /// trailing bytes.
    fn changes_after(&self, found: &Found, signed_end: usize) -> Vec<Change> {
        let mut list: Vec<Change> = Vec::new();
        if !found.whole_document {
            let readable = self.revs.ends.iter().any(|&(e, eol)| {
                (e == signed_end || eol == signed_end)
                    && self.revs.loaded.iter().any(|(le, _)| *le == eol)
            });
            if !readable {
                list.push(Change {
                    revision: found.revision,
                    object: None,
                    page: None,
                    what: "the signed revision cannot be read on its own".into(),
                    allowed: false,
                    why: "what was signed cannot be compared with what is shown".into(),
                });
            }
            for (old_end, step) in self.steps {
                if *old_end >= signed_end {
                    list.extend(step.iter().cloned());
                }
            }
        }
        for &at in self.bad.iter().filter(|&&at| at >= signed_end) {
            let revision = self
                .revs
                .ends
                .iter()
                .position(|&(e, _)| e > at)
                .map_or(self.revs.ends.len(), |i| i + 1);
            list.push(Change {
                revision,
                object: None,
                page: None,
                what: format!(
                    "a stream added after signing (at byte {at}) declares a /Length that does not end at endstream"
                ),
                allowed: false,
                why: "readers would disagree on what it holds".into(),
            });
        }
        if let Some(t) = &self.trailing {
            list.push(t.clone());
        }
        list
    }
}

/// The CMS check a signature's /SubFilter calls for.
fn signer_check(
    contents: &[u8],
    sub_filter: &str,
    doc_ts: bool,
    digest_of: &dyn Fn(Digest) -> Vec<u8>,
) -> SignerCheck {
    if doc_ts {
        return match cms::check_token(contents, digest_of) {
            Some(token) => SignerCheck {
                digest_ok: token.imprint_ok,
                signature_ok: token.signature_ok,
                signer: token.tsa.clone(),
                certs: token.certs.clone(),
                problem: token.problem.clone(),
                timestamp: Some(Box::new(token)),
            },
            None => SignerCheck {
                problem: Some("the document time-stamp is not an RFC 3161 token".into()),
                ..Default::default()
            },
        };
    }
    if matches!(sub_filter, "adbe.pkcs7.detached" | "ETSI.CAdES.detached") {
        cms::check_detached(contents, digest_of)
    } else {
        SignerCheck {
            problem: Some(format!("/SubFilter /{sub_filter} is not supported")),
            ..Default::default()
        }
    }
}

/// A disallowed change as one line: revision, where, what, why.
fn modification_note(c: &Change) -> String {
    let mut at = String::new();
    if let Some(o) = &c.object {
        at.push_str(&format!("object {o}"));
    }
    if let Some(p) = c.page {
        at.push_str(&format!(
            "{}page {p}",
            if at.is_empty() { "" } else { ", " }
        ));
    }
    if at.is_empty() {
        format!("revision {}: {}: {}", c.revision, c.what, c.why)
    } else {
        format!("revision {} ({at}): {}: {}", c.revision, c.what, c.why)
    }
}
