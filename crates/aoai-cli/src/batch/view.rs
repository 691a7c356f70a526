//! `aoai batch run`'s progress line: rates over a sliding window, an ETA
//! from what is left against the quota, and quota waits said as such.
//!
//! The runner's snapshots ([`Progress`]) arrive when items finish and when
//! requests wait for, pass or leave the gate; the ticker redraws the line
//! from the latest one with the time now. The view keeps samples of the
//! counters so that:
//!
//! - **rates** are over the last minute (at least [`MIN_RATE_SPAN`] of it,
//!   else no rate is shown: a burst of a few seconds says nothing per
//!   minute);
//! - the **quota share** is what the sliding 60-second window holds now,
//!   the quantity Azure limits, so it never reads above 100 % for a run that
//!   stays within its quota;
//! - the **ETA** is the later of two bounds: the quota's (the tokens the
//!   remaining items will be charged, at this run's average charge, beyond
//!   the room left in the window, at the TPM; the same for requests at the
//!   RPM) and the recent pace's (items left at the last minute's rate);
//! - a **quota wait** (items waiting at the gate, none in flight) reads
//!   `waiting for the token window, 35 s` instead of a frozen line.

use std::collections::VecDeque;
use std::time::Duration;

use aoai_batch::run::Progress;
use aoai_core::metrics::thousands;

/// The window rates and the quota share are taken over (Azure's).
pub(crate) const WINDOW: Duration = Duration::from_secs(60);
/// The shortest span a per-minute rate is shown for.
pub(crate) const MIN_RATE_SPAN: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Duration,
    charged: u64,
    requests: u64,
    done: u64,
}

/// What the line remembers between redraws.
#[derive(Debug, Default)]
pub(crate) struct ProgressView {
    samples: VecDeque<Sample>,
    waiting_since: Option<Duration>,
}

impl ProgressView {
    /// The line for `progress` at `now` (time since the run started).
    pub(crate) fn line(&mut self, progress: &Progress, now: Duration) -> String {
        let sample =
            Sample { at: now, charged: progress.charged_tokens, requests: progress.requests_sent, done: progress.done };
        self.samples.push_back(sample);
        // Keep one sample at or before the window's start, as the base.
        while self.samples.len() > 2 && self.samples.get(1).is_some_and(|next| now.saturating_sub(next.at) >= WINDOW) {
            self.samples.pop_front();
        }
        let base = self.samples.front().copied().unwrap_or(sample);
        let span = now.saturating_sub(base.at);
        // What the window holds: charges since the base (or since the start,
        // while the run is younger than the window).
        let (in_window_tokens, in_window_requests) = if now < WINDOW {
            (progress.charged_tokens, progress.requests_sent)
        } else {
            (progress.charged_tokens - base.charged, progress.requests_sent - base.requests)
        };

        let mut line = format!("{}/{} items", thousands(progress.done), thousands(progress.total));
        if progress.failed > 0 {
            line.push_str(&format!(" · {} failed", thousands(progress.failed)));
        }
        if span >= MIN_RATE_SPAN {
            let rate = (progress.charged_tokens - base.charged) as f64 * 60.0 / span.as_secs_f64();
            line.push_str(&format!(" · {} tok/min", thousands(rate.round() as u64)));
        } else {
            line.push_str(&format!(" · {} tokens charged", thousands(progress.charged_tokens)));
        }
        if let Some(tpm) = progress.quota_tpm.filter(|tpm| *tpm > 0) {
            let share = in_window_tokens as f64 * 100.0 / tpm as f64;
            line.push_str(&format!(" (window {share:.0}% of {} TPM)", thousands(tpm)));
        }
        if progress.rate_limited > 0 {
            line.push_str(&format!(" · {}×429", thousands(progress.rate_limited)));
        }
        let stalled = progress.waiting > 0 && progress.in_flight == 0 && progress.done < progress.total;
        if stalled {
            let since = *self.waiting_since.get_or_insert(now);
            let which = match (progress.quota_tpm, progress.quota_rpm) {
                (Some(tpm), _) if in_window_tokens.saturating_add(average_charge(progress)) > tpm => "token window",
                (_, Some(_)) => "request window",
                _ => "quota",
            };
            line.push_str(&format!(" · waiting for the {which}, {} s", now.saturating_sub(since).as_secs()));
        } else {
            self.waiting_since = None;
        }
        if let Some(eta) = eta(progress, in_window_tokens, in_window_requests, base, now) {
            line.push_str(&format!(" · ETA {}", duration(eta)));
        }
        line
    }
}

