//! Chat completions on the wire: the request, the response, the streamed
//! chunks, and [`ChatAccumulator`], which rebuilds a response from a stream.
//!
//! The types follow `createChatCompletionRequest` / `createChatCompletionResponse`
//! of the `2024-10-01-preview` REST specification, plus what the service
//! accepts or sends beyond it:
//!
//! - `stream_options` and `parallel_tool_calls` (the JSON spec omits them);
//! - `prompt_filter_results` (older versions: `prompt_annotations`) and
//!   per-choice `content_filter_results`, typed by [`crate::filter`];
//! - usage details with `cached_tokens` and `reasoning_tokens`;
//! - streams whose first chunk has `"choices": []`, `"id": ""` and
//!   `"created": 0`, annotation-only chunks without `delta` (also after the
//!   finish chunk, with the asynchronous filter), and a final usage chunk with
//!   `"choices": []` while the other chunks say `"usage": null`;
//! - `data_sources` (On Your Data, retired by Azure) as an untyped passthrough.
//!
//! Parsing never fails on an unknown field or enum value: unknown fields land
//! in the `extra` maps, unknown finish reasons and roles in `Unknown(..)`
//! variants, messages with an unknown role in [`ChatMessage::Other`], and
//! content parts, tool choices and response formats of an unknown type in
//! their `Other` variants. Fields that real servers leave out or send as
//! `null` (`id`, `model`, `created`, `index`, token counts) default to empty
//! or zero.
//!
//! # Building a request
//!
//! ```
//! use aoai_core::chat::{ChatMessage, ChatRequest, Tool, ToolChoice};
//! use serde_json::json;
//!
//! let request = ChatRequest::new(vec![
//!     ChatMessage::system("You are terse."),
//!     ChatMessage::user("Weather in Paris?"),
//! ])
//! .temperature(0.2)
//! .max_tokens(100)
//! .tools(vec![Tool::function(
//!     "get_weather",
//!     "Current weather for a city",
//!     json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
//! )])
//! .tool_choice(ToolChoice::Auto);
//!
//! let body = serde_json::to_value(&request).unwrap();
//! assert_eq!(body["messages"][1], json!({"role": "user", "content": "Weather in Paris?"}));
//! assert_eq!(body["tool_choice"], "auto");
//! assert!(body.get("top_p").is_none(), "unset fields are not sent");
//! ```
//!
//! # Rebuilding a streamed response
//!
//! ```
//! use aoai_core::chat::{ChatAccumulator, ChatChunk, FinishReason};
//!
//! let wire = [
//!     r#"{"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{}}]}"#,
//!     r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}"#,
//!     r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}"#,
//! ];
//! let mut accumulator = ChatAccumulator::new();
//! for line in wire {
//!     let chunk: ChatChunk = serde_json::from_str(line).unwrap();
//!     accumulator.push(&chunk);
//! }
//! assert_eq!(accumulator.current_text(0), Some("Hello"));
//! let response = accumulator.finish();
//! assert_eq!(response.id, "c1");
//! assert_eq!(response.text(), Some("Hello"));
//! assert_eq!(response.choices[0].finish_reason, Some(FinishReason::Stop));
//! ```

use std::borrow::BorrowMut;
use std::collections::BTreeMap;
use std::ops::{Add, AddAssign};

use serde::de::{self, DeserializeOwned, Deserializer};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::extra_fields::deserialize_with_extra;
use crate::filter::{BlocklistResults, ContentFilterResults, DetectedResult, PromptFilterResult, SeverityResult};
use crate::open_enum::open_enum;

// ---------------------------------------------------------------------------
// Open enums.
// ---------------------------------------------------------------------------

open_enum! {
    /// Why the model stopped generating a choice.
    pub enum FinishReason {
        /// A natural stop or a stop sequence.
        Stop = "stop",
        /// `max_tokens` / `max_completion_tokens` or the context length was reached.
        Length = "length",
        /// The model called one or more tools.
        ToolCalls = "tool_calls",
        /// Azure's content filter removed content.
        ContentFilter = "content_filter",
        /// The model called a function (deprecated `functions` API).
        FunctionCall = "function_call",
    }
}

open_enum! {
    /// The author of a message; defaults to `assistant`, the author of responses.
    #[derive(Default)]
    pub enum Role {
        /// System instructions.
        System = "system",
        /// Developer instructions (reasoning models' replacement for `system`).
        Developer = "developer",
        /// The end user.
        User = "user",
        /// The model.
        #[default]
        Assistant = "assistant",
        /// A tool's result.
        Tool = "tool",
        /// A function's result (deprecated `functions` API).
        Function = "function",
    }
}

open_enum! {
    /// The kind of a tool or tool call; only `function` exists today (the default).
    #[derive(Default)]
    pub enum ToolType {
        /// A function tool.
        #[default]
        Function = "function",
    }
}

open_enum! {
    /// How closely a vision model looks at an image.
    pub enum ImageDetail {
        /// Let the service decide.
        Auto = "auto",
        /// A low-resolution pass (cheaper).
        Low = "low",
        /// A high-resolution pass.
        High = "high",
    }
}

// ---------------------------------------------------------------------------
// Request.
// ---------------------------------------------------------------------------

