//! Content filtering as Azure reports it: a configurable blocklist and
//! jailbreak phrases, screened on prompts and completions.
//!
//! Every result carries all four harm categories (`hate`, `sexual`,
//! `violence`, `self_harm`) with severity `safe`: the emulator judges no
//! harm, only blocklist terms and jailbreak phrases. Prompt results add
//! `jailbreak`; completion results add `protected_material_code` and
//! `protected_material_text` (never detected); both add `custom_blocklists`
//! when a blocklist is configured.
//!
//! Matching ignores case and treats runs of whitespace as one space.
//! Blocklist terms match whole words (`zebra` matches "Zebra!" but not
//! "zebras"); jailbreak patterns match anywhere.

use aoai_core::chat::{ChatMessage, ChatRequest};
use aoai_core::filter::{
    BlocklistHit, BlocklistResults, ContentFilterResults, DetectedResult, PromptFilterResult, Severity, SeverityResult,
};

/// The id reported for the configured blocklist in `custom_blocklists`.
pub const BLOCKLIST_ID: &str = "emulator-blocklist";

/// Phrases that mark a prompt as a jailbreak attempt unless configured
/// otherwise.
pub const DEFAULT_JAILBREAK_PATTERNS: &[&str] = &[
    "ignore all previous instructions",
    "ignore previous instructions",
    "ignore your previous instructions",
    "disregard all previous instructions",
    "ignore the above instructions",
    "forget all previous instructions",
    "dan mode",
    "do anything now",
    "developer mode enabled",
    "jailbreak mode",
    "pretend you have no restrictions",
    "you have no restrictions",
    "bypass your safety",
];

/// What the content filter screens for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentFilterConfig {
    /// Words and phrases that block a prompt or a completion (whole words,
    /// any case).
    pub blocklist: Vec<String>,
    /// Phrases that mark a user message as a jailbreak attempt (anywhere,
    /// any case).
    pub jailbreak_patterns: Vec<String>,
}

impl Default for ContentFilterConfig {
    /// No blocklist and [`DEFAULT_JAILBREAK_PATTERNS`].
    fn default() -> Self {
        Self {
            blocklist: Vec::new(),
            jailbreak_patterns: DEFAULT_JAILBREAK_PATTERNS.iter().map(|pattern| (*pattern).to_owned()).collect(),
        }
    }
}

impl ContentFilterConfig {
    /// A configuration with this blocklist and these jailbreak patterns
    /// (`None`: [`DEFAULT_JAILBREAK_PATTERNS`]).
    #[must_use]
    pub fn new(blocklist: Vec<String>, jailbreak_patterns: Option<Vec<String>>) -> Self {
        Self { blocklist, jailbreak_patterns: jailbreak_patterns.unwrap_or_else(|| Self::default().jailbreak_patterns) }
    }

    /// A configuration that detects nothing: results are all `safe`.
    #[must_use]
    pub fn disabled() -> Self {
        Self { blocklist: Vec::new(), jailbreak_patterns: Vec::new() }
    }

    /// The first blocklist term found in `text`, as configured.
    #[must_use]
    pub fn blocklist_hit(&self, text: &str) -> Option<&str> {
        let haystack = collapse_whitespace(&text.to_lowercase());
        self.blocklist.iter().map(String::as_str).find(|term| {
            let needle = collapse_whitespace(&term.to_lowercase());
            !needle.is_empty() && contains_word(&haystack, &needle)
        })
    }

    /// The first jailbreak pattern found in `text`, as configured.
    #[must_use]
    pub fn jailbreak_hit(&self, text: &str) -> Option<&str> {
        let haystack = collapse_whitespace(&text.to_lowercase());
        self.jailbreak_patterns.iter().map(String::as_str).find(|pattern| {
            let needle = collapse_whitespace(&pattern.to_lowercase());
            !needle.is_empty() && haystack.contains(&needle)
        })
    }
}

/// The filter's verdict on a prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptVerdict {
    /// The results for the prompt (index 0), every category present.
    pub results: ContentFilterResults,
    /// Whether the prompt must be refused (400 `content_filter`).
    pub blocked: bool,
}

impl PromptVerdict {
    /// The `prompt_filter_results` of a response: one entry, index 0.
    #[must_use]
    pub fn prompt_filter_results(&self) -> Vec<PromptFilterResult> {
        vec![PromptFilterResult { prompt_index: 0, content_filter_results: Some(self.results.clone()) }]
    }
}

