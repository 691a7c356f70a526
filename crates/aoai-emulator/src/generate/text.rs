//! Readable text from a small built-in vocabulary, and keyword extraction
//! from prompts.
//!
//! Sentences follow a few fixed templates filled with plain ASCII words, so
//! every answer reads as English, tokenizes predictably, and never trips a
//! content filter by itself.

use std::borrow::Cow;
use std::sync::OnceLock;

use aoai_core::tokens::{Encoding, Tokenizer};
use fastrand::Rng;

use super::util::{between_usize, pick_str};

const OPENERS: &[&str] = &[
    "Here is a short answer",
    "Here is what I can tell you",
    "Good question",
    "Let me explain briefly",
    "In short",
    "To put it simply",
];

const SUBJECTS: &[&str] = &[
    "The system",
    "Our team",
    "The report",
    "This approach",
    "The model",
    "Each request",
    "The service",
    "A careful review",
    "The data",
    "The new design",
    "The first option",
    "A simple test",
];

const VERBS: &[&str] = &[
    "shows",
    "suggests",
    "confirms",
    "highlights",
    "explains",
    "indicates",
    "supports",
    "describes",
    "reveals",
    "follows",
];

const OBJECTS: &[&str] = &[
    "a clear improvement",
    "steady progress",
    "a simple answer",
    "several useful options",
    "the main trade-offs",
    "a reliable pattern",
    "the expected result",
    "a few open questions",
    "a practical plan",
    "the key details",
    "a small but real gain",
    "the right balance",
];

const TAILS: &[&str] = &[
    "in most cases",
    "over time",
    "for everyday use",
    "with little effort",
    "across the board",
    "at this stage",
    "for now",
    "in practice",
    "under normal load",
    "without surprises",
];

const CLOSERS: &[&str] = &[
    "Let me know if you need more detail.",
    "I hope this helps.",
    "Feel free to ask a follow-up question.",
    "That should cover the essentials.",
];

/// Nouns for short phrases (titles, categories, free-text values).
pub(crate) const NOUNS: &[&str] = &[
    "report", "project", "garden", "river", "market", "library", "signal", "harbor", "meadow", "engine", "canvas",
    "summit", "orchard", "bridge", "lantern", "voyage", "compass", "circuit", "forest", "museum",
];

/// Adjectives for short phrases.
pub(crate) const ADJECTIVES: &[&str] = &[
    "quiet", "bright", "steady", "simple", "careful", "modern", "gentle", "rapid", "clear", "golden", "silver", "open",
    "curious", "patient", "bold",
];

/// Cities for place-like values when the prompt names none.
pub(crate) const CITIES: &[&str] =
    &["Paris", "Lisbon", "Oslo", "Toronto", "Seattle", "Nairobi", "Osaka", "Melbourne", "Dublin", "Prague"];

/// Countries for country-like values.
pub(crate) const COUNTRIES: &[&str] =
    &["France", "Portugal", "Norway", "Canada", "Kenya", "Japan", "Australia", "Ireland", "Chile", "Sweden"];

/// First names for person-like values.
pub(crate) const FIRST_NAMES: &[&str] =
    &["Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances", "Edsger"];

/// Last names for person-like values.
pub(crate) const LAST_NAMES: &[&str] =
    &["Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson", "Allen", "Dijkstra"];

/// Colours for colour-like values.
pub(crate) const COLORS: &[&str] = &["red", "green", "blue", "amber", "teal", "violet", "black", "white"];

/// Words too common to mean anything when matching prompts to tools or
/// texts to each other, sorted for binary search.
const STOPWORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "call",
    "can",
    "could",
    "current",
    "currently",
    "did",
    "do",
    "does",
    "doing",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "function",
    "further",
    "get",
    "gets",
    "give",
    "given",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "him",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "just",
    "know",
    "like",
    "make",
    "me",
    "more",
    "most",
    "my",
    "need",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "out",
    "over",
    "own",
    "please",
    "provided",
    "return",
    "returns",
    "right",
    "same",
    "she",
    "should",
    "so",
    "some",
    "specific",
    "specified",
    "such",
    "tell",
    "than",
    "that",
    "the",
    "their",
    "them",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "today",
    "too",
    "tool",
    "under",
    "until",
    "up",
    "use",
    "used",
    "uses",
    "using",
    "value",
    "values",
    "very",
    "want",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
];

