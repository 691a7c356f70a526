//! The request body of `POST /responses` and its builder.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::items::InputItem;
use super::tagged::{deserialize_tagged, tagged_union};
use crate::open_enum;

/// `input`: a string, or items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Input {
    /// A single user message as text.
    Text(String),
    /// Items: messages, function results, references.
    Items(Vec<InputItem>),
}

impl From<&str> for Input {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

impl From<String> for Input {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl From<Vec<InputItem>> for Input {
    fn from(items: Vec<InputItem>) -> Self {
        Self::Items(items)
    }
}

/// `conversation`: the conversation a response belongs to, by id or as an object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ConversationRef {
    /// The conversation's id (`conv_…`).
    Id(String),
    /// `{"id": "conv_…"}`, as responses echo it.
    Object {
        /// The conversation's id.
        id: String,
    },
}

impl ConversationRef {
    /// The conversation's id.
    #[must_use]
    pub fn id(&self) -> &str {
        match self {
            Self::Id(id) | Self::Object { id } => id,
        }
    }
}

/// A `function` tool: a function the model may call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionTool {
    /// The name the model calls it by.
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON schema of the arguments object.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub parameters: Value,
    /// Whether the arguments must follow the schema exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A `file_search` tool: search vector stores and cite what was found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FileSearchTool {
    /// The vector stores to search.
    pub vector_store_ids: Vec<String>,
    /// At most this many passages (1–50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_num_results: Option<u32>,
    /// An attribute filter (comparison or compound), passed as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Value>,
    /// `{ranker, score_threshold}`, passed as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranking_options: Option<Value>,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

tagged_union! {
    /// A tool the model may use. Tools aoai does not model (`mcp`,
    /// `code_interpreter`, `image_generation`, `web_search_preview`, …) are
    /// `Other` values sent as given: build them with [`ResponseTool::other`].
    pub enum ResponseTool {
        /// `function`.
        Function(FunctionTool) = "function",
        /// `file_search`.
        FileSearch(FileSearchTool) = "file_search",
    }
}
deserialize_tagged!(ResponseTool);

impl ResponseTool {
    /// A function tool with a parameter schema, strict by default (the
    /// arguments then always match the schema).
    #[must_use]
    pub fn function(name: impl Into<String>, description: impl Into<String>, parameters: Value) -> Self {
        Self::Function(FunctionTool {
            name: name.into(),
            description: Some(description.into()),
            parameters,
            strict: Some(true),
            extra: Map::new(),
        })
    }

    /// A `file_search` tool over vector stores.
    #[must_use]
    pub fn file_search(vector_store_ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self::FileSearch(FileSearchTool {
            vector_store_ids: vector_store_ids.into_iter().map(Into::into).collect(),
            ..FileSearchTool::default()
        })
    }

    /// Any other tool, as its JSON object (it must have a `type`).
    #[must_use]
    pub fn other(value: Value) -> Self {
        Self::Other(value)
    }
}

open_enum! {
    /// `tool_choice` as a word.
    pub enum ToolChoiceMode {
        /// The model decides.
        Auto = "auto",
        /// No tool.
        None = "none",
        /// Some tool must be called.
        Required = "required",
    }
}

/// `tool_choice`: whether and which tool the model must use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ResponseToolChoice {
    /// `auto`, `none` or `required`.
    Mode(ToolChoiceMode),
    /// `{"type": "function", "name": …}` or another tool object
    /// (`{"type": "file_search"}`, `allowed_tools`), as JSON.
    Tool(Value),
}

impl ResponseToolChoice {
    /// Forces the function `name`.
    #[must_use]
    pub fn function(name: &str) -> Self {
        Self::Tool(serde_json::json!({"type": "function", "name": name}))
    }

    /// The forced function's name, if this forces one.
    #[must_use]
    pub fn function_name(&self) -> Option<&str> {
        match self {
            Self::Tool(value) if value.get("type").and_then(Value::as_str) == Some("function") => {
                value.get("name").and_then(Value::as_str)
            }
            _ => None,
        }
    }
}

/// `json_schema` output format.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JsonSchemaFormat {
    /// The schema's name (`a-z`, `A-Z`, `0-9`, `_`, `-`, at most 64).
    pub name: String,
    /// The JSON schema the answer must follow.
    pub schema: Value,
    /// What the answer is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether the schema is followed exactly (strict structured outputs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Fields of a format variant without fields (`text`, `json_object`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlainFormat {
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

