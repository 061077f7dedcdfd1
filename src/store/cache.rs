//! A read-through cache of per-user data that only its room writes. Readers fill it from the
//! database; writers change the database, then `invalidate`. The epoch keeps a reader that
//! loaded before a write from caching what it read: a value is cached only if no write ended
//! while it was being loaded. On one node this keeps the cache true; across nodes the cluster
//! bus carries the invalidations (`Bus::invalidated`), and a node that may miss them bypasses its
//! caches (`set_in_sync`).

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// False while this node may miss other nodes' invalidations (its cluster subscription is
/// down): caches then neither answer nor fill, every read goes to the database.
static IN_SYNC: AtomicBool = AtomicBool::new(true);

pub fn set_in_sync(in_sync: bool) {
    IN_SYNC.store(in_sync, Ordering::Release);
}

pub fn in_sync() -> bool {
    IN_SYNC.load(Ordering::Acquire)
}

pub struct EpochCache<K, V> {
    entries: RwLock<HashMap<K, Arc<V>>>,
    epoch: AtomicU64,
}

impl<K: Eq + Hash + Clone, V> Default for EpochCache<K, V> {
    fn default() -> Self {
        EpochCache { entries: RwLock::new(HashMap::new()), epoch: AtomicU64::new(0) }
    }
}

impl<K: Eq + Hash + Clone, V> EpochCache<K, V> {
    /// The cached value of `key`, or what `load` reads (cached when no write raced it).
    pub async fn get_or_load<E, F>(&self, key: &K, load: F) -> Result<Arc<V>, E>
    where
        F: Future<Output = Result<V, E>>,
    {
        if !in_sync() {
            return Ok(Arc::new(load.await?));
        }
        if let Some(value) = self.entries.read().ok().and_then(|m| m.get(key).cloned()) {
            return Ok(value);
        }
        let epoch = self.epoch.load(Ordering::Acquire);
        let value = Arc::new(load.await?);
        if let Ok(mut entries) = self.entries.write() {
            if self.epoch.load(Ordering::Acquire) == epoch {
                entries.insert(key.clone(), value.clone());
            }
        }
        Ok(value)
    }

    /// Drops every entry.
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.write() {
            self.epoch.fetch_add(1, Ordering::AcqRel);
            entries.clear();
        }
    }

    /// Called after a write to the data behind `keys` has been committed.
    pub fn invalidate<'a>(&self, keys: impl IntoIterator<Item = &'a K>)
    where
        K: 'a,
    {
        if let Ok(mut entries) = self.entries.write() {
            self.epoch.fetch_add(1, Ordering::AcqRel);
            for key in keys {
                entries.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn a_load_that_raced_a_write_is_not_cached() {
        let cache: EpochCache<String, u32> = EpochCache::default();
        let key = "a".to_string();
        // The write commits and invalidates while the load is in flight.
        let stale = cache
            .get_or_load(&key, async {
                cache.invalidate([&key]);
                Ok::<_, ()>(1)
            })
            .await
            .unwrap();
        assert_eq!(*stale, 1);
        let fresh = cache.get_or_load(&key, async { Ok::<_, ()>(2) }).await.unwrap();
        assert_eq!(*fresh, 2, "the stale value must not have been cached");
        let cached = cache.get_or_load(&key, async { Ok::<_, ()>(3) }).await.unwrap();
        assert_eq!(*cached, 2);
    }
}
