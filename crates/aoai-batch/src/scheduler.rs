//! The shared, async side of the limiter: tasks `acquire(cost).await` and get
//! a [`Grant`] on whichever deployment has the most room.
//!
//! One [`Scheduler`] is one `Arc`: every clone and every task draws from the
//! same limiters, so N workers never admit more than one would. Waiting goes
//! through the injected [`Time`], so with a
//! [`ManualClock`](aoai_core::clock::ManualClock) tests run a whole schedule
//! without sleeping.
//!
//! Requests are admitted **in order of arrival**: waiting tasks queue on a
//! fair lock and only the head of the queue waits for capacity, so a large
//! request is never starved by a stream of small ones slipping in before it.
//! (On a saturated deployment that costs no throughput: the window is the
//! bottleneck, and letting small requests pass only postpones the large one.)
//! A request that can never be admitted fails at once, without queueing.
//!
//! Capacity only ever comes back with time (nothing is refunded; corrections
//! and pauses only delay), so the head of the queue sleeps until the earliest
//! instant its request fits and never oversleeps: no wake-ups are needed.
//!
//! ```
//! use std::time::Duration;
//! use aoai_batch::Scheduler;
//! use aoai_batch::limiter::QuotaSpec;
//! use aoai_core::clock::{ManualClock, Time};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let clock = ManualClock::new();
//! let scheduler = Scheduler::builder(Time::manual(&clock))
//!     .deployment("east", QuotaSpec::new(1_000, 60))
//!     .deployment("west", QuotaSpec::new(1_000, 60))
//!     .build()?;
//! let first = scheduler.acquire(600).await?;
//! let second = scheduler.acquire(600).await?;
//! assert_ne!(first.deployment(), second.deployment(), "spread by remaining capacity");
//! // A third 600 fits nowhere until the first charges leave, a minute later.
//! scheduler.acquire(600).await?;
//! assert_eq!(clock.elapsed(), Duration::from_secs(60));
//! assert!(scheduler.acquire(5_000).await.is_err(), "never fits: rejected at once");
//! # Ok::<(), aoai_batch::Error>(())
//! # }).unwrap();
//! ```

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use aoai_core::clock::Time;
use aoai_core::response::RateLimitInfo;

use crate::error::{Error, Result};
use crate::limiter::{Limiter, NeverFits, Permit, QuotaSpec, Refusal, Remaining};

/// A 429 asking for a longer wait than this means the deployment has no
/// quota at all (Azure answers "retry after 86400 seconds"): stop using it.
pub const DEFAULT_NO_QUOTA_AFTER: Duration = Duration::from_secs(3_600);

/// The pause after a 429 that carries no delay header.
pub const DEFAULT_PAUSE: Duration = Duration::from_secs(1);

/// Builds a [`Scheduler`].
#[derive(Debug)]
#[must_use]
pub struct SchedulerBuilder {
    time: Time,
    deployments: Vec<(String, QuotaSpec)>,
    no_quota_after: Duration,
    default_pause: Duration,
}

impl SchedulerBuilder {
    /// Adds a deployment and its quota.
    pub fn deployment(mut self, name: impl Into<String>, spec: QuotaSpec) -> Self {
        self.deployments.push((name.into(), spec));
        self
    }

    /// A 429 asking to wait longer than this disables its deployment
    /// (default [`DEFAULT_NO_QUOTA_AFTER`]).
    pub fn no_quota_after(mut self, limit: Duration) -> Self {
        self.no_quota_after = limit;
        self
    }

    /// The pause after a 429 without a delay header (default [`DEFAULT_PAUSE`]).
    pub fn default_pause(mut self, pause: Duration) -> Self {
        self.default_pause = pause;
        self
    }

    /// The scheduler.
    ///
    /// # Errors
    ///
    /// [`Error::NoDeployments`] when none was added.
    pub fn build(self) -> Result<Scheduler> {
        if self.deployments.is_empty() {
            return Err(Error::NoDeployments);
        }
        let (names, slots) = self
            .deployments
            .into_iter()
            .map(|(name, spec)| (Arc::<str>::from(name), Slot { limiter: Limiter::new(spec), no_quota: None }))
            .unzip();
        Ok(Scheduler {
            inner: Arc::new(Inner {
                time: self.time,
                names,
                no_quota_after: self.no_quota_after,
                default_pause: self.default_pause,
                slots: Mutex::new(slots),
                queue: tokio::sync::Mutex::new(()),
            }),
        })
    }
}

