//! In-memory caches: of facts that never change once written (department names, licence types,
//! the log index of a licence's issuance), and of the public view of licences, kept current by
//! invalidation (a status change on this instance forgets the entry at once; one on another
//! instance within a fraction of a second, see `licence::watch_status_changes`). Bounded: when
//! full, a cache is cleared and refills.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::RwLock;

/// A bounded map of immutable values, filled on first use.
pub struct ImmutableCache<K, V> {
    map: RwLock<HashMap<K, V>>,
    capacity: usize,
}

impl<K, V> std::fmt::Debug for ImmutableCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImmutableCache")
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl<K: Eq + Hash + Clone, V: Clone> ImmutableCache<K, V> {
    pub fn new(capacity: usize) -> Self {
        ImmutableCache {
            map: RwLock::new(HashMap::new()),
            capacity,
        }
    }

    /// The cached value, or `load()`'s (cached when it is `Some`).
    pub async fn get_or_load<E, F, Fut>(&self, key: &K, load: F) -> Result<Option<V>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<V>, E>>,
    {
        if let Some(v) = self.map.read().ok().and_then(|m| m.get(key).cloned()) {
            return Ok(Some(v));
        }
        let loaded = load().await?;
        if let Some(v) = &loaded {
            if let Ok(mut m) = self.map.write() {
                if m.len() >= self.capacity {
                    m.clear();
                }
                m.insert(key.clone(), v.clone());
            }
        }
        Ok(loaded)
    }
}

/// A bounded map of values that change rarely and are kept current by invalidation (the public
/// view of licences: a status change forgets the entry). A read that missed takes the epoch
/// before it loads and keeps what it loaded only if nothing was forgotten meanwhile, so that a
/// value read before an invalidation is never kept after it.
pub struct ViewCache<K, V> {
    map: RwLock<HashMap<K, V>>,
    epoch: std::sync::atomic::AtomicU64,
    capacity: usize,
}

impl<K, V> std::fmt::Debug for ViewCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewCache")
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl<K: Eq + Hash + Clone, V: Clone> ViewCache<K, V> {
    pub fn new(capacity: usize) -> Self {
        ViewCache {
            map: RwLock::new(HashMap::new()),
            epoch: std::sync::atomic::AtomicU64::new(0),
            capacity,
        }
    }

    pub fn get(&self, key: &K) -> Option<V> {
        self.map.read().ok().and_then(|m| m.get(key).cloned())
    }

    /// The epoch to pass to [`ViewCache::keep`] after loading a missed value.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Keeps `value` unless something was forgotten since `epoch` was read.
    pub fn keep(&self, epoch: u64, key: K, value: V) {
        if let Ok(mut m) = self.map.write() {
            if self.epoch() != epoch {
                return;
            }
            if m.len() >= self.capacity {
                m.clear();
            }
            m.insert(key, value);
        }
    }

    /// Forgets every entry (a change whose reach is not one key: a revoked CA, a new root).
    pub fn forget_all(&self) {
        if let Ok(mut m) = self.map.write() {
            self.epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            m.clear();
        }
    }

    /// Forgets `key` (its value changed).
    pub fn forget(&self, key: &K) {
        if let Ok(mut m) = self.map.write() {
            self.epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            m.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_read_before_a_change_is_not_kept_after_it() {
        let cache: ViewCache<u32, &str> = ViewCache::new(2);
        let epoch = cache.epoch();
        // A change lands while the read was loading: what it read is stale and not kept.
        cache.forget(&1);
        cache.keep(epoch, 1, "valid");
        assert_eq!(cache.get(&1), None);
        let epoch = cache.epoch();
        cache.keep(epoch, 1, "revoked");
        assert_eq!(cache.get(&1), Some("revoked"));
        cache.forget(&1);
        assert_eq!(cache.get(&1), None);
        for k in 0..5 {
            let e = cache.epoch();
            cache.keep(e, k, "x");
        }
        assert!(cache.map.read().unwrap().len() <= 2);
    }

    #[tokio::test]
    async fn loads_once_and_stays_bounded() {
        let cache: ImmutableCache<u32, u32> = ImmutableCache::new(2);
        let mut loads = 0;
        for _ in 0..3 {
            let v = cache
                .get_or_load(&1, || {
                    loads += 1;
                    async { Ok::<_, ()>(Some(10)) }
                })
                .await
                .unwrap();
            assert_eq!(v, Some(10));
        }
        assert_eq!(loads, 1);
        // Missing values are not cached.
        assert_eq!(
            cache
                .get_or_load(&2, || async { Ok::<_, ()>(None) })
                .await
                .unwrap(),
            None
        );
        for k in 3..10 {
            cache
                .get_or_load(&k, || async move { Ok::<_, ()>(Some(k)) })
                .await
                .unwrap();
        }
        assert!(cache.map.read().unwrap().len() <= 2);
    }
}
