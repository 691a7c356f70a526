//! A stored answer replayed as a stream in Azure's shape, and the helpers
//! that write and read stored answers.
//!
//! The chunks: an annotation chunk with the prompt's filter results (`"id":
//! ""`, `"choices": []`) when the answer has them; per choice, a chunk with
//! the role (and `content: ""` when the choice has text), content chunks of a
//! few words each, one chunk with the refusal, tool calls and function call,
//! and a finish chunk with the finish reason, the choice's filter results and
//! log probabilities; then, when the request asked for
//! `stream_options.include_usage`, a usage chunk with `"choices": []`.
//! [`ChatAccumulator`](aoai_core::chat::ChatAccumulator) rebuilds the stored
//! answer from them (response-level and message-level unknown fields and
//! `message.context` are not streamed, as Azure does not stream them either).

use aoai_core::chat::{ChatChunk, ChatResponse, ChunkChoice, Delta, FunctionCallDelta, ToolCallDelta, Usage};
use serde_json::Map;

use crate::backend::Bytes;
use crate::error::DecodeError;

/// How many words a replayed content chunk carries.
const WORDS_PER_CHUNK: usize = 4;

/// The chunks that stream `response`; with `include_usage`, a usage chunk last.
#[must_use]
pub fn chunks_of(response: &ChatResponse, include_usage: bool) -> Vec<ChatChunk> {
    let mut chunks = Vec::new();
    if let Some(results) = &response.prompt_filter_results {
        chunks.push(ChatChunk { prompt_filter_results: Some(results.clone()), ..ChatChunk::default() });
    }
    let chunk = |choice: ChunkChoice| ChatChunk {
        id: response.id.clone(),
        object: "chat.completion.chunk".to_owned(),
        created: response.created,
        model: response.model.clone(),
        choices: vec![choice],
        usage: None,
        system_fingerprint: response.system_fingerprint.clone(),
        prompt_filter_results: None,
        extra: Map::new(),
    };
    for choice in &response.choices {
        let message = &choice.message;
        let delta_choice =
            |delta: Delta| ChunkChoice { index: choice.index, delta: Some(delta), ..ChunkChoice::default() };
        chunks.push(chunk(delta_choice(Delta {
            role: Some(message.role.clone()),
            content: message.content.as_ref().map(|_| String::new()),
            ..Delta::default()
        })));
        if let Some(content) = &message.content {
            for piece in pieces(content) {
                chunks.push(chunk(delta_choice(Delta { content: Some(piece.to_owned()), ..Delta::default() })));
            }
        }
        let tool_calls: Option<Vec<ToolCallDelta>> = message.tool_calls.as_ref().map(|calls| {
            calls
                .iter()
                .enumerate()
                .map(|(index, call)| ToolCallDelta {
                    index: u32::try_from(index).unwrap_or(u32::MAX),
                    id: Some(call.id.clone()),
                    kind: Some(call.kind.clone()),
                    function: Some(FunctionCallDelta {
                        name: Some(call.function.name.clone()),
                        arguments: Some(call.function.arguments.clone()),
                    }),
                })
                .collect()
        });
        let function_call = message
            .function_call
            .as_ref()
            .map(|call| FunctionCallDelta { name: Some(call.name.clone()), arguments: Some(call.arguments.clone()) });
        if message.refusal.is_some() || tool_calls.is_some() || function_call.is_some() {
            chunks.push(chunk(delta_choice(Delta {
                refusal: message.refusal.clone(),
                tool_calls,
                function_call,
                ..Delta::default()
            })));
        }
        chunks.push(chunk(ChunkChoice {
            index: choice.index,
            delta: Some(Delta::default()),
            finish_reason: choice.finish_reason.clone(),
            logprobs: choice.logprobs.clone(),
            content_filter_results: choice.content_filter_results.clone(),
            content_filter_offsets: None,
        }));
    }
    if include_usage && let Some(usage) = &response.usage {
        let mut last = chunk(ChunkChoice::default());
        last.choices.clear();
        last.usage = Some(usage.clone());
        chunks.push(last);
    }
    chunks
}

/// `text` in pieces of a few words, each keeping the whitespace after it.
fn pieces(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut words = 0;
    for (index, _) in text.match_indices(' ') {
        words += 1;
        if words == WORDS_PER_CHUNK {
            pieces.push(&text[start..=index]);
            start = index + 1;
            words = 0;
        }
    }
    if start < text.len() || pieces.is_empty() {
        pieces.push(&text[start..]);
    }
    pieces
}

/// The bytes stored for an answer.
pub(crate) fn encode<T: serde::Serialize>(body: &T) -> Option<Bytes> {
    serde_json::to_vec(body).ok().map(Bytes::from)
}

/// An answer read back from stored bytes.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    serde_json::from_slice(bytes).map_err(|error| DecodeError { message: error.to_string() })
}

/// The usage of an embeddings answer as chat usage (no completion tokens).
pub(crate) fn embeddings_usage(usage: aoai_core::embeddings::EmbeddingsUsage) -> Usage {
    Usage::new(usage.prompt_tokens, 0)
}

#[cfg(test)]
mod tests {
    use aoai_core::chat::{ChatAccumulator, Choice, FinishReason, ResponseMessage, ToolCall};

    use super::*;

    fn rebuilt(chunks: &[ChatChunk]) -> ChatResponse {
        let mut accumulator = ChatAccumulator::new();
        for chunk in chunks {
            accumulator.push(chunk);
        }
        accumulator.finish()
    }

    #[test]
    fn replayed_chunks_rebuild_the_answer() {
        let response: ChatResponse = serde_json::from_value(serde_json::json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 7, "model": "gpt-4o",
            "system_fingerprint": "fp",
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {"hate": {"filtered": false, "severity": "safe"}}}],
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "one two three four five six seven nine"}, "finish_reason": "stop",
                 "content_filter_results": {"hate": {"filtered": false, "severity": "safe"}}},
                {"index": 1, "message": {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}},
                    {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": "{}"}}
                ]}, "finish_reason": "tool_calls"},
                {"index": 2, "message": {"role": "assistant", "content": "", "refusal": "no"}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14}
        }))
        .unwrap();
        let chunks = chunks_of(&response, true);
        assert!(chunks[0].choices.is_empty() && chunks[0].id.is_empty());
        assert!(chunks.last().unwrap().choices.is_empty() && chunks.last().unwrap().usage.is_some());
        assert!(chunks.iter().filter(|chunk| chunk.delta_text().is_some_and(|text| !text.is_empty())).count() >= 2);
        assert_eq!(rebuilt(&chunks), response);
        let without_usage = rebuilt(&chunks_of(&response, false));
        assert_eq!(without_usage.usage, None);
        assert_eq!(without_usage.choices, response.choices);
    }

    #[test]
    fn pieces_keep_every_character() {
        for text in ["", "a", "a b c d e f g h i", "  lead and trail  ", "ünïcödé wörds ár é hére"] {
            assert_eq!(pieces(text).concat(), text);
        }
        let _ = (Choice::default(), FinishReason::Stop, ResponseMessage::default(), ToolCall::default());
    }
}
