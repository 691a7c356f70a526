//! Azure OpenAI's own content filter, read as a guard.
//!
//! Every Azure answer carries the filter's verdicts: `prompt_filter_results`
//! for the prompt and `content_filter_results` on each choice (and on stream
//! chunks) of a chat completion; `content_filters` (one per source,
//! `prompt` or `completion`, with the same per-category results and a
//! `blocked` flag) on a Responses answer and on its stream's lifecycle
//! events. [`AzureFilterGuard`] applies your thresholds to them — stricter
//! than the deployment's filter if you like — and your policy for the
//! detection categories. A prompt Azure refuses outright arrives as a 400
//! `content_filter` error; [`blocked_from_error`] turns it into a typed
//! [`Blocked`] with its categories and severities.
//!
//! | category | rule | default |
//! |---|---|---|
//! | `hate`, `sexual`, `violence`, `self_harm` | block at severity ≥ threshold (`None`: never) | `medium`, Azure's default |
//! | `jailbreak`, `indirect_attack` | [`DetectionPolicy`] when detected | block |
//! | `protected_material_text` | [`DetectionPolicy`] when detected | block |
//! | `protected_material_code` | [`DetectionPolicy`] when detected | annotate (report the citation, allow) |
//! | `profanity` | [`DetectionPolicy`] when detected | annotate |
//! | any category with `filtered: true`, `finish_reason: content_filter`, a Responses filter with `blocked: true`, `incomplete_details.reason: content_filter` | always block: Azure already removed content | |
//!
//! An unknown severity ranks above `high`, so it blocks.

use aoai_core::chat::{ChatChunk, ChatRequest, ChatResponse, FinishReason};
use aoai_core::error::ApiErrorKind;
use aoai_core::filter::{ContentFilterResults, DetectedResult, PromptFilterResult, Severity, SeverityResult};
use aoai_core::responses::{ResponseObject, ResponseRequest, ResponseStreamEvent};
use async_trait::async_trait;

use crate::error::{Blocked, GuardError, Stage};
use crate::guard::{Guard, Location, Reason, Source, Verdict};

/// What to do when a detection category is detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DetectionPolicy {
    /// Refuse.
    Block,
    /// Allow, and report the reason.
    Annotate,
    /// Ignore.
    Allow,
}

/// Thresholds and policies. See the [module docs](self) for the defaults.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AzureFilterPolicy {
    /// Block hate at or above this severity.
    pub hate: Option<Severity>,
    /// Block sexual content at or above this severity.
    pub sexual: Option<Severity>,
    /// Block violence at or above this severity.
    pub violence: Option<Severity>,
    /// Block self-harm at or above this severity.
    pub self_harm: Option<Severity>,
    /// User prompt attacks.
    pub jailbreak: DetectionPolicy,
    /// Attacks hidden in documents.
    pub indirect_attack: DetectionPolicy,
    /// Known text (lyrics, articles).
    pub protected_material_text: DetectionPolicy,
    /// Known code from public repositories.
    pub protected_material_code: DetectionPolicy,
    /// Profanity.
    pub profanity: DetectionPolicy,
}

impl Default for AzureFilterPolicy {
    fn default() -> Self {
        Self {
            hate: Some(Severity::Medium),
            sexual: Some(Severity::Medium),
            violence: Some(Severity::Medium),
            self_harm: Some(Severity::Medium),
            jailbreak: DetectionPolicy::Block,
            indirect_attack: DetectionPolicy::Block,
            protected_material_text: DetectionPolicy::Block,
            protected_material_code: DetectionPolicy::Annotate,
            profanity: DetectionPolicy::Annotate,
        }
    }
}

impl AzureFilterPolicy {
    /// The same threshold for the four harm categories.
    #[must_use]
    pub fn harm_threshold(mut self, threshold: Option<Severity>) -> Self {
        self.hate = threshold.clone();
        self.sexual = threshold.clone();
        self.violence = threshold.clone();
        self.self_harm = threshold;
        self
    }

