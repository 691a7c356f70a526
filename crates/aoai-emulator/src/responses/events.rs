//! A response as the events of its stream, and the SSE body that sends them.
//!
//! The events are a pure function of the finished response, so a stored
//! response is streamed again (`GET /responses/{id}?stream=true`) from the
//! same events without keeping them. For a text answer:
//!
//! `response.created` → (`response.queued`, background only) →
//! `response.in_progress` → per output item `response.output_item.added` →
//! per content part `response.content_part.added` →
//! `response.output_text.delta`* (one per token; a character split across
//! tokens waits for its last byte) → `response.output_text.annotation.added`*
//! → `response.output_text.done` → `response.content_part.done` →
//! `response.output_item.done` → `response.completed` (or
//! `response.incomplete`). Function calls stream their arguments with
//! `response.function_call_arguments.delta`*/`.done`; a file search sends
//! `response.file_search_call.in_progress`/`.searching`/`.completed`.
//! `sequence_number` counts from 0; there is no `[DONE]`. Each event is
//! written by aoai-core's `ResponseStreamEvent` serialiser as
//! `event: <type>\ndata: <json>\n\n`.

use std::io;
use std::sync::Arc;

use aoai_core::clock::Time;
use aoai_core::responses::{
    Annotation, ContentPart, FileSearchCall, FunctionCall, ItemStatus, Message, MessageContent, OutputItem, OutputText,
    PartRef, Refusal, ResponseEvent, ResponseObject, ResponseStatus, ResponseStreamEvent,
};
use aoai_core::tokens::Tokenizer;
use axum::body::Body;
use bytes::Bytes;
use serde_json::Map;

use super::store::{Background, Phase, pending};
use crate::config::LatencyModel;
use crate::sse::token_pieces;

/// One event with what paces it.
#[derive(Debug, Clone)]
pub(crate) struct Planned {
    /// The event.
    pub(crate) event: ResponseStreamEvent,
    /// Generated tokens it carries (for the per-token delay).
    pub(crate) tokens: u32,
    /// The phase of a background response it belongs to (it is not sent before).
    pub(crate) phase: Phase,
}

struct Builder {
    events: Vec<Planned>,
    tokenizer: Tokenizer,
}

impl Builder {
    fn push(&mut self, event: ResponseEvent, tokens: u32, phase: Phase) {
        let sequence_number = Some(self.events.len() as u64);
        self.events.push(Planned { event: ResponseStreamEvent { sequence_number, event }, tokens, phase });
    }

    fn pieces(&self, text: &str) -> Vec<(String, u32)> {
        token_pieces(text, self.tokenizer)
    }
}

/// The events of `response` (as it is shown: file-search results already
/// left out unless asked for). A background response starts `queued`.
pub(crate) fn events(response: &ResponseObject, tokenizer: Tokenizer, background: bool) -> Vec<Planned> {
    let mut builder = Builder { events: Vec::new(), tokenizer };
    let first = if background { ResponseStatus::Queued } else { ResponseStatus::InProgress };
    builder.push(ResponseEvent::Created(Box::new(pending(response, first))), 0, Phase::Queued);
    if background {
        builder.push(ResponseEvent::Queued(Box::new(pending(response, ResponseStatus::Queued))), 0, Phase::Queued);
    }
    builder.push(
        ResponseEvent::InProgress(Box::new(pending(response, ResponseStatus::InProgress))),
        0,
        Phase::InProgress,
    );
    for (index, item) in response.output.iter().enumerate() {
        item_events(&mut builder, index as u64, item);
    }
    let terminal = match response.status {
        ResponseStatus::Incomplete => ResponseEvent::Incomplete(Box::new(response.clone())),
        ResponseStatus::Failed => ResponseEvent::Failed(Box::new(response.clone())),
        _ => ResponseEvent::Completed(Box::new(response.clone())),
    };
    builder.push(terminal, 0, Phase::Done);
    builder.events
}

