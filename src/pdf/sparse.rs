//! Reading a large PDF on disk in memory that does not grow with its size: the cross-reference
//! sections and the objects' dictionaries are read by offset, and stream data is skipped,
//! except object streams (they hold dictionaries). What comes out is a *skeleton*: a small PDF
//! with the same objects, numbers and trailer, in which every other stream is empty. The sealer
//! reads the skeleton with the one reader for untrusted PDFs ([`super::load`], with its raw
//! checks) and writes its update after the original file, whose `startxref` and kind of
//! cross-reference data the skeleton reports.
//!
//! Whatever this reader does not handle the simple way (a damaged chain, an object not where its
//! entry says, a `/Length` that does not end at `endstream`, an object larger than
//! [`MAX_OBJECT`]) makes it answer `None`: the caller then reads the file whole, as before, and
//! gives that reader's answer (so a hostile file gets the same refusal either way, at the cost of
//! memory bounded by the upload limit and the slots). Hand-written because lopdf reads only whole
//! buffers.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;

use lopdf::{Dictionary, Object};

use super::cursor::{find, leading_number, rfind, slice};
use super::scan::{dict_integer, has_name, stream_length, string_end, StreamLength};
use super::{PdfLimits, MAX_XREF_SECTIONS};

/// Largest object (dictionary, or object stream) read whole.
pub const MAX_OBJECT: usize = 16 * 1024 * 1024;
/// Largest cross-reference stream, compressed, and the most its entries may inflate to.
const MAX_XREF_STREAM: usize = 64 * 1024 * 1024;

/// A large file's structure, as a small PDF of its own (see the module's documentation).
pub struct Skeleton {
    pub bytes: Vec<u8>,
    /// The original's `startxref` (the update's `/Prev`).
    pub startxref: usize,
    /// Whether the original's last section is a cross-reference stream.
    pub xref_stream: bool,
}

/// One cross-reference entry.
#[derive(Debug, Clone, Copy)]
pub(super) enum Entry {
    Free,
    Normal { offset: usize, generation: u16 },
    Compressed { container: u32, index: u32 },
}

/// Where the bytes are: a file on disk, or (the partial reader, [`super::partial`]) memory.
#[derive(Clone, Copy)]
enum Data<'a> {
    File(&'a File),
    Memory(&'a [u8]),
}

/// The file being read, its size, and what may still be read of it: a hostile file's many
/// small sections, each read with a window, must not make the reader read it over and over.
pub(super) struct Source<'a> {
    data: Data<'a>,
    size: usize,
    left: std::cell::Cell<usize>,
}

impl<'a> Source<'a> {
    /// `bytes` in memory, with the read budget of a file of their size.
    pub(super) fn memory(bytes: &'a [u8]) -> Option<Self> {
        Some(Source {
            data: Data::Memory(bytes),
            size: bytes.len(),
            left: std::cell::Cell::new(budget(bytes.len())?),
        })
    }
}

/// What the reader may read of a file of `len` bytes: four times the file, and 64 MiB.
fn budget(len: usize) -> Option<usize> {
    len.checked_mul(4)?.checked_add(64 * 1024 * 1024)
}

/// Up to `len` bytes at `offset` (fewer at the end of the file), drawn from the read budget;
/// `None` once it is spent (the whole-file reader then takes over). Memory is lent, not copied.
pub(super) fn read_at<'a>(source: &Source<'a>, offset: usize, len: usize) -> Option<Cow<'a, [u8]>> {
    let len = len.min(source.size.saturating_sub(offset));
    source.left.set(source.left.get().checked_sub(len)?);
    let file = match source.data {
        Data::Memory(bytes) => {
            return bytes
                .get(offset..offset.checked_add(len)?)
                .map(Cow::Borrowed)
        }
        Data::File(file) => file,
    };
    let mut buf = vec![0u8; len];
    let mut done = 0usize;
    while done < len {
        let at = u64::try_from(offset.checked_add(done)?).ok()?;
        let n = file.read_at(buf.get_mut(done..)?, at).ok()?;
        if n == 0 {
            break;
        }
        done = done.checked_add(n)?;
    }
    buf.truncate(done);
    Some(Cow::Owned(buf))
}

