//! The sealer's reader for a document in memory: the cross-reference data (read as
//! [`super::sparse`] reads it), then only the objects an update reads, each parsed when it is
//! first reached. lopdf parses every object of the file, page contents' dictionaries and every
//! member of every object stream (fonts' widths arrays, outlines, name trees); an update reads
//! the catalog, the page tree, the AcroForm and its fields, and DocMDP, which in the shared
//! samples is 3 to 9 objects of 14 to 72.
//!
//! What comes out is a `lopdf::Document` holding those objects, for the same queries
//! ([`super::query`]) as a whole load. The objects are those reached from the trailer's
//! `/Root` through the keys in [`FOLLOWED`], the keys the sealer's queries resolve.
//!
//! The raw checks of a whole load still run first (nesting, the trailer, `startxref`, and every
//! stream's `/Length` against its `endstream`). Whatever this reader does not read the simple
//! way makes it answer `None`, and the caller loads the file whole, whose answer it gives: a
//! cross-reference entry that does not point at its object's header (lopdf would repair the
//! table, which the sealer refuses), a reached object that is missing, free or does not parse,
//! a page tree root that is not a node with `/Kids`, an object stream that names an object
//! twice. Hand-written because lopdf reads only whole documents (its single-object parser is
//! private; an object's text is handed to it as the one member of an object stream).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use lopdf::{Dictionary, Document, Object, ObjectId, ObjectStream, Stream};

use super::cursor::{find, leading_number, slice};
use super::scan::StreamLength;
use super::sparse::{chain, dict_end, eol_len, skip_space, Chain, Entry, Source};
use super::{PdfLimits, MAX_DECOMPRESSED};

/// The keys the sealer's queries resolve (a value under one of them that is a reference, or
/// an array or dictionary holding references, is read): the page tree and inherited boxes
/// ([`super::query::pages`], [`super::query::inherited`]), the page's `/Annots`, the AcroForm,
/// its fields and their rectangles ([`super::query::empty_signature_fields`]) and DocMDP
/// ([`super::query::docmdp_permission`]). A query that resolves another key must add it here.
pub const FOLLOWED: &[&[u8]] = &[
    b"Pages",
    b"Kids",
    b"Parent",
    b"MediaBox",
    b"CropBox",
    b"Annots",
    b"AcroForm",
    b"Fields",
    b"Rect",
    b"Perms",
    b"DocMDP",
    b"Reference",
    b"TransformParams",
];

/// A decoded object stream: its data, `/First`, and the (number, offset) pairs of its header.
struct Decoded {
    data: Vec<u8>,
    first: usize,
    /// Each member's offset after `/First`; `None` for a number the header names twice.
    members: HashMap<u32, Option<usize>>,
    /// Every member's offset, sorted.
    offsets: Vec<usize>,
}

struct Resolver<'a> {
    bytes: &'a [u8],
    entries: &'a BTreeMap<u32, Entry>,
    /// Offsets of the top-level objects, sorted: an object's text ends before the next one.
    offsets: Vec<usize>,
    streams: RefCell<HashMap<u32, Option<Rc<Decoded>>>>,
    /// Object streams being decoded (one's `/Length` may be in another).
    decoding: Cell<usize>,
    /// Indirect `/Length`s read so far (many streams may share one).
    integers: RefCell<HashMap<ObjectId, Option<usize>>>,
    /// What may still be parsed or inflated, in bytes: a hostile file's many lookups (a
    /// thousand streams' lengths in one large object stream) must not cost more than a whole
    /// load; past it, the whole-file reader takes over.
    work: Cell<usize>,
    /// What object streams may still inflate to, all together (they are kept until the load
    /// ends): the most one document may inflate.
    inflated: Cell<usize>,
}

/// Most object streams decoded at once, each for the `/Length` of the one before.
const MAX_CHAIN: usize = 4;

