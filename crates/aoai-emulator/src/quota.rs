//! Quotas as Azure documents them: tokens per minute charged at admission,
//! requests per minute enforced over short sub-windows.
//!
//! # The model
//!
//! - **Tokens per minute.** When a request arrives, its cost is computed by
//!   the deployment's [`TokenCostRule`]: by default the prompt's token estimate
//!   (aoai-core's [`Tokenizer::estimate_request`](aoai_core::tokens::Tokenizer::estimate_request):
//!   messages, framing and tools) plus `max_completion_tokens` (else
//!   `max_tokens`, else the deployment's default) × `n`. The request is
//!   admitted only if the costs admitted in the last 60 seconds plus its own
//!   stay within the TPM. Nothing is refunded when the answer is shorter.
//!   Embeddings cost their input tokens.
//! - **Requests per minute**, enforced over a 1 s or 10 s sub-window
//!   ([`RpmWindow`]): at most `floor(rpm × s / 60)` requests (at least 1) in
//!   any window of `limit × 60 / rpm` seconds, which is `s` seconds whenever
//!   `rpm × s / 60` is a whole number (600 RPM: 10 per second, or 100 per
//!   10 seconds) and keeps the rate exact otherwise (90 RPM over 1 s: 1
//!   request per 667 ms).
//!
//! Both windows **slide** (they are not reset on minute boundaries): a charge
//! stops counting exactly one window length after it was made. Azure refills
//! continuously too; a sliding window is the strictest reading of that, and it
//! makes the client-side rule "a limiter with rate r and burst B stays under W
//! per L seconds only if B + r·L ≤ W" exact. Time is kept in whole
//! milliseconds from the injected [`Clock`].
//!
//! A request over the limits is refused and charged nothing. Its 429 says how
//! long until the *same* request would be admitted if nothing else arrived in
//! between: the later of the moments when enough earlier charges have left
//! each window. That delay is sent as `retry-after-ms` (exact) and
//! `Retry-After` (rounded up to whole seconds, at least 1). A single request
//! whose cost exceeds the whole TPM is admitted only when its window is empty,
//! so it is delayed rather than refused forever.
//!
//! Every answer of a deployment with quotas carries what is left after its
//! own charge: `x-ratelimit-remaining-tokens` (of the 60 s window) when a TPM
//! is set, `x-ratelimit-remaining-requests` (of the RPM sub-window, which is
//! what is enforced) when an RPM is set, and the limits they count down
//! from: `x-ratelimit-limit-tokens` (the TPM) and
//! `x-ratelimit-limit-requests` (the sub-window's limit: 450 for 2,700 RPM
//! over 10 s). A 429 carries them too, uncharged.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aoai_core::clock::Clock;

pub use aoai_core::quota::RpmWindow;

/// What a request is charged against the tokens-per-minute quota.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenCostRule {
    /// Prompt token estimate + maximum output tokens × `n` (Azure's rule; the default).
    #[default]
    Estimate,
    /// Maximum output tokens × `n` only (the prompt is free).
    MaxTokens,
}

impl FromStr for TokenCostRule {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "estimate" => Ok(Self::Estimate),
            "max_tokens" | "max-tokens" => Ok(Self::MaxTokens),
            other => Err(format!("token cost rule {other:?} is not estimate or max_tokens")),
        }
    }
}

impl fmt::Display for TokenCostRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Estimate => "estimate",
            Self::MaxTokens => "max_tokens",
        })
    }
}

/// How a refused request is answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RateLimitProfile {
    /// Azure's 429: JSON body with `"code": "429"`, `Retry-After` and
    /// `retry-after-ms` (the default).
    #[default]
    Azure,
    /// A gateway in front of Azure: 429 with an HTML body and only a
    /// whole-seconds `Retry-After`.
    Gateway,
}

impl FromStr for RateLimitProfile {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "azure" => Ok(Self::Azure),
            "gateway" => Ok(Self::Gateway),
            other => Err(format!("rate-limit profile {other:?} is not azure or gateway")),
        }
    }
}

