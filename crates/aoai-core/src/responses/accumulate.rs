//! [`ResponseAccumulator`]: the final response rebuilt from stream events.

use super::event::{PartRef, ResponseEvent, ResponseStreamEvent};
use super::items::{ContentPart, MessageContent, OutputItem, OutputText, Refusal};
use super::object::ResponseObject;

/// Rebuilds a [`ResponseObject`] from stream events: the lifecycle events
/// give the top-level fields, the item, part, delta and annotation events
/// build `output`. When the terminal event carries the whole response (as
/// `response.completed` does) that is the result; its `output` equals what
/// the events built (a test holds the service to it), and the events' output
/// is used only when the terminal event's is empty.
///
/// ```
/// use aoai_core::responses::{ResponseAccumulator, ResponseStreamEvent};
///
/// let events = [
///     r#"{"type":"response.created","sequence_number":0,"response":{"id":"resp_1","object":"response","status":"in_progress","output":[]}}"#,
///     r#"{"type":"response.output_item.added","sequence_number":1,"output_index":0,"item":{"type":"message","id":"msg_1","role":"assistant","status":"in_progress","content":[]}}"#,
///     r#"{"type":"response.content_part.added","sequence_number":2,"item_id":"msg_1","output_index":0,"content_index":0,"part":{"type":"output_text","text":"","annotations":[]}}"#,
///     r#"{"type":"response.output_text.delta","sequence_number":3,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hel"}"#,
///     r#"{"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"lo"}"#,
/// ];
/// let mut accumulator = ResponseAccumulator::new();
/// for data in events {
///     accumulator.push(&ResponseStreamEvent::from_json(data).unwrap());
/// }
/// assert_eq!(accumulator.snapshot().output_text(), "Hello");
/// assert!(!accumulator.is_finished());
/// ```
#[derive(Debug, Clone, Default)]
pub struct ResponseAccumulator {
    response: ResponseObject,
    output: Vec<OutputItem>,
    terminal: Option<ResponseObject>,
    last_sequence_number: Option<u64>,
}

impl ResponseAccumulator {
    /// An empty accumulator.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one event in.
    pub fn push(&mut self, event: &ResponseStreamEvent) {
        if let Some(number) = event.sequence_number {
            self.last_sequence_number = Some(number);
        }
        match &event.event {
            ResponseEvent::Created(response)
            | ResponseEvent::Queued(response)
            | ResponseEvent::InProgress(response) => {
                self.response = (**response).clone();
            }
            ResponseEvent::Completed(response)
            | ResponseEvent::Incomplete(response)
            | ResponseEvent::Failed(response) => {
                self.terminal = Some((**response).clone());
            }
            ResponseEvent::OutputItemAdded { output_index, item }
            | ResponseEvent::OutputItemDone { output_index, item } => {
                *self.slot(*output_index) = item.clone();
            }
            ResponseEvent::ContentPartAdded { at, part } | ResponseEvent::ContentPartDone { at, part } => {
                if let Some(slot) = self.part(at) {
                    *slot = part.clone();
                }
            }
            ResponseEvent::OutputTextDelta { at, delta } => {
                if let Some(text) = self.output_text(at) {
                    text.text.push_str(delta);
                }
            }
            ResponseEvent::OutputTextDone { at, text } => {
                if let Some(part) = self.output_text(at) {
                    part.text.clone_from(text);
                }
            }
            ResponseEvent::OutputTextAnnotationAdded { at, annotation_index, annotation } => {
                if let Some(part) = self.output_text(at) {
                    let index = usize::try_from(*annotation_index).unwrap_or(usize::MAX).min(part.annotations.len());
                    if index < part.annotations.len() && part.annotations[index] == *annotation {
                        return;
                    }
                    part.annotations.insert(index, annotation.clone());
                }
            }
            ResponseEvent::RefusalDelta { at, delta } => {
                if let Some(part) = self.refusal(at) {
                    part.refusal.push_str(delta);
                }
            }
            ResponseEvent::RefusalDone { at, refusal } => {
                if let Some(part) = self.refusal(at) {
                    part.refusal.clone_from(refusal);
                }
            }
            ResponseEvent::FunctionCallArgumentsDelta { output_index, delta, .. } => {
                if let OutputItem::FunctionCall(call) = self.slot(*output_index) {
                    call.arguments.push_str(delta);
                }
            }
            ResponseEvent::FunctionCallArgumentsDone { output_index, arguments, .. } => {
                if let OutputItem::FunctionCall(call) = self.slot(*output_index) {
                    call.arguments.clone_from(arguments);
                }
            }
            _ => {}
        }
    }

    /// The output as the events built it, whatever the terminal event says.
    #[must_use]
    pub fn output(&self) -> &[OutputItem] {
        &self.output
    }

    /// The sequence number of the last event taken in (resume after it).
    #[must_use]
    pub fn last_sequence_number(&self) -> Option<u64> {
        self.last_sequence_number
    }

    /// Whether a terminal event arrived.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.terminal.is_some()
    }

    /// The response so far: the latest lifecycle event's fields with the
    /// output built from the events.
    #[must_use]
    pub fn snapshot(&self) -> ResponseObject {
        if let Some(terminal) = &self.terminal {
            return self.finish_with(terminal.clone());
        }
        let mut response = self.response.clone();
        response.output = self.output.clone();
        response
    }

    /// The final response (see [`ResponseAccumulator::snapshot`]).
    #[must_use]
    pub fn into_response(self) -> ResponseObject {
        match self.terminal.clone() {
            Some(terminal) => self.finish_with(terminal),
            None => {
                let mut response = self.response;
                response.output = self.output;
                response
            }
        }
    }

    fn finish_with(&self, mut terminal: ResponseObject) -> ResponseObject {
        if terminal.output.is_empty() {
            terminal.output = self.output.clone();
        }
        terminal
    }

    fn slot(&mut self, output_index: u64) -> &mut OutputItem {
        let index = usize::try_from(output_index).unwrap_or(usize::MAX).min(self.output.len());
        if index == self.output.len() {
            self.output.push(OutputItem::Other(serde_json::Value::Null));
        }
        let last = self.output.len() - 1;
        &mut self.output[index.min(last)]
    }

    fn part(&mut self, at: &PartRef) -> Option<&mut ContentPart> {
        let OutputItem::Message(message) = self.slot(at.output_index) else {
            return None;
        };
        if let MessageContent::Text(text) = &message.content {
            message.content = MessageContent::Parts(vec![ContentPart::output_text(text.clone())]);
        }
        let MessageContent::Parts(parts) = &mut message.content else {
            return None;
        };
        let index = usize::try_from(at.content_index).unwrap_or(usize::MAX).min(parts.len());
        if index == parts.len() {
            parts.push(ContentPart::output_text(""));
        }
        let last = parts.len() - 1;
        parts.get_mut(index.min(last))
    }

    fn output_text(&mut self, at: &PartRef) -> Option<&mut OutputText> {
        let part = self.part(at)?;
        if !matches!(part, ContentPart::OutputText(_)) {
            return None;
        }
        match part {
            ContentPart::OutputText(text) => Some(text),
            _ => None,
        }
    }

    fn refusal(&mut self, at: &PartRef) -> Option<&mut Refusal> {
        let part = self.part(at)?;
        if let ContentPart::OutputText(text) = part
            && text.text.is_empty()
        {
            *part = ContentPart::Refusal(Refusal::default());
        }
        match part {
            ContentPart::Refusal(refusal) => Some(refusal),
            _ => None,
        }
    }
}
