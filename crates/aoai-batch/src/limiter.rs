//! One deployment's quota, mirrored on the client: requests and tokens
//! limited together, pure and synchronous, on instants the caller passes in.
//!
//! [`Limiter::try_acquire`] admits a request of a given token cost at an
//! instant, or says until when it must wait and why, or refuses it for good
//! when it could never fit ([`NeverFits`]). Nothing here reads a clock or
//! sleeps; [`Scheduler`](crate::Scheduler) adds the waiting.
//!
//! # The model
//!
//! Azure (and aoai-emulator's `quota` module, which models it) admits a
//! request when, in each of two **sliding** windows, what was charged in the
//! last window length plus the new charge stays within the limit:
//!
//! | limit | amount `W` | window `L` |
//! |---|---|---|
//! | tokens | TPM | 60 s |
//! | requests | `max(1, floor(rpm × s / 60))` | `ceil(W × 60 000 / rpm)` ms, `s` = 1 or 10 |
//!
//! The limiter keeps the same two windows as logs of charges and admits a
//! request only when the same test passes on its own records, with each
//! window lengthened by the [margin](QuotaSpec::margin). Every window that
//! contains the new charge ends at or after it, and each such window's
//! earlier charges were checked when its last one was admitted, so checking
//! the window that ends *now* is enough: **any** sliding window of length `L`
//! holds at most `W`. This is the largest schedule a token bucket with burst
//! `B` and rate `r` obeying `B + r·L ≤ W` can produce, without the bucket's
//! trade-off between burst (the largest item that fits) and rate (throughput).
//! The crate README has the derivation.
//!
//! Charges are never refunded: Azure charges the estimate at admission and
//! keeps it for the whole window even when the answer is shorter.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

pub use aoai_core::quota::RpmWindow;

/// How long after its admission a request is taken to reach the service
/// when [`Limiter::observe_remaining`] compares the service's count with
/// ours: our charges admitted up to this long after the observed request may
/// already have been in the service's window when it answered.
pub const IN_FLIGHT: Duration = Duration::from_secs(1);

/// The largest [`QuotaSpec::margin`]: a margin longer than the token window
/// itself would halve the throughput to protect against nothing real.
pub const MAX_MARGIN: Duration = Duration::from_secs(60);

/// One deployment's quota as Azure enforces it.
///
/// ```
/// use std::time::Duration;
/// use aoai_batch::limiter::{QuotaSpec, RpmWindow};
///
/// // 30,000 TPM gives 180 RPM on Azure: 30 requests in any 10 seconds.
/// let spec = QuotaSpec::from_tpm(30_000).rpm_window(RpmWindow::TenSeconds);
/// assert_eq!(spec.requests_per_minute(), Some(180));
/// assert_eq!(spec.request_window(), Some((30, Duration::from_secs(10))));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaSpec {
    tokens_per_minute: Option<u64>,
    requests_per_minute: Option<u64>,
    rpm_window: RpmWindow,
    margin: Duration,
}

impl QuotaSpec {
    /// A quota of `tpm` tokens and `rpm` requests per minute, requests
    /// checked over 10 s sub-windows, no margin.
    #[must_use]
    pub fn new(tpm: u64, rpm: u64) -> Self {
        Self {
            tokens_per_minute: Some(tpm),
            requests_per_minute: Some(rpm),
            rpm_window: RpmWindow::TenSeconds,
            margin: Duration::ZERO,
        }
    }

    /// Azure's default pairing: 6 RPM for every 1,000 TPM.
    #[must_use]
    pub fn from_tpm(tpm: u64) -> Self {
        Self::new(tpm, tpm.saturating_mul(6) / 1000)
    }

    /// Only a tokens-per-minute limit.
    #[must_use]
    pub fn tokens_only(tpm: u64) -> Self {
        Self { requests_per_minute: None, ..Self::new(tpm, 0) }
    }

    /// Only a requests-per-minute limit.
    #[must_use]
    pub fn requests_only(rpm: u64) -> Self {
        Self { tokens_per_minute: None, ..Self::new(0, rpm) }
    }