/// The longest stopword, in bytes.
const MAX_STOPWORD_LEN: usize = 9;

/// Where each first letter's stopwords start and end in [`STOPWORDS`].
static STOPWORD_RANGES: OnceLock<[(usize, usize); 26]> = OnceLock::new();

/// Whether `word` (lowercase) is too common to carry meaning.
pub(crate) fn is_stopword(word: &str) -> bool {
    let Some(first) = word.bytes().next().filter(u8::is_ascii_lowercase) else { return false };
    if word.len() > MAX_STOPWORD_LEN {
        return false;
    }
    let ranges = STOPWORD_RANGES.get_or_init(|| {
        std::array::from_fn(|letter| {
            let letter = b'a' + letter as u8;
            let start = STOPWORDS.partition_point(|stop| stop.as_bytes().first().is_some_and(|byte| *byte < letter));
            let end = STOPWORDS.partition_point(|stop| stop.as_bytes().first().is_some_and(|byte| *byte <= letter));
            (start, end)
        })
    });
    let (start, end) = ranges.get(usize::from(first - b'a')).copied().unwrap_or_default();
    STOPWORDS.get(start..end).is_some_and(|candidates| candidates.binary_search(&word).is_ok())
}

/// Whether `word`, lowercased, is a stopword; ASCII words are lowercased
/// without allocating.
fn is_stopword_any_case(word: &str) -> bool {
    if !word.is_ascii() {
        return is_stopword(&word.to_lowercase());
    }
    if word.len() > MAX_STOPWORD_LEN {
        return false;
    }
    let mut buffer = [0_u8; MAX_STOPWORD_LEN];
    let Some(lower) = buffer.get_mut(..word.len()) else { return false };
    lower.copy_from_slice(word.as_bytes());
    lower.make_ascii_lowercase();
    std::str::from_utf8(lower).is_ok_and(is_stopword)
}

/// The words of `text`: maximal runs of letters and digits.
pub(crate) fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|word| !word.is_empty())
}

/// The meaningful words of `text`, lowercase, without duplicates, in order of
/// appearance: at least 3 characters and not a stopword.
pub(crate) fn keywords(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in words(text) {
        let lower: Cow<'_, str> = if word.is_ascii() {
            // ASCII lowercasing keeps the length: short words need no copy.
            if word.len() < 3 {
                continue;
            }
            if word.bytes().any(|byte| byte.is_ascii_uppercase()) {
                Cow::Owned(word.to_ascii_lowercase())
            } else {
                Cow::Borrowed(word)
            }
        } else {
            let lower = word.to_lowercase();
            if lower.chars().count() < 3 {
                continue;
            }
            Cow::Owned(lower)
        };
        if is_stopword(&lower) || out.iter().any(|known| *known == *lower) {
            continue;
        }
        out.push(lower.into_owned());
    }
    out
}

/// Capitalised words of `text` that don't start a sentence: likely names of
/// places, people or products ("Paris", "Contoso").
pub(crate) fn proper_nouns(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut sentence_start = true;
    let mut start: Option<usize> = None;
    for (position, c) in text.char_indices() {
        if c.is_alphanumeric() {
            start.get_or_insert(position);
            continue;
        }
        if let Some(begin) = start.take() {
            proper_noun(text.get(begin..position).unwrap_or_default(), sentence_start, &mut out);
            sentence_start = false;
        }
        if matches!(c, '.' | '!' | '?' | '\n') {
            sentence_start = true;
        }
    }
    if let Some(begin) = start {
        proper_noun(text.get(begin..).unwrap_or_default(), sentence_start, &mut out);
    }
    out
}