/// The document's update-relevant objects, or `None` when the whole file must be loaded. The
/// caller has run the raw checks ([`super::scan::precheck_within`], [`super::scan::startxref`]).
pub fn document(bytes: &[u8], limits: &PdfLimits) -> Option<Document> {
    let source = Source::memory(bytes)?;
    let Chain {
        entries,
        trailer,
        startxref,
        xref_stream,
    } = chain(&source, limits)?;
    // Object numbers past the limit would let the update's numbers wrap.
    if entries
        .keys()
        .next_back()
        .is_some_and(|n| usize::try_from(*n).map_or(true, |n| n >= limits.max_objects))
    {
        return None;
    }
    let mut offsets = Vec::with_capacity(entries.len());
    for (id, entry) in &entries {
        if let Entry::Normal { offset, generation } = entry {
            if !header_at(bytes, *offset, *id, *generation) {
                return None;
            }
            offsets.push(*offset);
        }
    }
    offsets.sort_unstable();
    let resolver = Resolver {
        bytes,
        entries: &entries,
        offsets,
        streams: RefCell::new(HashMap::new()),
        decoding: Cell::new(0),
        integers: RefCell::new(HashMap::new()),
        work: Cell::new(bytes.len().checked_mul(8)?.checked_add(MAX_DECOMPRESSED)?),
        inflated: Cell::new(MAX_DECOMPRESSED),
    };
    let lengths_agree = super::scan::length_mismatches(bytes, &|l| match l {
        StreamLength::Direct(n) => Some(n),
        StreamLength::Indirect(n, g) => resolver.integer((n, g)),
    })
    .is_empty();
    if !lengths_agree {
        return None;
    }
    let objects = reached(&resolver, &trailer, limits)?;
    let size = entries
        .keys()
        .next_back()
        .map_or(0, |n| n.saturating_add(1));
    let mut doc = Document::new();
    doc.objects = objects;
    doc.trailer = trailer;
    doc.max_id = size.saturating_sub(1);
    doc.xref_start = startxref;
    doc.reference_table = lopdf::xref::Xref::new(
        size,
        if xref_stream {
            lopdf::xref::XrefType::CrossReferenceStream
        } else {
            lopdf::xref::XrefType::CrossReferenceTable
        },
    );
    page_tree_root(&doc).then_some(doc)
}

/// Whether `/Root /Pages` is a dictionary with a `/Kids` array (what lopdf checks before it
/// would rebuild the cross-reference table).
fn page_tree_root(doc: &Document) -> bool {
    doc.catalog()
        .and_then(|c| c.get(b"Pages"))
        .and_then(Object::as_reference)
        .and_then(|id| doc.get_dictionary(id))
        .and_then(|pages| pages.get(b"Kids"))
        .and_then(Object::as_array)
        .is_ok()
}

/// Whether `id gen obj` starts at `offset` (after white space).
fn header_at(bytes: &[u8], offset: usize, id: u32, generation: u16) -> bool {
    let head = slice(bytes, offset, offset.saturating_add(48)).trim_ascii_start();
    let mut words = head
        .split(u8::is_ascii_whitespace)
        .filter(|w| !w.is_empty());
    let (Some(a), Some(b), Some(c)) = (words.next(), words.next(), words.next()) else {
        return false;
    };
    leading_number(a) == usize::try_from(id).ok()
        && a.iter().all(u8::is_ascii_digit)
        && leading_number(b) == Some(usize::from(generation))
        && b.iter().all(u8::is_ascii_digit)
        && c.starts_with(b"obj")
}

/// Every object reached from the trailer's `/Root` through [`FOLLOWED`].
fn reached(
    resolver: &Resolver<'_>,
    trailer: &Dictionary,
    limits: &PdfLimits,
) -> Option<BTreeMap<ObjectId, Object>> {
    let root = trailer.get(b"Root").ok()?.as_reference().ok()?;
    let mut objects = BTreeMap::new();
    let mut pending = vec![root];
    while let Some(id) = pending.pop() {
        if objects.contains_key(&id) {
            continue;
        }
        if objects.len() >= limits.max_objects {
            return None;
        }
        let object = resolver.resolve(id)?;
        references(&object, &mut pending);
        objects.insert(id, object);
    }
    Some(objects)
}

/// The references an object reached leads to: under [`FOLLOWED`] keys of a dictionary (in
/// arrays and inline dictionaries too), and every item of an array (one reached under such a
/// key, written by reference: `/Kids`, `/Fields`, `/Annots`...). A stream leads nowhere.
fn references(object: &Object, out: &mut Vec<ObjectId>) {
    let mut values: Vec<&Object> = match object {
        Object::Dictionary(dict) => dict
            .iter()
            .filter(|(k, _)| FOLLOWED.contains(&k.as_slice()))
            .map(|(_, v)| v)
            .collect(),
        Object::Array(items) => items.iter().collect(),
        // An object that is a reference: lopdf's lookups follow it.
        Object::Reference(_) => vec![object],
        _ => Vec::new(),
    };
    // Inline values nest no deeper than the file's checked nesting.
    while let Some(value) = values.pop() {
        match value {
            Object::Reference(id) => out.push(*id),
            Object::Array(items) => values.extend(items.iter()),
            Object::Dictionary(d) => values.extend(
                d.iter()
                    .filter(|(k, _)| FOLLOWED.contains(&k.as_slice()))
                    .map(|(_, v)| v),
            ),
            _ => {}
        }
    }
}