/// A file's cross-reference data: every entry (newer sections win), the newest trailer (or
/// cross-reference stream dictionary), `startxref`, and whether the newest section is a stream.
pub(super) struct Chain {
    pub entries: BTreeMap<u32, Entry>,
    pub trailer: Dictionary,
    pub startxref: usize,
    pub xref_stream: bool,
}

/// Reads the cross-reference chain from `startxref` through every `/Prev` and `/XRefStm`;
/// `None` for anything not read the simple way (the whole-file reader then decides).
pub(super) fn chain(file: &Source<'_>, limits: &PdfLimits) -> Option<Chain> {
    let len = file.size;
    // lopdf counts offsets from the header, wherever it is; this reader from the file's
    // start: a file with bytes before its header is left to the whole-file reader.
    let head = read_at(file, 0, 1024)?;
    if !head.starts_with(b"%PDF-") {
        return None;
    }
    let tail_at = len.saturating_sub(1024);
    let tail = read_at(file, tail_at, len.checked_sub(tail_at)?)?;
    let sx = rfind(&tail, b"startxref")?;
    rfind(slice(&tail, sx, tail.len()), b"%%EOF")?;
    let startxref = leading_number(slice(&tail, sx.checked_add(9)?, tail.len()))?;
    if startxref >= len {
        return None;
    }
    let mut entries: BTreeMap<u32, Entry> = BTreeMap::new();
    let mut trailer: Option<Dictionary> = None;
    let mut xref_stream = None;
    let mut seen = HashSet::new();
    let mut next = Some(startxref);
    while let Some(offset) = next {
        if !seen.insert(offset) || seen.len() > MAX_XREF_SECTIONS {
            return None;
        }
        let (dict, is_stream) = section(file, offset, len, &mut entries, limits)?;
        xref_stream.get_or_insert(is_stream);
        if dict.has(b"Encrypt") {
            return None;
        }
        if let Some(stm) = int(&dict, b"XRefStm") {
            section(file, stm, len, &mut entries, limits)?;
        }
        next = int(&dict, b"Prev");
        trailer.get_or_insert(dict);
    }
    if entries.len() > limits.max_objects {
        return None;
    }
    Some(Chain {
        entries,
        trailer: trailer?,
        startxref,
        xref_stream: xref_stream?,
    })
}

/// The skeleton of the `len` bytes of `file`, or `None` when the whole file must be read.
pub fn skeleton(file: &File, len: usize, limits: &PdfLimits) -> Option<Skeleton> {
    let file = &Source {
        data: Data::File(file),
        size: len,
        left: std::cell::Cell::new(budget(len)?),
    };
    let Chain {
        entries,
        trailer,
        startxref,
        xref_stream,
    } = chain(file, limits)?;
    stream_lengths_agree(file, len, &|n| indirect_length(file, &entries, n))?;
    let bytes = write_skeleton(file, len, &entries, &trailer)?;
    Some(Skeleton {
        bytes,
        startxref,
        xref_stream,
    })
}

/// The number held by object `n` (an indirect `/Length`).
fn indirect_length(file: &Source<'_>, entries: &BTreeMap<u32, Entry>, n: u32) -> Option<usize> {
    let Some(Entry::Normal { offset, .. }) = entries.get(&n) else {
        return None;
    };
    let text = read_at(file, *offset, 128)?;
    let open = find(&text, b"obj")?.checked_add(3)?;
    leading_number(slice(&text, open, text.len()).trim_ascii_start())
}