impl fmt::Display for RateLimitProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Azure => "azure",
            Self::Gateway => "gateway",
        })
    }
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitKind {
    /// Tokens per minute.
    Tokens,
    /// Requests per minute (sub-window).
    Requests,
}

/// The outcome of asking for admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Admitted and charged; what is left in each window afterwards.
    Admitted {
        /// Tokens left in the minute, when a TPM applies.
        remaining_tokens: Option<u64>,
        /// Requests left in the sub-window, when an RPM applies.
        remaining_requests: Option<u64>,
    },
    /// Refused; nothing was charged.
    Refused {
        /// How long until this request would be admitted.
        retry_after: Duration,
        /// The limit that holds it back longest.
        limit: LimitKind,
        /// Tokens left in the minute, when a TPM applies.
        remaining_tokens: Option<u64>,
        /// Requests left in the sub-window, when an RPM applies.
        remaining_requests: Option<u64>,
    },
}

/// One sliding window: a limit over a length of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Limit {
    amount: u64,
    window_ms: u64,
}

#[derive(Debug)]
struct Window {
    limit: Limit,
    /// Charges in time order, one entry per millisecond that had any.
    entries: VecDeque<(u64, u64)>,
    sum: u64,
}

impl Window {
    fn new(limit: Limit) -> Self {
        Self { limit, entries: VecDeque::new(), sum: 0 }
    }

    fn prune(&mut self, now_ms: u64) {
        while let Some(&(at, amount)) = self.entries.front() {
            if at + self.limit.window_ms > now_ms {
                break;
            }
            self.entries.pop_front();
            self.sum -= amount;
        }
    }

    fn fits(&self, in_window: u64, cost: u64) -> bool {
        in_window == 0 || in_window.saturating_add(cost) <= self.limit.amount
    }

    /// Milliseconds until `cost` fits, assuming nothing else is charged.
    fn wait_ms(&self, now_ms: u64, cost: u64) -> u64 {
        if self.fits(self.sum, cost) {
            return 0;
        }
        let mut left = self.sum;
        for &(at, amount) in &self.entries {
            left -= amount;
            if self.fits(left, cost) {
                return (at + self.limit.window_ms).saturating_sub(now_ms);
            }
        }
        // Unreachable: once every entry has left, the window is empty and fits.
        self.limit.window_ms
    }

    fn charge(&mut self, now_ms: u64, cost: u64) {
        match self.entries.back_mut() {
            Some((at, amount)) if *at == now_ms => *amount += cost,
            _ => self.entries.push_back((now_ms, cost)),
        }
        self.sum += cost;
    }

    fn remaining(&self) -> u64 {
        self.limit.amount.saturating_sub(self.sum)
    }
}

#[derive(Debug)]
struct State {
    tokens: Option<Window>,
    requests: Option<Window>,
}

/// One deployment's quota state, shared by every request to it.
#[derive(Debug)]
pub(crate) struct Quota {
    clock: Arc<dyn Clock>,
    epoch: Instant,
    limits_tokens: bool,
    /// Tokens per minute and requests per sub-window, as configured.
    limits: (Option<u64>, Option<u64>),
    state: Mutex<State>,
}

impl Quota {
    /// A quota for `tpm` tokens and `rpm` requests per minute, or `None` when
    /// neither is set (the hot path then skips quota handling).
    pub(crate) fn new(tpm: Option<u64>, rpm: Option<u64>, window: RpmWindow, clock: Arc<dyn Clock>) -> Option<Self> {
        let tokens = tpm.map(|amount| Limit { amount, window_ms: 60_000 });
        let requests = rpm.map(|rpm| request_limit(rpm, window));
        if tokens.is_none() && requests.is_none() {
            return None;
        }
        let epoch = clock.now();
        Some(Self {
            clock,
            epoch,
            limits_tokens: tokens.is_some(),
            limits: (tokens.map(|limit| limit.amount), requests.map(|limit| limit.amount)),
            state: Mutex::new(State { tokens: tokens.map(Window::new), requests: requests.map(Window::new) }),
        })
    }

