//! The log as C2SP tiles (c2sp.org/tlog-tiles): `tile/<L>/<N>[.p/<W>]` holds the 256 (or `W`)
//! consecutive Merkle tree hashes of tree level 8·L starting at index 256·N, and
//! `tile/entries/<N>[.p/<W>]` the entries themselves as uint16-length-prefixed bundles.
//! Tiles are cut from the stored complete subtrees (every level is kept, see
//! [`super::TransparencyLog::integrate`]), so nothing is stored twice.
//!
//! Hand-written: the path grammar and bundle encoding are a few lines, and no crate serves
//! tiles from our own store.

/// Hashes in a full tile.
pub const TILE_WIDTH: u64 = 256;
/// Highest tile level with any node in a tree of fewer than 2^64 leaves (levels 0, 8, …, 56).
const MAX_LEVEL: u8 = 7;

/// What a tile holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TileKind {
    /// Merkle tree hashes of tree level 8·L.
    Hashes(u8),
    /// Log entries (the data hashed into the level-0 tile).
    Entries,
}

/// A tile resource: kind, index and, for a partial tile, its width (1–255).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TilePath {
    pub kind: TileKind,
    pub index: u64,
    pub partial: Option<u8>,
}

impl TilePath {
    /// Parses the part of a tile URL after `tile/`, e.g. `1/x001/x234/067.p/8` or
    /// `entries/000`. Only the canonical spelling is accepted, so each tile has one URL.
    pub fn parse(path: &str) -> Option<TilePath> {
        let (level, rest) = path.split_once('/')?;
        let kind = if level == "entries" {
            TileKind::Entries
        } else {
            let l = parse_small(level, 63)?;
            TileKind::Hashes(l as u8)
        };
        let (index, partial) = match rest.split_once(".p/") {
            Some((index, width)) => (
                index,
                Some(parse_small(width, 255).filter(|w| *w > 0)? as u8),
            ),
            None => (rest, None),
        };
        let index = parse_index(index)?;
        Some(TilePath {
            kind,
            index,
            partial,
        })
    }

    /// The path after `tile/`.
    pub fn to_path(&self) -> String {
        let level = match self.kind {
            TileKind::Hashes(l) => l.to_string(),
            TileKind::Entries => "entries".to_owned(),
        };
        let mut out = format!("{level}/{}", encode_index(self.index));
        if let Some(w) = self.partial {
            out.push_str(&format!(".p/{w}"));
        }
        out
    }

    /// Number of hashes (or entries) in the tile.
    pub fn width(&self) -> u64 {
        self.partial.map_or(TILE_WIDTH, u64::from)
    }

    /// The tree level of the tile's hashes (0 for entries).
    pub fn tree_level(&self) -> Option<u8> {
        match self.kind {
            TileKind::Hashes(l) if l <= MAX_LEVEL => Some(8 * l),
            TileKind::Hashes(_) => None,
            TileKind::Entries => Some(0),
        }
    }

    /// The node indices `[start, end)` at [`Self::tree_level`] the tile holds, if a tree of
    /// `size` leaves has them all (a tile is served only once every hash in it is final).
    pub fn range_in(&self, size: u64) -> Option<(u64, u64)> {
        let level = self.tree_level()?;
        let nodes = size >> level;
        let start = self.index.checked_mul(TILE_WIDTH)?;
        let end = start.checked_add(self.width())?;
        (end <= nodes).then_some((start, end))
    }
}

