//! Reading a PDF's signatures: where they are, what each covers, whether its bytes and
//! signature check out, and what was changed in the revisions after it.

use lopdf::{Dictionary, Document, Object, ObjectId};

use super::cms::{self, Digest, SignerCheck};
use crate::seal::pdf::{load_checked, PdfError, PdfLimits};

/// Most signatures verified in one document, and fields walked.
const MAX_FIELDS: usize = 10_000;

/// One signature as found in the file, with its checks.
#[derive(Debug, Clone)]
pub struct Found {
    pub field: String,
    /// `approval`, `certification` or `document-timestamp`.
    pub kind: &'static str,
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
    /// `none`, `allowed` or `disallowed`, with what was changed.
    pub modifications: &'static str,
    pub modification_notes: Vec<String>,
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
        if let Some(sig) = resolve(doc, value).and_then(|v| v.as_dict().ok()) {
            out.push((qualified, sig.clone(), sig_id));
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

/// The streams of the `/DSS` under `key`, decoded.
fn dss_items(doc: &Document, key: &[u8]) -> Vec<Vec<u8>> {
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
        return Vec::new();
    };
    dss.get(key)
        .ok()
        .and_then(|a| resolve(doc, a))
        .and_then(|a| a.as_array().ok())
        .map(|items| {
            items
                .iter()
                .take(1000)
                .filter_map(|r| resolve(doc, r)?.as_stream().ok())
                .map(|s| {
                    s.decompressed_content_with_limit(16 * 1024 * 1024)
                        .unwrap_or_else(|_| s.content.clone())
                })
                .collect()
        })
        .unwrap_or_default()
}

fn byte_range(sig: &Dictionary, len: usize, bytes: &[u8]) -> Result<[usize; 4], String> {
    let arr = sig
        .get(b"ByteRange")
        .and_then(Object::as_array)
        .map_err(|_| "the signature has no /ByteRange".to_owned())?;
    let v: Vec<usize> = arr
        .iter()
        .filter_map(|o| o.as_i64().ok())
        .filter_map(|n| usize::try_from(n).ok())
        .collect();
    if v.len() != 4 {
        return Err("/ByteRange is not four non-negative integers".into());
    }
    let [a, b, c, d] = [v[0], v[1], v[2], v[3]];
    let end = c.checked_add(d).ok_or("/ByteRange overflows")?;
    if a != 0 || b == 0 || c <= b || end > len {
        return Err("/ByteRange does not describe the file".into());
    }
    // The gap must be exactly the /Contents hex string.
    if bytes.get(b) != Some(&b'<') || bytes.get(c - 1) != Some(&b'>') {
        return Err("/ByteRange does not exclude exactly the /Contents string".into());
    }
    Ok([a, b, c, d])
}

/// The digest of the signed ranges under an algorithm.
fn ranges_digest(bytes: &[u8], [_, b, c, d]: [usize; 4], digest: Digest) -> Vec<u8> {
    let mut ctx = ring::digest::Context::new(digest.ring());
    ctx.update(&bytes[..b]);
    ctx.update(&bytes[c..c + d]);
    ctx.finish().as_ref().to_vec()
}

/// Keys whose change is allowed after a signature, per kind of object.
fn allowed_change(old: &Object, new: &Object) -> Result<Option<&'static str>, String> {
    let (Ok(old_d), Ok(new_d)) = (old.as_dict(), new.as_dict()) else {
        // Arrays (e.g. /Fields, /Annots kept indirectly) may only grow.
        if let (Ok(o), Ok(n)) = (old.as_array(), new.as_array()) {
            if n.len() >= o.len() && n[..o.len()] == o[..] {
                return Ok(Some("form fields or annotations added"));
            }
        }
        if let (Ok(o), Ok(n)) = (old.as_stream(), new.as_stream()) {
            if o.dict.has_type(b"XRef") && n.dict.has_type(b"XRef") {
                return Ok(None);
            }
        }
        return Err("an object's content was changed".into());
    };
    let is = |d: &Dictionary, t: &[u8]| d.has_type(t);
    let allowed: &[&[u8]] = if is(new_d, b"Catalog") {
        &[b"DSS", b"AcroForm", b"Extensions", b"Version"]
    } else if is(new_d, b"Page") {
        &[b"Annots"]
    } else if is(new_d, b"DSS") || is(new_d, b"XRef") {
        return Ok(Some("validation data (DSS)"));
    } else if new_d.get(b"FT").and_then(Object::as_name).ok() == Some(b"Sig") && !old_d.has(b"V") {
        &[b"V", b"AP", b"F", b"MK", b"AS"]
    } else if new_d.has(b"Fields") || new_d.has(b"SigFlags") {
        &[b"Fields", b"SigFlags", b"DR", b"DA", b"NeedAppearances"]
    } else {
        &[]
    };
    let mut keys: Vec<&Vec<u8>> = old_d.iter().map(|(k, _)| k).collect();
    keys.extend(new_d.iter().map(|(k, _)| k));
    for k in keys {
        if old_d.get(k).ok() != new_d.get(k).ok() && !allowed.contains(&k.as_slice()) {
            return Err(format!(
                "/{} of an existing object was changed",
                String::from_utf8_lossy(k)
            ));
        }
    }
    Ok(Some(if is(new_d, b"Catalog") {
        "catalog: DSS or form"
    } else if is(new_d, b"Page") {
        "signature widgets added to a page"
    } else {
        "form fields or signatures added"
    }))
}