/// The check of [`super::scan::length_mismatches`] over the whole file, read in windows:
/// every stream's declared `/Length` must end at `endstream`, in objects the cross-reference
/// data names and in those it does not (a reader that rebuilds the table would see them), or
/// the file is left to the whole-file reader, which refuses it. Stream data is skipped, not read.
fn stream_lengths_agree(
    file: &Source<'_>,
    len: usize,
    length_of: &dyn Fn(u32) -> Option<usize>,
) -> Option<()> {
    const WINDOW: usize = 4 * 1024 * 1024;
    const BACK: usize = 4096;
    let mut start = 0usize;
    let mut window = read_at(file, 0, WINDOW)?;
    let mut at = 0usize;
    while at < len {
        let window_end = start.checked_add(window.len())?;
        if at < start || (at.checked_add(64)? > window_end && window_end < len) {
            start = at.saturating_sub(BACK);
            window = read_at(file, start, WINDOW)?;
            continue;
        }
        let from = at.checked_sub(start)?;
        let Some(rel) = find(slice(&window, from, window.len()), b"stream") else {
            if window_end >= len {
                break;
            }
            // A keyword may straddle the window's end.
            at = window_end.saturating_sub(8).max(at.checked_add(1)?);
            continue;
        };
        let pos = from.checked_add(rel)?;
        if pos < BACK && start > 0 {
            // Not enough text before the keyword in this window.
            start = start.checked_add(pos)?.saturating_sub(BACK);
            window = read_at(file, start, WINDOW)?;
            continue;
        }
        at = start.checked_add(pos)?.checked_add(6)?;
        if slice(&window, pos.saturating_sub(3), pos) == b"end" {
            continue;
        }
        let before = slice(&window, pos.saturating_sub(BACK), pos);
        let Some(open) = rfind(before, b"obj") else {
            continue;
        };
        let dict = slice(before, open, before.len());
        if !dict.trim_ascii_end().ends_with(b">>") {
            continue;
        }
        let declared = match stream_length(dict)? {
            StreamLength::Direct(n) => n,
            StreamLength::Indirect(n, _) => length_of(n)?,
        };
        let data = at.checked_add(eol_len(slice(&window, pos.checked_add(6)?, window.len()))?)?;
        let end = data.checked_add(declared)?;
        let closing = read_at(file, end, 32)?;
        if !closing.trim_ascii_start().starts_with(b"endstream") {
            return None;
        }
        at = end;
    }
    Some(())
}

fn int(dict: &Dictionary, key: &[u8]) -> Option<usize> {
    dict.get(key)
        .ok()
        .and_then(|o| o.as_i64().ok())
        .and_then(|n| usize::try_from(n).ok())
}

/// Reads the cross-reference section at `offset` into `entries` (entries already there, from
/// newer sections, win) and gives its trailer dictionary and whether it is a stream.
fn section(
    file: &Source<'_>,
    offset: usize,
    len: usize,
    entries: &mut BTreeMap<u32, Entry>,
    limits: &PdfLimits,
) -> Option<(Dictionary, bool)> {
    let head = read_at(file, offset, 64)?;
    if head.starts_with(b"xref") {
        table(file, offset, len, entries, limits).map(|d| (d, false))
    } else {
        xref_stream(file, offset, entries, limits).map(|d| (d, true))
    }
}

/// A cross-reference table and its trailer.
fn table(
    file: &Source<'_>,
    offset: usize,
    len: usize,
    entries: &mut BTreeMap<u32, Entry>,
    limits: &PdfLimits,
) -> Option<Dictionary> {
    // Twenty bytes per entry: the table of the most objects allowed, and its trailer.
    let most = limits.max_objects.checked_mul(20)?.checked_add(64 * 1024)?;
    let mut window = 64 * 1024;
    loop {
        let text = read_at(file, offset, window)?;
        if let Some(at) = find(&text, b"trailer") {
            let body = slice(&text, 4, at);
            let rest = skip_space(slice(&text, at.checked_add(7)?, text.len()));
            if !rest.starts_with(b"<<") {
                return None;
            }
            if let Some(end) = dict_end(rest, 0) {
                parse_table(body, entries)?;
                return parse_dictionary(slice(rest, 0, end));
            }
        }
        if window >= most || offset.checked_add(window)? >= len {
            return None;
        }
        window = window.checked_mul(4)?.min(most);
    }
}

