//! In-memory caches of facts that never change once written: department names, licence types,
//! the log index of a licence's issuance. (Statuses are never cached: a suspension or
//! revocation shows on the next check.) Bounded: when full, a cache is cleared and refills.

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

#[cfg(test)]
mod tests {
    use super::*;

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
