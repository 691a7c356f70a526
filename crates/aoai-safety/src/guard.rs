//! The [`Guard`] trait and what a guard answers: a [`Verdict`] made of
//! [`Reason`]s.
//!
//! A guard looks at a request before it is sent ([`Guard::check_input`]) and
//! at an answer after it arrives ([`Guard::check_output`]); for streams it
//! looks at each chunk's annotations ([`Guard::check_chunk`]) and at the
//! streamed text through a sliding window ([`Guard::check_stream_text`]). It
//! allows, annotates (allows and reports), blocks, or redacts (hands back a
//! rewritten value).
//!
//! The Responses API has its own hooks: [`Guard::check_response_input`],
//! [`Guard::check_response_output`] and, for stream events' annotations,
//! [`Guard::check_response_event`]; streamed Responses text goes through the
//! same [`Guard::check_stream_text`] window as chat. A guard that does not
//! implement the two whole-request hooks refuses Responses traffic with
//! [`GuardError::Unsupported`] instead of letting it through unchecked.

use std::fmt;
use std::ops::Range;

use aoai_core::chat::{ChatChunk, ChatMessage, ChatRequest, ChatResponse, ContentPart, MessageContent};
use aoai_core::filter::Severity;
use aoai_core::responses::{
    self, Input, InputItem, OutputItem, ResponseObject, ResponseRequest, ResponseStreamEvent, Role,
};
use async_trait::async_trait;
use serde_json::Value;

use crate::error::{GuardError, Stage};

/// Who judged the content.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// A guard running in this process, by name (`blocklist`, `pii`, or a
    /// custom guard's [`Guard::name`]).
    Local(String),
    /// Azure OpenAI's content filter: the annotations on an answer, or the
    /// 400 `content_filter` error that refused a prompt.
    AzureFilter,
    /// Azure AI Content Safety (`text:analyze`, `text:shieldPrompt`).
    ContentSafety,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local(name) => write!(f, "local guard {name}"),
            Self::AzureFilter => f.write_str("Azure OpenAI content filter"),
            Self::ContentSafety => f.write_str("Azure AI Content Safety"),
        }
    }
}

/// Where in the request or the answer a reason was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Location {
    /// The request's message at this index.
    Message(usize),
    /// The answer's choice at this index (its content or tool-call arguments).
    Choice(u32),
    /// The prompt as a whole (Azure's `prompt_filter_results`).
    Prompt(u32),
    /// A document of the prompt (Content Safety's `documentsAnalysis`), by index.
    Document(usize),
    /// A Responses request's `instructions`.
    Instructions,
    /// A Responses request's input item at this index; a text `input` is item 0.
    InputItem(usize),
    /// A Responses answer's output item at this index (its text parts,
    /// refusal or function-call arguments), streamed or whole.
    OutputItem(usize),
    /// A Responses answer's output as a whole (Azure's `content_filters`
    /// other than the prompt's, and its `output_text` convenience field).
    Output,
}

/// One reason behind a verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    /// Who judged.
    pub source: Source,
    /// The category: `blocklist`, `email`, `phone`, `card`, or Azure's
    /// (`hate`, `sexual`, `violence`, `self_harm`, `jailbreak`,
    /// `indirect_attack`, `protected_material_text`, …).
    pub category: String,
    /// The severity, for severity-scored categories.
    pub severity: Option<Severity>,
    /// What matched: the blocklist term as configured, a Content Safety
    /// blocklist item, Azure's numeric severity. Never the personal data a
    /// PII guard found.
    pub detail: Option<String>,
    /// Where it was found.
    pub location: Option<Location>,
    /// The byte range in that text (always on `char` boundaries), for local guards.
    pub range: Option<Range<usize>>,
}

impl Reason {
    /// A reason with only a source and a category.
    #[must_use]
    pub fn new(source: Source, category: impl Into<String>) -> Self {
        Self { source, category: category.into(), severity: None, detail: None, location: None, range: None }
    }