/// A table's subsections into `entries` (newer sections' entries win). Read strictly: a
/// subsection header of two numbers, then exactly its count of three-field entries, each
/// number once in the section; lopdf reads some of what breaks these rules differently (it
/// reads entries past a short count, and keeps the last of two), so such a table is left to
/// the whole-file reader.
fn parse_table(body: &[u8], entries: &mut BTreeMap<u32, Entry>) -> Option<()> {
    let mut lines = body
        .split(|b| *b == b'\n' || *b == b'\r')
        .map(<[u8]>::trim_ascii)
        .filter(|l| !l.is_empty());
    let mut section: BTreeMap<u32, Entry> = BTreeMap::new();
    while let Some(header) = lines.next() {
        let mut words = header
            .split(u8::is_ascii_whitespace)
            .filter(|w| !w.is_empty());
        let (Some(first), Some(count), None) = (words.next(), words.next(), words.next()) else {
            return None;
        };
        let first = u32::try_from(number(first)?).ok()?;
        let count = number(count)?;
        for k in 0..count {
            let line = lines.next()?;
            let id = first.checked_add(u32::try_from(k).ok()?)?;
            let mut f = line
                .split(u8::is_ascii_whitespace)
                .filter(|w| !w.is_empty());
            let (Some(offset), Some(generation), Some(kind), None) =
                (f.next(), f.next(), f.next(), f.next())
            else {
                return None;
            };
            let offset = number(offset)?;
            let generation = u16::try_from(number(generation)?).ok()?;
            let entry = match kind {
                b"n" => Entry::Normal { offset, generation },
                b"f" => Entry::Free,
                _ => return None,
            };
            if section.insert(id, entry).is_some() {
                return None;
            }
        }
    }
    for (id, entry) in section {
        entries.entry(id).or_insert(entry);
    }
    Some(())
}

/// A word that is all digits, as a number.
fn number(word: &[u8]) -> Option<usize> {
    if word.is_empty() || !word.iter().all(u8::is_ascii_digit) {
        return None;
    }
    leading_number(word)
}

/// A cross-reference stream: its entries and its dictionary.
fn xref_stream(
    file: &Source<'_>,
    offset: usize,
    entries: &mut BTreeMap<u32, Entry>,
    limits: &PdfLimits,
) -> Option<Dictionary> {
    let head = read_at(file, offset, 64 * 1024)?;
    let open = find(slice(&head, 0, 256), b"obj")?.checked_add(3)?;
    let body = skip_space(slice(&head, open, head.len()));
    if !body.starts_with(b"<<") {
        return None;
    }
    let open = head.len().checked_sub(body.len())?;
    let end = dict_end(&head, open)?;
    let dict_text = slice(&head, open, end);
    let length = dict_integer(dict_text, b"/Length").filter(|n| *n <= MAX_XREF_STREAM)?;
    let after = slice(&head, end, head.len());
    let rest = skip_space(after);
    if !rest.starts_with(b"stream") {
        return None;
    }
    let keyword = after.len().checked_sub(rest.len())?;
    let data_at = offset
        .checked_add(end)?
        .checked_add(keyword)?
        .checked_add(6)?
        .checked_add(eol_len(slice(after, keyword.checked_add(6)?, after.len()))?)?;
    let data = read_at(file, data_at, length)?;
    let dict = parse_dictionary(dict_text)?;
    let stream = lopdf::Stream::new(dict.clone(), data.into_owned());
    let decoded = if dict.has(b"Filter") {
        stream
            .decompressed_content_with_limit(MAX_XREF_STREAM)
            .ok()?
    } else {
        stream.content
    };
    let widths: Vec<usize> = dict
        .get(b"W")
        .ok()?
        .as_array()
        .ok()?
        .iter()
        .map(|o| o.as_i64().ok().and_then(|n| usize::try_from(n).ok()))
        .collect::<Option<_>>()?;
    let [w0, w1, w2] = widths[..] else {
        return None;
    };
    let row = w0.checked_add(w1)?.checked_add(w2)?;
    // lopdf keeps the low 32 bits of a wider field: wider ones are left to it.
    if row == 0 || w0 > 4 || w1 > 4 || w2 > 4 {
        return None;
    }
    let size = int(&dict, b"Size")?;
    if size > limits.max_objects {
        return None;
    }
    let index: Vec<usize> = match dict.get(b"Index") {
        Ok(o) => o
            .as_array()
            .ok()?
            .iter()
            .map(|o| o.as_i64().ok().and_then(|n| usize::try_from(n).ok()))
            .collect::<Option<_>>()?,
        Err(_) => vec![0, size],
    };
    decode_entries(&decoded, [w0, w1, w2], &index, entries)?;
    Some(dict)
}