/// Screens a chat request's messages.
///
/// Blocklist terms are looked for in every message's text (system,
/// developer, user, assistant, tool); jailbreak patterns only in user
/// messages, as Azure's prompt shield does. A hit of either blocks the
/// prompt.
#[must_use]
pub fn screen_prompt(request: &ChatRequest, config: &ContentFilterConfig) -> PromptVerdict {
    let mut blocklisted = false;
    let mut jailbreak = false;
    for message in &request.messages {
        let Some(text) = message.text() else { continue };
        blocklisted |= config.blocklist_hit(&text).is_some();
        if matches!(message, ChatMessage::User(_)) {
            jailbreak |= config.jailbreak_hit(&text).is_some();
        }
    }
    prompt_verdict(config, blocklisted, jailbreak)
}

/// Screens a prompt given as plain text (an embeddings input, a batch line):
/// blocklist and jailbreak patterns both apply.
#[must_use]
pub fn screen_text_prompt(text: &str, config: &ContentFilterConfig) -> PromptVerdict {
    let blocklisted = config.blocklist_hit(text).is_some();
    let jailbreak = config.jailbreak_hit(text).is_some();
    prompt_verdict(config, blocklisted, jailbreak)
}

/// The prompt verdict for a blocklist hit and a jailbreak hit.
fn prompt_verdict(config: &ContentFilterConfig, blocklisted: bool, jailbreak: bool) -> PromptVerdict {
    let mut results = harm_categories();
    results.jailbreak =
        Some(DetectedResult { filtered: jailbreak, detected: jailbreak, citation: None, details: None });
    results.custom_blocklists = blocklist_results(config, blocklisted);
    PromptVerdict { results, blocked: blocklisted || jailbreak }
}

/// Screens a choice's generated text (content, or tool-call arguments): a
/// blocklist term filters it, and the server then ends the choice with
/// `finish_reason: content_filter`. Check
/// [`ContentFilterResults::is_filtered`] on the result.
#[must_use]
pub fn screen_completion(text: &str, config: &ContentFilterConfig) -> ContentFilterResults {
    let blocklisted = config.blocklist_hit(text).is_some();
    let mut results = harm_categories();
    let undetected = DetectedResult { filtered: false, detected: false, citation: None, details: None };
    results.protected_material_code = Some(undetected.clone());
    results.protected_material_text = Some(undetected);
    results.custom_blocklists = blocklist_results(config, blocklisted);
    results
}

fn harm_categories() -> ContentFilterResults {
    let safe = || Some(SeverityResult { filtered: false, severity: Some(Severity::Safe) });
    ContentFilterResults { hate: safe(), sexual: safe(), violence: safe(), self_harm: safe(), ..Default::default() }
}

fn blocklist_results(config: &ContentFilterConfig, hit: bool) -> Option<BlocklistResults> {
    if config.blocklist.is_empty() {
        return None;
    }
    Some(BlocklistResults { filtered: hit, details: vec![BlocklistHit { filtered: hit, id: BLOCKLIST_ID.to_owned() }] })
}

/// Whether `needle` occurs in `haystack` with no letter or digit touching
/// either end.
fn contains_word(haystack: &str, needle: &str) -> bool {
    let mut start = 0;
    while let Some(found) = haystack.get(start..).and_then(|rest| rest.find(needle)) {
        let begin = start + found;
        let end = begin + needle.len();
        let before = haystack.get(..begin).and_then(|head| head.chars().next_back());
        let after = haystack.get(end..).and_then(|tail| tail.chars().next());
        let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
        let needle_edges = (needle.chars().next(), needle.chars().next_back());
        // A term that starts or ends with punctuation needs no boundary on that side.
        let left_ok = boundary(before) || needle_edges.0.is_some_and(|c| !c.is_alphanumeric());
        let right_ok = boundary(after) || needle_edges.1.is_some_and(|c| !c.is_alphanumeric());
        if left_ok && right_ok {
            return true;
        }
        start = begin + needle.chars().next().map_or(1, char::len_utf8);
    }
    false
}

fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_words_only() {
        assert!(contains_word("a zebra!", "zebra"));
        assert!(!contains_word("zebras", "zebra"));
        assert!(contains_word("zebras and zebra", "zebra"));
        assert!(contains_word("über alles", "über"));
        assert!(!contains_word("", "x"));
    }
}