    /// With a severity.
    #[must_use]
    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = Some(severity);
        self
    }

    /// With a detail.
    #[must_use]
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// With a location.
    #[must_use]
    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }

    /// With a byte range.
    #[must_use]
    pub fn range(mut self, range: Range<usize>) -> Self {
        self.range = Some(range);
        self
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.category)?;
        if let Some(severity) = &self.severity {
            write!(f, "={}", severity.as_str())?;
        }
        if let Some(detail) = &self.detail {
            write!(f, " ({detail})")?;
        }
        write!(f, " by {}", self.source)
    }
}

/// A guard's answer about a request, a response, or streamed text. `T` is
/// what a redacting guard hands back in place of the original.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub enum Verdict<T> {
    /// Nothing to report.
    Allow,
    /// Allowed, with reasons worth reporting (a policy set to annotate).
    Annotate(Vec<Reason>),
    /// Refused.
    Block(Vec<Reason>),
    /// Allowed after rewriting: use `value` instead of the original.
    Redact {
        /// The rewritten value.
        value: T,
        /// What was rewritten.
        reasons: Vec<Reason>,
    },
}

impl<T> Verdict<T> {
    /// Whether this verdict refuses.
    #[must_use]
    pub fn is_block(&self) -> bool {
        matches!(self, Self::Block(_))
    }

    /// The reasons given (none for [`Verdict::Allow`]).
    #[must_use]
    pub fn reasons(&self) -> &[Reason] {
        match self {
            Self::Allow => &[],
            Self::Annotate(reasons) | Self::Block(reasons) | Self::Redact { reasons, .. } => reasons,
        }
    }
}

/// A check on chat and Responses requests and answers. Implement it to plug
/// in your own rule; [`Guarded`](crate::Guarded) runs guards in order, each
/// on what the previous one let through (a redaction included).
///
/// The stream hooks have defaults that allow everything, so a guard that only
/// looks at whole chat requests and answers implements two methods. The
/// Responses hooks default to [`GuardError::Unsupported`]: a guard written
/// for chat refuses Responses traffic rather than wave it through unchecked.
#[async_trait]
pub trait Guard: Send + Sync + fmt::Debug {
    /// A short name for reasons and logs.
    fn name(&self) -> &str;

    /// Checks a request before it is sent.
    async fn check_input(&self, request: &ChatRequest) -> Result<Verdict<ChatRequest>, GuardError>;

    /// Checks a whole answer.
    async fn check_output(&self, response: &ChatResponse) -> Result<Verdict<ChatResponse>, GuardError>;

    /// Checks one stream chunk's annotations (Azure's filter results). The
    /// chunk's text goes to [`check_stream_text`](Guard::check_stream_text).
    fn check_chunk(&self, chunk: &ChatChunk) -> Verdict<()> {
        let _ = chunk;
        Verdict::Allow
    }

    /// Checks streamed text of one choice: `window` is the end of the text
    /// already delivered (at most [`lookbehind`](Guard::lookbehind) characters)
    /// followed by the new piece, which starts at byte `new_from`. Report only
    /// findings that end after `new_from` (the others were reported before).
    /// A redaction hands back the whole window rewritten; the guarded stream
    /// can apply it only when the delivered part is unchanged.
    fn check_stream_text(&self, window: &str, new_from: usize) -> Verdict<String> {
        let _ = (window, new_from);
        Verdict::Allow
    }

    /// How many characters of already-delivered text
    /// [`check_stream_text`](Guard::check_stream_text) needs to see to catch a
    /// finding split across chunks.
    fn lookbehind(&self) -> usize {
        0
    }

    /// How many bytes at the end of `pending` — streamed text checked but not
    /// yet delivered — to hold back because a finding may still be in
    /// progress (the rest of an e-mail address or a card number may come in
    /// the next chunk). Held text goes out with a later chunk, at the latest
    /// with the choice's last one, so a redaction can still rewrite it.
    fn holdback(&self, pending: &str) -> usize {
        let _ = pending;
        0
    }

    /// Checks a Responses request before it is sent: its `instructions`,
    /// text input, every input item's texts (messages of every role,
    /// function results, function-call arguments sent back).
    ///
    /// The default refuses: [`GuardError::Unsupported`] naming this guard
    /// (nothing is sent). Implement it, and
    /// [`check_response_output`](Guard::check_response_output), to cover the
    /// Responses API; return `Ok(Verdict::Allow)` to let requests through
    /// deliberately.
    async fn check_response_input(&self, request: &ResponseRequest) -> Result<Verdict<ResponseRequest>, GuardError> {
        let _ = request;
        Err(GuardError::unsupported(self.name(), Stage::Input))
    }

