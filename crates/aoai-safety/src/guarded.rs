//! [`Guarded`]: any [`ChatApi`] or [`ResponsesApi`] with guards around it,
//! itself a [`ChatApi`] and a [`ResponsesApi`].
//!
//! - **Input**: the guards run in order on the request before anything is
//!   sent. A block returns [`Blocked`] with `stage: Input` and `sent: false`
//!   and the wrapped client is never called; a redaction sends the rewritten
//!   request (the next guard sees the rewritten one).
//! - **Output**: the guards run in order on the answer. A block returns
//!   [`Blocked`] with `stage: Output`, `sent: true` and the answer's request
//!   id; a redaction returns the rewritten answer. Azure's 400
//!   `content_filter` refusal comes back as [`Blocked`] too.
//! - **Streams**: the input is checked before the stream starts. Each chunk's
//!   annotations go through [`Guard::check_chunk`], and each choice's texts —
//!   its content, its refusal, and the arguments of each of its tool calls
//!   (by the call's `index`), each screened apart — through
//!   [`Guard::check_stream_text`] on a window made of the end of the
//!   text already delivered (the largest [`Guard::lookbehind`]) and the new
//!   piece, so a term split across chunks is caught. A block makes the stream
//!   yield one error ([`Blocked`] with `stage: Stream`, carried as
//!   [`aoai_core::Error::Rejected`]) and end; what came before it was
//!   delivered. A guard may hold back the end of the new text that could be
//!   a finding in progress ([`Guard::holdback`]: the PII guard holds the last
//!   word and a trailing run of digits), so an e-mail address or a card
//!   number split across chunks is redacted whole; held text goes out with a
//!   later chunk, the choice's finish chunk, or a last chunk when the stream
//!   ends, always checked first. A redaction that would change text already
//!   delivered cannot be applied, so it blocks instead.
//!
//! ## The Responses API
//!
//! The same rules, through the Responses hooks of [`Guard`]
//! ([`Guard::check_response_input`], [`Guard::check_response_output`],
//! [`Guard::check_response_event`]):
//!
//! - **Input**: `instructions`, a text `input`, every input message's text
//!   parts (every role, the type-less message form included), function
//!   results (`function_call_output`) and function-call arguments sent back.
//! - **Output**: every `output_text` part, refusal and function-call
//!   arguments; Azure's `content_filters` through
//!   [`AzureFilterGuard`](crate::azure_filter::AzureFilterGuard). Answers
//!   read back ([`ResponsesApi::get_response`]) or cancelled
//!   ([`ResponsesApi::cancel_response`]) are checked like new ones — a
//!   stored answer is still an answer; `delete_response` passes through.
//! - **Streams**: text, refusal and function-call argument deltas go
//!   through the same window and holdback as chat, one text per output item
//!   and content part. Every event that restates text — the `.done`
//!   events, `response.content_part.*`, `response.output_item.*` and the
//!   final `response.completed` — carries what the deltas delivered, so the
//!   redacted text is the only text out. Held text goes out as an extra
//!   delta (without a `sequence_number`) before the event that ends its
//!   part, at the latest before the terminal event. A block yields one
//!   error and ends the stream, before any terminal event.
//! - A guard that does not implement the Responses hooks refuses instead of
//!   letting content through unchecked: [`GuardError::Unsupported`].
//!
//! ## Order when stacking
//!
//! `Guarded` wraps any [`ChatApi`] or [`ResponsesApi`], so it stacks with
//! other layers, and the order matters — the same way for chat and for
//! Responses. `Guarded<Cached<Client>>` checks every request and every
//! answer, cached answers included: changing the guards takes effect at once.
//! `Cached<Guarded<Client>>` caches answers that passed the guards and checks
//! only cache misses: cheaper, but an answer cached under older guards is
//! served unchecked, and a refused request is not cached. A layer that keeps
//! Responses state (a stored response read back by id, a conversation)
//! inside the guard sees the redacted text: what the service stored is what
//! was sent.
//!
//! ## Two ways to call it
//!
//! [`Guarded::chat_checked`], [`Guarded::chat_stream_checked`],
//! [`Guarded::create_response_checked`],
//! [`Guarded::create_response_stream_checked`],
//! [`Guarded::get_response_checked`] and [`Guarded::cancel_response_checked`]
//! return [`GuardError`] and the notes (annotations, redactions) of the
//! guards. The [`ChatApi`] and [`ResponsesApi`] methods return
//! [`aoai_core::Error`], where a refusal is [`aoai_core::Error::Rejected`]
//! (Azure's own refusal stays [`aoai_core::Error::Api`]);
//! `GuardError::from(error)` gets the [`Blocked`] back.
//!
//! ```
//! use aoai_core::responses::{InputItem, ResponseRequest};
//! use aoai_emulator::Emulator;
//! use aoai_safety::blocklist::Blocklist;
//! use aoai_safety::guard::{Location, TextGuard};
//! use aoai_safety::pii::{PiiMode, PiiScanner};
//! use aoai_safety::{Guarded, Stage};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let emulator = Emulator::builder().start().await?;
//! let guarded = Guarded::new(emulator.client()?)
//!     .guard(TextGuard::new(Blocklist::new(["Project Falcon"])?))
//!     .guard(TextGuard::new(PiiScanner::new(PiiMode::Redact)?));
//!
//! // A function result naming the project is never sent.
//! let request = ResponseRequest::new(vec![
//!     InputItem::user("Summarise the lookup."),
//!     InputItem::function_call_output("call_1", "Project Falcon launches Monday."),
//! ]);
//! let blocked = guarded.create_response_checked("gpt-4o-mini", &request).await.unwrap_err();
//! let blocked = blocked.blocked().expect("a block");
//! assert_eq!((blocked.stage, blocked.sent), (Stage::Input, false));
//! assert_eq!(blocked.reasons[0].location, Some(Location::InputItem(1)));
//!
//! // Instructions are redacted before sending.
//! let request = ResponseRequest::new("Hello").instructions("Escalate to ada@example.com.");
//! let answer = guarded.create_response_checked("gpt-4o-mini", &request).await?;
//! assert_eq!(answer.notes[0].location, Some(Location::Instructions));
//! # Ok(())
//! # }
//! ```

