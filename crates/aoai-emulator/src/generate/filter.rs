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

use std::borrow::Cow;

use aoai_core::chat::{ChatMessage, ChatRequest, MessageContent};
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
        if self.blocklist.is_empty() {
            return None;
        }
        let haystack = normalize(text);
        self.blocklist.iter().map(String::as_str).find(|term| {
            let needle = normalize(term);
            !needle.is_empty() && contains_word(&haystack, &needle)
        })
    }

    /// The first jailbreak pattern found in `text`, as configured.
    #[must_use]
    pub fn jailbreak_hit(&self, text: &str) -> Option<&str> {
        if self.jailbreak_patterns.is_empty() {
            return None;
        }
        let haystack = normalize(text);
        self.jailbreak_patterns.iter().map(String::as_str).find(|pattern| {
            let needle = normalize(pattern);
            !needle.is_empty() && haystack.contains(needle.as_ref())
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

    /// [`prompt_filter_results`](Self::prompt_filter_results), without a copy.
    pub(crate) fn into_prompt_filter_results(self) -> Vec<PromptFilterResult> {
        vec![PromptFilterResult { prompt_index: 0, content_filter_results: Some(self.results) }]
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
    screen_prompt_with(request, config)
}

/// Screens a prompt given as plain text (an embeddings input, a batch line):
/// blocklist and jailbreak patterns both apply.
#[must_use]
pub fn screen_text_prompt(text: &str, config: &ContentFilterConfig) -> PromptVerdict {
    let blocklisted = config.blocklist_hit(text).is_some();
    let jailbreak = config.jailbreak_hit(text).is_some();
    prompt_verdict(config.has_blocklist(), blocklisted, jailbreak)
}

/// Screens a choice's generated text (content, or tool-call arguments): a
/// blocklist term filters it, and the server then ends the choice with
/// `finish_reason: content_filter`. Check
/// [`ContentFilterResults::is_filtered`] on the result.
#[must_use]
pub fn screen_completion(text: &str, config: &ContentFilterConfig) -> ContentFilterResults {
    screen_completion_with(text, config)
}

/// What screening needs from a filter: [`ContentFilterConfig`] matches as
/// configured, [`ContentFilter`] with its terms prepared.
trait Matcher {
    fn has_blocklist(&self) -> bool;
    fn blocklisted(&self, text: &str) -> bool;
    fn jailbroken(&self, text: &str) -> bool;
}

impl Matcher for ContentFilterConfig {
    fn has_blocklist(&self) -> bool {
        !self.blocklist.is_empty()
    }

    fn blocklisted(&self, text: &str) -> bool {
        self.blocklist_hit(text).is_some()
    }

    fn jailbroken(&self, text: &str) -> bool {
        self.jailbreak_hit(text).is_some()
    }
}

impl Matcher for ContentFilter {
    fn has_blocklist(&self) -> bool {
        !self.config.blocklist.is_empty()
    }

    fn blocklisted(&self, text: &str) -> bool {
        self.blocklist_hit(text).is_some()
    }

    fn jailbroken(&self, text: &str) -> bool {
        self.jailbreak_hit(text).is_some()
    }
}

fn screen_prompt_with(request: &ChatRequest, matcher: &impl Matcher) -> PromptVerdict {
    let mut blocklisted = false;
    let mut jailbreak = false;
    for message in &request.messages {
        let Some(text) = message_text(message) else { continue };
        blocklisted |= matcher.blocklisted(&text);
        if matches!(message, ChatMessage::User(_)) {
            jailbreak |= matcher.jailbroken(&text);
        }
    }
    prompt_verdict(matcher.has_blocklist(), blocklisted, jailbreak)
}

fn screen_completion_with(text: &str, matcher: &impl Matcher) -> ContentFilterResults {
    let blocklisted = matcher.blocklisted(text);
    let mut results = harm_categories();
    let undetected = DetectedResult { filtered: false, detected: false, citation: None, details: None };
    results.protected_material_code = Some(undetected.clone());
    results.protected_material_text = Some(undetected);
    results.custom_blocklists = blocklist_results(matcher.has_blocklist(), blocklisted);
    results
}

/// The prompt verdict for a blocklist hit and a jailbreak hit.
fn prompt_verdict(has_blocklist: bool, blocklisted: bool, jailbreak: bool) -> PromptVerdict {
    let mut results = harm_categories();
    results.jailbreak =
        Some(DetectedResult { filtered: jailbreak, detected: jailbreak, citation: None, details: None });
    results.custom_blocklists = blocklist_results(has_blocklist, blocklisted);
    PromptVerdict { results, blocked: blocklisted || jailbreak }
}

/// A [`ContentFilterConfig`] prepared for screening many texts, as the
/// server does: terms and patterns normalised once, patterns indexed by
/// their first byte so one pass over a text tries them all. It finds
/// exactly what the configuration's own methods find.
#[derive(Debug, Clone)]
pub(crate) struct ContentFilter {
    config: ContentFilterConfig,
    /// Normalised non-empty blocklist terms, with their configured position.
    blocklist: Vec<(usize, String)>,
    /// Normalised non-empty jailbreak patterns, with their configured position.
    jailbreak: Vec<(usize, String)>,
    /// For each byte, the entries of `jailbreak` starting with it.
    jailbreak_by_first_byte: Vec<Vec<usize>>,
}

impl ContentFilter {
    pub(crate) fn new(config: ContentFilterConfig) -> Self {
        let prepare = |terms: &[String]| -> Vec<(usize, String)> {
            terms
                .iter()
                .enumerate()
                .map(|(position, term)| (position, normalize(term).into_owned()))
                .filter(|(_, term)| !term.is_empty())
                .collect()
        };
        let blocklist = prepare(&config.blocklist);
        let jailbreak = prepare(&config.jailbreak_patterns);
        let mut jailbreak_by_first_byte = vec![Vec::new(); 256];
        for (entry, (_, pattern)) in jailbreak.iter().enumerate() {
            if let Some(slot) =
                pattern.as_bytes().first().and_then(|byte| jailbreak_by_first_byte.get_mut(usize::from(*byte)))
            {
                slot.push(entry);
            }
        }
        Self { config, blocklist, jailbreak, jailbreak_by_first_byte }
    }

    /// The configuration it was prepared from.
    #[cfg(test)]
    pub(crate) fn config(&self) -> &ContentFilterConfig {
        &self.config
    }

    /// [`ContentFilterConfig::blocklist_hit`].
    pub(crate) fn blocklist_hit(&self, text: &str) -> Option<&str> {
        if self.blocklist.is_empty() {
            return None;
        }
        let haystack = normalize(text);
        let (position, _) = self.blocklist.iter().find(|(_, term)| contains_word(&haystack, term))?;
        self.config.blocklist.get(*position).map(String::as_str)
    }

    /// [`ContentFilterConfig::jailbreak_hit`]: the first pattern in
    /// configured order that occurs anywhere in `text`.
    pub(crate) fn jailbreak_hit(&self, text: &str) -> Option<&str> {
        if self.jailbreak.is_empty() {
            return None;
        }
        let haystack = normalize(text);
        let haystack = haystack.as_bytes();
        let mut best: Option<usize> = None;
        for (start, byte) in haystack.iter().enumerate() {
            let Some(candidates) = self.jailbreak_by_first_byte.get(usize::from(*byte)) else { continue };
            for &entry in candidates {
                if best.is_some_and(|best| best <= entry) {
                    break;
                }
                let Some((_, pattern)) = self.jailbreak.get(entry) else { continue };
                if haystack.get(start..start + pattern.len()) == Some(pattern.as_bytes()) {
                    best = Some(entry);
                }
            }
            if best == Some(0) {
                break;
            }
        }
        let (position, _) = self.jailbreak.get(best?)?;
        self.config.jailbreak_patterns.get(*position).map(String::as_str)
    }

    /// [`screen_prompt`].
    pub(crate) fn screen_prompt(&self, request: &ChatRequest) -> PromptVerdict {
        screen_prompt_with(request, self)
    }

    /// [`screen_completion`], and whether the results filter the text
    /// (what [`ContentFilterResults::is_filtered`] would say).
    pub(crate) fn screen_completion(&self, text: &str) -> (ContentFilterResults, bool) {
        let results = screen_completion_with(text, self);
        // Only a blocklist hit filters a completion.
        let filtered = results.custom_blocklists.as_ref().is_some_and(|blocklists| blocklists.filtered);
        (results, filtered)
    }
}

fn harm_categories() -> ContentFilterResults {
    let safe = || Some(SeverityResult { filtered: false, severity: Some(Severity::Safe) });
    ContentFilterResults { hate: safe(), sexual: safe(), violence: safe(), self_harm: safe(), ..Default::default() }
}

fn blocklist_results(has_blocklist: bool, hit: bool) -> Option<BlocklistResults> {
    if !has_blocklist {
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

/// A message's text, borrowed when its content is a plain string.
pub(crate) fn message_text(message: &ChatMessage) -> Option<Cow<'_, str>> {
    match message.content() {
        Some(MessageContent::Text(text)) => Some(Cow::Borrowed(text)),
        _ => message.text().map(Cow::Owned),
    }
}

/// `text` as matching sees it: lowercase, with every run of whitespace one
/// space and none at either end. Borrowed when it already is; ASCII text is
/// normalised in one pass.
fn normalize(text: &str) -> Cow<'_, str> {
    if !text.is_ascii() {
        return Cow::Owned(collapse_whitespace(&text.to_lowercase()));
    }
    // What `split_whitespace` splits ASCII text on (U+000B included).
    let is_space = |byte: u8| byte.is_ascii_whitespace() || byte == 0x0b;
    let bytes = text.as_bytes();
    let mut previous = b' ';
    let normal = bytes.last() != Some(&b' ')
        && bytes.iter().all(|&byte| {
            // No uppercase, no whitespace but single inner spaces.
            let ok = !byte.is_ascii_uppercase() && if byte == b' ' { previous != b' ' } else { !is_space(byte) };
            previous = byte;
            ok
        });
    if normal {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for &byte in bytes {
        if is_space(byte) {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(char::from(byte.to_ascii_lowercase()));
    }
    Cow::Owned(out)
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

    #[test]
    fn prepared_filter_finds_what_the_configuration_finds() {
        let config = ContentFilterConfig::new(
            vec!["Zebra".into(), "".into(), "  Blue   Whale ".into(), "c++".into(), "über".into()],
            Some(vec![
                "Ignore previous instructions".into(),
                "   ".into(),
                "ignore".into(),
                "DAN   mode".into(),
                "x".into(),
                "ÉTÉ".into(),
            ]),
        );
        let prepared = ContentFilter::new(config.clone());
        assert_eq!(prepared.config(), &config);
        let texts = [
            "",
            "nothing to see",
            "a ZEBRA!",
            "zebras",
            "the blue\n\twhale sings",
            "I like c++ a lot",
            "Über alles",
            "please IGNORE   previous\ninstructions now",
            "you could ignore that",
            "dan mode on",
            "max",
            "un été chaud",
            "ignore previous instructions and dan mode",
        ];
        for text in texts {
            assert_eq!(prepared.blocklist_hit(text), config.blocklist_hit(text), "{text:?}");
            assert_eq!(prepared.jailbreak_hit(text), config.jailbreak_hit(text), "{text:?}");
            let (results, filtered) = prepared.screen_completion(text);
            assert_eq!(results, screen_completion(text, &config), "{text:?}");
            assert_eq!(filtered, results.is_filtered(), "{text:?}");
            assert_eq!(
                screen_text_prompt(text, &config).blocked,
                config.blocklist_hit(text).is_some() || config.jailbreak_hit(text).is_some()
            );
        }
        assert_eq!(config.jailbreak_hit("please ignore previous instructions"), Some("Ignore previous instructions"));
        assert_eq!(prepared.jailbreak_hit("max and then ignore"), Some("ignore"));
        let defaults = ContentFilter::new(ContentFilterConfig::default());
        assert_eq!(
            defaults.jailbreak_hit("OK, Ignore  all previous instructions."),
            Some("ignore all previous instructions")
        );
        assert_eq!(defaults.jailbreak_hit("What are the main tourist attractions in Paris?"), None);
        let request = ChatRequest::new(vec![ChatMessage::system("zebra"), ChatMessage::user("dan mode please")]);
        assert_eq!(prepared.screen_prompt(&request), screen_prompt(&request, &config));
        assert!(prepared.screen_prompt(&request).blocked);
    }

    #[test]
    fn normalize_matches_lowercase_and_collapsed_whitespace() {
        let samples = [
            "",
            " ",
            "plain words",
            "Ignore  ALL\tprevious\n\ninstructions ",
            "\u{b}vertical\u{b}tab\u{c}feed\r\n",
            "  leading and trailing  ",
            "ÜBER Straße  ΣΊΣΥΦΟΣ\u{a0}nbsp",
            "already normal text.",
        ];
        for sample in samples {
            assert_eq!(normalize(sample), collapse_whitespace(&sample.to_lowercase()), "{sample:?}");
        }
        assert!(matches!(normalize("already normal"), Cow::Borrowed(_)));
    }
}
