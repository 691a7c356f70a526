//! Streams: an HTTP body turned into server-sent events, and events into chat chunks.
//!
//! [`EventStream`] parses a [`ByteStream`] with [`SseParser`], ends
//! successfully at the stream's terminator (`data: [DONE]` for chat,
//! `event: done` for Assistants), and turns everything else into an error: a
//! body that ends before the terminator, a read failure, or a wait for the next
//! bytes longer than the idle timeout. After an error or the terminator the
//! stream is fused: it yields `None` forever. A body whose last line is
//! `data: [DONE]` without the blank line after it still ends successfully.
//! The idle timeout covers only the wait for the next bytes, from the moment
//! the stream finds none ready; time the caller spends between polls never
//! counts.
//!
//! [`ChatStream`] decodes each event of an [`EventStream`] as a
//! [`ChatChunk`], accepting everything Azure sends (a first chunk with
//! `"choices": []`, annotation chunks without `delta`, the usage chunk,
//! `"usage": null`). An event that is not a chunk is
//! [`StreamErrorKind::MalformedEvent`]; an `{"error": …}` object inside the
//! stream is [`StreamErrorKind::ServiceError`]. Either ends the stream.
//!
//! ```
//! use std::sync::Arc;
//! use aoai_core::clock::SystemClock;
//! use aoai_core::stream::{ByteStream, EventStream};
//! use futures_util::StreamExt;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let pieces: Vec<Result<bytes::Bytes, aoai_core::error::BoxError>> = vec![
//!     Ok(bytes::Bytes::from_static(b"data: {\"n\":1}\n\ndata: [DO")),
//!     Ok(bytes::Bytes::from_static(b"NE]\n\n")),
//! ];
//! let body: ByteStream = Box::pin(futures_util::stream::iter(pieces));
//! let mut events = EventStream::new(body, None, Arc::new(SystemClock));
//! assert_eq!(events.next().await.unwrap().unwrap().data, r#"{"n":1}"#);
//! assert!(events.next().await.is_none());
//! # });
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::Stream;
use futures_util::stream::FusedStream;

use crate::chat::{ChatAccumulator, ChatChunk, ChatResponse, ChunkDecoder};
use crate::clock::{Clock, Sleep, SleepFuture};
use crate::error::{BoxError, Error, StreamError, StreamErrorKind, TimeoutError, TimeoutKind, parse_error_body};
use crate::metrics::{MetricsRecorder, Operation, RequestRecord, TokenUsage};
use crate::response::ResponseMeta;
use crate::sse::{SseEvent, SseParser};
use crate::telemetry;

/// An HTTP body as a stream of byte chunks.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<bytes::Bytes, BoxError>> + Send>>;

/// The data that ends a chat-completions stream.
pub const DONE_DATA: &str = "[DONE]";

/// The event name that ends an Assistants stream.
pub const DONE_EVENT: &str = "done";

/// How far an event's text is quoted in an error message, in characters.
const EXCERPT_CHARS: usize = 200;

/// Which event ends a stream successfully. The terminating event is not yielded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Terminator {
    /// `data: [DONE]`, as chat and completions streams end.
    #[default]
    DoneData,
    /// `event: done`, as Assistants streams end.
    DoneEvent,
    /// Either of the two.
    Either,
    /// No terminating event: the body's end is the stream's end, as the
    /// Responses API streams end (after a `response.completed`,
    /// `response.incomplete` or `response.failed` event, which the layer
    /// above checks for). A body that ends inside an event is an error.
    EndOfBody,
}

