//! Stream events: what `POST /responses` with `stream: true` (and a resumed
//! background stream) sends, one SSE event each, `event:` equal to the
//! data's `type`, numbered by `sequence_number`, with no `[DONE]`.
//!
//! Decoding reads each event's JSON once into a flat set of the fields the
//! known events use, then picks the variant by `type` (serde's internally
//! tagged enums buffer every object first). An event of an unknown type is
//! [`ResponseEvent::Other`] with its whole JSON; a known type with a
//! malformed body is an error.

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::Value;

use super::items::{Annotation, ContentPart, OutputItem};
use super::object::ResponseObject;
use crate::extra_fields::deserialize_with_extra;

/// The `type`s of the events aoai models.
pub mod kinds {
    /// `response.created`.
    pub const CREATED: &str = "response.created";
    /// `response.queued`.
    pub const QUEUED: &str = "response.queued";
    /// `response.in_progress`.
    pub const IN_PROGRESS: &str = "response.in_progress";
    /// `response.completed` (terminal).
    pub const COMPLETED: &str = "response.completed";
    /// `response.incomplete` (terminal).
    pub const INCOMPLETE: &str = "response.incomplete";
    /// `response.failed` (terminal).
    pub const FAILED: &str = "response.failed";
    /// `response.output_item.added`.
    pub const OUTPUT_ITEM_ADDED: &str = "response.output_item.added";
    /// `response.output_item.done`.
    pub const OUTPUT_ITEM_DONE: &str = "response.output_item.done";
    /// `response.content_part.added`.
    pub const CONTENT_PART_ADDED: &str = "response.content_part.added";
    /// `response.content_part.done`.
    pub const CONTENT_PART_DONE: &str = "response.content_part.done";
    /// `response.output_text.delta`.
    pub const OUTPUT_TEXT_DELTA: &str = "response.output_text.delta";
    /// `response.output_text.done`.
    pub const OUTPUT_TEXT_DONE: &str = "response.output_text.done";
    /// `response.output_text.annotation.added`.
    pub const OUTPUT_TEXT_ANNOTATION_ADDED: &str = "response.output_text.annotation.added";
    /// `response.refusal.delta`.
    pub const REFUSAL_DELTA: &str = "response.refusal.delta";
    /// `response.refusal.done`.
    pub const REFUSAL_DONE: &str = "response.refusal.done";
    /// `response.function_call_arguments.delta`.
    pub const FUNCTION_CALL_ARGUMENTS_DELTA: &str = "response.function_call_arguments.delta";
    /// `response.function_call_arguments.done`.
    pub const FUNCTION_CALL_ARGUMENTS_DONE: &str = "response.function_call_arguments.done";
    /// `response.file_search_call.in_progress`.
    pub const FILE_SEARCH_CALL_IN_PROGRESS: &str = "response.file_search_call.in_progress";
    /// `response.file_search_call.searching`.
    pub const FILE_SEARCH_CALL_SEARCHING: &str = "response.file_search_call.searching";
    /// `response.file_search_call.completed`.
    pub const FILE_SEARCH_CALL_COMPLETED: &str = "response.file_search_call.completed";
    /// `error`.
    pub const ERROR: &str = "error";
}

/// Where a delta or part goes: the output item and its content part.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartRef {
    /// The output item's id.
    pub item_id: String,
    /// The output item's position in `output`.
    pub output_index: u64,
    /// The part's position in the item's `content`.
    pub content_index: u64,
}

