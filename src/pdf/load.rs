//! Loading untrusted bytes into a `lopdf::Document` after the raw checks of [`super::scan`].

use lopdf::{Document, Object, ObjectId};

use super::scan::{precheck_within, startxref, Budget};
use super::{malformed, too_many_objects, PdfError, PdfLimits, MAX_DECOMPRESSED};

/// Load filter: the sealer never reads stream data other than object streams (which lopdf
/// unpacks), so each stream's data is dropped as soon as it is read and memory stays near
/// the size of the file's structure, not of its images and page contents. (One byte is kept:
/// lopdf re-reads empty streams.) lopdf keeps the object edited in place for objects at the
/// top level and the returned copy for members of object streams.
///
/// A stream is never a member of an object stream (ISO 32000 §7.5.7), so a stream is at the
/// top level, where the returned copy is discarded: a placeholder is returned instead of a
/// copy of its dictionary.
pub fn drop_stream_data(id: ObjectId, object: &mut Object) -> Option<(ObjectId, Object)> {
    if let Object::Stream(stream) = object {
        if !stream.dict.has_type(b"ObjStm") {
            stream.content = vec![b' '];
        }
        return Some((id, Object::Null));
    }
    Some((id, object.clone()))
}

/// Loads untrusted bytes after the structural checks (nesting, xref chain, encryption,
/// repair). With `keep_streams` false, stream data is dropped while loading.
pub fn load_checked(
    bytes: &[u8],
    keep_streams: bool,
    limits: &PdfLimits,
) -> Result<Document, PdfError> {
    load_with_startxref(bytes, keep_streams, limits).map(|(doc, _)| doc)
}

/// [`load_checked`] drawing on `budget`, the decompression budget of the whole document (a
/// verifier loads each revision of one file against the same budget).
pub fn load_within(
    bytes: &[u8],
    limits: &PdfLimits,
    budget: &Budget,
) -> Result<Document, PdfError> {
    load_inner(bytes, true, limits, budget).map(|(doc, _)| doc)
}

/// Loads an earlier revision of a file that [`load_within`] has read whole with the same
/// `budget`: `prefix` must be a prefix of those bytes, so their raw scan (nesting, object and
/// cross-reference streams) already covered it; its own trailer and cross-reference chain are
/// still checked.
pub fn load_revision(
    prefix: &[u8],
    limits: &PdfLimits,
    budget: &Budget,
) -> Result<Document, PdfError> {
    if !budget.covers(prefix) {
        return load_within(prefix, limits, budget);
    }
    super::scan::trailer_check(prefix)?;
    load_parsed(prefix, true, limits).map(|(doc, _)| doc)
}

/// [`load_checked`], also giving the `startxref` offset (what the next update's /Prev names).
pub fn load_with_startxref(
    bytes: &[u8],
    keep_streams: bool,
    limits: &PdfLimits,
) -> Result<(Document, usize), PdfError> {
    load_inner(bytes, keep_streams, limits, &Budget::default())
}

/// The sealer's load of a document in memory: the raw checks of [`load_checked`], then only
/// the objects an update reads ([`super::partial`]) when the file is read the simple way, or
/// else the whole file (`keep_streams` as in [`load_checked`]). The flag says a partial load,
/// which has also checked every stream's `/Length` against its `endstream`.
pub fn load_for_update(
    bytes: &[u8],
    keep_streams: bool,
    limits: &PdfLimits,
) -> Result<(Document, usize, bool), PdfError> {
    precheck_within(bytes, &Budget::default())?;
    let offset = startxref(bytes, limits.max_objects)?;
    if let Some(doc) = super::partial::document(bytes, limits) {
        return Ok((doc, offset, true));
    }
    load_parsed(bytes, keep_streams, limits).map(|(doc, offset)| (doc, offset, false))
}

fn load_inner(
    bytes: &[u8],
    keep_streams: bool,
    limits: &PdfLimits,
    budget: &Budget,
) -> Result<(Document, usize), PdfError> {
    precheck_within(bytes, budget)?;
    load_parsed(bytes, keep_streams, limits)
}

/// The load proper, after the raw scan.
fn load_parsed(
    bytes: &[u8],
    keep_streams: bool,
    limits: &PdfLimits,
) -> Result<(Document, usize), PdfError> {
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