/// A chat completions request body (`POST …/chat/completions`).
///
/// Every field but `messages` is optional and left out of the JSON when unset.
/// Build one with [`ChatRequest::new`] and the chainable setters; anything this
/// type doesn't name goes in [`ChatRequest::extra`] through
/// [`ChatRequest::with_extra`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The conversation so far.
    pub messages: Vec<ChatMessage>,
    /// The model, for OpenAI-compatible servers; Azure routes by deployment instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Sampling temperature, 0 to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling mass, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// How many choices to generate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Whether to stream the answer as server-sent events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Up to four sequences that end generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    /// Maximum tokens to generate (rejected by reasoning models: use
    /// [`max_completion_tokens`](Self::max_completion_tokens)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Upper bound on generated tokens, visible and reasoning together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    /// Penalty for tokens already present, -2 to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// Penalty proportional to token frequency, -2 to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// Bias per token id (as a decimal string), -100 to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logit_bias: Option<BTreeMap<String, i64>>,
    /// Whether to return log probabilities of the output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<bool>,
    /// How many most likely alternatives to return per token, 0 to 20 (needs `logprobs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<u32>,
    /// An identifier of the end user, for abuse monitoring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Best-effort deterministic sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Tools the model may call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// Whether and which tool the model must call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Whether the model may call several tools in one turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// Plain text, any JSON object, or JSON following a schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// Streaming options (`include_usage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Deprecated in favour of [`tools`](Self::tools): functions the model may call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub functions: Option<Vec<FunctionDefinition>>,
    /// Deprecated in favour of [`tool_choice`](Self::tool_choice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCallOption>,
    /// Azure On Your Data sources, passed through untyped (the feature was retired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_sources: Option<Value>,
    /// Any other field, sent as given.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChatRequest {
    /// A request with these messages and nothing else set.
    #[must_use]
    pub fn new(messages: Vec<ChatMessage>) -> Self {
        Self { messages, ..Self::default() }
    }

    /// Replaces the messages.
    #[must_use]
    pub fn messages(mut self, messages: Vec<ChatMessage>) -> Self {
        self.messages = messages;
        self
    }

    /// Appends one message.
    #[must_use]
    pub fn message(mut self, message: ChatMessage) -> Self {
        self.messages.push(message);
        self
    }

    /// Sets `model`.
    #[must_use]
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Sets `temperature`.
    #[must_use]
    pub fn temperature(mut self, temperature: f64) -> Self {
        self.temperature = Some(temperature);
        self
    }

    /// Sets `top_p`.
    #[must_use]
    pub fn top_p(mut self, top_p: f64) -> Self {
        self.top_p = Some(top_p);
        self
    }

    /// Sets `n`.
    #[must_use]
    pub fn n(mut self, n: u32) -> Self {
        self.n = Some(n);
        self
    }

    /// Sets `stream`.
    #[must_use]
    pub fn stream(mut self, stream: bool) -> Self {
        self.stream = Some(stream);
        self
    }

    /// Sets `stop` from a string or a list of strings.
    #[must_use]
    pub fn stop(mut self, stop: impl Into<Stop>) -> Self {
        self.stop = Some(stop.into());
        self
    }

    /// Sets `max_tokens`.
    #[must_use]
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// Sets `max_completion_tokens`.
    #[must_use]
    pub fn max_completion_tokens(mut self, max_completion_tokens: u32) -> Self {
        self.max_completion_tokens = Some(max_completion_tokens);
        self
    }

    /// Sets `presence_penalty`.
    #[must_use]
    pub fn presence_penalty(mut self, presence_penalty: f64) -> Self {
        self.presence_penalty = Some(presence_penalty);
        self
    }

    /// Sets `frequency_penalty`.
    #[must_use]
    pub fn frequency_penalty(mut self, frequency_penalty: f64) -> Self {
        self.frequency_penalty = Some(frequency_penalty);
        self
    }

    /// Sets `logit_bias` from `(token id, bias)` pairs.
    #[must_use]
    pub fn logit_bias(mut self, bias: impl IntoIterator<Item = (u32, i64)>) -> Self {
        self.logit_bias = Some(bias.into_iter().map(|(token_id, value)| (token_id.to_string(), value)).collect());
        self
    }

    /// Sets `logprobs`.
    #[must_use]
    pub fn logprobs(mut self, logprobs: bool) -> Self {
        self.logprobs = Some(logprobs);
        self
    }

    /// Sets `top_logprobs`.
    #[must_use]
    pub fn top_logprobs(mut self, top_logprobs: u32) -> Self {
        self.top_logprobs = Some(top_logprobs);
        self
    }

    /// Sets `user`.
    #[must_use]
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Sets `seed`.
    #[must_use]
    pub fn seed(mut self, seed: i64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Replaces `tools`.
    #[must_use]
    pub fn tools(mut self, tools: impl IntoIterator<Item = Tool>) -> Self {
        self.tools = Some(tools.into_iter().collect());
        self
    }

    /// Appends one tool.
    #[must_use]
    pub fn tool(mut self, tool: Tool) -> Self {
        self.tools.get_or_insert_with(Vec::new).push(tool);
        self
    }

    /// Sets `tool_choice`.
    #[must_use]
    pub fn tool_choice(mut self, tool_choice: ToolChoice) -> Self {
        self.tool_choice = Some(tool_choice);
        self
    }

    /// Sets `parallel_tool_calls`.
    #[must_use]
    pub fn parallel_tool_calls(mut self, parallel_tool_calls: bool) -> Self {
        self.parallel_tool_calls = Some(parallel_tool_calls);
        self
    }

    /// Sets `response_format`.
    #[must_use]
    pub fn response_format(mut self, response_format: impl Into<ResponseFormat>) -> Self {
        self.response_format = Some(response_format.into());
        self
    }

    /// Sets `stream_options`.
    #[must_use]
    pub fn stream_options(mut self, stream_options: StreamOptions) -> Self {
        self.stream_options = Some(stream_options);
        self
    }

    /// Sets the deprecated `functions`.
    #[must_use]
    pub fn functions(mut self, functions: impl IntoIterator<Item = FunctionDefinition>) -> Self {
        self.functions = Some(functions.into_iter().collect());
        self
    }

    /// Sets the deprecated `function_call`.
    #[must_use]
    pub fn function_call(mut self, function_call: FunctionCallOption) -> Self {
        self.function_call = Some(function_call);
        self
    }

    /// Sets `data_sources` (passed through as given).
    #[must_use]
    pub fn data_sources(mut self, data_sources: Value) -> Self {
        self.data_sources = Some(data_sources);
        self
    }

    /// Adds (or replaces) a field this type does not name.
    #[must_use]
    pub fn with_extra(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }
}

/// Stop sequences: one string or a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    /// A single sequence.
    One(String),
    /// Up to four sequences.
    Many(Vec<String>),
}

impl From<&str> for Stop {
    fn from(text: &str) -> Self {
        Self::One(text.to_owned())
    }
}

impl From<String> for Stop {
    fn from(text: String) -> Self {
        Self::One(text)
    }
}

impl From<Vec<String>> for Stop {
    fn from(texts: Vec<String>) -> Self {
        Self::Many(texts)
    }
}

impl From<Vec<&str>> for Stop {
    fn from(texts: Vec<&str>) -> Self {
        Self::Many(texts.into_iter().map(str::to_owned).collect())
    }
}

impl<const N: usize> From<[&str; N]> for Stop {
    fn from(texts: [&str; N]) -> Self {
        Self::Many(texts.into_iter().map(str::to_owned).collect())
    }
}

/// `stream_options`: what a streamed answer carries besides the deltas.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamOptions {
    /// Send a last chunk with `usage` (and `"choices": []`); other chunks then carry `"usage": null`.
    #[serde(default)]
    pub include_usage: bool,
}

impl StreamOptions {
    /// `{"include_usage": true}`.
    #[must_use]
    pub fn with_usage() -> Self {
        Self { include_usage: true }
    }
}

// ---------------------------------------------------------------------------
// Messages.
// ---------------------------------------------------------------------------

/// One message of the conversation, tagged by `role` on the wire.
///
/// A message whose role this crate doesn't know parses as
/// [`ChatMessage::Other`], keeping its fields; a message with a known role but
/// a malformed body (a `user` message without `content`, say) is an error.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatMessage {
    /// `role: "system"`.
    System(ContentMessage),
    /// `role: "developer"`.
    Developer(ContentMessage),
    /// `role: "user"`.
    User(ContentMessage),
    /// `role: "assistant"`: an earlier answer, with its tool calls.
    Assistant(AssistantMessage),
    /// `role: "tool"`: a tool's result.
    Tool(ToolMessage),
    /// `role: "function"`: a function's result (deprecated).
    Function(FunctionMessage),
    /// Any other role, with the message's other fields as sent.
    Other {
        /// The role as sent.
        role: String,
        /// Every field but `role`.
        body: Map<String, Value>,
    },
}

impl ChatMessage {
    /// A system message.
    #[must_use]
    pub fn system(content: impl Into<MessageContent>) -> Self {
        Self::System(ContentMessage::new(content))
    }

    /// A developer message.
    #[must_use]
    pub fn developer(content: impl Into<MessageContent>) -> Self {
        Self::Developer(ContentMessage::new(content))
    }

    /// A user message; pass a `Vec<ContentPart>` for images.
    #[must_use]
    pub fn user(content: impl Into<MessageContent>) -> Self {
        Self::User(ContentMessage::new(content))
    }

    /// An assistant message with text content.
    #[must_use]
    pub fn assistant(content: impl Into<MessageContent>) -> Self {
        Self::Assistant(AssistantMessage { content: Some(content.into()), ..AssistantMessage::default() })
    }

