//! Sealing PDFs (PAdES baseline B-B and B-T, ETSI EN 319 142-1; ISO 32000 §12.8): an
//! incremental update that keeps the original bytes as a prefix and adds a signature field
//! (visible or not), its signature dictionary with a detached CAdES signature over the
//! `/ByteRange`, and a new version of the page and of the AcroForm.
//!
//! Untrusted input is checked before lopdf sees it, because lopdf is lenient where a sealer
//! must not be: nesting depth is bounded by a scan (lopdf's parser recurses), the file must end
//! with `startxref`/`%%EOF`, a trailer `/Encrypt` is refused (lopdf decrypts owner-password files
//! silently), and a file whose cross-reference data lopdf had to repair is refused (an update
//! appended to it would not verify anywhere).

use std::io::Write;

use lopdf::{Dictionary, Document, Object, ObjectId};

/// Nesting of dictionaries and arrays allowed (ISO 32000 Annex C suggests 28 for arrays).
const MAX_NESTING: usize = 64;
/// Most pages walked in the page tree, and the depth of the tree.
const MAX_PAGES: usize = 100_000;
const MAX_TREE_DEPTH: usize = 64;
/// Largest stream lopdf may decompress while loading (object and xref streams).
const MAX_DECOMPRESSED: usize = 256 * 1024 * 1024;
/// Most cross-reference sections in the /Prev chain.
const MAX_XREF_SECTIONS: usize = 10_000;
/// Default of [`PdfLimits::max_objects`].
pub const MAX_OBJECTS: usize = 2_000_000;
/// Default of [`PdfLimits::max_signatures`].
pub const MAX_SIGNATURES: usize = 64;

/// Bounds on one untrusted PDF, from the settings (`TRUSTD_MAX_PDF_OBJECTS`,
/// `TRUSTD_MAX_PDF_SIGNATURES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PdfLimits {
    /// Most objects a PDF may declare (trailer /Size, checked before it is loaded) or hold.
    pub max_objects: usize,
    /// Most signatures verified in one PDF; a PDF with more is refused.
    pub max_signatures: usize,
}

impl Default for PdfLimits {
    fn default() -> Self {
        PdfLimits {
            max_objects: MAX_OBJECTS,
            max_signatures: MAX_SIGNATURES,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PdfError {
    #[error("{0}")]
    Malformed(String),
    #[error("the PDF is encrypted; decrypt it before sealing")]
    Encrypted,
    #[error("the PDF is certified with no changes allowed (DocMDP P=1): it cannot be sealed")]
    CertifiedNoChanges,
    #[error("{0}")]
    BadOption(String),
    #[error("signing failed")]
    Signing,
}

fn too_many_objects(max: usize) -> PdfError {
    malformed(format!("the PDF has more than {max} objects"))
}

fn malformed(what: impl Into<String>) -> PdfError {
    PdfError::Malformed(what.into())
}

/// Scans the raw bytes: header, trailer keywords, and a bound on nesting depth (outside
/// strings, comments and stream data), also inside compressed object streams. Cheap, linear,
/// and never recursive.
pub fn precheck(bytes: &[u8]) -> Result<(), PdfError> {
    let head = &bytes[..bytes.len().min(1024)];
    if !head.windows(5).any(|w| w == b"%PDF-") {
        return Err(malformed("no %PDF- header: this is not a PDF file"));
    }
    let tail = &bytes[bytes.len().saturating_sub(1024)..];
    let Some(pos) = rfind(tail, b"startxref") else {
        return Err(malformed(
            "no startxref at the end of the file (truncated or damaged)",
        ));
    };
    if rfind(&tail[pos..], b"%%EOF").is_none() {
        return Err(malformed("no %%EOF after startxref (truncated file)"));
    }
    let mut budget = MAX_DECOMPRESSED;
    depth_scan(bytes, Some(&mut budget))
}

/// Bounds the nesting depth of `bytes`. With `streams`, stream data is skipped, and the data of
/// each object stream (`/Type /ObjStm`) is inflated (within the budget) and scanned too: lopdf
/// parses those objects with the same recursive parser.
fn depth_scan(bytes: &[u8], mut streams: Option<&mut usize>) -> Result<(), PdfError> {
    let mut depth = 0usize;
    let mut dict_start = 0usize;
    let mut i = 0usize;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'(' => {
                // Literal string with balanced parentheses and escapes.
                i = string_end(bytes, i);
            }
            b'<' if bytes.get(i + 1) == Some(&b'<') => {
                if depth == 0 {
                    dict_start = i;
                }
                depth += 1;
                i += 1;
            }
            b'>' if bytes.get(i + 1) == Some(&b'>') => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'[' => depth += 1,
            b']' => depth = depth.saturating_sub(1),
            b's' if streams.is_some()
                && bytes[i..].starts_with(b"stream")
                && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric()) =>
            {
                // Skip stream data up to `endstream`.
                let data_start = i + 6;
                let Some(end) = find(&bytes[data_start..], b"endstream") else {
                    return Err(malformed("a stream has no endstream"));
                };
                let dict = &bytes[dict_start.min(i)..i];
                if has_name(dict, b"/ObjStm") {
                    if let Some(budget) = streams.as_deref_mut() {
                        let data = &bytes[data_start..data_start + end];
                        let data = match data {
                            [b'\r', b'\n', rest @ ..] | [b'\n', rest @ ..] | [b'\r', rest @ ..] => {
                                rest
                            }
                            _ => data,
                        };
                        object_stream_scan(dict, data, budget)?;
                    }
                }
                i = data_start + end + 8;
                depth = 0;
            }
            _ => {}
        }
        if depth > MAX_NESTING {
            return Err(malformed(format!(
                "objects are nested more than {MAX_NESTING} deep"
            )));
        }
        i += 1;
    }
    Ok(())
}

/// Whether a dictionary's text holds the name `name` (followed by a delimiter).
fn has_name(dict: &[u8], name: &[u8]) -> bool {
    let mut from = 0;
    while let Some(at) = find(&dict[from..], name) {
        let after = dict.get(from + at + name.len());
        if after.is_none_or(|c| !c.is_ascii_alphanumeric()) {
            return true;
        }
        from += at + name.len();
    }
    false
}