/// Several deployments' limiters behind one lock, shared by every task.
#[derive(Debug, Clone)]
pub struct Scheduler {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    time: Time,
    names: Vec<Arc<str>>,
    no_quota_after: Duration,
    default_pause: Duration,
    slots: Mutex<Vec<Slot>>,
    /// Held by the task at the head of the line while it waits (fair: FIFO).
    queue: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct Slot {
    limiter: Limiter,
    /// Set when a 429 said the deployment has no quota.
    no_quota: Option<Duration>,
}

/// An admitted request: the deployment to send it to and its [`Permit`].
#[derive(Debug, Clone)]
pub struct Grant {
    index: usize,
    deployment: Arc<str>,
    permit: Permit,
}

impl Grant {
    /// A grant from another [`Gate`](crate::Gate) implementation: `index`
    /// is the deployment's position in that gate's own list.
    pub(crate) fn new(index: usize, deployment: Arc<str>, permit: Permit) -> Self {
        Self { index, deployment, permit }
    }

    /// The deployment the request was admitted on.
    #[must_use]
    pub fn deployment(&self) -> &str {
        &self.deployment
    }

    /// What was charged, and when.
    pub fn permit(&self) -> Permit {
        self.permit
    }
}

enum Decision {
    Admit(Grant),
    SleepUntil(Instant),
    Fail(Error),
}

impl Scheduler {
    /// A builder on `time` (use [`Time::system`] outside tests).
    pub fn builder(time: Time) -> SchedulerBuilder {
        SchedulerBuilder {
            time,
            deployments: Vec::new(),
            no_quota_after: DEFAULT_NO_QUOTA_AFTER,
            default_pause: DEFAULT_PAUSE,
        }
    }

    /// Waits until a request of `cost` tokens fits some deployment, charges
    /// it there and says where. Among the deployments where it fits now, the
    /// one with the largest share of its tighter window left afterwards wins.
    ///
    /// # Errors
    ///
    /// At once, without waiting: [`Error::NeverFits`] when the request is
    /// larger than every deployment's limit, [`Error::NoQuota`] when every
    /// deployment it could fit has no quota.
    pub async fn acquire(&self, cost: u64) -> Result<Grant> {
        self.acquire_where(cost, None).await
    }

    /// [`acquire`](Self::acquire) on one named deployment.
    ///
    /// # Errors
    ///
    /// As [`acquire`](Self::acquire), and [`Error::UnknownDeployment`].
    pub async fn acquire_on(&self, deployment: &str, cost: u64) -> Result<Grant> {
        let index = self.index(deployment)?;
        self.acquire_where(cost, Some(index)).await
    }

    /// Corrects the deployment's limiter from the rate-limit headers of the
    /// granted request's response (see [`Limiter::observe_remaining`]).
    pub fn observe(&self, grant: &Grant, headers: &RateLimitInfo) {
        let now = self.inner.time.clock.now();
        let remaining = Remaining { tokens: headers.remaining_tokens, requests: headers.remaining_requests };
        if let Some(slot) = self.lock().get_mut(grant.index) {
            slot.limiter.observe_remaining(&grant.permit, remaining, now);
        }
    }

    /// Reports a 429 from `deployment`: pauses it until `retry_after` from
    /// now (or the default pause when the 429 had no delay). Every task that
    /// got a 429 from the same moment may report it: the pause only ever
    /// extends, so the deployment pauses once, not once per task.
    ///
    /// # Errors
    ///
    /// [`Error::NoQuota`] when `retry_after` is longer than the no-quota
    /// limit: the deployment is disabled and its requests should go elsewhere
    /// or fail. [`Error::UnknownDeployment`].
    pub fn rate_limited(&self, deployment: &str, retry_after: Option<Duration>) -> Result<()> {
        let index = self.index(deployment)?;
        let delay = retry_after.unwrap_or(self.inner.default_pause);
        let now = self.inner.time.clock.now();
        let mut slots = self.lock();
        let Some(slot) = slots.get_mut(index) else {
            return Err(Error::UnknownDeployment(deployment.to_owned()));
        };
        match now.checked_add(delay) {
            Some(until) if delay <= self.inner.no_quota_after => {
                slot.limiter.pause_until(until);
                Ok(())
            }
            _ => {
                slot.no_quota = Some(delay);
                Err(Error::NoQuota { deployment: deployment.to_owned(), retry_after: delay })
            }
        }
    }

    /// What is left now on `deployment`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDeployment`].
    pub fn remaining(&self, deployment: &str) -> Result<Remaining> {
        let index = self.index(deployment)?;
        let now = self.inner.time.clock.now();
        let mut slots = self.lock();
        slots
            .get_mut(index)
            .map(|slot| slot.limiter.remaining(now))
            .ok_or_else(|| Error::UnknownDeployment(deployment.to_owned()))
    }