    /// A tool result answering the tool call `tool_call_id`.
    #[must_use]
    pub fn tool(tool_call_id: impl Into<String>, content: impl Into<MessageContent>) -> Self {
        Self::Tool(ToolMessage { tool_call_id: tool_call_id.into(), content: content.into(), extra: Map::new() })
    }

    /// Sets the participant name (`name`). Tool messages have none on the
    /// wire and are returned unchanged.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        match &mut self {
            Self::System(message) | Self::Developer(message) | Self::User(message) => {
                message.name = Some(name);
            }
            Self::Assistant(message) => message.name = Some(name),
            Self::Function(message) => message.name = name,
            Self::Other { body, .. } => {
                body.insert("name".to_owned(), Value::String(name));
            }
            Self::Tool(_) => {}
        }
        self
    }

    /// The role as it appears on the wire.
    #[must_use]
    pub fn role(&self) -> &str {
        match self {
            Self::System(_) => "system",
            Self::Developer(_) => "developer",
            Self::User(_) => "user",
            Self::Assistant(_) => "assistant",
            Self::Tool(_) => "tool",
            Self::Function(_) => "function",
            Self::Other { role, .. } => role,
        }
    }

    /// The participant name, if any (the function's name for function messages).
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::System(message) | Self::Developer(message) | Self::User(message) => message.name.as_deref(),
            Self::Assistant(message) => message.name.as_deref(),
            Self::Function(message) => Some(&message.name),
            Self::Other { body, .. } => body.get("name").and_then(Value::as_str),
            Self::Tool(_) => None,
        }
    }

    /// The message's content, if it has one this crate can type.
    #[must_use]
    pub fn content(&self) -> Option<&MessageContent> {
        match self {
            Self::System(message) | Self::Developer(message) | Self::User(message) => Some(&message.content),
            Self::Assistant(message) => message.content.as_ref(),
            Self::Tool(message) => Some(&message.content),
            Self::Function(_) | Self::Other { .. } => None,
        }
    }

    /// The text of the message: the content string, or its text parts
    /// concatenated. `None` when there is no text at all (no content, or only
    /// images).
    #[must_use]
    pub fn text(&self) -> Option<String> {
        match self {
            Self::Function(message) => message.content.clone(),
            Self::Other { body, .. } => body.get("content").and_then(text_of_value),
            _ => self.content().and_then(MessageContent::text),
        }
    }

    /// The tool calls of an assistant message; empty for every other message.
    #[must_use]
    pub fn tool_calls(&self) -> &[ToolCall] {
        match self {
            Self::Assistant(message) => message.tool_calls.as_deref().unwrap_or_default(),
            _ => &[],
        }
    }

    /// The call a tool message answers.
    #[must_use]
    pub fn tool_call_id(&self) -> Option<&str> {
        match self {
            Self::Tool(message) => Some(&message.tool_call_id),
            Self::Other { body, .. } => body.get("tool_call_id").and_then(Value::as_str),
            _ => None,
        }
    }
}

/// The text of an untyped `content` value: a string, or the `text` of parts.
fn text_of_value(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Array(parts) => {
            let texts: Vec<&str> = parts
                .iter()
                .filter(|part| part.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|part| part.get("text").and_then(Value::as_str))
                .collect();
            if texts.is_empty() { None } else { Some(texts.concat()) }
        }
        _ => None,
    }
}

impl Serialize for ChatMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Tagged<'a, T> {
            role: &'a str,
            #[serde(flatten)]
            body: &'a T,
        }
        let role = self.role();
        match self {
            Self::System(body) | Self::Developer(body) | Self::User(body) => {
                Tagged { role, body }.serialize(serializer)
            }
            Self::Assistant(body) => Tagged { role, body }.serialize(serializer),
            Self::Tool(body) => Tagged { role, body }.serialize(serializer),
            Self::Function(body) => Tagged { role, body }.serialize(serializer),
            Self::Other { role, body } => {
                let mut map = serializer.serialize_map(None)?;
                map.serialize_entry("role", role)?;
                for (key, value) in body.iter().filter(|(key, _)| key.as_str() != "role") {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for ChatMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut body = Map::<String, Value>::deserialize(deserializer)?;
        let role = match body.remove("role") {
            Some(Value::String(role)) => role,
            Some(_) => return Err(de::Error::custom("message `role` must be a string")),
            None => return Err(de::Error::missing_field("role")),
        };
        Ok(match role.as_str() {
            "system" => Self::System(from_body(&role, body)?),
            "developer" => Self::Developer(from_body(&role, body)?),
            "user" => Self::User(from_body(&role, body)?),
            "assistant" => Self::Assistant(from_body(&role, body)?),
            "tool" => Self::Tool(from_body(&role, body)?),
            "function" => Self::Function(from_body(&role, body)?),
            _ => Self::Other { role, body },
        })
    }
}

/// Parses the fields of a tagged object whose tag was already read.
fn from_body<T: DeserializeOwned, E: de::Error>(tag: &str, body: Map<String, Value>) -> Result<T, E> {
    serde_json::from_value(Value::Object(body)).map_err(|error| E::custom(format_args!("invalid `{tag}`: {error}")))
}

/// The body of a system, developer or user message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentMessage {
    /// Text, or parts (text and, for user messages, images).
    pub content: MessageContent,
    /// An optional participant name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ContentMessage {
    /// A message body with this content and no name.
    #[must_use]
    pub fn new(content: impl Into<MessageContent>) -> Self {
        Self { content: content.into(), name: None, extra: Map::new() }
    }
}

/// The body of an assistant message sent back to the model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AssistantMessage {
    /// The text; absent when the answer was only tool calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<MessageContent>,
    /// The model's refusal, if it refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// An optional participant name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The tool calls the model made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// The function the model called (deprecated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCall>,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The body of a tool message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolMessage {
    /// The id of the tool call this answers.
    pub tool_call_id: String,
    /// The tool's output.
    pub content: MessageContent,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The body of a function message (deprecated `functions` API).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionMessage {
    /// The function's name.
    pub name: String,
    /// The function's output; the field is required, so `None` is sent as `null`.
    #[serde(default)]
    pub content: Option<String>,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Message content: a string, or a list of parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MessageContent {
    /// Plain text.
    Text(String),
    /// Text, image and refusal parts.
    Parts(Vec<ContentPart>),
}

impl MessageContent {
    /// The text: the string itself, or the text parts concatenated; `None`
    /// when there are parts but none is text.
    #[must_use]
    pub fn text(&self) -> Option<String> {
        match self {
            Self::Text(text) => Some(text.clone()),
            Self::Parts(parts) => {
                let texts: Vec<&str> = parts.iter().filter_map(ContentPart::as_text).collect();
                if texts.is_empty() { None } else { Some(texts.concat()) }
            }
        }
    }

    /// The string, when the content is plain text.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Text(text) => Some(text),
            Self::Parts(_) => None,
        }
    }
}

impl From<&str> for MessageContent {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

impl From<String> for MessageContent {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl From<&String> for MessageContent {
    fn from(text: &String) -> Self {
        Self::Text(text.clone())
    }
}

impl From<Vec<ContentPart>> for MessageContent {
    fn from(parts: Vec<ContentPart>) -> Self {
        Self::Parts(parts)
    }
}

/// One part of a message's content, tagged by `type` on the wire.
#[derive(Debug, Clone, PartialEq)]
pub enum ContentPart {
    /// `{"type": "text", "text": …}`.
    Text {
        /// The text.
        text: String,
    },
    /// `{"type": "image_url", "image_url": {"url": …, "detail": …}}`.
    ImageUrl {
        /// The image's address or `data:` URL.
        image_url: ImageUrl,
    },
    /// `{"type": "refusal", "refusal": …}` (assistant messages).
    Refusal {
        /// The refusal text.
        refusal: String,
    },
    /// A part of a type this crate doesn't know, kept as sent.
    Other(Value),
}

impl ContentPart {
    /// A text part.
    #[must_use]
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text { text: text.into() }
    }