    /// Checks a Responses answer (created, read back or cancelled): its
    /// output text, refusals and function-call arguments, and whatever
    /// annotations the guard reads.
    ///
    /// The default refuses with [`GuardError::Unsupported`] (the request was
    /// sent; the answer is not delivered).
    async fn check_response_output(&self, response: &ResponseObject) -> Result<Verdict<ResponseObject>, GuardError> {
        let _ = response;
        Err(GuardError::unsupported(self.name(), Stage::Output))
    }

    /// Checks one Responses stream event's annotations (Azure's
    /// `content_filters` on the lifecycle events' response). The events'
    /// text goes to [`check_stream_text`](Guard::check_stream_text).
    fn check_response_event(&self, event: &ResponseStreamEvent) -> Verdict<()> {
        let _ = event;
        Verdict::Allow
    }
}

/// A guard that works on plain text; [`TextGuard`] adapts it to chat
/// requests, answers and streams. Blocklists and PII are text checks.
pub trait TextCheck: Send + Sync + fmt::Debug {
    /// A short name for reasons and logs.
    fn name(&self) -> &str;

    /// Checks `text`, reporting findings that end after byte `report_from`.
    /// `Redact` carries the rewritten text.
    fn check_text(&self, text: &str, report_from: usize) -> Verdict<String>;

    /// See [`Guard::lookbehind`].
    fn lookbehind(&self) -> usize;

    /// See [`Guard::holdback`].
    fn holdback(&self, pending: &str) -> usize {
        let _ = pending;
        0
    }
}

/// Runs a [`TextCheck`] on every text of a request (message content and text
/// parts, assistant content, tool results) and of an answer (each choice's
/// content and tool-call arguments), for chat and for the Responses API
/// (`instructions`, input items' text, function results and arguments;
/// output text, refusals and function-call arguments).
#[derive(Debug, Clone)]
pub struct TextGuard<T> {
    check: T,
}

impl<T: TextCheck> TextGuard<T> {
    /// Wraps a text check.
    pub fn new(check: T) -> Self {
        Self { check }
    }

    /// The text check.
    pub fn check(&self) -> &T {
        &self.check
    }
}

/// Folds one text's verdict into the running totals; returns the replacement text.
fn fold_text(
    verdict: Verdict<String>,
    location: Location,
    blocked: &mut Vec<Reason>,
    noted: &mut Vec<Reason>,
    redacted: &mut bool,
) -> Option<String> {
    let locate = |reasons: Vec<Reason>| reasons.into_iter().map(move |reason| reason.at(location));
    match verdict {
        Verdict::Allow => None,
        Verdict::Annotate(reasons) => {
            noted.extend(locate(reasons));
            None
        }
        Verdict::Block(reasons) => {
            blocked.extend(locate(reasons));
            None
        }
        Verdict::Redact { value, reasons } => {
            noted.extend(locate(reasons));
            *redacted = true;
            Some(value)
        }
    }
}

fn finish<T>(value: Option<T>, blocked: Vec<Reason>, noted: Vec<Reason>, redacted: bool) -> Verdict<T> {
    if !blocked.is_empty() {
        return Verdict::Block(blocked);
    }
    match value {
        Some(value) if redacted => Verdict::Redact { value, reasons: noted },
        _ if noted.is_empty() => Verdict::Allow,
        _ => Verdict::Annotate(noted),
    }
}

fn content_texts_mut(content: &mut MessageContent) -> Vec<&mut String> {
    match content {
        MessageContent::Text(text) => vec![text],
        MessageContent::Parts(parts) => parts
            .iter_mut()
            .filter_map(|part| match part {
                ContentPart::Text { text } => Some(text),
                _ => None,
            })
            .collect(),
    }
}

