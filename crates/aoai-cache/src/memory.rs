//! [`MemoryCache`]: an in-process cache on `moka`, bounded by the bytes it
//! holds, with a time to live per entry and concurrent fills of one key
//! merged into one.
//!
//! Expiry is decided on the injected [`Clock`] (so tests move time with a
//! [`ManualClock`](aoai_core::clock::ManualClock)); moka also drops entries
//! after the same time to live on its own clock, so expired entries never
//! hold memory for long.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aoai_core::clock::{Clock, SystemClock};
use async_trait::async_trait;
use moka::Expiry;

use crate::backend::{Bytes, Cache, Fill, FillOutcome};
use crate::error::Result;
use crate::key::CacheKey;

/// The default bound: 64 MiB of keys and values.
pub const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Clone)]
struct Entry {
    value: Bytes,
    ttl: Duration,
    expires_at: Instant,
}

struct EntryExpiry;

impl Expiry<String, Entry> for EntryExpiry {
    fn expire_after_create(&self, _key: &String, value: &Entry, _created_at: Instant) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// An in-process [`Cache`]. Cheap to clone: clones share the entries.
///
/// ```
/// use std::time::Duration;
/// use aoai_cache::{Cache, MemoryCache};
/// use aoai_cache::key::CacheKey;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let cache = MemoryCache::builder().max_bytes(1 << 20).build();
/// let key = CacheKey::from_bytes(b"request");
/// cache.put(&key, b"answer".as_slice().into(), Duration::from_secs(60)).await.unwrap();
/// assert_eq!(cache.get(&key).await.unwrap().as_deref(), Some(b"answer".as_slice()));
/// # });
/// ```
#[derive(Clone)]
pub struct MemoryCache {
    entries: moka::future::Cache<String, Entry>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryCache")
            .field("entries", &self.entries.entry_count())
            .field("weighted_bytes", &self.entries.weighted_size())
            .finish_non_exhaustive()
    }
}

/// Builds a [`MemoryCache`].
#[derive(Debug)]
#[must_use]
pub struct MemoryCacheBuilder {
    max_bytes: u64,
    clock: Arc<dyn Clock>,
}

impl MemoryCacheBuilder {
    /// The bound on the bytes of keys and values held (default
    /// [`DEFAULT_MAX_BYTES`]); beyond it, the least useful entries are evicted.
    pub fn max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// The clock expiry is decided on (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The cache.
    #[must_use]
    pub fn build(self) -> MemoryCache {
        let entries = moka::future::Cache::builder()
            .max_capacity(self.max_bytes)
            .weigher(|key: &String, entry: &Entry| {
                u32::try_from(key.len().saturating_add(entry.value.len())).unwrap_or(u32::MAX)
            })
            .expire_after(EntryExpiry)
            .build();
        MemoryCache { entries, clock: self.clock }
    }
}

impl MemoryCache {
    /// A builder with the defaults.
    pub fn builder() -> MemoryCacheBuilder {
        MemoryCacheBuilder { max_bytes: DEFAULT_MAX_BYTES, clock: Arc::new(SystemClock) }
    }

    /// A cache with the defaults.
    #[must_use]
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// How many entries it holds (approximate: moka counts lazily).
    #[must_use]
    pub fn entry_count(&self) -> u64 {
        self.entries.entry_count()
    }

    /// The bytes of keys and values it holds (approximate).
    #[must_use]
    pub fn weighted_bytes(&self) -> u64 {
        self.entries.weighted_size()
    }

    /// Applies pending evictions now (moka applies them lazily), so counts are exact.
    pub async fn run_pending_tasks(&self) {
        self.entries.run_pending_tasks().await;
    }

    fn entry(&self, value: Bytes, ttl: Duration) -> Entry {
        Entry { value, ttl, expires_at: self.clock.now() + ttl }
    }