    /// Sets one harm category's threshold (`hate`, `sexual`, `violence`, `self_harm`).
    #[must_use]
    pub fn threshold(mut self, category: &str, threshold: Option<Severity>) -> Self {
        match category {
            "hate" => self.hate = threshold,
            "sexual" => self.sexual = threshold,
            "violence" => self.violence = threshold,
            "self_harm" => self.self_harm = threshold,
            _ => {}
        }
        self
    }

    /// Sets the policy for `jailbreak`.
    #[must_use]
    pub fn jailbreak(mut self, policy: DetectionPolicy) -> Self {
        self.jailbreak = policy;
        self
    }

    /// Sets the policy for `indirect_attack`.
    #[must_use]
    pub fn indirect_attack(mut self, policy: DetectionPolicy) -> Self {
        self.indirect_attack = policy;
        self
    }

    /// Sets the policy for `protected_material_text`.
    #[must_use]
    pub fn protected_material_text(mut self, policy: DetectionPolicy) -> Self {
        self.protected_material_text = policy;
        self
    }

    /// Sets the policy for `protected_material_code`.
    #[must_use]
    pub fn protected_material_code(mut self, policy: DetectionPolicy) -> Self {
        self.protected_material_code = policy;
        self
    }

    /// Applies the policy to one set of results, adding to `blocked` and `noted`.
    pub(crate) fn judge(
        &self,
        results: &ContentFilterResults,
        location: Location,
        blocked: &mut Vec<Reason>,
        noted: &mut Vec<Reason>,
    ) {
        let severity = [
            ("hate", &results.hate, &self.hate),
            ("sexual", &results.sexual, &self.sexual),
            ("violence", &results.violence, &self.violence),
            ("self_harm", &results.self_harm, &self.self_harm),
        ];
        for (name, result, threshold) in severity {
            let Some(SeverityResult { filtered, severity }) = result else { continue };
            let over = match (severity, threshold) {
                (Some(severity), Some(threshold)) => severity.rank() >= threshold.rank(),
                _ => false,
            };
            if *filtered || over {
                let mut reason = Reason::new(Source::AzureFilter, name).at(location);
                if let Some(severity) = severity {
                    reason = reason.severity(severity.clone());
                }
                if *filtered {
                    reason = reason.detail("filtered by Azure");
                }
                blocked.push(reason);
            }
        }
        let detected = [
            ("jailbreak", &results.jailbreak, self.jailbreak),
            ("indirect_attack", &results.indirect_attack, self.indirect_attack),
            ("protected_material_text", &results.protected_material_text, self.protected_material_text),
            ("protected_material_code", &results.protected_material_code, self.protected_material_code),
            ("profanity", &results.profanity, self.profanity),
        ];
        for (name, result, policy) in detected {
            let Some(DetectedResult { filtered, detected, citation, .. }) = result else { continue };
            let mut reason = Reason::new(Source::AzureFilter, name).at(location);
            if let Some(url) = citation.as_ref().and_then(|citation| citation.url.as_deref()) {
                reason = reason.detail(url);
            } else if *filtered {
                reason = reason.detail("filtered by Azure");
            }
            match (filtered, detected, policy) {
                (true, _, _) | (false, true, DetectionPolicy::Block) => blocked.push(reason),
                (false, true, DetectionPolicy::Annotate) => noted.push(reason),
                _ => {}
            }
        }
        if let Some(lists) = &results.custom_blocklists
            && lists.filtered
        {
            let ids: Vec<&str> = lists.details.iter().filter(|hit| hit.filtered).map(|hit| hit.id.as_str()).collect();
            blocked.push(Reason::new(Source::AzureFilter, "custom_blocklists").at(location).detail(ids.join(",")));
        }
        for verdict in results.categories() {
            let known = matches!(
                verdict.category.as_str(),
                "hate"
                    | "sexual"
                    | "violence"
                    | "self_harm"
                    | "jailbreak"
                    | "indirect_attack"
                    | "protected_material_text"
                    | "protected_material_code"
                    | "profanity"
                    | "custom_blocklists"
            );
            if !known && verdict.filtered {
                let mut reason = Reason::new(Source::AzureFilter, verdict.category).at(location);
                if let Some(severity) = verdict.severity {
                    reason = reason.severity(severity);
                }
                blocked.push(reason);
            }
        }
    }

