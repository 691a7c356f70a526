//! Prompt-size estimates for chat requests: message framing, tool
//! definitions, and the admission estimate Azure charges against a
//! deployment's tokens-per-minute quota.

use serde::Serialize;
use serde_json::Value;

use super::Tokenizer;
use crate::chat::{ChatMessage, ChatRequest, ContentPart, FunctionDefinition, MessageContent, Tool};

/// The output budget [`Tokenizer::estimate_request`] assumes for a request
/// that sets neither `max_completion_tokens` nor `max_tokens`.
///
/// Azure does not publish the figure it assumes for such requests; 4,096 is
/// our choice, large enough for most answers. Set `max_completion_tokens` on
/// requests to make admission estimates exact, or pass your own default to
/// [`Tokenizer::estimate_request_with`].
pub const DEFAULT_MAX_OUTPUT_TOKENS: u32 = 4096;

/// Framing tokens of every message (`<|start|>{role}<|message|>…<|end|>`).
const TOKENS_PER_MESSAGE: usize = 3;
/// Extra token for a message's `name`.
const TOKENS_PER_NAME: usize = 1;
/// Tokens priming the reply (`<|start|>assistant<|message|>`).
const REPLY_PRIMING: usize = 3;

/// What a chat request may consume, as Azure estimates it at admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct RequestEstimate {
    /// Tokens of the prompt: messages, their framing and tool definitions.
    pub prompt_tokens: u64,
    /// The most the request may generate over all its `n` choices.
    pub max_output_tokens: u64,
    /// `prompt_tokens + max_output_tokens`: what the request is charged
    /// against a tokens-per-minute quota when it is admitted.
    pub total: u64,
}

impl Tokenizer {
    /// The prompt tokens of a conversation, by the OpenAI cookbook's rule:
    /// 3 tokens per message plus its role, name and text, 1 more for a
    /// `name`, and 3 for priming the reply.
    ///
    /// The text of a message is its content string or each of its text (and
    /// refusal) parts; an assistant message adds its refusal and the name and
    /// arguments of each tool call (and of a legacy `function_call`). Images
    /// and audio are not counted: their cost depends on their size. The rule
    /// reproduces the service's `prompt_tokens` exactly for plain-text
    /// conversations on GPT-3.5 Turbo, GPT-4 and GPT-4o; elsewhere it is an
    /// estimate, and the `usage` the service reports is what is billed.
    ///
    /// ```
    /// use aoai_core::chat::ChatMessage;
    /// use aoai_core::tokens::Tokenizer;
    ///
    /// let t = Tokenizer::for_model("gpt-4o");
    /// let messages = [
    ///     ChatMessage::system("You are terse."),
    ///     ChatMessage::user("Hello!").with_name("ada"),
    /// ];
    /// let system = 3 + t.count("system") + t.count("You are terse.");
    /// let user = 3 + t.count("user") + t.count("Hello!") + t.count("ada") + 1;
    /// assert_eq!(t.count_messages(&messages), system + user + 3);
    /// ```
    #[must_use]
    pub fn count_messages(&self, messages: &[ChatMessage]) -> usize {
        messages.iter().map(|message| self.count_message(message)).sum::<usize>() + REPLY_PRIMING
    }

    /// The prompt tokens that tool definitions add, by the approximation in
    /// the OpenAI cookbook ("How to count tokens with tiktoken"); 0 when
    /// there are no tools.
    ///
    /// Each function costs 7 tokens (10 with `cl100k_base` models) plus
    /// `name:description`; each top-level parameter 3 plus
    /// `name:type:description`, or, with an `enum`, 3 plus the item's tokens
    /// per item instead; the list adds 12 at the end, and 3 when a function has
    /// parameters. Trailing periods of descriptions are dropped, as the
    /// service's rendering does. Nested schemas are not counted, so deep
    /// parameter objects are underestimated: the service's `usage` is
    /// authoritative.
    #[must_use]
    pub fn count_tools(&self, tools: &[Tool]) -> usize {
        self.count_function_definitions(tools.iter().map(|tool| &tool.function))
    }

    /// [`count_tools`](Self::count_tools) for the deprecated `functions`
    /// field, which the service renders the same way.
    #[must_use]
    pub fn count_functions(&self, functions: &[FunctionDefinition]) -> usize {
        self.count_function_definitions(functions.iter())
    }