mod responses;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use aoai_core::ChatApi;
#[cfg(doc)]
use aoai_core::ResponsesApi;
use aoai_core::chat::{ChatChunk, ChatRequest, ChatResponse, ChunkChoice, Delta, FunctionCallDelta, ToolCallDelta};
use aoai_core::response::Response;
use aoai_core::responses::{ResponseObject, ResponseRequest};
use aoai_core::stream::ChatStream;
use async_trait::async_trait;
use futures_util::StreamExt;

use crate::error::{Blocked, GuardError, Stage};
use crate::guard::{Guard, Location, Reason, Verdict};
use crate::window::{StreamBlock, TextScreen};

/// A value and the notes the guards attached to it (annotations and
/// redactions; blocks are errors).
#[derive(Debug, Clone)]
pub struct Checked<T> {
    /// The value, redacted if a guard redacted it.
    pub value: T,
    /// What the guards reported without blocking.
    pub notes: Vec<Reason>,
}

/// A [`ChatApi`] and [`ResponsesApi`] with guards. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Guarded<C> {
    inner: C,
    guards: Vec<Arc<dyn Guard>>,
}

impl<C> Guarded<C> {
    /// `inner` with no guards yet.
    pub fn new(inner: C) -> Self {
        Self { inner, guards: Vec::new() }
    }

    /// Adds a guard; guards run in the order they were added.
    #[must_use]
    pub fn guard(mut self, guard: impl Guard + 'static) -> Self {
        self.guards.push(Arc::new(guard));
        self
    }

    /// Adds a shared guard.
    #[must_use]
    pub fn shared_guard(mut self, guard: Arc<dyn Guard>) -> Self {
        self.guards.push(guard);
        self
    }

    /// The wrapped client.
    pub fn inner(&self) -> &C {
        &self.inner
    }

    /// The guards, in order.
    pub fn guards(&self) -> &[Arc<dyn Guard>] {
        &self.guards
    }

    /// Runs the input guards: the request to send (rewritten if a guard
    /// redacted it) and the notes.
    ///
    /// # Errors
    ///
    /// [`GuardError::Blocked`] (`stage: Input`, `sent: false`) if a guard
    /// blocks; [`GuardError::Service`] if a guard's own call fails.
    pub async fn check_request(&self, request: &ChatRequest) -> Result<Checked<Option<ChatRequest>>, GuardError> {
        self.screen_input(request, |guard, request| guard.check_input(request)).await
    }