tagged_union! {
    /// `text.format`: the answer's shape.
    pub enum TextFormat {
        /// `text`: free text.
        Text(PlainFormat) = "text",
        /// `json_object`: any JSON object.
        JsonObject(PlainFormat) = "json_object",
        /// `json_schema`: JSON following a schema.
        JsonSchema(JsonSchemaFormat) = "json_schema",
    }
}
deserialize_tagged!(TextFormat);

impl TextFormat {
    /// A strict `json_schema` format.
    #[must_use]
    pub fn json_schema(name: impl Into<String>, schema: Value) -> Self {
        Self::JsonSchema(JsonSchemaFormat {
            name: name.into(),
            schema,
            description: None,
            strict: Some(true),
            extra: Map::new(),
        })
    }
}

/// `text`: output text options.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TextConfig {
    /// The answer's shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<TextFormat>,
    /// `low`, `medium` or `high` (newer models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verbosity: Option<String>,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `reasoning`: reasoning models' effort and summaries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReasoningConfig {
    /// `minimal`, `low`, `medium` or `high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effort: Option<String>,
    /// `auto`, `concise` or `detailed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

open_enum! {
    /// `truncation`: what happens when the context is too long.
    pub enum Truncation {
        /// Drop the oldest items.
        Auto = "auto",
        /// Fail with a 400.
        Disabled = "disabled",
    }
}

/// What `include` may ask for (other strings are sent as given).
pub mod include {
    /// The passages a `file_search_call` found.
    pub const FILE_SEARCH_RESULTS: &str = "file_search_call.results";
    /// Encrypted reasoning, to send back with `store: false`.
    pub const REASONING_ENCRYPTED_CONTENT: &str = "reasoning.encrypted_content";
    /// Log-probabilities of output text.
    pub const OUTPUT_TEXT_LOGPROBS: &str = "message.output_text.logprobs";
}

/// The body of `POST /responses`. Unset fields are not sent; `model` and
/// `stream` are set by the client call (the deployment you name, and
/// whether you asked for a stream).
///
/// ```
/// use aoai_core::responses::{ResponseRequest, ResponseTool, TextFormat};
/// use serde_json::json;
///
/// let request = ResponseRequest::new("Where is the Eiffel Tower?")
///     .instructions("Answer in one sentence.")
///     .max_output_tokens(200)
///     .tools(vec![ResponseTool::file_search(["vs_1"])]);
/// let body = serde_json::to_value(&request).unwrap();
/// assert_eq!(body["input"], "Where is the Eiffel Tower?");
/// assert_eq!(body["tools"][0], json!({"type": "file_search", "vector_store_ids": ["vs_1"]}));
/// assert!(body.get("store").is_none(), "unset fields are not sent");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[must_use]
pub struct ResponseRequest {
    /// The deployment (Azure) or model; the client fills it from the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// What the model answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Input>,
    /// System (developer) instructions for this response only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// Continue from a stored response: its input and output come first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_response_id: Option<String>,
    /// The conversation whose items come first and which the new items join.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationRef>,
    /// Whether the response is stored for later retrieval (service default: true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<bool>,
    /// Run in the background: the call returns at once, poll or stream for the result (needs `store`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<bool>,
    /// Stream events; set by [`Client::create_response_stream`](crate::Client::create_response_stream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Tools the model may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<ResponseTool>>,
    /// Whether and which tool must be used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ResponseToolChoice>,
    /// Whether several tool calls may come in one response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// Output text options (`format`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<TextConfig>,
    /// Upper bound on output tokens, reasoning included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// Reasoning effort and summaries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<ReasoningConfig>,
    /// Extra output to include (see [`include`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<Vec<String>>,
    /// What happens when the context is too long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncation: Option<Truncation>,
    /// Up to 16 string pairs stored with the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// A key grouping requests that share a prompt prefix, for prompt caching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_cache_key: Option<String>,
    /// A stable id of the end user (hashed), for abuse detection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safety_identifier: Option<String>,
    /// The older end-user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Fields this type doesn't name, sent as given.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ResponseRequest {
    /// A request answering `input` (a string or items).
    pub fn new(input: impl Into<Input>) -> Self {
        Self { input: Some(input.into()), ..Self::default() }
    }