impl Resolver<'_> {
    /// Object `id` as the cross-reference data places it; `None` when it is free, missing, of
    /// another generation, or does not parse.
    fn resolve(&self, id: ObjectId) -> Option<Object> {
        self.located(id, |offset| self.top_level(offset))
    }

    /// Object `id`, read by `top_level` when its entry gives an offset, or from its object
    /// stream.
    fn located(
        &self,
        (number, generation): ObjectId,
        top_level: impl FnOnce(usize) -> Option<Object>,
    ) -> Option<Object> {
        match *self.entries.get(&number)? {
            Entry::Free => None,
            Entry::Normal {
                offset,
                generation: g,
            } => (g == generation).then(|| top_level(offset))?,
            Entry::Compressed { container, .. } => {
                (generation == 0).then(|| self.compressed(number, container))?
            }
        }
    }

    /// A non-negative integer object (an indirect `/Length`). Never a dictionary or stream, so
    /// resolving a length does not read another stream's length: no cycle through lengths.
    fn integer(&self, id: ObjectId) -> Option<usize> {
        if let Some(known) = self.integers.borrow().get(&id) {
            return *known;
        }
        let value = self
            .located(id, |offset| self.plain(offset))
            .and_then(|o| o.as_i64().ok())
            .and_then(|n| usize::try_from(n).ok());
        self.integers.borrow_mut().insert(id, value);
        value
    }

    /// The text of the top-level object at `offset`, up to the next object's offset, and where
    /// its body starts (after `obj` and white space).
    fn text_at(&self, offset: usize) -> Option<(&[u8], usize)> {
        let next = self
            .offsets
            .get(self.offsets.partition_point(|o| *o <= offset))
            .copied()
            .unwrap_or(self.bytes.len());
        let text = self.bytes.get(offset..next)?;
        let open = find(slice(text, 0, 64), b"obj")?.checked_add(3)?;
        let body = skip_space(slice(text, open, text.len()));
        Some((text, text.len().checked_sub(body.len())?))
    }

    /// The object at `offset` when it is not a dictionary (nor a stream): up to `endobj`.
    fn plain(&self, offset: usize) -> Option<Object> {
        let (text, body_at) = self.text_at(offset)?;
        let body = slice(text, body_at, text.len());
        if body.starts_with(b"<<") {
            return None;
        }
        let end = find(body, b"endobj")?;
        self.charge(end)?;
        parse_object(slice(body, 0, end))
    }

    /// The object at `offset` (its header checked): a dictionary (with its stream's data), or
    /// any other object up to `endobj`.
    fn top_level(&self, offset: usize) -> Option<Object> {
        let (text, body_at) = self.text_at(offset)?;
        if !slice(text, body_at, text.len()).starts_with(b"<<") {
            return self.plain(offset);
        }
        let end = dict_end(text, body_at)?;
        self.charge(end)?;
        let Object::Dictionary(dict) = parse_object(slice(text, body_at, end))? else {
            return None;
        };
        let after = slice(text, end, text.len());
        let rest = skip_space(after);
        if !rest.starts_with(b"stream") {
            return Some(Object::Dictionary(dict));
        }
        let declared = match dict.get(b"Length").ok()? {
            Object::Integer(n) => usize::try_from(*n).ok()?,
            Object::Reference(id) => self.integer(*id)?,
            _ => return None,
        };
        let keyword = end.checked_add(after.len().checked_sub(rest.len())?)?;
        let eol = slice(text, keyword.checked_add(6)?, text.len());
        let data_at = keyword.checked_add(6)?.checked_add(eol_len(eol)?)?;
        let data = text.get(data_at..data_at.checked_add(declared)?)?;
        self.charge(declared)?;
        // The data, an optional end-of-line, then `endstream`, as lopdf reads a stream (white
        // space there would have it recover the length another way).
        let closing = slice(text, data_at.checked_add(declared)?, text.len());
        let closing = [&b"\r\n"[..], b"\n", b"\r"]
            .iter()
            .find_map(|eol| closing.strip_prefix(*eol))
            .unwrap_or(closing);
        if !closing.starts_with(b"endstream") {
            return None;
        }
        // `Stream::new` writes /Length as the data's length; the dictionary is kept as written.
        let mut stream = Stream::new(Dictionary::new(), data.to_vec());
        stream.dict = dict;
        Some(Object::Stream(stream))
    }

    /// Object `number` from object stream `container`, which must name it exactly once, as
    /// lopdf parses it: from its offset on, not cut at the next member's offset (a number cut
    /// short would read as another number). The text up to the next member is tried first when
    /// it ends with a closing delimiter (`>`, `]`, `)`): an object parsed from it is then the
    /// one parsed from the offset on, since no token can run on past such a cut. Otherwise
    /// (a number, a name, a reference at the cut), the rest of the stream is parsed.
    fn compressed(&self, number: u32, container: u32) -> Option<Object> {
        let decoded = self.object_stream(container)?;
        let offset = (*decoded.members.get(&number)?)?;
        let member = decoded.data.get(decoded.first.checked_add(offset)?..)?;
        let next = decoded
            .offsets
            .get(decoded.offsets.partition_point(|o| *o <= offset))
            .and_then(|o| o.checked_sub(offset));
        if let Some(len) = next {
            let cut = slice(member, 0, len);
            let closed = cut
                .trim_ascii_end()
                .last()
                .is_some_and(|b| matches!(b, b'>' | b']' | b')'));
            if closed {
                self.charge(cut.len())?;
                if let Some(object) = parse_object(cut) {
                    return Some(object);
                }
            }
        }
        self.charge(member.len())?;
        parse_object(member)
    }

    /// Draws `n` bytes of parsing or inflating from the work budget.
    fn charge(&self, n: usize) -> Option<()> {
        self.work.set(self.work.get().checked_sub(n)?);
        Some(())
    }

    /// Object stream `container`, decoded once per document. Its `/Length` may be held by
    /// another object stream, whose own by another: the chain is cut short (a stream being
    /// decoded reads as missing, and at most [`MAX_CHAIN`] are decoded at once).
    fn object_stream(&self, container: u32) -> Option<Rc<Decoded>> {
        if let Some(done) = self.streams.borrow().get(&container) {
            return done.clone();
        }
        self.streams.borrow_mut().insert(container, None);
        let depth = self.decoding.get();
        if depth >= MAX_CHAIN {
            return None;
        }
        self.decoding.set(depth.saturating_add(1));
        let decoded = self.decode(container).map(Rc::new);
        self.decoding.set(depth);
        self.streams.borrow_mut().insert(container, decoded.clone());
        decoded
    }

    fn decode(&self, container: u32) -> Option<Decoded> {
        let Entry::Normal { offset, .. } = *self.entries.get(&container)? else {
            return None;
        };
        let Object::Stream(stream) = self.top_level(offset)? else {
            return None;
        };
        // lopdf drops an object stream without an integer /N, and its members with it.
        if !stream.dict.has_type(b"ObjStm")
            || stream.dict.get(b"N").and_then(Object::as_i64).is_err()
        {
            return None;
        }
        let data = stream
            .get_plain_content_with_limit(self.inflated.get().min(self.work.get()))
            .ok()?;
        self.charge(data.len())?;
        self.inflated
            .set(self.inflated.get().checked_sub(data.len())?);
        let first = usize::try_from(stream.dict.get(b"First").ok()?.as_i64().ok()?).ok()?;
        let header = std::str::from_utf8(data.get(..first)?).ok()?;
        let numbers: Vec<usize> = header
            .split_ascii_whitespace()
            .map(|w| w.parse().ok())
            .collect::<Option<_>>()?;
        let mut members: HashMap<u32, Option<usize>> = HashMap::new();
        let mut offsets = Vec::with_capacity(numbers.len() / 2);
        for pair in numbers.chunks_exact(2) {
            let &[n, o] = pair else {
                return None;
            };
            members
                .entry(u32::try_from(n).ok()?)
                .and_modify(|twice| *twice = None)
                .or_insert(Some(o));
            offsets.push(o);
        }
        offsets.sort_unstable();
        Some(Decoded {
            data,
            first,
            members,
            offsets,
        })
    }
}

