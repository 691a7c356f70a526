//! [`RedisCache`]: one cache shared by processes through Redis (feature `redis`).
//!
//! - **Connection**: redis 1.x's `ConnectionManager`, which reconnects on
//!   its own after Redis restarts or a connection drops.
//! - **Entries**: `SET {prefix}:v:{key} value PX ttl`, so Redis expires them.
//! - **Merged fills across processes**: on a miss, a caller takes
//!   `SET {prefix}:lock:{key} token NX PX lock_ttl`. The one that gets it
//!   fills and stores the value, then deletes the lock (only if it still
//!   holds it: a Lua compare-and-delete). The others poll for the value
//!   every [`poll_interval`](RedisCacheBuilder::poll_interval), on the
//!   injected [`Time`], for at most
//!   [`wait_for_fill`](RedisCacheBuilder::wait_for_fill); when the lock
//!   disappears without a value (the filler's answer was not cacheable) or
//!   the wait runs out, they fill themselves.
//! - **Failures never fail a request**: every call has a timeout
//!   ([`op_timeout`](RedisCacheBuilder::op_timeout)); when Redis is down,
//!   refuses or is slow, [`Cache::get_or_fill`] runs the fill without the
//!   cache and returns [`FillOutcome::PassedThrough`], which
//!   [`Cached`](crate::Cached) logs with `tracing::warn!` and counts.
//! - Errors and `Debug` never show the URL's password.
//!
//! ```no_run
//! use aoai_cache::Cached;
//! use aoai_cache::redis::RedisCache;
//!
//! # async fn run(client: aoai_core::Client) -> aoai_cache::Result<()> {
//! let cache = RedisCache::builder("redis://:password@redis.internal:6379/0")
//!     .key_prefix("aoai:cache:prod")
//!     .connect()
//!     .await?;
//! let cached = Cached::builder(client, cache).namespace("my-resource.openai.azure.com").build();
//! # let _ = cached;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aoai_core::clock::Time;
use aoai_core::secret::UrlRedactor;
use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, RedisError, Script};

use crate::backend::{Bytes, Cache, Fill, FillOutcome};
use crate::error::{BackendError, Error, Result, TimeoutError};
use crate::key::CacheKey;

/// The key prefix when none is set.
pub const DEFAULT_KEY_PREFIX: &str = "aoai:cache";

/// Deletes the lock only if it still holds this caller's token.
const UNLOCK: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/// Builds a [`RedisCache`].
#[must_use]
pub struct RedisCacheBuilder {
    url: String,
    key_prefix: String,
    op_timeout: Duration,
    lock_ttl: Duration,
    wait_for_fill: Duration,
    poll_interval: Duration,
    time: Time,
}

impl fmt::Debug for RedisCacheBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCacheBuilder")
            .field("url", &UrlRedactor::new(&self.url).url())
            .field("key_prefix", &self.key_prefix)
            .field("op_timeout", &self.op_timeout)
            .field("lock_ttl", &self.lock_ttl)
            .field("wait_for_fill", &self.wait_for_fill)
            .field("poll_interval", &self.poll_interval)
            .finish_non_exhaustive()
    }
}

impl RedisCacheBuilder {
    /// Namespaces the keys (default [`DEFAULT_KEY_PREFIX`]): processes share
    /// entries when they use the same prefix.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// How long one Redis call may take before the request passes through
    /// (default 250 ms).
    pub fn op_timeout(mut self, timeout: Duration) -> Self {
        self.op_timeout = timeout;
        self
    }

    /// How long a fill lock lives if its holder never releases it (default
    /// 60 s; longer than the slowest upstream call you expect).
    pub fn lock_ttl(mut self, ttl: Duration) -> Self {
        self.lock_ttl = ttl;
        self
    }

    /// How long a caller waits for another process's fill before filling
    /// itself (default 10 s).
    pub fn wait_for_fill(mut self, wait: Duration) -> Self {
        self.wait_for_fill = wait;
        self
    }

    /// How often a waiting caller looks for the value (default 25 ms).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Where waits sleep (default [`Time::system`]). Entries expire on Redis's clock.
    pub fn time(mut self, time: Time) -> Self {
        self.time = time;
        self
    }

