//! Token counting: encodings, counts, truncation, chat overhead and cost.
//!
//! [`Tokenizer`] counts, encodes, decodes and truncates text with the
//! encodings OpenAI models use, `cl100k_base` and `o200k_base`. Both are
//! embedded in the binary (through `bpe-openai`): nothing is downloaded at run
//! time. Token ids are identical to tiktoken's `encode_ordinary`, and text that
//! looks like a special token (`<|endoftext|>`) is ordinary text.
//!
//! ```
//! use aoai_core::tokens::{Encoding, Tokenizer};
//!
//! let tokenizer = Tokenizer::for_model("gpt-4o-mini");
//! assert_eq!(tokenizer.encoding(), Encoding::O200kBase);
//!
//! let text = "tiktoken is great!";
//! assert_eq!(tokenizer.count(text), 6);
//! let ids = tokenizer.encode(text);
//! assert_eq!(tokenizer.decode(&ids)?, text);
//!
//! // Truncation keeps a prefix of whole characters within the budget.
//! let head = tokenizer.truncate("The quick brown fox jumps over the lazy dog", 3);
//! assert_eq!(head, "The quick brown");
//! # Ok::<(), aoai_core::tokens::DecodeTokensError>(())
//! ```
//!
//! Chat requests cost more than the text they carry: each message has framing
//! tokens, tool definitions are rendered into the prompt, and Azure admits a
//! request against its prompt plus the most it may generate.
//! [`Tokenizer::count_messages`], [`Tokenizer::count_tools`] and
//! [`Tokenizer::estimate_request`] compute those estimates; the `usage` the
//! service reports is what is billed. [`PriceTable`] turns that usage into a
//! [`Cost`].
//!
//! ```
//! use aoai_core::chat::{ChatMessage, ChatRequest, Usage};
//! use aoai_core::tokens::{PriceTable, Tokenizer};
//!
//! let request = ChatRequest::new(vec![
//!     ChatMessage::system("Answer in one sentence."),
//!     ChatMessage::user("Why is the sky blue?"),
//! ])
//! .max_completion_tokens(60);
//!
//! // What the request is charged against the deployment's TPM quota.
//! let estimate = Tokenizer::for_model("gpt-4o-mini").estimate_request(&request);
//! assert_eq!(estimate.total, estimate.prompt_tokens + 60);
//!
//! // What the answer cost, from the usage the service reported.
//! let usage = Usage::new(25, 40);
//! let cost = PriceTable::default().estimate_cost("gpt-4o-mini-2024-07-18", &usage);
//! assert!(cost.is_some_and(|cost| cost.total() > 0.0));
//! ```

mod cost;
mod messages;

use std::fmt;

pub use cost::{Cost, DEFAULT_PRICES_AS_OF, Price, PriceTable};
pub use messages::{DEFAULT_MAX_OUTPUT_TOKENS, RequestEstimate};

/// A byte-pair encoding used by OpenAI models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Encoding {
    /// `cl100k_base`: GPT-4, GPT-4 Turbo, GPT-3.5 Turbo and the
    /// `text-embedding-*` models.
    Cl100kBase,
    /// `o200k_base`: GPT-4o, GPT-4.1, GPT-4.5, GPT-5, the o-series reasoning
    /// models, and the fallback for names we don't recognise.
    O200kBase,
}

impl Encoding {
    /// The encoding a model (or an Azure deployment named after its model)
    /// uses.
    ///
    /// Matching ignores ASCII case, a leading `provider/` segment
    /// (`azure/gpt-4o`) and the `ft:` wrapper of fine-tuned models
    /// (`ft:gpt-4o-mini:org::id`). Names are tried in this order:
    ///
    /// - `cl100k_base`: `gpt-4` and `gpt4`, alone or followed by `-` or `_`
    ///   (`gpt-4-turbo`, `gpt-4-32k`, `gpt-4-0613`, `gpt4_prod`); anything
    ///   starting with `gpt-35`, `gpt35`, `gpt-3.5`
    ///   or `gpt3.5` (Azure spells GPT-3.5 Turbo `gpt-35-turbo`);
    ///   `text-embedding-*`; `davinci-002` and `babbage-002`.
    /// - `o200k_base`: everything else, which covers `gpt-4o*`,
    ///   `chatgpt-4o*`, `gpt-4.1*`, `gpt-4.5*`, `gpt-5*`, `o1*`, `o3*`,
    ///   `o4*`, `codex-mini*` and `gpt-oss*` (whose `o200k_harmony` encodes
    ///   ordinary text like `o200k_base`).
    ///
    /// A deployment name that hides its model (`prod-chat`) gets
    /// `o200k_base`, the encoding of every current model; pass the model name
    /// (the `model` field of any response carries it) when that matters.
    #[must_use]
    pub fn for_model(model: &str) -> Encoding {
        let name = model_base_name(model);
        if is_cl100k_model(&name) { Encoding::Cl100kBase } else { Encoding::O200kBase }
    }

