//! The zip package read one way only. The `zip` crate is lenient where readers disagree: with
//! two end records it falls back to an earlier one, it keeps the last of two entries of one
//! name, it takes a name from the Info-ZIP Unicode Path field over the stored one, and it never
//! looks at local headers the central directory does not list. Any of these lets a package show
//! one file set to trustd and another to a viewer. No crate checks the layout itself, so it is
//! walked here (APPNOTE 6.3.10 §4.3) before the crate reads it, and a package that is not laid
//! out plainly is refused: one end record, at the very end; no ZIP64; local entries back to
//! back from offset 0 up to the central directory, each named exactly as its central record; no
//! Unicode Path or Comment fields; unique UTF-8 names; directory entries empty.

use super::OfdError;

const LOCAL: u32 = 0x0403_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const END: u32 = 0x0605_4b50;
const DESCRIPTOR: u32 = 0x0807_4b50;

fn u16_at(b: &[u8], at: usize) -> Option<usize> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?) as usize)
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn bad(what: &str) -> OfdError {
    OfdError::NotZip(format!(
        "{what} (a package must read the same to every reader)"
    ))
}

/// One central directory record.
struct Central<'a> {
    name: &'a [u8],
    flags: usize,
    compressed: usize,
    uncompressed: usize,
    offset: usize,
}

/// Extra fields that rename an entry for some readers only.
fn renames(extra: &[u8]) -> bool {
    let mut at = 0;
    while at + 4 <= extra.len() {
        let id = u16_at(extra, at).unwrap_or(0);
        let len = u16_at(extra, at + 2).unwrap_or(0);
        if id == 0x7075 || id == 0x6375 {
            return true;
        }
        at += 4 + len;
    }
    false
}

/// The end record: exactly one whose comment runs to the end of the file, and a comment that
/// holds no zip signature (a reader scanning backwards would take a record inside it).
fn end_record(b: &[u8]) -> Result<(usize, usize, usize, usize), OfdError> {
    let tail_from = b.len().saturating_sub(22 + 65_535);
    let ends: Vec<usize> = (tail_from..b.len().saturating_sub(21))
        .filter(|&i| {
            u32_at(b, i) == Some(END) && u16_at(b, i + 20).is_some_and(|c| i + 22 + c == b.len())
        })
        .collect();
    let [at] = ends.as_slice() else {
        return Err(bad(
            "the zip has no end record at its end, or more than one",
        ));
    };
    let at = *at;
    if b[at + 22..].windows(2).any(|w| w == b"PK") {
        return Err(bad("the zip's comment holds a zip signature"));
    }
    let disk = u16_at(b, at + 4).unwrap_or(1) | u16_at(b, at + 6).unwrap_or(1);
    let here = u16_at(b, at + 8).unwrap_or(0);
    let total = u16_at(b, at + 10).unwrap_or(0);
    let size = u32_at(b, at + 12).unwrap_or(u32::MAX) as usize;
    let start = u32_at(b, at + 16).unwrap_or(u32::MAX) as usize;
    if disk != 0 || here != total || total == 0xffff || size == 0xffff_ffff || start == 0xffff_ffff
    {
        return Err(bad("multi-disk or ZIP64 archives are not accepted"));
    }
    if start + size != at {
        return Err(bad(
            "the central directory does not end where the end record begins",
        ));
    }
    Ok((at, total, start, size))
}

fn central_records(b: &[u8], start: usize, end: usize) -> Result<Vec<Central<'_>>, OfdError> {
    let mut out = Vec::new();
    let mut at = start;
    while at < end {
        if u32_at(b, at) != Some(CENTRAL) {
            return Err(bad(
                "the central directory holds something else than entries",
            ));
        }
        let field = |o| u16_at(b, at + o).ok_or_else(|| bad("truncated central record"));
        let (n, m, k) = (field(28)?, field(30)?, field(32)?);
        let name = b
            .get(at + 46..at + 46 + n)
            .ok_or_else(|| bad("truncated name"))?;
        let extra = b
            .get(at + 46 + n..at + 46 + n + m)
            .ok_or_else(|| bad("truncated extra field"))?;
        if renames(extra) {
            return Err(bad(
                "an entry carries an Info-ZIP Unicode Path or Comment field",
            ));
        }
        out.push(Central {
            name,
            flags: field(8)?,
            compressed: u32_at(b, at + 20).unwrap_or(0) as usize,
            uncompressed: u32_at(b, at + 24).unwrap_or(0) as usize,
            offset: u32_at(b, at + 42).unwrap_or(u32::MAX) as usize,
        });
        at += 46 + n + m + k;
    }
    if at != end {
        return Err(bad("the central directory's size is wrong"));
    }
    Ok(out)
}

/// Where a local entry's data (and data descriptor) ends.
fn local_end(b: &[u8], c: &Central<'_>) -> Result<usize, OfdError> {
    let at = c.offset;
    if u32_at(b, at) != Some(LOCAL) {
        return Err(bad("a central record points at no local header"));
    }
    let n = u16_at(b, at + 26).ok_or_else(|| bad("truncated local header"))?;
    let m = u16_at(b, at + 28).ok_or_else(|| bad("truncated local header"))?;
    if b.get(at + 30..at + 30 + n) != Some(c.name) {
        return Err(bad(
            "a local header names its entry differently from the central directory",
        ));
    }
    let extra = b.get(at + 30 + n..at + 30 + n + m).unwrap_or_default();
    if renames(extra) {
        return Err(bad(
            "an entry carries an Info-ZIP Unicode Path or Comment field",
        ));
    }
    let data_end = at + 30 + n + m + c.compressed;
    if c.flags & 0x8 == 0 {
        return Ok(data_end);
    }
    // A data descriptor follows: 12 bytes, or 16 with its optional signature.
    let with_sig = u32_at(b, data_end) == Some(DESCRIPTOR);
    Ok(data_end + if with_sig { 16 } else { 12 })
}

/// Checks the layout; returns the entry names in central-directory order.
pub fn check(b: &[u8]) -> Result<Vec<String>, OfdError> {
    let (_, total, start, size) = end_record(b)?;
    let records = central_records(b, start, start + size)?;
    if records.len() != total {
        return Err(bad("the end record counts another number of entries"));
    }
    let mut names = Vec::with_capacity(records.len());
    let mut seen = std::collections::HashSet::new();
    for c in &records {
        let name = std::str::from_utf8(c.name)
            .map_err(|_| OfdError::UnsafeName(String::from_utf8_lossy(c.name).into_owned()))?;
        if !seen.insert(name) {
            return Err(OfdError::Duplicate(name.to_owned()));
        }
        if name.ends_with('/') && c.uncompressed != 0 {
            return Err(OfdError::UnsafeName(name.to_owned()));
        }
        names.push(name.to_owned());
    }
    // Local entries back to back from 0 to the central directory, in any order of records.
    let mut order: Vec<&Central<'_>> = records.iter().collect();
    order.sort_by_key(|c| c.offset);
    let mut expected = 0;
    for c in &order {
        if c.offset != expected {
            return Err(bad(
                "the local entries are not back to back from the start of the file",
            ));
        }
        expected = local_end(b, c)?;
    }
    if expected != start {
        return Err(bad(
            "bytes lie between the last entry and the central directory",
        ));
    }
    Ok(names)
}