impl Terminator {
    /// Whether `event` ends the stream.
    #[must_use]
    pub fn matches(self, event: &SseEvent) -> bool {
        let done_data = event.data == DONE_DATA;
        let done_event = event.event.as_deref() == Some(DONE_EVENT);
        match self {
            Self::DoneData => done_data,
            Self::DoneEvent => done_event,
            Self::Either => done_data || done_event,
            Self::EndOfBody => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Streaming,
    Done,
    Failed,
}

/// Server-sent events read from a [`ByteStream`]. See the [module docs](self).
pub struct EventStream {
    bytes: Option<ByteStream>,
    parser: SseParser,
    pending: VecDeque<SseEvent>,
    scratch: Vec<SseEvent>,
    idle_timeout: Option<Duration>,
    sleep: Arc<dyn Sleep>,
    idle_timer: Option<SleepFuture>,
    terminator: Terminator,
    request_id: Option<String>,
    state: State,
}

impl fmt::Debug for EventStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream")
            .field("pending", &self.pending.len())
            .field("idle_timeout", &self.idle_timeout)
            .field("terminator", &self.terminator)
            .field("request_id", &self.request_id)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl EventStream {
    /// Events from `bytes`, ending at `data: [DONE]`. With an `idle_timeout`,
    /// waiting longer than it for the next bytes (timed by `sleep`) is an error.
    #[must_use]
    pub fn new(bytes: ByteStream, idle_timeout: Option<Duration>, sleep: Arc<dyn Sleep>) -> Self {
        Self {
            bytes: Some(bytes),
            parser: SseParser::new(),
            pending: VecDeque::new(),
            scratch: Vec::new(),
            idle_timeout,
            sleep,
            idle_timer: None,
            terminator: Terminator::DoneData,
            request_id: None,
            state: State::Streaming,
        }
    }

    /// Ends the stream at `terminator` instead of `data: [DONE]`.
    #[must_use]
    pub fn with_terminator(mut self, terminator: Terminator) -> Self {
        self.terminator = terminator;
        self
    }

    /// Puts `request_id` on the errors this stream yields.
    #[must_use]
    pub fn with_request_id(mut self, request_id: Option<String>) -> Self {
        self.request_id = request_id;
        self
    }

    /// The terminator this stream ends at.
    #[must_use]
    pub fn terminator(&self) -> Terminator {
        self.terminator
    }

    /// Whether the stream reached its terminator.
    #[must_use]
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The request id put on errors.
    #[must_use]
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    fn stream_error(&self, kind: StreamErrorKind, message: String, source: Option<BoxError>) -> Error {
        Error::Stream(StreamError { kind, message, request_id: self.request_id.clone(), source })
    }

    fn end(&mut self, state: State) {
        self.state = state;
        self.bytes = None;
        self.idle_timer = None;
        self.pending.clear();
    }

    fn fail(&mut self, error: Error) -> Poll<Option<Result<SseEvent, Error>>> {
        self.end(State::Failed);
        Poll::Ready(Some(Err(error)))
    }

    /// The byte stream ended: success only if what was left is the terminator.
    fn on_body_end(&mut self) -> Poll<Option<Result<SseEvent, Error>>> {
        if self.terminator == Terminator::EndOfBody {
            let Some(partial) = self.parser.finish() else {
                self.end(State::Done);
                return Poll::Ready(None);
            };
            let left = partial.data_with_unterminated_line().or(partial.unterminated_line).unwrap_or_default();
            let message = format!("the body ended inside an event: {}", excerpt(&left));
            return self.fail(self.stream_error(StreamErrorKind::EndedWithoutDone, message, None));
        }
        let Some(partial) = self.parser.finish() else {
            return self.fail(self.stream_error(StreamErrorKind::EndedWithoutDone, String::new(), None));
        };
        // A last `data: [DONE]` missing only its blank line still completes the stream.
        let data = partial.data_with_unterminated_line();
        if let Some(data) = &data {
            let candidate = SseEvent { event: partial.event, data: data.clone(), ..SseEvent::default() };
            if self.terminator.matches(&candidate) {
                self.end(State::Done);
                return Poll::Ready(None);
            }
        }
        let left = data.or(partial.unterminated_line).unwrap_or_default();
        let message = format!("the body ended inside an event: {}", excerpt(&left));
        self.fail(self.stream_error(StreamErrorKind::EndedWithoutDone, message, None))
    }
}

impl Stream for EventStream {
    type Item = Result<SseEvent, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.state != State::Streaming {
                return Poll::Ready(None);
            }
            if let Some(event) = this.pending.pop_front() {
                if this.terminator.matches(&event) {
                    this.end(State::Done);
                    return Poll::Ready(None);
                }
                return Poll::Ready(Some(Ok(event)));
            }
            let Some(bytes) = this.bytes.as_mut() else {
                return Poll::Ready(None);
            };
            match bytes.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    this.idle_timer = None;
                    this.parser.feed(&chunk, &mut this.scratch);
                    this.pending.extend(this.scratch.drain(..));
                }
                Poll::Ready(Some(Err(source))) => {
                    let error = this.stream_error(StreamErrorKind::Read, String::new(), Some(source));
                    return this.fail(error);
                }
                Poll::Ready(None) => return this.on_body_end(),
                Poll::Pending => {
                    let Some(limit) = this.idle_timeout else {
                        return Poll::Pending;
                    };
                    let sleep = &this.sleep;
                    let timer = this.idle_timer.get_or_insert_with(|| sleep.sleep(limit));
                    if timer.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    let error = Error::Timeout(TimeoutError {
                        kind: TimeoutKind::StreamIdle,
                        limit,
                        may_have_been_sent: true,
                        attempts: 1,
                    });
                    return this.fail(error);
                }
            }
        }
    }
}

