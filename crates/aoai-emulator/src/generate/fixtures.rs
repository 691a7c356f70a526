//! Scripted mode: canned replies chosen by request matchers, from a TOML or
//! JSON file.
//!
//! Fixtures are tried in file order; the first whose every set condition
//! holds answers. A reply is an answer (content and/or tool calls, optional
//! finish reason) or an HTTP error (status, body, headers).
//!
//! ```toml
//! [[fixtures]]
//! name = "weather call"
//! match = { deployment = "gpt-4o", last_user_contains = "weather", has_tool_result = false }
//! reply = { tool_calls = [{ name = "get_weather", arguments = { city = "Paris" } }] }
//!
//! [[fixtures]]
//! name = "weather answer"
//! match = { tool_result_contains = "sunny" }
//! reply = { content = "It is sunny in Paris." }
//!
//! [[fixtures]]
//! name = "refused"
//! match = { last_user_contains = "lock picking" }
//! reply = { refusal = "I can't help with that." }
//!
//! [[fixtures]]
//! name = "overloaded"
//! match = { last_user_equals = "trigger 503" }
//! reply = { error = { status = 503, body = { error = { code = "ServiceUnavailable", message = "Try later." } }, headers = { "retry-after" = "1" } } }
//! ```
//!
//! JSON files hold the same shape (`{"fixtures": [...]}`, or just the
//! array). Matching:
//!
//! - `deployment`: equals the deployment name;
//! - `last_user_contains` / `any_message_contains` / `system_contains` /
//!   `tool_result_contains`: a substring, ignoring case, of the last user
//!   message / any message / any system or developer message / any tool
//!   result that ends the conversation;
//! - `last_user_equals`: the last user message, ignoring surrounding
//!   whitespace;
//! - `has_tool_result`: whether the conversation ends with tool results;
//! - `has_tools`: whether the request offers tools;
//! - `tool_available`: the request offers a tool of this name.
//!
//! Unknown keys are errors, so a typo never silently matches everything.
//! A fixture answer still honours `n`, `stop` and `max_tokens`, and its
//! usage is counted with the real tokenizer. A `refusal` is sent as
//! `message.refusal` (streamed as `refusal` deltas), with or without content.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use aoai_core::chat::{
    ChatMessage, ChatRequest, ChatResponse, Choice, FinishReason, ResponseMessage, Role, ToolCall, Usage,
};
use aoai_core::tokens::Tokenizer;
use fastrand::Rng;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::ModelInfo;
use super::chat::{self, Conversation};
use super::util::{alphanumeric, derive};

/// A set of scripted replies.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fixtures {
    fixtures: Vec<Fixture>,
}

/// One matcher with its reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Fixture {
    /// A label for logs and errors.
    pub name: Option<String>,
    /// When the fixture answers.
    pub matcher: FixtureMatcher,
    /// What it answers.
    pub reply: FixtureReply,
}

/// Conditions on a request; unset conditions always hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureMatcher {
    /// The deployment name, exactly.
    #[serde(default)]
    pub deployment: Option<String>,
    /// A substring of the last user message, ignoring case.
    #[serde(default)]
    pub last_user_contains: Option<String>,
    /// The last user message, ignoring surrounding whitespace.
    #[serde(default)]
    pub last_user_equals: Option<String>,
    /// A substring of any message, ignoring case.
    #[serde(default)]
    pub any_message_contains: Option<String>,
    /// A substring of any system or developer message, ignoring case.
    #[serde(default)]
    pub system_contains: Option<String>,
    /// Whether the conversation ends with tool results.
    #[serde(default)]
    pub has_tool_result: Option<bool>,
    /// A substring of a tool result that ends the conversation, ignoring case.
    #[serde(default)]
    pub tool_result_contains: Option<String>,
    /// Whether the request offers tools.
    #[serde(default)]
    pub has_tools: Option<bool>,
    /// The name of a tool the request offers.
    #[serde(default)]
    pub tool_available: Option<String>,
}