/// Parses one direct object's text with lopdf's parser, as the one member of an uncompressed
/// object stream (lopdf's parser is private; a one-object PDF would cost a whole load).
fn parse_object(text: &[u8]) -> Option<Object> {
    const PREFIX: &[u8] = b"1 0 ";
    let mut data = Vec::with_capacity(PREFIX.len().checked_add(text.len())?);
    data.extend_from_slice(PREFIX);
    data.extend_from_slice(text);
    let mut dict = Dictionary::new();
    dict.set("Type", Object::Name(b"ObjStm".to_vec()));
    dict.set("N", Object::Integer(1));
    dict.set("First", Object::Integer(4));
    let stream = Stream::new(dict, data);
    ObjectStream::new_with_limit(&stream, Some(super::sparse::MAX_OBJECT))
        .ok()?
        .objects
        .remove(&(1, 0))
}

#[cfg(test)]
#[allow(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::as_conversions
)]
mod tests {
    use super::*;

    /// A PDF of the top-level `streams` (number, dictionary, data) and a cross-reference
    /// stream (uncompressed) naming every object: `compressed` lists the (number, container,
    /// index) of the objects in object streams.
    fn with_object_streams(
        streams: &[(u32, &str, &str)],
        compressed: &[(u32, u32, u32)],
    ) -> Vec<u8> {
        let mut pdf = b"%PDF-1.7\n".to_vec();
        let mut normal = Vec::new();
        for (number, dict, data) in streams {
            normal.push((*number, pdf.len()));
            pdf.extend_from_slice(
                format!("{number} 0 obj\n{dict}\nstream\n{data}\nendstream\nendobj\n").as_bytes(),
            );
        }
        let size = 1 + normal
            .iter()
            .map(|(n, _)| *n)
            .chain(compressed.iter().map(|(n, _, _)| *n))
            .max()
            .unwrap();
        let xref_at = pdf.len();
        let mut rows = vec![[0u8; 7]; size as usize + 1];
        for (n, at) in &normal {
            rows[*n as usize][0] = 1;
            rows[*n as usize][1..5].copy_from_slice(&(*at as u32).to_be_bytes());
        }
        for (n, container, index) in compressed {
            rows[*n as usize][0] = 2;
            rows[*n as usize][1..5].copy_from_slice(&container.to_be_bytes());
            rows[*n as usize][5..7].copy_from_slice(&(*index as u16).to_be_bytes());
        }
        rows[size as usize][0] = 1;
        rows[size as usize][1..5].copy_from_slice(&(xref_at as u32).to_be_bytes());
        let data: Vec<u8> = rows.concat();
        pdf.extend_from_slice(
            format!(
                "{size} 0 obj\n<</Type/XRef/Size {}/W[1 4 2]/Root 1 0 R/Length {}>>\nstream\n",
                size + 1,
                data.len()
            )
            .as_bytes(),
        );
        pdf.extend_from_slice(&data);
        pdf.extend_from_slice(
            format!("\nendstream\nendobj\nstartxref\n{xref_at}\n%%EOF\n").as_bytes(),
        );
        pdf
    }

