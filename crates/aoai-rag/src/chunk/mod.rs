//! Splitting documents into token-bounded chunks that point back into the source.
//!
//! A [`Chunker`] turns one [`Document`] into [`Chunk`]s. [`TokenChunker`], the
//! default, counts with aoai-core's [`Tokenizer`] and never returns a chunk
//! over its budget. It cuts first at headings (each Markdown or HTML heading
//! starts a section, and a chunk never spans two sections), then at paragraph
//! breaks, then at sentence ends, line breaks and spaces, and only as a last
//! resort in the middle of a word (always on a character boundary).
//! Consecutive chunks of a section overlap by up to
//! [`overlap_tokens`](ChunkerConfig::overlap_tokens), starting at a word.
//!
//! The budget is counted in aoai-core's tokens (`cl100k_base` by default),
//! but an embedder reads its own: all-MiniLM-L6-v2 reads 256 WordPiece
//! tokens and drops the rest, and a text of 256 `cl100k_base` tokens may be
//! more word-pieces than that. [`TokenChunker::fit_to`] adds the embedder's
//! own bound: a chunk its [`count_input_tokens`](crate::Embedder::count_input_tokens)
//! puts over its [`max_input_tokens`](crate::Embedder::max_input_tokens) is
//! cut shorter (at the best break before the point that fits), so every
//! chunk is embedded whole. [`ChunkerConfig::for_embedder`] picks the
//! default size for an embedder: 512 tokens, or its maximum input when that
//! is smaller.
//!
//! Every chunk keeps where it came from: the document's source path, its
//! title, the path of headings above it, and the byte range
//! [`start..end`](Chunk::start) in the original document, so a citation can
//! point back.
//!
//! What the text of a chunk is, by [`Format`]:
//!
//! - [`Format::Text`] and [`Format::Markdown`]: exactly
//!   `&document.text[chunk.start..chunk.end]`, no normalisation at all
//!   (Markdown markup stays in the chunk; headings give the title and the
//!   heading path).
//! - [`Format::Html`]: the visible text. Tags, comments, `<script>` and
//!   `<style>` are removed, block elements (`p`, `div`, `li`, headings, `br`,
//!   table rows, …) become paragraph or line breaks, runs of whitespace
//!   outside `<pre>` become one space, and the common entities (`&amp;`,
//!   `&lt;`, `&gt;`, `&quot;`, `&#39;`, `&apos;`, `&nbsp;`, numeric) are
//!   decoded. `start..end` is the range of the HTML the chunk's text was
//!   read from. The `<title>` (or else the first `<h1>`) is the title.
//!
//! ```
//! use aoai_rag::chunk::{Chunker, ChunkerConfig, Document, Format, TokenChunker};
//!
//! let text = "# Guide\n\nIntro paragraph.\n\n## Install\n\nRun the installer.\n";
//! let document = Document::new("docs/guide.md", text, Format::Markdown);
//! let chunker = TokenChunker::new(ChunkerConfig::default())?;
//! let chunks = chunker.chunk(&document);
//! assert_eq!(chunks.len(), 2);
//! assert_eq!(chunks[1].title.as_deref(), Some("Guide"));
//! assert_eq!(chunks[1].headings, ["Guide", "Install"]);
//! assert_eq!(&text[chunks[1].start..chunks[1].end], chunks[1].text);
//! # Ok::<(), aoai_rag::Error>(())
//! ```

mod html;
mod markdown;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use aoai_core::tokens::{Encoding, Tokenizer};
use serde::{Deserialize, Serialize};

use crate::embed::Embedder;
use crate::error::{ConfigError, Error, Result};

/// How a document's text is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Format {
    /// Plain text: paragraphs separated by blank lines.
    Text,
    /// Markdown: ATX headings (`#` … `######`) outside fenced code start sections.
    Markdown,
    /// HTML: the visible text is chunked; see the [module docs](self).
    Html,
}

impl Format {
    /// The format a file name suggests: `.md`/`.markdown` Markdown,
    /// `.html`/`.htm` HTML, anything else text.
    #[must_use]
    pub fn from_path(path: &str) -> Self {
        let lower = path.to_ascii_lowercase();
        if lower.ends_with(".md") || lower.ends_with(".markdown") {
            Self::Markdown
        } else if lower.ends_with(".html") || lower.ends_with(".htm") {
            Self::Html
        } else {
            Self::Text
        }
    }
}

