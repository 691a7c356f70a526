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
//!
//! A stored Responses API answer is replayed by [`response_events_of`] as
//! the events the service sends, numbered by `sequence_number` from 0:
//! `response.created` and `response.in_progress` (the response without its
//! output, usage, error and filter results, `in_progress`); per output item
//! `response.output_item.added` (the item as it starts: empty content or
//! arguments, `in_progress`), then for a message per content part
//! `response.content_part.added`, `response.output_text.delta`s of a few
//! words each, `response.output_text.annotation.added` per annotation,
//! `response.output_text.done`, `response.content_part.done` (refusals
//! stream as `response.refusal.delta`/`.done`); for a function call
//! `response.function_call_arguments.delta`s and `.done`; for a file
//! search `response.file_search_call.in_progress`/`.searching`/`.completed`;
//! then `response.output_item.done` with the whole item; finally
//! `response.completed` with the whole stored response.
//! [`ResponseAccumulator`](aoai_core::responses::ResponseAccumulator) rebuilds
//! the stored response from them, its output from the events alone too.

use aoai_core::chat::{ChatChunk, ChatResponse, ChunkChoice, Delta, FunctionCallDelta, ToolCallDelta, Usage};
use aoai_core::responses::{
    ContentPart, FileSearchCall, FunctionCall, ItemStatus, Message, MessageContent, OutputItem, OutputText, PartRef,
    Refusal, ResponseEvent, ResponseObject, ResponseStatus, ResponseStreamEvent,
};
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

/// The events that stream the stored Responses API answer `response` (see
/// the [module docs](self)).
#[must_use]
pub fn response_events_of(response: &ResponseObject) -> Vec<ResponseStreamEvent> {
    let mut events = ResponseEvents::default();
    let started = ResponseObject {
        status: ResponseStatus::InProgress,
        output: Vec::new(),
        usage: None,
        error: None,
        incomplete_details: None,
        content_filters: None,
        ..response.clone()
    };
    events.push(ResponseEvent::Created(Box::new(started.clone())));
    events.push(ResponseEvent::InProgress(Box::new(started)));
    for (index, item) in response.output.iter().enumerate() {
        events.item(u64::try_from(index).unwrap_or(u64::MAX), item);
    }
    events.push(ResponseEvent::Completed(Box::new(response.clone())));
    events.events
}

/// Events being numbered.
#[derive(Default)]
struct ResponseEvents {
    events: Vec<ResponseStreamEvent>,
}

impl ResponseEvents {
    fn push(&mut self, event: ResponseEvent) {
        let sequence_number = Some(u64::try_from(self.events.len()).unwrap_or(u64::MAX));
        self.events.push(ResponseStreamEvent { sequence_number, event });
    }

    fn item(&mut self, output_index: u64, item: &OutputItem) {
        match item {
            OutputItem::Message(message) => {
                let started = Message {
                    status: Some(ItemStatus::InProgress),
                    content: MessageContent::Parts(Vec::new()),
                    ..message.clone()
                };
                self.push(ResponseEvent::OutputItemAdded { output_index, item: OutputItem::Message(started) });
                let item_id = message.id.clone().unwrap_or_default();
                match &message.content {
                    MessageContent::Parts(parts) => {
                        for (index, part) in parts.iter().enumerate() {
                            let content_index = u64::try_from(index).unwrap_or(u64::MAX);
                            self.part(&PartRef { item_id: item_id.clone(), output_index, content_index }, part);
                        }
                    }
                    MessageContent::Text(text) => {
                        let at = PartRef { item_id, output_index, content_index: 0 };
                        self.part(&at, &ContentPart::output_text(text.clone()));
                    }
                }
            }
            OutputItem::FunctionCall(call) => {
                let started =
                    FunctionCall { arguments: String::new(), status: Some(ItemStatus::InProgress), ..call.clone() };
                self.push(ResponseEvent::OutputItemAdded { output_index, item: OutputItem::FunctionCall(started) });
                let item_id = call.id.clone().unwrap_or_default();
                for piece in pieces(&call.arguments).into_iter().filter(|piece| !piece.is_empty()) {
                    self.push(ResponseEvent::FunctionCallArgumentsDelta {
                        item_id: item_id.clone(),
                        output_index,
                        delta: piece.to_owned(),
                    });
                }
                self.push(ResponseEvent::FunctionCallArgumentsDone {
                    item_id,
                    output_index,
                    arguments: call.arguments.clone(),
                });
            }
            OutputItem::FileSearchCall(call) => {
                let started = FileSearchCall {
                    status: Some(ItemStatus::InProgress),
                    queries: Vec::new(),
                    results: None,
                    ..call.clone()
                };
                self.push(ResponseEvent::OutputItemAdded { output_index, item: OutputItem::FileSearchCall(started) });
                let item_id = &call.id;
                self.push(ResponseEvent::FileSearchCallInProgress { item_id: item_id.clone(), output_index });
                self.push(ResponseEvent::FileSearchCallSearching { item_id: item_id.clone(), output_index });
                self.push(ResponseEvent::FileSearchCallCompleted { item_id: item_id.clone(), output_index });
            }
            other => self.push(ResponseEvent::OutputItemAdded { output_index, item: other.clone() }),
        }
        self.push(ResponseEvent::OutputItemDone { output_index, item: item.clone() });
    }