    fn object_stream(members: &[(u32, &str)]) -> (String, String) {
        let mut header = String::new();
        let mut body = String::new();
        for (n, text) in members {
            header.push_str(&format!("{n} {} ", body.len()));
            body.push_str(text);
            body.push('\n');
        }
        let data = format!("{header}{body}");
        (
            format!("/Type/ObjStm/N {}/First {}", members.len(), header.len()),
            data,
        )
    }

    const CATALOG: (u32, &str) = (1, "<</Type/Catalog/Pages 2 0 R>>");
    const PAGES: (u32, &str) = (2, "<</Type/Pages/Kids[3 0 R]/Count 1>>");
    const PAGE: (u32, &str) = (3, "<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>");

    #[test]
    fn objects_in_object_streams_are_read_and_only_those_reached() {
        // Object 5, in the stream too, is reached by nothing the sealer follows.
        let (dict, data) = object_stream(&[CATALOG, PAGES, PAGE, (5, "[1 2 3]")]);
        let pdf = with_object_streams(
            &[(4, &format!("<<{dict}/Length {}>>", data.len()), &data)],
            &[(1, 4, 0), (2, 4, 1), (3, 4, 2), (5, 4, 3)],
        );
        let whole = lopdf::Document::load_mem(&pdf).unwrap();
        assert!(whole.get_object((5, 0)).is_ok());
        let doc = document(&pdf, &PdfLimits::default()).unwrap();
        let mut ids: Vec<ObjectId> = doc.objects.keys().copied().collect();
        ids.sort_unstable();
        assert_eq!(ids, vec![(1, 0), (2, 0), (3, 0)]);
        for id in ids {
            assert_eq!(doc.get_object(id).unwrap(), whole.get_object(id).unwrap());
        }
    }