    /// An image part with the default detail.
    #[must_use]
    pub fn image_url(url: impl Into<String>) -> Self {
        Self::ImageUrl { image_url: ImageUrl { url: url.into(), detail: None } }
    }

    /// The text of a text part.
    #[must_use]
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text { text } => Some(text),
            _ => None,
        }
    }

    /// The part's `type` as it appears on the wire.
    #[must_use]
    pub fn kind(&self) -> Option<&str> {
        match self {
            Self::Text { .. } => Some("text"),
            Self::ImageUrl { .. } => Some("image_url"),
            Self::Refusal { .. } => Some("refusal"),
            Self::Other(value) => value.get("type").and_then(Value::as_str),
        }
    }
}

/// The image of an `image_url` part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageUrl {
    /// The image's address or `data:` URL.
    pub url: String,
    /// How closely to look; the service defaults to `auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<ImageDetail>,
}

/// The known content parts, for (de)serialisation.
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum KnownPart<T, I> {
    Text { text: T },
    ImageUrl { image_url: I },
    Refusal { refusal: T },
}

impl Serialize for ContentPart {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Text { text } => KnownPart::<&str, &ImageUrl>::Text { text }.serialize(serializer),
            Self::ImageUrl { image_url } => KnownPart::<&str, &ImageUrl>::ImageUrl { image_url }.serialize(serializer),
            Self::Refusal { refusal } => KnownPart::<&str, &ImageUrl>::Refusal { refusal }.serialize(serializer),
            Self::Other(value) => value.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for ContentPart {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let known = matches!(value.get("type").and_then(Value::as_str), Some("text" | "image_url" | "refusal"));
        if !known {
            return Ok(Self::Other(value));
        }
        let part: KnownPart<String, ImageUrl> = serde_json::from_value(value)
            .map_err(|error| de::Error::custom(format_args!("invalid content part: {error}")))?;
        Ok(match part {
            KnownPart::Text { text } => Self::Text { text },
            KnownPart::ImageUrl { image_url } => Self::ImageUrl { image_url },
            KnownPart::Refusal { refusal } => Self::Refusal { refusal },
        })
    }
}

// ---------------------------------------------------------------------------
// Tools and formats.
// ---------------------------------------------------------------------------

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    /// Always `function` today.
    #[serde(rename = "type", default)]
    pub kind: ToolType,
    /// The function's name, description and parameter schema.
    pub function: FunctionDefinition,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Tool {
    /// A function tool; `parameters` is a JSON schema of the arguments object.
    #[must_use]
    pub fn function(name: impl Into<String>, description: impl Into<String>, parameters: Value) -> Self {
        Self {
            kind: ToolType::Function,
            function: FunctionDefinition {
                name: name.into(),
                description: Some(description.into()),
                parameters,
                strict: None,
            },
            extra: Map::new(),
        }
    }

    /// Sets `strict` (the arguments must follow the schema exactly).
    #[must_use]
    pub fn strict(mut self, strict: bool) -> Self {
        self.function.strict = Some(strict);
        self
    }

    /// The function's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.function.name
    }
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionDefinition {
    /// The name the model calls it by (`a-z`, `A-Z`, `0-9`, `_`, `-`, at most 64).
    pub name: String,
    /// What it does, for the model to decide when to call it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON schema of the arguments object; `null` (not sent) means no parameters.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub parameters: Value,
    /// Whether the arguments must follow the schema exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// `tool_choice`: whether and which tool the model must call.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolChoice {
    /// `"none"`: answer with text.
    None,
    /// `"auto"`: the model decides.
    Auto,
    /// `"required"`: call at least one tool.
    Required,
    /// `{"type": "function", "function": {"name": …}}`: call this function.
    Function {
        /// The function's name.
        name: String,
    },
    /// A string this crate doesn't know, kept as sent.
    Unknown(String),
    /// An object of a shape this crate doesn't know, kept as sent.
    Other(Value),
}

impl ToolChoice {
    /// Forces a call of the named function.
    #[must_use]
    pub fn function(name: impl Into<String>) -> Self {
        Self::Function { name: name.into() }
    }
}

impl Serialize for ToolChoice {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::None => serializer.serialize_str("none"),
            Self::Auto => serializer.serialize_str("auto"),
            Self::Required => serializer.serialize_str("required"),
            Self::Function { name } => {
                NamedChoice { kind: "function", function: FunctionName { name: name.as_str() } }.serialize(serializer)
            }
            Self::Unknown(text) => serializer.serialize_str(text),
            Self::Other(value) => value.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for ToolChoice {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Ok(match value {
            Value::String(text) => match text.as_str() {
                "none" => Self::None,
                "auto" => Self::Auto,
                "required" => Self::Required,
                _ => Self::Unknown(text),
            },
            value => {
                let is_function = value.get("type").and_then(Value::as_str) == Some("function");
                let name = value.get("function").and_then(|function| function.get("name")).and_then(Value::as_str);
                match name {
                    Some(name) if is_function => Self::Function { name: name.to_owned() },
                    _ => Self::Other(value),
                }
            }
        })
    }
}

#[derive(Serialize)]
struct NamedChoice<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    function: FunctionName<'a>,
}

#[derive(Serialize)]
struct FunctionName<'a> {
    name: &'a str,
}

/// The deprecated `function_call` request field.
#[derive(Debug, Clone, PartialEq)]
pub enum FunctionCallOption {
    /// `"none"`.
    None,
    /// `"auto"`.
    Auto,
    /// `{"name": …}`: call this function.
    Named {
        /// The function's name.
        name: String,
    },
    /// Any other value, kept as sent.
    Other(Value),
}

impl Serialize for FunctionCallOption {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::None => serializer.serialize_str("none"),
            Self::Auto => serializer.serialize_str("auto"),
            Self::Named { name } => FunctionName { name }.serialize(serializer),
            Self::Other(value) => value.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for FunctionCallOption {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Ok(match value.as_str() {
            Some("none") => Self::None,
            Some("auto") => Self::Auto,
            _ => match value.get("name").and_then(Value::as_str) {
                Some(name) => Self::Named { name: name.to_owned() },
                None => Self::Other(value),
            },
        })
    }
}

/// `response_format`: what shape the answer must take.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseFormat {
    /// `{"type": "text"}`.
    Text,
    /// `{"type": "json_object"}`: any valid JSON object (say "JSON" in the prompt).
    JsonObject,
    /// `{"type": "json_schema", "json_schema": …}`: JSON following a schema.
    JsonSchema(JsonSchemaFormat),
    /// A format of a type this crate doesn't know, kept as sent.
    Other(Value),
}

impl From<JsonSchemaFormat> for ResponseFormat {
    fn from(format: JsonSchemaFormat) -> Self {
        Self::JsonSchema(format)
    }
}

/// The `json_schema` of a [`ResponseFormat::JsonSchema`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonSchemaFormat {
    /// The format's name (`a-z`, `A-Z`, `0-9`, `_`, `-`, at most 64).
    pub name: String,
    /// What the format is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON schema; `null` (not sent) if absent.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub schema: Value,
    /// Whether the output must follow the schema exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

