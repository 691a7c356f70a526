//! Between the Responses API and the chat generator: a [`ResponseRequest`]
//! (with its history) becomes a [`ChatRequest`] for
//! [`AppState::answer_chat`](crate::server::AppState::answer_chat), and the
//! chat answer becomes output items, usage and Azure's `content_filters`.
//! Errors the chat checks raise are renamed to the Responses parameters
//! (`messages` → `input`, `response_format` → `text.format`, …).

use aoai_core::chat::{
    self, ChatMessage, ChatRequest, ChatResponse, FinishReason, ResponseFormat, Tool, ToolCall, ToolChoice,
};
use aoai_core::responses::{
    ContentPart, FileSearchTool, FunctionCall, IncompleteDetails, InputItem, InputTokensDetails, ItemStatus, Message,
    MessageContent, OutputItem, OutputText, OutputTokensDetails, Refusal, ResponseContentFilter, ResponseRequest,
    ResponseStatus, ResponseTool, ResponseToolChoice, ResponseUsage, Role, TextFormat, ToolChoiceMode,
};
use serde_json::{Map, Value};

use crate::server::ErrorReply;

/// The smallest `max_output_tokens` the service takes.
pub(crate) const MIN_OUTPUT_TOKENS: u32 = 16;

/// Whether the `file_search` tool runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SearchMode {
    /// No `file_search` tool, or `tool_choice: "none"`.
    Never,
    /// When the answer is text (no function is called).
    Auto,
}

/// A request ready for the chat generator.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    /// The chat request: instructions, history and input as messages.
    pub(crate) chat: ChatRequest,
    /// For each chat tool, its position in the request's `tools`.
    tool_positions: Vec<usize>,
    /// The `file_search` tool, if any.
    pub(crate) file_search: Option<FileSearchTool>,
    /// Whether it runs.
    pub(crate) search: SearchMode,
}

/// Makes item ids unique within the emulator: a prefix, the request's hex
/// id and a counter.
#[derive(Debug, Clone)]
pub(crate) struct ItemIds {
    hex: String,
    next: u32,
}

impl ItemIds {
    pub(crate) fn new(hex: &str) -> Self {
        Self { hex: hex.to_owned(), next: 0 }
    }

    /// `{prefix}_{hex}{counter}`.
    pub(crate) fn next(&mut self, prefix: &str) -> String {
        let id = format!("{prefix}_{}{:04x}", self.hex, self.next);
        self.next = self.next.wrapping_add(1);
        id
    }
}