/// Inflates an object stream (FlateDecode or no filter) and bounds its nesting depth.
fn object_stream_scan(dict: &[u8], data: &[u8], budget: &mut usize) -> Result<(), PdfError> {
    use std::io::Read;
    if !has_name(dict, b"/Filter") {
        return depth_scan(data, None);
    }
    if !has_name(dict, b"/FlateDecode") || has_name(dict, b"/DecodeParms") {
        return Err(malformed(
            "an object stream uses a filter other than plain FlateDecode, which is not supported",
        ));
    }
    let mut inflated = Vec::new();
    let limit = *budget as u64 + 1;
    let read = flate2::read::ZlibDecoder::new(data)
        .take(limit)
        .read_to_end(&mut inflated);
    if read.is_err() {
        // Not inflatable: lopdf cannot read it either, so it is not parsed.
        return Ok(());
    }
    if inflated.len() > *budget {
        return Err(malformed(
            "the object streams inflate to more than the limit",
        ));
    }
    *budget -= inflated.len();
    depth_scan(&inflated, None)
}

/// Walks the cross-reference chain from `startxref` through every `/Prev` (and `/XRefStm` of
/// hybrid files) without lopdf, which repairs or follows broken chains silently: each offset
/// must point at cross-reference data, and the chain must not loop.
fn xref_chain(bytes: &[u8], start: usize, max_objects: usize) -> Result<(), PdfError> {
    let mut seen = std::collections::HashSet::new();
    let mut next = Some(start);
    while let Some(offset) = next {
        if !seen.insert(offset) || seen.len() > MAX_XREF_SECTIONS {
            return Err(malformed(
                "the /Prev chain of cross-reference sections loops or is too long",
            ));
        }
        check_xref_at(bytes, offset)?;
        let dict = trailer_dict(bytes, offset)
            .ok_or_else(|| malformed("a cross-reference section has no trailer dictionary"))?;
        if dict_integer(dict, b"/Size").is_some_and(|n| n > max_objects) {
            return Err(too_many_objects(max_objects));
        }
        if let Some(stm) = dict_integer(dict, b"/XRefStm") {
            check_xref_at(bytes, stm)?;
        }
        next = dict_integer(dict, b"/Prev");
    }
    Ok(())
}

/// `offset` must point at `xref` or at an object (a cross-reference stream).
fn check_xref_at(bytes: &[u8], offset: usize) -> Result<(), PdfError> {
    let at = bytes
        .get(offset..)
        .ok_or_else(|| malformed("a cross-reference offset points past the end of the file"))?;
    let at = &at[..at.len().min(64)];
    let points_at_xref = at.starts_with(b"xref")
        || at
            .split(|b| b.is_ascii_whitespace())
            .filter(|w| !w.is_empty())
            .nth(2)
            .is_some_and(|w| w.starts_with(b"obj"));
    if points_at_xref {
        Ok(())
    } else {
        Err(malformed(
            "a cross-reference offset does not point at cross-reference data",
        ))
    }
}

/// The text of the trailer dictionary of the section at `offset` (after `trailer` for a table,
/// the stream's dictionary for a cross-reference stream).
fn trailer_dict(bytes: &[u8], offset: usize) -> Option<&[u8]> {
    let rest = &bytes[offset..];
    let from = if rest.starts_with(b"xref") {
        find(rest, b"trailer")? + 7
    } else {
        find(&rest[..rest.len().min(256)], b"obj")? + 3
    };
    let open = from + find(&rest[from..rest.len().min(from + 256)], b"<<")?;
    let mut depth = 0usize;
    let mut i = open;
    while i + 1 < rest.len() {
        match (rest[i], rest[i + 1]) {
            (b'<', b'<') => {
                depth += 1;
                i += 1;
            }
            (b'>', b'>') => {
                depth -= 1;
                i += 1;
                if depth == 0 {
                    return Some(&rest[open..=i]);
                }
            }
            (b'(', _) => {
                // Skip a literal string (a trailer /ID may be one).
                i = string_end(rest, i);
            }
            _ => {}
        }
        if depth > MAX_NESTING {
            return None;
        }
        i += 1;
    }
    None
}