    /// Sets the RPM sub-window.
    #[must_use]
    pub fn rpm_window(mut self, window: RpmWindow) -> Self {
        self.rpm_window = window;
        self
    }

    /// Lengthens every window by `margin`, to absorb the difference between
    /// when the client admits a request and when the service sees it
    /// (latency jitter). Set it to the jitter you expect; it costs
    /// `margin / (L + margin)` of the throughput of each window. Capped at
    /// [`MAX_MARGIN`].
    #[must_use]
    pub fn margin(mut self, margin: Duration) -> Self {
        self.margin = margin.min(MAX_MARGIN);
        self
    }

    /// Tokens per minute, when limited.
    #[must_use]
    pub fn tokens_per_minute(&self) -> Option<u64> {
        self.tokens_per_minute
    }

    /// Requests per minute, when limited.
    #[must_use]
    pub fn requests_per_minute(&self) -> Option<u64> {
        self.requests_per_minute
    }

    /// The margin added to each window.
    #[must_use]
    pub fn window_margin(&self) -> Duration {
        self.margin
    }

    /// The request limit as enforced: at most `amount` requests in any window
    /// of this length (before the margin). The same rounding as Azure's
    /// emulator: `max(1, floor(rpm × s / 60))` requests per
    /// `ceil(amount × 60 000 / rpm)` ms, so the rate never rounds up.
    #[must_use]
    pub fn request_window(&self) -> Option<(u64, Duration)> {
        let rpm = self.requests_per_minute?;
        Some(aoai_core::quota::request_window(rpm, self.rpm_window))
    }
}

/// Which limit holds a request back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LimitKind {
    /// Tokens per minute.
    Tokens,
    /// Requests per minute (its sub-window).
    Requests,
    /// A pause after a 429's `retry-after`.
    Paused,
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tokens => "tokens per minute",
            Self::Requests => "requests per minute",
            Self::Paused => "a rate-limit pause",
        })
    }
}

/// An admitted request: what it was charged and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permit {
    cost: u64,
    admitted_at: Instant,
}

impl Permit {
    /// A permit granted elsewhere (another [`Gate`](crate::Gate)'s store).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn new(cost: u64, admitted_at: Instant) -> Self {
        Self { cost, admitted_at }
    }

    /// The tokens charged.
    #[must_use]
    pub fn cost(&self) -> u64 {
        self.cost
    }

    /// When the request was admitted.
    #[must_use]
    pub fn admitted_at(&self) -> Instant {
        self.admitted_at
    }
}

/// Why a request was not admitted now. Exhaustive on purpose: a request
/// either waits or can never be admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// It fits at `until` if nothing else is admitted before.
    Wait(Wait),
    /// It can never fit this quota: reject it, don't wait.
    NeverFits(NeverFits),
}

/// How long a request must wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    /// The earliest instant it can be admitted (if nothing else is admitted first).
    pub until: Instant,
    /// The limit that holds it back longest.
    pub reason: LimitKind,
}

/// A request larger than the limit itself: no amount of waiting admits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a request costing {cost} can never fit a limit of {capacity} {limit} per window")]
pub struct NeverFits {
    cost: u64,
    capacity: u64,
    limit: LimitKind,
}

impl NeverFits {
    /// The request's cost (tokens, or 1 request).
    #[must_use]
    pub fn cost(&self) -> u64 {
        self.cost
    }

    /// The whole limit it exceeds.
    #[must_use]
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Which limit.
    #[must_use]
    pub fn limit(&self) -> LimitKind {
        self.limit
    }
}

/// What is left in each window now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Remaining {
    /// Tokens left in the minute, when limited.
    pub tokens: Option<u64>,
    /// Requests left in the sub-window, when limited.
    pub requests: Option<u64>,
}