    /// Runs the output guards on an answer.
    ///
    /// # Errors
    ///
    /// [`GuardError::Blocked`] (`stage: Output`, `sent: true`, the answer's
    /// request id) if a guard blocks.
    pub async fn check_response(
        &self,
        response: Response<ChatResponse>,
    ) -> Result<Checked<Response<ChatResponse>>, GuardError> {
        self.screen_output(response, |guard, body| guard.check_output(body)).await
    }

    /// Runs the input guards on a Responses request: the request to send
    /// (rewritten if a guard redacted it) and the notes.
    ///
    /// # Errors
    ///
    /// [`GuardError::Blocked`] (`stage: Input`, `sent: false`) if a guard
    /// blocks; [`GuardError::Unsupported`] if a guard does not cover the
    /// Responses API; [`GuardError::Service`] if a guard's own call fails.
    pub async fn check_responses_request(
        &self,
        request: &ResponseRequest,
    ) -> Result<Checked<Option<ResponseRequest>>, GuardError> {
        self.screen_input(request, |guard, request| guard.check_response_input(request)).await
    }

    /// Runs the output guards on a Responses answer.
    ///
    /// # Errors
    ///
    /// [`GuardError::Blocked`] (`stage: Output`, `sent: true`, the answer's
    /// request id) if a guard blocks; [`GuardError::Unsupported`] if a guard
    /// does not cover the Responses API.
    pub async fn check_response_object(
        &self,
        response: Response<ResponseObject>,
    ) -> Result<Checked<Response<ResponseObject>>, GuardError> {
        self.screen_output(response, |guard, body| guard.check_response_output(body)).await
    }

    /// Runs `check` of every guard in order on `value`, each on what the
    /// previous one let through.
    async fn screen_input<T, F>(&self, value: &T, check: F) -> Result<Checked<Option<T>>, GuardError>
    where
        F: for<'a> Fn(&'a dyn Guard, &'a T) -> Judging<'a, T>,
    {
        let mut rewritten: Option<T> = None;
        let mut notes = Vec::new();
        for guard in &self.guards {
            let current = rewritten.as_ref().unwrap_or(value);
            let verdict =
                check(guard.as_ref(), current).await.map_err(|error| error.in_guard(guard.name(), Stage::Input))?;
            match verdict {
                Verdict::Allow => {}
                Verdict::Annotate(reasons) => notes.extend(reasons),
                Verdict::Block(reasons) => {
                    return Err(Blocked {
                        guard: guard.name().to_owned(),
                        stage: Stage::Input,
                        reasons,
                        sent: false,
                        request_id: None,
                        azure_error: None,
                    }
                    .into());
                }
                Verdict::Redact { value, reasons } => {
                    notes.extend(reasons);
                    rewritten = Some(value);
                }
            }
        }
        Ok(Checked { value: rewritten, notes })
    }

    /// Runs `check` of every guard in order on an answer's body.
    async fn screen_output<T, F>(&self, mut response: Response<T>, check: F) -> Result<Checked<Response<T>>, GuardError>
    where
        F: for<'a> Fn(&'a dyn Guard, &'a T) -> Judging<'a, T>,
    {
        let mut notes = Vec::new();
        for guard in &self.guards {
            let verdict = check(guard.as_ref(), &response.body)
                .await
                .map_err(|error| error.in_guard(guard.name(), Stage::Output))?;
            match verdict {
                Verdict::Allow => {}
                Verdict::Annotate(reasons) => notes.extend(reasons),
                Verdict::Block(reasons) => {
                    return Err(Blocked {
                        guard: guard.name().to_owned(),
                        stage: Stage::Output,
                        reasons,
                        sent: true,
                        request_id: response.meta.request_id.clone(),
                        azure_error: None,
                    }
                    .into());
                }
                Verdict::Redact { value, reasons } => {
                    notes.extend(reasons);
                    response.body = value;
                }
            }
        }
        Ok(Checked { value: response, notes })
    }
}

/// What an async guard hook returns (`async_trait`'s boxed future).
type Judging<'a, T> = Pin<Box<dyn Future<Output = Result<Verdict<T>, GuardError>> + Send + 'a>>;