    /// Connects to Redis.
    ///
    /// # Errors
    ///
    /// [`Error::Backend`] when the URL is invalid or Redis cannot be reached
    /// now; [`Error::Timeout`] when connecting takes longer than twice the
    /// operation timeout plus a second. Once connected, the cache reconnects
    /// on its own and never fails a request.
    pub async fn connect(self) -> Result<RedisCache> {
        let (client, config, redactor) = self.client()?;
        let limit = self.op_timeout.saturating_mul(2).saturating_add(Duration::from_secs(1));
        let connection = match tokio::time::timeout(limit, ConnectionManager::new_with_config(client, config)).await {
            Ok(Ok(connection)) => connection,
            Ok(Err(error)) => return Err(redis_error(&redactor, "connect", &error)),
            Err(_) => {
                return Err(Error::Timeout(TimeoutError { backend: "redis", operation: "connect", after: limit }));
            }
        };
        Ok(self.finish(connection, redactor))
    }

    /// The cache without waiting for Redis: the connection is made on the
    /// first operation, and until Redis answers every request passes
    /// through (counted as a pass-through, with a warning), exactly as when
    /// Redis goes down later. For services that must start while Redis is
    /// still coming up. Call it inside a Tokio runtime.
    ///
    /// # Errors
    ///
    /// [`Error::Backend`] when the URL is invalid.
    pub fn connect_lazy(self) -> Result<RedisCache> {
        let (client, config, redactor) = self.client()?;
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|error| redis_error(&redactor, "connect", &error))?;
        Ok(self.finish(connection, redactor))
    }

    fn client(&self) -> Result<(redis::Client, ConnectionManagerConfig, UrlRedactor)> {
        let redactor = UrlRedactor::new(&self.url);
        let client =
            redis::Client::open(self.url.as_str()).map_err(|error| redis_error(&redactor, "connect", &error))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.op_timeout.max(Duration::from_millis(100))))
            .set_response_timeout(Some(self.op_timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        Ok((client, config, redactor))
    }

    fn finish(self, connection: ConnectionManager, redactor: UrlRedactor) -> RedisCache {
        RedisCache {
            inner: Arc::new(Inner {
                connection,
                redactor,
                prefix: self.key_prefix,
                op_timeout: self.op_timeout,
                lock_ttl: self.lock_ttl,
                wait_for_fill: self.wait_for_fill,
                poll_interval: self.poll_interval,
                time: self.time,
                unlock: Script::new(UNLOCK),
            }),
        }
    }
}

/// A [`Cache`] in Redis. Cheap to clone: clones share the connection.
#[derive(Clone)]
pub struct RedisCache {
    inner: Arc<Inner>,
}

struct Inner {
    connection: ConnectionManager,
    redactor: UrlRedactor,
    prefix: String,
    op_timeout: Duration,
    lock_ttl: Duration,
    wait_for_fill: Duration,
    poll_interval: Duration,
    time: Time,
    unlock: Script,
}

impl fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCache")
            .field("url", &self.inner.redactor.url())
            .field("prefix", &self.inner.prefix)
            .field("op_timeout", &self.inner.op_timeout)
            .finish_non_exhaustive()
    }
}

impl RedisCache {
    /// A builder for the Redis at `url` (`redis://[:password@]host:port/db`).
    pub fn builder(url: impl Into<String>) -> RedisCacheBuilder {
        RedisCacheBuilder {
            url: url.into(),
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            op_timeout: Duration::from_millis(250),
            lock_ttl: Duration::from_secs(60),
            wait_for_fill: Duration::from_secs(10),
            poll_interval: Duration::from_millis(25),
            time: Time::system(),
        }
    }

    /// The Redis key a value is stored under.
    #[must_use]
    pub fn value_key(&self, key: &CacheKey) -> String {
        format!("{}:v:{key}", self.inner.prefix)
    }

    /// The Redis key of a value's fill lock.
    #[must_use]
    pub fn lock_key(&self, key: &CacheKey) -> String {
        format!("{}:lock:{key}", self.inner.prefix)
    }

    async fn query<T: FromRedisValue>(&self, operation: &'static str, command: &redis::Cmd) -> Result<T> {
        let inner = &self.inner;
        let mut connection = inner.connection.clone();
        match tokio::time::timeout(inner.op_timeout, command.query_async::<T>(&mut connection)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(redis_error(&inner.redactor, operation, &error)),
            Err(_) => Err(Error::Timeout(TimeoutError { backend: "redis", operation, after: inner.op_timeout })),
        }
    }

    async fn get_value(&self, key: &CacheKey) -> Result<Option<Bytes>> {
        let value: Option<Vec<u8>> = self.query("get", redis::cmd("GET").arg(self.value_key(key))).await?;
        Ok(value.map(Bytes::from))
    }