/// One deployment's requests-and-tokens limiter. See the [module docs](self).
///
/// ```
/// use std::time::Duration;
/// use aoai_batch::limiter::{Limiter, LimitKind, QuotaSpec, Refusal};
/// use aoai_core::clock::{Clock, ManualClock};
///
/// let start = ManualClock::new().now();
/// let mut limiter = Limiter::new(QuotaSpec::new(1_000, 600));
/// let permit = limiter.try_acquire(700, start).unwrap();
/// assert_eq!(permit.cost(), 700);
/// // 400 more would exceed 1,000 in the minute: wait until the 700 leave.
/// match limiter.try_acquire(400, start + Duration::from_secs(1)) {
///     Err(Refusal::Wait(wait)) => {
///         assert_eq!(wait.until, start + Duration::from_secs(60));
///         assert_eq!(wait.reason, LimitKind::Tokens);
///     }
///     other => panic!("{other:?}"),
/// }
/// // 1,001 tokens never fit.
/// assert!(matches!(limiter.try_acquire(1_001, start), Err(Refusal::NeverFits(_))));
/// ```
#[derive(Debug, Clone)]
pub struct Limiter {
    spec: QuotaSpec,
    tokens: Option<Log>,
    requests: Option<Log>,
    paused_until: Option<Instant>,
    latest: Option<Instant>,
}

impl Limiter {
    /// A limiter with nothing charged yet.
    #[must_use]
    pub fn new(spec: QuotaSpec) -> Self {
        let tokens = spec.tokens_per_minute.map(|tpm| Log::new(tpm, Duration::from_secs(60) + spec.margin));
        let requests = spec.request_window().map(|(amount, window)| Log::new(amount, window + spec.margin));
        Self { spec, tokens, requests, paused_until: None, latest: None }
    }

    /// The quota this limiter enforces.
    #[must_use]
    pub fn spec(&self) -> &QuotaSpec {
        &self.spec
    }

    /// Whether a request of `cost` tokens could ever be admitted.
    ///
    /// # Errors
    ///
    /// [`NeverFits`] when the cost exceeds the TPM, or the RPM is 0.
    pub fn check_fits(&self, cost: u64) -> Result<(), NeverFits> {
        if let Some(log) = self.tokens.as_ref().filter(|log| cost > log.capacity) {
            return Err(NeverFits { cost, capacity: log.capacity, limit: LimitKind::Tokens });
        }
        if self.requests.as_ref().is_some_and(|log| log.capacity == 0) {
            return Err(NeverFits { cost: 1, capacity: 0, limit: LimitKind::Requests });
        }
        Ok(())
    }

    /// Admits and charges a request of `cost` tokens at `now`.
    ///
    /// An instant earlier than one already seen counts as that one (tasks may
    /// read the clock before they get the lock).
    ///
    /// # Errors
    ///
    /// [`Refusal::NeverFits`] at once when the request can never be
    /// admitted; [`Refusal::Wait`] with the earliest instant it fits
    /// otherwise. Nothing is charged for a refusal.
    pub fn try_acquire(&mut self, cost: u64, now: Instant) -> Result<Permit, Refusal> {
        let now = self.check(cost, now)?;
        if let Some(log) = self.tokens.as_mut() {
            log.charge(now, cost);
        }
        if let Some(log) = self.requests.as_mut() {
            log.charge(now, 1);
        }
        Ok(Permit { cost, admitted_at: now })
    }