/// A document to chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// Where it came from (a path or URL); also its id in an index.
    pub source: String,
    /// The whole text, as stored.
    pub text: String,
    /// How the text is written.
    pub format: Format,
    /// A title to use when the text has none of its own.
    pub title: Option<String>,
    /// Metadata copied to every chunk (`lang=en`, `team=search`), for filters.
    pub tags: BTreeMap<String, String>,
}

impl Document {
    /// A document with no title and no tags.
    #[must_use]
    pub fn new(source: impl Into<String>, text: impl Into<String>, format: Format) -> Self {
        Self { source: source.into(), text: text.into(), format, title: None, tags: BTreeMap::new() }
    }

    /// Sets the fallback title.
    #[must_use]
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Adds a tag.
    #[must_use]
    pub fn with_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }
}

/// A piece of a document, small enough to embed and to quote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// `{source}#{index}`: unique within an index.
    pub id: String,
    /// The document's source.
    pub source: String,
    /// The chunk's position in its document, from 0.
    pub index: usize,
    /// The document's title.
    pub title: Option<String>,
    /// The headings above the chunk, outermost first (the section it is in is last).
    pub headings: Vec<String>,
    /// The text (see the [module docs](self) for HTML).
    pub text: String,
    /// Byte offset of the chunk's first byte in the original document.
    pub start: usize,
    /// Byte offset just past the chunk's last byte in the original document.
    pub end: usize,
    /// Tokens in `text`.
    pub tokens: usize,
    /// The document's tags.
    pub tags: BTreeMap<String, String>,
}

/// Splits documents into chunks.
pub trait Chunker: Send + Sync {
    /// The chunks of `document`, in document order; none for a document of
    /// only whitespace.
    fn chunk(&self, document: &Document) -> Vec<Chunk>;
}

/// [`TokenChunker`]'s settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkerConfig {
    /// The most tokens in one chunk (at least 16). Default 512.
    pub max_tokens: usize,
    /// Tokens repeated from the end of a chunk at the start of the next one in
    /// the same section (less than half of `max_tokens`). Default 64.
    pub overlap_tokens: usize,
    /// The encoding to count with; match the embedding model's
    /// (`text-embedding-3-*` and `ada-002` use `cl100k_base`). Default `cl100k_base`.
    pub encoding: Encoding,
}

/// The default `max_tokens`.
pub const DEFAULT_MAX_TOKENS: usize = 512;
/// The default `overlap_tokens`.
pub const DEFAULT_OVERLAP_TOKENS: usize = 64;

impl Default for ChunkerConfig {
    fn default() -> Self {
        Self { max_tokens: DEFAULT_MAX_TOKENS, overlap_tokens: DEFAULT_OVERLAP_TOKENS, encoding: Encoding::Cl100kBase }
    }
}

impl ChunkerConfig {
    /// The default settings for chunks that `embedder` embeds: `max_tokens`
    /// is 512, or the embedder's [`max_input_tokens`](Embedder::max_input_tokens)
    /// when that is smaller (256 for all-MiniLM-L6-v2; at least 16), and the
    /// overlap stays below half of it. Pair it with [`TokenChunker::fit_to`]:
    /// the embedder's tokens and the chunker's do not count alike.
    #[must_use]
    pub fn for_embedder<E: Embedder + ?Sized>(embedder: &E) -> Self {
        let max_tokens = embedder
            .max_input_tokens()
            .map_or(DEFAULT_MAX_TOKENS, |limit| limit.min(DEFAULT_MAX_TOKENS))
            .max(MIN_MAX_TOKENS);
        Self { max_tokens, overlap_tokens: DEFAULT_OVERLAP_TOKENS.min((max_tokens - 1) / 2), ..Self::default() }
    }
}

/// A second bound on every chunk, in someone else's tokens (an embedder's):
/// at most `max` as `count` counts them.
#[derive(Clone)]
pub struct InputLimit {
    max: usize,
    count: Arc<dyn Fn(&str) -> usize + Send + Sync>,
}

impl fmt::Debug for InputLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InputLimit").field("max", &self.max).finish_non_exhaustive()
    }
}

impl InputLimit {
    /// At most `max` tokens as `count` counts them.
    pub fn new(max: usize, count: impl Fn(&str) -> usize + Send + Sync + 'static) -> Self {
        Self { max, count: Arc::new(count) }
    }