/// The integer after a key at the top level of a dictionary's text.
fn dict_integer(dict: &[u8], key: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = 0usize;
    while i < dict.len() {
        match dict[i] {
            b'<' if dict.get(i + 1) == Some(&b'<') => {
                depth += 1;
                i += 1;
            }
            b'>' if dict.get(i + 1) == Some(&b'>') => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            // A hex string.
            b'<' => {
                while i < dict.len() && dict[i] != b'>' {
                    i += 1;
                }
            }
            b'(' => {
                i = string_end(dict, i);
            }
            b'[' => depth += 1,
            b']' => depth = depth.saturating_sub(1),
            b'/' if depth == 1
                && dict[i..].starts_with(key)
                && dict
                    .get(i + key.len())
                    .is_some_and(|c| !c.is_ascii_alphanumeric()) =>
            {
                let digits: String = dict[i + key.len()..]
                    .iter()
                    .skip_while(|b| b.is_ascii_whitespace())
                    .take_while(|b| b.is_ascii_digit())
                    .map(|b| char::from(*b))
                    .collect();
                return digits.parse().ok();
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The index of the `)` closing the literal string that opens at `bytes[i]` (balanced
/// parentheses, backslash escapes), or the end of `bytes`.
fn string_end(bytes: &[u8], mut i: usize) -> usize {
    let mut level = 0usize;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'(' => level += 1,
            b')' => {
                level -= 1;
                if level == 0 {
                    return i;
                }
            }
            _ => {}
        }
        i += 1;
    }
    i
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// The `startxref` offset written at the end of the file.
fn startxref(bytes: &[u8], max_objects: usize) -> Result<usize, PdfError> {
    let tail_start = bytes.len().saturating_sub(1024);
    let tail = &bytes[tail_start..];
    let pos = rfind(tail, b"startxref").ok_or_else(|| malformed("no startxref"))?;
    let digits: String = tail[pos + 9..]
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take_while(|b| b.is_ascii_digit())
        .map(|b| char::from(*b))
        .collect();
    let offset: usize = digits
        .parse()
        .map_err(|_| malformed("startxref is not followed by an offset"))?;
    if offset >= bytes.len() {
        return Err(malformed("startxref points past the end of the file"));
    }
    check_xref_at(bytes, offset)?;
    xref_chain(bytes, offset, max_objects)?;
    Ok(offset)
}

/// Where and how to place the seal.
#[derive(Debug, Clone)]
pub struct Placement {
    /// 1-based; `None` = the last page.
    pub page: Option<u32>,
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub visible: bool,
}

/// What the update needs to know about the original file.
struct Inspected {
    doc: Document,
    prev_startxref: usize,
    xref_stream: bool,
    root: ObjectId,
    page: ObjectId,
    /// Lower-left corner and rotation of the page's crop box.
    crop: [f64; 4],
    rotate: i64,
    /// Empty signature fields (no /V) with their widget rectangles.
    empty_fields: Vec<(ObjectId, [f64; 4])>,
}

pub(crate) fn number(o: &Object) -> Option<f64> {
    match o {
        Object::Integer(i) => Some(*i as f64),
        Object::Real(r) => Some(f64::from(*r)),
        _ => None,
    }
}

fn rect(doc: &Document, o: &Object) -> Option<[f64; 4]> {
    let arr = match o {
        Object::Reference(id) => doc.get_object(*id).ok()?.as_array().ok()?,
        other => other.as_array().ok()?,
    };
    if arr.len() != 4 {
        return None;
    }
    let v: Vec<f64> = arr.iter().filter_map(number).collect();
    (v.len() == 4).then(|| {
        [
            v[0].min(v[2]),
            v[1].min(v[3]),
            v[0].max(v[2]),
            v[1].max(v[3]),
        ]
    })
}

/// An inherited page attribute (ISO 32000 §7.7.3.4), walking /Parent a bounded number of times.
fn inherited<'a>(doc: &'a Document, page: &'a Dictionary, key: &[u8]) -> Option<&'a Object> {
    let mut dict = page;
    for _ in 0..MAX_TREE_DEPTH {
        if let Ok(v) = dict.get(key) {
            return Some(v);
        }
        let parent = dict.get(b"Parent").ok()?.as_reference().ok()?;
        dict = doc.get_dictionary(parent).ok()?;
    }
    None
}

/// The dictionary of an 8-bit image XObject.
fn image_xobject(width: u32, height: u32, color_space: &[u8]) -> Dictionary {
    let mut d = Dictionary::new();
    d.set("Type", Object::Name(b"XObject".to_vec()));
    d.set("Subtype", Object::Name(b"Image".to_vec()));
    d.set("Width", Object::Integer(i64::from(width)));
    d.set("Height", Object::Integer(i64::from(height)));
    d.set("ColorSpace", Object::Name(color_space.to_vec()));
    d.set("BitsPerComponent", Object::Integer(8));
    d
}

/// A stream object with FlateDecode-compressed data, serialised.
fn compressed_stream(dict: Dictionary, data: Vec<u8>) -> Result<Vec<u8>, PdfError> {
    let mut stream = lopdf::Stream::new(dict, data);
    let _ = stream.compress();
    serialize(&Object::Stream(stream))
}

/// The array under `key` of `dict`, written inline or as a reference; empty when absent.
fn array_of(doc: &Document, dict: &Dictionary, key: &[u8]) -> Vec<Object> {
    match dict.get(key) {
        Ok(Object::Array(a)) => a.clone(),
        Ok(Object::Reference(id)) => doc
            .get_object(*id)
            .and_then(Object::as_array)
            .cloned()
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The pages in order, walking the tree ourselves: a cycle or an absurd depth is malformed.
fn pages(doc: &Document, root: &Dictionary) -> Result<Vec<ObjectId>, PdfError> {
    let top = root
        .get(b"Pages")
        .and_then(Object::as_reference)
        .map_err(|_| malformed("the catalog has no /Pages"))?;
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![(top, 0usize)];
    while let Some((id, depth)) = stack.pop() {
        if !seen.insert(id) || depth > MAX_TREE_DEPTH || out.len() > MAX_PAGES {
            return Err(malformed("the page tree has a cycle or is too deep"));
        }
        let node = doc
            .get_dictionary(id)
            .map_err(|_| malformed("a page tree node is missing"))?;
        let is_pages = node
            .get(b"Type")
            .and_then(Object::as_name)
            .map(|n| n == b"Pages")
            .unwrap_or(false)
            || node.has(b"Kids");
        if is_pages {
            let kids = node
                .get(b"Kids")
                .and_then(Object::as_array)
                .map_err(|_| malformed("a page tree node has no /Kids"))?;
            for kid in kids.iter().rev() {
                let kid = kid
                    .as_reference()
                    .map_err(|_| malformed("a /Kids entry is not a reference"))?;
                stack.push((kid, depth + 1));
            }
        } else {
            out.push(id);
        }
    }
    if out.is_empty() {
        return Err(malformed("the document has no pages"));
    }
    Ok(out)
}

/// The DocMDP permission of a certified document (ISO 32000 §12.8.2.2), if any.
pub(crate) fn docmdp_permission(doc: &Document, root: &Dictionary) -> Option<i64> {
    let perms = root.get(b"Perms").ok()?;
    let perms = match perms {
        Object::Reference(id) => doc.get_dictionary(*id).ok()?,
        o => o.as_dict().ok()?,
    };
    let sig = match perms.get(b"DocMDP").ok()? {
        Object::Reference(id) => doc.get_dictionary(*id).ok()?,
        o => o.as_dict().ok()?,
    };
    let refs = sig.get(b"Reference").ok()?.as_array().ok()?;
    for r in refs {
        let r = match r {
            Object::Reference(id) => doc.get_dictionary(*id).ok()?,
            o => o.as_dict().ok()?,
        };
        if let Ok(params) = r.get(b"TransformParams") {
            let params = match params {
                Object::Reference(id) => doc.get_dictionary(*id).ok()?,
                o => o.as_dict().ok()?,
            };
            return Some(
                params
                    .get(b"P")
                    .ok()
                    .and_then(|p| p.as_i64().ok())
                    .unwrap_or(2),
            );
        }
    }
    Some(2)
}

/// Load filter: the sealer never reads stream data other than object streams (which lopdf
/// unpacks), so each stream's data is dropped as soon as it is read and memory stays near
/// the size of the file's structure, not of its images and page contents. (One byte is kept:
/// lopdf re-reads empty streams.) lopdf keeps the object edited in place for objects at the
/// top level and the returned copy for members of object streams.
fn drop_stream_data(id: ObjectId, object: &mut Object) -> Option<(ObjectId, Object)> {
    if let Object::Stream(stream) = object {
        if !stream.dict.has_type(b"ObjStm") {
            stream.content = vec![b' '];
        }
    }
    Some((id, object.clone()))
}

/// The AcroForm's signature fields that are not signed yet (no `/V`), walking `/Kids` with a
/// bound, with each one's widget rectangle (zero for an invisible one).
fn empty_signature_fields(doc: &Document, catalog: &Dictionary) -> Vec<(ObjectId, [f64; 4])> {
    let resolve = |o: &Object| -> Option<Dictionary> {
        match o {
            Object::Reference(id) => doc.get_dictionary(*id).ok().cloned(),
            o => o.as_dict().ok().cloned(),
        }
    };
    let Some(form) = catalog.get(b"AcroForm").ok().and_then(resolve) else {
        return Vec::new();
    };
    let top = array_of(doc, &form, b"Fields");
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut stack: Vec<Object> = top.into_iter().rev().collect();
    while let Some(item) = stack.pop() {
        let Ok(id) = item.as_reference() else {
            continue;
        };
        if !seen.insert(id) || seen.len() > MAX_PAGES {
            break;
        }
        let Ok(field) = doc.get_dictionary(id) else {
            continue;
        };
        if let Ok(kids) = field.get(b"Kids").and_then(Object::as_array) {
            stack.extend(kids.iter().rev().cloned());
            continue;
        }
        let is_sig = field
            .get(b"FT")
            .and_then(Object::as_name)
            .is_ok_and(|n| n == b"Sig");
        if is_sig && !field.has(b"V") {
            let rect = field
                .get(b"Rect")
                .ok()
                .and_then(|r| rect(doc, r))
                .unwrap_or_default();
            out.push((id, rect));
        }
    }
    out
}

/// Loads untrusted bytes after the structural checks (nesting, xref chain, encryption,
/// repair). With `keep_streams` false, stream data is dropped while loading.
pub(crate) fn load_checked(
    bytes: &[u8],
    keep_streams: bool,
    limits: &PdfLimits,
) -> Result<Document, PdfError> {
    load_with_startxref(bytes, keep_streams, limits).map(|(doc, _)| doc)
}

/// [`load_checked`], also giving the `startxref` offset (what the next update's /Prev names).
fn load_with_startxref(
    bytes: &[u8],
    keep_streams: bool,
    limits: &PdfLimits,
) -> Result<(Document, usize), PdfError> {
    precheck(bytes)?;
    let offset = startxref(bytes, limits.max_objects)?;
    let options = lopdf::LoadOptions {
        max_decompressed_size: Some(MAX_DECOMPRESSED),
        filter: if keep_streams {
            None
        } else {
            Some(drop_stream_data)
        },
        ..Default::default()
    };
    let doc = match Document::load_mem_with_options(bytes, options) {
        Ok(d) => d,
        Err(e) => {
            let text = e.to_string().to_lowercase();
            return Err(
                if text.contains("decrypt") || text.contains("encrypt") || text.contains("password")
                {
                    PdfError::Encrypted
                } else {
                    malformed(format!("the PDF cannot be read: {e}"))
                },
            );
        }
    };
    if doc.trailer.has(b"Encrypt") || doc.encryption_state.is_some() {
        return Err(PdfError::Encrypted);
    }
    if doc.xref_recovery.is_some() {
        return Err(malformed(
            "the cross-reference data is damaged (a viewer would have to repair the file)",
        ));
    }
    if doc.objects.len() > limits.max_objects {
        return Err(too_many_objects(limits.max_objects));
    }
    Ok((doc, offset))
}

fn inspect(bytes: &[u8], page: Option<u32>, limits: &PdfLimits) -> Result<Inspected, PdfError> {
    let (doc, prev_startxref) = load_with_startxref(bytes, false, limits)?;
    let root = doc
        .trailer
        .get(b"Root")
        .and_then(Object::as_reference)
        .map_err(|_| malformed("the trailer has no /Root"))?;
    let catalog = doc
        .get_dictionary(root)
        .map_err(|_| malformed("the catalog is missing"))?
        .clone();
    if let Some(p) = docmdp_permission(&doc, &catalog) {
        if p == 1 {
            return Err(PdfError::CertifiedNoChanges);
        }
    }
    let all = pages(&doc, &catalog)?;
    let index = match page {
        None => all.len(),
        Some(p) if p >= 1 && (p as usize) <= all.len() => p as usize,
        Some(p) => {
            return Err(PdfError::BadOption(format!(
                "page {p} does not exist; the document has {} pages",
                all.len()
            )))
        }
    };
    let page_id = all[index - 1];
    let page_dict = doc
        .get_dictionary(page_id)
        .map_err(|_| malformed("the page is missing"))?;
    let media = inherited(&doc, page_dict, b"MediaBox")
        .and_then(|o| rect(&doc, o))
        .unwrap_or([0.0, 0.0, 595.0, 842.0]);
    let crop = inherited(&doc, page_dict, b"CropBox")
        .and_then(|o| rect(&doc, o))
        .unwrap_or(media);
    let rotate = inherited(&doc, page_dict, b"Rotate")
        .and_then(|o| o.as_i64().ok())
        .unwrap_or(0)
        .rem_euclid(360);
    let empty_fields = empty_signature_fields(&doc, &catalog);
    let xref_stream = matches!(
        doc.reference_table.cross_reference_type,
        lopdf::xref::XrefType::CrossReferenceStream
    );
    Ok(Inspected {
        prev_startxref,
        xref_stream,
        root,
        page: page_id,
        crop,
        rotate,
        empty_fields,
        doc,
    })
}

fn pdf_string(s: &str) -> Object {
    // Text strings as UTF-16BE with BOM (ISO 32000 §7.9.2.2), which covers CJK.
    let mut bytes = vec![0xFE, 0xFF];
    for unit in s.encode_utf16() {
        bytes.extend_from_slice(&unit.to_be_bytes());
    }
    Object::String(bytes, lopdf::StringFormat::Hexadecimal)
}

fn serialize(object: &Object) -> Result<Vec<u8>, PdfError> {
    let mut out = Vec::new();
    lopdf::Writer::write_object(&mut out, object)
        .map_err(|e| malformed(format!("cannot write an object: {e}")))?;
    Ok(out)
}

/// What the caller supplies to sign the byte ranges: returns the DER CMS.
pub type SignFn<'a> = dyn FnOnce(&[u8; 32]) -> Result<Vec<u8>, PdfError> + 'a;

/// Options of one sealing.
pub struct SealRequest<'a> {
    pub placement: Placement,
    pub field_name: String,
    pub seal_name: &'a str,
    /// Drawn in the appearance: the department's name and the seal's kind.
    pub department_name: &'a str,
    pub kind: &'a str,
    /// The department's own image instead of the generated seal.
    pub image: Option<&'a super::image::Image>,
    pub reason: Option<&'a str>,
    pub location: Option<&'a str>,
    /// `D:YYYYMMDDHHmmSS+00'00'`.
    pub signing_time: String,
    /// Bytes reserved for the DER CMS (hex doubles it).
    pub reserve: usize,
    /// A document time-stamp (`/ETSI.RFC3161`, invisible, `sign` returns the token) instead of
    /// an approval signature.
    pub doc_timestamp: bool,
    pub limits: PdfLimits,
}

/// The outcome: the incremental update to append to the original, and whether the seal is
/// visible.
pub struct Sealed {
    /// The sealed file is the original followed by these bytes.
    pub update: Vec<u8>,
    /// SHA-256 of the whole sealed file.
    pub sha256: [u8; 32],
    pub visible: bool,
}

/// Seals `original` with one approval signature in an incremental update. `original_digest`
/// is a SHA-256 context that has hashed exactly `original` (done while it was received).
pub fn seal(
    original: &[u8],
    original_digest: ring::digest::Context,
    request: SealRequest<'_>,
    sign: Box<SignFn<'_>>,
) -> Result<Sealed, PdfError> {
    let ins = inspect(original, request.placement.page, &request.limits)?;
    let doc = &ins.doc;
    let certified = {
        let catalog = doc
            .get_dictionary(ins.root)
            .map_err(|_| malformed("catalog"))?;
        docmdp_permission(doc, catalog).is_some()
    };
    // A new visible field after a DocMDP certification counts as a disallowed change for
    // pyHanko and Adobe: a certified document gets its first empty signature field filled, or
    // else an invisible seal.
    let fill = if certified && !request.doc_timestamp {
        ins.empty_fields.first().copied()
    } else {
        None
    };
    let visible = request.placement.visible
        && !request.doc_timestamp
        && match fill {
            Some((_, [x0, y0, x1, y1])) => x1 - x0 >= 1.0 && y1 - y0 >= 1.0,
            None => !certified,
        };
    let size = doc.reference_table.size.max(
        doc.trailer
            .get(b"Size")
            .ok()
            .and_then(|s| s.as_i64().ok())
            .unwrap_or(0) as u32,
    );
    let sig_id = size;
    let mut next = size + 1;
    let mut new_id = || {
        next += 1;
        next - 1
    };
    let ap_id = if visible { new_id() } else { 0 };
    let field_id = match fill {
        Some((id, _)) => id.0,
        None => new_id(),
    };

    // Placement: (x, y) from the crop box's lower-left corner, in the page's displayed
    // orientation; converted to default user space for rotated pages.
    let side = request.placement.width;
    let [cx0, cy0, cx1, cy1] = ins.crop;
    let (px, py) = (request.placement.x, request.placement.y);
    let (w, h) = (cx1 - cx0, cy1 - cy0);
    let (llx, lly) = match ins.rotate {
        90 => (cx0 + w - py - side, cy0 + px),
        180 => (cx0 + w - px - side, cy0 + h - py - side),
        270 => (cx0 + py, cy0 + h - px - side),
        _ => (cx0 + px, cy0 + py),
    };
    let rect = if visible {
        vec![
            llx.into(),
            lly.into(),
            (llx + side).into(),
            (lly + side).into(),
        ]
    } else {
        vec![0.into(), 0.into(), 0.into(), 0.into()]
    };

    let mut objects: Vec<(u32, Vec<u8>)> = Vec::new();
    // The widget annotation merged with its signature field: a new one, or the empty field
    // being filled.
    let mut field = match fill {
        Some((id, _)) => doc
            .get_dictionary(id)
            .map_err(|_| malformed("signature field"))?
            .clone(),
        None => {
            let mut field = Dictionary::new();
            field.set("Type", Object::Name(b"Annot".to_vec()));
            field.set("Subtype", Object::Name(b"Widget".to_vec()));
            field.set("FT", Object::Name(b"Sig".to_vec()));
            field.set("T", pdf_string(&request.field_name));
            field.set("P", Object::Reference(ins.page));
            field.set("Rect", Object::Array(rect));
            field.set("F", Object::Integer(132)); // Print + Locked
            field
        }
    };
    field.set("V", Object::Reference((sig_id, 0)));
    if visible {
        let mut ap = Dictionary::new();
        ap.set("N", Object::Reference((ap_id, 0)));
        field.set("AP", Object::Dictionary(ap));
        let (box_w, box_h, rotate) = match fill {
            Some((_, [x0, y0, x1, y1])) => (x1 - x0, y1 - y0, 0),
            None => (side, side, ins.rotate),
        };
        let mut xobject = Dictionary::new();
        let mut deflated = false;
        let content = match request.image {
            None => {
                let ops = super::appearance::pdf_operators_deflated(
                    box_w,
                    box_h,
                    request.department_name,
                    request.kind,
                );
                if !ops.is_empty() {
                    deflated = true;
                    xobject.set("Filter", Object::Name(b"FlateDecode".to_vec()));
                }
                if deflated {
                    ops.to_vec()
                } else {
                    super::appearance::pdf_operators(
                        box_w,
                        box_h,
                        request.department_name,
                        request.kind,
                    )
                }
            }
            Some(image) => {
                // The department's own image, as large as fits, centred, aspect kept.
                let img_id = new_id();
                let (iw, ih) = (f64::from(image.width), f64::from(image.height));
                let k = (box_w / iw).min(box_h / ih);
                let (dw, dh) = (iw * k, ih * k);
                let mut img = image_xobject(image.width, image.height, b"DeviceRGB");
                if let Some(alpha) = &image.alpha {
                    let mask_id = new_id();
                    let mask = image_xobject(image.width, image.height, b"DeviceGray");
                    objects.push((mask_id, compressed_stream(mask, alpha.clone())?));
                    img.set("SMask", Object::Reference((mask_id, 0)));
                }
                objects.push((img_id, compressed_stream(img, image.rgb.clone())?));
                let mut xobjects = Dictionary::new();
                xobjects.set("Im0", Object::Reference((img_id, 0)));
                let mut resources = Dictionary::new();
                resources.set("XObject", Object::Dictionary(xobjects));
                xobject.set("Resources", Object::Dictionary(resources));
                format!(
                    "q {dw:.3} 0 0 {dh:.3} {:.3} {:.3} cm /Im0 Do Q\n",
                    (box_w - dw) / 2.0,
                    (box_h - dh) / 2.0
                )
                .into_bytes()
            }
        };
        xobject.set("Type", Object::Name(b"XObject".to_vec()));
        xobject.set("Subtype", Object::Name(b"Form".to_vec()));
        xobject.set(
            "BBox",
            Object::Array(vec![0.into(), 0.into(), box_w.into(), box_h.into()]),
        );
        // Counter-rotate so the seal stands upright on a rotated page.
        if rotate != 0 {
            let (m, tx, ty) = match rotate {
                90 => ([0.0, 1.0, -1.0, 0.0], side, 0.0),
                180 => ([-1.0, 0.0, 0.0, -1.0], side, side),
                _ => ([0.0, -1.0, 1.0, 0.0], 0.0, side),
            };
            xobject.set(
                "Matrix",
                Object::Array(vec![
                    m[0].into(),
                    m[1].into(),
                    m[2].into(),
                    m[3].into(),
                    tx.into(),
                    ty.into(),
                ]),
            );
        }
        let mut stream = lopdf::Stream::new(xobject, content);
        if !deflated {
            let _ = stream.compress();
        }
        objects.push((ap_id, serialize(&Object::Stream(stream))?));
    }
    objects.push((field_id, serialize(&Object::Dictionary(field))?));

    let mut catalog = doc
        .get_dictionary(ins.root)
        .map_err(|_| malformed("catalog"))?
        .clone();
    let (mut form, form_id) = match catalog.get(b"AcroForm") {
        Ok(Object::Reference(id)) => (
            doc.get_dictionary(*id).cloned().unwrap_or_default(),
            Some(*id),
        ),
        Ok(Object::Dictionary(d)) => (d.clone(), None),
        _ => (Dictionary::new(), None),
    };
    let sig_flags_set = form.get(b"SigFlags").and_then(Object::as_i64).ok() == Some(3);
    if fill.is_none() {
        // The page, with the widget in /Annots.
        let mut page = doc
            .get_dictionary(ins.page)
            .map_err(|_| malformed("page"))?
            .clone();
        let mut annots: Vec<Object> = array_of(doc, &page, b"Annots");
        annots.push(Object::Reference((field_id, 0)));
        page.set("Annots", Object::Array(annots));
        objects.push((ins.page.0, serialize(&Object::Dictionary(page))?));
        let mut fields: Vec<Object> = array_of(doc, &form, b"Fields");
        fields.push(Object::Reference((field_id, 0)));
        form.set("Fields", Object::Array(fields));
    }
    // The AcroForm: our field added, SigFlags = SignaturesExist | AppendOnly.
    if fill.is_none() || !sig_flags_set {
        form.set("SigFlags", Object::Integer(3));
        match form_id {
            Some(id) => objects.push((id.0, serialize(&Object::Dictionary(form))?)),
            None => {
                catalog.set("AcroForm", Object::Dictionary(form));
                objects.push((ins.root.0, serialize(&Object::Dictionary(catalog))?));
            }
        }
    }

    // The signature dictionary, with fixed-width placeholders for /ByteRange and /Contents.
    let byte_range_placeholder = format!("[0 {:>10} {:>10} {:>10}]", 0, 0, 0);
    let mut sig = Vec::new();
    sig.extend_from_slice(if request.doc_timestamp {
        // A document time-stamp (ISO 32000-2 §12.8.5, PAdES B-LTA): the token itself.
        b"<< /Type /DocTimeStamp /Filter /Adobe.PPKLite /SubFilter /ETSI.RFC3161 /ByteRange "
    } else {
        b"<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached /ByteRange "
    });
    sig.extend_from_slice(byte_range_placeholder.as_bytes());
    sig.extend_from_slice(b" /Contents <");
    let contents_hex_at = sig.len();
    sig.extend(std::iter::repeat_n(b'0', request.reserve * 2));
    sig.extend_from_slice(b">");
    if request.doc_timestamp {
        sig.extend_from_slice(b" >>");
    } else {
        signature_details(&mut sig, &request)?;
    }
    objects.push((sig_id, sig));
    objects.sort_by_key(|(n, _)| *n);

    // Write the update; offsets in the file are `base` plus offsets in `out`.
    let base = original.len();
    let mut out = Vec::new();
    if !original.ends_with(b"\n") {
        out.push(b'\n');
    }
    let mut offsets: Vec<(u32, usize)> = Vec::new();
    let mut contents_at = 0usize;
    let mut byte_range_at = 0usize;
    for (num, body) in &objects {
        offsets.push((*num, base + out.len()));
        writeln!(out, "{num} 0 obj").map_err(|_| PdfError::Signing)?;
        if *num == sig_id {
            byte_range_at = out.len() + find(body, b"/ByteRange ").unwrap_or(0) + 11;
            contents_at = out.len() + contents_hex_at - 1; // the '<'
        }
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    finish_update(&mut out, base, offsets, &ins, next)?;

    // ByteRange: everything but the /Contents hex string (ISO 32000 §12.8.1). `contents_at`
    // and `byte_range_at` are offsets in `out`.
    let hex_start = contents_at;
    let hex_end = contents_at + 2 + request.reserve * 2;
    let ranges = format!(
        "[0 {:>10} {:>10} {:>10}]",
        base + hex_start,
        base + hex_end,
        out.len() - hex_end
    );
    out[byte_range_at..byte_range_at + ranges.len()].copy_from_slice(ranges.as_bytes());
    let mut ctx = original_digest.clone();
    ctx.update(&out[..hex_start]);
    ctx.update(&out[hex_end..]);
    let mut digest = [0u8; 32];
    digest.copy_from_slice(ctx.finish().as_ref());
    let cms = sign(&digest)?;
    if cms.len() > request.reserve {
        return Err(PdfError::Signing);
    }
    let hex = hex::encode_upper(&cms);
    out[hex_start + 1..hex_start + 1 + hex.len()].copy_from_slice(hex.as_bytes());
    let mut whole = original_digest;
    whole.update(&out);
    let mut sha256 = [0u8; 32];
    sha256.copy_from_slice(whole.finish().as_ref());
    Ok(Sealed {
        update: out,
        sha256,
        visible,
    })
}

/// Validation material for the Document Security Store (ETSI EN 319 142-1 §5.4, PAdES B-LT).
#[derive(Debug, Default, Clone)]
pub struct Validation {
    pub certs: Vec<Vec<u8>>,
    pub crls: Vec<Vec<u8>>,
    pub ocsps: Vec<Vec<u8>>,
}

/// An incremental update adding a `/DSS` dictionary (kept and extended if the document has
/// one) with the certificates, CRLs and OCSP responses given, each a stream of its DER.
pub fn add_dss(
    document: &[u8],
    validation: &Validation,
    limits: &PdfLimits,
) -> Result<Vec<u8>, PdfError> {
    let ins = inspect(document, Some(1), limits)?;
    let doc = &ins.doc;
    let size = doc.reference_table.size.max(
        doc.trailer
            .get(b"Size")
            .ok()
            .and_then(|s| s.as_i64().ok())
            .unwrap_or(0) as u32,
    );
    let mut next = size;
    let mut objects: Vec<(u32, Vec<u8>)> = Vec::new();
    let mut catalog = doc
        .get_dictionary(ins.root)
        .map_err(|_| malformed("catalog"))?
        .clone();
    // An existing DSS is extended, not replaced.
    let mut dss = match catalog.get(b"DSS") {
        Ok(Object::Reference(id)) => doc.get_dictionary(*id).cloned().unwrap_or_default(),
        Ok(Object::Dictionary(d)) => d.clone(),
        _ => Dictionary::new(),
    };
    for (key, items) in [
        (&b"Certs"[..], &validation.certs),
        (&b"CRLs"[..], &validation.crls),
        (&b"OCSPs"[..], &validation.ocsps),
    ] {
        let mut refs: Vec<Object> = array_of(doc, &dss, key);
        for der in items {
            objects.push((next, compressed_stream(Dictionary::new(), der.clone())?));
            refs.push(Object::Reference((next, 0)));
            next += 1;
        }
        dss.set(key, Object::Array(refs));
    }
    dss.set("Type", Object::Name(b"DSS".to_vec()));
    objects.push((next, serialize(&Object::Dictionary(dss))?));
    catalog.set("DSS", Object::Reference((next, 0)));
    next += 1;
    objects.push((ins.root.0, serialize(&Object::Dictionary(catalog))?));
    objects.sort_by_key(|(n, _)| *n);

    let base = document.len();
    let mut out = Vec::new();
    if !document.ends_with(b"\n") {
        out.push(b'\n');
    }
    let mut offsets = Vec::with_capacity(objects.len());
    for (num, body) in &objects {
        offsets.push((*num, base + out.len()));
        writeln!(out, "{num} 0 obj").map_err(|_| PdfError::Signing)?;
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    finish_update(&mut out, base, offsets, &ins, next)?;
    Ok(out)
}

/// `/M`, `/Name`, `/Reason` and `/Location` of an approval signature, and the closing `>>`.
fn signature_details(sig: &mut Vec<u8>, request: &SealRequest<'_>) -> Result<(), PdfError> {
    sig.extend_from_slice(b" /M ");
    sig.extend(serialize(&Object::String(
        request.signing_time.clone().into_bytes(),
        lopdf::StringFormat::Literal,
    ))?);
    sig.extend_from_slice(b" /Name ");
    sig.extend(serialize(&pdf_string(request.seal_name))?);
    if let Some(r) = request.reason {
        sig.extend_from_slice(b" /Reason ");
        sig.extend(serialize(&pdf_string(r))?);
    }
    if let Some(l) = request.location {
        sig.extend_from_slice(b" /Location ");
        sig.extend(serialize(&pdf_string(l))?);
    }
    sig.extend_from_slice(b" >>");
    Ok(())
}

/// Appends the cross-reference section of an update (a table or a stream, as the file uses)
/// and its trailer. `offsets` are the absolute offsets of the objects written; `next` is the
/// first unused object number.
fn finish_update(
    out: &mut Vec<u8>,
    base: usize,
    mut offsets: Vec<(u32, usize)>,
    ins: &Inspected,
    mut next: u32,
) -> Result<(), PdfError> {
    let mut trailer = Dictionary::new();
    trailer.set("Root", Object::Reference(ins.root));
    if let Ok(info) = ins.doc.trailer.get(b"Info") {
        trailer.set("Info", info.clone());
    }
    if let Ok(id) = ins.doc.trailer.get(b"ID") {
        trailer.set("ID", id.clone());
    }
    trailer.set("Prev", Object::Integer(ins.prev_startxref as i64));
    let xref_at;
    if ins.xref_stream {
        let xref_id = next;
        next += 1;
        xref_at = base + out.len();
        offsets.push((xref_id, xref_at));
        offsets.sort();
        trailer.set("Type", Object::Name(b"XRef".to_vec()));
        trailer.set("Size", Object::Integer(i64::from(next)));
        let mut index = Vec::new();
        let mut data = Vec::new();
        for run in runs(&offsets) {
            index.push(Object::Integer(i64::from(run[0].0)));
            index.push(Object::Integer(run.len() as i64));
            for (_, off) in run {
                data.push(1u8);
                data.extend_from_slice(&(off as u32).to_be_bytes());
                data.extend_from_slice(&0u16.to_be_bytes());
            }
        }
        trailer.set("Index", Object::Array(index));
        trailer.set("W", Object::Array(vec![1.into(), 4.into(), 2.into()]));
        let stream = lopdf::Stream::new(trailer, data);
        writeln!(out, "{xref_id} 0 obj").map_err(|_| PdfError::Signing)?;
        out.extend(serialize(&Object::Stream(stream))?);
        out.extend_from_slice(b"\nendobj\n");
    } else {
        xref_at = base + out.len();
        out.extend_from_slice(b"xref\n");
        for run in runs(&offsets) {
            writeln!(out, "{} {}", run[0].0, run.len()).map_err(|_| PdfError::Signing)?;
            for (_, off) in run {
                write!(out, "{off:010} 00000 n\r\n").map_err(|_| PdfError::Signing)?;
            }
        }
        trailer.set("Size", Object::Integer(i64::from(next)));
        out.extend_from_slice(b"trailer\n");
        out.extend(serialize(&Object::Dictionary(trailer))?);
        out.push(b'\n');
    }
    write!(out, "startxref\n{xref_at}\n%%EOF\n").map_err(|_| PdfError::Signing)?;
    Ok(())
}

/// Contiguous runs of object numbers, for xref subsections.
fn runs(offsets: &[(u32, usize)]) -> Vec<Vec<(u32, usize)>> {
    let mut out: Vec<Vec<(u32, usize)>> = Vec::new();
    for &(n, off) in offsets {
        match out.last_mut() {
            Some(run) if run.last().is_some_and(|(m, _)| m + 1 == n) => run.push((n, off)),
            _ => out.push(vec![(n, off)]),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precheck_refuses_what_is_not_a_pdf() {
        assert!(precheck(b"\xff\xd8\xff\xe0 JFIF").is_err());
        assert!(precheck(b"%PDF-1.4\n1 0 obj << >> endobj\n").is_err());
        let deep = format!(
            "%PDF-1.4\n1 0 obj {} endobj\nstartxref\n9\n%%EOF\n",
            "<<".repeat(10_000)
        );
        assert!(
            matches!(precheck(deep.as_bytes()), Err(PdfError::Malformed(m)) if m.contains("nested"))
        );
        let fine = b"%PDF-1.4\n1 0 obj << /A [1 (a)b(c) <</B 2>>] >> endobj\nstartxref\n9\n%%EOF\n";
        assert!(precheck(fine).is_ok());
    }

    /// A one-page PDF written by lopdf.
    fn small_pdf(object_streams: bool) -> Vec<u8> {
        use lopdf::dictionary;
        let mut doc = Document::with_version("1.5");
        let pages_id = doc.new_object_id();
        let page = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "MediaBox" => vec![0.into(), 0.into(), 200.into(), 200.into()],
        });
        doc.objects.insert(
            pages_id,
            Object::Dictionary(
                dictionary! {"Type" => "Pages", "Kids" => vec![page.into()], "Count" => 1},
            ),
        );
        let catalog = doc.add_object(dictionary! {"Type" => "Catalog", "Pages" => pages_id});
        doc.trailer.set("Root", catalog);
        let mut out = Vec::new();
        if object_streams {
            doc.save_modern(&mut out).unwrap();
        } else {
            doc.save_to(&mut out).unwrap();
        }
        out
    }

    fn seal_it(pdf: &[u8]) -> Result<Sealed, PdfError> {
        seal_with(pdf, PdfLimits::default())
    }

    fn seal_with(pdf: &[u8], limits: PdfLimits) -> Result<Sealed, PdfError> {
        let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
        digest.update(pdf);
        seal(
            pdf,
            digest,
            SealRequest {
                placement: Placement {
                    page: None,
                    x: 10.0,
                    y: 10.0,
                    width: 100.0,
                    visible: true,
                },
                field_name: "Seal-1".into(),
                seal_name: "test",
                department_name: "福州市人民政府",
                kind: "official",
                image: None,
                reason: None,
                location: None,
                signing_time: "D:20260101000000+00'00'".into(),
                reserve: 64,
                doc_timestamp: false,
                limits,
            },
            Box::new(|_| Ok(vec![0x30, 0x03, 0x02, 0x01, 0x01])),
        )
    }

    #[test]
    fn an_absurd_object_count_is_refused_before_loading() {
        let pdf = small_pdf(false);
        let prev = startxref(&pdf, MAX_OBJECTS).unwrap();
        let mut big = pdf.clone();
        let at = big.len();
        big.extend_from_slice(
            format!("xref\n0 1\n0000000000 65535 f\r\ntrailer\n<< /Size 3000000 /Root 3 0 R /Prev {prev} >>\nstartxref\n{at}\n%%EOF\n")
                .as_bytes(),
        );
        assert!(matches!(seal_it(&big), Err(PdfError::Malformed(m)) if m.contains("objects")));
    }

    #[test]
    fn the_object_limit_is_configurable() {
        let pdf = small_pdf(false);
        let held = load_checked(&pdf, false, &PdfLimits::default())
            .unwrap()
            .objects
            .len();
        let at = |max_objects| PdfLimits {
            max_objects,
            ..PdfLimits::default()
        };
        assert!(seal_with(&pdf, at(held + 1)).is_ok());
        // The trailer declares (or the file holds) more than allowed.
        assert!(matches!(
            seal_with(&pdf, at(held - 1)),
            Err(PdfError::Malformed(m)) if m.contains(&format!("more than {} objects", held - 1))
        ));
    }

    #[test]
    fn a_looping_prev_chain_is_refused() {
        let pdf = small_pdf(false);
        assert!(seal_it(&pdf).is_ok());
        // Append an update whose trailer's /Prev points at itself.
        let mut looped = pdf.clone();
        let at = looped.len();
        looped.extend_from_slice(
            format!("xref\n0 1\n0000000000 65535 f\r\ntrailer\n<< /Size 4 /Root 3 0 R /Prev {at} >>\nstartxref\n{at}\n%%EOF\n")
                .as_bytes(),
        );
        let err = seal_it(&looped).err().unwrap();
        assert!(
            matches!(&err, PdfError::Malformed(m) if m.contains("loops")),
            "{err:?}"
        );
        // A /Prev into the middle of nowhere.
        let mut wild = pdf.clone();
        let at = wild.len();
        wild.extend_from_slice(
            format!("xref\n0 1\n0000000000 65535 f\r\ntrailer\n<< /Size 4 /Root 3 0 R /Prev 3 >>\nstartxref\n{at}\n%%EOF\n")
                .as_bytes(),
        );
        assert!(
            matches!(seal_it(&wild), Err(PdfError::Malformed(m)) if m.contains("does not point"))
        );
    }

    #[test]
    fn nesting_inside_a_compressed_object_stream_is_bounded() {
        use std::io::Write as _;
        let body = format!("2 0 {}", "[".repeat(100_000));
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(body.as_bytes()).unwrap();
        let data = z.finish().unwrap();
        let mut pdf = format!(
            "%PDF-1.5\n1 0 obj\n<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length {} >>\nstream\n",
            data.len()
        )
        .into_bytes();
        pdf.extend_from_slice(&data);
        pdf.extend_from_slice(b"\nendstream\nendobj\nstartxref\n9\n%%EOF\n");
        assert!(
            matches!(precheck(&pdf), Err(PdfError::Malformed(m)) if m.contains("nested")),
            "the depth inside the object stream is seen"
        );
        // A real file with object streams passes, and seals.
        let modern = small_pdf(true);
        assert!(precheck(&modern).is_ok());
        let sealed = seal_it(&modern).unwrap();
        assert!(sealed.visible);
    }

    #[test]
    fn the_update_follows_the_original_and_the_hash_covers_both() {
        let pdf = small_pdf(false);
        let sealed = seal_it(&pdf).unwrap();
        let mut whole = pdf.clone();
        whole.extend_from_slice(&sealed.update);
        assert_eq!(
            ring::digest::digest(&ring::digest::SHA256, &whole).as_ref(),
            &sealed.sha256[..]
        );
        let text = String::from_utf8_lossy(&sealed.update);
        assert!(text.contains(&format!("/Prev {}", startxref(&pdf, MAX_OBJECTS).unwrap())));
        // The sealed file parses, and its appearance stream is compressed.
        assert!(Document::load_mem(&whole).is_ok());
        assert!(text.contains("/FlateDecode"));
    }
}