/// What one event says.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ResponseEvent {
    /// `response.created`: the response as it starts.
    Created(Box<ResponseObject>),
    /// `response.queued` (background).
    Queued(Box<ResponseObject>),
    /// `response.in_progress`.
    InProgress(Box<ResponseObject>),
    /// `response.completed`: the whole response (terminal).
    Completed(Box<ResponseObject>),
    /// `response.incomplete`: the response, cut short (terminal).
    Incomplete(Box<ResponseObject>),
    /// `response.failed`: the response with its `error` (terminal).
    Failed(Box<ResponseObject>),
    /// `response.output_item.added`: a new item, empty or in progress.
    OutputItemAdded {
        /// The item's position in `output`.
        output_index: u64,
        /// The item as it starts.
        item: OutputItem,
    },
    /// `response.output_item.done`: an item, finished.
    OutputItemDone {
        /// The item's position in `output`.
        output_index: u64,
        /// The finished item.
        item: OutputItem,
    },
    /// `response.content_part.added`.
    ContentPartAdded {
        /// Where the part goes.
        at: PartRef,
        /// The part as it starts.
        part: ContentPart,
    },
    /// `response.content_part.done`.
    ContentPartDone {
        /// Where the part is.
        at: PartRef,
        /// The finished part.
        part: ContentPart,
    },
    /// `response.output_text.delta`: more text.
    OutputTextDelta {
        /// Where the text goes.
        at: PartRef,
        /// The new text.
        delta: String,
    },
    /// `response.output_text.done`: the part's whole text.
    OutputTextDone {
        /// Where the text is.
        at: PartRef,
        /// The whole text.
        text: String,
    },
    /// `response.output_text.annotation.added`: a citation on the text.
    OutputTextAnnotationAdded {
        /// Where the text is.
        at: PartRef,
        /// The annotation's position in the part's `annotations`.
        annotation_index: u64,
        /// The annotation.
        annotation: Annotation,
    },
    /// `response.refusal.delta`.
    RefusalDelta {
        /// Where the refusal goes.
        at: PartRef,
        /// The new text.
        delta: String,
    },
    /// `response.refusal.done`.
    RefusalDone {
        /// Where the refusal is.
        at: PartRef,
        /// The whole refusal.
        refusal: String,
    },
    /// `response.function_call_arguments.delta`.
    FunctionCallArgumentsDelta {
        /// The function call item's id.
        item_id: String,
        /// Its position in `output`.
        output_index: u64,
        /// More of the arguments' JSON text.
        delta: String,
    },
    /// `response.function_call_arguments.done`.
    FunctionCallArgumentsDone {
        /// The function call item's id.
        item_id: String,
        /// Its position in `output`.
        output_index: u64,
        /// The whole arguments' JSON text.
        arguments: String,
    },
    /// `response.file_search_call.in_progress`.
    FileSearchCallInProgress {
        /// The search item's id.
        item_id: String,
        /// Its position in `output`.
        output_index: u64,
    },
    /// `response.file_search_call.searching`.
    FileSearchCallSearching {
        /// The search item's id.
        item_id: String,
        /// Its position in `output`.
        output_index: u64,
    },
    /// `response.file_search_call.completed`.
    FileSearchCallCompleted {
        /// The search item's id.
        item_id: String,
        /// Its position in `output`.
        output_index: u64,
    },
    /// `error`: the service reports a failure inside the stream.
    Error {
        /// A machine-readable code, if any.
        code: Option<String>,
        /// What happened.
        message: String,
        /// The request parameter at fault, if any.
        param: Option<String>,
    },
    /// An event of a type aoai does not model (reasoning summaries, audio,
    /// MCP, code interpreter …), kept whole.
    Other {
        /// Its `type`.
        kind: String,
        /// Its whole JSON.
        data: Value,
    },
}

/// One event of a Responses stream.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseStreamEvent {
    /// Its place in the stream (resume after it with `starting_after`).
    pub sequence_number: Option<u64>,
    /// What it says.
    pub event: ResponseEvent,
}

/// The flat set of fields the known events use, read in one pass. Fields no
/// known event uses (`logprobs`, `obfuscation`, …) are skipped unread; an
/// event of an unknown type is read again whole.
#[derive(Default)]
struct RawEvent {
    kind: Kind,
    sequence_number: Option<u64>,
    // Boxed: a `RawEvent` is made for every event, and most are small deltas.
    response: Option<Box<ResponseObject>>,
    item: Option<Box<OutputItem>>,
    part: Option<Box<ContentPart>>,
    output_index: Option<u64>,
    content_index: Option<u64>,
    item_id: Option<String>,
    delta: Option<String>,
    text: Option<String>,
    arguments: Option<String>,
    refusal: Option<String>,
    annotation_index: Option<u64>,
    annotation: Option<Box<Annotation>>,
    code: Option<Value>,
    message: Option<String>,
    param: Option<String>,
}