/// `N` as zero-padded three-digit path elements, all but the last prefixed with `x`:
/// 1234067 → `x001/x234/067`.
pub fn encode_index(n: u64) -> String {
    let mut groups = vec![format!("{:03}", n % 1000)];
    let mut rest = n / 1000;
    while rest > 0 {
        groups.push(format!("x{:03}", rest % 1000));
        rest /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

fn parse_index(s: &str) -> Option<u64> {
    let parts: Vec<&str> = s.split('/').collect();
    let (last, init) = parts.split_last()?;
    let mut n: u64 = 0;
    for (i, part) in init.iter().enumerate() {
        let digits = part.strip_prefix('x')?;
        // No leading all-zero group: one spelling per index.
        if i == 0 && digits == "000" {
            return None;
        }
        n = n.checked_mul(1000)?.checked_add(three_digits(digits)?)?;
    }
    n.checked_mul(1000)?.checked_add(three_digits(last)?)
}

fn three_digits(s: &str) -> Option<u64> {
    (s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// A decimal without leading zeros, at most `max`.
fn parse_small(s: &str, max: u64) -> Option<u64> {
    super::cosign::parse_decimal(s).filter(|n| *n <= max)
}

/// An entry bundle: each entry as a big-endian uint16 length and its bytes. `None` if an
/// entry is longer than 65,535 bytes (trustd's entries are a few hundred bytes).
pub fn entry_bundle<'a>(entries: impl IntoIterator<Item = &'a [u8]>) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for e in entries {
        out.extend_from_slice(&u16::try_from(e.len()).ok()?.to_be_bytes());
        out.extend_from_slice(e);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_known_answers() {
        // The examples of c2sp.org/tlog-tiles.
        assert_eq!(encode_index(1234067), "x001/x234/067");
        assert_eq!(encode_index(0), "000");
        assert_eq!(encode_index(999), "999");
        assert_eq!(encode_index(1000), "x001/000");
        let p = TilePath::parse("0/x001/x234/067").unwrap();
        assert_eq!(
            (p.kind, p.index, p.partial),
            (TileKind::Hashes(0), 1234067, None)
        );
        let p = TilePath::parse("1/x001/x234/067.p/8").unwrap();
        assert_eq!(
            (p.kind, p.index, p.partial),
            (TileKind::Hashes(1), 1234067, Some(8))
        );
        assert_eq!(p.to_path(), "1/x001/x234/067.p/8");
        let p = TilePath::parse("entries/000.p/255").unwrap();
        assert_eq!(
            (p.kind, p.index, p.partial),
            (TileKind::Entries, 0, Some(255))
        );
        for bad in [
            "0/1",
            "0/0001",
            "0/x000/001",
            "0/001/002",
            "0/x1/002",
            "00/000",
            "64/000",
            "0/000.p/0",
            "0/000.p/256",
            "0/000.p/08",
            "0/000.p/",
            "x/000",
            "entries/",
            "0/x18446744073709551/615",
            "0/x99999/x999/x999/x999/x999/x999/x999/999",
        ] {
            assert_eq!(TilePath::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn tiles_of_the_specs_example_tree() {
        // "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial
        // level 0 tile of width 112, one full level 1 tile, one partial level 1 tile of width
        // 17, and one partial level 2 tile of width 1."
        let size = 70_000;
        let tile = |l, index, partial| TilePath {
            kind: TileKind::Hashes(l),
            index,
            partial,
        };
        assert!(tile(0, 272, None).range_in(size).is_some());
        assert!(tile(0, 273, None).range_in(size).is_none());
        assert!(tile(0, 273, Some(112)).range_in(size).is_some());
        assert!(tile(0, 273, Some(113)).range_in(size).is_none());
        assert_eq!(tile(1, 0, None).range_in(size), Some((0, 256)));
        assert!(tile(1, 1, None).range_in(size).is_none());
        assert_eq!(tile(1, 1, Some(17)).range_in(size), Some((256, 273)));
        assert_eq!(tile(2, 0, Some(1)).range_in(size), Some((0, 1)));
        assert!(tile(2, 0, Some(2)).range_in(size).is_none());
        assert!(tile(3, 0, Some(1)).range_in(size).is_none());
        // "a tree of size 256 will be represented by a full level 0 tile and a partial level 1
        // tile of width 1."
        assert!(tile(0, 0, None).range_in(256).is_some());
        assert!(tile(1, 0, Some(1)).range_in(256).is_some());
    }

    #[test]
    fn bundles_are_length_prefixed() {
        let b = entry_bundle([b"ab".as_slice(), b"".as_slice()]).unwrap();
        assert_eq!(b, [0, 2, b'a', b'b', 0, 0]);
        assert!(entry_bundle([vec![0u8; 65_536].as_slice()]).is_none());
    }
}