    /// Whether this quota counts tokens (so the request's cost is needed).
    pub(crate) fn limits_tokens(&self) -> bool {
        self.limits_tokens
    }

    /// The limits the remaining counts count down from: tokens per minute,
    /// and requests per RPM sub-window (what is enforced).
    pub(crate) fn limits(&self) -> (Option<u64>, Option<u64>) {
        self.limits
    }

    /// Admits and charges a request costing `tokens`, or says how long it must wait.
    pub(crate) fn admit(&self, tokens: u64) -> Admission {
        let mut state = self.lock();
        let elapsed = self.clock.now().saturating_duration_since(self.epoch);
        let now_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        let State { tokens: token_window, requests: request_window } = &mut *state;
        let mut wait_tokens = 0;
        let mut wait_requests = 0;
        if let Some(window) = token_window.as_mut() {
            window.prune(now_ms);
            wait_tokens = window.wait_ms(now_ms, tokens);
        }
        if let Some(window) = request_window.as_mut() {
            window.prune(now_ms);
            wait_requests = window.wait_ms(now_ms, 1);
        }
        if wait_tokens > 0 || wait_requests > 0 {
            let (wait, limit) = if wait_tokens >= wait_requests {
                (wait_tokens, LimitKind::Tokens)
            } else {
                (wait_requests, LimitKind::Requests)
            };
            return Admission::Refused {
                retry_after: Duration::from_millis(wait),
                limit,
                remaining_tokens: token_window.as_ref().map(Window::remaining),
                remaining_requests: request_window.as_ref().map(Window::remaining),
            };
        }
        let remaining_tokens = token_window.as_mut().map(|window| {
            window.charge(now_ms, tokens);
            window.remaining()
        });
        let remaining_requests = request_window.as_mut().map(|window| {
            window.charge(now_ms, 1);
            window.remaining()
        });
        Admission::Admitted { remaining_tokens, remaining_requests }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked: every update is a few arithmetic steps.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The request sub-window for `rpm` (Azure's arithmetic, in aoai-core).
fn request_limit(rpm: u64, window: RpmWindow) -> Limit {
    let (amount, length) = aoai_core::quota::request_window(rpm.max(1), window);
    Limit { amount, window_ms: u64::try_from(length.as_millis()).unwrap_or(u64::MAX) }
}

#[cfg(test)]
mod tests {
    use aoai_core::clock::ManualClock;

    use super::*;

    fn quota(tpm: Option<u64>, rpm: Option<u64>, window: RpmWindow) -> (Quota, ManualClock) {
        let clock = ManualClock::new();
        (Quota::new(tpm, rpm, window, Arc::new(clock.clone())).unwrap(), clock)
    }

    fn refused(admission: Admission) -> (Duration, LimitKind) {
        match admission {
            Admission::Refused { retry_after, limit, .. } => (retry_after, limit),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn request_sub_windows() {
        assert_eq!(request_limit(600, RpmWindow::OneSecond), Limit { amount: 10, window_ms: 1_000 });
        assert_eq!(request_limit(600, RpmWindow::TenSeconds), Limit { amount: 100, window_ms: 10_000 });
        assert_eq!(request_limit(90, RpmWindow::OneSecond), Limit { amount: 1, window_ms: 667 });
        assert_eq!(request_limit(6, RpmWindow::TenSeconds), Limit { amount: 1, window_ms: 10_000 });
        assert_eq!(request_limit(30, RpmWindow::OneSecond), Limit { amount: 1, window_ms: 2_000 });
        assert!(Quota::new(None, None, RpmWindow::OneSecond, Arc::new(ManualClock::new())).is_none());
    }

    #[test]
    fn rpm_refuses_with_exact_wait() {
        // 120 RPM over 1 s: 2 requests per second.
        let (quota, clock) = quota(None, Some(120), RpmWindow::OneSecond);
        assert_eq!(quota.admit(0), Admission::Admitted { remaining_tokens: None, remaining_requests: Some(1) });
        clock.advance(Duration::from_millis(300));
        assert_eq!(quota.admit(0), Admission::Admitted { remaining_tokens: None, remaining_requests: Some(0) });
        clock.advance(Duration::from_millis(200));
        // The first charge (t=0) leaves at t=1000: 500 ms from now.
        assert_eq!(refused(quota.admit(0)), (Duration::from_millis(500), LimitKind::Requests));
        clock.advance(Duration::from_millis(499));
        assert_eq!(refused(quota.admit(0)).0, Duration::from_millis(1));
        clock.advance(Duration::from_millis(1));
        assert!(matches!(quota.admit(0), Admission::Admitted { .. }));
        // Now t=1000 with charges at 300 and 1000: the next slot opens at 1300.
        assert_eq!(refused(quota.admit(0)).0, Duration::from_millis(300));
    }

    #[test]
    fn tpm_waits_for_enough_charges_to_leave() {
        let (quota, clock) = quota(Some(1_000), None, RpmWindow::TenSeconds);
        assert_eq!(quota.admit(600), Admission::Admitted { remaining_tokens: Some(400), remaining_requests: None });
        clock.advance(Duration::from_secs(10));
        assert_eq!(quota.admit(300), Admission::Admitted { remaining_tokens: Some(100), remaining_requests: None });
        clock.advance(Duration::from_secs(10));
        // 200 more needs the first charge (t=0) gone: at t=60 s, 40 s from now.
        assert_eq!(refused(quota.admit(200)), (Duration::from_secs(40), LimitKind::Tokens));
        // 800 more needs both gone: the second leaves at t=70 s.
        assert_eq!(refused(quota.admit(800)).0, Duration::from_secs(50));
        // A refused request is not charged: 100 still fits.
        assert_eq!(quota.admit(100), Admission::Admitted { remaining_tokens: Some(0), remaining_requests: None });
        clock.advance(Duration::from_secs(40));
        // At t=60 s the first charge has left: 300 + 100 + 200 are in the window.
        assert_eq!(quota.admit(200), Admission::Admitted { remaining_tokens: Some(400), remaining_requests: None });
    }

    #[test]
    fn oversized_request_waits_for_an_empty_window() {
        let (quota, clock) = quota(Some(1_000), None, RpmWindow::TenSeconds);
        assert!(matches!(quota.admit(5_000), Admission::Admitted { remaining_tokens: Some(0), .. }));
        clock.advance(Duration::from_secs(1));
        assert_eq!(refused(quota.admit(5_000)).0, Duration::from_secs(59));
        assert_eq!(refused(quota.admit(1)).0, Duration::from_secs(59));
        clock.advance(Duration::from_secs(59));
        assert!(matches!(quota.admit(5_000), Admission::Admitted { .. }));
    }

    #[test]
    fn both_limits_report_the_longer_wait() {
        let (quota, clock) = quota(Some(100), Some(6), RpmWindow::TenSeconds);
        // 6 RPM over 10 s: 1 request per 10 s.
        assert!(matches!(quota.admit(90), Admission::Admitted { .. }));
        clock.advance(Duration::from_secs(2));
        assert_eq!(refused(quota.admit(5)), (Duration::from_secs(8), LimitKind::Requests));
        assert_eq!(refused(quota.admit(50)), (Duration::from_secs(58), LimitKind::Tokens));
    }

    #[test]
    fn charges_in_the_same_millisecond_share_an_entry() {
        let (quota, clock) = quota(Some(10), None, RpmWindow::TenSeconds);
        for _ in 0..10 {
            assert!(matches!(quota.admit(1), Admission::Admitted { .. }));
        }
        assert_eq!(quota.lock().tokens.as_ref().unwrap().entries.len(), 1);
        clock.advance(Duration::from_millis(59_999));
        assert_eq!(refused(quota.admit(1)).0, Duration::from_millis(1));
        clock.advance(Duration::from_millis(1));
        assert_eq!(quota.admit(10), Admission::Admitted { remaining_tokens: Some(0), remaining_requests: None });
    }
}