fn item_events(builder: &mut Builder, output_index: u64, item: &OutputItem) {
    let done = Phase::Done;
    match item {
        OutputItem::Message(message) => {
            let item_id = message.id.clone().unwrap_or_default();
            let started = Message {
                status: Some(ItemStatus::InProgress),
                content: MessageContent::Parts(Vec::new()),
                ..message.clone()
            };
            builder.push(ResponseEvent::OutputItemAdded { output_index, item: OutputItem::Message(started) }, 0, done);
            let parts = match &message.content {
                MessageContent::Parts(parts) => parts.clone(),
                MessageContent::Text(text) => vec![ContentPart::output_text(text.clone())],
            };
            for (content_index, part) in parts.iter().enumerate() {
                let at = PartRef { item_id: item_id.clone(), output_index, content_index: content_index as u64 };
                part_events(builder, &at, part);
            }
        }
        OutputItem::FunctionCall(call) => {
            let item_id = call.id.clone().unwrap_or_default();
            let started =
                FunctionCall { arguments: String::new(), status: Some(ItemStatus::InProgress), ..call.clone() };
            builder.push(
                ResponseEvent::OutputItemAdded { output_index, item: OutputItem::FunctionCall(started) },
                0,
                done,
            );
            for (delta, tokens) in builder.pieces(&call.arguments) {
                builder.push(
                    ResponseEvent::FunctionCallArgumentsDelta { item_id: item_id.clone(), output_index, delta },
                    tokens,
                    done,
                );
            }
            builder.push(
                ResponseEvent::FunctionCallArgumentsDone { item_id, output_index, arguments: call.arguments.clone() },
                0,
                done,
            );
        }
        OutputItem::FileSearchCall(call) => {
            let item_id = call.id.clone();
            let started = FileSearchCall {
                status: Some(ItemStatus::InProgress),
                queries: Vec::new(),
                results: None,
                ..call.clone()
            };
            builder.push(
                ResponseEvent::OutputItemAdded { output_index, item: OutputItem::FileSearchCall(started) },
                0,
                done,
            );
            builder.push(ResponseEvent::FileSearchCallInProgress { item_id: item_id.clone(), output_index }, 0, done);
            builder.push(ResponseEvent::FileSearchCallSearching { item_id: item_id.clone(), output_index }, 0, done);
            builder.push(ResponseEvent::FileSearchCallCompleted { item_id, output_index }, 0, done);
        }
        other => {
            builder.push(ResponseEvent::OutputItemAdded { output_index, item: other.clone() }, 0, done);
        }
    }
    builder.push(ResponseEvent::OutputItemDone { output_index, item: item.clone() }, 0, done);
}

fn part_events(builder: &mut Builder, at: &PartRef, part: &ContentPart) {
    let done = Phase::Done;
    match part {
        ContentPart::OutputText(text) => {
            let started = OutputText {
                text: String::new(),
                annotations: Vec::new(),
                logprobs: text.logprobs.as_ref().map(|_| Vec::new()),
                extra: Map::new(),
            };
            builder.push(
                ResponseEvent::ContentPartAdded { at: at.clone(), part: ContentPart::OutputText(started) },
                0,
                done,
            );
            // Each annotation follows the delta that reaches its position, as the service sends them.
            let mut annotations = text.annotations.iter().enumerate().peekable();
            let mut written = 0_u64;
            let pieces = builder.pieces(&text.text);
            let last = pieces.len();
            for (position, (delta, tokens)) in pieces.into_iter().enumerate() {
                written += delta.chars().count() as u64;
                builder.push(ResponseEvent::OutputTextDelta { at: at.clone(), delta }, tokens, done);
                while let Some((annotation_index, annotation)) =
                    annotations.next_if(|(_, annotation)| position + 1 == last || position_of(annotation) <= written)
                {
                    builder.push(
                        ResponseEvent::OutputTextAnnotationAdded {
                            at: at.clone(),
                            annotation_index: annotation_index as u64,
                            annotation: annotation.clone(),
                        },
                        0,
                        done,
                    );
                }
            }
            builder.push(ResponseEvent::OutputTextDone { at: at.clone(), text: text.text.clone() }, 0, done);
        }
        ContentPart::Refusal(refusal) => {
            builder.push(
                ResponseEvent::ContentPartAdded { at: at.clone(), part: ContentPart::Refusal(Refusal::default()) },
                0,
                done,
            );
            for (delta, tokens) in builder.pieces(&refusal.refusal) {
                builder.push(ResponseEvent::RefusalDelta { at: at.clone(), delta }, tokens, done);
            }
            builder.push(ResponseEvent::RefusalDone { at: at.clone(), refusal: refusal.refusal.clone() }, 0, done);
        }
        other => {
            builder.push(ResponseEvent::ContentPartAdded { at: at.clone(), part: other.clone() }, 0, done);
        }
    }
    builder.push(ResponseEvent::ContentPartDone { at: at.clone(), part: part.clone() }, 0, done);
}

