//! Items: what goes into a response (`input`) and what comes out (`output`),
//! their content parts and the annotations on output text.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::tagged::{deserialize_tagged, tagged_union};
use crate::open_enum;

open_enum! {
    /// Who wrote a message.
    #[derive(Default)]
    pub enum Role {
        /// The user.
        #[default]
        User = "user",
        /// The model.
        Assistant = "assistant",
        /// System instructions.
        System = "system",
        /// Developer instructions (reasoning models).
        Developer = "developer",
    }
}

open_enum! {
    /// An item's progress.
    pub enum ItemStatus {
        /// Still being written.
        InProgress = "in_progress",
        /// Done.
        Completed = "completed",
        /// Cut short (token limit, filter).
        Incomplete = "incomplete",
        /// A file search is running.
        Searching = "searching",
        /// A tool call failed.
        Failed = "failed",
    }
}

// ---------------------------------------------------------------------------
// Content parts.
// ---------------------------------------------------------------------------

/// `input_text`: text given to the model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputText {
    /// The text.
    pub text: String,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `input_image`: an image by URL (or data URL) or by uploaded file id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputImage {
    /// An `https:` or `data:` URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    /// An uploaded file's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    /// `low`, `high` or `auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `input_file`: a file by id, URL or inline data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputFile {
    /// An uploaded file's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    /// The file's name (with `file_data`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// Base64 data URL of the content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_data: Option<String>,
    /// A URL to fetch the file from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_url: Option<String>,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `output_text`: text the model wrote, with its annotations (citations).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutputText {
    /// The text.
    #[serde(default)]
    pub text: String,
    /// Citations and other notes on the text, in order.
    #[serde(default)]
    pub annotations: Vec<Annotation>,
    /// Token log-probabilities, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Vec<Value>>,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `refusal`: the model declined.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    /// The refusal's text.
    #[serde(default)]
    pub refusal: String,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

tagged_union! {
    /// A part of a message's content.
    pub enum ContentPart {
        /// `input_text`.
        InputText(InputText) = "input_text",
        /// `input_image`.
        InputImage(InputImage) = "input_image",
        /// `input_file`.
        InputFile(InputFile) = "input_file",
        /// `output_text`.
        OutputText(OutputText) = "output_text",
        /// `refusal`.
        Refusal(Refusal) = "refusal",
    }
}
deserialize_tagged!(ContentPart);

impl ContentPart {
    /// An `input_text` part.
    #[must_use]
    pub fn input_text(text: impl Into<String>) -> Self {
        Self::InputText(InputText { text: text.into(), extra: Map::new() })
    }

    /// An `input_image` part from a URL.
    #[must_use]
    pub fn input_image_url(url: impl Into<String>) -> Self {
        Self::InputImage(InputImage { image_url: Some(url.into()), ..InputImage::default() })
    }

    /// An `input_file` part by uploaded file id.
    #[must_use]
    pub fn input_file_id(file_id: impl Into<String>) -> Self {
        Self::InputFile(InputFile { file_id: Some(file_id.into()), ..InputFile::default() })
    }

    /// An `output_text` part without annotations.
    #[must_use]
    pub fn output_text(text: impl Into<String>) -> Self {
        Self::OutputText(OutputText { text: text.into(), ..OutputText::default() })
    }

    /// The text of an `input_text` or `output_text` part.
    #[must_use]
    pub fn text(&self) -> Option<&str> {
        match self {
            Self::InputText(part) => Some(&part.text),
            Self::OutputText(part) => Some(&part.text),
            _ => None,
        }
    }
}

/// A message's content: a plain string (input shorthand) or parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MessageContent {
    /// A string, as input messages may give it.
    Text(String),
    /// Parts.
    Parts(Vec<ContentPart>),
}

impl Default for MessageContent {
    fn default() -> Self {
        Self::Parts(Vec::new())
    }
}

// ---------------------------------------------------------------------------
// Annotations.
// ---------------------------------------------------------------------------

