//! Injected time: [`Clock`] reads it, [`Sleep`] waits for it.
//!
//! Everything that waits or measures (retries, token refresh, idle timeouts,
//! rate limiters in other crates) takes these seams, so tests drive time with a
//! [`ManualClock`] instead of sleeping.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// A boxed future that completes after a delay.
pub type SleepFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Reads the time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// A monotonic instant, for measuring durations and deadlines.
    fn now(&self) -> Instant;
    /// Wall-clock time, for `Retry-After` dates and token expiry.
    fn system_time(&self) -> SystemTime;
}

/// Waits.
pub trait Sleep: Send + Sync + fmt::Debug {
    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> SleepFuture;
}

/// Real time through `std` and tokio.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // The one sanctioned reader of the real clock.
    fn now(&self) -> Instant {
        Instant::now()
    }

    #[allow(clippy::disallowed_methods)] // The one sanctioned reader of the real clock.
    fn system_time(&self) -> SystemTime {
        SystemTime::now()
    }
}

impl Sleep for SystemClock {
    #[allow(clippy::disallowed_methods)] // The one sanctioned real sleep.
    fn sleep(&self, duration: Duration) -> SleepFuture {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// The pair of time seams a component needs, shared.
#[derive(Debug, Clone)]
pub struct Time {
    /// Reads the time.
    pub clock: Arc<dyn Clock>,
    /// Waits.
    pub sleep: Arc<dyn Sleep>,
}

impl Time {
    /// Real time.
    #[must_use]
    pub fn system() -> Self {
        Self { clock: Arc::new(SystemClock), sleep: Arc::new(SystemClock) }
    }

    /// A manual clock used for both reading and waiting.
    #[must_use]
    pub fn manual(clock: &ManualClock) -> Self {
        Self { clock: Arc::new(clock.clone()), sleep: Arc::new(clock.clone()) }
    }
}

impl Default for Time {
    fn default() -> Self {
        Self::system()
    }
}

/// A clock that only moves when told to. Sleeping on it advances it at once
/// and records the duration, so code under test never waits.
///
/// ```
/// use std::time::Duration;
/// use aoai_core::clock::{Clock, ManualClock, Sleep};
/// # tokio_test_block_on(async {
/// let clock = ManualClock::new();
/// let start = clock.now();
/// clock.sleep(Duration::from_millis(250)).await;
/// assert_eq!(clock.now() - start, Duration::from_millis(250));
/// assert_eq!(clock.sleeps(), vec![Duration::from_millis(250)]);
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    inner: Arc<ManualInner>,
}

#[derive(Debug)]
struct ManualInner {
    start: Instant,
    system_start: SystemTime,
    state: Mutex<ManualState>,
}

#[derive(Debug, Default)]
struct ManualState {
    elapsed: Duration,
    sleeps: Vec<Duration>,
}

impl ManualClock {
    /// A clock at an arbitrary fixed instant; wall time starts at 2026-01-01T00:00:00Z.
    #[must_use]
    #[allow(clippy::disallowed_methods)] // Only an anchor; the manual clock never reads it again.
    pub fn new() -> Self {
        let system_start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        Self {
            inner: Arc::new(ManualInner {
                start: Instant::now(),
                system_start,
                state: Mutex::new(ManualState::default()),
            }),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut state = self.lock();
        state.elapsed += by;
    }

    /// How far the clock has moved since it was made.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        self.lock().elapsed
    }

    /// Every sleep requested so far, in order.
    #[must_use]
    pub fn sleeps(&self) -> Vec<Duration> {
        self.lock().sleeps.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ManualState> {
        // A poisoned lock only means another test thread panicked; the state is still usable.
        self.inner.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.inner.start + self.lock().elapsed
    }

    fn system_time(&self) -> SystemTime {
        self.inner.system_start + self.lock().elapsed
    }
}

impl Sleep for ManualClock {
    fn sleep(&self, duration: Duration) -> SleepFuture {
        {
            let mut state = self.lock();
            state.elapsed += duration;
            state.sleeps.push(duration);
        }
        Box::pin(std::future::ready(()))
    }
}
