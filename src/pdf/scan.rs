//! Raw-byte scanning of untrusted PDF input, before any parser sees it: the header, the
//! trailer keywords, the cross-reference chain, nesting depth, object and cross-reference
//! streams (inflated within the document's budget), revision ends and streams' declared
//! lengths. Every access goes through [`Cursor`] or `get`; no offset from the file can index
//! out of bounds or overflow.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;

pub use super::cursor::{find, rfind};
use super::cursor::{leading_number, slice, Cursor};
use super::{
    malformed, too_many_objects, PdfError, MAX_DECOMPRESSED, MAX_NESTING, MAX_XREF_SECTIONS,
};

/// Scans the raw bytes: header, trailer keywords, and a bound on nesting depth (outside
/// strings, comments and stream data), also inside compressed object streams. Cheap, linear,
/// and never recursive.
pub fn precheck(bytes: &[u8]) -> Result<(), PdfError> {
    precheck_within(bytes, &Budget::default())
}

/// [`precheck`], drawing on a document's decompression budget.
pub fn precheck_within(bytes: &[u8], budget: &Budget) -> Result<(), PdfError> {
    trailer_check(bytes)?;
    depth_scan(bytes, Some(budget))?;
    budget.scanned(bytes);
    Ok(())
}

/// The header and the trailer keywords at the end.
pub fn trailer_check(bytes: &[u8]) -> Result<(), PdfError> {
    let head = slice(bytes, 0, 1024);
    if find(head, b"%PDF-").is_none() {
        return Err(malformed("no %PDF- header: this is not a PDF file"));
    }
    let tail = slice(bytes, bytes.len().saturating_sub(1024), bytes.len());
    let Some(pos) = rfind(tail, b"startxref") else {
        return Err(malformed(
            "no startxref at the end of the file (truncated or damaged)",
        ));
    };
    if rfind(slice(tail, pos, tail.len()), b"%%EOF").is_none() {
        return Err(malformed("no %%EOF after startxref (truncated file)"));
    }
    Ok(())
}

fn too_deep() -> PdfError {
    malformed(format!("objects are nested more than {MAX_NESTING} deep"))
}

/// Bounds the nesting depth of `bytes`. With `streams`, stream data is skipped, and the data of
/// each object stream (`/Type /ObjStm`) is inflated (within the budget) and scanned too: lopdf
/// parses those objects with the same recursive parser. Cross-reference streams are inflated
/// and charged too (lopdf inflates them while loading).
fn depth_scan(bytes: &[u8], streams: Option<&Budget>) -> Result<(), PdfError> {
    let mut depth = 0usize;
    let mut dict_start = 0usize;
    let mut c = Cursor::at(bytes, 0);
    loop {
        // Only these bytes change the scan's state: the rest is skipped in a tight loop.
        let skip = c
            .rest()
            .iter()
            .position(|&b| matches!(b, b'%' | b'(' | b'<' | b'>' | b'[' | b']' | b's'));
        c.advance(skip.unwrap_or(usize::MAX));
        let Some(byte) = c.peek() else { break };
        match byte {
            b'%' => {
                while c.peek().is_some_and(|b| b != b'\n' && b != b'\r') {
                    c.advance(1);
                }
            }
            // A literal string, with balanced parentheses and escapes.
            b'(' => c.seek(string_end(bytes, c.pos())),
            b'<' if c.peek_at(1) == Some(b'<') => {
                if depth == 0 {
                    dict_start = c.pos();
                }
                depth = depth.checked_add(1).ok_or_else(too_deep)?;
                c.advance(1);
            }
            b'>' if c.peek_at(1) == Some(b'>') => {
                depth = depth.saturating_sub(1);
                c.advance(1);
            }
            b'[' => depth = depth.checked_add(1).ok_or_else(too_deep)?,
            b']' => depth = depth.saturating_sub(1),
            b's' if streams.is_some()
                && c.starts_with(b"stream")
                && !c.before().is_some_and(|b| b.is_ascii_alphanumeric()) =>
            {
                let keyword = c.pos();
                c.advance(6);
                let data_start = c.pos();
                let Some(end) = c.find(b"endstream") else {
                    return Err(malformed("a stream has no endstream"));
                };
                let dict = slice(bytes, dict_start.min(keyword), keyword);
                if let Some(budget) = streams {
                    stream_scan(dict, bytes, data_start, end, budget)?;
                }
                c.seek(end);
                c.advance(8);
                depth = 0;
            }
            _ => {}
        }
        if depth > MAX_NESTING {
            return Err(too_deep());
        }
        c.advance(1);
    }
    Ok(())
}

