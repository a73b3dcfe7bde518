//! Sealing PDFs (PAdES baseline B-B and B-T, ETSI EN 319 142-1; ISO 32000 §12.8): an
//! incremental update that keeps the original bytes as a prefix and adds a signature field
//! (visible or not), its signature dictionary with a detached CAdES signature over the
//! `/ByteRange`, and a new version of the page and of the AcroForm.
//!
//! The input is read with the one reader for untrusted PDFs, [`crate::pdf`].

use std::io::Write;

use lopdf::{Dictionary, Document, Object, ObjectId};

use crate::pdf::load::{load_for_update, load_with_startxref};
use crate::pdf::malformed;
use crate::pdf::query::{
    array_of, docmdp_permission, empty_signature_fields, inherited, pages, rect,
};
use crate::pdf::scan::find;
use crate::pdf::write::{
    compressed_stream, finish_update, image_xobject, pdf_string, serialize, Tail,
};
pub use crate::pdf::{PdfError, PdfLimits};

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

impl Inspected {
    /// The first object number the update may use: past the xref table and the trailer's
    /// /Size, whichever is larger.
    fn first_free(&self) -> u32 {
        self.doc.reference_table.size.max(
            self.doc
                .trailer
                .get(b"Size")
                .ok()
                .and_then(|s| s.as_i64().ok())
                .and_then(|s| u32::try_from(s).ok())
                .unwrap_or(0),
        )
    }

    fn tail(&self) -> Tail<'_> {
        Tail {
            trailer: &self.doc.trailer,
            root: self.root,
            prev_startxref: self.prev_startxref,
            xref_stream: self.xref_stream,
        }
    }
}

/// The document an update is written for: its bytes, or (a large file on disk) its skeleton
/// ([`crate::pdf::sparse`]) and length.
#[derive(Clone, Copy)]
pub enum Original<'a> {
    Bytes(&'a [u8]),
    Sparse {
        skeleton: &'a crate::pdf::sparse::Skeleton,
        len: usize,
        ends_with_newline: bool,
    },
}

impl Original<'_> {
    fn len(&self) -> usize {
        match self {
            Original::Bytes(b) => b.len(),
            Original::Sparse { len, .. } => *len,
        }
    }

    fn ends_with_newline(&self) -> bool {
        match self {
            Original::Bytes(b) => b.ends_with(b"\n"),
            Original::Sparse {
                ends_with_newline, ..
            } => *ends_with_newline,
        }
    }
}

/// Files up to this size are loaded with their stream data (at most this much more memory
/// per sealing, within the concurrency cap); larger ones without.
const KEEP_STREAMS_UP_TO: usize = 1024 * 1024;

fn inspect(
    original: Original<'_>,
    page: Option<u32>,
    limits: &PdfLimits,
) -> Result<Inspected, PdfError> {
    inspect_with(original, page, limits, true)
}

