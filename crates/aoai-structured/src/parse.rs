//! Parsing answers into types: [`parse`] for `response_format` answers,
//! [`parse_stream`] for streamed ones, [`parse_tool_call`] for forced tool
//! calls, and the requests that produce them ([`request`] with one bounded
//! repair, [`extract`]).
//!
//! Every path checks, in order: a choice exists, `message.refusal`,
//! `finish_reason` `length` and `content_filter`, content present, JSON
//! syntax, the strict schema (every violation with its JSON path), then
//! serde.

use aoai_core::ChatApi;
use aoai_core::chat::{ChatMessage, ChatRequest, ChatResponse, Choice, FinishReason, ToolChoice};
use aoai_core::stream::ChatStream;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::StructuredError;
use crate::schema::{SchemaError, is_valid_name, schema_for};

/// A value and how many requests it took.
#[derive(Debug, Clone, PartialEq)]
pub struct Repaired<T> {
    /// The parsed value.
    pub value: T,
    /// Requests sent: 1, or 2 when the first answer had to be repaired.
    pub attempts: u32,
}

/// Parses the first choice's content of a strict `response_format` answer.
///
/// # Errors
///
/// [`StructuredError`] for a refusal, a truncated or filtered answer, missing
/// content, invalid JSON, schema violations or a deserialization error.
pub fn parse<T: JsonSchema + DeserializeOwned + 'static>(response: &ChatResponse) -> Result<T, StructuredError> {
    let choice = checked_choice(response)?;
    let Some(content) = choice.message.content.as_deref() else {
        return Err(StructuredError::MissingContent { reason: "the message has no content".to_owned() });
    };
    parse_json(content)
}

/// Reads a streamed answer to its end and parses it as [`parse`] does: the
/// chunks are put together by [`ChatStream::collect_response`] (content,
/// refusal, finish reason and filter results included).
///
/// Stream `request` with `T`'s [`response_format`](crate::response_format)
/// to show the JSON as it arrives, then call this for the value.
///
/// # Errors
///
/// [`StructuredError::Api`] when the stream fails or is cut, else as [`parse`].
pub async fn parse_stream<T: JsonSchema + DeserializeOwned + 'static>(
    stream: ChatStream,
) -> Result<T, StructuredError> {
    let (response, _meta) = stream.collect_response().await?;
    parse(&response)
}

/// Parses a JSON text into `T`: syntax, strict schema, then serde.
///
/// # Errors
///
/// [`StructuredError::InvalidJson`], [`StructuredError::SchemaViolations`] or
/// [`StructuredError::Deserialize`] (or [`StructuredError::Schema`] if `T`
/// has no strict schema).
pub fn parse_json<T: JsonSchema + DeserializeOwned + 'static>(content: &str) -> Result<T, StructuredError> {
    let schema = schema_for::<T>()?;
    let value: Value = serde_json::from_str(content).map_err(|error| StructuredError::InvalidJson {
        message: error.to_string(),
        line: error.line(),
        column: error.column(),
        content: content.to_owned(),
    })?;
    schema
        .validate(&value)
        .map_err(|violations| StructuredError::SchemaViolations { violations, content: content.to_owned() })?;
    T::deserialize(value)
        .map_err(|error| StructuredError::Deserialize { message: error.to_string(), content: content.to_owned() })
}

/// Parses the arguments of the first call of the function `tool_name` in
/// the first choice (the forced-tool extraction of [`extraction_request`]).
///
/// # Errors
///
/// As [`parse`]; [`StructuredError::MissingContent`] when the function was
/// not called.
pub fn parse_tool_call<T: JsonSchema + DeserializeOwned + 'static>(
    response: &ChatResponse,
    tool_name: &str,
) -> Result<T, StructuredError> {
    let choice = checked_choice(response)?;
    let call = choice.message.tool_calls.iter().flatten().find(|call| call.function.name == tool_name);
    match call {
        Some(call) => parse_json(&call.function.arguments),
        None => Err(StructuredError::MissingContent { reason: format!("the model did not call `{tool_name}`") }),
    }
}

