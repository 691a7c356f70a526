//! A local blocklist: many terms, one pass over the text.
//!
//! Terms and text are both normalised the same way — Unicode NFKC, then case
//! folding (lowercase, plus `ß`→`ss` and final sigma) — so `ＺＥＢＲＡ`,
//! `Zebra` and `zebra` are one term, and so are `café` written with a
//! precomposed `é` or with `e` and a combining accent. An Aho–Corasick
//! automaton built once finds every term in one scan, and each match's
//! offsets are mapped back to the original text (always on `char`
//! boundaries). With [`BlocklistBuilder::whole_words`] (the default) a term
//! matches only between word boundaries, where a word character is a Unicode
//! letter or digit, `_`, or a combining mark; a term that begins or ends with
//! punctuation (`c++`) needs no boundary on that side.
//!
//! ASCII text skips normalisation entirely (NFKC leaves it unchanged), so the
//! common case costs one lowercase copy and the scan.
//!
//! ```
//! use aoai_safety::blocklist::Blocklist;
//!
//! let blocklist = Blocklist::builder().terms(["zebra", "Project Falcon"]).build()?;
//! let text = "Tell me about ＰＲＯＪＥＣＴ falcon and the zebras.";
//! let found = blocklist.find_all(text);
//! assert_eq!(found.len(), 1); // "zebras" is another word
//! assert_eq!(blocklist.term(found[0].term_index), Some("Project Falcon"));
//! assert_eq!(&text[found[0].range.clone()], "ＰＲＯＪＥＣＴ falcon");
//! # Ok::<(), aoai_safety::GuardError>(())
//! ```

use std::ops::Range;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::canonical_combining_class;

use crate::error::GuardError;
use crate::guard::{Reason, Source, TextCheck, Verdict};

/// A term found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlocklistMatch {
    /// Which term, as an index into the terms given to the builder.
    pub term_index: usize,
    /// Where, in bytes of the original text.
    pub range: Range<usize>,
}

/// Builds a [`Blocklist`].
#[derive(Debug, Clone)]
#[must_use]
pub struct BlocklistBuilder {
    name: String,
    terms: Vec<String>,
    whole_words: bool,
}

impl BlocklistBuilder {
    /// The name used in reasons (default `blocklist`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Adds terms.
    pub fn terms(mut self, terms: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.terms.extend(terms.into_iter().map(Into::into));
        self
    }

    /// Adds one term.
    pub fn term(mut self, term: impl Into<String>) -> Self {
        self.terms.push(term.into());
        self
    }

    /// Whether terms match only as whole words (default `true`).
    pub fn whole_words(mut self, whole_words: bool) -> Self {
        self.whole_words = whole_words;
        self
    }

    /// Normalises the terms and builds the automaton.
    ///
    /// # Errors
    ///
    /// [`GuardError::Config`] for a term that is empty after normalisation,
    /// or an automaton too large to build.
    pub fn build(self) -> Result<Blocklist, GuardError> {
        let mut normalized = Vec::with_capacity(self.terms.len());
        let mut max_chars = 0;
        for term in &self.terms {
            let folded = normalize(term).text;
            if folded.trim().is_empty() {
                return Err(GuardError::Config(format!("blocklist term {term:?} is empty")));
            }
            max_chars = max_chars.max(term.chars().count()).max(folded.chars().count());
            normalized.push(folded);
        }
        let edges = normalized
            .iter()
            .map(|term| {
                let first = term.chars().next().is_some_and(is_word_char);
                let last = term.chars().next_back().is_some_and(is_word_char);
                (first, last)
            })
            .collect();
        // A DFA scans fastest; past a few thousand terms its tables grow
        // large, and the contiguous NFA is nearly as fast with far less memory.
        let kind = if normalized.len() <= 2_000 { AhoCorasickKind::DFA } else { AhoCorasickKind::ContiguousNFA };
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .kind(Some(kind))
            .build(&normalized)
            .map_err(|error| GuardError::Config(format!("cannot build the blocklist: {error}")))?;
        Ok(Blocklist { name: self.name, terms: self.terms, edges, whole_words: self.whole_words, automaton, max_chars })
    }
}