/// [`inspect`]; with `partial` false, a document in memory is loaded whole (the tests compare
/// the two readers).
fn inspect_with(
    original: Original<'_>,
    page: Option<u32>,
    limits: &PdfLimits,
    partial: bool,
) -> Result<Inspected, PdfError> {
    let (bytes, sparse) = match original {
        Original::Bytes(b) => (b, None),
        Original::Sparse { skeleton, .. } => (&skeleton.bytes[..], Some(skeleton)),
    };
    // Dropping stream data while loading bounds memory for large files, but costs a copy of
    // every object lopdf reads (its filter must return one); a small file's streams are kept.
    let keep_streams = bytes.len() <= KEEP_STREAMS_UP_TO;
    // A document in memory is read partially when it can be (only what the update reads); a
    // skeleton, already small, is loaded whole.
    let (doc, prev_startxref, lengths_checked) = match sparse {
        None if partial => load_for_update(bytes, keep_streams, limits)?,
        _ => {
            let (doc, offset) = load_with_startxref(bytes, keep_streams, limits)?;
            (doc, offset, false)
        }
    };
    let root = doc
        .trailer
        .get(b"Root")
        .and_then(Object::as_reference)
        .map_err(|_| malformed("the trailer has no /Root"))?;
    let catalog = doc
        .get_dictionary(root)
        .map_err(|_| malformed("the catalog is missing"))?
        .clone();
    let bad = if lengths_checked {
        Vec::new()
    } else {
        crate::pdf::query::bad_stream_lengths(bytes, &doc)
    };
    if let Some(first) = bad.first() {
        return Err(malformed(format!(
            "{} stream(s) declare a /Length that does not end at endstream (the first at byte {first}): readers would disagree on what the document shows, so it cannot be sealed",
            bad.len()
        )));
    }
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
    // A skeleton's own cross-reference data is not the original's.
    let (prev_startxref, xref_stream) = sparse.map_or((prev_startxref, xref_stream), |s| {
        (s.startxref, s.xref_stream)
    });
    let ins = Inspected {
        prev_startxref,
        xref_stream,
        root,
        page: page_id,
        crop,
        rotate,
        empty_fields,
        doc,
    };
    // The update numbers its objects from here: past the limit (an entry or /Size near
    // u32::MAX), the numbers would wrap onto the document's own.
    if usize::try_from(ins.first_free()).map_or(true, |n| n > limits.max_objects) {
        return Err(crate::pdf::too_many_objects(limits.max_objects));
    }
    Ok(ins)
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

/// Object numbers for the update's new objects, from the document's size on.
struct Ids {
    next: u32,
}

impl Ids {
    fn take(&mut self) -> u32 {
        self.next += 1;
        self.next - 1
    }
}

/// Where the signature goes: a new field, or (certified documents) the first empty one, and
/// whether it is drawn.
struct FieldPlan {
    fill: Option<(ObjectId, [f64; 4])>,
    visible: bool,
    sig_id: u32,
    ap_id: u32,
    field_id: u32,
}

fn plan_field(
    ins: &Inspected,
    request: &SealRequest<'_>,
    ids: &mut Ids,
) -> Result<FieldPlan, PdfError> {
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
    let sig_id = ids.take();
    let ap_id = if visible { ids.take() } else { 0 };
    let field_id = match fill {
        Some((id, _)) => id.0,
        None => ids.take(),
    };
    Ok(FieldPlan {
        fill,
        visible,
        sig_id,
        ap_id,
        field_id,
    })
}

/// The widget's rectangle: (x, y) from the crop box's lower-left corner, in the page's
/// displayed orientation, converted to default user space for rotated pages; empty when the
/// seal is not drawn.
fn widget_rect(ins: &Inspected, placement: &Placement, visible: bool) -> Vec<Object> {
    if !visible {
        return vec![0.into(), 0.into(), 0.into(), 0.into()];
    }
    let side = placement.width;
    let [cx0, cy0, cx1, cy1] = ins.crop;
    let (px, py) = (placement.x, placement.y);
    let (w, h) = (cx1 - cx0, cy1 - cy0);
    let (llx, lly) = match ins.rotate {
        90 => (cx0 + w - py - side, cy0 + px),
        180 => (cx0 + w - px - side, cy0 + h - py - side),
        270 => (cx0 + py, cy0 + h - px - side),
        _ => (cx0 + px, cy0 + py),
    };
    vec![
        llx.into(),
        lly.into(),
        (llx + side).into(),
        (lly + side).into(),
    ]
}

/// The department's own image as large as fits in the box, centred, aspect kept: its image
/// (and soft-mask) objects go to `objects`, its resources into `xobject`; returns the content.
fn image_content(
    image: &super::image::Image,
    (box_w, box_h): (f64, f64),
    ids: &mut Ids,
    objects: &mut Vec<(u32, Vec<u8>)>,
    xobject: &mut Dictionary,
) -> Result<Vec<u8>, PdfError> {
    let img_id = ids.take();
    let (iw, ih) = (f64::from(image.width), f64::from(image.height));
    let k = (box_w / iw).min(box_h / ih);
    let (dw, dh) = (iw * k, ih * k);
    let mut img = image_xobject(image.width, image.height, b"DeviceRGB");
    if let Some(alpha) = &image.alpha {
        let mask_id = ids.take();
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
    Ok(format!(
        "q {dw:.3} 0 0 {dh:.3} {:.3} {:.3} cm /Im0 Do Q\n",
        (box_w - dw) / 2.0,
        (box_h - dh) / 2.0
    )
    .into_bytes())
}

/// The form matrix that counter-rotates a `side`-wide seal so it stands upright on a page
/// rotated by `rotate` degrees; `None` for an unrotated page.
fn upright(rotate: i64, side: f64) -> Option<Object> {
    let (m, tx, ty) = match rotate {
        0 => return None,
        90 => ([0.0, 1.0, -1.0, 0.0], side, 0.0),
        180 => ([-1.0, 0.0, 0.0, -1.0], side, side),
        _ => ([0.0, -1.0, 1.0, 0.0], 0.0, side),
    };
    Some(Object::Array(vec![
        m[0].into(),
        m[1].into(),
        m[2].into(),
        m[3].into(),
        tx.into(),
        ty.into(),
    ]))
}

/// The appearance stream of a drawn seal (the generated seal, or the department's image as
/// large as fits, centred), counter-rotated to stand upright on a rotated page. Image objects
/// it needs are pushed to `objects`.
fn appearance_stream(
    request: &SealRequest<'_>,
    (box_w, box_h, rotate): (f64, f64, i64),
    ids: &mut Ids,
    objects: &mut Vec<(u32, Vec<u8>)>,
) -> Result<Vec<u8>, PdfError> {
    let side = request.placement.width;
    let mut xobject = Dictionary::new();
    let mut deflated = false;
    let content = match request.image {
        None => {
            let deflated_ops = super::appearance::pdf_operators_deflated(
                box_w,
                box_h,
                request.department_name,
                request.kind,
            );
            deflated = !deflated_ops.is_empty();
            if deflated {
                xobject.set("Filter", Object::Name(b"FlateDecode".to_vec()));
                deflated_ops.to_vec()
            } else {
                super::appearance::pdf_operators(
                    box_w,
                    box_h,
                    request.department_name,
                    request.kind,
                )
            }
        }
        Some(image) => image_content(image, (box_w, box_h), ids, objects, &mut xobject)?,
    };
    xobject.set("Type", Object::Name(b"XObject".to_vec()));
    xobject.set("Subtype", Object::Name(b"Form".to_vec()));
    xobject.set(
        "BBox",
        Object::Array(vec![0.into(), 0.into(), box_w.into(), box_h.into()]),
    );
    if let Some(matrix) = upright(rotate, side) {
        xobject.set("Matrix", matrix);
    }
    let mut stream = lopdf::Stream::new(xobject, content);
    if !deflated {
        let _ = stream.compress();
    }
    serialize(&Object::Stream(stream))
}

/// The widget annotation merged with its signature field (a new one, or the empty field being
/// filled), pointing at the signature and, when drawn, its appearance.
fn field_object(
    ins: &Inspected,
    request: &SealRequest<'_>,
    plan: &FieldPlan,
) -> Result<Dictionary, PdfError> {
    let mut field = match plan.fill {
        Some((id, _)) => ins
            .doc
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
            field.set(
                "Rect",
                Object::Array(widget_rect(ins, &request.placement, plan.visible)),
            );
            field.set("F", Object::Integer(132)); // Print + Locked
            field
        }
    };
    field.set("V", Object::Reference((plan.sig_id, 0)));
    if plan.visible {
        let mut ap = Dictionary::new();
        ap.set("N", Object::Reference((plan.ap_id, 0)));
        field.set("AP", Object::Dictionary(ap));
    }
    Ok(field)
}

/// A new field goes into the page's /Annots and the AcroForm's /Fields; the AcroForm gets
/// SigFlags = SignaturesExist | AppendOnly.
fn form_updates(
    ins: &Inspected,
    plan: &FieldPlan,
    objects: &mut Vec<(u32, Vec<u8>)>,
) -> Result<(), PdfError> {
    let doc = &ins.doc;
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
    if plan.fill.is_none() {
        let mut page = doc
            .get_dictionary(ins.page)
            .map_err(|_| malformed("page"))?
            .clone();
        let mut annots: Vec<Object> = array_of(doc, &page, b"Annots");
        annots.push(Object::Reference((plan.field_id, 0)));
        page.set("Annots", Object::Array(annots));
        objects.push((ins.page.0, serialize(&Object::Dictionary(page))?));
        let mut fields: Vec<Object> = array_of(doc, &form, b"Fields");
        fields.push(Object::Reference((plan.field_id, 0)));
        form.set("Fields", Object::Array(fields));
    }
    if plan.fill.is_none() || !sig_flags_set {
        form.set("SigFlags", Object::Integer(3));
        match form_id {
            Some(id) => objects.push((id.0, serialize(&Object::Dictionary(form))?)),
            None => {
                catalog.set("AcroForm", Object::Dictionary(form));
                objects.push((ins.root.0, serialize(&Object::Dictionary(catalog))?));
            }
        }
    }
    Ok(())
}

/// The signature dictionary with fixed-width placeholders for /ByteRange and /Contents, and
/// where in it the /Contents hex digits start.
fn signature_dictionary(request: &SealRequest<'_>) -> Result<(Vec<u8>, usize), PdfError> {
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
        signature_details(&mut sig, request)?;
    }
    Ok((sig, contents_hex_at))
}