/// Checks what the chat checks don't cover, then builds the chat request
/// from `instructions`, `history` (earlier turns) and `input` (this
/// request's items, references resolved).
pub(crate) fn prepare(
    request: &ResponseRequest,
    deployment: &str,
    history: &[InputItem],
    input: &[InputItem],
) -> Result<Prepared, ErrorReply> {
    if let Some(limit) = request.max_output_tokens
        && limit < MIN_OUTPUT_TOKENS
    {
        return Err(ErrorReply::invalid(
            format!(
                "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= {MIN_OUTPUT_TOKENS}, \
                 but got {limit} instead."
            ),
            Some("max_output_tokens"),
            Some("integer_below_min_value"),
        ));
    }
    let mut messages = Vec::with_capacity(history.len() + input.len() + 1);
    if let Some(instructions) = request.instructions.as_deref().filter(|text| !text.is_empty()) {
        messages.push(ChatMessage::system(instructions));
    }
    push_messages(history, None, &mut messages)?;
    push_messages(input, Some("input"), &mut messages)?;
    if !messages.iter().any(|message| matches!(message, ChatMessage::User(_) | ChatMessage::Tool(_))) {
        return Err(ErrorReply::invalid(
            "The request has no input: give 'input', or continue a response with 'previous_response_id'.",
            Some("input"),
            Some("missing_required_parameter"),
        ));
    }

    let mut tools = Vec::new();
    let mut tool_positions = Vec::new();
    let mut file_search = None;
    for (position, tool) in request.tools.iter().flatten().enumerate() {
        match tool {
            ResponseTool::Function(function) => {
                tools.push(Tool {
                    kind: chat::ToolType::Function,
                    function: chat::FunctionDefinition {
                        name: function.name.clone(),
                        description: function.description.clone(),
                        parameters: function.parameters.clone(),
                        strict: function.strict,
                    },
                    extra: Map::new(),
                });
                tool_positions.push(position);
            }
            ResponseTool::FileSearch(search) => {
                if search.vector_store_ids.is_empty() {
                    return Err(ErrorReply::invalid(
                        "Invalid 'tools[].vector_store_ids': empty array. Expected an array with minimum length 1.",
                        Some(&format!("tools[{position}].vector_store_ids")),
                        Some("empty_array"),
                    ));
                }
                if let Some(max) = search.max_num_results
                    && !(1..=50).contains(&max)
                {
                    return Err(ErrorReply::invalid(
                        format!(
                            "Invalid 'tools[{position}].max_num_results': expected a value between 1 and 50, got {max}."
                        ),
                        Some(&format!("tools[{position}].max_num_results")),
                        Some("invalid_value"),
                    ));
                }
                file_search.get_or_insert_with(|| search.clone());
            }
            // Other tools (mcp, code_interpreter, …) are echoed, never used.
            _ => {}
        }
    }

    let mut search = if file_search.is_some() { SearchMode::Auto } else { SearchMode::Never };
    let tool_choice = match &request.tool_choice {
        None => None,
        Some(ResponseToolChoice::Mode(mode)) => match mode {
            ToolChoiceMode::Auto => Some(ToolChoice::Auto),
            ToolChoiceMode::None => {
                search = SearchMode::Never;
                Some(ToolChoice::None)
            }
            ToolChoiceMode::Required => Some(ToolChoice::Required),
            other => {
                return Err(ErrorReply::invalid(
                    format!(
                        "Invalid value: '{}'. Supported values are: 'none', 'auto', and 'required'.",
                        other.as_str()
                    ),
                    Some("tool_choice"),
                    Some("invalid_value"),
                ));
            }
        },
        Some(choice @ ResponseToolChoice::Tool(value)) => match choice.function_name() {
            Some(name) => {
                if !tools.iter().any(|tool| tool.function.name == name) {
                    return Err(ErrorReply::invalid(
                        format!("Tool choice '{name}' not found in 'tools' parameter."),
                        Some("tool_choice"),
                        Some("invalid_value"),
                    ));
                }
                Some(ToolChoice::function(name))
            }
            None if value.get("type").and_then(Value::as_str) == Some("file_search") => {
                if file_search.is_none() {
                    return Err(ErrorReply::invalid(
                        "Tool choice 'file_search' not found in 'tools' parameter.",
                        Some("tool_choice"),
                        Some("invalid_value"),
                    ));
                }
                Some(ToolChoice::None)
            }
            None => Some(ToolChoice::Auto),
        },
    };
    // With only `file_search`, `required` means searching.
    let tool_choice = if tools.is_empty() { None } else { tool_choice };

    let response_format = match request.text.as_ref().and_then(|text| text.format.as_ref()) {
        Some(TextFormat::JsonObject(_)) => Some(ResponseFormat::JsonObject),
        Some(TextFormat::JsonSchema(format)) => Some(ResponseFormat::JsonSchema(chat::JsonSchemaFormat {
            name: format.name.clone(),
            description: format.description.clone(),
            schema: format.schema.clone(),
            strict: format.strict,
        })),
        _ => None,
    };

    let chat = ChatRequest {
        messages,
        model: Some(deployment.to_owned()),
        temperature: request.temperature.map(f64::from),
        top_p: request.top_p.map(f64::from),
        max_completion_tokens: request.max_output_tokens,
        tools: (!tools.is_empty()).then_some(tools),
        tool_choice,
        parallel_tool_calls: request.parallel_tool_calls,
        response_format,
        user: request.user.clone(),
        ..ChatRequest::default()
    };
    Ok(Prepared { chat, tool_positions, file_search, search })
}