    /// [`try_acquire`](Self::try_acquire) without charging: whether a request
    /// of `cost` would be admitted at `now`. Returns the instant it used.
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](Self::try_acquire).
    pub fn check(&mut self, cost: u64, now: Instant) -> Result<Instant, Refusal> {
        self.check_fits(cost).map_err(Refusal::NeverFits)?;
        let now = self.advance(now);
        let mut wait = Wait { until: now, reason: LimitKind::Paused };
        if let Some(until) = self.paused_until.filter(|until| *until > now) {
            wait.until = until;
        }
        if let Some(log) = &self.tokens {
            let until = log.fits_from(cost, now);
            if until > wait.until {
                wait = Wait { until, reason: LimitKind::Tokens };
            }
        }
        if let Some(log) = &self.requests {
            let until = log.fits_from(1, now);
            if until > wait.until {
                wait = Wait { until, reason: LimitKind::Requests };
            }
        }
        if wait.until > now {
            return Err(Refusal::Wait(wait));
        }
        Ok(now)
    }

    /// Admits nothing before `until` (a 429's `retry-after`). Idempotent: a
    /// pause that ends no later than the current one changes nothing, so N
    /// tasks reporting the same 429 pause the deployment once. Returns whether
    /// the pause was extended.
    pub fn pause_until(&mut self, until: Instant) -> bool {
        match self.paused_until {
            Some(current) if current >= until => false,
            _ => {
                self.paused_until = Some(until);
                true
            }
        }
    }

    /// The end of the current pause, if any was set.
    #[must_use]
    pub fn paused_until(&self) -> Option<Instant> {
        self.paused_until
    }

    /// Corrects the limiter from the `x-ratelimit-remaining-*` headers of the
    /// response to the request `permit` admitted.
    ///
    /// The service counted `W − remaining` in its window when it admitted
    /// that request. Where that is more than this limiter had charged in the
    /// window ending at the permit's admission (plus [`IN_FLIGHT`], for our
    /// requests that overtook it on the way), the difference (usage it did
    /// not see: other clients, a previous run, a different estimate) is
    /// charged at that instant. So a correction only ever makes the limiter
    /// more conservative, is at most `W`, and expires one window after the
    /// request was admitted; reports already accounted for add nothing.
    /// Returns the tokens and requests added.
    pub fn observe_remaining(&mut self, permit: &Permit, remaining: Remaining, now: Instant) -> (u64, u64) {
        let now = self.advance(now);
        let at = permit.admitted_at.min(now);
        let tokens = match (self.tokens.as_mut(), remaining.tokens) {
            (Some(log), Some(left)) => log.correct(at, left, now),
            _ => 0,
        };
        let requests = match (self.requests.as_mut(), remaining.requests) {
            (Some(log), Some(left)) => log.correct(at, left, now),
            _ => 0,
        };
        (tokens, requests)
    }

    /// What is left in each window at `now`.
    pub fn remaining(&mut self, now: Instant) -> Remaining {
        self.advance(now);
        Remaining {
            tokens: self.tokens.as_ref().map(Log::remaining),
            requests: self.requests.as_ref().map(Log::remaining),
        }
    }

    /// The share of the tighter window left after charging `cost` at the
    /// current state (1.0 when unlimited): how [`Scheduler`](crate::Scheduler)
    /// spreads work.
    #[must_use]
    pub fn headroom(&self, cost: u64) -> f64 {
        let share = |log: &Log, cost: u64| {
            if log.capacity == 0 {
                return 0.0;
            }
            log.remaining().saturating_sub(cost) as f64 / log.capacity as f64
        };
        let tokens = self.tokens.as_ref().map_or(1.0, |log| share(log, cost));
        let requests = self.requests.as_ref().map_or(1.0, |log| share(log, 1));
        tokens.min(requests)
    }

    fn advance(&mut self, now: Instant) -> Instant {
        let now = match self.latest {
            Some(latest) if latest > now => latest,
            _ => now,
        };
        self.latest = Some(now);
        if let Some(log) = self.tokens.as_mut() {
            log.advance(now);
        }
        if let Some(log) = self.requests.as_mut() {
            log.advance(now);
        }
        now
    }
}

/// One sliding window as a log of charges in time order.
///
/// Entries from `live_from` on are in the window ending now; earlier ones
/// are kept one more window length for [`correct`](Log::correct). Each
/// entry carries the running total of all charges up to and including it,
/// so the sum over any span of entries is one subtraction: a correction
/// and a wait are binary searches, not walks over the window (a
/// request-bound run keeps thousands of entries per window).
#[derive(Debug, Clone)]
struct Log {
    capacity: u64,
    window: Duration,
    entries: VecDeque<Entry>,
    live_from: usize,
    live_sum: u64,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    at: Instant,
    amount: u64,
    /// Sum of `amount` over this entry and every earlier one (since the log
    /// was empty); only differences are meaningful.
    running: u64,
}

impl Entry {
    /// The running total just before this entry.
    fn before(&self) -> u64 {
        self.running - self.amount
    }
}