/// The rows of a cross-reference stream (`/W` widths, `/Index` pairs) into `entries`.
fn decode_entries(
    decoded: &[u8],
    [w0, w1, w2]: [usize; 3],
    index: &[usize],
    entries: &mut BTreeMap<u32, Entry>,
) -> Option<()> {
    let row = w0.checked_add(w1)?.checked_add(w2)?;
    let mut rows = decoded.chunks_exact(row);
    let mut section: BTreeMap<u32, Entry> = BTreeMap::new();
    for pair in index.chunks_exact(2) {
        let &[first, count] = pair else {
            return None;
        };
        for k in 0..count {
            let r = rows.next()?;
            let id = u32::try_from(first.checked_add(k)?).ok()?;
            let kind = if w0 == 0 { 1 } else { be(r.get(..w0)?) };
            let f2 = be(r.get(w0..w0.checked_add(w1)?)?);
            let f3 = be(r.get(w0.checked_add(w1)?..)?);
            let entry = match kind {
                0 => Entry::Free,
                1 => Entry::Normal {
                    offset: usize::try_from(f2).ok()?,
                    generation: u16::try_from(f3).ok()?,
                },
                2 => Entry::Compressed {
                    container: u32::try_from(f2).ok()?,
                    index: u32::try_from(f3).ok()?,
                },
                // Unknown types are to be ignored (ISO 32000-1 §7.5.8.3).
                _ => continue,
            };
            // Overlapping /Index ranges: readers differ on which entry wins.
            if section.insert(id, entry).is_some() {
                return None;
            }
        }
    }
    for (id, entry) in section {
        entries.entry(id).or_insert(entry);
    }
    Some(())
}

fn be(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0u64, |acc, b| acc.wrapping_shl(8) | u64::from(*b))
}

/// `bytes` from the first byte that is neither white space (NUL included, as lopdf reads it)
/// nor in a comment.
pub(super) fn skip_space(bytes: &[u8]) -> &[u8] {
    let mut rest = bytes;
    loop {
        match rest.first() {
            Some(b'\0' | b'\t' | b'\n' | b'\x0c' | b'\r' | b' ') => {
                rest = rest.get(1..).unwrap_or_default()
            }
            Some(b'%') => {
                let eol = rest
                    .iter()
                    .position(|b| *b == b'\n' || *b == b'\r')
                    .unwrap_or(rest.len());
                rest = rest.get(eol..).unwrap_or_default();
            }
            _ => return rest,
        }
    }
}

/// Length of the end-of-line after `stream`: CRLF or LF (ISO 32000 §7.3.8.1). Readers differ
/// on anything else (a space first, a lone CR), so it makes the reader leave the file to the
/// whole-file reader.
pub(super) fn eol_len(rest: &[u8]) -> Option<usize> {
    match rest {
        [b'\r', b'\n', ..] => Some(2),
        [b'\n', ..] => Some(1),
        _ => None,
    }
}

/// The offset just past the `>>` that closes the dictionary opening at `open`, skipping
/// strings, hex strings and comments.
pub(super) fn dict_end(bytes: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = open;
    while let Some(&b) = bytes.get(i) {
        match (b, bytes.get(i.checked_add(1)?).copied()) {
            (b'<', Some(b'<')) => {
                depth = depth.checked_add(1)?;
                i = i.checked_add(1)?;
            }
            (b'>', Some(b'>')) => {
                depth = depth.checked_sub(1)?;
                i = i.checked_add(1)?;
                if depth == 0 {
                    return i.checked_add(1);
                }
            }
            (b'<', _) => {
                i = i.checked_add(find(slice(bytes, i, bytes.len()), b">")?)?;
            }
            (b'(', _) => i = string_end(bytes, i),
            (b'%', _) => {
                while bytes.get(i).is_some_and(|c| *c != b'\n' && *c != b'\r') {
                    i = i.checked_add(1)?;
                }
            }
            _ => {}
        }
        if depth > super::MAX_NESTING {
            return None;
        }
        i = i.checked_add(1)?;
    }
    None
}