    /// Sets the instructions.
    pub fn instructions(mut self, instructions: impl Into<String>) -> Self {
        self.instructions = Some(instructions.into());
        self
    }

    /// Continues from a stored response.
    pub fn previous_response_id(mut self, id: impl Into<String>) -> Self {
        self.previous_response_id = Some(id.into());
        self
    }

    /// Joins a conversation.
    pub fn conversation(mut self, id: impl Into<String>) -> Self {
        self.conversation = Some(ConversationRef::Id(id.into()));
        self
    }

    /// Whether the response is stored.
    pub fn store(mut self, store: bool) -> Self {
        self.store = Some(store);
        self
    }

    /// Runs in the background (stored).
    pub fn background(mut self, background: bool) -> Self {
        self.background = Some(background);
        self
    }

    /// The tools the model may use.
    pub fn tools(mut self, tools: Vec<ResponseTool>) -> Self {
        self.tools = Some(tools);
        self
    }

    /// Whether and which tool must be used.
    pub fn tool_choice(mut self, choice: ResponseToolChoice) -> Self {
        self.tool_choice = Some(choice);
        self
    }

    /// Whether several tool calls may come at once.
    pub fn parallel_tool_calls(mut self, parallel: bool) -> Self {
        self.parallel_tool_calls = Some(parallel);
        self
    }

    /// The answer's shape.
    pub fn text_format(mut self, format: TextFormat) -> Self {
        self.text.get_or_insert_with(TextConfig::default).format = Some(format);
        self
    }

    /// Upper bound on output tokens.
    pub fn max_output_tokens(mut self, tokens: u32) -> Self {
        self.max_output_tokens = Some(tokens);
        self
    }

    /// Reasoning effort (`minimal`, `low`, `medium`, `high`).
    pub fn reasoning_effort(mut self, effort: impl Into<String>) -> Self {
        self.reasoning.get_or_insert_with(ReasoningConfig::default).effort = Some(effort.into());
        self
    }

    /// Asks for extra output (see [`include`]).
    pub fn include(mut self, what: impl Into<String>) -> Self {
        self.include.get_or_insert_with(Vec::new).push(what.into());
        self
    }

    /// Sets the truncation strategy.
    pub fn truncation(mut self, truncation: Truncation) -> Self {
        self.truncation = Some(truncation);
        self
    }

    /// Adds a metadata pair.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.get_or_insert_with(Map::new).insert(key.into(), Value::String(value.into()));
        self
    }

    /// Sets the temperature.
    pub fn temperature(mut self, temperature: f32) -> Self {
        self.temperature = Some(temperature);
        self
    }

    /// Sets nucleus sampling.
    pub fn top_p(mut self, top_p: f32) -> Self {
        self.top_p = Some(top_p);
        self
    }

    /// Sets the prompt cache key.
    pub fn prompt_cache_key(mut self, key: impl Into<String>) -> Self {
        self.prompt_cache_key = Some(key.into());
        self
    }

    /// Sets the safety identifier.
    pub fn safety_identifier(mut self, id: impl Into<String>) -> Self {
        self.safety_identifier = Some(id.into());
        self
    }

    /// Sets the end-user id.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// The input as items (a string input is one user message).
    #[must_use]
    pub fn input_items(&self) -> Vec<InputItem> {
        match &self.input {
            None => Vec::new(),
            Some(Input::Text(text)) => vec![InputItem::user(text.clone())],
            Some(Input::Items(items)) => items.clone(),
        }
    }

    /// Checks what the service would refuse before anything is sent:
    /// `background` without `store`, an empty request.
    pub fn validate(&self) -> Result<(), crate::error::InvalidRequestError> {
        if self.background == Some(true) && self.store == Some(false) {
            return Err(crate::error::InvalidRequestError::new(
                "background responses must be stored: remove `store: false` or `background: true`",
            ));
        }
        if self.input.is_none() && self.previous_response_id.is_none() && self.conversation.is_none() {
            return Err(crate::error::InvalidRequestError::new(
                "a response needs `input` (or a `previous_response_id` or `conversation` to continue)",
            ));
        }
        Ok(())
    }
}
