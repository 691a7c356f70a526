//! The [`Cache`] trait every backend implements: bytes under a [`CacheKey`]
//! with a time to live, and [`Cache::get_or_fill`], which merges concurrent
//! fills of one key.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::key::CacheKey;

/// A stored value.
pub type Bytes = Arc<[u8]>;

/// The work that produces a value on a miss: calls the upstream and returns
/// the bytes to store, or `None` when the answer must not be cached (an
/// error, a filtered answer). The caller keeps the answer itself through
/// what the future borrows.
pub type Fill<'a> = Pin<Box<dyn Future<Output = Option<Bytes>> + Send + 'a>>;

/// What [`Cache::get_or_fill`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FillOutcome {
    /// The value was in the cache, or another caller's fill produced it
    /// meanwhile. The fill did not run.
    Hit(Bytes),
    /// The fill ran (once); its value, if any, was stored.
    Filled,
    /// The backend failed, so the fill ran without the cache (it ran exactly
    /// once either way); its value may not have been stored.
    PassedThrough(Error),
}

/// A store of bytes by key, with a time to live per entry.
///
/// Backends: [`MemoryCache`](crate::memory::MemoryCache) (in process,
/// size-bounded) and, with the `redis` feature,
/// [`RedisCache`](crate::redis::RedisCache) (shared by processes).
#[async_trait]
pub trait Cache: Send + Sync + fmt::Debug {
    /// The value under `key`, if present and not expired.
    async fn get(&self, key: &CacheKey) -> Result<Option<Bytes>>;

    /// Stores `value` under `key` for `ttl`.
    async fn put(&self, key: &CacheKey, value: Bytes, ttl: Duration) -> Result<()>;

    /// The value under `key`, or else the value `fill` produces, stored for
    /// `ttl`. Concurrent calls for one key are merged: one caller fills,
    /// the others wait for its value (how long is the backend's business;
    /// a waiter that gives up fills itself). When a fill returns `None`,
    /// nothing is stored and a waiting caller fills in its turn.
    ///
    /// Contract: `fill` runs exactly once unless the outcome is
    /// [`FillOutcome::Hit`], in which case it never runs.
    async fn get_or_fill(&self, key: &CacheKey, ttl: Duration, fill: Fill<'_>) -> FillOutcome;

    /// The backend's short name (`memory`, `redis`), for logs.
    fn name(&self) -> &'static str;
}

#[async_trait]
impl<T: Cache + ?Sized> Cache for Arc<T> {
    async fn get(&self, key: &CacheKey) -> Result<Option<Bytes>> {
        (**self).get(key).await
    }

    async fn put(&self, key: &CacheKey, value: Bytes, ttl: Duration) -> Result<()> {
        (**self).put(key, value, ttl).await
    }

    async fn get_or_fill(&self, key: &CacheKey, ttl: Duration, fill: Fill<'_>) -> FillOutcome {
        (**self).get_or_fill(key, ttl, fill).await
    }

    fn name(&self) -> &'static str {
        (**self).name()
    }
}