    /// The encoding's name as tiktoken spells it: `cl100k_base` or `o200k_base`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Cl100kBase => "cl100k_base",
            Encoding::O200kBase => "o200k_base",
        }
    }

    /// The encoding with the given tiktoken name, if it is one of ours.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Encoding> {
        match name {
            "cl100k_base" => Some(Encoding::Cl100kBase),
            "o200k_base" => Some(Encoding::O200kBase),
            _ => None,
        }
    }

    /// A tokenizer for this encoding.
    #[must_use]
    pub fn tokenizer(self) -> Tokenizer {
        Tokenizer::new(self)
    }

    /// The number of ordinary (non-special) tokens in the vocabulary.
    #[must_use]
    pub fn vocabulary_size(self) -> usize {
        self.bpe().bpe.num_tokens()
    }

    fn bpe(self) -> &'static bpe_openai::Tokenizer {
        match self {
            Encoding::Cl100kBase => bpe_openai::cl100k_base(),
            Encoding::O200kBase => bpe_openai::o200k_base(),
        }
    }

    /// Special tokens: never produced by encoding, but decoded to their text.
    fn special_tokens(self) -> &'static [(u32, &'static str)] {
        match self {
            Encoding::Cl100kBase => &[
                (100_257, "<|endoftext|>"),
                (100_258, "<|fim_prefix|>"),
                (100_259, "<|fim_middle|>"),
                (100_260, "<|fim_suffix|>"),
                (100_276, "<|endofprompt|>"),
            ],
            Encoding::O200kBase => &[(199_999, "<|endoftext|>"), (200_018, "<|endofprompt|>")],
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Strips what is not part of the model name: case, a `provider/` prefix and
/// the `ft:` wrapper of fine-tuned models.
fn model_base_name(model: &str) -> String {
    let model = model.trim();
    let model = model.rsplit_once('/').map_or(model, |(_, name)| name);
    let model = match model.strip_prefix("ft:") {
        Some(rest) => rest.split(':').next().unwrap_or(rest),
        None => model,
    };
    model.to_ascii_lowercase()
}

fn is_cl100k_model(name: &str) -> bool {
    const GPT_35: [&str; 4] = ["gpt-35", "gpt35", "gpt-3.5", "gpt3.5"];
    const EXACT: [&str; 2] = ["davinci-002", "babbage-002"];
    if GPT_35.iter().any(|prefix| name.starts_with(prefix))
        || name.starts_with("text-embedding-")
        || EXACT.contains(&name)
    {
        return true;
    }
    for gpt_4 in ["gpt-4", "gpt4"] {
        if let Some(rest) = name.strip_prefix(gpt_4) {
            // `gpt-4`, `gpt-4-turbo`, `gpt-4-0613`, `gpt4_prod`; not `gpt-4o`,
            // `gpt-4.1` or `gpt-4.5`.
            return rest.is_empty() || rest.starts_with(['-', '_']);
        }
    }
    false
}

/// Counts, encodes, decodes and truncates text with one [`Encoding`].
///
/// A `Tokenizer` is a `Copy` handle to a process-wide, lazily built encoder:
/// create one wherever convenient. The first use of an encoding builds it
/// (about 0.05 s for `cl100k_base` and 0.15 s for `o200k_base` in a release
/// build); count an empty string at start-up to pay that cost early.
#[derive(Clone, Copy)]
pub struct Tokenizer {
    encoding: Encoding,
    bpe: &'static bpe_openai::Tokenizer,
}

impl fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokenizer").field("encoding", &self.encoding).finish()
    }
}