    /// The bound `embedder` reads: its [`max_input_tokens`](Embedder::max_input_tokens)
    /// counted by its [`count_input_tokens`](Embedder::count_input_tokens);
    /// `None` when it does not say both.
    pub fn of<E: Embedder + 'static>(embedder: E) -> Option<Self> {
        let max = embedder.max_input_tokens()?;
        embedder.count_input_tokens("")?;
        Some(Self::new(max, move |text| embedder.count_input_tokens(text).unwrap_or(0)))
    }

    /// The most tokens.
    #[must_use]
    pub fn max(&self) -> usize {
        self.max
    }

    /// How many tokens `text` is.
    #[must_use]
    pub fn count(&self, text: &str) -> usize {
        (self.count)(text)
    }
}

/// The smallest accepted `max_tokens`: one character is at most four tokens,
/// so a budget this size always makes progress.
const MIN_MAX_TOKENS: usize = 16;

/// The default [`Chunker`]: token-bounded, structure-aware, overlapping.
#[derive(Debug, Clone)]
pub struct TokenChunker {
    config: ChunkerConfig,
    tokenizer: Tokenizer,
    input_limit: Option<InputLimit>,
}

impl TokenChunker {
    /// A chunker with these settings.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] if `max_tokens` is below 16 or `overlap_tokens` is
    /// not below half of it.
    pub fn new(config: ChunkerConfig) -> Result<Self> {
        if config.max_tokens < MIN_MAX_TOKENS {
            return Err(Error::Config(ConfigError::new(format!(
                "max_tokens is {}, it must be at least {MIN_MAX_TOKENS}",
                config.max_tokens
            ))));
        }
        if config.overlap_tokens * 2 >= config.max_tokens {
            return Err(Error::Config(ConfigError::new(format!(
                "overlap_tokens ({}) must be less than half of max_tokens ({})",
                config.overlap_tokens, config.max_tokens
            ))));
        }
        Ok(Self { config, tokenizer: Tokenizer::new(config.encoding), input_limit: None })
    }

    /// Also keeps every chunk within what `embedder` reads, counted with its
    /// own tokenizer (see the [module docs](self)); unchanged when the
    /// embedder does not say its limit or cannot count.
    #[must_use]
    pub fn fit_to<E: Embedder + 'static>(self, embedder: E) -> Self {
        match InputLimit::of(embedder) {
            Some(limit) => self.input_limit(limit),
            None => self,
        }
    }

    /// Also keeps every chunk within `limit`.
    #[must_use]
    pub fn input_limit(mut self, limit: InputLimit) -> Self {
        self.input_limit = Some(limit);
        self
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> ChunkerConfig {
        self.config
    }

    /// The second bound, if any ([`fit_to`](Self::fit_to)).
    #[must_use]
    pub fn limit(&self) -> Option<&InputLimit> {
        self.input_limit.as_ref()
    }
}

impl Chunker for TokenChunker {
    fn chunk(&self, document: &Document) -> Vec<Chunk> {
        let prepared = match document.format {
            Format::Text => Prepared::plain(&document.text),
            Format::Markdown => markdown::prepare(&document.text),
            Format::Html => html::prepare(&document.text),
        };
        let title = prepared.title.clone().or_else(|| document.title.clone());
        let mut chunks = Vec::new();
        for section in prepared.sections() {
            for range in self.split_section(&prepared.text, section.start, section.end) {
                let text = prepared.text.get(range.0..range.1).unwrap_or_default().to_owned();
                let (start, end) = prepared.original_range(range.0, range.1);
                let index = chunks.len();
                chunks.push(Chunk {
                    id: format!("{}#{index}", document.source),
                    source: document.source.clone(),
                    index,
                    title: title.clone(),
                    headings: section.headings.clone(),
                    tokens: self.tokenizer.count(&text),
                    text,
                    start,
                    end,
                    tags: document.tags.clone(),
                });
            }
        }
        chunks
    }
}