impl FixtureMatcher {
    /// Whether every set condition holds for this request to `deployment`.
    #[must_use]
    pub fn matches(&self, request: &ChatRequest, deployment: &str) -> bool {
        if self.deployment.as_deref().is_some_and(|expected| expected != deployment) {
            return false;
        }
        let conversation = Conversation::of(&request.messages);
        let contains = |haystack: &str, needle: &str| haystack.to_lowercase().contains(&needle.to_lowercase());
        if let Some(needle) = &self.last_user_contains
            && !contains(&conversation.last_user, needle)
        {
            return false;
        }
        if let Some(expected) = &self.last_user_equals
            && conversation.last_user.trim() != expected.trim()
        {
            return false;
        }
        if let Some(needle) = &self.any_message_contains
            && !request.messages.iter().filter_map(ChatMessage::text).any(|text| contains(&text, needle))
        {
            return false;
        }
        if let Some(needle) = &self.system_contains {
            let found = request
                .messages
                .iter()
                .filter(|message| matches!(message, ChatMessage::System(_) | ChatMessage::Developer(_)))
                .filter_map(ChatMessage::text)
                .any(|text| contains(&text, needle));
            if !found {
                return false;
            }
        }
        if self.has_tool_result.is_some_and(|expected| expected == conversation.tool_results.is_empty()) {
            return false;
        }
        if let Some(needle) = &self.tool_result_contains
            && !conversation.tool_results.iter().any(|result| contains(&result.content, needle))
        {
            return false;
        }
        let tools = request.tools.as_deref().unwrap_or_default();
        if self.has_tools.is_some_and(|expected| expected == tools.is_empty()) {
            return false;
        }
        if let Some(name) = &self.tool_available
            && !tools.iter().any(|tool| tool.function.name == *name)
        {
            return false;
        }
        true
    }
}

/// What a fixture answers.
#[derive(Debug, Clone, PartialEq)]
pub enum FixtureReply {
    /// A completion.
    Answer(FixtureAnswer),
    /// An HTTP error instead of a completion.
    Error(FixtureError),
}

/// A canned completion.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FixtureAnswer {
    /// The text (`None` with tool calls only).
    pub content: Option<String>,
    /// A refusal (`message.refusal`), as structured outputs give one.
    pub refusal: Option<String>,
    /// Tool calls, in order.
    pub tool_calls: Vec<FixtureToolCall>,
    /// The finish reason; default `tool_calls` with calls, else `stop`
    /// (`length` when `max_tokens` cuts the content).
    pub finish_reason: Option<FinishReason>,
}

/// A canned tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixtureToolCall {
    /// The call id; default `call_` and 24 characters derived from the request.
    pub id: Option<String>,
    /// The function's name.
    pub name: String,
    /// The arguments, as JSON text.
    pub arguments: String,
}

/// A canned HTTP error.
#[derive(Debug, Clone, PartialEq)]
pub struct FixtureError {
    /// The status code.
    pub status: u16,
    /// The body: an object or array is sent as JSON, a string as is.
    pub body: Value,
    /// Extra response headers (`retry-after`, …).
    pub headers: BTreeMap<String, String>,
}

