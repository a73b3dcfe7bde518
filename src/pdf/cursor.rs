//! A bounds-checked position in untrusted bytes, for the raw scanners of [`super::scan`]: every
//! read is a `get`, every step saturates at the end, so no hostile offset, length or nesting
//! can index out of bounds or overflow. (Hand-written: the scanners need a few byte-level
//! operations on one borrowed slice, which no parsing crate offers without owning the input.)

/// A position in `bytes`, never past its end.
#[derive(Debug, Clone, Copy)]
pub struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at `pos` (clamped to the end).
    pub fn at(bytes: &'a [u8], pos: usize) -> Cursor<'a> {
        Cursor {
            bytes,
            pos: pos.min(bytes.len()),
        }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn is_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    /// The byte at the cursor.
    pub fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// The byte `k` after the cursor.
    pub fn peek_at(&self, k: usize) -> Option<u8> {
        self.bytes.get(self.pos.checked_add(k)?).copied()
    }

    /// The byte before the cursor.
    pub fn before(&self) -> Option<u8> {
        self.bytes.get(self.pos.checked_sub(1)?).copied()
    }

    /// Moves `n` bytes on, stopping at the end.
    pub fn advance(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n).min(self.bytes.len());
    }

    /// Moves to `pos` (clamped to the end).
    pub fn seek(&mut self, pos: usize) {
        self.pos = pos.min(self.bytes.len());
    }

    /// What is left from the cursor on.
    pub fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or_default()
    }

    pub fn starts_with(&self, s: &[u8]) -> bool {
        self.rest().starts_with(s)
    }

    /// The offset (from the start of the bytes) of the next `needle` at or after the cursor.
    pub fn find(&self, needle: &[u8]) -> Option<usize> {
        find(self.rest(), needle).and_then(|at| self.pos.checked_add(at))
    }

    /// Moves past the end-of-line that follows (`\r\n`, `\n` or `\r`), if any.
    pub fn skip_eol(&mut self) {
        if self.peek() == Some(b'\r') {
            self.advance(1);
        }
        if self.peek() == Some(b'\n') {
            self.advance(1);
        }
    }
}

/// `bytes[from..to]`, or what of it exists.
pub fn slice(bytes: &[u8], from: usize, to: usize) -> &[u8] {
    let to = to.min(bytes.len());
    bytes.get(from.min(to)..to).unwrap_or_default()
}

/// The offset of the first `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    memchr::memmem::find(hay, needle)
}

/// The offset of the last `needle` in `hay`.
pub fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    memchr::memmem::rfind(hay, needle)
}

/// The decimal number at the start of `bytes` (after white space), if it fits a `usize`.
pub fn leading_number(bytes: &[u8]) -> Option<usize> {
    let digits: String = bytes
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take_while(|b| b.is_ascii_digit())
        .map(|b| char::from(*b))
        .collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_never_leaves_its_bytes() {
        let mut c = Cursor::at(b"abc", 10);
        assert!(c.is_end());
        assert_eq!(c.peek(), None);
        c.seek(1);
        assert_eq!(c.peek(), Some(b'b'));
        assert_eq!(c.before(), Some(b'a'));
        assert_eq!(c.peek_at(usize::MAX), None);
        c.advance(usize::MAX);
        assert_eq!(c.pos(), 3);
        assert_eq!(c.rest(), b"");
        assert_eq!(slice(b"abc", 2, 1), b"");
        assert_eq!(slice(b"abc", 1, 99), b"bc");
        assert_eq!(leading_number(b"  12 0 R"), Some(12));
        assert_eq!(leading_number(b"99999999999999999999999"), None);
    }
}
