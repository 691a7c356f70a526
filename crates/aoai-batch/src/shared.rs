//! [`RedisGate`]: one deployment's quota shared by worker processes on
//! several machines, through Redis (feature `redis`).
//!
//! Every process builds a `RedisGate` on the same Redis, key prefix and
//! deployments, and drives it like the in-process
//! [`Scheduler`](crate::Scheduler) — it is a [`Gate`]. Admission applies the
//! [`Limiter`]'s rule — a request is admitted at `t`
//! iff the charges in `(t − L′, t]` plus its own stay within `W`, for tokens
//! and for requests — to one log per deployment and limit kept **in Redis**,
//! in one Lua script that Redis runs atomically: no two processes can both
//! take the last of a window. The crate README ("Sharing a quota across
//! processes") has the algorithm and its failure modes.
//!
//! - **One clock.** The script reads Redis's `TIME`, never the workers'
//!   clocks: machines whose clocks disagree still share one timeline.
//! - **Exact waits.** A refused request learns how long until it fits, and
//!   the process sleeps that long on its injected
//!   [`Time`] before asking again. Within a process
//!   requests queue first come, first served, as in the `Scheduler`.
//! - **One pause per 429.** [`Gate::rate_limited`] extends a shared pause
//!   that every process's admissions honour; a `retry-after` longer than
//!   [`RedisGateBuilder::no_quota_after`] marks the deployment as having no
//!   quota, for every process.
//! - **Never fits** is decided locally, before Redis is asked.
//! - **Failures are loud.** When Redis cannot be reached, `acquire` fails
//!   with [`Error::Shared`] after a short retry: a worker never sends a
//!   request its gate did not admit. Messages never contain the password.
//!
//! ```no_run
//! use aoai_batch::Gate;
//! use aoai_batch::limiter::{QuotaSpec, RpmWindow};
//! use aoai_batch::shared::RedisGate;
//!
//! # async fn run() -> aoai_batch::Result<()> {
//! // The same call in every worker process, on every machine.
//! let gate = RedisGate::builder("redis://:password@redis.internal:6379/0")
//!     .key_prefix("aoai:prod")
//!     .deployment("gpt-4o-mini", QuotaSpec::new(150_000, 900).rpm_window(RpmWindow::OneSecond))
//!     .connect()
//!     .await?;
//! let grant = gate.acquire(None, 1_200).await?;
//! // Send the request to `grant.deployment()`, then report the response's
//! // headers with `gate.observe(&grant, &headers).await`, or a 429 with
//! // `gate.rate_limited(grant.deployment(), retry_after).await?`.
//! # let _ = grant;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aoai_core::clock::Time;
use aoai_core::response::RateLimitInfo;
use aoai_core::secret::UrlRedactor;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Script};

use crate::error::{Error, Result};
use crate::gate::Gate;
use crate::limiter::{Limiter, NeverFits, Permit, QuotaSpec};
use crate::scheduler::{DEFAULT_NO_QUOTA_AFTER, DEFAULT_PAUSE, Grant};

/// The key prefix when none is set.
pub const DEFAULT_KEY_PREFIX: &str = "aoai:quota";

/// How long a deployment stays marked as having no quota for every process
/// (at most): after that, the next request probes it again.
pub const NO_QUOTA_MEMORY: Duration = Duration::from_secs(600);

/// Attempts for one script call when the connection fails (the
/// [`ConnectionManager`] reconnects in between).
const ATTEMPTS: u32 = 3;

const ADMIT: &str = concat!(include_str!("shared/common.lua"), include_str!("shared/admit.lua"));
const PAUSE: &str = concat!(include_str!("shared/common.lua"), include_str!("shared/pause.lua"));
const CORRECT: &str = concat!(include_str!("shared/common.lua"), include_str!("shared/correct.lua"));

/// Builds a [`RedisGate`].
#[must_use]
pub struct RedisGateBuilder {
    url: String,
    key_prefix: String,
    deployments: Vec<(String, QuotaSpec)>,
    time: Time,
    no_quota_after: Duration,
    default_pause: Duration,
    response_timeout: Duration,
}

impl fmt::Debug for RedisGateBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisGateBuilder")
            .field("url", &UrlRedactor::new(&self.url).url())
            .field("key_prefix", &self.key_prefix)
            .field("deployments", &self.deployments)
            .field("no_quota_after", &self.no_quota_after)
            .field("default_pause", &self.default_pause)
            .field("response_timeout", &self.response_timeout)
            .finish_non_exhaustive()
    }
}