impl FixtureAnswer {
    /// The chat response for `request`: `n` identical choices, `stop` and
    /// `max_tokens` applied to the content, usage counted with the
    /// tokenizer of `info.model`, the id derived from the request and
    /// `created`.
    #[must_use]
    pub fn to_response(&self, request: &ChatRequest, info: &ModelInfo<'_>, created: u64) -> ChatResponse {
        let tokenizer = Tokenizer::for_model(info.model);
        let seed = chat::request_seed(request);
        let limit = chat::output_limit(request);
        let stops = chat::stop_sequences(request);
        let mut rng = Rng::with_seed(derive(seed, 0x0f1c_70e5));
        let tool_calls: Vec<ToolCall> = self
            .tool_calls
            .iter()
            .map(|call| {
                let id = call.id.clone().unwrap_or_else(|| format!("call_{}", alphanumeric(&mut rng, 24)));
                ToolCall::function(id, call.name.clone(), call.arguments.clone())
            })
            .collect();
        let call_tokens: usize = tool_calls
            .iter()
            .map(|call| tokenizer.count(&call.function.name) + tokenizer.count(&call.function.arguments))
            .sum();
        let (content, content_tokens, cut) = match &self.content {
            Some(text) => {
                let finished = chat::finish_text(text.clone(), None, limit, &stops, &tokenizer);
                let cut = finished.reason == FinishReason::Length;
                (finished.message.content, finished.tokens, cut)
            }
            None => (None, 0, false),
        };
        let reason = match (&self.finish_reason, cut) {
            (_, true) => FinishReason::Length,
            (Some(reason), false) => reason.clone(),
            (None, false) if !tool_calls.is_empty() => FinishReason::ToolCalls,
            (None, false) => FinishReason::Stop,
        };
        let choices: u32 = request.n.unwrap_or(1).max(1);
        let message = ResponseMessage {
            role: Role::Assistant,
            content,
            refusal: self.refusal.clone(),
            tool_calls: if tool_calls.is_empty() { None } else { Some(tool_calls) },
            function_call: None,
            context: None,
            extra: Map::new(),
        };
        let completion_tokens = (call_tokens + content_tokens) as u64 * u64::from(choices);
        ChatResponse {
            id: chat::completion_id(seed, created),
            object: "chat.completion".to_owned(),
            created,
            model: info.model.to_owned(),
            choices: (0..choices)
                .map(|index| Choice {
                    index,
                    message: message.clone(),
                    finish_reason: Some(reason.clone()),
                    logprobs: None,
                    content_filter_results: None,
                })
                .collect(),
            usage: Some(Usage::new(chat::prompt_tokens(&tokenizer, request) as u64, completion_tokens)),
            system_fingerprint: Some(chat::system_fingerprint(info.model)),
            prompt_filter_results: None,
            extra: Map::new(),
        }
    }
}

/// A fixtures file that could not be read or understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixturesError {
    message: String,
}

impl FixturesError {
    fn new(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }

    /// What is wrong, with the parser's position when there is one.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for FixturesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FixturesError {}

impl Fixtures {
    /// Fixtures from code.
    #[must_use]
    pub fn new(fixtures: Vec<Fixture>) -> Self {
        Self { fixtures }
    }