/// Parses one dictionary's text with lopdf (its parser is private: the text is wrapped in a
/// one-object PDF).
fn parse_dictionary(text: &[u8]) -> Option<Dictionary> {
    let mut pdf = b"%PDF-1.7\n1 0 obj\n".to_vec();
    pdf.extend_from_slice(text);
    pdf.extend_from_slice(b"\nendobj\n");
    let xref = pdf.len();
    write!(
        pdf,
        "xref\n0 2\n0000000000 65535 f\r\n0000000009 00000 n\r\ntrailer\n<</Size 2>>\nstartxref\n{xref}\n%%EOF\n"
    )
    .ok()?;
    let doc = lopdf::Document::load_mem(&pdf).ok()?;
    doc.get_dictionary((1, 0)).ok().cloned()
}

/// The object at `offset` as the skeleton holds it: its text with the stream data left out
/// (object streams kept whole), or `None`.
fn object_text(
    file: &Source<'_>,
    (id, generation, offset): (u32, u16, usize),
    extent: usize,
    lengths: &dyn Fn(u32) -> Option<usize>,
) -> Option<Vec<u8>> {
    let head = read_at(file, offset, extent.min(64 * 1024))?;
    let header = format!("{id} {generation} obj");
    let mut words = head
        .split(u8::is_ascii_whitespace)
        .filter(|w| !w.is_empty());
    let (a, b, c) = (words.next()?, words.next()?, words.next()?);
    if [a, b, c.get(..3)?].join(&b' ') != header.as_bytes() {
        return None;
    }
    let open = find(slice(&head, 0, 64), b"obj")?.checked_add(3)?;
    let body = slice(&head, open, head.len()).trim_ascii_start();
    if !body.starts_with(b"<<") {
        // Not a dictionary (nor a stream).
        return up_to_endobj(file, offset, extent, &head);
    }
    let open = head.len().checked_sub(body.len())?;
    let Some(end) = dict_end(&head, open) else {
        // A dictionary longer than the first read: no stream may follow it here.
        let whole = up_to_endobj(file, offset, extent, &head)?;
        return find(&whole, b"stream").is_none().then_some(whole);
    };
    let after = slice(&head, end, head.len());
    let rest = after.trim_ascii_start();
    if !rest.starts_with(b"stream") {
        return up_to_endobj(file, offset, extent, &head);
    }
    let dict = slice(&head, open, end);
    let declared = match stream_length(dict)? {
        StreamLength::Direct(n) => n,
        StreamLength::Indirect(n, _) => lengths(n)?,
    };
    let keyword = end.checked_add(after.len().checked_sub(rest.len())?)?;
    let data_at = keyword.checked_add(6)?.checked_add(eol_len(slice(
        &head,
        keyword.checked_add(6)?,
        head.len(),
    ))?)?;
    let data_end = offset.checked_add(data_at)?.checked_add(declared)?;
    let closing = read_at(file, data_end, 32)?;
    if !closing.trim_ascii_start().starts_with(b"endstream") {
        return None;
    }
    let mut out = slice(&head, 0, open).to_vec();
    if has_name(&super::scan::unescape_names(dict), b"/ObjStm") {
        if declared > MAX_OBJECT {
            return None;
        }
        out.extend_from_slice(dict);
        out.extend_from_slice(b"\nstream\n");
        out.extend_from_slice(&read_at(file, offset.checked_add(data_at)?, declared)?);
        out.extend_from_slice(b"\nendstream\nendobj\n");
    } else {
        // The same dictionary, with no data and a /Length of 0.
        out.extend(zero_length(dict)?);
        out.extend_from_slice(b"\nstream\n\nendstream\nendobj\n");
    }
    Some(out)
}

