//! Deterministic answer generation: chat completions, embeddings, scripted
//! fixtures and content-filter screening.
//!
//! Everything here is pure: no I/O (except [`Fixtures::load`]), no clock, no
//! randomness beyond a seed derived from the request. The same request gives
//! the same answer; a different `seed` (or any change to the conversation,
//! tools, format or sampling settings) gives a different one.
//!
//! # Chat
//!
//! [`chat`] answers a [`ChatRequest`] with a complete [`ChatResponse`]:
//!
//! - **Text**: readable sentences from a small built-in vocabulary, about 20
//!   to 60 tokens, naming the prompt's topic.
//! - **`response_format`**: `json_schema` gives compact JSON that validates
//!   against the schema (see [`schema`] for the keywords understood);
//!   `json_object` gives an object with `answer`, `keywords` and
//!   `confidence`.
//! - **Tools**: `tool_choice` naming a function calls it (finish reason
//!   `stop`, as the service reports for a forced function); `required` calls
//!   the best-matching tools, one per tool up to 3 when
//!   `parallel_tool_calls` is not `false` (else one); `auto` (the default)
//!   calls the tools whose name is mentioned in, or whose name or
//!   description shares a word with, the last user message, and answers
//!   with text otherwise; `none` answers with text. Arguments validate
//!   against each function's `parameters`, and use the prompt's words for
//!   place- and query-like properties. When the conversation ends with tool
//!   results, `auto` and `none` give a final answer quoting each result.
//!   The deprecated `functions`/`function_call` work the same way with one
//!   call.
//! - **Recall**: when the last user message asks what was said before
//!   ("what did I say", "what did I ask", "what was my previous/last …"),
//!   the answer quotes the user message before it:
//!   `Earlier you said: "…"` (how a chained Responses request shows that
//!   the history reached the model).
//! - **Standalone queries**: when a system or developer message asks for a
//!   "standalone" query or question (rewriting a follow-up for retrieval),
//!   the answer is the follow-up (the text after a `Last question:`-style
//!   label, or the last user message) followed by the keywords of the
//!   earlier user turns it lacks: "and how long does it take crashed batch
//!   resume" (see `standalone.rs`).
//! - **Grounded answers**: when a system, developer or user message holds
//!   a `<documents>` block of sources each starting with a `[docN]` line,
//!   a text answer quotes, from each of the (at most two) sources sharing
//!   the most keywords with the question, its best-matching sentence
//!   followed by `[docN]`; when no source shares a keyword it answers
//!   "The provided sources do not answer this question." and cites nothing
//!   (see `grounded.rs`).
//! - **Limits**: the text is cut before the first `stop` sequence (finish
//!   reason `stop`), then to `max_completion_tokens` or `max_tokens` on a
//!   token boundary (finish reason `length`; JSON is cut too, as the service
//!   does). `n` gives distinct choices where the format allows.
//! - **Usage**: `prompt_tokens` is aoai-core's
//!   [`Tokenizer::count_messages`](aoai_core::tokens::Tokenizer::count_messages)
//!   plus `count_tools`/`count_functions` for the model's encoding;
//!   `completion_tokens` the exact token count of each choice's content, or
//!   of each tool call's name plus arguments, summed over choices.
//! - **Checks**: requests the service would refuse return a
//!   [`GenerateError`] (its message, `param` and `code` as the service words
//!   them), e.g. empty `messages`, `n` outside 1–128, `max_tokens` 0, more
//!   than 4 stop sequences, `tool_choice` without tools or naming an unknown
//!   function, non-object or non-strict-compatible parameter schemas, strict
//!   `json_schema` formats with open objects, `json_object` without the word
//!   "json" in the messages, tool messages that answer no call, and prompts
//!   beyond the model's context window.
//!
//! The response has no content-filter fields: the server screens with
//! [`screen_prompt`] and [`screen_completion`] and adds them.
//!
//! ```
//! use aoai_core::chat::{ChatMessage, ChatRequest, FinishReason};
//! use aoai_emulator::generate::{ModelInfo, chat};
//!
//! let info = ModelInfo::new("my-deployment", "gpt-4o");
//! let request = ChatRequest::new(vec![ChatMessage::user("Tell me about rivers.")]).max_tokens(5);
//! let response = chat(&request, &info, 1_700_000_000)?;
//! assert_eq!(response.finish_reason(), Some(&FinishReason::Length));
//! assert_eq!(response.usage.as_ref().map(|usage| usage.completion_tokens), Some(5));
//! assert_eq!(response, chat(&request, &info, 1_700_000_000)?);
//! # Ok::<(), aoai_emulator::generate::GenerateError>(())
//! ```