/// Adds a strict tool whose parameters are `T`'s schema and a `tool_choice`
/// forcing its call (the guide's extraction pattern).
///
/// # Errors
///
/// [`StructuredError::Schema`] for an invalid name or a type without a strict schema.
pub fn extraction_request<T: JsonSchema + 'static>(
    request: ChatRequest,
    tool_name: &str,
    description: &str,
) -> Result<ChatRequest, StructuredError> {
    if !is_valid_name(tool_name) {
        return Err(SchemaError::invalid_name(tool_name).into());
    }
    let tool = schema_for::<T>()?.tool(tool_name, description);
    Ok(request.tool(tool).tool_choice(ToolChoice::function(tool_name)))
}

/// Sends `request` with a forced call of a tool taking `T`, and parses the
/// call's arguments.
///
/// # Errors
///
/// [`StructuredError::Api`] when the request fails, else as [`parse_tool_call`].
pub async fn extract<T, C>(
    api: &C,
    deployment: &str,
    request: ChatRequest,
    tool_name: &str,
    description: &str,
) -> Result<T, StructuredError>
where
    T: JsonSchema + DeserializeOwned + 'static,
    C: ChatApi + ?Sized,
{
    let request = extraction_request::<T>(request, tool_name, description)?;
    let response = api.chat(deployment, &request).await?.into_body();
    parse_tool_call(&response, tool_name)
}

/// Sends `request` (with `T`'s strict `response_format` unless it has one)
/// and parses the answer; when the answer is invalid JSON, breaks the schema
/// or does not deserialize, asks once more with the errors appended as a
/// user message.
///
/// # Errors
///
/// [`StructuredError::Api`] when a request fails; the last parse error
/// otherwise.
pub async fn request<T, C>(api: &C, deployment: &str, request: &ChatRequest) -> Result<Repaired<T>, StructuredError>
where
    T: JsonSchema + DeserializeOwned + 'static,
    C: ChatApi + ?Sized,
{
    let mut request = request.clone();
    if request.response_format.is_none() {
        let schema = schema_for::<T>()?;
        request.response_format = Some(schema.response_format_named(schema.name()));
    }
    let response = api.chat(deployment, &request).await?.into_body();
    let error = match parse::<T>(&response) {
        Ok(value) => return Ok(Repaired { value, attempts: 1 }),
        Err(error) if error.is_repairable() => error,
        Err(error) => return Err(error),
    };
    let previous = error.content().unwrap_or_default().to_owned();
    request.messages.push(ChatMessage::assistant(previous));
    request.messages.push(ChatMessage::user(repair_prompt(&error)));
    let response = api.chat(deployment, &request).await?.into_body();
    parse::<T>(&response).map(|value| Repaired { value, attempts: 2 })
}

/// The user message asking for a corrected answer.
fn repair_prompt(error: &StructuredError) -> String {
    let details = match error {
        StructuredError::SchemaViolations { violations, .. } => {
            violations.iter().map(|violation| format!("- {violation}")).collect::<Vec<_>>().join("\n")
        }
        other => format!("- {other}"),
    };
    format!(
        "Your previous answer was not valid:\n{details}\nAnswer again with only JSON that follows the required schema."
    )
}

fn checked_choice(response: &ChatResponse) -> Result<&Choice, StructuredError> {
    let Some(choice) = response.first_choice() else {
        return Err(StructuredError::MissingContent { reason: "the response has no choice".to_owned() });
    };
    if let Some(refusal) = &choice.message.refusal {
        return Err(StructuredError::Refusal { refusal: refusal.clone() });
    }
    match choice.finish_reason {
        Some(FinishReason::Length) => Err(StructuredError::Truncated { partial: choice.message.content.clone() }),
        Some(FinishReason::ContentFilter) => {
            Err(StructuredError::ContentFiltered { partial: choice.message.content.clone() })
        }
        _ => Ok(choice),
    }
}