/// Appends items as chat messages. `param` names the request field for
/// errors (`None` for history, which was checked when it was input).
fn push_messages(items: &[InputItem], param: Option<&str>, messages: &mut Vec<ChatMessage>) -> Result<(), ErrorReply> {
    for (position, item) in items.iter().enumerate() {
        match item {
            InputItem::Message(message) => {
                let text = message_text(message);
                messages.push(match &message.role {
                    Role::User => ChatMessage::user(text),
                    Role::System => ChatMessage::system(text),
                    Role::Developer => ChatMessage::developer(text),
                    Role::Assistant => ChatMessage::assistant(text),
                    role => match param {
                        Some(param) => {
                            return Err(ErrorReply::invalid(
                                format!(
                                    "Invalid value: '{}'. Supported values are: 'assistant', 'system', \
                                     'developer', and 'user'.",
                                    role.as_str()
                                ),
                                Some(&format!("{param}[{position}].role")),
                                Some("invalid_value"),
                            ));
                        }
                        None => ChatMessage::user(text),
                    },
                });
            }
            InputItem::FunctionCall(call) => {
                let tool_call = ToolCall::function(call.call_id.clone(), call.name.clone(), call.arguments.clone());
                match messages.last_mut() {
                    Some(ChatMessage::Assistant(assistant))
                        if assistant.tool_calls.is_some() && assistant.content.is_none() =>
                    {
                        assistant.tool_calls.get_or_insert_with(Vec::new).push(tool_call);
                    }
                    _ => messages.push(ChatMessage::Assistant(chat::AssistantMessage {
                        tool_calls: Some(vec![tool_call]),
                        ..chat::AssistantMessage::default()
                    })),
                }
            }
            InputItem::FunctionCallOutput(output) => {
                messages.push(ChatMessage::tool(output.call_id.clone(), output.output.clone()));
            }
            InputItem::ItemReference(reference) => {
                return Err(ErrorReply::invalid(
                    format!("Item with id '{}' not found.", reference.id),
                    Some(&format!("{}[{position}]", param.unwrap_or("input"))),
                    None,
                ));
            }
            // Searches, reasoning and unknown items add nothing the generator reads.
            _ => {}
        }
    }
    Ok(())
}

/// The text of a message's content: the string, or its text and refusal parts.
fn message_text(message: &Message) -> String {
    match &message.content {
        MessageContent::Text(text) => text.clone(),
        MessageContent::Parts(parts) => {
            let texts: Vec<&str> = parts
                .iter()
                .filter_map(|part| match part {
                    ContentPart::Refusal(refusal) => Some(refusal.refusal.as_str()),
                    part => part.text(),
                })
                .collect();
            texts.join("\n")
        }
    }
}

impl Prepared {
    /// Renames what a chat-side error names to the Responses parameters.
    pub(crate) fn rename(&self, mut reply: ErrorReply) -> ErrorReply {
        let Some(error) = reply.body_mut().get_mut("error").and_then(Value::as_object_mut) else {
            return reply;
        };
        if let Some(Value::String(param)) = error.get_mut("param") {
            *param = self.param(param);
        }
        if let Some(Value::String(message)) = error.get_mut("message") {
            *message = message
                .replace("'messages'", "'input'")
                .replace("'response_format'", "'text.format'")
                .replace("response_format '", "text.format '")
                .replace("'max_completion_tokens'", "'max_output_tokens'");
        }
        reply
    }

    fn param(&self, param: &str) -> String {
        if param.starts_with("messages") {
            return "input".to_owned();
        }
        if param == "max_completion_tokens" {
            return "max_output_tokens".to_owned();
        }
        if param == "response_format" {
            return "text.format".to_owned();
        }
        if let Some(rest) = param.strip_prefix("tools[")
            && let Some((index, tail)) = rest.split_once(']')
            && let Ok(index) = index.parse::<usize>()
        {
            let position = self.tool_positions.get(index).copied().unwrap_or(index);
            let tail = tail.strip_prefix(".function").unwrap_or(tail);
            return format!("tools[{position}]{tail}");
        }
        param.to_owned()
    }
}

