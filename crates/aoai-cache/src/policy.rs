//! What may be cached: which requests ([`CacheMode`]) and which answers
//! ([`is_cacheable_response`]), and for how long ([`CachePolicy::ttl`]).
//!
//! Never cached, whatever the mode: errors (a failed request stores
//! nothing), answers the content filter touched (a choice that ended with
//! `finish_reason: content_filter`, or any prompt or completion filter
//! result with `filtered: true`), answers without choices or with a choice
//! that has no finish reason, and streams that did not end cleanly (cut,
//! failed, or dropped by the caller before their end).
//!
//! # The Responses API
//!
//! Which requests ([`CachePolicy::allows_response_request`]); the others go
//! upstream uncached and are counted as `bypassed`:
//!
//! - **`background: true`** never: the answer is `queued`, and the result is
//!   read later by id; there is nothing to store and nothing to replay.
//! - **`conversation`** never: the conversation is server state that every
//!   turn changes (the answer is appended to it), so the same request means
//!   something different the next time, and a hit would not append the turn.
//!   `previous_response_id` is cached (it stays in the key): a response id
//!   names a stored response whose input and output never change.
//! - **server-side tools other than `file_search`** (any tool aoai does not
//!   model: `mcp`, `code_interpreter`, `image_generation`, `web_search…`)
//!   never: the service runs them while answering, with effects outside the
//!   answer (a remote MCP call, a container) that a hit would silently skip.
//!   `function` tools are cached (the model only *asks* for the call; the
//!   caller runs it, hit or not), as chat tool calls are. `file_search` is
//!   cached and read-only, but its answer reflects the vector store as it was
//!   at the first call: an answer stays up to [`CachePolicy::ttl`] old after
//!   files are added or removed.
//! - the [`CacheMode`]: `DeterministicOnly` wants `temperature == 0` (the
//!   Responses API has no `seed`; reasoning models, which take no
//!   `temperature`, are cached only under [`CacheMode::Always`]).
//!
//! Which answers ([`is_cacheable_response_object`]): `status: completed`,
//! no `error`, no `incomplete_details`, at least one output item, and no
//! Azure `content_filters` entry that blocked or filtered anything. An
//! `incomplete` answer (cut by `max_output_tokens` or the filter), a
//! `failed` one and a stream that ends without `response.completed` are
//! never stored. Function-call outputs are stored like text.
//!
//! **What a hit means for `store`.** With `store: true` (the service's
//! default) the service would have stored a *new* response with a new id; a
//! hit sends nothing, so nothing new is stored and the hit's `id` is the
//! stored original's. Continuing from it (`previous_response_id`) gives the
//! model exactly the context a new response would have given (same input,
//! same output), and a later turn keyed on that id hits too. What differs:
//! the service's list of stored responses has one entry where uncached calls
//! would have made several, the hit's `metadata` is the first caller's, and
//! if the original was deleted (`delete_response`) or expired (Azure keeps
//! stored responses 30 days by default; keep [`CachePolicy::ttl`] well
//! below) while its entry lives, the hit returns an id the service no longer
//! knows. `store` is therefore part of the key, as the service reads it
//! (absent is `true`): a `store: true` request never gets the id of a
//! response sent with `store: false`, which the service never kept and
//! would not find as a `previous_response_id`.

use std::time::Duration;

use aoai_core::chat::{ChatRequest, ChatResponse, FinishReason};
use aoai_core::responses::{ResponseObject, ResponseRequest, ResponseStatus, ResponseTool};

/// The default time to live of an entry: one hour.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// Which chat and Responses API requests are cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CacheMode {
    /// Only requests deterministic enough to repeat: `temperature` set to 0,
    /// or (chat only) a `seed` set. The default.
    #[default]
    DeterministicOnly,
    /// Every chat and Responses request the other rules allow: a hit returns the first answer ever stored for
    /// the request, even when sampling would have varied it.
    Always,
}

/// Which requests and answers are cached, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    /// Which chat and Responses requests are cached (embeddings are
    /// deterministic and always cached).
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

    /// Whether a Responses API `request` may be answered from (and stored
    /// in) the cache: not in the background, not in a `conversation`, no
    /// server-side tool but `file_search`, and allowed by the
    /// [`CacheMode`] (see the [module docs](self)).
    ///
    /// ```
    /// use aoai_cache::CachePolicy;
    /// use aoai_core::responses::ResponseRequest;
    ///
    /// let policy = CachePolicy::default();
    /// let request = ResponseRequest::new("Capital of France?").temperature(0.0);
    /// assert!(policy.allows_response_request(&request));
    /// assert!(policy.allows_response_request(&request.clone().previous_response_id("resp_1")));
    /// assert!(!policy.allows_response_request(&request.clone().background(true)));
    /// assert!(!policy.allows_response_request(&request.clone().conversation("conv_1")));
    /// assert!(!policy.allows_response_request(&ResponseRequest::new("Capital of France?")));
    /// ```
    #[must_use]
    pub fn allows_response_request(&self, request: &ResponseRequest) -> bool {
        if request.background == Some(true) || request.conversation.is_some() {
            return false;
        }
        let server_side_tool = request
            .tools
            .iter()
            .flatten()
            .any(|tool| !matches!(tool, ResponseTool::Function(_) | ResponseTool::FileSearch(_)));
        if server_side_tool {
            return false;
        }
        match self.mode {
            CacheMode::Always => true,
            CacheMode::DeterministicOnly => request.temperature == Some(0.0),
        }
    }
}