/// A refusal of streamed content.
pub(crate) fn stream_blocked(guard: String, reasons: Vec<Reason>, request_id: Option<&String>) -> Blocked {
    Blocked { guard, stage: Stage::Stream, reasons, sent: true, request_id: request_id.cloned(), azure_error: None }
}

impl<C: ChatApi> Guarded<C> {
    /// A guarded chat completion, with the guards' notes.
    ///
    /// # Errors
    ///
    /// [`GuardError::Blocked`] when a guard or Azure's filter refuses;
    /// [`GuardError::Client`] when the wrapped client fails;
    /// [`GuardError::Service`] when a guard's own call fails.
    pub async fn chat_checked(
        &self,
        deployment: &str,
        request: &ChatRequest,
    ) -> Result<Checked<Response<ChatResponse>>, GuardError> {
        let input = self.check_request(request).await?;
        let to_send = input.value.as_ref().unwrap_or(request);
        let response = self.inner.chat(deployment, to_send).await.map_err(GuardError::from)?;
        let mut output = self.check_response(response).await?;
        let mut notes = input.notes;
        notes.append(&mut output.notes);
        Ok(Checked { value: output.value, notes })
    }

    /// A guarded stream. The input is checked before the stream starts; the
    /// chunks are checked as they arrive (see the [module docs](self)).
    ///
    /// # Errors
    ///
    /// As [`chat_checked`](Self::chat_checked), for the input and for the
    /// start of the stream. Mid-stream refusals are the stream's items.
    pub async fn chat_stream_checked(
        &self,
        deployment: &str,
        request: &ChatRequest,
    ) -> Result<Checked<ChatStream>, GuardError> {
        let input = self.check_request(request).await?;
        let to_send = input.value.as_ref().unwrap_or(request);
        let stream = self.inner.chat_stream(deployment, to_send).await.map_err(GuardError::from)?;
        let meta = stream.meta().clone();
        let state = StreamState {
            stream,
            screen: TextScreen::new(self.guards.clone()),
            last: (String::new(), String::new(), 0),
            request_id: meta.request_id.clone(),
            ended: false,
        };
        let chunks = futures_util::stream::unfold(state, |mut state| async move {
            if state.ended {
                return None;
            }
            let Some(next) = state.stream.next().await else {
                state.ended = true;
                let last = state.flush()?.map_err(Blocked::into_core);
                return Some((last, state));
            };
            let item = match next {
                Ok(mut chunk) => match state.check(&mut chunk) {
                    Ok(()) => Ok(chunk),
                    Err(blocked) => {
                        state.ended = true;
                        Err(blocked.into_core())
                    }
                },
                Err(error) => {
                    state.ended = true;
                    Err(error)
                }
            };
            Some((item, state))
        });
        Ok(Checked { value: ChatStream::from_chunks(chunks, meta), notes: input.notes })
    }
}

/// One streamed text of a chat answer: a choice's content or refusal, the
/// arguments of one of its tool calls (by the call's index), or of its
/// deprecated `function_call`. Each is screened as its own text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChatText {
    Content(u32),
    Refusal(u32),
    Arguments { choice: u32, call: u32 },
    FunctionArguments(u32),
}

impl ChatText {
    fn choice(self) -> u32 {
        match self {
            Self::Content(choice)
            | Self::Refusal(choice)
            | Self::Arguments { choice, .. }
            | Self::FunctionArguments(choice) => choice,
        }
    }

    /// Takes the pieces of text out of a choice's delta (they go back,
    /// screened, through [`put`](Self::put)).
    fn take(choice: u32, delta: &mut Delta) -> Vec<(Self, String)> {
        let mut pieces = Vec::new();
        if let Some(text) = delta.content.take() {
            pieces.push((Self::Content(choice), text));
        }
        if let Some(text) = delta.refusal.take() {
            pieces.push((Self::Refusal(choice), text));
        }
        for call in delta.tool_calls.iter_mut().flatten() {
            if let Some(text) = call.function.as_mut().and_then(|function| function.arguments.take()) {
                pieces.push((Self::Arguments { choice, call: call.index }, text));
            }
        }
        if let Some(text) = delta.function_call.as_mut().and_then(|function| function.arguments.take()) {
            pieces.push((Self::FunctionArguments(choice), text));
        }
        pieces
    }