/// Where in the text an annotation stands (characters): a file citation's
/// `index`, a span's end; unknown annotations go last.
fn position_of(annotation: &Annotation) -> u64 {
    match annotation {
        Annotation::FileCitation(citation) => citation.index,
        Annotation::UrlCitation(citation) => citation.end_index,
        Annotation::ContainerFileCitation(citation) => citation.end_index,
        _ => u64::MAX,
    }
}

/// `event: <type>\ndata: <json>\n\n`.
pub(crate) fn frame(event: &ResponseStreamEvent) -> Bytes {
    let json = serde_json::to_vec(event).unwrap_or_default();
    let kind = event.event.kind();
    let mut data = Vec::with_capacity(json.len() + kind.len() + 16);
    data.extend_from_slice(b"event: ");
    data.extend_from_slice(kind.as_bytes());
    data.extend_from_slice(b"\ndata: ");
    data.extend_from_slice(&json);
    data.extend_from_slice(b"\n\n");
    Bytes::from(data)
}

/// Where a stream fault cuts `count` events: halfway, after at least two.
pub(crate) fn cut_point(count: usize) -> usize {
    (count / 2).max(2).min(count.saturating_sub(1))
}

/// How a stream is paced.
#[derive(Debug, Clone)]
pub(crate) struct Pacing {
    /// The deployment's latency model (first output, then per token).
    pub(crate) latency: LatencyModel,
    /// A background response's timing: no event goes before its phase starts.
    pub(crate) background: Option<Background>,
    /// The emulator's clock and sleep.
    pub(crate) time: Time,
}

/// The SSE body of `events[..end]`, then the end of the body (or, when
/// `stall`, silence).
pub(crate) fn body(events: Vec<Planned>, end: usize, stall: bool, pacing: Pacing) -> Body {
    struct State {
        events: std::vec::IntoIter<Planned>,
        left: usize,
        stall: bool,
        first_output: bool,
        pacing: Arc<Pacing>,
    }
    let state = State { events: events.into_iter(), left: end, stall, first_output: true, pacing: Arc::new(pacing) };
    let stream = futures_util::stream::unfold(state, |mut state| async move {
        if state.left == 0 {
            if state.stall {
                std::future::pending::<()>().await;
            }
            return None;
        }
        let planned = state.events.next()?;
        let pacing = state.pacing.clone();
        if let Some(background) = &pacing.background {
            let due = background.starts(planned.phase);
            let now = pacing.time.clock.now();
            if due > now {
                pacing.time.sleep.sleep(due - now).await;
            }
        }
        if !pacing.latency.is_off() {
            let mut delay = pacing.latency.per_token.saturating_mul(planned.tokens);
            if state.first_output && planned.phase == Phase::Done {
                state.first_output = false;
                delay += pacing.latency.time_to_first_token;
            }
            if !delay.is_zero() {
                pacing.time.sleep.sleep(delay).await;
            }
        }
        state.left -= 1;
        Some((Ok::<Bytes, io::Error>(frame(&planned.event)), state))
    });
    Body::from_stream(stream)
}