/// Whether a Responses API answer may be stored: `status: completed`, no
/// `error`, no `incomplete_details`, at least one output item, and no Azure
/// content filter that blocked or filtered anything.
#[must_use]
pub fn is_cacheable_response_object(response: &ResponseObject) -> bool {
    let filtered = response
        .content_filters
        .iter()
        .flatten()
        .any(|filter| filter.blocked || filter.content_filter_results.is_filtered());
    response.status == ResponseStatus::Completed
        && response.error.is_none()
        && response.incomplete_details.is_none()
        && !response.output.is_empty()
        && !filtered
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

    #[test]
    fn responses_requests_bypass_background_conversations_server_tools_and_sampling() {
        use aoai_core::responses::{ResponseRequest, ResponseTool};

        let policy = CachePolicy::default();
        let base = ResponseRequest::new("hi").temperature(0.0);
        assert!(policy.allows_response_request(&base));
        assert!(policy.allows_response_request(&base.clone().previous_response_id("resp_1")));
        assert!(policy.allows_response_request(&base.clone().store(false)));
        assert!(policy.allows_response_request(&base.clone().background(false)));
        let kept_tools =
            vec![ResponseTool::function("f", "does f", serde_json::json!({})), ResponseTool::file_search(["vs_1"])];
        assert!(policy.allows_response_request(&base.clone().tools(kept_tools)));
        assert!(!policy.allows_response_request(&base.clone().background(true)));
        assert!(!policy.allows_response_request(&base.clone().conversation("conv_1")));
        let mcp =
            ResponseTool::other(serde_json::json!({"type": "mcp", "server_label": "x", "server_url": "https://x"}));
        assert!(!policy.allows_response_request(&base.clone().tools(vec![mcp])));
        assert!(!policy.allows_response_request(&base.clone().temperature(0.7)));
        assert!(!policy.allows_response_request(&ResponseRequest::new("hi")));
        let always = CachePolicy { mode: CacheMode::Always, ..CachePolicy::default() };
        assert!(always.allows_response_request(&ResponseRequest::new("hi").temperature(0.7)));
        assert!(!always.allows_response_request(&ResponseRequest::new("hi").background(true)));
        assert!(!always.allows_response_request(&ResponseRequest::new("hi").conversation("conv_1")));
    }

    #[test]
    fn only_clean_completed_response_objects_are_cacheable() {
        let completed: ResponseObject = serde_json::from_value(serde_json::json!({
            "id": "resp_1", "object": "response", "status": "completed", "model": "gpt-4o",
            "output": [{"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f", "arguments": "{}", "status": "completed"}],
            "error": null, "incomplete_details": null,
            "content_filters": [{"blocked": false, "source_type": "prompt", "content_filter_results": {"hate": {"filtered": false, "severity": "safe"}}}]
        }))
        .unwrap();
        assert!(is_cacheable_response_object(&completed));
        let mut incomplete = completed.clone();
        incomplete.status = ResponseStatus::Incomplete;
        incomplete.incomplete_details = Some(aoai_core::responses::IncompleteDetails::default());
        assert!(!is_cacheable_response_object(&incomplete));
        let mut details_only = completed.clone();
        details_only.incomplete_details = Some(aoai_core::responses::IncompleteDetails::default());
        assert!(!is_cacheable_response_object(&details_only));
        let mut failed = completed.clone();
        failed.status = ResponseStatus::Failed;
        assert!(!is_cacheable_response_object(&failed));
        let mut errored = completed.clone();
        errored.error = Some(aoai_core::responses::ResponseError::default());
        assert!(!is_cacheable_response_object(&errored));
        let mut empty = completed.clone();
        empty.output.clear();
        assert!(!is_cacheable_response_object(&empty));
        let mut blocked = completed.clone();
        blocked.content_filters.as_mut().unwrap()[0].blocked = true;
        assert!(!is_cacheable_response_object(&blocked));
        let mut filtered = completed.clone();
        filtered.content_filters.as_mut().unwrap()[0].content_filter_results =
            serde_json::from_str(r#"{"violence":{"filtered":true,"severity":"medium"}}"#).unwrap();
        assert!(!is_cacheable_response_object(&filtered));
        let mut unknown = completed;
        unknown.status = ResponseStatus::Unknown("paused".to_owned());
        assert!(!is_cacheable_response_object(&unknown));
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