    /// The live entry under `key`; an expired one is removed.
    async fn live(&self, key: &CacheKey) -> Option<Bytes> {
        let entry = self.entries.get(key.as_str()).await?;
        if self.clock.now() >= entry.expires_at {
            self.entries.invalidate(key.as_str()).await;
            return None;
        }
        Some(entry.value)
    }
}

impl Default for MemoryCache {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &CacheKey) -> Result<Option<Bytes>> {
        Ok(self.live(key).await)
    }

    async fn put(&self, key: &CacheKey, value: Bytes, ttl: Duration) -> Result<()> {
        self.entries.insert(key.as_str().to_owned(), self.entry(value, ttl)).await;
        Ok(())
    }

    async fn get_or_fill(&self, key: &CacheKey, ttl: Duration, fill: Fill<'_>) -> FillOutcome {
        if let Some(value) = self.live(key).await {
            return FillOutcome::Hit(value);
        }
        let mut ran = false;
        let ran_flag = &mut ran;
        let init = async move {
            *ran_flag = true;
            let value = fill.await?;
            Some(self.entry(value, ttl))
        };
        // moka runs one `init` per key at a time; the other callers wait for
        // it and get its value, or run their own when it stored nothing.
        let entry = self.entries.optionally_get_with(key.as_str().to_owned(), init).await;
        match entry {
            _ if ran => FillOutcome::Filled,
            Some(entry) => FillOutcome::Hit(entry.value),
            // Not reachable by moka's contract (no value means our init ran);
            // reported as a fill all the same.
            None => FillOutcome::Filled,
        }
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use aoai_core::clock::ManualClock;

    use super::*;

    fn key(text: &str) -> CacheKey {
        CacheKey::from_bytes(text.as_bytes())
    }

    #[tokio::test]
    async fn entries_expire_on_the_injected_clock() {
        let clock = ManualClock::new();
        let cache = MemoryCache::builder().clock(Arc::new(clock.clone())).build();
        cache.put(&key("a"), b"1".as_slice().into(), Duration::from_secs(10)).await.unwrap();
        clock.advance(Duration::from_secs(9));
        assert!(cache.get(&key("a")).await.unwrap().is_some());
        clock.advance(Duration::from_secs(1));
        assert!(cache.get(&key("a")).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn size_bound_evicts() {
        let cache = MemoryCache::builder().max_bytes(10_000).build();
        for index in 0..100 {
            cache.put(&key(&index.to_string()), vec![0_u8; 1_000].into(), Duration::from_secs(60)).await.unwrap();
        }
        cache.run_pending_tasks().await;
        assert!(cache.weighted_bytes() <= 10_000, "{}", cache.weighted_bytes());
        assert!(cache.entry_count() <= 10);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_fills_of_one_key_run_once() {
        let cache = MemoryCache::new();
        let fills = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let cache = cache.clone();
            let fills = fills.clone();
            tasks.push(tokio::spawn(async move {
                let fill: Fill<'_> = Box::pin(async move {
                    fills.fetch_add(1, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    std::thread::sleep(Duration::from_millis(20));
                    Some(Bytes::from(b"v".as_slice()))
                });
                cache.get_or_fill(&key("k"), Duration::from_secs(60), fill).await
            }));
        }
        let mut filled = 0;
        for task in tasks {
            match task.await.unwrap() {
                FillOutcome::Filled => filled += 1,
                FillOutcome::Hit(value) => assert_eq!(&*value, b"v"),
                FillOutcome::PassedThrough(error) => panic!("{error}"),
            }
        }
        assert_eq!(filled, 1);
        assert_eq!(fills.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_fill_that_returns_nothing_stores_nothing() {
        let cache = MemoryCache::new();
        let outcome = cache.get_or_fill(&key("k"), Duration::from_secs(60), Box::pin(async { None })).await;
        assert_eq!(outcome, FillOutcome::Filled);
        assert!(cache.get(&key("k")).await.unwrap().is_none());
    }
}