    fn part(&mut self, at: &PartRef, part: &ContentPart) {
        match part {
            ContentPart::OutputText(text) => {
                let started = OutputText {
                    text: String::new(),
                    annotations: Vec::new(),
                    logprobs: text.logprobs.as_ref().map(|_| Vec::new()),
                    extra: Map::new(),
                };
                self.push(ResponseEvent::ContentPartAdded { at: at.clone(), part: ContentPart::OutputText(started) });
                for piece in pieces(&text.text).into_iter().filter(|piece| !piece.is_empty()) {
                    self.push(ResponseEvent::OutputTextDelta { at: at.clone(), delta: piece.to_owned() });
                }
                for (index, annotation) in text.annotations.iter().enumerate() {
                    self.push(ResponseEvent::OutputTextAnnotationAdded {
                        at: at.clone(),
                        annotation_index: u64::try_from(index).unwrap_or(u64::MAX),
                        annotation: annotation.clone(),
                    });
                }
                self.push(ResponseEvent::OutputTextDone { at: at.clone(), text: text.text.clone() });
            }
            ContentPart::Refusal(refusal) => {
                self.push(ResponseEvent::ContentPartAdded {
                    at: at.clone(),
                    part: ContentPart::Refusal(Refusal::default()),
                });
                for piece in pieces(&refusal.refusal).into_iter().filter(|piece| !piece.is_empty()) {
                    self.push(ResponseEvent::RefusalDelta { at: at.clone(), delta: piece.to_owned() });
                }
                self.push(ResponseEvent::RefusalDone { at: at.clone(), refusal: refusal.refusal.clone() });
            }
            other => self.push(ResponseEvent::ContentPartAdded { at: at.clone(), part: other.clone() }),
        }
        self.push(ResponseEvent::ContentPartDone { at: at.clone(), part: part.clone() });
    }
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
/// What a captured stream does with the assembled answer when the upstream
/// ends cleanly.
pub(crate) type OnComplete =
    Box<dyn FnOnce(ChatResponse) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send>;

/// Sends `request` as a stream through `inner` (asking for usage, to count
/// it), forwards the chunks as they come and hands the answer they
/// assemble to `complete` once the upstream ends cleanly; `failed` runs
/// instead when the stream cannot be opened or ends with an error. The
/// usage-only chunk is forwarded only when the caller asked for it. A
/// caller that stops reading early stores nothing. The one capture both
/// [`Cached`](crate::Cached) and
/// [`SemanticCache`](crate::semantic::SemanticCache) use for streamed misses.
pub(crate) async fn capture<C: aoai_core::ChatApi + ?Sized>(
    inner: &C,
    deployment: &str,
    request: &aoai_core::chat::ChatRequest,
    complete: OnComplete,
    failed: Box<dyn FnOnce() + Send>,
) -> aoai_core::Result<aoai_core::stream::ChatStream> {
    use futures_util::StreamExt as _;
    struct Capture {
        upstream: aoai_core::stream::ChatStream,
        accumulator: aoai_core::chat::ChatAccumulator,
        drop_usage_chunk: bool,
        complete: OnComplete,
        failed: Box<dyn FnOnce() + Send>,
    }
    let caller_wants_usage = request.stream_options.as_ref().is_some_and(|options| options.include_usage);
    let opened = if caller_wants_usage {
        inner.chat_stream(deployment, request).await
    } else {
        let mut with_usage = request.clone();
        with_usage.stream_options = Some(aoai_core::chat::StreamOptions::with_usage());
        inner.chat_stream(deployment, &with_usage).await
    };
    let upstream = match opened {
        Ok(stream) => stream,
        Err(error) => {
            failed();
            return Err(error);
        }
    };
    let drop_usage_chunk = !caller_wants_usage;
    let meta = upstream.meta().clone();
    let state =
        Capture { upstream, accumulator: aoai_core::chat::ChatAccumulator::new(), drop_usage_chunk, complete, failed };
    let chunks = futures_util::stream::unfold(Some(state), |state| async move {
        let mut state = state?;
        loop {
            match state.upstream.next().await {
                Some(Ok(chunk)) => {
                    state.accumulator.push(&chunk);
                    let only_usage =
                        chunk.choices.is_empty() && chunk.usage.is_some() && chunk.prompt_filter_results.is_none();
                    if state.drop_usage_chunk && only_usage {
                        continue;
                    }
                    return Some((Ok(chunk), Some(state)));
                }
                Some(Err(error)) => {
                    (state.failed)();
                    return Some((Err(error), None));
                }
                None => {
                    (state.complete)(state.accumulator.finish()).await;
                    return None;
                }
            }
        }
    });
    Ok(aoai_core::stream::ChatStream::from_chunks(chunks, meta))
}

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
    fn replayed_response_events_rebuild_the_stored_response() {
        use aoai_core::responses::{ResponseAccumulator, kinds};

        let response: ResponseObject = serde_json::from_value(serde_json::json!({
            "id": "resp_1", "object": "response", "created_at": 7, "status": "completed", "model": "gpt-4o",
            "output": [
                {"type": "reasoning", "id": "rs_1", "summary": [], "status": "completed"},
                {"type": "file_search_call", "id": "fs_1", "status": "completed", "queries": ["rivers"],
                 "results": [{"file_id": "file_1", "filename": "a.md", "score": 0.5, "text": "The Seine."}]},
                {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed", "content": [
                    {"type": "output_text", "text": "The Seine flows through Paris, said the file.", "annotations": [
                        {"type": "file_citation", "file_id": "file_1", "filename": "a.md", "index": 29},
                        {"type": "url_citation", "url": "https://x", "title": "x", "start_index": 0, "end_index": 4}
                    ], "logprobs": []},
                    {"type": "refusal", "refusal": "I will not say more than that."}
                ]},
                {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather",
                 "arguments": "{\"city\": \"Paris\", \"unit\": \"celsius\", \"days\": 2}", "status": "completed"},
                {"type": "mcp_list_tools", "id": "mcpl_1", "tools": []}
            ],
            "usage": {"input_tokens": 5, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 9,
                      "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 14},
            "error": null, "incomplete_details": null, "instructions": "Be brief.", "store": true,
            "content_filters": [{"blocked": false, "source_type": "prompt", "content_filter_results": {}}],
            "an_unknown_field": {"kept": true}
        }))
        .unwrap();
        let events = response_events_of(&response);
        let numbers: Vec<u64> = events.iter().map(|event| event.sequence_number.unwrap()).collect();
        assert_eq!(numbers, (0..events.len() as u64).collect::<Vec<_>>());
        let kinds: Vec<&str> = events.iter().map(ResponseStreamEvent::kind).collect();
        assert_eq!(&kinds[..2], [kinds::CREATED, kinds::IN_PROGRESS]);
        assert_eq!(kinds.last(), Some(&kinds::COMPLETED));
        for kind in [
            kinds::OUTPUT_TEXT_ANNOTATION_ADDED,
            kinds::REFUSAL_DELTA,
            kinds::FUNCTION_CALL_ARGUMENTS_DELTA,
            kinds::FUNCTION_CALL_ARGUMENTS_DONE,
            kinds::FILE_SEARCH_CALL_SEARCHING,
        ] {
            assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
        }
        assert!(kinds.iter().filter(|kind| **kind == kinds::OUTPUT_TEXT_DELTA).count() >= 2, "{kinds:?}");
        assert_eq!(kinds.iter().filter(|kind| **kind == kinds::OUTPUT_ITEM_DONE).count(), 5);
        let created = events[0].event.response().unwrap();
        assert_eq!((created.status.clone(), created.output.len()), (ResponseStatus::InProgress, 0));
        assert!(created.usage.is_none() && created.content_filters.is_none());

        let mut accumulator = ResponseAccumulator::new();
        for (position, event) in events.iter().enumerate() {
            // Each event survives the wire (what a caller re-serialising the stream sees).
            let wire = serde_json::to_string(event).unwrap();
            assert_eq!(&ResponseStreamEvent::from_json(&wire).unwrap(), event, "event {position}");
            accumulator.push(event);
            // Before the terminal event, the output comes from the events alone.
            if position + 2 == events.len() {
                assert_eq!(accumulator.output(), response.output.as_slice());
            }
        }
        assert_eq!(accumulator.into_response(), response);

        // Items in progress start empty: the deltas alone build the text and arguments.
        let mut deltas_only = ResponseAccumulator::new();
        for event in events.iter().filter(|event| {
            !matches!(
                event.event,
                ResponseEvent::OutputItemDone { .. }
                    | ResponseEvent::ContentPartDone { .. }
                    | ResponseEvent::OutputTextDone { .. }
                    | ResponseEvent::FunctionCallArgumentsDone { .. }
                    | ResponseEvent::RefusalDone { .. }
                    | ResponseEvent::Completed(_)
            )
        }) {
            deltas_only.push(event);
        }
        let rebuilt = deltas_only.into_response();
        assert_eq!(rebuilt.output_text(), response.output_text());
        assert_eq!(rebuilt.refusal(), response.refusal());
        assert_eq!(rebuilt.function_calls()[0].arguments, response.function_calls()[0].arguments);
        assert_eq!(rebuilt.annotations(), response.annotations());
    }

    #[test]
    fn pieces_keep_every_character() {
        for text in ["", "a", "a b c d e f g h i", "  lead and trail  ", "ünïcödé wörds ár é hére"] {
            assert_eq!(pieces(text).concat(), text);
        }
        let _ = (Choice::default(), FinishReason::Stop, ResponseMessage::default(), ToolCall::default());
    }
}