/// Inflates (and, for object streams, scans) the data of the stream whose dictionary is
/// `dict` and whose data runs from `data_start` to `end`, if the loader will inflate it.
fn stream_scan(
    dict: &[u8],
    bytes: &[u8],
    data_start: usize,
    end: usize,
    budget: &Budget,
) -> Result<(), PdfError> {
    let dict = &unescape_names(dict)[..];
    let object_stream = has_name(dict, b"/ObjStm");
    if !object_stream && !has_name(dict, b"/XRef") {
        return Ok(());
    }
    let mut d = Cursor::at(bytes, data_start);
    d.skip_eol();
    let data = slice(bytes, d.pos(), end);
    // Prefixes of one file (its revisions) share offsets: each stream is inflated and charged
    // once per document.
    if !budget.first_time(data_start) {
        return Ok(());
    }
    if let Some(inflated) = inflate(dict, data, budget)? {
        if object_stream {
            depth_scan(&inflated, None)?;
        }
    }
    Ok(())
}

/// A dictionary's text with the `#xx` escapes of names decoded (ISO 32000 §7.3.5): lopdf reads
/// `/Obj#53tm` as `/ObjStm` and `/Fl#61teDecode` as `/FlateDecode`, so the raw checks must see
/// them so too. Escapes in strings are decoded as well, which can only make more streams look
/// like ones the loader inflates (more is scanned, never less).
pub fn unescape_names(dict: &[u8]) -> Cow<'_, [u8]> {
    if !dict.contains(&b'#') {
        return Cow::Borrowed(dict);
    }
    let hex = |b: u8| {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let mut out = Vec::with_capacity(dict.len());
    let mut i = 0usize;
    while let Some(&b) = dict.get(i) {
        let escaped = (b == b'#')
            .then(|| {
                let high = hex(*dict.get(i.checked_add(1)?)?)?;
                let low = hex(*dict.get(i.checked_add(2)?)?)?;
                Some(high.wrapping_shl(4) | low)
            })
            .flatten();
        match escaped {
            Some(byte) => {
                out.push(byte);
                i = i.saturating_add(3);
            }
            None => {
                out.push(b);
                i = i.saturating_add(1);
            }
        }
    }
    Cow::Owned(out)
}

/// Whether a dictionary's text holds the name `name` (followed by a delimiter).
pub fn has_name(dict: &[u8], name: &[u8]) -> bool {
    count_names(dict, name) > 0
}

/// How many times the name `name` (followed by a delimiter) occurs in a dictionary's text.
fn count_names(dict: &[u8], name: &[u8]) -> usize {
    let mut n = 0usize;
    let mut c = Cursor::at(dict, 0);
    while let Some(at) = c.find(name) {
        c.seek(at);
        c.advance(name.len());
        if !c.peek().is_some_and(|b| b.is_ascii_alphanumeric()) {
            n = n.saturating_add(1);
        }
    }
    n
}