/// Adds `word` to `out` when it is capitalised, longer than one character,
/// not at a sentence start, not a stopword, and new.
fn proper_noun(word: &str, sentence_start: bool, out: &mut Vec<String>) {
    let mut chars = word.chars();
    let is_proper = !sentence_start
        && chars.next().is_some_and(char::is_uppercase)
        && chars.next().is_some()
        && !is_stopword_any_case(word);
    if is_proper && !out.iter().any(|known| known == word) {
        out.push(word.to_owned());
    }
}

/// One sentence from the templates, ending with a period.
pub(crate) fn sentence(rng: &mut Rng) -> String {
    format!("{} {} {} {}.", pick_str(rng, SUBJECTS), pick_str(rng, VERBS), pick_str(rng, OBJECTS), pick_str(rng, TAILS))
}

/// A short phrase of `words` words (adjectives then a noun).
pub(crate) fn phrase(rng: &mut Rng, words: usize) -> String {
    let mut parts: Vec<&str> = (1..words.max(1)).map(|_| pick_str(rng, ADJECTIVES)).collect();
    parts.push(pick_str(rng, NOUNS));
    parts.join(" ")
}

/// An answer of about `20..=60` tokens: an opener that names the prompt's
/// topic when it has one, template sentences, and sometimes a closing line;
/// with its exact token count.
///
/// The count is summed from cached counts of the fragments: every fragment
/// boundary is a space before a letter or a period after a word, where the
/// tokenizer's pre-tokenizer splits anyway, so the sum equals counting the
/// whole text (a unit test checks it for both encodings).
pub(crate) fn answer(rng: &mut Rng, tokenizer: &Tokenizer, topic: &[String]) -> (String, usize) {
    let counts = FragmentCounts::get(tokenizer);
    let target = between_usize(rng, 20, 60);
    let opener = index_of(rng, OPENERS.len());
    // Room for the longest answer: 60 tokens of short English words.
    let mut text = String::with_capacity(400);
    text.push_str(OPENERS.get(opener).copied().unwrap_or_default());
    let mut tokens = counts.openers.get(opener).copied().unwrap_or_default();
    for (position, word) in topic.iter().take(2).enumerate() {
        let (joiner, joiner_tokens) = if position == 0 { (" about", counts.about) } else { (" and", counts.and) };
        text.push_str(joiner);
        let start = text.len();
        text.push(' ');
        text.push_str(word);
        tokens += joiner_tokens + tokenizer.count(text.get(start..).unwrap_or_default());
    }
    text.push('.');
    tokens += counts.period;
    while tokens < target {
        let parts =
            [(SUBJECTS, &counts.subjects), (VERBS, &counts.verbs), (OBJECTS, &counts.objects), (TAILS, &counts.tails)];
        for (words, word_counts) in parts {
            let position = index_of(rng, words.len());
            text.push(' ');
            text.push_str(words.get(position).copied().unwrap_or_default());
            tokens += word_counts.get(position).copied().unwrap_or_default();
        }
        text.push('.');
        tokens += counts.period;
    }
    if rng.u8(..4) == 0 {
        let position = index_of(rng, CLOSERS.len());
        text.push(' ');
        text.push_str(CLOSERS.get(position).copied().unwrap_or_default());
        tokens += counts.closers.get(position).copied().unwrap_or_default();
    }
    (text, tokens)
}

fn index_of(rng: &mut Rng, len: usize) -> usize {
    if len == 0 { 0 } else { rng.usize(..len) }
}

/// Token counts of the vocabulary's fragments for one encoding: openers
/// as they start a text, every other fragment after a space.
#[derive(Debug, Clone)]
struct FragmentCounts {
    openers: Vec<usize>,
    subjects: Vec<usize>,
    verbs: Vec<usize>,
    objects: Vec<usize>,
    tails: Vec<usize>,
    closers: Vec<usize>,
    about: usize,
    and: usize,
    period: usize,
}