    async fn put_value(&self, key: &CacheKey, value: &[u8], ttl: Duration) -> Result<()> {
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        self.query::<()>("put", redis::cmd("SET").arg(self.value_key(key)).arg(value).arg("PX").arg(millis)).await
    }

    /// Takes the fill lock; `Ok(false)` when another caller holds it.
    async fn lock(&self, key: &CacheKey, token: &str) -> Result<bool> {
        let millis = u64::try_from(self.inner.lock_ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let reply: Option<String> = self
            .query("lock", redis::cmd("SET").arg(self.lock_key(key)).arg(token).arg("NX").arg("PX").arg(millis))
            .await?;
        Ok(reply.is_some())
    }

    async fn unlock(&self, key: &CacheKey, token: &str) -> Result<()> {
        let inner = &self.inner;
        let mut connection = inner.connection.clone();
        let mut invocation = inner.unlock.prepare_invoke();
        invocation.key(self.lock_key(key)).arg(token);
        match tokio::time::timeout(inner.op_timeout, invocation.invoke_async::<i64>(&mut connection)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(redis_error(&inner.redactor, "unlock", &error)),
            Err(_) => {
                Err(Error::Timeout(TimeoutError { backend: "redis", operation: "unlock", after: inner.op_timeout }))
            }
        }
    }

    /// Fills, stores the value if any, and reports how it went.
    async fn fill_and_store(&self, key: &CacheKey, ttl: Duration, fill: Fill<'_>) -> FillOutcome {
        let Some(value) = fill.await else { return FillOutcome::Filled };
        match self.put_value(key, &value, ttl).await {
            Ok(()) => FillOutcome::Filled,
            Err(error) => FillOutcome::PassedThrough(error),
        }
    }

    /// Waits for another caller's fill: `Some` value, or `None` when the
    /// wait ran out or the lock went away without a value.
    async fn wait_for_value(&self, key: &CacheKey) -> Result<Option<Bytes>> {
        let time = &self.inner.time;
        let deadline = time.clock.now() + self.inner.wait_for_fill;
        loop {
            time.sleep.sleep(self.inner.poll_interval).await;
            if let Some(value) = self.get_value(key).await? {
                return Ok(Some(value));
            }
            let locked: bool = self.query("exists", redis::cmd("EXISTS").arg(self.lock_key(key))).await?;
            if !locked || time.clock.now() >= deadline {
                return Ok(None);
            }
        }
    }
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &CacheKey) -> Result<Option<Bytes>> {
        self.get_value(key).await
    }

    async fn put(&self, key: &CacheKey, value: Bytes, ttl: Duration) -> Result<()> {
        self.put_value(key, &value, ttl).await
    }

    async fn get_or_fill(&self, key: &CacheKey, ttl: Duration, fill: Fill<'_>) -> FillOutcome {
        match self.get_value(key).await {
            Ok(Some(value)) => return FillOutcome::Hit(value),
            Ok(None) => {}
            Err(error) => {
                fill.await;
                return FillOutcome::PassedThrough(error);
            }
        }
        let token = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        match self.lock(key, &token).await {
            Ok(true) => {
                let outcome = self.fill_and_store(key, ttl, fill).await;
                match (self.unlock(key, &token).await, outcome) {
                    (Err(error), FillOutcome::Filled) => {
                        // The value is stored; the lock expires on its own.
                        tracing::debug!(error = %error, "could not release a cache fill lock");
                        FillOutcome::Filled
                    }
                    (_, outcome) => outcome,
                }
            }
            Ok(false) => match self.wait_for_value(key).await {
                Ok(Some(value)) => FillOutcome::Hit(value),
                Ok(None) => self.fill_and_store(key, ttl, fill).await,
                Err(error) => {
                    fill.await;
                    FillOutcome::PassedThrough(error)
                }
            },
            Err(error) => {
                fill.await;
                FillOutcome::PassedThrough(error)
            }
        }
    }

    fn name(&self) -> &'static str {
        "redis"
    }
}

/// A Redis error as ours, with the URL's credentials scrubbed.
fn redis_error(redactor: &UrlRedactor, operation: &'static str, error: &RedisError) -> Error {
    let message = redactor.scrub(&format!("{error} (redis at {})", redactor.url()));
    Error::Backend(BackendError { backend: "redis", operation, message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_shows() {
        let builder = RedisCache::builder("redis://:s3cret@host:1/");
        assert!(!format!("{builder:?}").contains("s3cret"));
    }
}
