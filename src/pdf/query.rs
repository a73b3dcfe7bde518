//! Queries on a loaded document: numbers and rectangles, inherited page attributes, the page
//! tree, arrays written inline or by reference, DocMDP, and empty signature fields.

use lopdf::{Dictionary, Document, Object, ObjectId};

use super::{malformed, PdfError, MAX_PAGES, MAX_TREE_DEPTH};

pub fn number(o: &Object) -> Option<f64> {
    match o {
        // Coordinates beyond 32 bits are not coordinates.
        Object::Integer(i) => i32::try_from(*i).ok().map(f64::from),
        Object::Real(r) => Some(f64::from(*r)),
        _ => None,
    }
}

pub fn rect(doc: &Document, o: &Object) -> Option<[f64; 4]> {
    let arr = match o {
        Object::Reference(id) => doc.get_object(*id).ok()?.as_array().ok()?,
        other => other.as_array().ok()?,
    };
    if arr.len() != 4 {
        return None;
    }
    let v: Vec<f64> = arr.iter().filter_map(number).collect();
    match v.as_slice() {
        &[x1, y1, x2, y2] => Some([x1.min(x2), y1.min(y2), x1.max(x2), y1.max(y2)]),
        _ => None,
    }
}

/// An inherited page attribute (ISO 32000 §7.7.3.4), walking /Parent a bounded number of times.
pub fn inherited<'a>(doc: &'a Document, page: &'a Dictionary, key: &[u8]) -> Option<&'a Object> {
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

/// The array under `key` of `dict`, written inline or as a reference; empty when absent.
pub fn array_of(doc: &Document, dict: &Dictionary, key: &[u8]) -> Vec<Object> {
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
pub fn pages(doc: &Document, root: &Dictionary) -> Result<Vec<ObjectId>, PdfError> {
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
                stack.push((kid, depth.saturating_add(1)));
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
pub fn docmdp_permission(doc: &Document, root: &Dictionary) -> Option<i64> {
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

/// The AcroForm's signature fields that are not signed yet (no `/V`), walking `/Kids` with a
/// bound, with each one's widget rectangle (zero for an invisible one).
pub fn empty_signature_fields(doc: &Document, catalog: &Dictionary) -> Vec<(ObjectId, [f64; 4])> {
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

/// Offsets of the streams whose declared `/Length` does not end at `endstream` (see
/// [`super::scan::length_mismatches`]), resolving indirect lengths in `doc`.
pub fn bad_stream_lengths(bytes: &[u8], doc: &Document) -> Vec<usize> {
    use super::scan::StreamLength;
    super::scan::length_mismatches(bytes, &|l| match l {
        StreamLength::Direct(n) => Some(n),
        StreamLength::Indirect(n, g) => doc
            .get_object((n, g))
            .ok()?
            .as_i64()
            .ok()
            .and_then(|v| usize::try_from(v).ok()),
    })
}