/// What a chat answer becomes.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) output: Vec<OutputItem>,
    pub(crate) status: ResponseStatus,
    pub(crate) incomplete_details: Option<IncompleteDetails>,
    pub(crate) usage: ResponseUsage,
    pub(crate) content_filters: Vec<ResponseContentFilter>,
}

/// The output of a chat answer (its first choice): a message or function
/// calls, the status (`incomplete` when cut by `max_output_tokens` or the
/// filter), usage and Azure's filter results.
pub(crate) fn answer(chat: &ChatResponse, ids: &mut ItemIds) -> Answer {
    let mut output = Vec::new();
    let mut status = ResponseStatus::Completed;
    let mut incomplete_details = None;
    let mut content_filters = Vec::new();
    if let Some(results) =
        chat.prompt_filter_results.iter().flatten().find_map(|result| result.content_filter_results.clone())
    {
        content_filters.push(ResponseContentFilter {
            blocked: false,
            source_type: "prompt".to_owned(),
            content_filter_results: results,
            ..ResponseContentFilter::default()
        });
    }
    if let Some(choice) = chat.choices.first() {
        let reason = match &choice.finish_reason {
            Some(FinishReason::Length) => Some("max_output_tokens"),
            Some(FinishReason::ContentFilter) => Some("content_filter"),
            _ => None,
        };
        if let Some(reason) = reason {
            status = ResponseStatus::Incomplete;
            incomplete_details = Some(IncompleteDetails { reason: reason.to_owned(), extra: Map::new() });
        }
        let item_status = if reason.is_some() { ItemStatus::Incomplete } else { ItemStatus::Completed };
        let message = &choice.message;
        let mut parts = Vec::new();
        if let Some(text) = &message.content {
            parts.push(ContentPart::OutputText(OutputText {
                text: text.clone(),
                annotations: Vec::new(),
                logprobs: Some(Vec::new()),
                extra: Map::new(),
            }));
        }
        if let Some(refusal) = &message.refusal {
            parts.push(ContentPart::Refusal(Refusal { refusal: refusal.clone(), extra: Map::new() }));
        }
        if !parts.is_empty() {
            output.push(OutputItem::Message(Message {
                id: Some(ids.next("msg")),
                role: Role::Assistant,
                content: MessageContent::Parts(parts),
                status: Some(item_status.clone()),
                extra: Map::new(),
            }));
        }
        for call in message.tool_calls.iter().flatten() {
            output.push(OutputItem::FunctionCall(FunctionCall {
                id: Some(ids.next("fc")),
                call_id: call.id.clone(),
                name: call.function.name.clone(),
                arguments: call.function.arguments.clone(),
                status: Some(item_status.clone()),
                extra: Map::new(),
            }));
        }
        if let Some(results) = &choice.content_filter_results {
            let length = message.content.as_deref().map_or(0, |text| text.chars().count()) as u64;
            content_filters.push(ResponseContentFilter {
                blocked: choice.finish_reason == Some(FinishReason::ContentFilter),
                source_type: "completion".to_owned(),
                content_filter_results: (**results).clone(),
                content_filter_offsets: Some(aoai_core::responses::ContentFilterOffsets {
                    start_offset: 0,
                    end_offset: length,
                    check_offset: length,
                    extra: Map::new(),
                }),
                extra: Map::new(),
            });
        }
    }
    let usage = chat.usage.clone().unwrap_or_default();
    let usage = ResponseUsage {
        input_tokens: usage.prompt_tokens,
        input_tokens_details: Some(InputTokensDetails { cached_tokens: 0, extra: Map::new() }),
        output_tokens: usage.completion_tokens,
        output_tokens_details: Some(OutputTokensDetails { reasoning_tokens: 0, extra: Map::new() }),
        total_tokens: usage.prompt_tokens + usage.completion_tokens,
        extra: Map::new(),
    };
    Answer { output, status, incomplete_details, usage, content_filters }
}

