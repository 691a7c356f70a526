//! proptest: random arrivals, costs, 429 pauses and header corrections run
//! through the limiter on a manual timeline. An independent brute-force
//! checker, written from the emulator's rules, asserts that the admitted
//! schedule never exceeds the TPM in any 60 s window nor the request limit in
//! any RPM sub-window; that items which can never fit are rejected on their
//! first try; that one wait always suffices (no spinning); and, without
//! pauses or corrections, that no wait is longer than the quota requires.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::{Duration, Instant};

use aoai_batch::limiter::{LimitKind, Limiter, QuotaSpec, Refusal, Remaining, RpmWindow};
use aoai_core::clock::{Clock, ManualClock};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Event {
    Arrive { gap_ms: u64, cost: u64 },
    Pause { gap_ms: u64, pause_ms: u64 },
    Observe { tokens_left: u64, requests_left: u64 },
}

#[derive(Debug, Clone, Copy)]
struct Setup {
    tpm: u64,
    rpm: u64,
    window: RpmWindow,
}

impl Setup {
    fn spec(self) -> QuotaSpec {
        QuotaSpec::new(self.tpm, self.rpm).rpm_window(self.window)
    }

    /// The emulator's rule, restated: `max(1, floor(rpm·s/60))` requests in
    /// any window of `ceil(amount·60000/rpm)` ms.
    fn request_limit(self) -> (u64, Duration) {
        let seconds = if self.window == RpmWindow::OneSecond { 1 } else { 10 };
        let amount = std::cmp::max(1, self.rpm * seconds / 60);
        let window_ms = (amount * 60_000).div_ceil(self.rpm);
        (amount, Duration::from_millis(window_ms))
    }
}

/// Whether, in some sliding window of `length` (a charge at `t` counts in
/// `(t - length, t]`, as Azure and the emulator count it), the charges exceed `limit`.
fn exceeds(charges: &[(Instant, u64)], limit: u64, length: Duration) -> bool {
    charges.iter().any(|&(end, _)| {
        let in_window: u64 =
            charges.iter().filter(|&&(at, _)| at <= end && at + length > end).map(|&(_, amount)| amount).sum();
        in_window > limit
    })
}

fn violates(setup: Setup, admitted: &[(Instant, u64)]) -> bool {
    let (requests, request_window) = setup.request_limit();
    let ones: Vec<(Instant, u64)> = admitted.iter().map(|&(at, _)| (at, 1)).collect();
    exceeds(admitted, setup.tpm, Duration::from_secs(60)) || exceeds(&ones, requests, request_window)
}

fn setup() -> impl Strategy<Value = Setup> {
    (1u64..=5_000, 1u64..=1_200, any::<bool>()).prop_map(|(tpm, rpm, one_second)| Setup {
        tpm,
        rpm,
        window: if one_second { RpmWindow::OneSecond } else { RpmWindow::TenSeconds },
    })
}

fn arrival(max_cost: u64) -> impl Strategy<Value = Event> {
    (prop_oneof![Just(0u64), 0u64..50, 0u64..5_000, 0u64..70_000], 0..=max_cost)
        .prop_map(|(gap_ms, cost)| Event::Arrive { gap_ms, cost })
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        8 => arrival(6_000),
        1 => (0u64..2_000, 0u64..20_000).prop_map(|(gap_ms, pause_ms)| Event::Pause { gap_ms, pause_ms }),
        1 => (0u64..6_000, 0u64..300).prop_map(|(tokens_left, requests_left)| Event::Observe { tokens_left, requests_left }),
    ]
}

/// Runs `events`; returns the admitted schedule. Panics on any broken promise.
fn run(setup: Setup, events: &[Event], check_tight: bool) -> Vec<(Instant, u64)> {
    let mut limiter = Limiter::new(setup.spec());
    let mut now = ManualClock::new().now();
    let mut admitted = Vec::new();
    let mut last_permit = None;
    for event in events {
        match *event {
            Event::Arrive { gap_ms, cost } => {
                now += Duration::from_millis(gap_ms);
                let mut waits = 0;
                loop {
                    match limiter.try_acquire(cost, now) {
                        Ok(permit) => {
                            assert_eq!(permit.admitted_at(), now);
                            admitted.push((now, cost));
                            last_permit = Some(permit);
                            break;
                        }
                        Err(Refusal::NeverFits(never)) => {
                            assert!(cost > setup.tpm, "{cost} fits {} but was rejected", setup.tpm);
                            assert_eq!(waits, 0, "a never-fitting item is rejected at once");
                            assert_eq!(never.capacity(), setup.tpm);
                            break;
                        }
                        Err(Refusal::Wait(wait)) => {
                            assert!(cost <= setup.tpm);
                            assert!(wait.until > now);
                            assert_eq!(waits, 0, "one wait always suffices: {wait:?}");
                            if check_tight && wait.reason != LimitKind::Paused {
                                // A millisecond earlier would have broken the quota.
                                let mut earlier = admitted.clone();
                                earlier.push((wait.until - Duration::from_millis(1), cost));
                                assert!(violates(setup, &earlier), "waited longer than needed: {wait:?}");
                            }
                            waits += 1;
                            now = wait.until;
                        }
                    }
                }
            }
            Event::Pause { gap_ms, pause_ms } => {
                now += Duration::from_millis(gap_ms);
                limiter.pause_until(now + Duration::from_millis(pause_ms));
            }
            Event::Observe { tokens_left, requests_left } => {
                if let Some(permit) = &last_permit {
                    let report = Remaining { tokens: Some(tokens_left), requests: Some(requests_left) };
                    limiter.observe_remaining(permit, report, now);
                }
            }
        }
    }
    admitted
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn admitted_schedules_never_exceed_the_quota(setup in setup(), events in prop::collection::vec(event(), 1..120)) {
        let admitted = run(setup, &events, false);
        prop_assert!(!violates(setup, &admitted), "quota exceeded: {admitted:?}");
    }

    #[test]
    fn waits_are_as_short_as_the_quota_allows(setup in setup(), events in prop::collection::vec(arrival(6_000), 1..120)) {
        let admitted = run(setup, &events, true);
        prop_assert!(!violates(setup, &admitted));
    }

    #[test]
    fn pauses_hold_every_request_until_they_end(setup in setup(), pause_ms in 1u64..100_000, copies in 1usize..20) {
        let mut limiter = Limiter::new(setup.spec());
        let start = ManualClock::new().now();
        let until = start + Duration::from_millis(pause_ms);
        let extended: Vec<bool> = (0..copies).map(|_| limiter.pause_until(until)).collect();
        prop_assert_eq!(extended.iter().filter(|&&changed| changed).count(), 1, "one 429 pauses once");
        match limiter.try_acquire(0, start) {
            Err(Refusal::Wait(wait)) => prop_assert_eq!((wait.until, wait.reason), (until, LimitKind::Paused)),
            other => prop_assert!(false, "not paused: {:?}", other),
        }
        prop_assert!(limiter.try_acquire(0, until).is_ok());
    }
}