    fn judge_prompts(
        &self,
        prompts: Option<&[PromptFilterResult]>,
        blocked: &mut Vec<Reason>,
        noted: &mut Vec<Reason>,
    ) {
        for prompt in prompts.unwrap_or_default() {
            if let Some(results) = &prompt.content_filter_results {
                self.judge(results, Location::Prompt(prompt.prompt_index), blocked, noted);
            }
        }
    }
}

/// Azure's filter annotations as a guard. See the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct AzureFilterGuard {
    policy: AzureFilterPolicy,
}

impl AzureFilterGuard {
    /// A guard with `policy`.
    #[must_use]
    pub fn new(policy: AzureFilterPolicy) -> Self {
        Self { policy }
    }

    /// The policy.
    #[must_use]
    pub fn policy(&self) -> &AzureFilterPolicy {
        &self.policy
    }

    /// Judges a whole answer: its prompt results and every choice's results.
    pub fn judge_response(&self, response: &ChatResponse) -> Verdict<()> {
        let choices = response
            .choices
            .iter()
            .map(|choice| (choice.index, choice.content_filter_results.as_deref(), choice.finish_reason.as_ref()));
        self.judge_parts(response.prompt_filter_results.as_deref(), choices)
    }

    /// Judges one stream chunk's annotations.
    pub fn judge_chunk(&self, chunk: &ChatChunk) -> Verdict<()> {
        let choices = chunk
            .choices
            .iter()
            .map(|choice| (choice.index, choice.content_filter_results.as_deref(), choice.finish_reason.as_ref()));
        self.judge_parts(chunk.prompt_filter_results.as_deref(), choices)
    }

    /// Judges a Responses answer's `content_filters`: a `prompt` filter at
    /// [`Location::Prompt`] (numbered among the prompt filters), any other at
    /// [`Location::Output`]. A filter marked `blocked`, or an answer left
    /// `incomplete` for `content_filter`, blocks even when the results say
    /// nothing more.
    pub fn judge_response_object(&self, response: &ResponseObject) -> Verdict<()> {
        let (mut blocked, mut noted) = (Vec::new(), Vec::new());
        let mut prompts: u32 = 0;
        for filter in response.content_filters.iter().flatten() {
            let location = if filter.source_type == "prompt" {
                prompts = prompts.saturating_add(1);
                Location::Prompt(prompts - 1)
            } else {
                Location::Output
            };
            let before = blocked.len();
            self.policy.judge(&filter.content_filter_results, location, &mut blocked, &mut noted);
            if filter.blocked && blocked.len() == before {
                blocked.push(Reason::new(Source::AzureFilter, "content_filter").at(location).detail("blocked"));
            }
        }
        let cut = response.incomplete_details.as_ref().is_some_and(|details| details.reason == "content_filter");
        if cut && blocked.is_empty() {
            blocked.push(
                Reason::new(Source::AzureFilter, "content_filter").at(Location::Output).detail("incomplete_details"),
            );
        }
        verdict(blocked, noted)
    }

    /// The prompt results, then each choice's results; a choice that ended
    /// with `content_filter` blocks even when its results say nothing.
    fn judge_parts<'a>(
        &self,
        prompts: Option<&[PromptFilterResult]>,
        choices: impl Iterator<Item = (u32, Option<&'a ContentFilterResults>, Option<&'a FinishReason>)>,
    ) -> Verdict<()> {
        let (mut blocked, mut noted) = (Vec::new(), Vec::new());
        self.policy.judge_prompts(prompts, &mut blocked, &mut noted);
        for (index, results, finish_reason) in choices {
            let location = Location::Choice(index);
            let before = blocked.len();
            if let Some(results) = results {
                self.policy.judge(results, location, &mut blocked, &mut noted);
            }
            if finish_reason == Some(&FinishReason::ContentFilter) && blocked.len() == before {
                blocked.push(Reason::new(Source::AzureFilter, "content_filter").at(location).detail("finish_reason"));
            }
        }
        verdict(blocked, noted)
    }
}