/// A set of terms scanned in one pass. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Blocklist {
    name: String,
    terms: Vec<String>,
    /// Per term: whether its first and last characters are word characters.
    edges: Vec<(bool, bool)>,
    whole_words: bool,
    automaton: AhoCorasick,
    max_chars: usize,
}

impl Blocklist {
    /// A builder: no terms, whole words, named `blocklist`.
    pub fn builder() -> BlocklistBuilder {
        BlocklistBuilder { name: "blocklist".to_owned(), terms: Vec::new(), whole_words: true }
    }

    /// A whole-word blocklist of `terms`.
    ///
    /// # Errors
    ///
    /// See [`BlocklistBuilder::build`].
    pub fn new(terms: impl IntoIterator<Item = impl Into<String>>) -> Result<Self, GuardError> {
        Self::builder().terms(terms).build()
    }

    /// The term at `index`, as given.
    #[must_use]
    pub fn term(&self, index: usize) -> Option<&str> {
        self.terms.get(index).map(String::as_str)
    }

    /// How many terms.
    #[must_use]
    pub fn len(&self) -> usize {
        self.terms.len()
    }

    /// Whether there are no terms.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Whether any term occurs in `text`.
    #[must_use]
    pub fn is_match(&self, text: &str) -> bool {
        let normalized = normalize(text);
        self.automaton
            .find_overlapping_iter(normalized.text.as_str())
            .any(|found| self.accepts(&normalized.text, found.pattern().as_usize(), found.start(), found.end()))
    }

    /// Every occurrence of every term, in order of where it ends.
    #[must_use]
    pub fn find_all(&self, text: &str) -> Vec<BlocklistMatch> {
        self.find_ending_after(text, 0)
    }

    /// Every occurrence that ends after byte `from` of `text`.
    #[must_use]
    pub fn find_ending_after(&self, text: &str, from: usize) -> Vec<BlocklistMatch> {
        let normalized = normalize(text);
        let mut out = Vec::new();
        for found in self.automaton.find_overlapping_iter(normalized.text.as_str()) {
            let term_index = found.pattern().as_usize();
            if !self.accepts(&normalized.text, term_index, found.start(), found.end()) {
                continue;
            }
            let range = normalized.original_range(found.start(), found.end());
            if range.end > from {
                out.push(BlocklistMatch { term_index, range });
            }
        }
        out
    }

    fn accepts(&self, text: &str, term_index: usize, start: usize, end: usize) -> bool {
        if !self.whole_words {
            return true;
        }
        let (first_is_word, last_is_word) = self.edges.get(term_index).copied().unwrap_or((true, true));
        let before_ok = !first_is_word || !text[..start].chars().next_back().is_some_and(is_word_char);
        let after_ok = !last_is_word || !text[end..].chars().next().is_some_and(is_word_char);
        before_ok && after_ok
    }
}

impl TextCheck for Blocklist {
    fn name(&self) -> &str {
        &self.name
    }

    fn check_text(&self, text: &str, report_from: usize) -> Verdict<String> {
        let found = self.find_ending_after(text, report_from);
        if found.is_empty() {
            return Verdict::Allow;
        }
        let reasons = found
            .into_iter()
            .map(|found| {
                let reason = Reason::new(Source::Local(self.name.clone()), "blocklist").range(found.range);
                match self.term(found.term_index) {
                    Some(term) => reason.detail(term),
                    None => reason,
                }
            })
            .collect();
        Verdict::Block(reasons)
    }