/// Every text of a message, mutable, in a fixed order.
pub(crate) fn message_texts_mut(message: &mut ChatMessage) -> Vec<&mut String> {
    match message {
        ChatMessage::System(inner) | ChatMessage::Developer(inner) | ChatMessage::User(inner) => {
            content_texts_mut(&mut inner.content)
        }
        ChatMessage::Assistant(inner) => {
            let mut texts = inner.content.as_mut().map(content_texts_mut).unwrap_or_default();
            if let Some(calls) = &mut inner.tool_calls {
                texts.extend(calls.iter_mut().map(|call| &mut call.function.arguments));
            }
            texts
        }
        ChatMessage::Tool(inner) => content_texts_mut(&mut inner.content),
        ChatMessage::Function(inner) => inner.content.as_mut().into_iter().collect(),
        _ => Vec::new(),
    }
}

/// Every text of an answer's choice, mutable: content, refusal, tool-call arguments.
pub(crate) fn choice_texts_mut(message: &mut aoai_core::chat::ResponseMessage) -> Vec<&mut String> {
    let mut texts: Vec<&mut String> = message.content.as_mut().into_iter().collect();
    if let Some(calls) = &mut message.tool_calls {
        texts.extend(calls.iter_mut().map(|call| &mut call.function.arguments));
    }
    texts
}

/// What a Responses request text is, for guards that treat kinds apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InputKind {
    /// `instructions`.
    Instructions,
    /// A user message (or the text `input`).
    User,
    /// A message of another role (system, developer, assistant).
    Message,
    /// A function's result sent back (`function_call_output`).
    ToolOutput,
    /// A function call sent back (its arguments).
    ToolCall,
}

/// What a text of a Responses output item is; a stream sends each kind with
/// its own delta event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PartKind {
    /// `output_text` (or `input_text`, or a string content).
    Text,
    /// `refusal`.
    Refusal,
    /// A function call's arguments.
    Arguments,
}

/// Every text of a Responses message's content, mutable: a string, or its
/// `input_text`, `output_text` and `refusal` parts, with each part's index.
fn response_content_texts_mut(content: &mut responses::MessageContent) -> Vec<(u64, PartKind, &mut String)> {
    match content {
        responses::MessageContent::Text(text) => vec![(0, PartKind::Text, text)],
        responses::MessageContent::Parts(parts) => parts
            .iter_mut()
            .enumerate()
            .filter_map(|(index, part)| match part {
                responses::ContentPart::InputText(part) => Some((index as u64, PartKind::Text, &mut part.text)),
                responses::ContentPart::OutputText(part) => Some((index as u64, PartKind::Text, &mut part.text)),
                responses::ContentPart::Refusal(part) => Some((index as u64, PartKind::Refusal, &mut part.refusal)),
                _ => None,
            })
            .collect(),
    }
}

/// Every text of a Responses request, mutable, in a fixed order: the
/// `instructions`, then each input item's texts.
pub(crate) fn response_input_texts_mut(request: &mut ResponseRequest) -> Vec<(Location, InputKind, &mut String)> {
    let mut texts = Vec::new();
    if let Some(instructions) = &mut request.instructions {
        texts.push((Location::Instructions, InputKind::Instructions, instructions));
    }
    match &mut request.input {
        None => {}
        Some(Input::Text(text)) => texts.push((Location::InputItem(0), InputKind::User, text)),
        Some(Input::Items(items)) => {
            for (index, item) in items.iter_mut().enumerate() {
                let location = Location::InputItem(index);
                match item {
                    InputItem::Message(message) => {
                        let kind = if message.role == Role::User { InputKind::User } else { InputKind::Message };
                        texts.extend(
                            response_content_texts_mut(&mut message.content)
                                .into_iter()
                                .map(|(_, _, text)| (location, kind, text)),
                        );
                    }
                    InputItem::FunctionCallOutput(output) => {
                        texts.push((location, InputKind::ToolOutput, &mut output.output));
                    }
                    InputItem::FunctionCall(call) => texts.push((location, InputKind::ToolCall, &mut call.arguments)),
                    _ => {}
                }
            }
        }
    }
    texts
}

/// Every text of one output item, mutable, with the content index a stream
/// addresses it by: a message's `output_text` and `refusal` parts, a
/// function call's arguments (index 0).
pub(crate) fn output_item_texts_mut(item: &mut OutputItem) -> Vec<(u64, PartKind, &mut String)> {
    match item {
        OutputItem::Message(message) => response_content_texts_mut(&mut message.content),
        OutputItem::FunctionCall(call) => vec![(0, PartKind::Arguments, &mut call.arguments)],
        _ => Vec::new(),
    }
}