fn verdict(blocked: Vec<Reason>, noted: Vec<Reason>) -> Verdict<()> {
    if !blocked.is_empty() {
        Verdict::Block(blocked)
    } else if !noted.is_empty() {
        Verdict::Annotate(noted)
    } else {
        Verdict::Allow
    }
}

fn unit_to<T>(verdict: Verdict<()>) -> Verdict<T> {
    match verdict {
        Verdict::Allow | Verdict::Redact { .. } => Verdict::Allow,
        Verdict::Annotate(reasons) => Verdict::Annotate(reasons),
        Verdict::Block(reasons) => Verdict::Block(reasons),
    }
}

#[async_trait]
impl Guard for AzureFilterGuard {
    fn name(&self) -> &str {
        "azure_filter"
    }

    /// Azure judges the prompt when it answers; nothing to check before.
    async fn check_input(&self, _request: &ChatRequest) -> Result<Verdict<ChatRequest>, GuardError> {
        Ok(Verdict::Allow)
    }

    async fn check_output(&self, response: &ChatResponse) -> Result<Verdict<ChatResponse>, GuardError> {
        Ok(unit_to(self.judge_response(response)))
    }

    fn check_chunk(&self, chunk: &ChatChunk) -> Verdict<()> {
        self.judge_chunk(chunk)
    }

    /// Azure judges the prompt when it answers; nothing to check before.
    async fn check_response_input(&self, _request: &ResponseRequest) -> Result<Verdict<ResponseRequest>, GuardError> {
        Ok(Verdict::Allow)
    }

    async fn check_response_output(&self, response: &ResponseObject) -> Result<Verdict<ResponseObject>, GuardError> {
        Ok(unit_to(self.judge_response_object(response)))
    }

    /// The `content_filters` of a lifecycle event's response (Azure sends
    /// them with the terminal event).
    fn check_response_event(&self, event: &ResponseStreamEvent) -> Verdict<()> {
        match event.event.response() {
            Some(response) => self.judge_response_object(response),
            None => Verdict::Allow,
        }
    }
}

/// Azure's 400 `content_filter` refusal as a typed [`Blocked`]: every
/// filtered category with its severity (all the categories Azure reported
/// when none is marked filtered), the request id, and the original error in
/// [`Blocked::azure_error`]. `None` for any other error.
#[must_use]
pub fn blocked_from_error(error: &aoai_core::Error) -> Option<Blocked> {
    let api = error.as_api()?;
    if api.kind() != ApiErrorKind::ContentFilter {
        return None;
    }
    let stage = if api.param() == Some("prompt") || api.param().is_none() { Stage::Input } else { Stage::Output };
    let location = Location::Prompt(0);
    let mut reasons: Vec<Reason> = Vec::new();
    if let Some(results) = api.content_filter() {
        for verdict in results.filtered_categories() {
            let mut reason = Reason::new(Source::AzureFilter, verdict.category).at(location);
            if let Some(severity) = verdict.severity {
                reason = reason.severity(severity);
            }
            if verdict.detected == Some(true) {
                reason = reason.detail("detected");
            }
            reasons.push(reason);
        }
    }
    if reasons.is_empty() {
        let mut reason = Reason::new(Source::AzureFilter, "content_filter").at(location);
        if let Some(code) = api.inner_code() {
            reason = reason.detail(code);
        }
        reasons.push(reason);
    }
    Some(Blocked {
        guard: "azure_filter".to_owned(),
        stage,
        reasons,
        sent: true,
        request_id: api.request_id().map(str::to_owned),
        azure_error: Some(api.clone()),
    })
}

#[cfg(test)]
mod tests {
    use aoai_core::error::ApiError;
    use aoai_core::response::ResponseMeta;

    use super::*;

