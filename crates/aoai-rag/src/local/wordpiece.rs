//! BERT uncased WordPiece tokenisation, as `tokenizer.json` of
//! all-MiniLM-L6-v2 describes it (`BertNormalizer` with `clean_text`,
//! `handle_chinese_chars`, `lowercase` and accents stripped, then
//! `BertPreTokenizer`, then `WordPiece` with `##` continuations and
//! `[CLS] … [SEP]` around the sequence).
//!
//! Unicode general categories (control/format/private-use/unassigned `C*`,
//! punctuation `P*`, non-spacing marks `Mn`) come from `regex`'s Unicode
//! tables, so they match the `tokenizers` crate's exactly.

use std::collections::HashMap;
use std::path::Path;

use regex::Regex;
use unicode_normalization::UnicodeNormalization;

use super::LocalEmbedderError;

/// Words longer than this many characters become `[UNK]` (`max_input_chars_per_word`).
const MAX_CHARS_PER_WORD: usize = 100;

/// A BERT uncased WordPiece tokenizer loaded from a `vocab.txt`.
#[derive(Debug, Clone)]
pub struct WordPiece {
    vocab: HashMap<String, u32>,
    cls: u32,
    sep: u32,
    unk: u32,
    /// Maximum sequence length including `[CLS]` and `[SEP]`.
    max_len: usize,
    other: Regex,
    punctuation: Regex,
    nonspacing_mark: Regex,
}

impl WordPiece {
    /// Loads `vocab.txt` (one token a line, the line number is its id);
    /// sequences are truncated to `max_len` tokens including `[CLS]` and `[SEP]`.
    pub fn from_vocab_file(path: &Path, max_len: usize) -> Result<Self, LocalEmbedderError> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| LocalEmbedderError::bad_file(path, format!("cannot read: {error}")))?;
        Self::from_vocab(&text, max_len).map_err(|reason| LocalEmbedderError::bad_file(path, reason))
    }

    /// Builds the tokenizer from the text of a `vocab.txt`.
    pub fn from_vocab(text: &str, max_len: usize) -> Result<Self, String> {
        let mut vocab = HashMap::new();
        for (id, token) in text.lines().enumerate() {
            let id = u32::try_from(id).map_err(|_| "vocabulary too large".to_owned())?;
            vocab.entry(token.to_owned()).or_insert(id);
        }
        let special = |token: &str| vocab.get(token).copied().ok_or_else(|| format!("no {token} in the vocabulary"));
        let (cls, sep, unk) = (special("[CLS]")?, special("[SEP]")?, special("[UNK]")?);
        if max_len < 2 {
            return Err(format!("maximum sequence length {max_len} leaves no room for [CLS] and [SEP]"));
        }
        let regex = |pattern: &str| Regex::new(pattern).map_err(|error| format!("internal regex {pattern}: {error}"));
        Ok(Self {
            vocab,
            cls,
            sep,
            unk,
            max_len,
            other: regex(r"^\p{C}$")?,
            punctuation: regex(r"^\p{P}$")?,
            nonspacing_mark: regex(r"^\p{Mn}$")?,
        })
    }

    /// Maximum sequence length, `[CLS]` and `[SEP]` included.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// The id of `token`, if it is in the vocabulary.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.vocab.get(token).copied()
    }

    /// Token ids of `text`: `[CLS]`, word pieces (truncated), `[SEP]`.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut ids = vec![self.cls];
        let budget = self.max_len - 2;
        'words: for word in self.pre_tokenize(&self.normalize(text)) {
            for id in self.word_pieces(word) {
                if ids.len() - 1 == budget {
                    break 'words;
                }
                ids.push(id);
            }
        }
        ids.push(self.sep);
        ids
    }

    /// How many tokens `text` is, `[CLS]` and `[SEP]` included, without
    /// truncation: more than [`max_len`](Self::max_len) means
    /// [`encode`](Self::encode) cuts the text off.
    pub fn count(&self, text: &str) -> usize {
        2 + self.pre_tokenize(&self.normalize(text)).into_iter().map(|word| self.word_pieces(word).len()).sum::<usize>()
    }

    fn category(&self, regex: &Regex, c: char) -> bool {
        let mut buffer = [0; 4];
        regex.is_match(c.encode_utf8(&mut buffer))
    }

    fn is_control(&self, c: char) -> bool {
        match c {
            '\t' | '\n' | '\r' => false,
            c if c.is_ascii() => c.is_ascii_control(),
            c => self.category(&self.other, c),
        }
    }

    fn is_punctuation(&self, c: char) -> bool {
        if c.is_ascii() { c.is_ascii_punctuation() } else { self.category(&self.punctuation, c) }
    }

    /// `BertNormalizer`: clean text, space out CJK ideographs, strip accents
    /// (NFD, drop non-spacing marks), lowercase.
    fn normalize(&self, text: &str) -> String {
        let mut cleaned = String::with_capacity(text.len());
        for c in text.chars() {
            if c == '\0' || c == '\u{fffd}' || self.is_control(c) {
                continue;
            }
            if c.is_whitespace() {
                cleaned.push(' ');
            } else if is_chinese_char(c) {
                cleaned.push(' ');
                cleaned.push(c);
                cleaned.push(' ');
            } else {
                cleaned.push(c);
            }
        }
        let mut normalized = String::with_capacity(cleaned.len());
        for c in cleaned.nfd() {
            if c.is_ascii() {
                normalized.push(c.to_ascii_lowercase());
            } else if !self.category(&self.nonspacing_mark, c) {
                normalized.extend(c.to_lowercase());
            }
        }
        normalized
    }

    /// `BertPreTokenizer`: split on whitespace, and isolate each punctuation character.
    fn pre_tokenize<'a>(&self, text: &'a str) -> Vec<&'a str> {
        let mut words = Vec::new();
        let mut start = None;
        for (index, c) in text.char_indices() {
            if c.is_whitespace() || self.is_punctuation(c) {
                if let Some(begin) = start.take() {
                    words.push(&text[begin..index]);
                }
                if !c.is_whitespace() {
                    words.push(&text[index..index + c.len_utf8()]);
                }
            } else if start.is_none() {
                start = Some(index);
            }
        }
        if let Some(begin) = start {
            words.push(&text[begin..]);
        }
        words
    }

    /// Greedy longest-match-first WordPiece; the whole word is `[UNK]` when
    /// it is too long or some part of it matches nothing.
    fn word_pieces(&self, word: &str) -> Vec<u32> {
        if word.chars().count() > MAX_CHARS_PER_WORD {
            return vec![self.unk];
        }
        let mut pieces = Vec::new();
        let mut start = 0;
        let mut candidate = String::new();
        while start < word.len() {
            let mut end = word.len();
            let mut found = None;
            while start < end {
                candidate.clear();
                if start > 0 {
                    candidate.push_str("##");
                }
                candidate.push_str(&word[start..end]);
                if let Some(&id) = self.vocab.get(&candidate) {
                    found = Some(id);
                    break;
                }
                end = previous_boundary(word, end);
            }
            match found {
                Some(id) => pieces.push(id),
                None => return vec![self.unk],
            }
            start = end;
        }
        pieces
    }
}

