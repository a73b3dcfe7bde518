//! The incremental-update writer: serialising objects and streams, and the closing
//! cross-reference section (table or stream, as the original uses) and trailer.

use std::io::Write;

use lopdf::{Dictionary, Object, ObjectId};

use super::{malformed, PdfError};

/// The dictionary of an 8-bit image XObject.
pub fn image_xobject(width: u32, height: u32, color_space: &[u8]) -> Dictionary {
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
pub fn compressed_stream(dict: Dictionary, data: Vec<u8>) -> Result<Vec<u8>, PdfError> {
    let mut stream = lopdf::Stream::new(dict, data);
    let _ = stream.compress();
    serialize(&Object::Stream(stream))
}

pub fn pdf_string(s: &str) -> Object {
    // Text strings as UTF-16BE with BOM (ISO 32000 §7.9.2.2), which covers CJK.
    let mut bytes = vec![0xFE, 0xFF];
    for unit in s.encode_utf16() {
        bytes.extend_from_slice(&unit.to_be_bytes());
    }
    Object::String(bytes, lopdf::StringFormat::Hexadecimal)
}

pub fn serialize(object: &Object) -> Result<Vec<u8>, PdfError> {
    let mut out = Vec::new();
    lopdf::Writer::write_object(&mut out, object)
        .map_err(|e| malformed(format!("cannot write an object: {e}")))?;
    Ok(out)
}

/// What the closing section of an update repeats or points back to from the original.
pub struct Tail<'a> {
    pub trailer: &'a Dictionary,
    pub root: ObjectId,
    /// The original's `startxref` (the new section's `/Prev`).
    pub prev_startxref: usize,
    /// Whether the original uses a cross-reference stream (the update then does too).
    pub xref_stream: bool,
}

/// Writes the update's cross-reference section, trailer, `startxref` and `%%EOF`: `offsets`
/// are the new objects' (number, file offset), `base` the length of the original, `next` the
/// first unused object number.
pub fn finish_update(
    out: &mut Vec<u8>,
    base: usize,
    mut offsets: Vec<(u32, usize)>,
    ins: &Tail<'_>,
    mut next: u32,
) -> Result<(), PdfError> {
    let mut trailer = Dictionary::new();
    trailer.set("Root", Object::Reference(ins.root));
    if let Ok(info) = ins.trailer.get(b"Info") {
        trailer.set("Info", info.clone());
    }
    if let Ok(id) = ins.trailer.get(b"ID") {
        trailer.set("ID", id.clone());
    }
    let too_large = || malformed("the document is too large for a cross-reference section");
    let int = |n: usize| {
        i64::try_from(n)
            .map(Object::Integer)
            .map_err(|_| too_large())
    };
    trailer.set("Prev", int(ins.prev_startxref)?);
    let xref_at = base.checked_add(out.len()).ok_or_else(too_large)?;
    if ins.xref_stream {
        let xref_id = next;
        next = next.checked_add(1).ok_or_else(too_large)?;
        offsets.push((xref_id, xref_at));
        offsets.sort();
        trailer.set("Type", Object::Name(b"XRef".to_vec()));
        trailer.set("Size", Object::Integer(i64::from(next)));
        let mut index = Vec::new();
        let mut data = Vec::new();
        for run in runs(&offsets) {
            let first = run.first().map_or(0, |(n, _)| *n);
            index.push(Object::Integer(i64::from(first)));
            index.push(int(run.len())?);
            for (_, off) in run {
                // The field is 4 bytes wide (/W [1 4 2]).
                let off = u32::try_from(off).map_err(|_| too_large())?;
                data.push(1u8);
                data.extend_from_slice(&off.to_be_bytes());
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
        out.extend_from_slice(b"xref\n");
        for run in runs(&offsets) {
            let first = run.first().map_or(0, |(n, _)| *n);
            writeln!(out, "{first} {}", run.len()).map_err(|_| PdfError::Signing)?;
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
            Some(run) if run.last().is_some_and(|(m, _)| m.checked_add(1) == Some(n)) => {
                run.push((n, off))
            }
            _ => out.push(vec![(n, off)]),
        }
    }
    out
}