/// Tokens charged per request so far (0 before the first).
fn average_charge(progress: &Progress) -> u64 {
    progress.charged_tokens.checked_div(progress.requests_sent).unwrap_or(0)
}

/// The later of the quota's bound and the recent pace's, once something
/// was sent; `None` when nothing is left or nothing is known yet.
fn eta(
    progress: &Progress,
    in_window_tokens: u64,
    in_window_requests: u64,
    base: Sample,
    now: Duration,
) -> Option<Duration> {
    let left = progress.total.saturating_sub(progress.done);
    if left == 0 || progress.requests_sent == 0 {
        return None;
    }
    let minutes = |excess: f64, per_minute: u64| Duration::from_secs_f64((excess.max(0.0) / per_minute as f64) * 60.0);
    let mut bound = Duration::ZERO;
    if let Some(tpm) = progress.quota_tpm.filter(|tpm| *tpm > 0) {
        let tokens_left = (left * average_charge(progress)) as f64;
        let room = tpm.saturating_sub(in_window_tokens) as f64;
        bound = bound.max(minutes(tokens_left - room, tpm));
    }
    if let Some(rpm) = progress.quota_rpm.filter(|rpm| *rpm > 0) {
        let room = rpm.saturating_sub(in_window_requests) as f64;
        bound = bound.max(minutes(left as f64 - room, rpm));
    }
    let span = now.saturating_sub(base.at);
    let finished = progress.done.saturating_sub(base.done);
    if span >= MIN_RATE_SPAN && finished > 0 {
        bound = bound.max(span.mul_f64(left as f64 / finished as f64));
    }
    Some(bound)
}

/// `35s`, `1m20s`, `2h01m`.
pub(crate) fn duration(value: Duration) -> String {
    let seconds = value.as_secs();
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m{:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h{:02}m", seconds / 3600, seconds % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(done: u64, total: u64, requests: u64, charged: u64) -> Progress {
        let mut progress = Progress::default();
        progress.done = done;
        progress.total = total;
        progress.requests_sent = requests;
        progress.charged_tokens = charged;
        progress.quota_tpm = Some(120_000);
        progress.quota_rpm = Some(720);
        progress
    }

    /// The run: 1,300 items charged ~500 tokens each at 120k TPM.
    /// The first lines came seconds in, after a burst of a whole minute's
    /// quota: no per-minute rate from a 1 s span, the window share is what
    /// the window holds (≤ 100 %), and the ETA is the quota's, not 0 s.
    #[test]
    fn a_burst_at_the_start_reads_as_the_window_not_as_a_rate() {
        let mut view = ProgressView::default();
        let line = view.line(&progress(200, 1_300, 240, 120_000), Duration::from_secs(1));
        assert!(line.starts_with("200/1,300 items · 120,000 tokens charged (window 100% of 120,000 TPM)"), "{line}");
        // 1,100 items × 500 tokens beyond a full window, at 120k per minute.
        assert!(line.ends_with("ETA 4m35s"), "{line}");
        assert!(!line.contains("tok/min"), "{line}");
    }

    #[test]
    fn rates_come_from_the_last_minute_and_quota_waits_are_said() {
        let mut view = ProgressView::default();
        // A whole minute's quota at once, nothing until it slides out, then
        // the next minute's at once: the window is full again at 61 s.
        view.line(&progress(240, 1_300, 240, 120_000), Duration::from_secs(1));
        view.line(&progress(400, 1_300, 480, 240_000), Duration::from_secs(61));
        let mut waiting = progress(430, 1_300, 480, 240_000);
        waiting.waiting = 20;
        let line = view.line(&waiting, Duration::from_secs(75));
        // 120,000 tokens over the last 74 s (the base is the sample at 1 s).
        assert!(line.contains("97,297 tok/min (window 100% of 120,000 TPM)"), "{line}");
        assert!(line.contains("waiting for the token window, 0 s"), "{line}");
        let line = view.line(&waiting, Duration::from_secs(110));
        assert!(line.contains("waiting for the token window, 35 s"), "{line}");
        let mut moving = waiting;
        moving.in_flight = 3;
        assert!(!view.line(&moving, Duration::from_secs(111)).contains("waiting"));
    }

    #[test]
    fn no_eta_before_anything_was_sent_or_after_the_last_item() {
        let mut view = ProgressView::default();
        assert!(!view.line(&progress(0, 10, 0, 0), Duration::ZERO).contains("ETA"));
        assert!(!view.line(&progress(10, 10, 10, 5_000), Duration::from_secs(3)).contains("ETA"));
        assert_eq!(duration(Duration::from_secs(80)), "1m20s");
        assert_eq!(duration(Duration::from_secs(7_300)), "2h01m");
    }
}
