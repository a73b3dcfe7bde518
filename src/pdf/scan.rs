//! Raw-byte scanning of untrusted PDF input, before any parser sees it: the header, the
//! trailer keywords, the cross-reference chain, nesting depth and object streams.

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
    depth_scan(bytes, Some(budget))
}

/// Bounds the nesting depth of `bytes`. With `streams`, stream data is skipped, and the data of
/// each object stream (`/Type /ObjStm`) is inflated (within the budget) and scanned too: lopdf
/// parses those objects with the same recursive parser.
fn depth_scan(bytes: &[u8], streams: Option<&Budget>) -> Result<(), PdfError> {
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
                let object_stream = has_name(dict, b"/ObjStm");
                if object_stream || has_name(dict, b"/XRef") {
                    if let Some(budget) = streams {
                        let data = &bytes[data_start..data_start + end];
                        let data = match data {
                            [b'\r', b'\n', rest @ ..] | [b'\n', rest @ ..] | [b'\r', rest @ ..] => {
                                rest
                            }
                            _ => data,
                        };
                        // Prefixes of one file (its revisions) share offsets: each stream is
                        // inflated and charged once per document.
                        if budget.first_time(data_start) {
                            let inflated = inflate(dict, data, budget)?;
                            if object_stream {
                                if let Some(inflated) = inflated {
                                    depth_scan(&inflated, None)?;
                                }
                            }
                        }
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
pub fn has_name(dict: &[u8], name: &[u8]) -> bool {
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

/// Inflates a stream the loader will inflate (object and cross-reference streams) through
/// every layer of its filters, charging each layer to the document's budget. `None` when the
/// data is not inflatable (the loader cannot read it either).
fn inflate(dict: &[u8], data: &[u8], budget: &Budget) -> Result<Option<Vec<u8>>, PdfError> {
    use std::io::Read;
    if !has_name(dict, b"/Filter") {
        return Ok(Some(data.to_vec()));
    }
    let layers = count_names(dict, b"/FlateDecode");
    let filters = count_names(dict, b"/FlateDecode")
        + count_names(dict, b"/ASCIIHexDecode")
        + count_names(dict, b"/ASCII85Decode")
        + count_names(dict, b"/LZWDecode")
        + count_names(dict, b"/RunLengthDecode");
    if layers == 0 || filters != layers {
        return Err(malformed(
            "an object or cross-reference stream uses a filter other than FlateDecode, which is not supported",
        ));
    }
    let mut current = data.to_vec();
    for _ in 0..layers {
        let mut inflated = Vec::new();
        let limit = u64::try_from(budget.left())
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        if flate2::read::ZlibDecoder::new(current.as_slice())
            .take(limit)
            .read_to_end(&mut inflated)
            .is_err()
        {
            return Ok(None);
        }
        budget.charge(inflated.len())?;
        current = inflated;
    }
    Ok(Some(current))
}

/// How many times the name `name` (followed by a delimiter) occurs in a dictionary's text.
fn count_names(dict: &[u8], name: &[u8]) -> usize {
    let mut n = 0;
    let mut from = 0;
    while let Some(at) = dict.get(from..).and_then(|d| find(d, name)) {
        let after = dict.get(from + at + name.len());
        if after.is_none_or(|c| !c.is_ascii_alphanumeric()) {
            n += 1;
        }
        from += at + name.len();
    }
    n
}

/// One document's decompression budget, shared by every filter layer, every object and
/// cross-reference stream, every revision's load and the DSS reader. Streams are charged once
/// by their offset in the file.
#[derive(Debug)]
pub struct Budget {
    left: std::cell::Cell<usize>,
    seen: std::cell::RefCell<std::collections::HashSet<usize>>,
}

impl Default for Budget {
    fn default() -> Self {
        Budget::new(MAX_DECOMPRESSED)
    }
}

impl Budget {
    pub fn new(bytes: usize) -> Budget {
        Budget {
            left: std::cell::Cell::new(bytes),
            seen: std::cell::RefCell::new(std::collections::HashSet::new()),
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

    /// Whether the stream at `offset` is seen for the first time (then it is charged).
    pub fn first_time(&self, offset: usize) -> bool {
        self.seen.borrow_mut().insert(offset)
    }
}

/// Walks the cross-reference chain from `startxref` through every `/Prev` (and `/XRefStm` of
/// hybrid files) without lopdf, which repairs or follows broken chains silently: each offset
/// must point at cross-reference data, and the chain must not loop.
pub fn xref_chain(bytes: &[u8], start: usize, max_objects: usize) -> Result<(), PdfError> {
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
pub fn check_xref_at(bytes: &[u8], offset: usize) -> Result<(), PdfError> {
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
pub fn trailer_dict(bytes: &[u8], offset: usize) -> Option<&[u8]> {
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
pub fn dict_integer(dict: &[u8], key: &[u8]) -> Option<usize> {
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
pub fn string_end(bytes: &[u8], mut i: usize) -> usize {
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

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// The `startxref` offset written at the end of the file.
pub fn startxref(bytes: &[u8], max_objects: usize) -> Result<usize, PdfError> {
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

/// Where each revision of the file ends: for every `%%EOF` that closes a `startxref` naming
/// cross-reference data before it, `(just after %%EOF, after its end-of-line too)`. In file
/// order. A `%%EOF` inside stream data does not count unless it looks like a real revision end;
/// a prefix that then does not load is skipped by the caller.
pub fn revision_ends(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut from = 0usize;
    while let Some(at) = bytes.get(from..).and_then(|rest| find(rest, b"%%EOF")) {
        let pos = from + at;
        from = pos + 5;
        let mut end = pos + 5;
        if bytes.get(end) == Some(&b'\r') {
            end += 1;
        }
        if bytes.get(end) == Some(&b'\n') {
            end += 1;
        }
        let window = &bytes[pos.saturating_sub(64)..pos];
        let Some(sx) = rfind(window, b"startxref") else {
            continue;
        };
        let digits: String = window[sx + 9..]
            .iter()
            .skip_while(|b| b.is_ascii_whitespace())
            .take_while(|b| b.is_ascii_digit())
            .map(|b| char::from(*b))
            .collect();
        let Ok(offset) = digits.parse::<usize>() else {
            continue;
        };
        if offset > 0 && offset < pos && check_xref_at(bytes, offset).is_ok() {
            out.push((pos + 5, end));
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
    let mut from = 0usize;
    while let Some(at) = bytes.get(from..).and_then(|rest| find(rest, b"stream")) {
        let pos = from + at;
        from = pos + 6;
        // `endstream` contains `stream`; only the keyword after a dictionary counts.
        if pos >= 3 && bytes.get(pos - 3..pos) == Some(b"end") {
            continue;
        }
        let before = &bytes[pos.saturating_sub(4096)..pos];
        let Some(open) = rfind(before, b"obj") else {
            continue;
        };
        let dict = &before[open..];
        if !dict.trim_ascii_end().ends_with(b">>") {
            continue;
        }
        let mut data = pos + 6;
        if bytes.get(data) == Some(&b'\r') {
            data += 1;
        }
        if bytes.get(data) == Some(&b'\n') {
            data += 1;
        }
        let Some(declared) = stream_length(dict).and_then(length_of) else {
            out.push(pos);
            continue;
        };
        let Some(end) = data.checked_add(declared) else {
            out.push(pos);
            continue;
        };
        let ok = bytes
            .get(end..)
            .map(|rest| {
                let rest = &rest[..rest.len().min(16)];
                let trimmed = rest
                    .iter()
                    .position(|b| !b.is_ascii_whitespace())
                    .map_or(&rest[rest.len()..], |i| &rest[i..]);
                trimmed.starts_with(b"endstream")
            })
            .unwrap_or(false);
        if !ok {
            out.push(pos);
            continue;
        }
        from = end;
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
    let mut from = find(dict, b"<<")?;
    let after = loop {
        let key = from + find(dict.get(from..)?, b"/Length")?;
        let after = dict.get(key + 7..)?;
        if !after.first().is_some_and(|c| c.is_ascii_alphanumeric()) {
            break after;
        }
        from = key + 7;
    };
    let words: Vec<&[u8]> = after
        .split(|b| b.is_ascii_whitespace() || *b == b'/' || *b == b'>')
        .filter(|w| !w.is_empty())
        .take(3)
        .collect();
    let number = |w: Option<&&[u8]>| -> Option<u64> {
        let w = w?;
        if w.is_empty() || !w.iter().all(u8::is_ascii_digit) {
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