deserialize_with_extra!(
    RawEvent {
        kind: "type" => or_default,
        sequence_number: "sequence_number" => opt,
        response: "response" => opt,
        item: "item" => opt,
        part: "part" => opt,
        output_index: "output_index" => opt,
        content_index: "content_index" => opt,
        item_id: "item_id" => opt,
        delta: "delta" => opt,
        text: "text" => opt,
        arguments: "arguments" => opt,
        refusal: "refusal" => opt,
        annotation_index: "annotation_index" => opt,
        annotation: "annotation" => opt,
        code: "code" => opt,
        message: "message" => opt,
        param: "param" => opt,
    }
    extra: _
);

/// Why an event could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventDecodeError {
    /// The event's `type`, when it could be read.
    pub kind: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for EventDecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Some(kind) => write!(f, "{kind} event: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for EventDecodeError {}

fn missing(kind: &str, field: &str) -> EventDecodeError {
    EventDecodeError { kind: Some(kind.to_owned()), message: format!("missing `{field}`") }
}

impl ResponseStreamEvent {
    /// Decodes one event's data.
    pub fn from_json(data: &str) -> Result<Self, EventDecodeError> {
        let raw = match serde_json::from_str::<RawEvent>(data) {
            Ok(raw) => raw,
            Err(error) => return Self::fallback(data, &error),
        };
        let sequence_number = raw.sequence_number;
        let event = match Self::typed(raw)? {
            Ok(event) => event,
            Err(kind) => {
                let data = serde_json::from_str::<Value>(data)
                    .map_err(|error| EventDecodeError { kind: Some(kind.clone()), message: error.to_string() })?;
                ResponseEvent::Other { kind, data }
            }
        };
        Ok(Self { sequence_number, event })
    }

    /// The flat read failed: an unknown type with fields of other shapes is
    /// `Other`; a known type (or no JSON object at all) is an error.
    fn fallback(data: &str, error: &serde_json::Error) -> Result<Self, EventDecodeError> {
        let value = serde_json::from_str::<Value>(data)
            .map_err(|error| EventDecodeError { kind: None, message: error.to_string() })?;
        let kind = value.get("type").and_then(Value::as_str).unwrap_or_default().to_owned();
        if kind.is_empty() || is_known(&kind) {
            return Err(EventDecodeError {
                kind: Some(kind).filter(|kind| !kind.is_empty()),
                message: error.to_string(),
            });
        }
        let sequence_number = value.get("sequence_number").and_then(Value::as_u64);
        Ok(Self { sequence_number, event: ResponseEvent::Other { kind, data: value } })
    }

    /// The typed event, or `Err(type)` for a type aoai does not model.
    fn typed(mut raw: RawEvent) -> Result<Result<ResponseEvent, String>, EventDecodeError> {
        let kind = std::mem::take(&mut raw.kind);
        let kind: &str = &kind.0;
        let response = |raw: RawEvent| raw.response.ok_or_else(|| missing(kind, "response"));
        let at = |raw: &mut RawEvent| -> Result<PartRef, EventDecodeError> {
            Ok(PartRef {
                item_id: raw.item_id.take().unwrap_or_default(),
                output_index: raw.output_index.ok_or_else(|| missing(kind, "output_index"))?,
                content_index: raw.content_index.ok_or_else(|| missing(kind, "content_index"))?,
            })
        };
        let output_index = |raw: &RawEvent| raw.output_index.ok_or_else(|| missing(kind, "output_index"));
        let event = match kind {
            kinds::CREATED => ResponseEvent::Created(response(raw)?),
            kinds::QUEUED => ResponseEvent::Queued(response(raw)?),
            kinds::IN_PROGRESS => ResponseEvent::InProgress(response(raw)?),
            kinds::COMPLETED => ResponseEvent::Completed(response(raw)?),
            kinds::INCOMPLETE => ResponseEvent::Incomplete(response(raw)?),
            kinds::FAILED => ResponseEvent::Failed(response(raw)?),
            kinds::OUTPUT_ITEM_ADDED | kinds::OUTPUT_ITEM_DONE => {
                let output_index = output_index(&raw)?;
                let done = kind == kinds::OUTPUT_ITEM_DONE;
                let item = *raw.item.ok_or_else(|| missing(kind, "item"))?;
                if done {
                    ResponseEvent::OutputItemDone { output_index, item }
                } else {
                    ResponseEvent::OutputItemAdded { output_index, item }
                }
            }
            kinds::CONTENT_PART_ADDED | kinds::CONTENT_PART_DONE => {
                let at = at(&mut raw)?;
                let done = kind == kinds::CONTENT_PART_DONE;
                let part = *raw.part.ok_or_else(|| missing(kind, "part"))?;
                if done {
                    ResponseEvent::ContentPartDone { at, part }
                } else {
                    ResponseEvent::ContentPartAdded { at, part }
                }
            }
            kinds::OUTPUT_TEXT_DELTA => {
                let at = at(&mut raw)?;
                ResponseEvent::OutputTextDelta { at, delta: raw.delta.unwrap_or_default() }
            }
            kinds::OUTPUT_TEXT_DONE => {
                let at = at(&mut raw)?;
                ResponseEvent::OutputTextDone { at, text: raw.text.unwrap_or_default() }
            }
            kinds::OUTPUT_TEXT_ANNOTATION_ADDED => {
                let at = at(&mut raw)?;
                let annotation_index = raw.annotation_index.ok_or_else(|| missing(kind, "annotation_index"))?;
                let annotation = *raw.annotation.ok_or_else(|| missing(kind, "annotation"))?;
                ResponseEvent::OutputTextAnnotationAdded { at, annotation_index, annotation }
            }
            kinds::REFUSAL_DELTA => {
                let at = at(&mut raw)?;
                ResponseEvent::RefusalDelta { at, delta: raw.delta.unwrap_or_default() }
            }
            kinds::REFUSAL_DONE => {
                let at = at(&mut raw)?;
                ResponseEvent::RefusalDone { at, refusal: raw.refusal.unwrap_or_default() }
            }
            kinds::FUNCTION_CALL_ARGUMENTS_DELTA => ResponseEvent::FunctionCallArgumentsDelta {
                output_index: output_index(&raw)?,
                item_id: raw.item_id.unwrap_or_default(),
                delta: raw.delta.unwrap_or_default(),
            },
            kinds::FUNCTION_CALL_ARGUMENTS_DONE => ResponseEvent::FunctionCallArgumentsDone {
                output_index: output_index(&raw)?,
                item_id: raw.item_id.unwrap_or_default(),
                arguments: raw.arguments.unwrap_or_default(),
            },
            kinds::FILE_SEARCH_CALL_IN_PROGRESS => ResponseEvent::FileSearchCallInProgress {
                output_index: output_index(&raw)?,
                item_id: raw.item_id.unwrap_or_default(),
            },
            kinds::FILE_SEARCH_CALL_SEARCHING => ResponseEvent::FileSearchCallSearching {
                output_index: output_index(&raw)?,
                item_id: raw.item_id.unwrap_or_default(),
            },
            kinds::FILE_SEARCH_CALL_COMPLETED => ResponseEvent::FileSearchCallCompleted {
                output_index: output_index(&raw)?,
                item_id: raw.item_id.unwrap_or_default(),
            },
            kinds::ERROR => ResponseEvent::Error {
                code: raw.code.and_then(|code| match code {
                    Value::String(text) => Some(text),
                    Value::Null => None,
                    other => Some(other.to_string()),
                }),
                message: raw.message.unwrap_or_default(),
                param: raw.param,
            },
            _ => return Ok(Err(kind.to_owned())),
        };
        Ok(Ok(event))
    }

    /// The event's `type`.
    #[must_use]
    pub fn kind(&self) -> &str {
        self.event.kind()
    }

    /// Whether the event ends the response (`completed`, `incomplete`, `failed`).
    #[must_use]
    pub fn is_terminal(&self) -> bool {
        matches!(self.event, ResponseEvent::Completed(_) | ResponseEvent::Incomplete(_) | ResponseEvent::Failed(_))
    }
}

/// An event's `type`: one of [`KNOWN`] without allocating, or any other text.
#[derive(Default)]
struct Kind(std::borrow::Cow<'static, str>);

impl<'de> serde::Deserialize<'de> for Kind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KindVisitor;

        impl serde::de::Visitor<'_> for KindVisitor {
            type Value = Kind;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an event type")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Kind, E> {
                Ok(Kind(match KNOWN.iter().find(|known| **known == text) {
                    Some(known) => std::borrow::Cow::Borrowed(*known),
                    None => std::borrow::Cow::Owned(text.to_owned()),
                }))
            }
        }

        deserializer.deserialize_str(KindVisitor)
    }
}