impl RedisGateBuilder {
    /// Namespaces the keys (default [`DEFAULT_KEY_PREFIX`]): processes share
    /// a quota when they use the same prefix and deployment name. Keys are
    /// `{prefix}:…`, one hash slot per prefix.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Adds a deployment and its quota. Every process must give the same
    /// quota for the same deployment.
    pub fn deployment(mut self, name: impl Into<String>, spec: QuotaSpec) -> Self {
        self.deployments.push((name.into(), spec));
        self
    }

    /// Where the gate sleeps while it waits (default [`Time::system`]). The
    /// quota's clock is always Redis's.
    pub fn time(mut self, time: Time) -> Self {
        self.time = time;
        self
    }

    /// A 429 asking to wait longer than this marks its deployment as having
    /// no quota, for every process (default [`DEFAULT_NO_QUOTA_AFTER`]).
    pub fn no_quota_after(mut self, limit: Duration) -> Self {
        self.no_quota_after = limit;
        self
    }

    /// The pause after a 429 without a delay header (default [`DEFAULT_PAUSE`]).
    pub fn default_pause(mut self, pause: Duration) -> Self {
        self.default_pause = pause;
        self
    }

    /// How long one call to Redis may take before it fails (default 2 s).
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// Connects to Redis and reads its clock.
    ///
    /// # Errors
    ///
    /// [`Error::NoDeployments`] when none was added; [`Error::Shared`] when
    /// the URL is invalid or Redis cannot be reached.
    pub async fn connect(self) -> Result<RedisGate> {
        if self.deployments.is_empty() {
            return Err(Error::NoDeployments);
        }
        let redactor = UrlRedactor::new(&self.url);
        let client =
            redis::Client::open(self.url.as_str()).map_err(|error| redis_error(&redactor, "connect", &error))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(self.response_timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let mut connection = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|error| redis_error(&redactor, "connect", &error))?;
        let (seconds, micros): (u64, u64) = redis::cmd("TIME")
            .query_async(&mut connection)
            .await
            .map_err(|error| redis_error(&redactor, "connect", &error))?;
        let epoch =
            Epoch { local: self.time.clock.now(), shared: seconds.saturating_mul(1_000_000).saturating_add(micros) };

        let prefix = format!("{{{}}}", self.key_prefix);
        let mut window_max = Duration::ZERO;
        let mut deployments = Vec::with_capacity(self.deployments.len());
        for (name, spec) in self.deployments {
            let limiter = Limiter::new(spec);
            let tokens = spec.tokens_per_minute().map(|tpm| (tpm, Duration::from_secs(60) + spec.window_margin()));
            let requests = spec.request_window().map(|(amount, window)| (amount, window + spec.window_margin()));
            for (_, window) in tokens.iter().chain(requests.iter()) {
                window_max = window_max.max(*window);
            }
            deployments.push(Deployment {
                keys: Keys {
                    state: format!("{prefix}:{name}:state"),
                    tokens: format!("{prefix}:{name}:tokens"),
                    requests: format!("{prefix}:{name}:requests"),
                    pause: format!("{prefix}:{name}:pause"),
                    no_quota: format!("{prefix}:{name}:no-quota"),
                },
                name: Arc::from(name),
                limiter,
                tokens,
                requests,
            });
        }
        // Two windows of history for corrections, and a minute to spare.
        let ttl = window_max.saturating_mul(2).saturating_add(Duration::from_secs(60));
        Ok(RedisGate {
            inner: Arc::new(Inner {
                connection,
                redactor,
                key_prefix: self.key_prefix,
                meta: format!("{prefix}:meta"),
                deployments,
                ttl_ms: millis(ttl),
                time: self.time,
                epoch,
                no_quota_after: self.no_quota_after,
                default_pause: self.default_pause,
                queue: tokio::sync::Mutex::new(()),
                admit: Script::new(ADMIT),
                pause: Script::new(PAUSE),
                correct: Script::new(CORRECT),
            }),
        })
    }
}

/// A [`Gate`] whose quota lives in Redis, shared by every process that uses
/// the same Redis, key prefix and deployment names. Cheap to clone: clones
/// share one connection. See the [module docs](self).
#[derive(Clone)]
pub struct RedisGate {
    inner: Arc<Inner>,
}