impl TokenChunker {
    /// Byte ranges of `text[start..end]`, each within budget, trimmed of
    /// surrounding whitespace, together covering every non-whitespace byte.
    fn split_section(&self, text: &str, start: usize, end: usize) -> Vec<(usize, usize)> {
        let max = self.config.max_tokens;
        let mut ranges = Vec::new();
        let mut begin = skip_whitespace(text, start, end);
        let mut previous_end = begin;
        while begin < end {
            let rest = text.get(begin..end).unwrap_or_default();
            let window_end = begin + self.tokenizer.truncate(rest, max).len();
            let mut cut = if window_end >= end { end } else { choose_cut(text, begin, previous_end, window_end) };
            let mut chunk_end = trim_end(text, begin, cut);
            // Counting a slice again can differ from the prefix the
            // tokenizer measured; shrink until it fits.
            while chunk_end > begin
                && self.tokenizer.count_up_to(text.get(begin..chunk_end).unwrap_or_default(), max).is_none()
            {
                let slice = text.get(begin..chunk_end).unwrap_or_default();
                let shorter = begin + self.tokenizer.truncate(slice, max).len();
                chunk_end = trim_end(text, begin, if shorter < chunk_end { shorter } else { chunk_end - 1 });
                chunk_end = floor_boundary(text, chunk_end);
            }
            if chunk_end <= begin {
                // Cannot happen with a budget of 16 tokens (a character is at
                // most 4); take one character rather than loop.
                chunk_end = next_boundary(text, begin);
            }
            if let Some(limit) = &self.input_limit {
                let fitted = fit_input(text, begin, previous_end, chunk_end, limit);
                if fitted < chunk_end {
                    // The rest of the window is the next chunk's.
                    chunk_end = fitted;
                    cut = fitted;
                }
            }
            if begin < previous_end && chunk_end <= previous_end {
                // The overlap left no room for new text: start after the
                // previous chunk instead.
                begin = skip_whitespace(text, previous_end, end);
                continue;
            }
            ranges.push((begin, chunk_end));
            if skip_whitespace(text, chunk_end, end) >= end {
                break;
            }
            let next = self.overlap_start(text, begin, chunk_end).unwrap_or(cut.max(chunk_end));
            previous_end = chunk_end;
            begin = skip_whitespace(text, next, end);
        }
        ranges
    }

    /// Where the next chunk starts so that it repeats up to
    /// `overlap_tokens` of `text[begin..end]`, at a word; `None` for no overlap.
    fn overlap_start(&self, text: &str, begin: usize, end: usize) -> Option<usize> {
        if self.config.overlap_tokens == 0 {
            return None;
        }
        let slice = text.get(begin..end)?;
        let suffix = self.tokenizer.truncate_end(slice, self.config.overlap_tokens);
        let mut position = end - suffix.len();
        // Start at a word: move forward past a partial word.
        if position > begin && !is_whitespace_before(text, position) {
            let after = text.get(position..end)?;
            let skip = after.find(char::is_whitespace)?;
            position += skip;
        }
        let position = skip_whitespace(text, position, end);
        (position > begin && position < end).then_some(position)
    }
}

/// `chunk_end` moved back until `text[begin..chunk_end]` is within `limit`:
/// to a break before the point that fits in proportion, and, when there is
/// no such break, to that point. Always after `begin`.
fn fit_input(text: &str, begin: usize, previous_end: usize, chunk_end: usize, limit: &InputLimit) -> usize {
    let mut end = chunk_end;
    loop {
        let count = limit.count(text.get(begin..end).unwrap_or_default());
        if count <= limit.max || end <= next_boundary(text, begin) {
            return end;
        }
        // Aim 5% under the proportional length: fewer recounts.
        let length = end - begin;
        let target = floor_boundary(text, begin + length * limit.max / count * 19 / 20);
        if target <= begin {
            return next_boundary(text, begin);
        }
        let mut shorter = trim_end(text, begin, choose_cut(text, begin, previous_end, target));
        if shorter <= begin || shorter >= end {
            shorter = trim_end(text, begin, target).max(next_boundary(text, begin));
        }
        end = shorter;
    }
}

/// The best place to end a chunk that starts at `begin` and may run to
/// `window_end`: a paragraph break, else a sentence end, else a line break in
/// the window's second half; else the last space after `previous_end`; else
/// `window_end` itself.
fn choose_cut(text: &str, begin: usize, previous_end: usize, window_end: usize) -> usize {
    let half = floor_boundary(text, begin + (window_end - begin) / 2).max(previous_end + 1);
    let low = previous_end.max(begin) + 1;
    let window = text.get(..window_end).unwrap_or_default();
    let search = |from: usize, pattern: &dyn Fn(&str, usize) -> Option<usize>| -> Option<usize> {
        if from >= window_end {
            return None;
        }
        pattern(window, from)
    };
    search(half, &last_paragraph_break)
        .or_else(|| search(half, &last_sentence_end))
        .or_else(|| search(half, &|window, from| last_of(window, from, "\n")))
        .or_else(|| search(low, &last_space))
        .unwrap_or(window_end)
}

/// Just past the last blank line (`\n`, optional spaces, `\n`) in `window[from..]`.
fn last_paragraph_break(window: &str, from: usize) -> Option<usize> {
    let bytes = window.as_bytes();
    let mut index = window.len();
    while index > from {
        index -= 1;
        if bytes.get(index) != Some(&b'\n') {
            continue;
        }
        let mut before = index;
        while before > 0 && matches!(bytes.get(before - 1), Some(b' ' | b'\t' | b'\r')) {
            before -= 1;
        }
        if before > from && bytes.get(before - 1) == Some(&b'\n') {
            return Some(index + 1);
        }
    }
    None
}