/// The request's input items as stored (and listed by `input_items`):
/// every item with an id, string contents as `input_text` parts.
pub(crate) fn stored_input(items: Vec<InputItem>, ids: &mut ItemIds) -> Vec<OutputItem> {
    items
        .into_iter()
        .map(|item| match item {
            InputItem::Message(mut message) => {
                if message.id.is_none() {
                    message.id = Some(ids.next("msg"));
                }
                if let MessageContent::Text(text) = &message.content {
                    let part = if message.role == Role::Assistant {
                        ContentPart::output_text(text.clone())
                    } else {
                        ContentPart::input_text(text.clone())
                    };
                    message.content = MessageContent::Parts(vec![part]);
                }
                message.status.get_or_insert(ItemStatus::Completed);
                OutputItem::Message(message)
            }
            InputItem::FunctionCallOutput(mut output) => {
                if output.id.is_none() {
                    output.id = Some(ids.next("fco"));
                }
                output.status.get_or_insert(ItemStatus::Completed);
                OutputItem::FunctionCallOutput(output)
            }
            InputItem::FunctionCall(call) => OutputItem::FunctionCall(call),
            InputItem::FileSearchCall(call) => OutputItem::FileSearchCall(call),
            InputItem::Reasoning(reasoning) => OutputItem::Reasoning(reasoning),
            InputItem::ItemReference(reference) => {
                OutputItem::Other(serde_json::json!({"type": "item_reference", "id": reference.id}))
            }
            other => OutputItem::Other(serde_json::to_value(&other).unwrap_or(Value::Null)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aoai_core::responses::FunctionTool;
    use serde_json::json;

    #[test]
    fn a_request_becomes_messages_and_tools() {
        let request = ResponseRequest::new(vec![
            InputItem::user("What is the weather in Paris?"),
            InputItem::FunctionCall(FunctionCall {
                call_id: "call_1".into(),
                name: "get_weather".into(),
                arguments: "{}".into(),
                ..FunctionCall::default()
            }),
            InputItem::function_call_output("call_1", "{\"temperature\": 21}"),
        ])
        .instructions("Be brief.")
        .tools(vec![
            ResponseTool::file_search(["vs_1"]),
            ResponseTool::Function(FunctionTool { name: "get_weather".into(), ..FunctionTool::default() }),
        ]);
        let input = request.input_items();
        let prepared = prepare(&request, "gpt-4o", &[], &input).unwrap();
        assert_eq!(prepared.chat.messages.len(), 4);
        assert!(matches!(prepared.chat.messages[0], ChatMessage::System(_)));
        assert_eq!(prepared.chat.messages[2].tool_calls().len(), 1);
        assert_eq!(prepared.search, SearchMode::Auto);
        assert_eq!(prepared.param("tools[0].function.parameters"), "tools[1].parameters");
        assert_eq!(prepared.param("messages.[2].role"), "input");
    }

    #[test]
    fn bad_values_name_their_parameter() {
        let request = ResponseRequest::new("hi").max_output_tokens(3);
        let error = prepare(&request, "d", &[], &request.input_items()).unwrap_err();
        assert_eq!(error.body_json()["error"]["param"], "max_output_tokens");
        let request = ResponseRequest::new("hi").tool_choice(ResponseToolChoice::function("nope"));
        let error = prepare(&request, "d", &[], &request.input_items()).unwrap_err();
        assert_eq!(error.body_json()["error"]["param"], "tool_choice");
        let request: ResponseRequest =
            serde_json::from_value(json!({"input": [{"role": "robot", "content": "x"}]})).unwrap();
        let error = prepare(&request, "d", &[], &request.input_items()).unwrap_err();
        assert_eq!(error.body_json()["error"]["param"], "input[0].role");
    }
}