impl FusedStream for EventStream {
    fn is_terminated(&self) -> bool {
        self.state != State::Streaming
    }
}

/// Chat-completion chunks read from a streamed response. See the [module docs](self).
///
/// ```
/// use std::sync::Arc;
/// use aoai_core::clock::SystemClock;
/// use aoai_core::response::ResponseMeta;
/// use aoai_core::stream::{ByteStream, ChatStream};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let body = concat!(
///     r#"data: {"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[]}"#, "\n\n",
///     r#"data: {"id":"c1","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"}}],"usage":null}"#, "\n\n",
///     r#"data: {"id":"c1","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}"#, "\n\n",
///     "data: [DONE]\n\n",
/// );
/// let pieces: Vec<Result<bytes::Bytes, aoai_core::error::BoxError>> = vec![Ok(bytes::Bytes::from_static(body.as_bytes()))];
/// let bytes: ByteStream = Box::pin(futures_util::stream::iter(pieces));
/// let meta = ResponseMeta { status: 200, request_id: Some("req-1".into()), ..ResponseMeta::default() };
/// let stream = ChatStream::new(bytes, meta, None, Arc::new(SystemClock));
/// let (response, meta) = stream.collect_response().await.unwrap();
/// assert_eq!(response.text(), Some("Hi"));
/// assert_eq!(meta.request_id.as_deref(), Some("req-1"));
/// # });
/// ```
#[derive(Debug)]
pub struct ChatStream {
    source: Source,
    meta: ResponseMeta,
    yielded_data: bool,
    finished: bool,
    observer: Option<ObserverState>,
}

impl ChatStream {
    /// Chunks from the body `bytes` of the response described by `meta`. With
    /// an `idle_timeout`, waiting longer than it for the next bytes (timed by
    /// `sleep`) ends the stream with [`TimeoutKind::StreamIdle`].
    #[must_use]
    pub fn new(bytes: ByteStream, meta: ResponseMeta, idle_timeout: Option<Duration>, sleep: Arc<dyn Sleep>) -> Self {
        let events = EventStream::new(bytes, idle_timeout, sleep).with_request_id(meta.request_id.clone());
        let source = Source::Events { events: Box::new(events), decoder: ChunkDecoder::new() };
        Self { source, meta, yielded_data: false, finished: false, observer: None }
    }

    /// A stream of chunks that are already decoded, for layers that wrap a
    /// [`ChatApi`](crate::ChatApi) and hand out a stream they did not read
    /// from HTTP themselves: a cache replaying a stored answer, a guard
    /// checking each chunk of another stream. The stream ends at `chunks`'
    /// end; an `Err` item is yielded and ends it.
    ///
    /// ```
    /// use aoai_core::chat::ChatChunk;
    /// use aoai_core::response::ResponseMeta;
    /// use aoai_core::stream::ChatStream;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let chunk = ChatChunk::from_json(
    ///     r#"{"id":"c1","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":"stop"}]}"#,
    /// ).unwrap();
    /// let stream = ChatStream::from_chunks(futures_util::stream::iter([Ok(chunk)]), ResponseMeta::default());
    /// let (response, _) = stream.collect_response().await.unwrap();
    /// assert_eq!(response.text(), Some("Hi"));
    /// # });
    /// ```
    #[must_use]
    pub fn from_chunks<S>(chunks: S, meta: ResponseMeta) -> Self
    where
        S: Stream<Item = Result<ChatChunk, Error>> + Send + 'static,
    {
        Self { source: Source::Chunks(Box::pin(chunks)), meta, yielded_data: false, finished: false, observer: None }
    }

    /// Reports the stream's outcome (latency, time to first token, usage,
    /// error) to `observer` when it ends, fails or is dropped.
    #[must_use]
    pub fn with_observer(mut self, observer: StreamObserver) -> Self {
        self.observer = Some(ObserverState::new(observer));
        self
    }

    /// The metadata of the response that carries the stream.
    #[must_use]
    pub fn meta(&self) -> &ResponseMeta {
        &self.meta
    }

    /// Whether any chunk has been handed to the caller. Once one has, the
    /// request must not be retried silently: the caller has seen output.
    #[must_use]
    pub fn has_yielded_data(&self) -> bool {
        self.yielded_data
    }

    /// Reads the stream to its end and rebuilds the whole response with
    /// [`ChatAccumulator`].
    ///
    /// # Errors
    ///
    /// The first error of the stream: a cut stream, a read failure, an idle
    /// timeout, a malformed event or an error sent inside the stream.
    pub async fn collect_response(mut self) -> Result<(ChatResponse, ResponseMeta), Error> {
        let mut accumulator = ChatAccumulator::new();
        while let Some(chunk) = futures_util::StreamExt::next(&mut self).await {
            accumulator.push(&chunk?);
        }
        let meta = std::mem::take(&mut self.meta);
        Ok((accumulator.finish(), meta))
    }