/// Just past the last sentence end (`.`, `!`, `?` followed by whitespace) in `window[from..]`.
fn last_sentence_end(window: &str, from: usize) -> Option<usize> {
    let bytes = window.as_bytes();
    let mut index = window.len().saturating_sub(1);
    while index > from {
        if matches!(bytes.get(index - 1), Some(b'.' | b'!' | b'?'))
            && bytes.get(index).is_some_and(u8::is_ascii_whitespace)
        {
            return Some(index + 1);
        }
        index -= 1;
    }
    None
}

/// Just past the last space or tab in `window[from..]`.
fn last_space(window: &str, from: usize) -> Option<usize> {
    let bytes = window.as_bytes();
    (from..window.len()).rev().find(|&index| matches!(bytes.get(index), Some(b' ' | b'\t' | b'\n'))).map(|i| i + 1)
}

/// Just past the last `pattern` in `window[from..]`.
fn last_of(window: &str, from: usize, pattern: &str) -> Option<usize> {
    window.get(from..)?.rfind(pattern).map(|offset| from + offset + pattern.len())
}

fn is_whitespace_before(text: &str, position: usize) -> bool {
    text.get(..position).and_then(|head| head.chars().next_back()).is_none_or(char::is_whitespace)
}

/// The first non-whitespace position at or after `position`, at most `end`.
fn skip_whitespace(text: &str, position: usize, end: usize) -> usize {
    let Some(slice) = text.get(position..end) else { return end };
    end - slice.trim_start().len()
}

/// `end` moved back over whitespace, not before `begin`.
fn trim_end(text: &str, begin: usize, end: usize) -> usize {
    text.get(begin..end).map_or(end, |slice| begin + slice.trim_end().len())
}

fn floor_boundary(text: &str, mut position: usize) -> usize {
    position = position.min(text.len());
    while position > 0 && !text.is_char_boundary(position) {
        position -= 1;
    }
    position
}

fn next_boundary(text: &str, position: usize) -> usize {
    text.get(position..).and_then(|rest| rest.chars().next()).map_or(text.len(), |c| position + c.len_utf8())
}

/// A heading found in a prepared text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Heading {
    /// Where its section starts in the prepared text.
    pub(crate) position: usize,
    /// 1 for `#`/`<h1>`, … 6.
    pub(crate) level: usize,
    /// Its text.
    pub(crate) text: String,
}

/// A document's text ready to split: the text itself (the original, or the
/// visible text of HTML with a map back), its headings and title.
#[derive(Debug, Clone, Default)]
pub(crate) struct Prepared {
    pub(crate) text: String,
    /// For each byte of `text`, the original range it was read from; `None`
    /// when `text` is the original.
    pub(crate) spans: Option<Vec<(usize, usize)>>,
    pub(crate) headings: Vec<Heading>,
    pub(crate) title: Option<String>,
}

#[derive(Debug)]
struct Section {
    start: usize,
    end: usize,
    headings: Vec<String>,
}

impl Prepared {
    fn plain(text: &str) -> Self {
        Self { text: text.to_owned(), ..Self::default() }
    }

    fn sections(&self) -> Vec<Section> {
        let mut sections = Vec::new();
        let mut stack: Vec<(usize, String)> = Vec::new();
        let mut start = 0;
        let mut path: Vec<String> = Vec::new();
        for heading in &self.headings {
            if heading.position > start {
                sections.push(Section { start, end: heading.position, headings: path.clone() });
            }
            start = heading.position.max(start);
            while stack.last().is_some_and(|(level, _)| *level >= heading.level) {
                stack.pop();
            }
            stack.push((heading.level, heading.text.clone()));
            path = stack.iter().map(|(_, text)| text.clone()).collect();
        }
        if self.text.len() > start || sections.is_empty() {
            sections.push(Section { start, end: self.text.len(), headings: path });
        }
        sections
    }

    /// The original byte range of `text[start..end]` (non-empty).
    fn original_range(&self, start: usize, end: usize) -> (usize, usize) {
        let Some(spans) = &self.spans else { return (start, end) };
        let first = spans.get(start).map_or(0, |span| span.0);
        let last = end.checked_sub(1).and_then(|index| spans.get(index)).map_or(first, |span| span.1);
        (first, last.max(first))
    }
}

#[cfg(test)]
mod tests;