/// A stream dictionary's text with its `/Length` value (a number, or a reference) replaced by
/// 0: the key [`stream_length`] reads.
fn zero_length(dict: &[u8]) -> Option<Vec<u8>> {
    let mut from = find(dict, b"<<")?;
    let key = loop {
        let at = from.checked_add(find(slice(dict, from, dict.len()), b"/Length")?)?;
        from = at.checked_add(7)?;
        if !dict.get(from).is_some_and(u8::is_ascii_alphanumeric) {
            break from;
        }
    };
    // The value: a number, or `n g R`.
    let mut end = key;
    let mut value_end = key;
    for words in 0..3 {
        while dict.get(end).is_some_and(u8::is_ascii_whitespace) {
            end = end.checked_add(1)?;
        }
        let start = end;
        while dict.get(end).is_some_and(u8::is_ascii_alphanumeric) {
            end = end.checked_add(1)?;
        }
        let word = slice(dict, start, end);
        match words {
            0 if word.iter().all(u8::is_ascii_digit) && !word.is_empty() => value_end = end,
            1 if word.iter().all(u8::is_ascii_digit) && !word.is_empty() => {}
            2 if word == b"R" => value_end = end,
            _ => break,
        }
    }
    if value_end == key {
        return None;
    }
    let mut out = slice(dict, 0, key).to_vec();
    out.extend_from_slice(b" 0");
    out.extend_from_slice(slice(dict, value_end, dict.len()));
    Some(out)
}

/// The text of a non-stream object, through its `endobj` (not the bytes after it, which may be
/// an earlier revision's objects).
fn up_to_endobj(file: &Source<'_>, offset: usize, extent: usize, head: &[u8]) -> Option<Vec<u8>> {
    if let Some(at) = find(head, b"endobj") {
        return Some(slice(head, 0, at.checked_add(6)?).to_vec());
    }
    if extent <= head.len() || extent > MAX_OBJECT {
        return None;
    }
    let mut whole = read_at(file, offset, extent)?.into_owned();
    whole.truncate(find(&whole, b"endobj")?.checked_add(6)?);
    Some(whole)
}

/// The skeleton's bytes: every object in use, then a cross-reference stream (it can say which
/// object stream holds which object) whose dictionary carries the original's trailer keys.
fn write_skeleton(
    file: &Source<'_>,
    len: usize,
    entries: &BTreeMap<u32, Entry>,
    trailer: &Dictionary,
) -> Option<Vec<u8>> {
    let mut normal: Vec<(usize, u32, u16)> = entries
        .iter()
        .filter_map(|(id, e)| match e {
            Entry::Normal { offset, generation } => Some((*offset, *id, *generation)),
            _ => None,
        })
        .collect();
    normal.sort_unstable();
    let lengths = |n: u32| indirect_length(file, entries, n);
    let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut placed: Vec<(u32, usize)> = Vec::with_capacity(normal.len());
    for (k, &(offset, id, generation)) in normal.iter().enumerate() {
        let next = normal
            .get(k.checked_add(1)?)
            .map_or(len, |(o, _, _)| *o)
            .min(len);
        let extent = next.checked_sub(offset)?;
        placed.push((id, out.len()));
        out.extend(object_text(
            file,
            (id, generation, offset),
            extent,
            &lengths,
        )?);
        out.push(b'\n');
    }
    xref_section(&mut out, entries, &placed, trailer)?;
    Some(out)
}