impl Log {
    fn new(capacity: u64, window: Duration) -> Self {
        Self { capacity, window, entries: VecDeque::new(), live_from: 0, live_sum: 0 }
    }

    fn advance(&mut self, now: Instant) {
        while let Some(entry) = self.entries.get(self.live_from) {
            if entry.at + self.window > now {
                break;
            }
            self.live_sum -= entry.amount;
            self.live_from += 1;
        }
        while self.live_from > 0 {
            match self.entries.front() {
                Some(entry) if entry.at + self.window + self.window <= now => {
                    self.entries.pop_front();
                    self.live_from -= 1;
                }
                _ => break,
            }
        }
    }

    /// The earliest instant `cost` fits if nothing else is charged.
    fn fits_from(&self, cost: u64, now: Instant) -> Instant {
        if self.live_sum.saturating_add(cost) <= self.capacity {
            return now;
        }
        // The first live entry whose leaving (with all live ones before it)
        // frees enough: its running total reaches `base + needed`.
        let base = self.entries.get(self.live_from).map_or(0, Entry::before);
        let target = base + (self.live_sum + cost - self.capacity);
        let index = self.entries.partition_point(|entry| entry.running < target);
        match self.entries.get(index) {
            Some(entry) => entry.at + self.window,
            // Only reached if `cost` exceeds the capacity, which callers rule out.
            None => now + self.window,
        }
    }

    fn charge(&mut self, now: Instant, amount: u64) {
        match self.entries.back_mut() {
            Some(entry) if entry.at == now => {
                entry.amount += amount;
                entry.running += amount;
            }
            last => {
                let running = last.map_or(0, |entry| entry.running) + amount;
                self.entries.push_back(Entry { at: now, amount, running });
            }
        }
        self.live_sum += amount;
    }

    fn remaining(&self) -> u64 {
        self.capacity.saturating_sub(self.live_sum)
    }

    /// Charges at `at` what the service had counted beyond this log.
    fn correct(&mut self, at: Instant, service_left: u64, now: Instant) -> u64 {
        if at + self.window <= now {
            return 0;
        }
        let service_used = self.capacity.saturating_sub(service_left);
        // The service admitted the request somewhat after `at`, and our
        // requests admitted just after it may have reached the service
        // first (many connections, out of order): count them as ours too, or
        // they come back as phantom "foreign" usage and the limiter throttles
        // itself. Erring this way only makes the correction more lenient.
        let horizon = at.checked_add(IN_FLIGHT).map_or(now, |end| end.min(now));
        // Ours: entries charged in (at − window, horizon].
        let first = self.entries.partition_point(|entry| entry.at + self.window <= at);
        let end = self.entries.partition_point(|entry| entry.at <= horizon);
        let ours = match (self.entries.get(first), end.checked_sub(1).and_then(|last| self.entries.get(last))) {
            (Some(first_entry), Some(last_entry)) if first < end => last_entry.running - first_entry.before(),
            _ => 0,
        };
        let missing = service_used.saturating_sub(ours);
        if missing == 0 {
            return 0;
        }
        // Entries before `live_from` left the window before `at` could, so
        // the insertion point is never before it.
        let index = self.entries.partition_point(|entry| entry.at <= at);
        let before = match index.checked_sub(1).and_then(|previous| self.entries.get(previous)) {
            Some(previous) => previous.running,
            None => self.entries.front().map_or(0, Entry::before),
        };
        self.entries.insert(index, Entry { at, amount: missing, running: before + missing });
        // Later entries (our requests admitted since `at`: a few) move up.
        for entry in self.entries.range_mut(index + 1..) {
            entry.running += missing;
        }
        self.live_sum += missing;
        missing
    }
}

#[cfg(test)]
mod tests {
    use aoai_core::clock::{Clock, ManualClock};

    use super::*;

    fn origin() -> Instant {
        ManualClock::new().now()
    }

    fn wait(refusal: Result<Permit, Refusal>) -> Wait {
        match refusal {
            Err(Refusal::Wait(wait)) => wait,
            other => panic!("expected a wait, got {other:?}"),
        }
    }

