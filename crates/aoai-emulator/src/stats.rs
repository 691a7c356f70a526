//! What the emulator has done, per deployment: requests served and refused,
//! tokens admitted and generated, and the ids of the requests served (the
//! most recent [`EmulatorConfig::request_ids_kept`](crate::config::EmulatorConfig::request_ids_kept),
//! 100,000 by default; older ones are counted, not kept, so memory stays
//! flat on long runs), so a benchmark can prove that nothing was lost or
//! sent twice.
//!
//! Read it with [`EmulatorHandle::stats`](crate::EmulatorHandle::stats) or
//! `GET /_emulator/stats` (no key needed; add `?ids=false` to leave the ids
//! out of a large report). Both give the same [`Stats`] JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// A snapshot of every deployment's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Stats {
    /// Per deployment name.
    pub deployments: BTreeMap<String, DeploymentStats>,
}

impl Stats {
    /// The counters of one deployment.
    #[must_use]
    pub fn deployment(&self, name: &str) -> Option<&DeploymentStats> {
        self.deployments.get(name)
    }
}

/// One deployment's counters. Requests that never reached a deployment
/// (bad key, unknown deployment) are not counted anywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeploymentStats {
    /// The model the deployment serves.
    pub model: String,
    /// Chat and embeddings requests received (whatever their outcome).
    pub requests: u64,
    /// Requests answered with a complete 200 (a stream counts when it starts
    /// without a fault; [`Fault::SlowHeaders`](crate::faults::Fault::SlowHeaders) answers count).
    pub served: u64,
    /// Requests refused with 429.
    pub rate_limited: u64,
    /// Requests that met an injected fault (slow headers included).
    pub faults: u64,
    /// Requests refused with another 4xx (invalid body, content filter).
    pub errors: u64,
    /// Tokens charged against the TPM quota at admission (only counted when a TPM is set).
    pub tokens_admitted: u64,
    /// Prompt tokens of the served requests, as reported in `usage`.
    pub prompt_tokens: u64,
    /// Completion tokens of the served requests, as reported in `usage`.
    pub tokens_generated: u64,
    /// Lines of Batch API jobs answered by this deployment (not in `requests`).
    pub batch_requests: u64,
    /// The request ids (`apim-request-id`) of the served requests, in
    /// order: the most recent ones, at most the emulator's
    /// `request_ids_kept`.
    #[serde(default)]
    pub request_ids: Vec<String>,
    /// Served requests whose ids are no longer kept (`served` =
    /// `request_ids_dropped` + the ids kept).
    #[serde(default)]
    pub request_ids_dropped: u64,
}

/// Makes request ids: a random per-emulator prefix and a counter, shaped like
/// a UUID (`8-4-4-4-12` hex digits). Cheap: no randomness per request.
#[derive(Debug)]
pub(crate) struct RequestIds {
    prefix: [u8; 18],
    counter: AtomicU64,
}

impl RequestIds {
    pub(crate) fn new() -> Self {
        let random = fastrand::u64(..);
        let mut prefix = [0_u8; 18];
        let hex = format!("{:08x}-{:04x}-{:04x}", random >> 32, (random >> 16) & 0xffff, random & 0xffff);
        prefix.copy_from_slice(hex.as_bytes());
        Self { prefix, counter: AtomicU64::new(1) }
    }

    /// The next sequence number.
    pub(crate) fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// The id text of sequence number `sequence`: 36 ASCII characters.
    pub(crate) fn format(&self, sequence: u64) -> [u8; 36] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [b'-'; 36];
        out[..18].copy_from_slice(&self.prefix);
        // Characters 19..23 and 24..36 carry the 64-bit sequence (4 + 12 hex digits).
        let digits: [u8; 16] = std::array::from_fn(|index| HEX[((sequence >> (60 - 4 * index)) & 0xf) as usize]);
        out[19..23].copy_from_slice(&digits[..4]);
        out[24..36].copy_from_slice(&digits[4..]);
        out
    }

    pub(crate) fn to_string(&self, sequence: u64) -> String {
        String::from_utf8_lossy(&self.format(sequence)).into_owned()
    }
}

/// The most recent served sequence numbers, at most `kept`.
#[derive(Debug, Default)]
struct IdLog {
    ids: std::collections::VecDeque<u64>,
    kept: usize,
    dropped: u64,
}

