//! A per-department cache of signing keys with their certificates (the licence signers): what
//! was found or issued, kept for a short time. Finding and issuing is the licence service's
//! job; this only remembers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::keys::Signer;

/// A department's signing key, its certificate's serial, the serial of the CA that issued it,
/// and the chain to present (certificate, CA).
pub struct CachedSigner {
    pub signer: Arc<dyn Signer>,
    pub serial: String,
    pub ca_serial: String,
    pub chain: Vec<Vec<u8>>,
    /// Encoded headers of the tokens this signer makes, by token type: they depend only on
    /// the key and the chain, so they are computed once (see `licence::token`).
    pub token_headers: Vec<(&'static str, String)>,
    pub fetched: Instant,
}

impl CachedSigner {
    /// The encoded token header for `typ`, if it was computed.
    pub fn token_header(&self, typ: &str) -> Option<&str> {
        self.token_headers
            .iter()
            .find(|(t, _)| *t == typ)
            .map(|(_, h)| h.as_str())
    }
}

#[derive(Default)]
pub struct SignerCache {
    cache: RwLock<HashMap<String, Arc<CachedSigner>>>,
    /// Held while a signer is looked up or issued, so two requests do not issue two.
    create: tokio::sync::Mutex<()>,
    /// Raised by every forgetting: a signer looked up before it is not kept (its CA may have
    /// been revoked meanwhile).
    generation: AtomicU64,
}

impl std::fmt::Debug for SignerCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignerCache(..)")
    }
}

impl SignerCache {
    /// The department's signer if it was cached less than `ttl` ago.
    pub fn fresh(&self, department: &str, ttl: Duration) -> Option<Arc<CachedSigner>> {
        self.cache
            .read()
            .ok()
            .and_then(|c| c.get(department).cloned())
            .filter(|s| s.fetched.elapsed() < ttl)
    }

    /// The generation to pass to [`SignerCache::insert`], read before looking a signer up.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Keeps a signer looked up since `generation`, unless something was forgotten since.
    pub fn insert(&self, department: &str, signer: Arc<CachedSigner>, generation: u64) {
        if let Ok(mut c) = self.cache.write() {
            if self.generation.load(Ordering::SeqCst) == generation {
                c.insert(department.to_owned(), signer);
            }
        }
    }

    pub fn forget(&self, department: &str) {
        if let Ok(mut c) = self.cache.write() {
            self.generation.fetch_add(1, Ordering::SeqCst);
            c.remove(department);
        }
    }

    /// Forgets every signer (a CA's certificate changed on some instance).
    pub fn forget_all(&self) {
        if let Ok(mut c) = self.cache.write() {
            self.generation.fetch_add(1, Ordering::SeqCst);
            c.clear();
        }
    }

    /// Serialises the issuing of new signers.
    pub async fn creating(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.create.lock().await
    }
}