/// The char boundary before `index` in `word`.
fn previous_boundary(word: &str, index: usize) -> usize {
    let mut previous = index.saturating_sub(1);
    while previous > 0 && !word.is_char_boundary(previous) {
        previous -= 1;
    }
    previous
}

/// CJK Unified Ideographs and their extensions and compatibility blocks, as BERT defines them.
fn is_chinese_char(c: char) -> bool {
    matches!(u32::from(c),
        0x4E00..=0x9FFF
        | 0x3400..=0x4DBF
        | 0x20000..=0x2A6DF
        | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F
        | 0x2B820..=0x2CEAF
        | 0xF900..=0xFAFF
        | 0x2F800..=0x2FA1F)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn tokenizer(max_len: usize) -> WordPiece {
        let vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n,\nworld\n!\nun\n##aff\n##able\ncafe\n中\n";
        WordPiece::from_vocab(vocab, max_len).unwrap()
    }

    #[test]
    fn splits_punctuation_lowercases_and_strips_accents() {
        let t = tokenizer(16);
        assert_eq!(t.encode("Hello, WORLD!"), [2, 4, 5, 6, 7, 3]);
        assert_eq!(t.encode("Café\u{0}\u{200b}"), [2, 11, 3]);
        assert_eq!(t.encode("x中"), [2, 1, 12, 3]);
    }

    #[test]
    fn greedy_longest_match_and_unknown_words() {
        let t = tokenizer(16);
        assert_eq!(t.encode("unaffable"), [2, 8, 9, 10, 3]);
        assert_eq!(t.encode("unaffablex"), [2, 1, 3]);
        assert_eq!(t.encode(&"hello".repeat(21)), [2, 1, 3]);
    }

    #[test]
    fn truncates_including_special_tokens() {
        let t = tokenizer(4);
        assert_eq!(t.encode("hello world hello"), [2, 4, 6, 3]);
        assert_eq!(t.encode(""), [2, 3]);
    }

    #[test]
    fn counts_without_truncating() {
        let t = tokenizer(4);
        assert_eq!(t.count("hello world hello"), 5);
        assert_eq!(t.count("unaffable, world"), 7);
        assert_eq!(t.count(""), 2);
    }
}