impl PartialEq for Tokenizer {
    fn eq(&self, other: &Self) -> bool {
        self.encoding == other.encoding
    }
}

impl Eq for Tokenizer {}

impl Tokenizer {
    /// A tokenizer for `encoding`.
    #[must_use]
    pub fn new(encoding: Encoding) -> Self {
        Self { encoding, bpe: encoding.bpe() }
    }

    /// A tokenizer for the encoding of `model`; see [`Encoding::for_model`].
    #[must_use]
    pub fn for_model(model: &str) -> Self {
        Self::new(Encoding::for_model(model))
    }

    /// The encoding this tokenizer uses.
    #[must_use]
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The number of tokens in `text`, without building the token list.
    #[must_use]
    pub fn count(&self, text: &str) -> usize {
        self.bpe.split(text).map(|piece| self.bpe.bpe.count(piece.as_bytes())).sum()
    }

    /// The number of tokens in `text` if it is at most `limit`, else `None`.
    ///
    /// Stops soon after the limit is passed, so asking whether a long text
    /// fits a small budget costs about as much as the budget, not the text.
    #[must_use]
    pub fn count_up_to(&self, text: &str, limit: usize) -> Option<usize> {
        let mut total = 0_usize;
        for piece in self.bpe.split(text) {
            total += self.bpe.bpe.count(piece.as_bytes());
            if total > limit {
                return None;
            }
        }
        Some(total)
    }