impl JsonSchemaFormat {
    /// A named schema, `strict` unset.
    #[must_use]
    pub fn new(name: impl Into<String>, schema: Value) -> Self {
        Self { name: name.into(), description: None, schema, strict: None }
    }

    /// Sets `description`.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets `strict`.
    #[must_use]
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = Some(strict);
        self
    }
}

impl Serialize for ResponseFormat {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = match self {
            Self::Other(value) => return value.serialize(serializer),
            Self::JsonSchema(_) => serializer.serialize_map(Some(2))?,
            Self::Text | Self::JsonObject => serializer.serialize_map(Some(1))?,
        };
        match self {
            Self::Text => map.serialize_entry("type", "text")?,
            Self::JsonObject => map.serialize_entry("type", "json_object")?,
            Self::JsonSchema(format) => {
                map.serialize_entry("type", "json_schema")?;
                map.serialize_entry("json_schema", format)?;
            }
            Self::Other(_) => {}
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for ResponseFormat {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Ok(match value.get("type").and_then(Value::as_str) {
            Some("text") => Self::Text,
            Some("json_object") => Self::JsonObject,
            Some("json_schema") => match value.get("json_schema") {
                Some(format) => Self::JsonSchema(
                    JsonSchemaFormat::deserialize(format)
                        .map_err(|error| de::Error::custom(format_args!("invalid `json_schema`: {error}")))?,
                ),
                None => return Err(de::Error::missing_field("json_schema")),
            },
            _ => Self::Other(value),
        })
    }
}

// ---------------------------------------------------------------------------
// Response.
// ---------------------------------------------------------------------------

/// A chat completions response body.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChatResponse {
    /// The completion's id (`chatcmpl-…`).
    pub id: String,
    /// `chat.completion`.
    pub object: String,
    /// Unix time of creation, in seconds.
    pub created: u64,
    /// The model that answered (Azure: the model, not the deployment).
    pub model: String,
    /// The generated choices.
    pub choices: Vec<Choice>,
    /// Token counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The backend configuration that answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
    /// Azure's filter results for the prompt (older versions: `prompt_annotations`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_filter_results: Option<Vec<PromptFilterResult>>,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

deserialize_with_extra!(
    ChatResponse {
        id: "id" => or_default,
        object: "object" => or_default,
        created: "created" => or_default,
        model: "model" => or_default,
        choices: "choices" => or_default,
        usage: "usage" => opt,
        system_fingerprint: "system_fingerprint" => opt,
        prompt_filter_results: "prompt_filter_results" | "prompt_annotations" => opt,
    }
    extra: extra
);

impl ChatResponse {
    /// The choice with the lowest index (normally index 0).
    #[must_use]
    pub fn first_choice(&self) -> Option<&Choice> {
        self.choices.iter().min_by_key(|choice| choice.index)
    }

    /// The text content of the first choice.
    #[must_use]
    pub fn text(&self) -> Option<&str> {
        self.first_choice().and_then(|choice| choice.message.content.as_deref())
    }

    /// The tool calls of the first choice (empty if none).
    #[must_use]
    pub fn tool_calls(&self) -> &[ToolCall] {
        self.first_choice().and_then(|choice| choice.message.tool_calls.as_deref()).unwrap_or_default()
    }

    /// The finish reason of the first choice.
    #[must_use]
    pub fn finish_reason(&self) -> Option<&FinishReason> {
        self.first_choice().and_then(|choice| choice.finish_reason.as_ref())
    }
}

/// One generated choice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// The choice's position (0 to `n` - 1).
    #[serde(default, deserialize_with = "null_default")]
    pub index: u32,
    /// The generated message.
    #[serde(default, deserialize_with = "null_default")]
    pub message: ResponseMessage,
    /// Why generation stopped.
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
    /// Log probabilities, when requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<ChoiceLogprobs>,
    /// Azure's filter results for this choice (boxed: they are large and
    /// often absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_filter_results: Option<Box<ContentFilterResults>>,
}

/// The message of a response choice.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ResponseMessage {
    /// The author, `assistant`.
    pub role: Role,
    /// The text; `None` when the answer is only tool calls or was filtered.
    pub content: Option<String>,
    /// The model's refusal, if it refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// The tool calls the model made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// The function the model called (deprecated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCall>,
    /// Azure On Your Data context (citations, intent), untyped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

deserialize_with_extra!(
    ResponseMessage {
        role: "role" => or_default,
        content: "content" => opt,
        refusal: "refusal" => opt,
        tool_calls: "tool_calls" => opt,
        function_call: "function_call" => opt,
        context: "context" => opt,
    }
    extra: extra
);

impl ResponseMessage {
    /// The assistant message to append to the conversation for the next turn:
    /// content, refusal, tool calls and function call, without response-only
    /// fields (`context`, extras).
    #[must_use]
    pub fn into_request_message(self) -> ChatMessage {
        ChatMessage::Assistant(AssistantMessage {
            content: self.content.map(MessageContent::Text),
            refusal: self.refusal,
            name: None,
            tool_calls: self.tool_calls.filter(|calls| !calls.is_empty()),
            function_call: self.function_call,
            extra: Map::new(),
        })
    }
}

/// A tool call the model made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call's id, echoed by the tool message that answers it.
    #[serde(default, deserialize_with = "null_default")]
    pub id: String,
    /// Always `function` today.
    #[serde(rename = "type", default, deserialize_with = "null_default")]
    pub kind: ToolType,
    /// The function and its arguments.
    #[serde(default, deserialize_with = "null_default")]
    pub function: FunctionCall,
}

impl ToolCall {
    /// A function call.
    #[must_use]
    pub fn function(id: impl Into<String>, name: impl Into<String>, arguments: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            kind: ToolType::Function,
            function: FunctionCall { name: name.into(), arguments: arguments.into() },
        }
    }
}

/// A function name with its arguments as a JSON string (which may not be valid JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// The function's name.
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    /// The arguments, as the model wrote them.
    #[serde(default, deserialize_with = "null_default")]
    pub arguments: String,
}

/// The log probabilities of a choice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChoiceLogprobs {
    /// One entry per content token.
    #[serde(default)]
    pub content: Option<Vec<TokenLogprob>>,
    /// One entry per refusal token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Vec<TokenLogprob>>,
}

/// A token with its log probability and the most likely alternatives.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenLogprob {
    /// The token.
    #[serde(default, deserialize_with = "null_default")]
    pub token: String,
    /// Its log probability (`-9999.0` for very unlikely tokens).
    #[serde(default, deserialize_with = "null_default")]
    pub logprob: f64,
    /// The token's UTF-8 bytes (a character may span tokens).
    #[serde(default)]
    pub bytes: Option<Vec<u8>>,
    /// The most likely tokens at this position.
    #[serde(default, deserialize_with = "null_default")]
    pub top_logprobs: Vec<TopLogprob>,
}

/// One of the most likely tokens at a position.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TopLogprob {
    /// The token.
    #[serde(default, deserialize_with = "null_default")]
    pub token: String,
    /// Its log probability.
    #[serde(default, deserialize_with = "null_default")]
    pub logprob: f64,
    /// The token's UTF-8 bytes.
    #[serde(default)]
    pub bytes: Option<Vec<u8>>,
}

/// Token counts of a request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens in the prompt (cached ones included).
    #[serde(default, deserialize_with = "null_default")]
    pub prompt_tokens: u64,
    /// Tokens generated (reasoning ones included).
    #[serde(default, deserialize_with = "null_default")]
    pub completion_tokens: u64,
    /// Prompt plus completion.
    #[serde(default, deserialize_with = "null_default")]
    pub total_tokens: u64,
    /// A breakdown of the prompt tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    /// A breakdown of the completion tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
}