fn is_known(kind: &str) -> bool {
    KNOWN.contains(&kind)
}

/// Every event type aoai models, the most frequent first.
const KNOWN: [&str; 21] = {
    use kinds::*;
    [
        OUTPUT_TEXT_DELTA,
        FUNCTION_CALL_ARGUMENTS_DELTA,
        REFUSAL_DELTA,
        CREATED,
        QUEUED,
        IN_PROGRESS,
        COMPLETED,
        INCOMPLETE,
        FAILED,
        OUTPUT_ITEM_ADDED,
        OUTPUT_ITEM_DONE,
        CONTENT_PART_ADDED,
        CONTENT_PART_DONE,
        OUTPUT_TEXT_DONE,
        OUTPUT_TEXT_ANNOTATION_ADDED,
        REFUSAL_DONE,
        FUNCTION_CALL_ARGUMENTS_DONE,
        FILE_SEARCH_CALL_IN_PROGRESS,
        FILE_SEARCH_CALL_SEARCHING,
        FILE_SEARCH_CALL_COMPLETED,
        ERROR,
    ]
};

impl ResponseEvent {
    /// The event's `type`.
    #[must_use]
    pub fn kind(&self) -> &str {
        match self {
            Self::Created(_) => kinds::CREATED,
            Self::Queued(_) => kinds::QUEUED,
            Self::InProgress(_) => kinds::IN_PROGRESS,
            Self::Completed(_) => kinds::COMPLETED,
            Self::Incomplete(_) => kinds::INCOMPLETE,
            Self::Failed(_) => kinds::FAILED,
            Self::OutputItemAdded { .. } => kinds::OUTPUT_ITEM_ADDED,
            Self::OutputItemDone { .. } => kinds::OUTPUT_ITEM_DONE,
            Self::ContentPartAdded { .. } => kinds::CONTENT_PART_ADDED,
            Self::ContentPartDone { .. } => kinds::CONTENT_PART_DONE,
            Self::OutputTextDelta { .. } => kinds::OUTPUT_TEXT_DELTA,
            Self::OutputTextDone { .. } => kinds::OUTPUT_TEXT_DONE,
            Self::OutputTextAnnotationAdded { .. } => kinds::OUTPUT_TEXT_ANNOTATION_ADDED,
            Self::RefusalDelta { .. } => kinds::REFUSAL_DELTA,
            Self::RefusalDone { .. } => kinds::REFUSAL_DONE,
            Self::FunctionCallArgumentsDelta { .. } => kinds::FUNCTION_CALL_ARGUMENTS_DELTA,
            Self::FunctionCallArgumentsDone { .. } => kinds::FUNCTION_CALL_ARGUMENTS_DONE,
            Self::FileSearchCallInProgress { .. } => kinds::FILE_SEARCH_CALL_IN_PROGRESS,
            Self::FileSearchCallSearching { .. } => kinds::FILE_SEARCH_CALL_SEARCHING,
            Self::FileSearchCallCompleted { .. } => kinds::FILE_SEARCH_CALL_COMPLETED,
            Self::Error { .. } => kinds::ERROR,
            Self::Other { kind, .. } => kind,
        }
    }