    const fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    #[test]
    fn request_windows_round_like_the_emulator() {
        let window = |rpm, w| QuotaSpec::requests_only(rpm).rpm_window(w).request_window();
        assert_eq!(window(600, RpmWindow::OneSecond), Some((10, ms(1_000))));
        assert_eq!(window(600, RpmWindow::TenSeconds), Some((100, ms(10_000))));
        assert_eq!(window(90, RpmWindow::OneSecond), Some((1, ms(667))));
        assert_eq!(window(6, RpmWindow::TenSeconds), Some((1, ms(10_000))));
        assert_eq!(window(30, RpmWindow::OneSecond), Some((1, ms(2_000))));
        assert_eq!(QuotaSpec::tokens_only(5).request_window(), None);
        assert_eq!(QuotaSpec::from_tpm(1_000).requests_per_minute(), Some(6));
    }

    #[test]
    fn requests_wait_exactly_for_the_oldest_to_leave() {
        let t0 = origin();
        // 120 RPM over 1 s: 2 per second.
        let mut limiter = Limiter::new(QuotaSpec::requests_only(120).rpm_window(RpmWindow::OneSecond));
        limiter.try_acquire(0, t0).unwrap();
        limiter.try_acquire(0, t0 + ms(300)).unwrap();
        let refused = wait(limiter.try_acquire(0, t0 + ms(500)));
        assert_eq!((refused.until, refused.reason), (t0 + ms(1_000), LimitKind::Requests));
        assert!(limiter.try_acquire(0, t0 + ms(999)).is_err());
        limiter.try_acquire(0, t0 + ms(1_000)).unwrap();
        assert_eq!(wait(limiter.try_acquire(0, t0 + ms(1_000))).until, t0 + ms(1_300));
    }

    #[test]
    fn tokens_wait_for_enough_charges_to_leave() {
        let t0 = origin();
        let mut limiter = Limiter::new(QuotaSpec::tokens_only(1_000));
        limiter.try_acquire(600, t0).unwrap();
        limiter.try_acquire(300, t0 + ms(10_000)).unwrap();
        assert_eq!(wait(limiter.try_acquire(200, t0 + ms(20_000))).until, t0 + ms(60_000));
        assert_eq!(wait(limiter.try_acquire(800, t0 + ms(20_000))).until, t0 + ms(70_000));
        // A refusal charges nothing.
        limiter.try_acquire(100, t0 + ms(20_000)).unwrap();
        assert_eq!(limiter.remaining(t0 + ms(20_000)).tokens, Some(0));
        limiter.try_acquire(200, t0 + ms(60_000)).unwrap();
        assert_eq!(limiter.remaining(t0 + ms(60_000)).tokens, Some(400));
    }