    fn decode(decoder: &mut ChunkDecoder, meta: &ResponseMeta, event: &SseEvent) -> Result<ChatChunk, StreamError> {
        let request_id = || meta.request_id.clone();
        match decoder.decode(&event.data) {
            Ok(chunk) => match chunk.extra.get("error") {
                Some(error) if !error.is_null() => Err(service_error(&event.data, request_id())),
                _ => Ok(chunk),
            },
            Err(_) if has_top_level_error(&event.data) => Err(service_error(&event.data, request_id())),
            Err(source) => Err(StreamError {
                kind: StreamErrorKind::MalformedEvent,
                message: excerpt(&event.data),
                request_id: request_id(),
                source: Some(Box::new(source)),
            }),
        }
    }

    fn end(&mut self, outcome: Result<(), &Error>) {
        self.finished = true;
        if let Some(observer) = self.observer.take() {
            observer.finish(&self.meta, outcome.map_err(|error| (error.kind_name(), Some(error))));
        }
    }
}

impl Stream for ChatStream {
    type Item = Result<ChatChunk, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(None);
        }
        let (events, decoder) = match &mut this.source {
            Source::Events { events, decoder } => (events, decoder),
            Source::Chunks(chunks) => {
                let item = match chunks.as_mut().poll_next(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(item) => item,
                };
                match &item {
                    None => this.end(Ok(())),
                    Some(Err(error)) => this.end(Err(error)),
                    Some(Ok(chunk)) => {
                        if let Some(observer) = &mut this.observer {
                            observer.on_chunk(chunk);
                        }
                        this.yielded_data = true;
                    }
                }
                return Poll::Ready(item);
            }
        };
        let event = match Pin::new(&mut **events).poll_next(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => {
                this.end(Ok(()));
                return Poll::Ready(None);
            }
            Poll::Ready(Some(Err(mut error))) => {
                if let Error::Timeout(timeout) = &mut error {
                    timeout.attempts = this.meta.attempts.max(1);
                }
                this.end(Err(&error));
                return Poll::Ready(Some(Err(error)));
            }
            Poll::Ready(Some(Ok(event))) => event,
        };
        match Self::decode(decoder, &this.meta, &event) {
            Ok(chunk) => {
                if let Some(observer) = &mut this.observer {
                    observer.on_chunk(&chunk);
                }
                this.yielded_data = true;
                Poll::Ready(Some(Ok(chunk)))
            }
            Err(error) => {
                let error = Error::Stream(error);
                this.end(Err(&error));
                Poll::Ready(Some(Err(error)))
            }
        }
    }
}

/// Where a [`ChatStream`]'s chunks come from.
enum Source {
    /// Server-sent events, decoded here.
    Events { events: Box<EventStream>, decoder: ChunkDecoder },
    /// Chunks decoded elsewhere ([`ChatStream::from_chunks`]).
    Chunks(Pin<Box<dyn Stream<Item = Result<ChatChunk, Error>> + Send>>),
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Events { events, .. } => f.debug_struct("Events").field("events", events).finish_non_exhaustive(),
            Self::Chunks(_) => f.write_str("Chunks(..)"),
        }
    }
}

impl FusedStream for ChatStream {
    fn is_terminated(&self) -> bool {
        self.finished
    }
}

impl Drop for ChatStream {
    fn drop(&mut self) {
        if let Some(observer) = self.observer.take() {
            observer.finish(&self.meta, Err((CANCELLED, None)));
        }
    }
}

/// The `error_kind` recorded for a stream dropped before its end.
pub const CANCELLED: &str = "cancelled";

/// Where a [`ChatStream`] reports its outcome: one [`RequestRecord`] of
/// [`Operation::ChatStream`] to `recorder`, and the same facts on `span`.
///
/// The record's latency runs from `started` to the stream's end, its time to
/// first token to the first chunk with content, tool calls or a refusal; its
/// usage is the usage chunk's. A stream dropped before its end is recorded
/// with the error kind [`CANCELLED`].
#[derive(Debug, Clone)]
pub struct StreamObserver {
    /// Receives the record.
    pub recorder: Arc<dyn MetricsRecorder>,
    /// Measures latency and time to first token.
    pub clock: Arc<dyn Clock>,
    /// When the operation started (before its first attempt).
    pub started: Instant,
    /// The deployment called.
    pub deployment: Option<String>,
    /// The operation's span.
    pub span: tracing::Span,
}