/// Compares the revision a signature covers with the whole document.
fn modifications(
    bytes: &[u8],
    end: usize,
    last: &Document,
    limits: &PdfLimits,
) -> (&'static str, Vec<String>) {
    if end >= bytes.len() {
        return ("none", Vec::new());
    }
    let Ok(before) = load_checked(&bytes[..end], true, limits) else {
        return (
            "disallowed",
            vec!["the signed revision cannot be read on its own".into()],
        );
    };
    let mut notes = std::collections::BTreeSet::new();
    for (id, new) in &last.objects {
        match before.objects.get(id) {
            None => {
                let kind = match new.as_dict().ok().or(new.as_stream().ok().map(|s| &s.dict)) {
                    Some(d) if d.has_type(b"Sig") => "later signature",
                    Some(d) if d.has_type(b"DocTimeStamp") => "document time-stamp",
                    Some(d) if d.has_type(b"DSS") => "validation data (DSS)",
                    _ => continue,
                };
                notes.insert(kind.to_owned());
            }
            Some(old) if old == new => {}
            Some(old) => match allowed_change(old, new) {
                Ok(Some(note)) => {
                    notes.insert(note.to_owned());
                }
                Ok(None) => {}
                Err(problem) => {
                    return (
                        "disallowed",
                        vec![format!("object {} {}: {problem}", id.0, id.1)],
                    );
                }
            },
        }
    }
    // Objects the signed revision had and the document no longer has.
    if before
        .objects
        .keys()
        .any(|id| !last.objects.contains_key(id))
    {
        return (
            "disallowed",
            vec!["objects of the signed revision were removed".into()],
        );
    }
    ("allowed", notes.into_iter().collect())
}

/// Reads every signature of `bytes` and checks what can be checked from the file alone.
pub fn analyse(bytes: &[u8], limits: &PdfLimits) -> Result<Analysis, PdfError> {
    let doc = load_checked(bytes, true, limits)?;
    let certification = certification_id(&doc);
    let mut out = Analysis {
        dss_certs: dss_items(&doc, b"Certs"),
        dss_crls: dss_items(&doc, b"CRLs"),
        dss_ocsps: dss_items(&doc, b"OCSPs"),
        ..Default::default()
    };
    let mut fields = signature_fields(&doc, limits.max_signatures);
    if fields.len() > limits.max_signatures {
        return Err(PdfError::Malformed(format!(
            "the document has more than {} signatures, more than is verified",
            limits.max_signatures
        )));
    }
    // In file order: by where each signature's bytes end.
    let end_of = |sig: &Dictionary| {
        byte_range(sig, bytes.len(), bytes)
            .map(|[_, _, c, d]| c + d)
            .unwrap_or(usize::MAX)
    };
    fields.sort_by_key(|(_, sig, _)| end_of(sig));
    for (field, sig, sig_id) in fields {
        let sub_filter = sig.get(b"SubFilter").map(text).unwrap_or_default();
        let doc_ts = sub_filter == "ETSI.RFC3161" || sig.has_type(b"DocTimeStamp");
        let kind = if doc_ts {
            "document-timestamp"
        } else if sig_id.is_some() && sig_id == certification {
            "certification"
        } else {
            "approval"
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
            modifications: "none",
            modification_notes: Vec::new(),
            format_problem: None,
        };
        let range = match byte_range(&sig, bytes.len(), bytes) {
            Ok(r) => r,
            Err(problem) => {
                found.format_problem = Some(problem);
                out.signatures.push(found);
                continue;
            }
        };
        let [_, _, c, d] = range;
        found.byte_range = Some(range);
        found.covered_to = c + d;
        found.whole_document = c + d == bytes.len();
        found.revision = bytes[..c + d]
            .windows(5)
            .filter(|w| w == b"%%EOF")
            .count()
            .max(1);
        let contents = match sig.get(b"Contents") {
            Ok(Object::String(s, _)) => s.clone(),
            _ => {
                found.format_problem = Some("the signature has no /Contents string".into());
                out.signatures.push(found);
                continue;
            }
        };
        let digest_of = |alg: Digest| ranges_digest(bytes, range, alg);
        found.check = if doc_ts {
            match cms::check_token(&contents, &digest_of) {
                Some(token) => SignerCheck {
                    digest_ok: token.imprint_ok,
                    signature_ok: token.signature_ok,
                    signer: token.tsa.clone(),
                    certs: token.certs.clone(),
                    timestamp: Some(Box::new(token)),
                    problem: None,
                },
                None => SignerCheck {
                    problem: Some("the document time-stamp is not an RFC 3161 token".into()),
                    ..Default::default()
                },
            }
        } else if matches!(
            sub_filter.as_str(),
            "adbe.pkcs7.detached" | "ETSI.CAdES.detached"
        ) {
            cms::check_detached(&contents, &digest_of)
        } else {
            SignerCheck {
                problem: Some(format!("/SubFilter /{sub_filter} is not supported")),
                ..Default::default()
            }
        };
        let (m, notes) = modifications(bytes, c + d, &doc, limits);
        found.modifications = m;
        found.modification_notes = notes;
        out.signatures.push(found);
    }
    Ok(out)
}