struct Inner {
    connection: ConnectionManager,
    redactor: UrlRedactor,
    key_prefix: String,
    meta: String,
    deployments: Vec<Deployment>,
    ttl_ms: u64,
    time: Time,
    epoch: Epoch,
    no_quota_after: Duration,
    default_pause: Duration,
    /// Held by the task at the head of this process's line while it waits (fair: FIFO).
    queue: tokio::sync::Mutex<()>,
    admit: Script,
    pause: Script,
    correct: Script,
}

impl fmt::Debug for RedisGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.inner.deployments.iter().map(|deployment| &*deployment.name).collect();
        f.debug_struct("RedisGate")
            .field("url", &self.inner.redactor.url())
            .field("key_prefix", &self.inner.key_prefix)
            .field("deployments", &names)
            .finish_non_exhaustive()
    }
}

struct Deployment {
    name: Arc<str>,
    keys: Keys,
    /// For never-fits, decided locally.
    limiter: Limiter,
    /// (capacity, window with margin) of each limit, when limited.
    tokens: Option<(u64, Duration)>,
    requests: Option<(u64, Duration)>,
}

struct Keys {
    state: String,
    tokens: String,
    requests: String,
    pause: String,
    no_quota: String,
}

/// Maps Redis's clock (µs since the Unix epoch) to this process's instants,
/// so a [`Permit`] carries an `Instant` like the in-process scheduler's.
#[derive(Debug, Clone, Copy)]
struct Epoch {
    local: Instant,
    shared: u64,
}

impl Epoch {
    fn instant(self, shared: u64) -> Instant {
        if shared >= self.shared {
            self.local.checked_add(Duration::from_micros(shared - self.shared)).unwrap_or(self.local)
        } else {
            self.local.checked_sub(Duration::from_micros(self.shared - shared)).unwrap_or(self.local)
        }
    }

    fn shared(self, instant: Instant) -> u64 {
        if instant >= self.local {
            self.shared.saturating_add(micros(instant.duration_since(self.local)))
        } else {
            self.shared.saturating_sub(micros(self.local.duration_since(instant)))
        }
    }
}

enum Admission {
    Granted { index: usize, at: u64 },
    Wait(Duration),
    NoQuota { index: usize, retry_after: Duration },
    NeverFits,
}

impl RedisGate {
    /// A builder for a gate on the Redis at `url` (`redis://[:password@]host[:port][/db]`).
    pub fn builder(url: impl Into<String>) -> RedisGateBuilder {
        RedisGateBuilder {
            url: url.into(),
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            deployments: Vec::new(),
            time: Time::system(),
            no_quota_after: DEFAULT_NO_QUOTA_AFTER,
            default_pause: DEFAULT_PAUSE,
            response_timeout: Duration::from_secs(2),
        }
    }

    /// Connects with the defaults: `deployments` under `key_prefix`.
    ///
    /// # Errors
    ///
    /// As [`RedisGateBuilder::connect`].
    pub async fn connect(
        url: impl Into<String>,
        key_prefix: impl Into<String>,
        deployments: Vec<(String, QuotaSpec)>,
    ) -> Result<Self> {
        let builder = Self::builder(url).key_prefix(key_prefix);
        deployments.into_iter().fold(builder, |builder, (name, spec)| builder.deployment(name, spec)).connect().await
    }

    /// The deployments' names, in the order they were added.
    pub fn deployments(&self) -> impl Iterator<Item = &str> {
        self.inner.deployments.iter().map(|deployment| &*deployment.name)
    }

    /// When `grant` (from this gate) was admitted on the shared clock: time
    /// since the Unix epoch by Redis's `TIME`, to the microsecond. Grants
    /// from different processes compare exactly on this clock.
    #[must_use]
    pub fn shared_time(&self, grant: &Grant) -> Duration {
        Duration::from_micros(self.inner.epoch.shared(grant.permit().admitted_at()))
    }

    fn index(&self, deployment: &str) -> Result<usize> {
        self.inner
            .deployments
            .iter()
            .position(|candidate| &*candidate.name == deployment)
            .ok_or_else(|| Error::UnknownDeployment(deployment.to_owned()))
    }

    fn name(&self, index: usize) -> String {
        self.inner.deployments.get(index).map(|deployment| deployment.name.to_string()).unwrap_or_default()
    }

