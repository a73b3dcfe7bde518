//! Licence tokens as stored (migration 0012): a token's protected header — `alg`, `kid`, `typ`
//! and the `x5c` chain, about 2.5 KB of base64url — is the same for every licence one signer
//! signs, and a licence holds two tokens (the JWS and the SD-JWT), so the headers were two
//! thirds of each row. Each distinct header is stored once in `token_headers`, keyed by the
//! SHA-256 of its text; the row keeps the token from its first `.` on and that digest. A row
//! stored before keeps its whole tokens and no digest. Read back, the token is the header's
//! text followed by the rest: byte for byte what was signed and handed out.

use std::sync::Mutex;

/// A token split for storage.
pub(super) struct StoredToken<'a> {
    /// The protected header's text and its SHA-256; `None` when the token is stored whole.
    pub header: Option<(&'a str, [u8; 32])>,
    /// What the licence row keeps: from the first `.` on (or the whole token).
    pub rest: &'a str,
}

impl StoredToken<'_> {
    /// The digest as the row's `*_header` column.
    pub fn digest(&self) -> Option<Vec<u8>> {
        self.header.map(|(_, d)| d.to_vec())
    }
}

/// Digests of the headers seen last: a busy writer stores thousands of licences under the same
/// two or three headers, and comparing 2.5 KB is cheaper than hashing it again (the writer
/// thread is the stage that limits issuance).
static RECENT: Mutex<Vec<(Box<str>, [u8; 32])>> = Mutex::new(Vec::new());
const RECENT_KEPT: usize = 8;

fn digest_of(header: &str) -> [u8; 32] {
    let mut recent = RECENT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(pos) = recent.iter().position(|(h, _)| **h == *header) {
        let digest = recent[pos].1;
        // Most recent first: the common header is found at the first comparison.
        recent[..=pos].rotate_right(1);
        return digest;
    }
    let mut digest = [0u8; 32];
    digest.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, header.as_bytes()).as_ref());
    recent.insert(0, (header.into(), digest));
    recent.truncate(RECENT_KEPT);
    digest
}

/// Splits a token (compact JWS, or SD-JWT `header.payload.signature~…~`) at its first `.`.
pub(super) fn split(token: &str) -> StoredToken<'_> {
    match token.find('.') {
        Some(dot) if dot > 0 => StoredToken {
            header: Some((&token[..dot], digest_of(&token[..dot]))),
            rest: &token[dot..],
        },
        _ => StoredToken {
            header: None,
            rest: token,
        },
    }
}

/// The token again from a row: `digest` is the row's `*_header` column, `header` the text the
/// join found for it.
pub(super) fn join(
    digest: Option<Vec<u8>>,
    header: Option<String>,
    rest: String,
) -> Result<String, sqlx::Error> {
    match (digest, header) {
        (None, _) => Ok(rest),
        (Some(_), Some(mut header)) => {
            header.push_str(&rest);
            Ok(header)
        }
        (Some(_), None) => Err(sqlx::Error::Decode(
            "a licence token's header is missing from token_headers".into(),
        )),
    }
}

/// The distinct headers of some tokens, in order of first appearance.
pub(super) fn distinct_headers<'a>(
    tokens: impl Iterator<Item = &'a str>,
) -> Vec<(&'a str, [u8; 32])> {
    let mut out: Vec<(&str, [u8; 32])> = Vec::new();
    for token in tokens {
        if let Some((text, digest)) = split(token).header {
            if !out.iter().any(|(_, d)| *d == digest) {
                out.push((text, digest));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_splits_at_its_first_dot_and_joins_back_byte_for_byte() {
        let jws = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln";
        let sd = "eyJhbGciOiJFUzI1NiJ9.eyJfc2QiOltdfQ.c2ln~WyJzIiwiYSIsMV0~";
        for token in [jws, sd] {
            let parts = split(token);
            let (text, digest) = parts.header.expect("has a header");
            assert_eq!(text, "eyJhbGciOiJFUzI1NiJ9");
            assert_eq!(
                digest.as_slice(),
                ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref()
            );
            assert!(parts.rest.starts_with('.'));
            let back = join(parts.digest(), Some(text.to_owned()), parts.rest.to_owned());
            assert_eq!(back.unwrap(), token);
        }
        // Two tokens under one header: one header to store.
        assert_eq!(distinct_headers([jws, sd].into_iter()).len(), 1);
    }

    #[test]
    fn a_row_without_digest_is_whole_and_a_missing_header_is_an_error() {
        assert_eq!(join(None, None, "a.b.c".into()).unwrap(), "a.b.c");
        assert!(join(Some(vec![0; 32]), None, ".b.c".into()).is_err());
        // Nothing before the first dot: stored whole.
        let odd = split(".b.c");
        assert!(odd.header.is_none());
        assert_eq!(odd.rest, ".b.c");
    }
}