/// `file_citation`: a passage of a file found by `file_search` backs the text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FileCitation {
    /// The cited file.
    #[serde(default)]
    pub file_id: String,
    /// The cited file's name.
    #[serde(default)]
    pub filename: String,
    /// Where in the output text the citation stands (a character index).
    #[serde(default)]
    pub index: u64,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `url_citation`: a web page backs a span of the text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UrlCitation {
    /// The page.
    #[serde(default)]
    pub url: String,
    /// The page's title.
    #[serde(default)]
    pub title: String,
    /// First character of the span.
    #[serde(default)]
    pub start_index: u64,
    /// One past the last character of the span.
    #[serde(default)]
    pub end_index: u64,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `container_file_citation`: a file in a code-interpreter container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerFileCitation {
    /// The container.
    #[serde(default)]
    pub container_id: String,
    /// The file.
    #[serde(default)]
    pub file_id: String,
    /// The file's name.
    #[serde(default)]
    pub filename: String,
    /// First character of the span.
    #[serde(default)]
    pub start_index: u64,
    /// One past the last character of the span.
    #[serde(default)]
    pub end_index: u64,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

tagged_union! {
    /// A note on output text.
    pub enum Annotation {
        /// `file_citation`.
        FileCitation(FileCitation) = "file_citation",
        /// `url_citation`.
        UrlCitation(UrlCitation) = "url_citation",
        /// `container_file_citation`.
        ContainerFileCitation(ContainerFileCitation) = "container_file_citation",
    }
}
deserialize_tagged!(Annotation);

// ---------------------------------------------------------------------------
// Items.
// ---------------------------------------------------------------------------

/// `message`: a message in the conversation (input) or the model's answer (output).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The item id (`msg_…`), on output and stored items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Who wrote it.
    pub role: Role,
    /// What it says.
    #[serde(default)]
    pub content: MessageContent,
    /// Progress, on output items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ItemStatus>,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Message {
    /// The text of its `output_text` (or `input_text`, or string) content, concatenated.
    #[must_use]
    pub fn text(&self) -> String {
        match &self.content {
            MessageContent::Text(text) => text.clone(),
            MessageContent::Parts(parts) => parts.iter().filter_map(ContentPart::text).collect(),
        }
    }
}

/// `function_call`: the model asks for a function to be run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// The item id (`fc_…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The id to answer with in a `function_call_output`.
    #[serde(default)]
    pub call_id: String,
    /// The function's name.
    #[serde(default)]
    pub name: String,
    /// The arguments, a JSON object as text (as generated: validate it).
    #[serde(default)]
    pub arguments: String,
    /// Progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ItemStatus>,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `function_call_output`: a function's result, sent back as input.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionCallOutput {
    /// The item id, on stored items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The `call_id` of the call answered.
    pub call_id: String,
    /// The result (usually JSON as text).
    pub output: String,
    /// Progress, on stored items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ItemStatus>,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `item_reference`: an earlier item by id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemReference {
    /// The item's id.
    pub id: String,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One passage `file_search` found (with `include: ["file_search_call.results"]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FileSearchResult {
    /// The file.
    #[serde(default)]
    pub file_id: String,
    /// The file's name.
    #[serde(default)]
    pub filename: String,
    /// Relevance, higher is better.
    #[serde(default)]
    pub score: f64,
    /// The passage.
    #[serde(default)]
    pub text: String,
    /// The file's attributes in the vector store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Map<String, Value>>,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `file_search_call`: the model searched vector stores.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FileSearchCall {
    /// The item id (`fs_…`).
    #[serde(default)]
    pub id: String,
    /// Progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ItemStatus>,
    /// The queries run.
    #[serde(default)]
    pub queries: Vec<String>,
    /// The passages found; `None` unless asked for with `include`.
    #[serde(default)]
    pub results: Option<Vec<FileSearchResult>>,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `reasoning`: a reasoning model's summary (and, when asked, encrypted content).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reasoning {
    /// The item id (`rs_…`).
    #[serde(default)]
    pub id: String,
    /// Summary parts (`summary_text`).
    #[serde(default)]
    pub summary: Vec<Value>,
    /// Encrypted reasoning, with `include: ["reasoning.encrypted_content"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted_content: Option<String>,
    /// Progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ItemStatus>,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

tagged_union! {
    /// An item given as input: a message, a function's result, a reference,
    /// or an earlier output item sent back (function calls, searches, reasoning).
    pub enum InputItem {
        /// `message` (the `type` may be left out on input).
        Message(Message) = "message",
        /// `function_call_output`.
        FunctionCallOutput(FunctionCallOutput) = "function_call_output",
        /// `item_reference`.
        ItemReference(ItemReference) = "item_reference",
        /// `function_call`, an earlier output sent back.
        FunctionCall(FunctionCall) = "function_call",
        /// `file_search_call`, an earlier output sent back.
        FileSearchCall(FileSearchCall) = "file_search_call",
        /// `reasoning`, an earlier output sent back.
        Reasoning(Reasoning) = "reasoning",
    }
}

impl<'de> Deserialize<'de> for InputItem {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut value = Value::deserialize(deserializer)?;
        // The "easy" input message: `{"role": "user", "content": "…"}` without a type.
        if let Value::Object(map) = &mut value
            && !map.contains_key("type")
            && map.contains_key("role")
        {
            map.insert("type".to_owned(), Value::String("message".to_owned()));
        }
        Self::from_tagged_value(value).map_err(serde::de::Error::custom)
    }
}

impl InputItem {
    /// A user message with text.
    #[must_use]
    pub fn user(text: impl Into<String>) -> Self {
        Self::message(Role::User, text)
    }

    /// A message with text from `role`.
    #[must_use]
    pub fn message(role: Role, text: impl Into<String>) -> Self {
        Self::Message(Message { role, content: MessageContent::Text(text.into()), ..Message::default() })
    }

    /// A user message with parts (text, images, files).
    #[must_use]
    pub fn user_parts(parts: Vec<ContentPart>) -> Self {
        Self::Message(Message { role: Role::User, content: MessageContent::Parts(parts), ..Message::default() })
    }

    /// A function's result for the call `call_id`.
    #[must_use]
    pub fn function_call_output(call_id: impl Into<String>, output: impl Into<String>) -> Self {
        Self::FunctionCallOutput(FunctionCallOutput {
            call_id: call_id.into(),
            output: output.into(),
            ..FunctionCallOutput::default()
        })
    }

    /// An earlier item by id.
    #[must_use]
    pub fn item_reference(id: impl Into<String>) -> Self {
        Self::ItemReference(ItemReference { id: id.into(), extra: Map::new() })
    }
}

impl From<OutputItem> for InputItem {
    /// An output item sent back as input (a manual tool loop without
    /// `previous_response_id` sends the calls back beside their outputs).
    fn from(item: OutputItem) -> Self {
        match item {
            OutputItem::Message(message) => Self::Message(message),
            OutputItem::FunctionCall(call) => Self::FunctionCall(call),
            OutputItem::FileSearchCall(call) => Self::FileSearchCall(call),
            OutputItem::Reasoning(reasoning) => Self::Reasoning(reasoning),
            OutputItem::FunctionCallOutput(output) => Self::FunctionCallOutput(output),
            OutputItem::Other(value) => Self::Other(value),
        }
    }
}

tagged_union! {
    /// An item of a response's `output` (or of a conversation).
    pub enum OutputItem {
        /// `message`: the answer.
        Message(Message) = "message",
        /// `function_call`.
        FunctionCall(FunctionCall) = "function_call",
        /// `file_search_call`.
        FileSearchCall(FileSearchCall) = "file_search_call",
        /// `reasoning`.
        Reasoning(Reasoning) = "reasoning",
        /// `function_call_output` (in conversations and input-item listings).
        FunctionCallOutput(FunctionCallOutput) = "function_call_output",
    }
}
deserialize_tagged!(OutputItem);

impl OutputItem {
    /// The item's id, when it has one.
    #[must_use]
    pub fn id(&self) -> Option<&str> {
        match self {
            Self::Message(item) => item.id.as_deref(),
            Self::FunctionCall(item) => item.id.as_deref(),
            Self::FileSearchCall(item) => Some(&item.id),
            Self::Reasoning(item) => Some(&item.id),
            Self::FunctionCallOutput(item) => item.id.as_deref(),
            Self::Other(value) => value.get("id").and_then(Value::as_str),
        }
    }
}