/// Inflates a stream the loader will inflate (object and cross-reference streams) through
/// every layer of its filters, charging each layer to the document's budget. `None` when the
/// data is not inflatable (the loader cannot read it either).
fn inflate<'a>(
    dict: &[u8],
    data: &'a [u8],
    budget: &Budget,
) -> Result<Option<Cow<'a, [u8]>>, PdfError> {
    use std::io::Read;
    if !has_name(dict, b"/Filter") {
        return Ok(Some(Cow::Borrowed(data)));
    }
    let layers = count_names(dict, b"/FlateDecode");
    let others = [
        &b"/ASCIIHexDecode"[..],
        b"/ASCII85Decode",
        b"/LZWDecode",
        b"/RunLengthDecode",
        b"/Crypt",
    ]
    .iter()
    .map(|f| count_names(dict, f))
    .fold(0usize, usize::saturating_add);
    if layers == 0 || others > 0 {
        return Err(malformed(
            "an object or cross-reference stream uses a filter other than FlateDecode, which is not supported",
        ));
    }
    // Each layer reads the one before from memory (a slice is its own buffer: no copy of the
    // data, no decoder buffer), into room for a typical ratio, within the budget.
    let mut current = Cow::Borrowed(data);
    for _ in 0..layers {
        let room = current
            .len()
            .saturating_mul(4)
            .min(budget.left())
            .min(16 * 1024 * 1024);
        let mut inflated = Vec::with_capacity(room);
        let limit = u64::try_from(budget.left())
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        if flate2::bufread::ZlibDecoder::new(&current[..])
            .take(limit)
            .read_to_end(&mut inflated)
            .is_err()
        {
            return Ok(None);
        }
        budget.charge(inflated.len())?;
        current = Cow::Owned(inflated);
    }
    Ok(Some(current))
}

/// One document's decompression budget, shared by every filter layer, every object and
/// cross-reference stream, every revision's load and the DSS reader. Streams are charged once
/// by their offset in the file.
#[derive(Debug)]
pub struct Budget {
    left: Cell<usize>,
    seen: RefCell<HashSet<usize>>,
    /// The bytes scanned whole under this budget (start address and length), whose prefixes
    /// need no second scan.
    whole: Cell<Option<(usize, usize)>>,
}

impl Default for Budget {
    fn default() -> Self {
        Budget::new(MAX_DECOMPRESSED)
    }
}

impl Budget {
    pub fn new(bytes: usize) -> Budget {
        Budget {
            left: Cell::new(bytes),
            seen: RefCell::new(HashSet::new()),
            whole: Cell::new(None),
        }
    }

    /// What may still be inflated.
    pub fn left(&self) -> usize {
        self.left.get()
    }

    /// Takes `n` bytes from the budget, or fails when it is spent.
    pub fn charge(&self, n: usize) -> Result<(), PdfError> {
        match self.left.get().checked_sub(n) {
            Some(rest) => {
                self.left.set(rest);
                Ok(())
            }
            None => {
                self.left.set(0);
                Err(malformed(
                    "the document's compressed streams inflate to more than the limit (a decompression bomb?)",
                ))
            }
        }
    }

    /// Records that `bytes` were scanned whole.
    fn scanned(&self, bytes: &[u8]) {
        let (start, len) = (bytes.as_ptr().addr(), bytes.len());
        if self.whole.get().is_none_or(|(_, l)| len > l) {
            self.whole.set(Some((start, len)));
        }
    }

    /// Whether `prefix` is a prefix of the bytes scanned whole (the same memory).
    pub fn covers(&self, prefix: &[u8]) -> bool {
        self.whole
            .get()
            .is_some_and(|(start, len)| prefix.as_ptr().addr() == start && prefix.len() <= len)
    }

    /// Whether the stream at `offset` is seen for the first time (then it is charged).
    pub fn first_time(&self, offset: usize) -> bool {
        self.seen.borrow_mut().insert(offset)
    }
}