    /// Never-fits, decided without Redis: the request exceeds every candidate's limit.
    fn hopeless(&self, cost: u64, only: Option<usize>) -> Option<Error> {
        let mut never: Option<(usize, NeverFits)> = None;
        for (index, deployment) in self.inner.deployments.iter().enumerate() {
            if only.is_some_and(|only| only != index) {
                continue;
            }
            match deployment.limiter.check_fits(cost) {
                Ok(()) => return None,
                Err(refusal) => {
                    if never.is_none_or(|(_, seen)| refusal.capacity() > seen.capacity()) {
                        never = Some((index, refusal));
                    }
                }
            }
        }
        match never {
            Some((index, refusal)) => Some(Error::NeverFits { deployment: self.name(index), source: refusal }),
            None => Some(Error::NoDeployments),
        }
    }

    async fn admit(&self, cost: u64, only: Option<usize>) -> Result<Admission> {
        let inner = &*self.inner;
        let mut invocation = inner.admit.prepare_invoke();
        invocation.key(&inner.meta);
        for deployment in &inner.deployments {
            let keys = &deployment.keys;
            invocation.key(&keys.state).key(&keys.tokens).key(&keys.requests).key(&keys.pause).key(&keys.no_quota);
        }
        invocation.arg(cost).arg(inner.ttl_ms).arg(only.map_or(0, |index| index + 1)).arg(inner.deployments.len());
        for deployment in &inner.deployments {
            let (token_cap, token_window) = limit_args(deployment.tokens);
            let (request_cap, request_window) = limit_args(deployment.requests);
            invocation.arg(token_cap).arg(token_window).arg(request_cap).arg(request_window);
        }
        let reply: Vec<i64> = self.run("admit a request", &invocation).await?;
        let value = |at: usize| reply.get(at).copied().unwrap_or(0);
        let index = usize::try_from(value(1)).unwrap_or(0).saturating_sub(1);
        let amount = u64::try_from(value(2)).unwrap_or(0);
        match value(0) {
            1 => Ok(Admission::Granted { index, at: amount }),
            0 => Ok(Admission::Wait(Duration::from_micros(amount))),
            2 => Ok(Admission::NoQuota { index, retry_after: Duration::from_millis(amount) }),
            3 => Ok(Admission::NeverFits),
            other => Err(Error::Shared {
                operation: "admit a request",
                message: format!("the admission script answered {other}, which this version does not know"),
            }),
        }
    }

    /// Runs a script, retrying a failed connection a few times.
    async fn run<T: redis::FromRedisValue>(
        &self,
        operation: &'static str,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T> {
        let mut attempt = 1;
        loop {
            let mut connection = self.inner.connection.clone();
            match invocation.invoke_async(&mut connection).await {
                Ok(value) => return Ok(value),
                Err(error) if attempt < ATTEMPTS && transient(&error) => {
                    self.inner.time.sleep.sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                    attempt += 1;
                }
                Err(error) => return Err(redis_error(&self.inner.redactor, operation, &error)),
            }
        }
    }
}

#[async_trait::async_trait]
impl Gate for RedisGate {
    /// Waits until the request fits a deployment's shared quota and charges
    /// it there (the one with the largest share of its tighter window left
    /// afterwards, or `deployment` when named).
    ///
    /// # Errors
    ///
    /// At once: [`Error::NeverFits`] (decided locally), [`Error::NoQuota`]
    /// when every candidate was marked as having no quota,
    /// [`Error::UnknownDeployment`]. [`Error::Shared`] when Redis fails.
    async fn acquire(&self, deployment: Option<&str>, cost: u64) -> Result<Grant> {
        let only = deployment.map(|name| self.index(name)).transpose()?;
        if let Some(error) = self.hopeless(cost, only) {
            return Err(error);
        }
        let _turn = self.inner.queue.lock().await;
        loop {
            match self.admit(cost, only).await? {
                Admission::Granted { index, at } => {
                    let Some(deployment) = self.inner.deployments.get(index) else {
                        return Err(Error::Shared {
                            operation: "admit a request",
                            message: format!("the admission script chose deployment {index}, which is not configured"),
                        });
                    };
                    let permit = Permit::new(cost, self.inner.epoch.instant(at));
                    return Ok(Grant::new(index, deployment.name.clone(), permit));
                }
                Admission::Wait(delay) => self.inner.time.sleep.sleep(delay).await,
                Admission::NoQuota { index, retry_after } => {
                    return Err(Error::NoQuota { deployment: self.name(index), retry_after });
                }
                // Ruled out above; kept so a script and a client that disagree fail clearly.
                Admission::NeverFits => return Err(self.hopeless(cost, only).unwrap_or(Error::NoDeployments)),
            }
        }
    }