#[cfg(test)]
mod tests {
    use aoai_core::responses::{FileCitation, ResponseAccumulator, kinds};

    use super::*;

    fn answer() -> ResponseObject {
        ResponseObject {
            id: "resp_1".into(),
            object: "response".into(),
            status: ResponseStatus::Completed,
            output: vec![
                OutputItem::FunctionCall(FunctionCall {
                    id: Some("fc_1".into()),
                    call_id: "call_1".into(),
                    name: "f".into(),
                    arguments: "{\"city\":\"Paris\"}".into(),
                    status: Some(ItemStatus::Completed),
                    extra: Map::new(),
                }),
                OutputItem::Message(Message {
                    id: Some("msg_1".into()),
                    role: aoai_core::responses::Role::Assistant,
                    content: MessageContent::Parts(vec![ContentPart::OutputText(OutputText {
                        text: "Paris is sunny. 日本語".into(),
                        annotations: vec![Annotation::FileCitation(FileCitation {
                            file_id: "file_1".into(),
                            filename: "a.md".into(),
                            index: 15,
                            extra: Map::new(),
                        })],
                        logprobs: Some(Vec::new()),
                        extra: Map::new(),
                    })]),
                    status: Some(ItemStatus::Completed),
                    extra: Map::new(),
                }),
            ],
            ..ResponseObject::default()
        }
    }

    #[test]
    fn the_events_rebuild_the_response() {
        let response = answer();
        let events = events(&response, Tokenizer::for_model("gpt-4o"), false);
        let mut accumulator = ResponseAccumulator::new();
        for (position, planned) in events.iter().enumerate() {
            assert_eq!(planned.event.sequence_number, Some(position as u64));
            // Through the bytes, as a client reads them.
            let bytes = frame(&planned.event);
            let text = std::str::from_utf8(&bytes).unwrap();
            let (head, data) = text.split_once('\n').unwrap();
            assert_eq!(head, format!("event: {}", planned.event.event.kind()));
            let parsed = ResponseStreamEvent::from_json(data.strip_prefix("data: ").unwrap().trim_end()).unwrap();
            assert_eq!(parsed, planned.event);
            accumulator.push(&parsed);
        }
        assert_eq!(accumulator.output(), response.output.as_slice());
        assert_eq!(accumulator.into_response(), response);
        let kinds: Vec<&str> = events.iter().map(|planned| planned.event.event.kind()).collect();
        assert_eq!(
            &kinds[..4],
            [kinds::CREATED, kinds::IN_PROGRESS, kinds::OUTPUT_ITEM_ADDED, kinds::FUNCTION_CALL_ARGUMENTS_DELTA]
        );
        // The citation at character 15 follows the delta that reaches it.
        let annotation = kinds.iter().position(|kind| *kind == kinds::OUTPUT_TEXT_ANNOTATION_ADDED).unwrap();
        assert_eq!(kinds[annotation + 1], kinds::OUTPUT_TEXT_DELTA);
        let written: String = events[..annotation]
            .iter()
            .filter_map(|planned| match &planned.event.event {
                ResponseEvent::OutputTextDelta { delta, .. } => Some(delta.as_str()),
                _ => None,
            })
            .collect();
        assert!(written.chars().count() >= 15 && written.starts_with("Paris is sunny."), "{written:?}");
        assert_eq!(kinds.last(), Some(&kinds::COMPLETED));
    }

    #[test]
    fn background_streams_are_queued_first() {
        let events = events(&answer(), Tokenizer::for_model("gpt-4o"), true);
        assert_eq!(events[0].event.event.response().map(|response| &response.status), Some(&ResponseStatus::Queued));
        assert_eq!(events[1].event.event.kind(), kinds::QUEUED);
        assert_eq!(events[2].phase, Phase::InProgress);
        assert_eq!(cut_point(events.len()), events.len() / 2);
    }
}