impl IdLog {
    fn push(&mut self, sequence: u64) {
        if self.kept == 0 {
            self.dropped += 1;
            return;
        }
        if self.ids.len() == self.kept {
            self.ids.pop_front();
            self.dropped += 1;
        }
        self.ids.push_back(sequence);
    }
}

/// Live counters of one deployment.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) requests: AtomicU64,
    pub(crate) served: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
    pub(crate) faults: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) tokens_admitted: AtomicU64,
    pub(crate) prompt_tokens: AtomicU64,
    pub(crate) tokens_generated: AtomicU64,
    pub(crate) batch_requests: AtomicU64,
    served_ids: Mutex<IdLog>,
}

impl Counters {
    /// Counters keeping the last `kept` request ids.
    pub(crate) fn new(kept: usize) -> Self {
        Self { served_ids: Mutex::new(IdLog { kept, ..IdLog::default() }), ..Self::default() }
    }

    pub(crate) fn add(counter: &AtomicU64, amount: u64) {
        counter.fetch_add(amount, Ordering::Relaxed);
    }

    /// Records a served request.
    pub(crate) fn served(&self, sequence: u64, prompt_tokens: u64, completion_tokens: u64) {
        Self::add(&self.served, 1);
        Self::add(&self.prompt_tokens, prompt_tokens);
        Self::add(&self.tokens_generated, completion_tokens);
        self.served_ids.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(sequence);
    }

    pub(crate) fn snapshot(&self, model: &str, ids: &RequestIds, with_ids: bool) -> DeploymentStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let (sequences, request_ids_dropped) = {
            let log = self.served_ids.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            (if with_ids { log.ids.iter().copied().collect() } else { Vec::new() }, log.dropped)
        };
        let request_ids = sequences.into_iter().map(|sequence| ids.to_string(sequence)).collect();
        DeploymentStats {
            model: model.to_owned(),
            requests: load(&self.requests),
            served: load(&self.served),
            rate_limited: load(&self.rate_limited),
            faults: load(&self.faults),
            errors: load(&self.errors),
            tokens_admitted: load(&self.tokens_admitted),
            prompt_tokens: load(&self.prompt_tokens),
            tokens_generated: load(&self.tokens_generated),
            batch_requests: load(&self.batch_requests),
            request_ids,
            request_ids_dropped,
        }
    }
}

/// A short random hex string, for object ids (`file-…`, `batch_…`).
pub(crate) fn random_hex(len: usize) -> String {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let _ = write!(out, "{:016x}", fastrand::u64(..));
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuid_shaped_and_unique() {
        let ids = RequestIds::new();
        let first = ids.to_string(ids.next());
        let second = ids.to_string(ids.next());
        assert_ne!(first, second);
        assert_eq!(first.len(), 36);
        let groups: Vec<usize> = first.split('-').map(str::len).collect();
        assert_eq!(groups, vec![8, 4, 4, 4, 12]);
        assert!(first.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
        assert!(ids.to_string(0x0123_4567_89ab_cdef).ends_with("-0123-456789abcdef"));
    }

    #[test]
    fn snapshot_counts_and_ids() {
        let ids = RequestIds::new();
        let counters = Counters::new(10);
        Counters::add(&counters.requests, 2);
        counters.served(7, 10, 5);
        let stats = counters.snapshot("gpt-4o", &ids, true);
        assert_eq!((stats.requests, stats.served, stats.prompt_tokens, stats.tokens_generated), (2, 1, 10, 5));
        assert_eq!(stats.request_ids, vec![ids.to_string(7)]);
        assert!(counters.snapshot("gpt-4o", &ids, false).request_ids.is_empty());
        assert_eq!(random_hex(24).len(), 24);
    }

    #[test]
    fn only_the_most_recent_ids_are_kept_and_the_rest_counted() {
        let ids = RequestIds::new();
        let counters = Counters::new(3);
        for sequence in 1..=1_000 {
            counters.served(sequence, 1, 1);
        }
        let stats = counters.snapshot("gpt-4o", &ids, true);
        assert_eq!(stats.served, 1_000);
        assert_eq!(stats.request_ids, [998, 999, 1_000].map(|sequence| ids.to_string(sequence)));
        assert_eq!(stats.request_ids_dropped, 997);
        assert!(counters.served_ids.lock().unwrap().ids.capacity() < 16, "bounded storage");
        let none = Counters::new(0);
        none.served(1, 1, 1);
        let stats = none.snapshot("gpt-4o", &ids, true);
        assert!(stats.request_ids.is_empty());
        assert_eq!(stats.request_ids_dropped, 1);
    }
}