/// Every text of a Responses answer, mutable: each output item's texts, and
/// the `output_text` convenience field when the service sent one.
pub(crate) fn response_output_texts_mut(response: &mut ResponseObject) -> Vec<(Location, &mut String)> {
    let mut texts: Vec<(Location, &mut String)> = Vec::new();
    for (index, item) in response.output.iter_mut().enumerate() {
        texts.extend(output_item_texts_mut(item).into_iter().map(|(_, _, text)| (Location::OutputItem(index), text)));
    }
    if let Some(Value::String(text)) = response.extra.get_mut("output_text") {
        texts.push((Location::Output, text));
    }
    texts
}

impl<T: TextCheck> TextGuard<T> {
    /// Checks each text, rewriting it in place when redacted.
    fn check_all<'a>(&self, texts: impl IntoIterator<Item = (Location, &'a mut String)>) -> TextTotals {
        let mut totals = TextTotals::default();
        for (location, text) in texts {
            let verdict = self.check.check_text(text, 0);
            if let Some(replacement) =
                fold_text(verdict, location, &mut totals.blocked, &mut totals.noted, &mut totals.redacted)
            {
                *text = replacement;
            }
        }
        totals
    }
}

/// What [`TextGuard`] found over several texts.
#[derive(Default)]
struct TextTotals {
    blocked: Vec<Reason>,
    noted: Vec<Reason>,
    redacted: bool,
}

impl TextTotals {
    fn finish<V>(self, value: V) -> Verdict<V> {
        finish(Some(value), self.blocked, self.noted, self.redacted)
    }
}

#[async_trait]
impl<T: TextCheck> Guard for TextGuard<T> {
    fn name(&self) -> &str {
        self.check.name()
    }

    async fn check_input(&self, request: &ChatRequest) -> Result<Verdict<ChatRequest>, GuardError> {
        let mut copy = request.clone();
        let (mut blocked, mut noted, mut redacted) = (Vec::new(), Vec::new(), false);
        for (index, message) in copy.messages.iter_mut().enumerate() {
            for text in message_texts_mut(message) {
                let verdict = self.check.check_text(text, 0);
                if let Some(replacement) =
                    fold_text(verdict, Location::Message(index), &mut blocked, &mut noted, &mut redacted)
                {
                    *text = replacement;
                }
            }
        }
        Ok(finish(Some(copy), blocked, noted, redacted))
    }

    async fn check_output(&self, response: &ChatResponse) -> Result<Verdict<ChatResponse>, GuardError> {
        let mut copy = response.clone();
        let (mut blocked, mut noted, mut redacted) = (Vec::new(), Vec::new(), false);
        for choice in &mut copy.choices {
            let location = Location::Choice(choice.index);
            for text in choice_texts_mut(&mut choice.message) {
                let verdict = self.check.check_text(text, 0);
                if let Some(replacement) = fold_text(verdict, location, &mut blocked, &mut noted, &mut redacted) {
                    *text = replacement;
                }
            }
        }
        Ok(finish(Some(copy), blocked, noted, redacted))
    }

    fn check_stream_text(&self, window: &str, new_from: usize) -> Verdict<String> {
        self.check.check_text(window, new_from)
    }

    fn lookbehind(&self) -> usize {
        self.check.lookbehind()
    }

    fn holdback(&self, pending: &str) -> usize {
        self.check.holdback(pending)
    }

    async fn check_response_input(&self, request: &ResponseRequest) -> Result<Verdict<ResponseRequest>, GuardError> {
        let mut copy = request.clone();
        let texts = response_input_texts_mut(&mut copy).into_iter().map(|(location, _, text)| (location, text));
        let totals = self.check_all(texts);
        Ok(totals.finish(copy))
    }

    async fn check_response_output(&self, response: &ResponseObject) -> Result<Verdict<ResponseObject>, GuardError> {
        let mut copy = response.clone();
        let totals = self.check_all(response_output_texts_mut(&mut copy));
        Ok(totals.finish(copy))
    }
}
