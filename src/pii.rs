//! Personal data kept out of the log and the indexes.

/// Keyed hashes (HMAC-SHA256 under the installation's secret salt) of personal data, for the
/// log and for holder look-ups: equal inputs match, but the log reveals nothing readable.
pub struct PiiHasher {
    key: ring::hmac::Key,
}

impl std::fmt::Debug for PiiHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PiiHasher(..)")
    }
}

impl PiiHasher {
    pub fn new(salt: &[u8]) -> Self {
        PiiHasher {
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, salt),
        }
    }
    pub fn hash(&self, value: &str) -> String {
        hex::encode(ring::hmac::sign(&self.key, value.as_bytes()).as_ref())
    }
}