    /// Appends screened `text` to this text's field of `delta`.
    fn put(self, delta: &mut Delta, text: String) {
        fn append(field: &mut Option<String>, text: String) {
            match field {
                Some(existing) => existing.push_str(&text),
                None => *field = Some(text),
            }
        }
        match self {
            Self::Content(_) => append(&mut delta.content, text),
            Self::Refusal(_) => append(&mut delta.refusal, text),
            Self::Arguments { call, .. } => {
                let calls = delta.tool_calls.get_or_insert_with(Vec::new);
                let position = match calls.iter().position(|existing| existing.index == call) {
                    Some(position) => position,
                    None => {
                        calls.push(ToolCallDelta { index: call, ..ToolCallDelta::default() });
                        calls.len() - 1
                    }
                };
                if let Some(existing) = calls.get_mut(position) {
                    append(&mut existing.function.get_or_insert_with(FunctionCallDelta::default).arguments, text);
                }
            }
            Self::FunctionArguments(_) => {
                append(&mut delta.function_call.get_or_insert_with(FunctionCallDelta::default).arguments, text);
            }
        }
    }
}

/// What a guarded chat stream keeps between chunks.
struct StreamState {
    stream: ChatStream,
    /// Every text of every choice (content, refusal, each tool call's arguments).
    screen: TextScreen<ChatText>,
    /// `id`, `model`, `created` of the last chunk, for a final chunk carrying held-back text.
    last: (String, String, u64),
    request_id: Option<String>,
    ended: bool,
}

impl StreamState {
    fn blocked(&self, block: StreamBlock, choice: u32) -> Blocked {
        stream_blocked(block.guard, located(block.reasons, Location::Choice(choice)), self.request_id.as_ref())
    }

    fn check(&mut self, chunk: &mut ChatChunk) -> Result<(), Blocked> {
        for guard in self.screen.guards() {
            match guard.check_chunk(chunk) {
                Verdict::Block(reasons) => {
                    return Err(stream_blocked(guard.name().to_owned(), reasons, self.request_id.as_ref()));
                }
                Verdict::Annotate(reasons) => {
                    tracing::debug!(guard = guard.name(), notes = reasons.len(), "guard annotated a stream chunk");
                }
                Verdict::Allow | Verdict::Redact { .. } => {}
            }
        }
        if !chunk.id.is_empty() {
            self.last = (chunk.id.clone(), chunk.model.clone(), chunk.created);
        }
        for choice in &mut chunk.choices {
            let index = choice.index;
            let finishing = choice.finish_reason.is_some();
            let pieces = choice.delta.as_mut().map(|delta| ChatText::take(index, delta)).unwrap_or_default();
            for (key, piece) in pieces {
                let release = match self.screen.push(&key, &piece, finishing) {
                    Ok(release) => release,
                    Err(block) => return Err(self.blocked(block, index)),
                };
                key.put(choice.delta.get_or_insert_with(Delta::default), release);
            }
            if finishing {
                // Text held back from earlier chunks of this choice goes out
                // with its finish chunk.
                for key in self.screen.pending_keys().into_iter().filter(|key| key.choice() == index) {
                    let release = match self.screen.push(&key, "", true) {
                        Ok(release) => release,
                        Err(block) => return Err(self.blocked(block, index)),
                    };
                    key.put(choice.delta.get_or_insert_with(Delta::default), release);
                }
            }
        }
        Ok(())
    }

    /// A last chunk with the text still held back when the stream ended
    /// without a finish chunk for its choice, checked like any other.
    fn flush(&mut self) -> Option<Result<ChatChunk, Blocked>> {
        let mut choices: Vec<ChunkChoice> = Vec::new();
        for key in self.screen.pending_keys() {
            let index = key.choice();
            let release = match self.screen.push(&key, "", true) {
                Ok(release) => release,
                Err(block) => return Some(Err(self.blocked(block, index))),
            };
            let position = match choices.iter().position(|choice| choice.index == index) {
                Some(position) => position,
                None => {
                    choices.push(ChunkChoice { index, ..ChunkChoice::default() });
                    choices.len() - 1
                }
            };
            if let Some(choice) = choices.get_mut(position) {
                key.put(choice.delta.get_or_insert_with(Delta::default), release);
            }
        }
        if choices.is_empty() {
            return None;
        }
        let (id, model, created) = self.last.clone();
        Some(Ok(ChatChunk {
            id,
            model,
            created,
            object: "chat.completion.chunk".to_owned(),
            choices,
            ..ChatChunk::default()
        }))
    }
}