    #[test]
    fn never_fits_is_immediate_and_charges_nothing() {
        let t0 = origin();
        let mut limiter = Limiter::new(QuotaSpec::new(1_000, 60));
        match limiter.try_acquire(1_001, t0) {
            Err(Refusal::NeverFits(never)) => {
                assert_eq!((never.cost(), never.capacity(), never.limit()), (1_001, 1_000, LimitKind::Tokens));
                assert!(never.to_string().contains("can never fit"), "{never}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(limiter.remaining(t0), Remaining { tokens: Some(1_000), requests: Some(10) });
        limiter.try_acquire(1_000, t0).unwrap();
        let mut no_requests = Limiter::new(QuotaSpec::requests_only(0));
        assert!(
            matches!(no_requests.try_acquire(1, t0), Err(Refusal::NeverFits(n)) if n.limit() == LimitKind::Requests)
        );
    }

    #[test]
    fn pauses_are_idempotent_and_only_extend() {
        let t0 = origin();
        let mut limiter = Limiter::new(QuotaSpec::new(1_000, 600));
        assert!(limiter.pause_until(t0 + ms(2_000)));
        for _ in 0..10 {
            assert!(!limiter.pause_until(t0 + ms(2_000)), "the same 429 reported again");
        }
        assert!(!limiter.pause_until(t0 + ms(1_000)), "an earlier end never shortens it");
        let refused = wait(limiter.try_acquire(1, t0 + ms(10)));
        assert_eq!((refused.until, refused.reason), (t0 + ms(2_000), LimitKind::Paused));
        assert!(limiter.pause_until(t0 + ms(3_000)));
        assert_eq!(wait(limiter.try_acquire(1, t0 + ms(2_000))).until, t0 + ms(3_000));
        limiter.try_acquire(1, t0 + ms(3_000)).unwrap();
    }

    #[test]
    fn the_longest_wait_wins() {
        let t0 = origin();
        // 6 RPM over 10 s: one request per 10 s; 100 TPM.
        let mut limiter = Limiter::new(QuotaSpec::new(100, 6));
        limiter.try_acquire(90, t0).unwrap();
        let small = wait(limiter.try_acquire(5, t0 + ms(2_000)));
        assert_eq!((small.until, small.reason), (t0 + ms(10_000), LimitKind::Requests));
        let large = wait(limiter.try_acquire(50, t0 + ms(2_000)));
        assert_eq!((large.until, large.reason), (t0 + ms(60_000), LimitKind::Tokens));
    }

    #[test]
    fn margin_lengthens_windows() {
        let t0 = origin();
        let mut limiter = Limiter::new(QuotaSpec::tokens_only(10).margin(ms(250)));
        limiter.try_acquire(10, t0).unwrap();
        assert_eq!(wait(limiter.try_acquire(1, t0)).until, t0 + ms(60_250));
    }

    #[test]
    fn clock_going_backwards_counts_as_the_latest_instant() {
        let t0 = origin();
        let mut limiter = Limiter::new(QuotaSpec::requests_only(60).rpm_window(RpmWindow::OneSecond));
        let permit = limiter.try_acquire(0, t0 + ms(500)).unwrap();
        assert_eq!(wait(limiter.try_acquire(0, t0)).until, t0 + ms(1_500));
        assert_eq!(permit.admitted_at(), t0 + ms(500));
    }

    #[test]
    fn corrections_add_unseen_usage_once_and_expire() {
        let t0 = origin();
        let mut limiter = Limiter::new(QuotaSpec::new(1_000, 600));
        let first = limiter.try_acquire(100, t0).unwrap();
        let second = limiter.try_acquire(100, t0 + ms(1_500)).unwrap();
        // The service saw 300 more tokens (another client) and 2 more requests.
        let report = Remaining { tokens: Some(600), requests: Some(97) };
        assert_eq!(limiter.observe_remaining(&first, report, t0 + ms(2_000)), (300, 2));
        assert_eq!(limiter.remaining(t0 + ms(2_000)), Remaining { tokens: Some(500), requests: Some(96) });
        // The second response reports the same foreign usage plus its own charge: nothing new.
        let report = Remaining { tokens: Some(500), requests: Some(96) };
        assert_eq!(limiter.observe_remaining(&second, report, t0 + ms(2_500)), (0, 0));
        // A report showing more room never loosens the limiter.
        let generous = Remaining { tokens: Some(1_000), requests: Some(100) };
        assert_eq!(limiter.observe_remaining(&second, generous, t0 + ms(3_000)), (0, 0));
        assert_eq!(limiter.remaining(t0 + ms(3_000)).tokens, Some(500));
        // The correction leaves with the window of the first request.
        assert_eq!(limiter.remaining(t0 + ms(60_000)).tokens, Some(900));
        // A report about a request admitted more than a window ago changes nothing.
        assert_eq!(
            limiter.observe_remaining(&first, Remaining { tokens: Some(0), requests: None }, t0 + ms(61_000)),
            (0, 0)
        );
    }

    #[test]
    fn our_requests_that_overtook_the_observed_one_are_not_foreign_usage() {
        let t0 = origin();
        let mut limiter = Limiter::new(QuotaSpec::new(1_000, 600));
        let first = limiter.try_acquire(100, t0).unwrap();
        // Admitted 200 ms later but reached the service first.
        let _second = limiter.try_acquire(100, t0 + ms(200)).unwrap();
        let report = Remaining { tokens: Some(800), requests: Some(98) };
        assert_eq!(limiter.observe_remaining(&first, report, t0 + ms(400)), (0, 0));
        assert_eq!(limiter.remaining(t0 + ms(400)).tokens, Some(800));
    }

    #[test]
    fn history_is_bounded() {
        let t0 = origin();
        let mut limiter = Limiter::new(QuotaSpec::new(1_000_000, 600_000));
        for second in 0..1_000 {
            limiter.try_acquire(1, t0 + Duration::from_secs(second)).unwrap();
        }
        let log = limiter.tokens.as_ref().unwrap();
        assert!(log.entries.len() <= 121, "{}", log.entries.len());
        assert_eq!(log.live_sum, 60);
    }

    /// The log as it was before running totals: plain walks over the entries.
    #[derive(Default)]
    struct NaiveLog {
        entries: Vec<(Instant, u64)>,
    }

    impl NaiveLog {
        fn live_sum(&self, window: Duration, now: Instant) -> u64 {
            self.entries.iter().filter(|(at, _)| *at + window > now).map(|(_, amount)| amount).sum()
        }

        fn fits_from(&self, capacity: u64, window: Duration, cost: u64, now: Instant) -> Instant {
            let mut left = self.live_sum(window, now);
            if left + cost <= capacity {
                return now;
            }
            for &(at, amount) in self.entries.iter().filter(|(at, _)| *at + window > now) {
                left -= amount;
                if left + cost <= capacity {
                    return at + window;
                }
            }
            now + window
        }

        fn correct(&mut self, capacity: u64, window: Duration, at: Instant, left: u64, now: Instant) -> u64 {
            if at + window <= now {
                return 0;
            }
            let horizon = (at + IN_FLIGHT).min(now);
            let ours: u64 = self
                .entries
                .iter()
                .filter(|(charged, _)| *charged <= horizon && *charged + window > at)
                .map(|(_, amount)| amount)
                .sum();
            let missing = capacity.saturating_sub(left).saturating_sub(ours);
            if missing > 0 {
                let index = self.entries.partition_point(|(charged, _)| *charged <= at);
                self.entries.insert(index, (at, missing));
            }
            missing
        }
    }

    proptest::proptest! {
        /// Charges, corrections and waits agree with plain walks over the
        /// entries, whatever the order of events.
        #[test]
        fn running_totals_agree_with_walking_the_log(
            steps in proptest::collection::vec((0_u64..700, 0_u8..3, 1_u64..400, 0_u64..2_000), 1..120),
        ) {
            let capacity = 1_000;
            let window = Duration::from_secs(10);
            let t0 = origin();
            let mut log = Log::new(capacity, window);
            let mut naive = NaiveLog::default();
            let mut now = t0;
            for (advance_ms, kind, amount, back_ms) in steps {
                now += ms(advance_ms);
                log.advance(now);
                let amount = amount.min(capacity);
                match kind {
                    0 => {
                        proptest::prop_assert_eq!(log.fits_from(amount, now), naive.fits_from(capacity, window, amount, now));
                    }
                    1 => {
                        if log.live_sum + amount <= capacity {
                            log.charge(now, amount);
                            naive.entries.push((now, amount));
                        }
                    }
                    _ => {
                        let at = now.checked_sub(ms(back_ms)).unwrap_or(now).max(t0);
                        // Only instants the log still covers (as a permit's admission would be).
                        if log.entries.front().is_none_or(|entry| entry.at + window + window > now) {
                            let left = capacity.saturating_sub(amount * 2);
                            proptest::prop_assert_eq!(
                                log.correct(at, left, now),
                                naive.correct(capacity, window, at, left, now)
                            );
                        }
                    }
                }
                proptest::prop_assert_eq!(log.live_sum, naive.live_sum(window, now));
                proptest::prop_assert_eq!(log.remaining(), capacity.saturating_sub(naive.live_sum(window, now)));
            }
        }
    }
}