    /// A member is parsed from its offset on, as lopdf parses it, not cut at the next
    /// member's offset (header `7 0 8 2` over `1234`: object 7 is 1234, not 12).
    #[test]
    fn members_are_not_cut_at_the_next_offset() {
        let (_, data) = object_stream(&[CATALOG, PAGES, PAGE]);
        // The header of the three, then 7 and 8 pointing at "1234" and "34" after the body.
        let header_len = data.find('<').unwrap();
        let (header, body) = data.split_at(header_len);
        let header = format!("{header}7 {} 8 {} ", body.len(), body.len() + 2);
        let data = format!("{header}{body}1234");
        let dict = format!("/Type/ObjStm/N 5/First {}", header.len());
        let pdf = with_object_streams(
            &[(4, &format!("<<{dict}/Length {}>>", data.len()), &data)],
            &[(1, 4, 0), (2, 4, 1), (3, 4, 2), (7, 4, 3), (8, 4, 4)],
        );
        let whole = lopdf::Document::load_mem(&pdf).unwrap();
        assert_eq!(whole.get_object((7, 0)).unwrap(), &Object::Integer(1234));
        let source = Source::memory(&pdf).unwrap();
        let chain = chain(&source, &PdfLimits::default()).unwrap();
        let offsets = chain
            .entries
            .values()
            .filter_map(|e| match e {
                Entry::Normal { offset, .. } => Some(*offset),
                _ => None,
            })
            .collect();
        let resolver = Resolver {
            bytes: &pdf,
            entries: &chain.entries,
            offsets,
            streams: RefCell::new(HashMap::new()),
            decoding: Cell::new(0),
            integers: RefCell::new(HashMap::new()),
            work: Cell::new(1 << 30),
            inflated: Cell::new(MAX_DECOMPRESSED),
        };
        assert_eq!(resolver.resolve((7, 0)), Some(Object::Integer(1234)));
        assert_eq!(resolver.integer((7, 0)), Some(1234));
        assert_eq!(resolver.resolve((8, 0)), Some(Object::Integer(34)));
    }

    /// Two object streams whose `/Length`s are each held by the other: reading them ends (with
    /// `None`: the whole-file reader decides), it does not recurse until the stack overflows;
    /// an object named twice in its stream is left to the whole reader too.
    #[test]
    fn hostile_object_streams_are_left_to_the_whole_reader() {
        let (dict4, data4) = object_stream(&[CATALOG, PAGES, PAGE, (7, "100")]);
        let (dict6, data6) = object_stream(&[(5, "0")]);
        let pdf = with_object_streams(
            &[
                (4, &format!("<<{dict4}/Length 5 0 R>>"), &data4),
                (6, &format!("<<{dict6}/Length 7 0 R>>"), &data6),
            ],
            &[(1, 4, 0), (2, 4, 1), (3, 4, 2), (7, 4, 3), (5, 6, 0)],
        );
        assert!(document(&pdf, &PdfLimits::default()).is_none());

        let (dict, data) = object_stream(&[CATALOG, PAGES, PAGE, (2, "<</Type/Pages/Kids[]>>")]);
        let pdf = with_object_streams(
            &[(4, &format!("<<{dict}/Length {}>>", data.len()), &data)],
            &[(1, 4, 0), (2, 4, 1), (3, 4, 2)],
        );
        assert!(document(&pdf, &PdfLimits::default()).is_none());

        // An object stream without /N: lopdf drops it and its members.
        let (dict, data) = object_stream(&[CATALOG, PAGES, PAGE]);
        let dict = dict.replace("/N 3", "");
        let pdf = with_object_streams(
            &[(4, &format!("<<{dict}/Length {}>>", data.len()), &data)],
            &[(1, 4, 0), (2, 4, 1), (3, 4, 2)],
        );
        assert!(document(&pdf, &PdfLimits::default()).is_none());
    }
}