#[derive(Debug)]
struct ObserverState {
    observer: StreamObserver,
    time_to_first_token: Option<Duration>,
    usage: TokenUsage,
    response_id: Option<String>,
    model: Option<String>,
    finish_reasons: Vec<(u32, String)>,
}

impl ObserverState {
    fn new(observer: StreamObserver) -> Self {
        Self {
            observer,
            time_to_first_token: None,
            usage: TokenUsage::default(),
            response_id: None,
            model: None,
            finish_reasons: Vec::new(),
        }
    }

    fn on_chunk(&mut self, chunk: &ChatChunk) {
        if self.time_to_first_token.is_none() && has_output(chunk) {
            let elapsed = self.observer.clock.now().saturating_duration_since(self.observer.started);
            self.time_to_first_token = Some(elapsed);
        }
        if self.response_id.is_none() && !chunk.id.is_empty() {
            self.response_id = Some(chunk.id.clone());
        }
        if self.model.is_none() && !chunk.model.is_empty() {
            self.model = Some(chunk.model.clone());
        }
        if let Some(usage) = &chunk.usage {
            self.usage = TokenUsage::from(usage);
        }
        for choice in &chunk.choices {
            if let Some(reason) = &choice.finish_reason {
                match self.finish_reasons.iter_mut().find(|(index, _)| *index == choice.index) {
                    Some((_, known)) => reason.as_str().clone_into(known),
                    None => self.finish_reasons.push((choice.index, reason.as_str().to_owned())),
                }
            }
        }
    }

    fn finish(self, meta: &ResponseMeta, outcome: Result<(), (&'static str, Option<&Error>)>) {
        let observer = &self.observer;
        let latency = observer.clock.now().saturating_duration_since(observer.started);
        let mut record = RequestRecord::new(Operation::ChatStream)
            .with_latency(latency)
            .with_attempts(meta.attempts.max(1))
            .with_status(meta.status)
            .with_usage(self.usage);
        if let Some(deployment) = &observer.deployment {
            record = record.with_deployment(deployment.clone());
        }
        if let Some(model) = &self.model {
            record = record.with_model(model.clone());
        }
        if let Some(ttft) = self.time_to_first_token {
            record = record.with_time_to_first_token(ttft);
        }
        if let Some(request_id) = &meta.request_id {
            record = record.with_request_id(request_id.clone());
        }
        match outcome {
            Ok(()) => {}
            Err((_, Some(error))) => record = record.with_error(error),
            Err((kind, None)) => record = record.with_error_kind(kind),
        }
        let mut reasons = self.finish_reasons.clone();
        reasons.sort_unstable_by_key(|(index, _)| *index);
        let reasons: Vec<&str> = reasons.iter().map(|(_, reason)| reason.as_str()).collect();
        telemetry::record_response(&observer.span, self.response_id.as_deref(), self.model.as_deref(), &reasons);
        telemetry::record_outcome(&observer.span, &record);
        observer.recorder.record(&record);
    }
}

/// Whether a chunk carries output: content, a refusal or a tool call.
fn has_output(chunk: &ChatChunk) -> bool {
    chunk.choices.iter().filter_map(|choice| choice.delta.as_ref()).any(|delta| {
        delta.content.as_deref().is_some_and(|text| !text.is_empty())
            || delta.refusal.as_deref().is_some_and(|text| !text.is_empty())
            || delta.tool_calls.as_ref().is_some_and(|calls| !calls.is_empty())
            || delta.function_call.is_some()
    })
}

/// Whether `data` is a JSON object with a non-null top-level `error`.
fn has_top_level_error(data: &str) -> bool {
    data.contains("\"error\"")
        && serde_json::from_str::<serde_json::Value>(data)
            .ok()
            .and_then(|value| value.get("error").map(|error| !error.is_null()))
            .unwrap_or(false)
}

/// An `{"error": …}` object sent inside the stream.
fn service_error(data: &str, request_id: Option<String>) -> StreamError {
    let body = parse_error_body(data.as_bytes());
    let mut message = body.message.clone().unwrap_or_else(|| excerpt(data));
    if let Some(code) = &body.code {
        message.push_str(&format!(" (code {code})"));
    } else if let Some(kind) = &body.error_type {
        message.push_str(&format!(" (type {kind})"));
    }
    StreamError { kind: StreamErrorKind::ServiceError, message, request_id, source: None }
}

/// The first [`EXCERPT_CHARS`] characters of `text`, marked when cut.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((index, _)) => format!("{}…", &text[..index]),
        None => text.to_owned(),
    }
}