static CL100K_COUNTS: OnceLock<FragmentCounts> = OnceLock::new();
static O200K_COUNTS: OnceLock<FragmentCounts> = OnceLock::new();

impl FragmentCounts {
    fn get(tokenizer: &Tokenizer) -> Cow<'static, FragmentCounts> {
        let cell = match tokenizer.encoding() {
            Encoding::Cl100kBase => &CL100K_COUNTS,
            Encoding::O200kBase => &O200K_COUNTS,
            _ => return Cow::Owned(FragmentCounts::new(tokenizer)),
        };
        Cow::Borrowed(cell.get_or_init(|| FragmentCounts::new(tokenizer)))
    }

    fn new(tokenizer: &Tokenizer) -> FragmentCounts {
        let spaced = |words: &[&str]| words.iter().map(|word| tokenizer.count(&format!(" {word}"))).collect();
        FragmentCounts {
            openers: OPENERS.iter().map(|opener| tokenizer.count(opener)).collect(),
            subjects: spaced(SUBJECTS),
            verbs: spaced(VERBS),
            objects: spaced(OBJECTS),
            tails: spaced(TAILS),
            closers: spaced(CLOSERS),
            about: tokenizer.count(" about"),
            and: tokenizer.count(" and"),
            period: tokenizer.count("."),
        }
    }
}

/// One or two closing sentences after quoting tool results.
pub(crate) fn summary(rng: &mut Rng) -> String {
    format!("{} {}", sentence(rng), pick_str(rng, CLOSERS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopwords_are_sorted() {
        assert!(STOPWORDS.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(is_stopword("the") && is_stopword("your") && !is_stopword("weather"));
    }

    #[test]
    fn keywords_skip_stopwords_and_duplicates() {
        assert_eq!(keywords("What is the weather in Paris? The weather!"), vec!["weather", "paris"]);
    }

    #[test]
    fn stopwords_by_first_letter_match_the_list() {
        for word in STOPWORDS {
            assert!(is_stopword(word), "{word}");
            assert!(is_stopword_any_case(&word.to_uppercase()), "{word}");
        }
        for word in ["", "zebra", "abouts", "Ab", "é", "weather", "currentlyx", "\u{212a}now"] {
            assert_eq!(is_stopword(word), STOPWORDS.binary_search(&word).is_ok(), "{word}");
        }
        // The Kelvin sign lowercases to an ASCII `k`.
        assert!(is_stopword_any_case("\u{212a}now"));
    }

    #[test]
    fn keywords_and_proper_nouns_handle_unicode_and_edges() {
        assert_eq!(keywords("Über ÉCOLE ab AB élan"), vec!["über", "école", "élan"]);
        assert_eq!(keywords("THE Weather weather"), vec!["weather"]);
        assert_eq!(proper_nouns("Visit Zürich and Zürich, then Ōsaka. Paris"), vec!["Zürich", "Ōsaka"]);
        assert_eq!(proper_nouns("hello A Bc The X"), vec!["Bc"]);
        assert!(proper_nouns("").is_empty());
    }

    #[test]
    fn proper_nouns_skip_sentence_starts() {
        assert_eq!(proper_nouns("What is the weather in Paris? Tell me about Oslo."), vec!["Paris", "Oslo"]);
    }

    #[test]
    fn answers_have_the_advertised_length_and_exact_counts() {
        for model in ["gpt-4o", "gpt-4"] {
            let tokenizer = Tokenizer::for_model(model);
            for seed in 0..300 {
                let topic: Vec<String> = match seed % 3 {
                    0 => vec![],
                    1 => vec!["Lisbon".to_owned()],
                    _ => vec!["harbor42".to_owned(), "日本".to_owned()],
                };
                let (text, tokens) = answer(&mut Rng::with_seed(seed), &tokenizer, &topic);
                assert_eq!(tokens, tokenizer.count(&text), "{model}: {text}");
                assert!((10..=90).contains(&tokens), "{tokens} tokens: {text}");
                assert!(text.ends_with('.'));
            }
        }
    }
}