mod canonical;
mod chat;
mod embed;
mod filter;
mod fixtures;
mod grounded;
mod pattern;
pub mod schema;
mod standalone;
mod text;
mod util;
mod validate;

use std::fmt;

use aoai_core::chat::{ChatRequest, ChatResponse};
use aoai_core::embeddings::{EmbeddingsRequest, EmbeddingsResponse};

pub use embed::{embed_text, embeddings_json, native_dimensions};
pub(crate) use filter::ContentFilter;
pub use filter::{
    BLOCKLIST_ID, ContentFilterConfig, DEFAULT_JAILBREAK_PATTERNS, PromptVerdict, screen_completion, screen_prompt,
    screen_text_prompt,
};
pub use fixtures::{
    Fixture, FixtureAnswer, FixtureError, FixtureMatcher, FixtureReply, FixtureToolCall, Fixtures, FixturesError,
};

/// Everything generation needs from the deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelInfo<'a> {
    /// The deployment's name (what the URL names).
    pub deployment: &'a str,
    /// The model behind it: picks the tokenizer, the context window and the
    /// embedding size, and is the response's `model`.
    pub model: &'a str,
}

impl<'a> ModelInfo<'a> {
    /// A deployment of `model`.
    #[must_use]
    pub fn new(deployment: &'a str, model: &'a str) -> Self {
        Self { deployment, model }
    }
}

/// A request the service would refuse: the server answers 400 with
/// `{"error": {"message", "type": "invalid_request_error", "param", "code"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateError {
    /// What is wrong, worded as the service words it.
    pub message: String,
    /// The offending request field (`messages`, `n`, `max_tokens`,
    /// `response_format`, `tools[0].function.parameters`, …).
    pub param: Option<String>,
    /// A machine-readable code (`integer_above_max_value`,
    /// `context_length_exceeded`, …), when the service sends one.
    pub code: Option<String>,
}

impl GenerateError {
    /// An error about `param`, without a code.
    #[must_use]
    pub fn new(message: impl Into<String>, param: Option<&str>) -> Self {
        Self { message: message.into(), param: param.map(str::to_owned), code: None }
    }

    /// Sets the code.
    #[must_use]
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }
}

impl fmt::Display for GenerateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for GenerateError {}

/// A generated chat completion for `request` to the deployment `info`,
/// created at `created` (Unix seconds).
///
/// The id is `chatcmpl-` and 29 characters derived from the request's seed
/// and `created` (replace it if every response must have a unique id);
/// `system_fingerprint` is fixed per model. See the [module docs](self) for
/// what is generated.
///
/// # Errors
///
/// [`GenerateError`] when the service would refuse the request.
pub fn chat(request: &ChatRequest, info: &ModelInfo<'_>, created: u64) -> Result<ChatResponse, GenerateError> {
    chat::chat(request, info, created)
}

/// [`chat`] with the response id chosen by the caller (the server numbers
/// its responses), which spares deriving one.
pub(crate) fn chat_with_id(
    request: &ChatRequest,
    info: &ModelInfo<'_>,
    created: u64,
    id: String,
) -> Result<ChatResponse, GenerateError> {
    chat::chat_with_id(request, info, created, Some(id))
}

/// Deterministic unit-length embeddings, one per input, in input order.
///
/// Vectors have `dimensions` components when set, else 3072 for
/// `text-embedding-3-large` and 1536 for other models; similar texts give
/// similar vectors (hashed words and character trigrams, see
/// [`embed_text`]). `usage` counts the input tokens with the model's
/// tokenizer (token-id inputs count their ids). The vectors are floats:
/// serialise with [`embeddings_json`] to honour `encoding_format: "base64"`.
///
/// # Errors
///
/// [`GenerateError`] for an empty input or an empty string, more than 2048
/// inputs, an input over 8192 tokens, `dimensions` of 0 or beyond the
/// model's size, or `dimensions` with `text-embedding-ada-002`.
pub fn embeddings(request: &EmbeddingsRequest, info: &ModelInfo<'_>) -> Result<EmbeddingsResponse, GenerateError> {
    embed::embeddings(request, info)
}

/// The deterministic seed of a request: a stable hash of its canonical JSON
/// (object keys sorted), mixed again with `seed` when set.
///
/// Fields that only limit or transport the answer are left out
/// (`max_tokens`, `max_completion_tokens`, `stop`, `n`, `stream`,
/// `stream_options`, `user`, `logprobs`, `top_logprobs`), so a smaller limit
/// cuts the same text and choice 0 is the same for any `n`.
#[must_use]
pub fn request_seed(request: &ChatRequest) -> u64 {
    chat::request_seed(request)
}