impl Usage {
    /// Counts without details.
    #[must_use]
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens.saturating_add(completion_tokens),
            ..Self::default()
        }
    }

    /// Prompt tokens served from the prompt cache (0 if not reported).
    #[must_use]
    pub fn cached_tokens(&self) -> u64 {
        self.prompt_tokens_details.as_ref().and_then(|details| details.cached_tokens).unwrap_or(0)
    }

    /// Completion tokens spent on hidden reasoning (0 if not reported).
    #[must_use]
    pub fn reasoning_tokens(&self) -> u64 {
        self.completion_tokens_details.as_ref().and_then(|details| details.reasoning_tokens).unwrap_or(0)
    }
}

/// Sums counts (saturating): a detail is present in the sum when present in
/// either side; unknown detail fields are summed when both are unsigned
/// integers, otherwise the left side's value is kept.
impl Add for Usage {
    type Output = Usage;

    fn add(mut self, other: Usage) -> Usage {
        self += other;
        self
    }
}

impl AddAssign for Usage {
    fn add_assign(&mut self, other: Usage) {
        self.prompt_tokens = self.prompt_tokens.saturating_add(other.prompt_tokens);
        self.completion_tokens = self.completion_tokens.saturating_add(other.completion_tokens);
        self.total_tokens = self.total_tokens.saturating_add(other.total_tokens);
        self.prompt_tokens_details = match (self.prompt_tokens_details.take(), other.prompt_tokens_details) {
            (Some(mut left), Some(right)) => {
                left.cached_tokens = add_counts(left.cached_tokens, right.cached_tokens);
                left.audio_tokens = add_counts(left.audio_tokens, right.audio_tokens);
                add_extra_counts(&mut left.extra, right.extra);
                Some(left)
            }
            (left, right) => left.or(right),
        };
        self.completion_tokens_details = match (self.completion_tokens_details.take(), other.completion_tokens_details)
        {
            (Some(mut left), Some(right)) => {
                left.reasoning_tokens = add_counts(left.reasoning_tokens, right.reasoning_tokens);
                left.audio_tokens = add_counts(left.audio_tokens, right.audio_tokens);
                left.accepted_prediction_tokens =
                    add_counts(left.accepted_prediction_tokens, right.accepted_prediction_tokens);
                left.rejected_prediction_tokens =
                    add_counts(left.rejected_prediction_tokens, right.rejected_prediction_tokens);
                add_extra_counts(&mut left.extra, right.extra);
                Some(left)
            }
            (left, right) => left.or(right),
        };
    }
}

impl<'a> std::iter::Sum<&'a Usage> for Usage {
    fn sum<I: Iterator<Item = &'a Usage>>(iter: I) -> Usage {
        iter.fold(Usage::default(), |total, usage| total + usage.clone())
    }
}

impl std::iter::Sum for Usage {
    fn sum<I: Iterator<Item = Usage>>(iter: I) -> Usage {
        iter.fold(Usage::default(), |total, usage| total + usage)
    }
}

fn add_counts(left: Option<u64>, right: Option<u64>) -> Option<u64> {
    match (left, right) {
        (Some(left), Some(right)) => Some(left.saturating_add(right)),
        (left, right) => left.or(right),
    }
}

fn add_extra_counts(left: &mut Map<String, Value>, right: Map<String, Value>) {
    for (key, value) in right {
        match (left.get_mut(&key), value.as_u64()) {
            (None, _) => {
                left.insert(key, value);
            }
            (Some(existing), Some(addend)) => {
                if let Some(count) = existing.as_u64() {
                    *existing = Value::from(count.saturating_add(addend));
                }
            }
            (Some(_), None) => {}
        }
    }
}

/// A breakdown of prompt tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PromptTokensDetails {
    /// Tokens served from the prompt cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
    /// Audio input tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio_tokens: Option<u64>,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

deserialize_with_extra!(
    PromptTokensDetails {
        cached_tokens: "cached_tokens" => opt,
        audio_tokens: "audio_tokens" => opt,
    }
    extra: extra
);

/// A breakdown of completion tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CompletionTokensDetails {
    /// Tokens spent on hidden reasoning (reasoning models).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
    /// Audio output tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio_tokens: Option<u64>,
    /// Predicted-output tokens that appeared in the completion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted_prediction_tokens: Option<u64>,
    /// Predicted-output tokens that did not (billed all the same).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected_prediction_tokens: Option<u64>,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

deserialize_with_extra!(
    CompletionTokensDetails {
        reasoning_tokens: "reasoning_tokens" => opt,
        audio_tokens: "audio_tokens" => opt,
        accepted_prediction_tokens: "accepted_prediction_tokens" => opt,
        rejected_prediction_tokens: "rejected_prediction_tokens" => opt,
    }
    extra: extra
);

// ---------------------------------------------------------------------------
// Streaming.
// ---------------------------------------------------------------------------

/// One streamed chunk (`chat.completion.chunk`), the JSON of one SSE `data:` line.
///
/// Azure's first chunk has `"choices": []`, empty `id`, `model` and `object`,
/// `"created": 0` and carries [`prompt_filter_results`](Self::prompt_filter_results).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChatChunk {
    /// The completion's id, the same in every chunk (empty in Azure's annotation chunks).
    pub id: String,
    /// `chat.completion.chunk` (empty in Azure's annotation chunks).
    pub object: String,
    /// Unix time of creation, in seconds (0 in Azure's annotation chunks).
    pub created: u64,
    /// The model that answers.
    pub model: String,
    /// The choices this chunk adds to; often empty.
    pub choices: Vec<ChunkChoice>,
    /// Token counts: only on the last chunk, with `include_usage`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The backend configuration that answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
    /// Azure's filter results for the prompt (older versions: `prompt_annotations`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_filter_results: Option<Vec<PromptFilterResult>>,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

deserialize_with_extra!(
    ChatChunk {
        id: "id" => or_default,
        object: "object" => or_default,
        created: "created" => or_default,
        model: "model" => or_default,
        choices: "choices" => or_default,
        usage: "usage" => opt,
        system_fingerprint: "system_fingerprint" => opt,
        prompt_filter_results: "prompt_filter_results" | "prompt_annotations" => opt,
    }
    extra: extra
);

impl ChatChunk {
    /// Decodes one chunk's JSON (the text of an SSE `data:` line).
    ///
    /// The result, value or error, is the same as `serde_json::from_str`'s;
    /// it is faster for the shapes Azure and OpenAI stream, which are read
    /// without serde's machinery (content-filter verdicts on every chunk cost
    /// more through serde than the rest of the chunk).
    ///
    /// ```
    /// use aoai_core::chat::ChatChunk;
    ///
    /// let chunk = ChatChunk::from_json(
    ///     r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}}}]}"#,
    /// )?;
    /// assert_eq!(chunk.delta_text(), Some("Hi"));
    /// assert!(!chunk.choices[0].content_filter_results.as_ref().unwrap().is_filtered());
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn from_json(text: &str) -> serde_json::Result<Self> {
        ChunkDecoder::new().decode(text)
    }

    /// The content fragment of the first choice, if this chunk has one.
    #[must_use]
    pub fn delta_text(&self) -> Option<&str> {
        self.choices
            .iter()
            .min_by_key(|choice| choice.index)
            .and_then(|choice| choice.delta.as_ref())
            .and_then(|delta| delta.content.as_deref())
    }
}

