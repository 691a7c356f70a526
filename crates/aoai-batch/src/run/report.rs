//! The run's summary ([`Report`], serialisable to the JSON report) and its
//! progress snapshots ([`Progress`]).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// The outcome of a run. Item counts cover the whole input, including items
/// an earlier (resumed) run finished; request and token counts cover this
/// run only.
///
/// Serialised, it is the JSON report; its keys are stable (benchmarks read
/// them).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// Valid input lines (items).
    pub items: u64,
    /// Items answered 2xx.
    pub succeeded: u64,
    /// Failed items per kind (`error.code` of their line): `never_fits`,
    /// `no_quota`, `rate_limited`, `server_error`, `connection`, …
    pub failed: BTreeMap<String, u64>,
    /// Malformed input lines.
    pub malformed: u64,
    /// Items an earlier run had already finished.
    pub resumed: u64,
    /// Items whose line says an earlier attempt may have reached the service
    /// unrecorded (a crash or a lost connection): the service may have done,
    /// and billed, that work twice.
    pub may_have_been_sent: u64,
    /// HTTP requests sent by this run (every attempt).
    pub requests_sent: u64,
    /// 429 answers this run received.
    pub rate_limited: u64,
    /// Prompt tokens of the successful answers (their `usage`).
    pub prompt_tokens: u64,
    /// Completion tokens of the successful answers.
    pub completion_tokens: u64,
    /// Tokens charged against the quota at admission (the estimates of every
    /// attempt: what the quota saw).
    pub charged_tokens: u64,
    /// Wall time of this run.
    pub elapsed_seconds: f64,
    /// `charged_tokens` per minute of `elapsed_seconds`: comparable to `quota_tpm`.
    pub tokens_per_minute: f64,
    /// `requests_sent` per minute.
    pub requests_per_minute: f64,
    /// The tokens-per-minute quota the run was limited to, if any.
    pub quota_tpm: Option<u64>,
    /// The requests-per-minute quota, if any.
    pub quota_rpm: Option<u64>,
}

impl Report {
    /// Failed items of every kind.
    #[must_use]
    pub fn failed_items(&self) -> u64 {
        self.failed.values().sum()
    }

    /// Whether every item succeeded and no line was malformed.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.failed_items() == 0 && self.malformed == 0
    }

    /// The report as pretty JSON.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// A snapshot of a run in progress, handed to the progress callback after
/// every finished item, and whenever a request starts waiting for the quota,
/// is let through or comes back (so a display can tell a quota wait from a
/// stall).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct Progress {
    /// Lines to finish: items plus malformed lines (known after the first pass).
    pub total: u64,
    /// Lines finished, including those finished by an earlier run.
    pub done: u64,
    /// Lines an earlier run finished.
    pub resumed: u64,
    /// Succeeded items.
    pub succeeded: u64,
    /// Failed items and malformed lines.
    pub failed: u64,
    /// 429s so far.
    pub rate_limited: u64,
    /// Requests sent so far.
    pub requests_sent: u64,
    /// Tokens charged so far.
    pub charged_tokens: u64,
    /// Time since the run started.
    pub elapsed: Duration,
    /// The tokens-per-minute quota, if known.
    pub quota_tpm: Option<u64>,
    /// The requests-per-minute quota, if known.
    pub quota_rpm: Option<u64>,
    /// Requests sent and not yet answered.
    pub in_flight: u64,
    /// Items waiting at the gate for room in the quota.
    pub waiting: u64,
}

impl Progress {
    /// Charged tokens per minute so far.
    #[must_use]
    pub fn tokens_per_minute(&self) -> f64 {
        per_minute(self.charged_tokens, self.elapsed)
    }

    /// The time left at this run's pace so far, once something finished.
    #[must_use]
    pub fn eta(&self) -> Option<Duration> {
        let finished_here = self.done.saturating_sub(self.resumed);
        if finished_here == 0 || self.elapsed.is_zero() {
            return None;
        }
        let left = self.total.saturating_sub(self.done) as f64;
        Some(self.elapsed.mul_f64(left / finished_here as f64))
    }
}

pub(crate) fn per_minute(count: u64, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 { count as f64 * 60.0 / seconds } else { 0.0 }
}