/// Puts stream reasons at `location`; ranges stay relative to the window.
pub(crate) fn located(reasons: Vec<Reason>, location: Location) -> Vec<Reason> {
    reasons.into_iter().map(|reason| reason.at(location)).collect()
}

#[async_trait]
impl<C: ChatApi> ChatApi for Guarded<C> {
    async fn chat(&self, deployment: &str, request: &ChatRequest) -> aoai_core::Result<Response<ChatResponse>> {
        self.chat_checked(deployment, request).await.map(|checked| checked.value).map_err(GuardError::into_core)
    }

    async fn chat_stream(&self, deployment: &str, request: &ChatRequest) -> aoai_core::Result<ChatStream> {
        self.chat_stream_checked(deployment, request).await.map(|checked| checked.value).map_err(GuardError::into_core)
    }
}

#[cfg(test)]
mod tests {
    use aoai_core::response::ResponseMeta;

    use super::*;
    use crate::guard::TextGuard;
    use crate::pii::{PiiMode, PiiScanner};

    /// A chat client that streams fixed pieces of text, with no finish chunk.
    #[derive(Debug)]
    struct Pieces(Vec<&'static str>);

    #[async_trait]
    impl ChatApi for Pieces {
        async fn chat(&self, _: &str, _: &ChatRequest) -> aoai_core::Result<Response<ChatResponse>> {
            unreachable!("streams only")
        }

        async fn chat_stream(&self, _: &str, _: &ChatRequest) -> aoai_core::Result<ChatStream> {
            let chunks: Vec<aoai_core::Result<ChatChunk>> = self
                .0
                .iter()
                .map(|piece| {
                    Ok(ChatChunk {
                        id: "c1".into(),
                        model: "m".into(),
                        choices: vec![ChunkChoice {
                            index: 0,
                            delta: Some(Delta { content: Some((*piece).to_owned()), ..Delta::default() }),
                            ..ChunkChoice::default()
                        }],
                        ..ChatChunk::default()
                    })
                })
                .collect();
            Ok(ChatStream::from_chunks(futures_util::stream::iter(chunks), ResponseMeta::default()))
        }
    }

    async fn streamed(pieces: Vec<&'static str>) -> (Vec<String>, Option<GuardError>) {
        let guarded = Guarded::new(Pieces(pieces)).guard(TextGuard::new(PiiScanner::new(PiiMode::Redact).unwrap()));
        let request = ChatRequest::new(vec![aoai_core::chat::ChatMessage::user("hi")]);
        let mut stream = guarded.chat_stream_checked("d", &request).await.unwrap().value;
        let (mut out, mut error) = (Vec::new(), None);
        while let Some(item) = stream.next().await {
            match item {
                Ok(chunk) => out.push(chunk.delta_text().unwrap_or_default().to_owned()),
                Err(e) => error = Some(GuardError::from(e)),
            }
        }
        (out, error)
    }

    #[tokio::test]
    async fn pii_split_across_chunks_is_held_back_and_redacted() {
        let (out, error) = streamed(vec!["Mail ada@exa", "mple.com now"]).await;
        assert!(error.is_none(), "{error:?}");
        assert_eq!(out.concat(), "Mail [EMAIL] now");
        assert_eq!(out, vec!["Mail ", "[EMAIL] ", "now"], "held-back text comes out in a final chunk");
        let (out, _) = streamed(vec!["card 4111 11", "11 1111 1111", " ok"]).await;
        assert_eq!(out.concat(), "card [CARD] ok");
        assert!(!out.iter().any(|piece| piece.contains("4111")), "{out:?}");
    }

    #[tokio::test]
    async fn text_held_back_at_the_end_is_checked_too() {
        let (out, error) = streamed(vec!["write to ada@example.com"]).await;
        assert!(error.is_none(), "{error:?}");
        assert_eq!(out, vec!["write to ", "[EMAIL]"]);
    }
}