/// Decodes the chunks of one stream: [`ChatChunk::from_json`] that
/// remembers the last content-filter results it read.
///
/// With Azure's default content filter every content chunk carries filter
/// results, nearly always the same text; a decoder that has read them once
/// clones them when the same text comes again instead of reading it anew.
/// The results are the same as `serde_json::from_str`'s, chunk by chunk.
/// [`ChatStream`](crate::stream::ChatStream) uses one per stream.
///
/// ```
/// use aoai_core::chat::ChunkDecoder;
///
/// let mut decoder = ChunkDecoder::new();
/// for word in ["Hello", " world"] {
///     let text = format!(
///         r#"{{"id":"c1","choices":[{{"index":0,"delta":{{"content":"{word}"}},"content_filter_results":{{"hate":{{"filtered":false,"severity":"safe"}}}}}}]}}"#
///     );
///     let chunk = decoder.decode(&text)?;
///     assert_eq!(chunk.delta_text(), Some(word));
/// }
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Default, Clone)]
pub struct ChunkDecoder {
    memo: crate::chunk_json::Memo,
}

impl ChunkDecoder {
    /// A decoder with nothing remembered.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes one chunk's JSON; the same value or error as `serde_json::from_str`.
    pub fn decode(&mut self, text: &str) -> serde_json::Result<ChatChunk> {
        match crate::chunk_json::decode(text, &mut self.memo) {
            Some(chunk) => Ok(chunk),
            None => serde_json::from_str(text),
        }
    }
}

/// What one chunk adds to one choice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice {
    /// The choice's position.
    #[serde(default, deserialize_with = "null_default")]
    pub index: u32,
    /// New content; absent in Azure's filter-annotation chunks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<Delta>,
    /// Set on the choice's last content chunk.
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
    /// Log probabilities of this chunk's tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<ChoiceLogprobs>,
    /// Azure's filter results for the text the annotation covers (boxed:
    /// they are large, and moving them with every chunk costs time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_filter_results: Option<Box<ContentFilterResults>>,
    /// With the asynchronous filter: which part of the text the annotation covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_filter_offsets: Option<ContentFilterOffsets>,
}

/// The span of completion text an asynchronous-filter annotation covers, in characters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentFilterOffsets {
    /// Everything before this offset has been checked; it never decreases.
    #[serde(default, deserialize_with = "null_default")]
    pub check_offset: u64,
    /// Where the annotated span starts.
    #[serde(default, deserialize_with = "null_default")]
    pub start_offset: u64,
    /// Where the annotated span ends.
    #[serde(default, deserialize_with = "null_default")]
    pub end_offset: u64,
}

/// A fragment of a choice's message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    /// The author; only on the first fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// A piece of text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// A piece of the refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// Pieces of tool calls, each with the call's index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
    /// A piece of a function call (deprecated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCallDelta>,
}

/// A piece of a tool call: `id`, `type` and the function name come in the
/// first piece of each call, arguments in pieces.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCallDelta {
    /// Which tool call of the choice this belongs to.
    #[serde(default, deserialize_with = "null_default")]
    pub index: u32,
    /// The call's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `function`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ToolType>,
    /// Name and a piece of the arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionCallDelta>,
}

/// A piece of a function call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionCallDelta {
    /// The function's name (first piece).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A piece of the arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

// ---------------------------------------------------------------------------
// Accumulator.
// ---------------------------------------------------------------------------

/// Rebuilds a [`ChatResponse`] from streamed [`ChatChunk`]s.
///
/// Per choice index it concatenates content and refusal, assembles tool calls
/// per tool-call index (id, type and name from the first piece that has them,
/// arguments concatenated), appends log probabilities, and keeps the finish
/// reason. The response's `id`, `model`, `created` and `system_fingerprint`
/// come from the first chunk with a non-empty value; `usage` from the last
/// chunk that has one.
///
/// Filter annotations may arrive in any chunk, also after the finish chunk.
/// They are merged, never overwritten by a later, cleaner verdict: per
/// category `filtered` and `detected` are or-ed, the highest severity is kept,
/// blocklist hits and spans are collected; categories this crate doesn't know
/// take the latest value.
///
/// Pushing never panics, whatever the order of chunks. A tool-call piece whose
/// `id` differs from the id already at its index starts a new call, which
/// tolerates servers that omit the index.
#[derive(Debug, Clone, Default)]
pub struct ChatAccumulator {
    id: String,
    created: u64,
    model: String,
    system_fingerprint: Option<String>,
    prompt_filter_results: Option<Vec<PromptFilterResult>>,
    usage: Option<Usage>,
    choices: BTreeMap<u32, ChoiceState>,
}

#[derive(Debug, Clone, Default)]
struct ChoiceState {
    role: Option<Role>,
    content: Option<String>,
    refusal: Option<String>,
    tool_calls: Vec<ToolCallState>,
    function_call: Option<FunctionCall>,
    finish_reason: Option<FinishReason>,
    logprobs: Option<ChoiceLogprobs>,
    content_filter_results: Option<Box<ContentFilterResults>>,
}

#[derive(Debug, Clone)]
struct ToolCallState {
    wire_index: u32,
    id: String,
    kind: Option<ToolType>,
    name: String,
    arguments: String,
}

impl ChatAccumulator {
    /// An empty accumulator.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one chunk.
    pub fn push(&mut self, chunk: &ChatChunk) {
        if self.id.is_empty() && !chunk.id.is_empty() {
            self.id.clone_from(&chunk.id);
        }
        if self.model.is_empty() && !chunk.model.is_empty() {
            self.model.clone_from(&chunk.model);
        }
        if self.created == 0 {
            self.created = chunk.created;
        }
        if self.system_fingerprint.is_none() {
            self.system_fingerprint = chunk.system_fingerprint.clone().filter(|fingerprint| !fingerprint.is_empty());
        }
        if let Some(results) = &chunk.prompt_filter_results {
            let merged = self.prompt_filter_results.get_or_insert_with(Vec::new);
            for result in results {
                match merged.iter_mut().find(|known| known.prompt_index == result.prompt_index) {
                    Some(known) => {
                        merge_optional_filter(&mut known.content_filter_results, &result.content_filter_results);
                    }
                    None => merged.push(result.clone()),
                }
            }
        }
        if let Some(usage) = &chunk.usage {
            self.usage = Some(usage.clone());
        }
        for choice in &chunk.choices {
            self.choices.entry(choice.index).or_default().push(choice);
        }
    }

    /// The text received so far for a choice.
    #[must_use]
    pub fn current_text(&self, choice_index: u32) -> Option<&str> {
        self.choices.get(&choice_index).and_then(|choice| choice.content.as_deref())
    }

    /// The finish reason received so far for a choice.
    #[must_use]
    pub fn finish_reason(&self, choice_index: u32) -> Option<&FinishReason> {
        self.choices.get(&choice_index).and_then(|choice| choice.finish_reason.as_ref())
    }

    /// The usage received so far (the last usage chunk).
    #[must_use]
    pub fn usage(&self) -> Option<&Usage> {
        self.usage.as_ref()
    }

    /// The response the chunks add up to, with `object: "chat.completion"`
    /// and choices in index order.
    #[must_use]
    pub fn finish(self) -> ChatResponse {
        ChatResponse {
            id: self.id,
            object: "chat.completion".to_owned(),
            created: self.created,
            model: self.model,
            choices: self.choices.into_iter().map(|(index, state)| state.finish(index)).collect(),
            usage: self.usage,
            system_fingerprint: self.system_fingerprint,
            prompt_filter_results: self.prompt_filter_results,
            extra: Map::new(),
        }
    }
}