    /// The deployments' names, in the order they were added.
    pub fn deployments(&self) -> impl Iterator<Item = &str> {
        self.inner.names.iter().map(|name| &**name)
    }

    async fn acquire_where(&self, cost: u64, only: Option<usize>) -> Result<Grant> {
        if let Some(error) = self.hopeless(cost, only) {
            return Err(error);
        }
        let _turn = self.inner.queue.lock().await;
        loop {
            let now = self.inner.time.clock.now();
            let decision = self.decide(cost, now, only);
            match decision {
                Decision::Admit(grant) => return Ok(grant),
                Decision::Fail(error) => return Err(error),
                Decision::SleepUntil(until) => {
                    let delay = until.saturating_duration_since(now);
                    self.inner.time.sleep.sleep(delay).await;
                }
            }
        }
    }

    fn decide(&self, cost: u64, now: Instant, only: Option<usize>) -> Decision {
        let mut slots = self.lock();
        let mut best: Option<(usize, f64)> = None;
        let mut earliest: Option<Instant> = None;
        let mut never: Option<(usize, NeverFits)> = None;
        let mut no_quota: Option<(usize, Duration)> = None;
        for (index, slot) in slots.iter_mut().enumerate() {
            if only.is_some_and(|only| only != index) {
                continue;
            }
            match slot.limiter.check(cost, now) {
                Err(Refusal::NeverFits(refusal)) => {
                    if never.is_none_or(|(_, seen)| refusal.capacity() > seen.capacity()) {
                        never = Some((index, refusal));
                    }
                }
                _ if slot.no_quota.is_some() => {
                    no_quota = slot.no_quota.map(|delay| (index, delay));
                }
                Ok(_) => {
                    let headroom = slot.limiter.headroom(cost);
                    if best.is_none_or(|(_, seen)| headroom > seen) {
                        best = Some((index, headroom));
                    }
                }
                Err(Refusal::Wait(wait)) => {
                    earliest = Some(earliest.map_or(wait.until, |seen| seen.min(wait.until)));
                }
            }
        }
        if let Some((index, _)) = best {
            let granted = slots.get_mut(index).map(|slot| slot.limiter.try_acquire(cost, now));
            if let (Some(Ok(permit)), Some(name)) = (granted, self.inner.names.get(index)) {
                return Decision::Admit(Grant::new(index, name.clone(), permit));
            }
        }
        if let Some(until) = earliest {
            return Decision::SleepUntil(until);
        }
        if let Some((index, delay)) = no_quota {
            return Decision::Fail(Error::NoQuota { deployment: self.name(index), retry_after: delay });
        }
        match never {
            Some((index, refusal)) => {
                Decision::Fail(Error::NeverFits { deployment: self.name(index), source: refusal })
            }
            None => Decision::Fail(Error::NoDeployments),
        }
    }

    /// Why no deployment could ever take a request of `cost`, if none can.
    fn hopeless(&self, cost: u64, only: Option<usize>) -> Option<Error> {
        let slots = self.lock();
        let mut never: Option<(usize, NeverFits)> = None;
        let mut no_quota: Option<(usize, Duration)> = None;
        for (index, slot) in slots.iter().enumerate() {
            if only.is_some_and(|only| only != index) {
                continue;
            }
            match (slot.limiter.check_fits(cost), slot.no_quota) {
                (Ok(()), None) => return None,
                (Ok(()), Some(delay)) => no_quota = Some((index, delay)),
                (Err(refusal), _) => {
                    if never.is_none_or(|(_, seen)| refusal.capacity() > seen.capacity()) {
                        never = Some((index, refusal));
                    }
                }
            }
        }
        if let Some((index, delay)) = no_quota {
            return Some(Error::NoQuota { deployment: self.name(index), retry_after: delay });
        }
        match never {
            Some((index, refusal)) => Some(Error::NeverFits { deployment: self.name(index), source: refusal }),
            None => Some(Error::NoDeployments),
        }
    }

    fn index(&self, deployment: &str) -> Result<usize> {
        self.inner
            .names
            .iter()
            .position(|name| &**name == deployment)
            .ok_or_else(|| Error::UnknownDeployment(deployment.to_owned()))
    }

    fn name(&self, index: usize) -> String {
        self.inner.names.get(index).map(|name| name.to_string()).unwrap_or_default()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Slot>> {
        // Every update under the lock is a few arithmetic steps: a panicking holder leaves it consistent.
        self.inner.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