    /// The response carried by a lifecycle event.
    #[must_use]
    pub fn response(&self) -> Option<&ResponseObject> {
        match self {
            Self::Created(response)
            | Self::Queued(response)
            | Self::InProgress(response)
            | Self::Completed(response)
            | Self::Incomplete(response)
            | Self::Failed(response) => Some(response),
            _ => None,
        }
    }
}

/// Writes the event as the service does: `type` first, the event's fields,
/// then `sequence_number`.
impl Serialize for ResponseStreamEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if let ResponseEvent::Other { data, .. } = &self.event {
            return data.serialize(serializer);
        }
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("type", self.event.kind())?;
        let part_ref = |map: &mut S::SerializeMap, at: &PartRef| -> Result<(), S::Error> {
            map.serialize_entry("item_id", &at.item_id)?;
            map.serialize_entry("output_index", &at.output_index)?;
            map.serialize_entry("content_index", &at.content_index)
        };
        match &self.event {
            ResponseEvent::Created(response)
            | ResponseEvent::Queued(response)
            | ResponseEvent::InProgress(response)
            | ResponseEvent::Completed(response)
            | ResponseEvent::Incomplete(response)
            | ResponseEvent::Failed(response) => map.serialize_entry("response", response)?,
            ResponseEvent::OutputItemAdded { output_index, item }
            | ResponseEvent::OutputItemDone { output_index, item } => {
                map.serialize_entry("output_index", output_index)?;
                map.serialize_entry("item", item)?;
            }
            ResponseEvent::ContentPartAdded { at, part } | ResponseEvent::ContentPartDone { at, part } => {
                part_ref(&mut map, at)?;
                map.serialize_entry("part", part)?;
            }
            ResponseEvent::OutputTextDelta { at, delta } | ResponseEvent::RefusalDelta { at, delta } => {
                part_ref(&mut map, at)?;
                map.serialize_entry("delta", delta)?;
                if matches!(self.event, ResponseEvent::OutputTextDelta { .. }) {
                    map.serialize_entry("logprobs", &[(); 0])?;
                }
            }
            ResponseEvent::OutputTextDone { at, text } => {
                part_ref(&mut map, at)?;
                map.serialize_entry("text", text)?;
                map.serialize_entry("logprobs", &[(); 0])?;
            }
            ResponseEvent::OutputTextAnnotationAdded { at, annotation_index, annotation } => {
                part_ref(&mut map, at)?;
                map.serialize_entry("annotation_index", annotation_index)?;
                map.serialize_entry("annotation", annotation)?;
            }
            ResponseEvent::RefusalDone { at, refusal } => {
                part_ref(&mut map, at)?;
                map.serialize_entry("refusal", refusal)?;
            }
            ResponseEvent::FunctionCallArgumentsDelta { item_id, output_index, delta } => {
                map.serialize_entry("item_id", item_id)?;
                map.serialize_entry("output_index", output_index)?;
                map.serialize_entry("delta", delta)?;
            }
            ResponseEvent::FunctionCallArgumentsDone { item_id, output_index, arguments } => {
                map.serialize_entry("item_id", item_id)?;
                map.serialize_entry("output_index", output_index)?;
                map.serialize_entry("arguments", arguments)?;
            }
            ResponseEvent::FileSearchCallInProgress { item_id, output_index }
            | ResponseEvent::FileSearchCallSearching { item_id, output_index }
            | ResponseEvent::FileSearchCallCompleted { item_id, output_index } => {
                map.serialize_entry("item_id", item_id)?;
                map.serialize_entry("output_index", output_index)?;
            }
            ResponseEvent::Error { code, message, param } => {
                map.serialize_entry("code", code)?;
                map.serialize_entry("message", message)?;
                map.serialize_entry("param", param)?;
            }
            ResponseEvent::Other { .. } => {}
        }
        if let Some(sequence_number) = self.sequence_number {
            map.serialize_entry("sequence_number", &sequence_number)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    /// What one event costs to move: the flat read and the typed event stay small.
    #[test]
    fn events_stay_small() {
        assert!(std::mem::size_of::<super::RawEvent>() <= 384, "{}", std::mem::size_of::<super::RawEvent>());
        assert!(
            std::mem::size_of::<super::ResponseStreamEvent>() <= 320,
            "{}",
            std::mem::size_of::<super::ResponseStreamEvent>()
        );
    }
}