    fn response(json: &str) -> ChatResponse {
        serde_json::from_str(json).unwrap()
    }

    const ANSWER: &str = r#"{"id":"c","object":"chat.completion","created":1,"model":"gpt-4o",
        "prompt_filter_results":[{"prompt_index":0,"content_filter_results":{
            "hate":{"filtered":false,"severity":"low"},"jailbreak":{"filtered":false,"detected":false}}}],
        "choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"x"},
            "content_filter_results":{"violence":{"filtered":false,"severity":"medium"},
            "protected_material_code":{"filtered":false,"detected":true,"citation":{"URL":"https://github.com/x/y","license":"MIT"}}}}]}"#;

    #[test]
    fn thresholds_and_policies() {
        let answer = response(ANSWER);
        let verdict = AzureFilterGuard::default().judge_response(&answer);
        let Verdict::Block(reasons) = verdict else { panic!("{verdict:?}") };
        assert_eq!(reasons.len(), 1);
        assert_eq!(reasons[0].category, "violence");
        assert_eq!(reasons[0].severity, Some(Severity::Medium));
        assert_eq!(reasons[0].location, Some(Location::Choice(0)));

        let lenient = AzureFilterGuard::new(AzureFilterPolicy::default().threshold("violence", Some(Severity::High)));
        let Verdict::Annotate(notes) = lenient.judge_response(&answer) else { panic!() };
        assert_eq!(notes[0].category, "protected_material_code");
        assert_eq!(notes[0].detail.as_deref(), Some("https://github.com/x/y"));

        let strict = AzureFilterGuard::new(AzureFilterPolicy::default().harm_threshold(Some(Severity::Low)));
        let categories: Vec<String> =
            strict.judge_response(&answer).reasons().iter().map(|reason| reason.category.clone()).collect();
        assert_eq!(categories, vec!["hate", "violence"]);

        let off = AzureFilterPolicy::default().harm_threshold(None).protected_material_code(DetectionPolicy::Allow);
        assert_eq!(AzureFilterGuard::new(off).judge_response(&answer), Verdict::Allow);
    }

    #[test]
    fn filtered_and_unknown_always_block() {
        let answer = response(
            r#"{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,
            "finish_reason":"content_filter","message":{"role":"assistant","content":null},
            "content_filter_results":{"hate":{"filtered":false,"severity":"extreme"},"new_thing":{"filtered":true,"severity":"high"}}}]}"#,
        );
        let policy = AzureFilterPolicy::default().harm_threshold(Some(Severity::High));
        let categories: Vec<String> = AzureFilterGuard::new(policy)
            .judge_response(&answer)
            .reasons()
            .iter()
            .map(|reason| reason.category.clone())
            .collect();
        assert_eq!(categories, vec!["hate", "new_thing"]);
    }

    #[test]
    fn filter_error_becomes_blocked() {
        let body =
            br#"{"error":{"message":"filtered","type":null,"param":"prompt","code":"content_filter","status":400,
            "innererror":{"code":"ResponsibleAIPolicyViolation","content_filter_result":{
              "hate":{"filtered":false,"severity":"safe"},"jailbreak":{"filtered":true,"detected":true},
              "violence":{"filtered":true,"severity":"medium"}}}}}"#;
        let meta =
            ResponseMeta { status: 400, request_id: Some("req-7".into()), attempts: 1, ..ResponseMeta::default() };
        let error = aoai_core::Error::Api(ApiError::from_response(meta, body));
        let blocked = blocked_from_error(&error).unwrap();
        assert_eq!(blocked.stage, Stage::Input);
        assert!(blocked.sent);
        assert_eq!(blocked.request_id.as_deref(), Some("req-7"));
        assert_eq!(blocked.categories(), vec!["violence", "jailbreak"]);
        assert_eq!(blocked.reasons[0].severity, Some(Severity::Medium));
        let other = aoai_core::Error::Api(ApiError::from_response(
            ResponseMeta { status: 429, ..ResponseMeta::default() },
            b"{}",
        ));
        assert!(blocked_from_error(&other).is_none());
    }
}