    /// The token ids of `text`, as tiktoken's `encode_ordinary` returns them.
    #[must_use]
    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.bpe.encode(text)
    }

    /// The text of `tokens`.
    ///
    /// Special-token ids (such as `<|endoftext|>`) decode to their text.
    ///
    /// # Errors
    ///
    /// [`DecodeTokensError::UnknownToken`] for an id outside the vocabulary,
    /// [`DecodeTokensError::InvalidUtf8`] when the bytes are not UTF-8, as
    /// happens when a slice of ids cuts a character in two.
    pub fn decode(&self, tokens: &[u32]) -> Result<String, DecodeTokensError> {
        let bytes = self.decode_bytes(tokens)?;
        String::from_utf8(bytes)
            .map_err(|error| DecodeTokensError::InvalidUtf8 { valid_up_to: error.utf8_error().valid_up_to() })
    }

    /// The text of `tokens`, with U+FFFD for unknown ids and for bytes that
    /// are not UTF-8.
    #[must_use]
    pub fn decode_lossy(&self, tokens: &[u32]) -> String {
        let mut bytes = Vec::with_capacity(tokens.len() * 4);
        for &token in tokens {
            match self.token_bytes(token) {
                Some(token_bytes) => bytes.extend_from_slice(token_bytes),
                None => bytes.extend_from_slice(char::REPLACEMENT_CHARACTER.encode_utf8(&mut [0; 4]).as_bytes()),
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The bytes of `tokens`, which need not be UTF-8.
    ///
    /// # Errors
    ///
    /// [`DecodeTokensError::UnknownToken`] for an id outside the vocabulary.
    pub fn decode_bytes(&self, tokens: &[u32]) -> Result<Vec<u8>, DecodeTokensError> {
        let mut bytes = Vec::with_capacity(tokens.len() * 4);
        for (index, &token) in tokens.iter().enumerate() {
            let token_bytes = self.token_bytes(token).ok_or(DecodeTokensError::UnknownToken { index, token })?;
            bytes.extend_from_slice(token_bytes);
        }
        Ok(bytes)
    }

    /// The longest prefix of `text` that holds at most `max_tokens` tokens.
    ///
    /// The prefix ends on a character boundary and is counted again before it
    /// is returned, so `count(truncate(text, n)) <= n` always holds.
    #[must_use]
    pub fn truncate<'a>(&self, text: &'a str, max_tokens: usize) -> &'a str {
        if text.len() <= max_tokens {
            // Every token holds at least one byte.
            return text;
        }
        for target in (1..=max_tokens).rev() {
            let end = match self.prefix_len(text, target) {
                PrefixLen::Whole => return text,
                PrefixLen::Bytes(end) => floor_char_boundary(text, end),
            };
            let prefix = text.get(..end).unwrap_or_default();
            // Cutting inside a pre-tokenizer piece or a character can change
            // how the prefix encodes; verify and give up one token if so.
            if self.count_up_to(prefix, max_tokens).is_some() {
                return prefix;
            }
        }
        ""
    }

    /// The longest suffix of `text` that holds at most `max_tokens` tokens,
    /// for keeping the end of a conversation or a log.
    ///
    /// The suffix starts on a character boundary and is counted again before
    /// it is returned, so `count(truncate_end(text, n)) <= n` always holds.
    #[must_use]
    pub fn truncate_end<'a>(&self, text: &'a str, max_tokens: usize) -> &'a str {
        if text.len() <= max_tokens {
            return text;
        }
        let pieces: Vec<&str> = self.bpe.split(text).collect();
        for target in (1..=max_tokens).rev() {
            let start = match self.suffix_start(text, &pieces, target) {
                None => return text,
                Some(start) => ceil_char_boundary(text, start),
            };
            let suffix = text.get(start..).unwrap_or_default();
            if self.count_up_to(suffix, max_tokens).is_some() {
                return suffix;
            }
        }
        ""
    }

    fn token_bytes(&self, token: u32) -> Option<&'static [u8]> {
        let bpe = &self.bpe.bpe;
        if usize::try_from(token).is_ok_and(|index| index < bpe.num_tokens()) {
            return Some(bpe.token_bytes(token));
        }
        self.encoding.special_tokens().iter().find(|(id, _)| *id == token).map(|(_, text)| text.as_bytes())
    }

    /// Where the first `target` tokens of `text` end, as encoded piece by
    /// piece.
    fn prefix_len(&self, text: &str, target: usize) -> PrefixLen {
        let mut budget = target;
        let mut offset = 0;
        for piece in self.bpe.split(text) {
            let piece_tokens = self.bpe.bpe.count(piece.as_bytes());
            if piece_tokens <= budget {
                budget -= piece_tokens;
                offset += piece.len();
                continue;
            }
            let tokens = self.bpe.bpe.encode_via_backtracking(piece.as_bytes());
            let kept: usize = tokens.iter().take(budget).map(|&token| self.bpe.bpe.token_len(token)).sum();
            return PrefixLen::Bytes(offset + kept);
        }
        PrefixLen::Whole
    }

    /// Where the last `target` tokens of `text` start, or `None` if the whole
    /// text holds no more than `target` tokens.
    fn suffix_start(&self, text: &str, pieces: &[&str], target: usize) -> Option<usize> {
        let mut budget = target;
        let mut end = text.len();
        for piece in pieces.iter().rev() {
            let piece_tokens = self.bpe.bpe.count(piece.as_bytes());
            if piece_tokens <= budget {
                budget -= piece_tokens;
                end -= piece.len();
                continue;
            }
            let tokens = self.bpe.bpe.encode_via_backtracking(piece.as_bytes());
            let kept: usize = tokens.iter().rev().take(budget).map(|&token| self.bpe.bpe.token_len(token)).sum();
            return Some(end - kept);
        }
        None
    }
}

enum PrefixLen {
    /// The whole text fits.
    Whole,
    /// The first tokens end at this byte offset (perhaps inside a character).
    Bytes(usize),
}

fn floor_char_boundary(text: &str, index: usize) -> usize {
    let mut index = index.min(text.len());
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

fn ceil_char_boundary(text: &str, index: usize) -> usize {
    let mut index = index.min(text.len());
    while !text.is_char_boundary(index) {
        index += 1;
    }
    index
}

/// Token ids that could not be decoded to text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeTokensError {
    /// An id is neither in the vocabulary nor a special token.
    #[error("token id {token} at index {index} is not in the vocabulary")]
    UnknownToken {
        /// The position of the id in the input.
        index: usize,
        /// The id.
        token: u32,
    },
    /// The decoded bytes are not UTF-8 (a character was cut between ids).
    #[error("decoded bytes are not valid UTF-8 after byte {valid_up_to}")]
    InvalidUtf8 {
        /// The length of the valid UTF-8 prefix, in bytes.
        valid_up_to: usize,
    },
}
