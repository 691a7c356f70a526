//! What a cache layer has done: hits, misses, pass-throughs, tokens and an
//! estimated cost saved, and Azure's own prompt-cache hits beside them.
//!
//! [`Cached::stats`](crate::Cached::stats) returns a [`CacheStats`]
//! snapshot; its `Display` is one line:
//!
//! ```text
//! cache: 3 hits, 2 misses (60.0% hit rate), 1 bypassed, 0 not stored, 0 pass-throughs; saved 180 tokens (~$0.000650); Azure prompt cache on misses: 0 of 42 prompt tokens
//! ```

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use aoai_core::chat::Usage;
use aoai_core::tokens::PriceTable;

/// A snapshot of a cache layer's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Requests answered from the cache.
    pub hits: u64,
    /// Cacheable requests that went to the upstream (their answer was stored
    /// when it could be).
    pub misses: u64,
    /// Requests kept away from the cache: not deterministic under the
    /// policy (or, never in practice, not writable as JSON).
    pub bypassed: u64,
    /// Upstream answers not stored: errors, filtered answers, unfinished streams.
    pub not_stored: u64,
    /// Requests sent to the upstream because the cache backend failed or
    /// was too slow (each also logged with `tracing::warn!`).
    pub pass_throughs: u64,
    /// Prompt tokens of the answers served from the cache.
    pub prompt_tokens_saved: u64,
    /// Completion tokens of the answers served from the cache.
    pub completion_tokens_saved: u64,
    /// The estimated cost of the tokens saved, in US dollars, at the price
    /// table's rate for each answer's model (answers of unknown models add nothing).
    pub cost_saved_usd: f64,
    /// Prompt tokens of the misses' answers.
    pub miss_prompt_tokens: u64,
    /// Of those, tokens Azure served from its own prompt cache
    /// (`usage.prompt_tokens_details.cached_tokens`).
    pub azure_cached_tokens: u64,
}

impl CacheStats {
    /// Prompt plus completion tokens saved.
    #[must_use]
    pub fn tokens_saved(&self) -> u64 {
        self.prompt_tokens_saved.saturating_add(self.completion_tokens_saved)
    }

    /// Hits over hits plus misses, 0 to 1 (0 before any lookup).
    #[must_use]
    #[allow(clippy::cast_precision_loss, reason = "counts stay far below 2^52")]
    pub fn hit_rate(&self) -> f64 {
        let lookups = self.hits.saturating_add(self.misses);
        if lookups == 0 { 0.0 } else { self.hits as f64 / lookups as f64 }
    }
}

impl fmt::Display for CacheStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cache: {} hits, {} misses ({:.1}% hit rate), {} bypassed, {} not stored, {} pass-throughs; \
             saved {} tokens (~${:.6}); Azure prompt cache on misses: {} of {} prompt tokens",
            self.hits,
            self.misses,
            self.hit_rate() * 100.0,
            self.bypassed,
            self.not_stored,
            self.pass_throughs,
            self.tokens_saved(),
            self.cost_saved_usd,
            self.azure_cached_tokens,
            self.miss_prompt_tokens,
        )
    }
}

/// The live counters behind [`CacheStats`].
#[derive(Debug, Default)]
pub(crate) struct StatsRecorder {
    hits: AtomicU64,
    misses: AtomicU64,
    bypassed: AtomicU64,
    not_stored: AtomicU64,
    pass_throughs: AtomicU64,
    prompt_tokens_saved: AtomicU64,
    completion_tokens_saved: AtomicU64,
    cost_saved_usd: Mutex<f64>,
    miss_prompt_tokens: AtomicU64,
    azure_cached_tokens: AtomicU64,
}

impl StatsRecorder {
    pub(crate) fn hit(&self, model: &str, usage: Option<&Usage>, prices: &PriceTable) {
        self.hits.fetch_add(1, Ordering::Relaxed);
        let Some(usage) = usage else { return };
        self.prompt_tokens_saved.fetch_add(usage.prompt_tokens, Ordering::Relaxed);
        self.completion_tokens_saved.fetch_add(usage.completion_tokens, Ordering::Relaxed);
        if let Some(cost) = prices.estimate_cost(model, usage) {
            let mut total = self.cost_saved_usd.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            *total += cost.total();
        }
    }

    pub(crate) fn miss(&self, usage: Option<&Usage>) {
        self.misses.fetch_add(1, Ordering::Relaxed);
        self.miss_usage(usage);
    }

    pub(crate) fn miss_usage(&self, usage: Option<&Usage>) {
        if let Some(usage) = usage {
            self.miss_prompt_tokens.fetch_add(usage.prompt_tokens, Ordering::Relaxed);
            self.azure_cached_tokens.fetch_add(usage.cached_tokens(), Ordering::Relaxed);
        }
    }

    pub(crate) fn bypassed(&self) {
        self.bypassed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn not_stored(&self) {
        self.not_stored.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn pass_through(&self) {
        self.pass_throughs.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            bypassed: self.bypassed.load(Ordering::Relaxed),
            not_stored: self.not_stored.load(Ordering::Relaxed),
            pass_throughs: self.pass_throughs.load(Ordering::Relaxed),
            prompt_tokens_saved: self.prompt_tokens_saved.load(Ordering::Relaxed),
            completion_tokens_saved: self.completion_tokens_saved.load(Ordering::Relaxed),
            cost_saved_usd: *self.cost_saved_usd.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
            miss_prompt_tokens: self.miss_prompt_tokens.load(Ordering::Relaxed),
            azure_cached_tokens: self.azure_cached_tokens.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_count_tokens_and_cost_and_misses_count_azure_cache() {
        let stats = StatsRecorder::default();
        let prices = PriceTable::default();
        stats.hit("gpt-4o-2024-08-06", Some(&Usage::new(1_000_000, 100_000)), &prices);
        stats.hit("unknown-model", Some(&Usage::new(10, 5)), &prices);
        let mut usage = Usage::new(100, 10);
        usage.prompt_tokens_details =
            Some(aoai_core::chat::PromptTokensDetails { cached_tokens: Some(64), ..Default::default() });
        stats.miss(Some(&usage));
        stats.pass_through();
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.hits, 2);
        assert_eq!(snapshot.tokens_saved(), 1_100_015);
        assert!((snapshot.cost_saved_usd - 3.5).abs() < 1e-9);
        assert_eq!((snapshot.azure_cached_tokens, snapshot.miss_prompt_tokens), (64, 100));
        let line = snapshot.to_string();
        assert!(line.contains("2 hits, 1 misses (66.7% hit rate)"), "{line}");
        assert!(line.contains("1 pass-throughs"), "{line}");
        assert!(line.contains("~$3.500000"), "{line}");
        assert!(line.contains("64 of 100 prompt tokens"), "{line}");
    }
}
