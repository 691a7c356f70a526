//! The response object: status, output items, usage, errors and Azure's
//! content-filter results.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::items::{Annotation, ContentPart, FunctionCall, MessageContent, OutputItem};
use super::request::{ConversationRef, ReasoningConfig, ResponseTool, ResponseToolChoice, TextConfig, Truncation};
use crate::filter::ContentFilterResults;
use crate::open_enum;

open_enum! {
    /// Where a response is in its life.
    pub enum ResponseStatus {
        /// Waiting to start (background).
        Queued = "queued",
        /// Being generated.
        InProgress = "in_progress",
        /// Done.
        Completed = "completed",
        /// Stopped early (`incomplete_details` says why).
        Incomplete = "incomplete",
        /// Failed (`error` says why).
        Failed = "failed",
        /// Cancelled (background).
        Cancelled = "cancelled",
    }
}

impl ResponseStatus {
    /// Whether the response will not change any more.
    #[must_use]
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Completed | Self::Incomplete | Self::Failed | Self::Cancelled)
    }
}

/// `input_tokens_details`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputTokensDetails {
    /// Input tokens served from the prompt cache.
    #[serde(default)]
    pub cached_tokens: u64,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `output_tokens_details`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutputTokensDetails {
    /// Output tokens spent on hidden reasoning.
    #[serde(default)]
    pub reasoning_tokens: u64,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Token counts of a response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseUsage {
    /// Input tokens, cached ones included.
    #[serde(default)]
    pub input_tokens: u64,
    /// Details of the input tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens_details: Option<InputTokensDetails>,
    /// Output tokens, reasoning included.
    #[serde(default)]
    pub output_tokens: u64,
    /// Details of the output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens_details: Option<OutputTokensDetails>,
    /// Input plus output.
    #[serde(default)]
    pub total_tokens: u64,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl From<&ResponseUsage> for crate::metrics::TokenUsage {
    fn from(usage: &ResponseUsage) -> Self {
        Self {
            prompt: usage.input_tokens,
            completion: usage.output_tokens,
            cached: usage.input_tokens_details.as_ref().map_or(0, |details| details.cached_tokens),
            reasoning: usage.output_tokens_details.as_ref().map_or(0, |details| details.reasoning_tokens),
        }
    }
}

impl From<&ResponseUsage> for crate::chat::Usage {
    /// The same counts in chat-completions terms, for what takes chat usage
    /// (cost estimates with [`PriceTable`](crate::tokens::PriceTable)):
    ///
    /// ```
    /// use aoai_core::responses::ResponseUsage;
    /// use aoai_core::tokens::PriceTable;
    ///
    /// let usage: ResponseUsage = serde_json::from_str(
    ///     r#"{"input_tokens":1000000,"input_tokens_details":{"cached_tokens":0},"output_tokens":100000,"total_tokens":1100000}"#,
    /// ).unwrap();
    /// let cost = PriceTable::default().estimate_cost("gpt-4o-2024-08-06", &(&usage).into()).unwrap();
    /// assert_eq!(cost.total(), 3.5);
    /// ```
    fn from(usage: &ResponseUsage) -> Self {
        let mut chat = crate::chat::Usage::new(usage.input_tokens, usage.output_tokens);
        chat.total_tokens = usage.total_tokens.max(chat.total_tokens);
        if let Some(details) = &usage.input_tokens_details {
            chat.prompt_tokens_details = Some(crate::chat::PromptTokensDetails {
                cached_tokens: Some(details.cached_tokens),
                ..crate::chat::PromptTokensDetails::default()
            });
        }
        if let Some(details) = &usage.output_tokens_details {
            chat.completion_tokens_details = Some(crate::chat::CompletionTokensDetails {
                reasoning_tokens: Some(details.reasoning_tokens),
                ..crate::chat::CompletionTokensDetails::default()
            });
        }
        chat
    }
}

/// Why a response failed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseError {
    /// A machine-readable code (`server_error`, `rate_limit_exceeded`, …).
    #[serde(default)]
    pub code: String,
    /// What happened.
    #[serde(default)]
    pub message: String,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Why a response is incomplete.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IncompleteDetails {
    /// `max_output_tokens` or `content_filter`.
    #[serde(default)]
    pub reason: String,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Where in the text a content-filter result applies (Azure).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContentFilterOffsets {
    /// First character checked.
    #[serde(default)]
    pub start_offset: u64,
    /// One past the last character checked.
    #[serde(default)]
    pub end_offset: u64,
    /// How far the text had been checked.
    #[serde(default)]
    pub check_offset: u64,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One of Azure's `content_filters` on a response (Azure only).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseContentFilter {
    /// Whether the filter blocked content.
    #[serde(default)]
    pub blocked: bool,
    /// `prompt` or `completion`.
    #[serde(default)]
    pub source_type: String,
    /// The per-category verdicts, as for chat completions.
    #[serde(default)]
    pub content_filter_results: ContentFilterResults,
    /// Where the verdicts apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_filter_offsets: Option<ContentFilterOffsets>,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A response, as `POST /responses`, `GET /responses/{id}` and the stream's
/// lifecycle events return it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseObject {
    /// `resp_…`.
    #[serde(default)]
    pub id: String,
    /// `response`.
    #[serde(default)]
    pub object: String,
    /// Unix time of creation, in seconds.
    #[serde(default)]
    pub created_at: u64,
    /// Where it is in its life.
    #[serde(default = "default_status")]
    pub status: ResponseStatus,
    /// The model (Azure: the deployment's model).
    #[serde(default)]
    pub model: String,
    /// What the model produced, in order.
    #[serde(default)]
    pub output: Vec<OutputItem>,
    /// Token counts (absent until done).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<ResponseUsage>,
    /// Why it failed.
    #[serde(default)]
    pub error: Option<ResponseError>,
    /// Why it is incomplete.
    #[serde(default)]
    pub incomplete_details: Option<IncompleteDetails>,
    /// The instructions it ran with (a string, or items).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<Value>,
    /// The response it continued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_response_id: Option<String>,
    /// The conversation it joined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationRef>,
    /// Whether it ran in the background.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<bool>,
    /// Whether it is stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<bool>,
    /// The tools it could use.
    #[serde(default)]
    pub tools: Vec<ResponseTool>,
    /// The tool choice it ran with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ResponseToolChoice>,
    /// Whether parallel tool calls were allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// Output text options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<TextConfig>,
    /// The output token bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u64>,
    /// Reasoning options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<ReasoningConfig>,
    /// The truncation strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncation: Option<Truncation>,
    /// Metadata stored with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Azure's content-filter results for the prompt and the output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_filters: Option<Vec<ResponseContentFilter>>,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn default_status() -> ResponseStatus {
    ResponseStatus::Unknown(String::new())
}

impl Default for ResponseStatus {
    fn default() -> Self {
        default_status()
    }
}

impl ResponseObject {
    /// The text of every `output_text` part of every output message,
    /// concatenated in order (what the SDKs call `output_text`).
    #[must_use]
    pub fn output_text(&self) -> String {
        let mut text = String::new();
        for item in &self.output {
            if let OutputItem::Message(message) = item
                && let MessageContent::Parts(parts) = &message.content
            {
                for part in parts {
                    if let ContentPart::OutputText(part) = part {
                        text.push_str(&part.text);
                    }
                }
            }
        }
        text
    }

    /// The refusal text, if the model refused.
    #[must_use]
    pub fn refusal(&self) -> Option<String> {
        let mut refusal: Option<String> = None;
        for item in &self.output {
            if let OutputItem::Message(message) = item
                && let MessageContent::Parts(parts) = &message.content
            {
                for part in parts {
                    if let ContentPart::Refusal(part) = part {
                        refusal.get_or_insert_with(String::new).push_str(&part.refusal);
                    }
                }
            }
        }
        refusal
    }

    /// The function calls the model asked for, in order.
    #[must_use]
    pub fn function_calls(&self) -> Vec<&FunctionCall> {
        self.output
            .iter()
            .filter_map(|item| match item {
                OutputItem::FunctionCall(call) => Some(call),
                _ => None,
            })
            .collect()
    }

    /// Every annotation on the output text, in order.
    #[must_use]
    pub fn annotations(&self) -> Vec<&Annotation> {
        let mut out = Vec::new();
        for item in &self.output {
            if let OutputItem::Message(message) = item
                && let MessageContent::Parts(parts) = &message.content
            {
                for part in parts {
                    if let ContentPart::OutputText(part) = part {
                        out.extend(part.annotations.iter());
                    }
                }
            }
        }
        out
    }

    /// The content filters that blocked something (Azure).
    #[must_use]
    pub fn blocked_filters(&self) -> Vec<&ResponseContentFilter> {
        self.content_filters.iter().flatten().filter(|filter| filter.blocked).collect()
    }
}

/// The answer of `DELETE /responses/{id}`: the delete answer the other
/// resources share.
pub type ResponseDeleted = crate::files::Deleted;