impl ChoiceState {
    fn push(&mut self, choice: &ChunkChoice) {
        if let Some(delta) = &choice.delta {
            if self.role.is_none() {
                self.role.clone_from(&delta.role);
            }
            if let Some(text) = &delta.content {
                self.content.get_or_insert_with(String::new).push_str(text);
            }
            if let Some(text) = &delta.refusal {
                self.refusal.get_or_insert_with(String::new).push_str(text);
            }
            for fragment in delta.tool_calls.iter().flatten() {
                self.push_tool_call(fragment);
            }
            if let Some(fragment) = &delta.function_call {
                let call = self.function_call.get_or_insert_with(FunctionCall::default);
                if let Some(name) = fragment.name.as_deref().filter(|name| !name.is_empty())
                    && call.name.is_empty()
                {
                    call.name = name.to_owned();
                }
                if let Some(arguments) = &fragment.arguments {
                    call.arguments.push_str(arguments);
                }
            }
        }
        if let Some(reason) = &choice.finish_reason {
            self.finish_reason = Some(reason.clone());
        }
        if let Some(logprobs) = &choice.logprobs {
            let merged = self.logprobs.get_or_insert_with(ChoiceLogprobs::default);
            if let Some(tokens) = &logprobs.content {
                merged.content.get_or_insert_with(Vec::new).extend(tokens.iter().cloned());
            }
            if let Some(tokens) = &logprobs.refusal {
                merged.refusal.get_or_insert_with(Vec::new).extend(tokens.iter().cloned());
            }
        }
        merge_optional_filter(&mut self.content_filter_results, &choice.content_filter_results);
    }

    fn push_tool_call(&mut self, fragment: &ToolCallDelta) {
        let fragment_id = fragment.id.as_deref().filter(|id| !id.is_empty());
        let position = self.tool_calls.iter().rposition(|call| call.wire_index == fragment.index);
        let position = match (position, fragment_id) {
            (Some(position), Some(id))
                if self.tool_calls.get(position).is_some_and(|call| !call.id.is_empty() && call.id != id) =>
            {
                None
            }
            (position, _) => position,
        };
        let call = match position.and_then(|position| self.tool_calls.get_mut(position)) {
            Some(call) => call,
            None => {
                self.tool_calls.push(ToolCallState {
                    wire_index: fragment.index,
                    id: String::new(),
                    kind: None,
                    name: String::new(),
                    arguments: String::new(),
                });
                match self.tool_calls.last_mut() {
                    Some(call) => call,
                    None => return,
                }
            }
        };
        if call.id.is_empty()
            && let Some(id) = fragment_id
        {
            call.id = id.to_owned();
        }
        if call.kind.is_none() {
            call.kind.clone_from(&fragment.kind);
        }
        if let Some(function) = &fragment.function {
            if let Some(name) = function.name.as_deref().filter(|name| !name.is_empty())
                && call.name.is_empty()
            {
                call.name = name.to_owned();
            }
            if let Some(arguments) = &function.arguments {
                call.arguments.push_str(arguments);
            }
        }
    }

    fn finish(mut self, index: u32) -> Choice {
        // Stable: calls without a usable index keep their arrival order.
        self.tool_calls.sort_by_key(|call| call.wire_index);
        let tool_calls: Vec<ToolCall> = self
            .tool_calls
            .into_iter()
            .map(|call| ToolCall {
                id: call.id,
                kind: call.kind.unwrap_or_default(),
                function: FunctionCall { name: call.name, arguments: call.arguments },
            })
            .collect();
        let has_calls = !tool_calls.is_empty() || self.function_call.is_some();
        // A tool-call answer streams `"content": ""` first; the non-streamed answer says null.
        let content = self.content.filter(|text| !(text.is_empty() && has_calls));
        Choice {
            index,
            message: ResponseMessage {
                role: self.role.unwrap_or_default(),
                content,
                refusal: self.refusal,
                tool_calls: if tool_calls.is_empty() { None } else { Some(tool_calls) },
                function_call: self.function_call,
                context: None,
                extra: Map::new(),
            },
            finish_reason: self.finish_reason,
            logprobs: self.logprobs,
            content_filter_results: self.content_filter_results,
        }
    }
}

// ---------------------------------------------------------------------------
// Filter-result merging (streamed annotations).
// ---------------------------------------------------------------------------

fn merge_optional_filter<F>(into: &mut Option<F>, from: &Option<F>)
where
    F: BorrowMut<ContentFilterResults> + Clone,
{
    let Some(from) = from else { return };
    match into {
        Some(into) => merge_filter(into.borrow_mut(), from.borrow()),
        None => *into = Some(from.clone()),
    }
}

fn merge_filter(into: &mut ContentFilterResults, from: &ContentFilterResults) {
    merge_severity(&mut into.hate, &from.hate);
    merge_severity(&mut into.sexual, &from.sexual);
    merge_severity(&mut into.violence, &from.violence);
    merge_severity(&mut into.self_harm, &from.self_harm);
    merge_detected(&mut into.profanity, &from.profanity);
    merge_detected(&mut into.jailbreak, &from.jailbreak);
    merge_detected(&mut into.indirect_attack, &from.indirect_attack);
    merge_detected(&mut into.protected_material_text, &from.protected_material_text);
    merge_detected(&mut into.protected_material_code, &from.protected_material_code);
    merge_detected(&mut into.ungrounded_material, &from.ungrounded_material);
    merge_blocklists(&mut into.custom_blocklists, &from.custom_blocklists);
    if into.error.is_none() {
        into.error.clone_from(&from.error);
    }
    for (category, value) in &from.other {
        into.other.insert(category.clone(), value.clone());
    }
}

fn merge_severity(into: &mut Option<SeverityResult>, from: &Option<SeverityResult>) {
    let Some(from) = from else { return };
    let Some(into) = into.as_mut() else {
        *into = Some(from.clone());
        return;
    };
    into.filtered |= from.filtered;
    let worse = match (&into.severity, &from.severity) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(known), Some(new)) => new.rank() > known.rank(),
    };
    if worse {
        into.severity.clone_from(&from.severity);
    }
}

fn merge_detected(into: &mut Option<DetectedResult>, from: &Option<DetectedResult>) {
    let Some(from) = from else { return };
    let Some(into) = into.as_mut() else {
        *into = Some(from.clone());
        return;
    };
    into.filtered |= from.filtered;
    into.detected |= from.detected;
    if into.citation.is_none() {
        into.citation.clone_from(&from.citation);
    }
    if let Some(spans) = &from.details {
        let known = into.details.get_or_insert_with(Vec::new);
        for span in spans {
            if !known.contains(span) {
                known.push(span.clone());
            }
        }
    }
}

fn merge_blocklists(into: &mut Option<BlocklistResults>, from: &Option<BlocklistResults>) {
    let Some(from) = from else { return };
    let Some(into) = into.as_mut() else {
        *into = Some(from.clone());
        return;
    };
    into.filtered |= from.filtered;
    for hit in &from.details {
        match into.details.iter_mut().find(|known| known.id == hit.id) {
            Some(known) => known.filtered |= hit.filtered,
            None => into.details.push(hit.clone()),
        }
    }
}

// ---------------------------------------------------------------------------
// Serde helpers.
// ---------------------------------------------------------------------------

/// Deserialises `null` as the type's default (real servers send `null` where
/// the spec promises a value).
pub(crate) fn null_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}
