//! Polling with back-off: how long-running operations (background
//! responses, vector-store ingestion, batches) are waited for.
//!
//! [`PollOptions`] sets the first wait, the longest wait, how fast waits grow
//! and a deadline; [`Poller`] applies them on the injected clock, so tests
//! drive it with a [`ManualClock`](crate::clock::ManualClock) and never sleep.
//! The last wait is cut to end at the deadline, and the deadline gets one
//! last poll before the wait fails with a [`TimeoutKind::Deadline`] timeout.
//!
//! ```
//! use std::time::Duration;
//! use aoai_core::clock::{ManualClock, Time};
//! use aoai_core::poll::{PollOptions, Poller};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let clock = ManualClock::new();
//! let options = PollOptions::default()
//!     .initial_interval(Duration::from_secs(1))
//!     .multiplier(2.0)
//!     .deadline(Duration::from_secs(5));
//! let mut poller = Poller::new(&options, &Time::manual(&clock));
//! let mut polls = 0;
//! let outcome = loop {
//!     polls += 1; // poll the service here; stop when it is done
//!     if let Err(timeout) = poller.wait().await {
//!         break timeout;
//!     }
//! };
//! assert_eq!(clock.sleeps(), [Duration::from_secs(1), Duration::from_secs(2), Duration::from_secs(2)]);
//! assert_eq!((polls, outcome.limit), (4, Duration::from_secs(5)));
//! # });
//! ```

use std::time::{Duration, Instant};

use crate::clock::Time;
use crate::error::{TimeoutError, TimeoutKind};

/// How a wait polls: back-off between polls and a deadline.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct PollOptions {
    /// The first wait between polls.
    pub initial_interval: Duration,
    /// The longest wait between polls.
    pub max_interval: Duration,
    /// Each wait is the previous one times this (at least 1).
    pub multiplier: f64,
    /// Give up after this long (`None`: never).
    pub deadline: Option<Duration>,
}

impl Default for PollOptions {
    /// 250 ms, growing by half each time up to 5 s, for at most 10 minutes.
    fn default() -> Self {
        Self {
            initial_interval: Duration::from_millis(250),
            max_interval: Duration::from_secs(5),
            multiplier: 1.5,
            deadline: Some(Duration::from_secs(600)),
        }
    }
}

impl PollOptions {
    /// Sets the first wait.
    pub fn initial_interval(mut self, interval: Duration) -> Self {
        self.initial_interval = interval;
        self
    }

    /// Sets the longest wait.
    pub fn max_interval(mut self, interval: Duration) -> Self {
        self.max_interval = interval;
        self
    }

    /// Sets the first and the longest wait.
    pub fn intervals(self, initial: Duration, max: Duration) -> Self {
        self.initial_interval(initial).max_interval(max.max(initial))
    }

    /// Sets how fast waits grow (values below 1 count as 1).
    pub fn multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = multiplier;
        self
    }

    /// Sets the deadline: a `Duration`, or `None` for none.
    pub fn deadline(mut self, deadline: impl Into<Option<Duration>>) -> Self {
        self.deadline = deadline.into();
        self
    }
}

/// One wait's state: the next interval, polls so far, the deadline.
#[derive(Debug)]
pub struct Poller {
    time: Time,
    started: Instant,
    interval: Duration,
    max_interval: Duration,
    multiplier: f64,
    deadline: Option<Duration>,
    polls: u32,
}

impl Poller {
    /// Starts a wait now.
    #[must_use]
    pub fn new(options: &PollOptions, time: &Time) -> Self {
        let floor = Duration::from_millis(1);
        Self {
            time: time.clone(),
            started: time.clock.now(),
            interval: options.initial_interval.max(floor),
            max_interval: options.max_interval.max(floor),
            multiplier: if options.multiplier.is_finite() { options.multiplier.max(1.0) } else { 1.0 },
            deadline: options.deadline,
            polls: 0,
        }
    }

    /// Call after a poll that found the operation unfinished: sleeps the
    /// next interval (cut to end at the deadline), or fails once the
    /// deadline has passed.
    pub async fn wait(&mut self) -> Result<(), TimeoutError> {
        self.polls = self.polls.saturating_add(1);
        let mut sleep = self.interval;
        if let Some(deadline) = self.deadline {
            let elapsed = self.time.clock.now().saturating_duration_since(self.started);
            let Some(left) = deadline.checked_sub(elapsed).filter(|left| !left.is_zero()) else {
                return Err(TimeoutError {
                    kind: TimeoutKind::Deadline,
                    limit: deadline,
                    may_have_been_sent: true,
                    attempts: self.polls,
                });
            };
            sleep = sleep.min(left);
        }
        self.time.sleep.sleep(sleep).await;
        let grown =
            Duration::try_from_secs_f64(self.interval.as_secs_f64() * self.multiplier).unwrap_or(self.max_interval);
        self.interval = grown.min(self.max_interval);
        Ok(())
    }

    /// Polls made so far (each `wait` follows one).
    #[must_use]
    pub fn polls(&self) -> u32 {
        self.polls
    }
}