/// Walks the cross-reference chain from `startxref` through every `/Prev` (and `/XRefStm` of
/// hybrid files) without lopdf, which repairs or follows broken chains silently: each offset
/// must point at cross-reference data, and the chain must not loop.
pub fn xref_chain(bytes: &[u8], start: usize, max_objects: usize) -> Result<(), PdfError> {
    let mut seen = HashSet::new();
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
pub fn check_xref_at(bytes: &[u8], offset: usize) -> Result<(), PdfError> {
    let at = bytes
        .get(offset..)
        .ok_or_else(|| malformed("a cross-reference offset points past the end of the file"))?;
    let at = slice(at, 0, 64);
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
pub fn trailer_dict(bytes: &[u8], offset: usize) -> Option<&[u8]> {
    let rest = bytes.get(offset..)?;
    let from = if rest.starts_with(b"xref") {
        find(rest, b"trailer")?.checked_add(7)?
    } else {
        find(slice(rest, 0, 256), b"obj")?.checked_add(3)?
    };
    let open = from.checked_add(find(slice(rest, from, from.saturating_add(256)), b"<<")?)?;
    let mut depth = 0usize;
    let mut c = Cursor::at(rest, open);
    while let (Some(a), Some(b)) = (c.peek(), c.peek_at(1)) {
        match (a, b) {
            (b'<', b'<') => {
                depth = depth.checked_add(1)?;
                c.advance(1);
            }
            (b'>', b'>') => {
                depth = depth.checked_sub(1)?;
                c.advance(1);
                if depth == 0 {
                    return rest.get(open..=c.pos());
                }
            }
            // Skip a literal string (a trailer /ID may be one).
            (b'(', _) => c.seek(string_end(rest, c.pos())),
            _ => {}
        }
        if depth > MAX_NESTING {
            return None;
        }
        c.advance(1);
    }
    None
}

/// The integer after a key at the top level of a dictionary's text.
pub fn dict_integer(dict: &[u8], key: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    let mut c = Cursor::at(dict, 0);
    while let Some(byte) = c.peek() {
        match byte {
            b'<' if c.peek_at(1) == Some(b'<') => {
                depth = depth.saturating_add(1);
                c.advance(1);
            }
            b'>' if c.peek_at(1) == Some(b'>') => {
                depth = depth.saturating_sub(1);
                c.advance(1);
            }
            // A hex string.
            b'<' => {
                while c.peek().is_some_and(|b| b != b'>') {
                    c.advance(1);
                }
            }
            b'(' => c.seek(string_end(dict, c.pos())),
            b'[' => depth = depth.saturating_add(1),
            b']' => depth = depth.saturating_sub(1),
            b'/' if depth == 1
                && c.starts_with(key)
                && !c
                    .peek_at(key.len())
                    .is_some_and(|b| b.is_ascii_alphanumeric()) =>
            {
                c.advance(key.len());
                return leading_number(c.rest());
            }
            _ => {}
        }
        c.advance(1);
    }
    None
}

/// The offset of the `)` closing the literal string that opens at `bytes[i]` (balanced
/// parentheses, backslash escapes), or the end of `bytes`.
pub fn string_end(bytes: &[u8], i: usize) -> usize {
    let mut level = 0usize;
    let mut c = Cursor::at(bytes, i);
    while let Some(byte) = c.peek() {
        match byte {
            b'\\' => c.advance(1),
            b'(' => level = level.saturating_add(1),
            b')' => {
                level = level.saturating_sub(1);
                if level == 0 {
                    return c.pos();
                }
            }
            _ => {}
        }
        c.advance(1);
    }
    c.pos()
}

/// The `startxref` offset written at the end of the file.
pub fn startxref(bytes: &[u8], max_objects: usize) -> Result<usize, PdfError> {
    let tail = slice(bytes, bytes.len().saturating_sub(1024), bytes.len());
    let pos = rfind(tail, b"startxref").ok_or_else(|| malformed("no startxref"))?;
    let offset = leading_number(slice(tail, pos.saturating_add(9), tail.len()))
        .ok_or_else(|| malformed("startxref is not followed by an offset"))?;
    if offset >= bytes.len() {
        return Err(malformed("startxref points past the end of the file"));
    }
    check_xref_at(bytes, offset)?;
    xref_chain(bytes, offset, max_objects)?;
    Ok(offset)
}

/// Where each revision of the file ends: for every `%%EOF` that closes a `startxref` naming
/// cross-reference data before it, `(just after %%EOF, after its end-of-line too)`. In file
/// order. A `%%EOF` inside stream data does not count unless it looks like a real revision end;
/// a prefix that then does not load is skipped by the caller.
pub fn revision_ends(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut c = Cursor::at(bytes, 0);
    while let Some(pos) = c.find(b"%%EOF") {
        c.seek(pos);
        c.advance(5);
        let after = c.pos();
        let mut eol = c;
        eol.skip_eol();
        let window = slice(bytes, pos.saturating_sub(64), pos);
        let Some(sx) = rfind(window, b"startxref") else {
            continue;
        };
        let Some(offset) = leading_number(slice(window, sx.saturating_add(9), window.len())) else {
            continue;
        };
        if offset > 0 && offset < pos && check_xref_at(bytes, offset).is_ok() {
            out.push((after, eol.pos()));
        }
    }
    out
}

/// Streams whose declared `/Length` does not end at `endstream`: the offsets of their
/// `stream` keywords. Readers disagree on such streams (some trust `/Length`, some scan for
/// `endstream`), so a seal must not cover them. Indirect lengths are resolved by `length_of`.
pub fn length_mismatches(
    bytes: &[u8],
    length_of: &dyn Fn(StreamLength) -> Option<usize>,
) -> Vec<usize> {
    let mut out = Vec::new();
    let mut c = Cursor::at(bytes, 0);
    while let Some(pos) = c.find(b"stream") {
        c.seek(pos);
        c.advance(6);
        // `endstream` contains `stream`; only the keyword after a dictionary counts.
        if slice(bytes, pos.saturating_sub(3), pos) == b"end" {
            continue;
        }
        let before = slice(bytes, pos.saturating_sub(4096), pos);
        let Some(open) = rfind(before, b"obj") else {
            continue;
        };
        let dict = slice(before, open, before.len());
        if !dict.trim_ascii_end().ends_with(b">>") {
            continue;
        }
        let mut data = c;
        data.skip_eol();
        let Some(end) = stream_length(dict)
            .and_then(length_of)
            .and_then(|declared| data.pos().checked_add(declared))
        else {
            out.push(pos);
            continue;
        };
        let ends_right = bytes.get(end..).is_some_and(|rest| {
            slice(rest, 0, 16)
                .trim_ascii_start()
                .starts_with(b"endstream")
        });
        if !ends_right {
            out.push(pos);
            continue;
        }
        // Stream data is not scanned for keywords.
        c.seek(end);
    }
    out
}

/// A stream's `/Length` as written: a number, or a reference to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamLength {
    Direct(usize),
    Indirect(u32, u16),
}

/// The `/Length` of the stream dictionary whose text ends `dict`.
pub fn stream_length(dict: &[u8]) -> Option<StreamLength> {
    let mut c = Cursor::at(dict, find(dict, b"<<")?);
    loop {
        let key = c.find(b"/Length")?;
        c.seek(key);
        c.advance(7);
        if !c.peek().is_some_and(|b| b.is_ascii_alphanumeric()) {
            break;
        }
    }
    let words: Vec<&[u8]> = c
        .rest()
        .split(|b| b.is_ascii_whitespace() || *b == b'/' || *b == b'>')
        .filter(|w| !w.is_empty())
        .take(3)
        .collect();
    let number = |w: Option<&&[u8]>| -> Option<u64> {
        let w = w?;
        if !w.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(w).ok()?.parse().ok()
    };
    let first = number(words.first())?;
    if words.get(2).is_some_and(|w| *w == b"R") {
        let generation = number(words.get(1))?;
        return Some(StreamLength::Indirect(
            u32::try_from(first).ok()?,
            u16::try_from(generation).ok()?,
        ));
    }
    usize::try_from(first).ok().map(StreamLength::Direct)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nesting scan skips the bytes that cannot change its state, and must still count
    /// every bracket and dictionary outside strings and comments, inside object streams too.
    #[test]
    fn nesting_is_bounded_between_inert_bytes_and_inside_object_streams() {
        use std::io::Write;
        let deep = |open: &str| {
            format!(
                "{}x ",
                format!("{open} inert 12 0 R ").repeat(MAX_NESTING + 1)
            )
        };
        let budget = Budget::default();
        for open in ["[", "<<"] {
            let text = format!("%PDF-1.7\n1 0 obj\n{}\nendobj\n", deep(open));
            assert!(
                depth_scan(text.as_bytes(), Some(&budget)).is_err(),
                "{open}"
            );
        }
        // Brackets in literal strings and comments are not nesting.
        let quiet = format!(
            "%PDF-1.7\n1 0 obj\n({})\n% {}\n[1 2]\nendobj\n",
            "[".repeat(MAX_NESTING * 2),
            "<<".repeat(MAX_NESTING * 2)
        );
        assert!(depth_scan(quiet.as_bytes(), Some(&budget)).is_ok());
        // The same depth hidden in a compressed object stream.
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(format!("5 0 {}", deep("[")).as_bytes())
            .unwrap();
        let data = z.finish().unwrap();
        let mut file = format!(
            "%PDF-1.7\n4 0 obj\n<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length {} >>\nstream\n",
            data.len()
        )
        .into_bytes();
        file.extend_from_slice(&data);
        file.extend_from_slice(b"\nendstream\nendobj\n");
        assert!(depth_scan(&file, Some(&Budget::default())).is_err());
    }

    #[test]
    fn stream_lengths_are_read_as_written() {
        assert_eq!(
            stream_length(b"7 0 obj <</Length1 5/Length 12>>"),
            Some(StreamLength::Direct(12))
        );
        assert_eq!(
            stream_length(b"7 0 obj << /Filter /FlateDecode /Length 9 0 R >>"),
            Some(StreamLength::Indirect(9, 0))
        );
        assert_eq!(stream_length(b"7 0 obj << /Length -3 >>"), None);
        assert_eq!(stream_length(b"7 0 obj << >>"), None);
    }

    #[test]
    fn a_length_that_misses_endstream_is_found() {
        let good = b"1 0 obj <</Length 3>>stream\nabc\nendstream endobj";
        assert!(length_mismatches(good, &|l| match l {
            StreamLength::Direct(n) => Some(n),
            StreamLength::Indirect(..) => None,
        })
        .is_empty());
        let bad = b"1 0 obj <</Length 99999999999>>stream\nabc\nendstream endobj";
        assert_eq!(
            length_mismatches(bad, &|l| match l {
                StreamLength::Direct(n) => Some(n),
                StreamLength::Indirect(..) => None,
            }),
            vec![31]
        );
    }

    #[test]
    fn revision_ends_follow_startxref() {
        let one = b"%PDF-1.7\nxref\n0 1\ntrailer<<>>\nstartxref\n9\n%%EOF\n";
        assert_eq!(revision_ends(one), vec![(one.len() - 1, one.len())]);
        // A %%EOF with no startxref before it (text in a stream) is not a revision end.
        assert!(revision_ends(b"%PDF-1.7 (%%EOF)").is_empty());
    }

    #[test]
    fn budgets_are_shared_and_charged_once_per_stream() {
        let b = Budget::new(10);
        assert!(b.first_time(5));
        assert!(!b.first_time(5));
        assert!(b.charge(6).is_ok());
        assert!(b.charge(6).is_err());
        assert_eq!(b.left(), 0);
    }
}