    /// Tightens the shared log from the response's `x-ratelimit-remaining-*`
    /// headers, like [`Limiter::observe_remaining`]: usage the service
    /// counted and the log did not is charged at the grant's admission.
    /// Best effort: a Redis failure here is ignored (the headers only ever
    /// tighten; the next admission reports the failure).
    async fn observe(&self, grant: &Grant, headers: &RateLimitInfo) {
        if headers.remaining_tokens.is_none() && headers.remaining_requests.is_none() {
            return;
        }
        let Some(deployment) = self.index(grant.deployment()).ok().and_then(|index| self.inner.deployments.get(index))
        else {
            return;
        };
        let inner = &*self.inner;
        let at = inner.epoch.shared(grant.permit().admitted_at());
        let mut invocation = inner.correct.prepare_invoke();
        let keys = &deployment.keys;
        invocation.key(&inner.meta).key(&keys.state).key(&keys.tokens).key(&keys.requests);
        invocation.arg(at).arg(inner.ttl_ms);
        for (limit, left) in
            [(deployment.tokens, headers.remaining_tokens), (deployment.requests, headers.remaining_requests)]
        {
            let (capacity, window) = limit_args(limit);
            invocation.arg(capacity).arg(window).arg(left.and_then(|left| i64::try_from(left).ok()).unwrap_or(-1));
        }
        invocation.arg(i64::try_from(crate::limiter::IN_FLIGHT.as_micros()).unwrap_or(i64::MAX));
        let _ignored: Result<Vec<i64>> = self.run("correct its count", &invocation).await;
    }

    /// Pauses `deployment` for every process until `retry_after` from now
    /// (Redis's now; the default pause when the 429 had no delay). The pause
    /// only ever extends, so N workers reporting the same 429 pause it once.
    ///
    /// # Errors
    ///
    /// [`Error::NoQuota`] when `retry_after` is longer than the no-quota
    /// limit: the deployment is marked for every process (for at most
    /// [`NO_QUOTA_MEMORY`]). [`Error::UnknownDeployment`]; [`Error::Shared`].
    async fn rate_limited(&self, deployment: &str, retry_after: Option<Duration>) -> Result<()> {
        let index = self.index(deployment)?;
        let Some(target) = self.inner.deployments.get(index) else {
            return Err(Error::UnknownDeployment(deployment.to_owned()));
        };
        let delay = retry_after.unwrap_or(self.inner.default_pause);
        if delay > self.inner.no_quota_after {
            let mut connection = self.inner.connection.clone();
            let marked: std::result::Result<(), RedisError> = redis::cmd("SET")
                .arg(&target.keys.no_quota)
                .arg(millis(delay))
                .arg("PX")
                .arg(millis(delay.min(NO_QUOTA_MEMORY)).max(1))
                .query_async(&mut connection)
                .await;
            // Even when the mark fails, this deployment has no quota: say so.
            drop(marked);
            return Err(Error::NoQuota { deployment: deployment.to_owned(), retry_after: delay });
        }
        let mut invocation = self.inner.pause.prepare_invoke();
        invocation.key(&self.inner.meta).key(&target.keys.pause).arg(micros(delay));
        let _extended: i64 = self.run("pause a deployment", &invocation).await?;
        Ok(())
    }
}

/// A limit's capacity and window (µs) as script arguments; `-1` when unlimited.
fn limit_args(limit: Option<(u64, Duration)>) -> (i64, u64) {
    match limit {
        Some((capacity, window)) => (i64::try_from(capacity).unwrap_or(i64::MAX), micros(window)),
        None => (-1, 0),
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Worth another try once the connection manager has reconnected.
fn transient(error: &RedisError) -> bool {
    error.is_io_error() || error.is_timeout() || error.is_connection_dropped() || error.is_connection_refusal()
}

/// A Redis error as ours, with the URL's credentials scrubbed.
fn redis_error(redactor: &UrlRedactor, operation: &'static str, error: &RedisError) -> Error {
    Error::Shared { operation, message: redactor.scrub(&format!("{error} (redis at {})", redactor.url())) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_epoch_maps_both_ways_exactly() {
        let epoch = Epoch { local: Time::system().clock.now(), shared: 1_764_000_000_000_000 };
        for shared in [epoch.shared, epoch.shared + 1, epoch.shared + 61_000_123, epoch.shared - 5] {
            assert_eq!(epoch.shared(epoch.instant(shared)), shared);
        }
    }
}