/// Seals `original` with one approval signature in an incremental update. `original_digest`
/// is a SHA-256 context that has hashed exactly `original` (done while it was received).
pub fn seal(
    original: &[u8],
    original_digest: ring::digest::Context,
    request: SealRequest<'_>,
    sign: Box<SignFn<'_>>,
) -> Result<Sealed, PdfError> {
    seal_original(Original::Bytes(original), original_digest, request, sign)
}

/// [`seal`] for a document given as its bytes or as its skeleton.
pub fn seal_original(
    original: Original<'_>,
    original_digest: ring::digest::Context,
    request: SealRequest<'_>,
    sign: Box<SignFn<'_>>,
) -> Result<Sealed, PdfError> {
    let ins = inspect(original, request.placement.page, &request.limits)?;
    update_for(&ins, original, original_digest, request, sign)
}

/// The sealing update for the inspected `original`.
fn update_for(
    ins: &Inspected,
    original: Original<'_>,
    original_digest: ring::digest::Context,
    request: SealRequest<'_>,
    sign: Box<SignFn<'_>>,
) -> Result<Sealed, PdfError> {
    let mut ids = Ids {
        next: ins.first_free(),
    };
    let plan = plan_field(ins, &request, &mut ids)?;
    let mut objects: Vec<(u32, Vec<u8>)> = Vec::new();
    if plan.visible {
        let drawn = match plan.fill {
            Some((_, [x0, y0, x1, y1])) => (x1 - x0, y1 - y0, 0),
            None => (request.placement.width, request.placement.width, ins.rotate),
        };
        let ap = appearance_stream(&request, drawn, &mut ids, &mut objects)?;
        objects.push((plan.ap_id, ap));
    }
    let field = field_object(ins, &request, &plan)?;
    objects.push((plan.field_id, serialize(&Object::Dictionary(field))?));
    form_updates(ins, &plan, &mut objects)?;
    let (sig, contents_hex_at) = signature_dictionary(&request)?;
    objects.push((plan.sig_id, sig));
    objects.sort_by_key(|(n, _)| *n);

    // Write the update; offsets in the file are `base` plus offsets in `out`.
    let base = original.len();
    let mut out = Vec::new();
    if !original.ends_with_newline() {
        out.push(b'\n');
    }
    let mut offsets: Vec<(u32, usize)> = Vec::new();
    let mut contents_at = 0usize;
    let mut byte_range_at = 0usize;
    for (num, body) in &objects {
        offsets.push((*num, base + out.len()));
        writeln!(out, "{num} 0 obj").map_err(|_| PdfError::Signing)?;
        if *num == plan.sig_id {
            byte_range_at = out.len() + find(body, b"/ByteRange ").unwrap_or(0) + 11;
            contents_at = out.len() + contents_hex_at - 1; // the '<'
        }
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    finish_update(&mut out, base, offsets, &ins.tail(), ids.next)?;
    let sha256 = sign_in_place(
        &mut out,
        original_digest,
        base,
        (byte_range_at, contents_at),
        request.reserve,
        sign,
    )?;
    Ok(Sealed {
        update: out,
        sha256,
        visible: plan.visible,
    })
}

/// Fills in the /ByteRange (everything but the /Contents hex string, ISO 32000 §12.8.1) and
/// the signature over those bytes; returns the SHA-256 of the whole sealed file. Offsets are in
/// `out`, which follows `base` bytes of the original.
fn sign_in_place(
    out: &mut [u8],
    original_digest: ring::digest::Context,
    base: usize,
    (byte_range_at, contents_at): (usize, usize),
    reserve: usize,
    sign: Box<SignFn<'_>>,
) -> Result<[u8; 32], PdfError> {
    let hex_start = contents_at;
    let hex_end = contents_at + 2 + reserve * 2;
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
    if cms.len() > reserve {
        return Err(PdfError::Signing);
    }
    // Written in place: the hex crate's encoder builds a String a character at a time.
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let placeholder = &mut out[hex_start + 1..hex_start + 1 + 2 * cms.len()];
    for (pair, byte) in placeholder.chunks_exact_mut(2).zip(&cms) {
        pair[0] = HEX[usize::from(byte >> 4)];
        pair[1] = HEX[usize::from(byte & 0x0f)];
    }
    let mut whole = original_digest;
    whole.update(out);
    let mut sha256 = [0u8; 32];
    sha256.copy_from_slice(whole.finish().as_ref());
    Ok(sha256)
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
    // Loaded whole: the partial reader follows only the keys a sealing reads, not /DSS.
    let ins = inspect_with(Original::Bytes(document), Some(1), limits, false)?;
    let doc = &ins.doc;
    let mut next = ins.first_free();
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
    finish_update(&mut out, base, offsets, &ins.tail(), next)?;
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
#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdf::scan::{precheck, startxref};
    use crate::pdf::{load_checked, MAX_OBJECTS};

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

    /// A one-page PDF with a classic cross-reference table, and `extra` between its objects
    /// and the table (named by no entry).
    fn classic_pdf(extra: &str) -> Vec<u8> {
        let objects = [
            "<</Type/Catalog/Pages 2 0 R>>",
            "<</Type/Pages/Kids[3 0 R]/Count 1>>",
            "<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>",
        ];
        let mut pdf = String::from("%PDF-1.4\n");
        let mut offsets = Vec::new();
        for (k, o) in objects.iter().enumerate() {
            offsets.push(pdf.len());
            pdf.push_str(&format!("{} 0 obj\n{o}\nendobj\n", k + 1));
        }
        pdf.push_str(extra);
        let xref = pdf.len();
        pdf.push_str("xref\n0 4\n0000000000 65535 f\r\n");
        for off in offsets {
            pdf.push_str(&format!("{off:010} 00000 n\r\n"));
        }
        pdf.push_str(&format!(
            "trailer\n<</Size 4/Root 1 0 R>>\nstartxref\n{xref}\n%%EOF\n"
        ));
        pdf.into_bytes()
    }

    /// What the whole-file reader and the sparse one (large files on disk) make of `bytes`:
    /// `None` for the sparse reader when it leaves the file to the whole one.
    #[allow(clippy::type_complexity)]
    fn both_readers(
        bytes: &[u8],
    ) -> (
        Result<Inspected, PdfError>,
        Option<Result<Inspected, PdfError>>,
    ) {
        let limits = PdfLimits::default();
        let whole = inspect_with(Original::Bytes(bytes), None, &limits, false);
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(bytes).unwrap();
        let sparse = crate::pdf::sparse::skeleton(&file, bytes.len(), &limits).map(|skeleton| {
            inspect(
                Original::Sparse {
                    skeleton: &skeleton,
                    len: bytes.len(),
                    ends_with_newline: bytes.ends_with(b"\n"),
                },
                None,
                &limits,
            )
        });
        (whole, sparse)
    }

    /// The sparse reader sees what the whole-file reader sees (the page, its boxes and
    /// rotation, the empty signature fields, the catalog, the original's cross-reference data)
    /// on lopdf's files with and without object streams, on a sealed one, and on the shared
    /// samples from other producers when `TRUSTD_SAMPLES_DIR` names them; and it accepts
    /// nothing the whole-file reader refuses (their broken and hostile files too).
    #[test]
    fn the_sparse_reader_agrees_with_the_whole_file_reader() {
        // An object no entry names: with a /Length (7) that does not end at endstream both
        // readers refuse the file; with the right one (10) both read it.
        for (length, refused) in [("07", true), ("10", false)] {
            let pdf = classic_pdf(&format!(
                "99 0 obj\n<< /Length {length} >>\nstream\nabcdefghij\nendstream\nendobj\n"
            ));
            let (whole, sparse) = both_readers(&pdf);
            assert_eq!(whole.is_err(), refused, "{length}");
            assert_eq!(matches!(sparse, Some(Ok(_))), !refused, "{length}");
        }
        let (files, samples) = reader_fixtures();
        let mut fell_back = Vec::new();
        for (name, bytes) in &files {
            match both_readers(bytes) {
                (Ok(w), Some(Ok(s))) => {
                    assert_eq!(
                        (w.root, w.page, w.crop, w.rotate, &w.empty_fields),
                        (s.root, s.page, s.crop, s.rotate, &s.empty_fields),
                        "{name}"
                    );
                    assert_eq!(
                        (w.prev_startxref, w.xref_stream),
                        (s.prev_startxref, s.xref_stream),
                        "{name}"
                    );
                    assert!(s.first_free() >= w.first_free(), "{name}");
                }
                (Err(e), Some(Ok(_))) => {
                    panic!("{name}: the whole reader refuses ({e}), the sparse one accepts")
                }
                (_, _) => fell_back.push(name.clone()),
            }
        }
        eprintln!(
            "{} files ({samples} samples); left to the whole reader: {fell_back:?}",
            files.len()
        );
        assert!(!fell_back.iter().any(|n| !n.contains('/')), "{fell_back:?}");
    }

    /// The fixtures both reader tests read: lopdf's files with and without object streams, a
    /// classic table, sealed ones, and the shared samples (good, broken and hostile) when
    /// `TRUSTD_SAMPLES_DIR` names them; the count of samples.
    fn reader_fixtures() -> (Vec<(String, Vec<u8>)>, usize) {
        let mut files: Vec<(String, Vec<u8>)> = vec![
            ("table".into(), classic_pdf("")),
            ("lopdf".into(), small_pdf(false)),
            ("object streams".into(), small_pdf(true)),
        ];
        for (name, pdf) in [
            ("sealed table", classic_pdf("")),
            ("sealed objstm", small_pdf(true)),
        ] {
            let update = seal_it(&pdf).unwrap().update;
            let once = [pdf, update].concat();
            let twice = [once.clone(), seal_it(&once).unwrap().update].concat();
            files.push((name.into(), once));
            files.push((format!("{name} twice"), twice));
        }
        let mut samples = 0;
        if let Ok(dir) = std::env::var("TRUSTD_SAMPLES_DIR") {
            for sub in ["", "bad", "attacks"] {
                let Ok(entries) = std::fs::read_dir(std::path::Path::new(&dir).join(sub)) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let path = entry.path();
                    if path.extension().is_some_and(|e| e == "pdf") {
                        files.push((path.display().to_string(), std::fs::read(&path).unwrap()));
                        samples += 1;
                    }
                }
            }
        }
        (files, samples)
    }

    /// The partial reader (a document in memory: only the objects an update reads) gives the
    /// update the whole-file reader gives, byte for byte, on the last page and on the first; it
    /// refuses what the whole reader refuses, with the same error; and it reads the generated
    /// files itself (it does not leave them all to the whole reader).
    #[test]
    fn the_partial_reader_agrees_with_the_whole_file_reader() {
        let (mut files, samples) = reader_fixtures();
        // Crafted ones, which the partial reader must leave to the whole one or refuse alike
        // (their names hold a '/'): a stream no entry names, its /Length wrong and right; an
        // entry one byte past its object's header.
        for length in ["07", "10"] {
            files.push((
                format!("crafted/unnamed stream, /Length {length}"),
                classic_pdf(&format!(
                    "99 0 obj\n<< /Length {length} >>\nstream\nabcdefghij\nendstream\nendobj\n"
                )),
            ));
        }
        let shifted = String::from_utf8(classic_pdf("")).unwrap();
        let at = shifted.find("3 0 obj").unwrap();
        let shifted = shifted.replace(
            &format!("{at:010} 00000 n"),
            &format!("{:010} 00000 n", at + 1),
        );
        files.push(("crafted/entry past its header".into(), shifted.into_bytes()));
        for (name, pdf) in hostile_tables() {
            files.push((format!("crafted/{name}"), pdf));
        }
        let limits = PdfLimits::default();
        let mut whole_only = Vec::new();
        for (name, bytes) in &files {
            if crate::pdf::partial::document(bytes, &limits).is_none() {
                whole_only.push(name.clone());
            }
            for page in [None, Some(1)] {
                let whole = inspect_with(Original::Bytes(bytes), page, &limits, false);
                let partial = inspect_with(Original::Bytes(bytes), page, &limits, true);
                let (w, p) = match (whole, partial) {
                    (Ok(w), Ok(p)) => (w, p),
                    (Err(w), Err(p)) => {
                        assert_eq!(w, p, "{name}");
                        continue;
                    }
                    (w, p) => panic!(
                        "{name}: the whole reader {}, the partial one {}",
                        w.err().map_or("accepts".into(), |e| e.to_string()),
                        p.err().map_or("accepts".into(), |e| e.to_string())
                    ),
                };
                let updates = [w, p].map(|ins| {
                    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
                    digest.update(bytes);
                    let mut request = test_request(PdfLimits::default());
                    request.placement.page = page;
                    update_for(
                        &ins,
                        Original::Bytes(bytes),
                        digest,
                        request,
                        Box::new(|_| Ok(vec![0x30, 0x03, 0x02, 0x01, 0x01])),
                    )
                    .map(|s| s.update)
                });
                assert_eq!(updates[0], updates[1], "{name}, page {page:?}");
            }
        }
        eprintln!(
            "{} files ({samples} samples); left to the whole reader: {whole_only:?}",
            files.len()
        );
        assert!(
            !whole_only.iter().any(|n| !n.contains('/')),
            "{whole_only:?}"
        );
    }

    /// A PDF of `objects` (numbered from 1; the catalog first) with a classic table written
    /// by `table` from the objects' offsets and the table's own offset, then `startxref`.
    fn classic_with(objects: &[&str], table: impl Fn(&[usize]) -> String) -> Vec<u8> {
        let mut pdf = String::from("%PDF-1.4\n");
        let mut offsets = Vec::new();
        for (k, o) in objects.iter().enumerate() {
            offsets.push(pdf.len());
            pdf.push_str(&format!("{} 0 obj\n{o}\nendobj\n", k + 1));
        }
        let xref = pdf.len();
        pdf.push_str(&table(&offsets));
        pdf.push_str(&format!("startxref\n{xref}\n%%EOF\n"));
        pdf.into_bytes()
    }

    /// The usual table for [`classic_with`], with `trailer` keys added.
    fn table_of(offsets: &[usize], trailer: &str) -> String {
        let mut t = format!("xref\n0 {}\n0000000000 65535 f\r\n", offsets.len() + 1);
        for off in offsets {
            t.push_str(&format!("{off:010} 00000 n\r\n"));
        }
        t.push_str(&format!(
            "trailer\n<</Size {}/Root 1 0 R{trailer}>>\n",
            offsets.len() + 1
        ));
        t
    }

    /// Files an attacker shapes so that a reader of only some objects, or of the table its
    /// own way, would see another document than a whole load: objects that are references
    /// to the DocMDP dictionary, the AcroForm and the annotations; a table naming an object
    /// twice, or holding more entries than its count; bytes before the header; /Size -1.
    fn hostile_tables() -> Vec<(String, Vec<u8>)> {
        let page = "<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]/Annots 8 0 R>>";
        let objects = [
            "<</Type/Catalog/Pages 2 0 R/Perms 4 0 R/AcroForm 6 0 R>>",
            "<</Type/Pages/Kids[3 0 R]/Count 1>>",
            page,
            "5 0 R",
            "<</DocMDP<</Reference[<</TransformParams<</P 1>>>>]>>>>",
            "7 0 R",
            "<</Fields[9 0 R]/SigFlags 3>>",
            "10 0 R",
            "<</FT/Sig/T(Existing)/Rect[0 0 50 50]>>",
            "[9 0 R]",
        ];
        let certified = classic_with(&objects, |o| table_of(o, ""));
        let mut uncertified = objects;
        uncertified[0] = "<</Type/Catalog/Pages 2 0 R/AcroForm 6 0 R>>";
        let form = classic_with(&uncertified, |o| table_of(o, ""));
        let plain = [
            "<</Type/Catalog/Pages 2 0 R>>",
            "<</Type/Pages/Kids[3 0 R]/Count 1>>",
            "<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>",
            "<</Type/Page/Parent 2 0 R/MediaBox[0 0 999 999]>>",
        ];
        // Object 3 named twice: the first entry the page, the second another page.
        let twice = classic_with(&plain, |o| {
            format!(
                "xref\n0 5\n0000000000 65535 f\r\n{:010} 00000 n\r\n{:010} 00000 n\r\n{:010} 00000 n\r\n{:010} 00000 n\r\n3 1\n{:010} 00000 n\r\ntrailer\n<</Size 5/Root 1 0 R>>\n",
                o[0], o[1], o[2], o[3], o[3]
            )
        });
        // A count of 3 with 5 entries.
        let short = classic_with(&plain, |o| table_of(o, "").replacen("0 5\n", "0 3\n", 1));
        let mut prefixed = b"junk before the header\n".to_vec();
        prefixed.extend(classic_with(&plain, |o| table_of(o, "")));
        let negative = classic_with(&plain, |o| table_of(o, "").replace("/Size 5", "/Size -1"));
        // A decoy trailer in a comment before the real one, naming another catalog.
        let decoy = classic_with(
            &[
                plain[0],
                plain[1],
                plain[2],
                "<</Type/Page/Parent 6 0 R/MediaBox[0 0 999 999]>>",
                "<</Type/Catalog/Pages 6 0 R>>",
                "<</Type/Pages/Kids[4 0 R]/Count 1>>",
            ],
            |o| table_of(o, "").replace("trailer\n", "trailer\n%<</Size 7/Root 5 0 R>>\n"),
        );
        // The DocMDP dictionary followed by a comment, then `stream`: a stream to lopdf.
        let streamed = classic_with(
            &[
                "<</Type/Catalog/Pages 2 0 R/Perms 4 0 R>>",
                plain[1],
                plain[2],
                "<</DocMDP<</Reference[<</TransformParams<</P 1>>>>]>>/Length 3>>%x\nstream\nabc\nendstream",
            ],
            |o| table_of(o, ""),
        );
        vec![
            ("DocMDP through a reference".into(), certified),
            ("AcroForm and Annots through references".into(), form),
            ("an object named twice in one table".into(), twice),
            ("a table longer than its count".into(), short),
            ("bytes before the header".into(), prefixed),
            ("/Size -1".into(), negative),
            ("a decoy trailer in a comment".into(), decoy),
            ("a comment before stream".into(), streamed),
        ]
    }

    /// The certified file whose DocMDP dictionary is reached through an object that is a
    /// reference is refused by both readers (no changes allowed); the AcroForm reached so
    /// keeps its field.
    #[test]
    fn objects_that_are_references_are_followed() {
        let files = hostile_tables();
        let limits = PdfLimits::default();
        for partial in [false, true] {
            let refused = inspect_with(Original::Bytes(&files[0].1), None, &limits, partial);
            assert!(
                matches!(refused, Err(PdfError::CertifiedNoChanges)),
                "{partial}"
            );
            let form = &files[1].1;
            let ins = inspect_with(Original::Bytes(form), None, &limits, partial).unwrap();
            assert_eq!(ins.empty_fields.len(), 1, "{partial}");
        }
        let update = seal_it(&files[1].1).unwrap().update;
        let text = String::from_utf8_lossy(&update);
        assert!(text.contains("9 0 R"), "the existing field stays: {text}");
    }

    fn test_request(limits: PdfLimits) -> SealRequest<'static> {
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
        }
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
            test_request(limits),
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
        // Its names as written, and with #xx escapes (lopdf reads /Obj#53tm as /ObjStm).
        for (objstm, flate) in [("/ObjStm", "/FlateDecode"), ("/Obj#53tm", "/Fl#61teDecode")] {
            let mut pdf = format!(
                "%PDF-1.5\n1 0 obj\n<< /Type {objstm} /N 1 /First 4 /Filter {flate} /Length {} >>\nstream\n",
                data.len()
            )
            .into_bytes();
            pdf.extend_from_slice(&data);
            pdf.extend_from_slice(b"\nendstream\nendobj\nstartxref\n9\n%%EOF\n");
            assert!(
                matches!(precheck(&pdf), Err(PdfError::Malformed(m)) if m.contains("nested")),
                "the depth inside the object stream is seen ({objstm})"
            );
        }
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