    fn lookbehind(&self) -> usize {
        // A term's original spelling can be longer than its normal form
        // (combining marks, compatibility characters): leave room.
        self.max_chars.saturating_mul(4).saturating_add(8)
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || canonical_combining_class(c) != 0
}

/// Normalised text and the way back to the original's offsets.
#[derive(Debug)]
pub(crate) struct Normalized {
    pub(crate) text: String,
    /// `(normalised start, original start, original end)` of each segment;
    /// empty when the text was ASCII (offsets are the same).
    segments: Vec<(usize, usize, usize)>,
}

impl Normalized {
    /// The original byte range behind normalised bytes `start..end`.
    fn original_range(&self, start: usize, end: usize) -> Range<usize> {
        if self.segments.is_empty() {
            return start..end;
        }
        let segment_of = |offset: usize| self.segments.partition_point(|segment| segment.0 <= offset).saturating_sub(1);
        let first = self.segments.get(segment_of(start)).map_or(0, |segment| segment.1);
        let last = self.segments.get(segment_of(end.saturating_sub(1).max(start))).map_or(first, |segment| segment.2);
        first..last.max(first)
    }
}

/// NFKC, then case folding, per segment (a starter and the combining marks
/// after it), remembering where each segment came from.
pub(crate) fn normalize(text: &str) -> Normalized {
    if text.is_ascii() {
        return Normalized { text: text.to_ascii_lowercase(), segments: Vec::new() };
    }
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut segments = Vec::new();
    let mut iter = text.char_indices().peekable();
    while let Some((start, c)) = iter.next() {
        let mut end = start + c.len_utf8();
        while let Some(&(next_start, next)) = iter.peek() {
            if canonical_combining_class(next) == 0 {
                break;
            }
            end = next_start + next.len_utf8();
            iter.next();
        }
        let segment = &text[start..end];
        segments.push((out.len(), start, end));
        if c.is_ascii() && segment.len() == 1 {
            out.push(c.to_ascii_lowercase());
            continue;
        }
        for normalized in segment.nfkc() {
            fold_into(normalized, &mut out);
        }
    }
    Normalized { text: out, segments }
}

fn fold_into(c: char, out: &mut String) {
    match c {
        'ß' | 'ẞ' => out.push_str("ss"),
        'ς' => out.push('σ'),
        _ => out.extend(c.to_lowercase()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(blocklist: &Blocklist, text: &str) -> Vec<String> {
        blocklist.find_all(text).into_iter().map(|found| text[found.range].to_owned()).collect()
    }

    #[test]
    fn case_width_and_accents_fold() {
        let blocklist = Blocklist::new(["zebra", "café", "straße"]).unwrap();
        assert_eq!(spans(&blocklist, "A ZEBRA, a Ｚｅｂｒａ."), vec!["ZEBRA", "Ｚｅｂｒａ"]);
        assert_eq!(spans(&blocklist, "un cafe\u{301} noir, un CAFÉ"), vec!["cafe\u{301}", "CAFÉ"]);
        assert_eq!(spans(&blocklist, "die STRASSE"), vec!["STRASSE"]);
    }

    #[test]
    fn whole_words_are_unicode_aware() {
        let blocklist = Blocklist::new(["zebra", "c++"]).unwrap();
        assert_eq!(spans(&blocklist, "zebras zebra_x ézebra zebra! (zebra)"), vec!["zebra", "zebra"]);
        assert_eq!(spans(&blocklist, "I like c++."), vec!["c++"]);
        let anywhere = Blocklist::builder().term("zebra").whole_words(false).build().unwrap();
        assert_eq!(spans(&anywhere, "zebras"), vec!["zebra"]);
    }

    #[test]
    fn overlapping_terms_are_all_found() {
        let blocklist = Blocklist::new(["new york", "york city", "york"]).unwrap();
        let found = spans(&blocklist, "in New York City");
        assert!(found.contains(&"New York".to_owned()) && found.contains(&"York City".to_owned()), "{found:?}");
    }

    #[test]
    fn empty_terms_are_refused() {
        assert!(matches!(Blocklist::new([" "]), Err(GuardError::Config(_))));
    }

    #[test]
    fn report_from_skips_earlier_matches() {
        let blocklist = Blocklist::new(["zebra"]).unwrap();
        let text = "zebra and zebra";
        assert_eq!(blocklist.find_ending_after(text, 5).len(), 1);
        assert_eq!(blocklist.find_ending_after(text, 4).len(), 2);
    }
}
