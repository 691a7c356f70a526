//! What may be cached: which requests ([`CacheMode`]) and which answers
//! ([`is_cacheable_response`]), and for how long ([`CachePolicy::ttl`]).
//!
//! Never cached, whatever the mode: errors (a failed request stores
//! nothing), answers the content filter touched (a choice that ended with
//! `finish_reason: content_filter`, or any prompt or completion filter
//! result with `filtered: true`), answers without choices or with a choice
//! that has no finish reason, and streams that did not end cleanly (cut,
//! failed, or dropped by the caller before their end).

use std::time::Duration;

use aoai_core::chat::{ChatRequest, ChatResponse, FinishReason};

/// The default time to live of an entry: one hour.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// Which chat requests are cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CacheMode {
    /// Only requests deterministic enough to repeat: `temperature` set to 0,
    /// or a `seed` set. The default.
    #[default]
    DeterministicOnly,
    /// Every chat request: a hit returns the first answer ever stored for
    /// the request, even when sampling would have varied it.
    Always,
}

/// Which requests and answers are cached, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    /// Which chat requests are cached (embeddings are deterministic and
    /// always cached).
    pub mode: CacheMode,
    /// How long an entry lives.
    pub ttl: Duration,
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self { mode: CacheMode::DeterministicOnly, ttl: DEFAULT_TTL }
    }
}

impl CachePolicy {
    /// Whether `request` may be answered from (and stored in) the cache.
    #[must_use]
    pub fn allows(&self, request: &ChatRequest) -> bool {
        match self.mode {
            CacheMode::Always => true,
            CacheMode::DeterministicOnly => request.temperature == Some(0.0) || request.seed.is_some(),
        }
    }
}

/// Whether an answer may be stored: it has choices, every choice finished
/// for a reason other than the content filter, and no filter result (prompt
/// or completion) says `filtered: true`.
#[must_use]
pub fn is_cacheable_response(response: &ChatResponse) -> bool {
    if response.choices.is_empty() {
        return false;
    }
    let choices_clean = response.choices.iter().all(|choice| {
        let finished = matches!(&choice.finish_reason, Some(reason) if *reason != FinishReason::ContentFilter);
        let filtered = choice.content_filter_results.as_ref().is_some_and(|results| results.is_filtered());
        finished && !filtered
    });
    let prompt_clean = response
        .prompt_filter_results
        .iter()
        .flatten()
        .all(|result| !result.content_filter_results.as_ref().is_some_and(|results| results.is_filtered()));
    choices_clean && prompt_clean
}

#[cfg(test)]
mod tests {
    use aoai_core::chat::{ChatMessage, Choice};
    use aoai_core::filter::ContentFilterResults;

    use super::*;

    #[test]
    fn deterministic_only_wants_temperature_zero_or_a_seed() {
        let policy = CachePolicy::default();
        let base = ChatRequest::new(vec![ChatMessage::user("hi")]);
        assert!(!policy.allows(&base));
        assert!(!policy.allows(&base.clone().temperature(0.7)));
        assert!(policy.allows(&base.clone().temperature(0.0)));
        assert!(policy.allows(&base.clone().temperature(1.0).seed(3)));
        let always = CachePolicy { mode: CacheMode::Always, ..CachePolicy::default() };
        assert!(always.allows(&base));
    }

    fn answer(reason: Option<FinishReason>) -> ChatResponse {
        ChatResponse { choices: vec![Choice { finish_reason: reason, ..Choice::default() }], ..ChatResponse::default() }
    }

    #[test]
    fn filtered_unfinished_and_empty_answers_are_not_cacheable() {
        assert!(is_cacheable_response(&answer(Some(FinishReason::Stop))));
        assert!(is_cacheable_response(&answer(Some(FinishReason::Length))));
        assert!(!is_cacheable_response(&answer(Some(FinishReason::ContentFilter))));
        assert!(!is_cacheable_response(&answer(None)));
        assert!(!is_cacheable_response(&ChatResponse::default()));
        let filtered: ContentFilterResults =
            serde_json::from_str(r#"{"hate":{"filtered":true,"severity":"high"}}"#).unwrap();
        let mut response = answer(Some(FinishReason::Stop));
        response.choices[0].content_filter_results = Some(Box::new(filtered.clone()));
        assert!(!is_cacheable_response(&response));
        let mut response = answer(Some(FinishReason::Stop));
        response.prompt_filter_results = Some(vec![
            serde_json::from_value(serde_json::json!({"prompt_index": 0, "content_filter_results": filtered})).unwrap(),
        ]);
        assert!(!is_cacheable_response(&response));
    }
}