    /// Prompt tokens plus the most the request may generate, which is what
    /// Azure charges against the deployment's tokens-per-minute quota when it
    /// admits the request.
    ///
    /// Prompt tokens are [`count_messages`](Self::count_messages) plus
    /// [`count_tools`](Self::count_tools) (and the legacy `functions`). The
    /// output budget is `max_completion_tokens`, else `max_tokens`, else
    /// [`DEFAULT_MAX_OUTPUT_TOKENS`], times `n` (at least 1). Choose the
    /// tokenizer for the deployment's model: the request's `model` field is
    /// usually unset on Azure.
    ///
    /// ```
    /// use aoai_core::chat::{ChatMessage, ChatRequest};
    /// use aoai_core::tokens::Tokenizer;
    ///
    /// let request = ChatRequest::new(vec![ChatMessage::user("Name three rivers.")])
    ///     .max_completion_tokens(100)
    ///     .n(2);
    /// let estimate = Tokenizer::for_model("gpt-4o-mini").estimate_request(&request);
    /// assert_eq!(estimate.max_output_tokens, 200);
    /// assert_eq!(estimate.total, estimate.prompt_tokens + 200);
    /// ```
    #[must_use]
    pub fn estimate_request(&self, request: &ChatRequest) -> RequestEstimate {
        self.estimate_request_with(request, DEFAULT_MAX_OUTPUT_TOKENS)
    }

    /// [`estimate_request`](Self::estimate_request) with another output budget
    /// for requests that set no maximum.
    #[must_use]
    pub fn estimate_request_with(&self, request: &ChatRequest, default_max_output_tokens: u32) -> RequestEstimate {
        let mut prompt = self.count_messages(&request.messages);
        if let Some(tools) = &request.tools {
            prompt += self.count_tools(tools);
        }
        if let Some(functions) = &request.functions {
            prompt += self.count_functions(functions);
        }
        let per_choice = request.max_completion_tokens.or(request.max_tokens).unwrap_or(default_max_output_tokens);
        let choices = request.n.unwrap_or(1).max(1);
        let prompt_tokens = u64::try_from(prompt).unwrap_or(u64::MAX);
        let max_output_tokens = u64::from(per_choice) * u64::from(choices);
        RequestEstimate { prompt_tokens, max_output_tokens, total: prompt_tokens.saturating_add(max_output_tokens) }
    }

    fn count_message(&self, message: &ChatMessage) -> usize {
        let mut tokens = TOKENS_PER_MESSAGE + self.count_role(message.role());
        if let Some(name) = message.name() {
            tokens += self.count(name) + TOKENS_PER_NAME;
        }
        tokens += match message.content() {
            Some(content) => self.count_content(content),
            None => message.text().map_or(0, |text| self.count(&text)),
        };
        for call in message.tool_calls() {
            tokens += self.count(&call.function.name) + self.count(&call.function.arguments);
        }
        if let ChatMessage::Assistant(assistant) = message {
            if let Some(refusal) = &assistant.refusal {
                tokens += self.count(refusal);
            }
            if let Some(call) = &assistant.function_call {
                tokens += self.count(&call.name) + self.count(&call.arguments);
            }
        }
        tokens
    }

    /// The tokens of a role name: the known roles are one token in both
    /// encodings (a test checks it), so only an unknown role is tokenized.
    fn count_role(&self, role: &str) -> usize {
        match role {
            "system" | "developer" | "user" | "assistant" | "tool" | "function" => 1,
            other => self.count(other),
        }
    }

    fn count_content(&self, content: &MessageContent) -> usize {
        match content {
            MessageContent::Text(text) => self.count(text),
            MessageContent::Parts(parts) => parts
                .iter()
                .map(|part| match part {
                    ContentPart::Text { text } => self.count(text),
                    ContentPart::Refusal { refusal } => self.count(refusal),
                    ContentPart::ImageUrl { .. } | ContentPart::Other(_) => 0,
                })
                .sum(),
        }
    }

    fn count_function_definitions<'a>(&self, functions: impl Iterator<Item = &'a FunctionDefinition>) -> usize {
        const PROPERTIES_START: usize = 3;
        const PROPERTY: usize = 3;
        const ENUM_ITEM: usize = 3;
        const LIST_END: usize = 12;
        let function_start = match self.encoding() {
            super::Encoding::Cl100kBase => 10,
            _ => 7,
        };
        let mut tokens = 0;
        let mut any = false;
        for function in functions {
            any = true;
            let description = without_final_period(function.description.as_deref().unwrap_or_default());
            tokens += function_start + self.count(&format!("{}:{description}", function.name));
            let Some(properties) = function.parameters.get("properties").and_then(Value::as_object) else {
                continue;
            };
            if properties.is_empty() {
                continue;
            }
            tokens += PROPERTIES_START;
            for (name, schema) in properties {
                match schema.get("enum").and_then(Value::as_array) {
                    // The cookbook's `prop_key` (3) and `enum_init` (-3) cancel.
                    Some(items) => {
                        tokens += items.iter().map(|item| ENUM_ITEM + self.count(&json_text(item))).sum::<usize>();
                    }
                    None => tokens += PROPERTY,
                }
                let kind = schema.get("type").map(json_text).unwrap_or_default();
                let description = schema.get("description").map(json_text).unwrap_or_default();
                tokens += self.count(&format!("{name}:{kind}:{}", without_final_period(&description)));
            }
        }
        if any {
            tokens += LIST_END;
        }
        tokens
    }
}

fn without_final_period(text: &str) -> &str {
    text.strip_suffix('.').unwrap_or(text)
}

/// A string as itself, anything else as JSON (`["string","null"]`).
fn json_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}