    /// Reads a fixtures file: JSON when the name ends in `.json`, else TOML.
    ///
    /// # Errors
    ///
    /// [`FixturesError`] when the file cannot be read or is not a valid
    /// fixtures document.
    pub fn load(path: impl AsRef<Path>) -> Result<Fixtures, FixturesError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| FixturesError::new(error.to_string()))?;
        let is_json = path.extension().is_some_and(|extension| extension.eq_ignore_ascii_case("json"));
        if is_json { Self::from_json_str(&text) } else { Self::from_toml_str(&text) }
    }

    /// Parses a TOML fixtures document.
    ///
    /// # Errors
    ///
    /// [`FixturesError`] when the text is not a valid fixtures document.
    pub fn from_toml_str(text: &str) -> Result<Fixtures, FixturesError> {
        let file: FileRoot = toml::from_str(text).map_err(|error| FixturesError::new(error.to_string()))?;
        Self::from_file(file.fixtures)
    }

    /// Parses a JSON fixtures document (`{"fixtures": [...]}` or `[...]`).
    ///
    /// # Errors
    ///
    /// [`FixturesError`] when the text is not a valid fixtures document.
    pub fn from_json_str(text: &str) -> Result<Fixtures, FixturesError> {
        let value: Value = serde_json::from_str(text).map_err(|error| FixturesError::new(error.to_string()))?;
        let entries: Vec<FileFixture> = match value {
            Value::Array(_) => serde_json::from_value(value),
            other => serde_json::from_value::<FileRoot>(other).map(|root| root.fixtures),
        }
        .map_err(|error| FixturesError::new(error.to_string()))?;
        Self::from_file(entries)
    }

    fn from_file(entries: Vec<FileFixture>) -> Result<Fixtures, FixturesError> {
        let fixtures = entries
            .into_iter()
            .enumerate()
            .map(|(position, entry)| entry.into_fixture(position))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Fixtures { fixtures })
    }

    /// The reply of the first fixture that matches `request` sent to
    /// `deployment`.
    #[must_use]
    pub fn find(&self, request: &ChatRequest, deployment: &str) -> Option<&FixtureReply> {
        self.find_fixture(request, deployment).map(|fixture| &fixture.reply)
    }

    /// The first fixture that matches, with its name.
    #[must_use]
    pub fn find_fixture(&self, request: &ChatRequest, deployment: &str) -> Option<&Fixture> {
        self.fixtures.iter().find(|fixture| fixture.matcher.matches(request, deployment))
    }

    /// All fixtures, in matching order.
    #[must_use]
    pub fn fixtures(&self) -> &[Fixture] {
        &self.fixtures
    }

    /// How many fixtures there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.fixtures.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.fixtures.is_empty()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRoot {
    #[serde(default, alias = "fixture")]
    fixtures: Vec<FileFixture>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFixture {
    #[serde(default)]
    name: Option<String>,
    #[serde(rename = "match", default)]
    matcher: FixtureMatcher,
    reply: FileReply,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileReply {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Vec<FileToolCall>,
    #[serde(default)]
    finish_reason: Option<String>,
    #[serde(default)]
    error: Option<FileError>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToolCall {
    #[serde(default)]
    id: Option<String>,
    name: String,
    #[serde(default)]
    arguments: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileError {
    status: u16,
    #[serde(default)]
    body: Option<Value>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

impl FileFixture {
    fn into_fixture(self, position: usize) -> Result<Fixture, FixturesError> {
        let label = self.name.clone().unwrap_or_else(|| format!("#{}", position + 1));
        let invalid = |message: &str| FixturesError::new(format!("fixture {label}: {message}"));
        let reply = self.reply;
        let reply = match reply.error {
            Some(error) => {
                if reply.content.is_some()
                    || reply.refusal.is_some()
                    || !reply.tool_calls.is_empty()
                    || reply.finish_reason.is_some()
                {
                    return Err(invalid("a reply is either an error or an answer, not both"));
                }
                if !(100..=599).contains(&error.status) {
                    return Err(invalid("error status must be between 100 and 599"));
                }
                FixtureReply::Error(FixtureError {
                    status: error.status,
                    body: error.body.unwrap_or(Value::Object(Map::new())),
                    headers: error.headers,
                })
            }
            None => {
                if reply.content.is_none() && reply.refusal.is_none() && reply.tool_calls.is_empty() {
                    return Err(invalid("a reply needs content, refusal, tool_calls or an error"));
                }
                let tool_calls = reply
                    .tool_calls
                    .into_iter()
                    .map(|call| FixtureToolCall {
                        id: call.id,
                        name: call.name,
                        arguments: match call.arguments {
                            None => "{}".to_owned(),
                            Some(Value::String(text)) => text,
                            Some(other) => other.to_string(),
                        },
                    })
                    .collect();
                FixtureReply::Answer(FixtureAnswer {
                    content: reply.content,
                    refusal: reply.refusal,
                    tool_calls,
                    finish_reason: reply.finish_reason.map(|reason| FinishReason::from(reason.as_str())),
                })
            }
        };
        Ok(Fixture { name: self.name, matcher: self.matcher, reply })
    }
}