/// The skeleton's cross-reference stream (numbered after every object of the original, whose
/// positions in the skeleton are `placed`), `startxref` and `%%EOF`.
fn xref_section(
    out: &mut Vec<u8>,
    entries: &BTreeMap<u32, Entry>,
    placed: &[(u32, usize)],
    trailer: &Dictionary,
) -> Option<()> {
    let size = entries
        .keys()
        .next_back()
        .map_or(1, |n| n.saturating_add(1))
        .max(u32::try_from(int(trailer, b"Size").unwrap_or(0)).ok()?);
    let xref_id = size;
    let xref_at = out.len();
    let mut data = Vec::new();
    let mut rows: BTreeMap<u32, (u8, u32, u16)> = BTreeMap::new();
    for (id, e) in entries {
        let row = match e {
            Entry::Free => (0, 0, 0),
            Entry::Normal { .. } => continue,
            Entry::Compressed { container, index } => (2, *container, u16::try_from(*index).ok()?),
        };
        rows.insert(*id, row);
    }
    for (id, at) in placed {
        rows.insert(*id, (1, u32::try_from(*at).ok()?, 0));
    }
    rows.insert(xref_id, (1, u32::try_from(xref_at).ok()?, 0));
    let mut index = Vec::new();
    let mut run: Option<(u32, i64)> = None;
    for (id, (kind, f2, f3)) in &rows {
        data.push(*kind);
        data.extend_from_slice(&f2.to_be_bytes());
        data.extend_from_slice(&f3.to_be_bytes());
        run = match run {
            Some((first, count)) if i64::from(first).checked_add(count) == Some(i64::from(*id)) => {
                Some((first, count.checked_add(1)?))
            }
            Some((first, count)) => {
                index.extend([Object::Integer(i64::from(first)), Object::Integer(count)]);
                Some((*id, 1))
            }
            None => Some((*id, 1)),
        };
    }
    if let Some((first, count)) = run {
        index.extend([Object::Integer(i64::from(first)), Object::Integer(count)]);
    }
    let mut dict = Dictionary::new();
    for key in [&b"Root"[..], b"Info", b"ID"] {
        if let Ok(v) = trailer.get(key) {
            dict.set(key, v.clone());
        }
    }
    dict.set("Type", Object::Name(b"XRef".to_vec()));
    dict.set("Size", Object::Integer(i64::from(xref_id.checked_add(1)?)));
    dict.set("Index", Object::Array(index));
    dict.set("W", Object::Array(vec![1.into(), 4.into(), 2.into()]));
    writeln!(out, "{xref_id} 0 obj").ok()?;
    out.extend(super::write::serialize(&Object::Stream(lopdf::Stream::new(dict, data))).ok()?);
    write!(out, "\nendobj\nstartxref\n{xref_at}\n%%EOF\n").ok()?;
    Some(())
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// A valid one-page PDF followed by `sections` empty cross-reference tables chained by
    /// /Prev, the last one named by `startxref`.
    fn chained(sections: usize) -> Vec<u8> {
        let mut pdf = String::from("%PDF-1.4\n");
        let objects = [
            "<</Type/Catalog/Pages 2 0 R>>",
            "<</Type/Pages/Kids[3 0 R]/Count 1>>",
            "<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>",
        ];
        let mut offsets = Vec::new();
        for (k, o) in objects.iter().enumerate() {
            offsets.push(pdf.len());
            pdf.push_str(&format!("{} 0 obj\n{o}\nendobj\n", k + 1));
        }
        let mut prev = pdf.len();
        pdf.push_str("xref\n0 4\n0000000000 65535 f\r\n");
        for off in offsets {
            pdf.push_str(&format!("{off:010} 00000 n\r\n"));
        }
        pdf.push_str("trailer\n<</Size 4/Root 1 0 R>>\n");
        for _ in 0..sections {
            let at = pdf.len();
            pdf.push_str(&format!(
                "xref\n0 0\ntrailer\n<</Size 4/Root 1 0 R/Prev {prev}>>\n"
            ));
            prev = at;
        }
        pdf.push_str(&format!("startxref\n{prev}\n%%EOF\n"));
        pdf.into_bytes()
    }

    fn skeleton_of(pdf: &[u8]) -> Option<Skeleton> {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(pdf).unwrap();
        skeleton(&file, pdf.len(), &PdfLimits::default())
    }

    /// Many small sections, each read with a window, would have the reader read the file over
    /// and over: past its read budget it stops and leaves the file to the whole-file reader.
    #[test]
    fn a_long_chain_of_sections_spends_the_read_budget() {
        assert!(skeleton_of(&chained(10)).is_some());
        assert!(skeleton_of(&chained(3_000)).is_none());
    }
}
