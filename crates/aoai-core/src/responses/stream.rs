//! [`ResponseStream`]: typed events over an HTTP body.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::stream::FusedStream;
use futures_util::{Stream, StreamExt};

use super::accumulate::ResponseAccumulator;
use super::event::{ResponseEvent, ResponseStreamEvent};
use super::object::ResponseObject;
use crate::clock::{Clock, Sleep};
use crate::error::{Error, StreamError, StreamErrorKind};
use crate::metrics::{MetricsRecorder, Operation, RequestRecord, TokenUsage};
use crate::response::ResponseMeta;
use crate::stream::{ByteStream, EventStream, Terminator};

/// Where a [`ResponseStream`] reports its outcome: one [`RequestRecord`]
/// (operation `responses.stream`) with the terminal event's usage, latency
/// and time to first output.
#[derive(Debug, Clone)]
pub(crate) struct ResponseObserver {
    pub(crate) recorder: Arc<dyn MetricsRecorder>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) started: Instant,
    pub(crate) deployment: Option<String>,
}

/// The events of a streamed response, typed. See the [module docs](super).
///
/// The stream ends (`None`) after the body ends following a terminal event
/// (`response.completed`, `response.incomplete`, `response.failed`). A body
/// that ends before one is a [`StreamErrorKind::EndedWithoutDone`] error
/// naming the last sequence number, so the caller can resume a background
/// response with [`Client::resume_response_stream`](crate::Client::resume_response_stream).
/// An `error` event is yielded as a [`StreamErrorKind::ServiceError`] and
/// ends the stream. A stream is never restarted silently.
pub struct ResponseStream {
    events: Source,
    meta: ResponseMeta,
    last_sequence_number: Option<u64>,
    response_id: Option<String>,
    terminal_seen: bool,
    finished: bool,
    observer: Option<(ResponseObserver, Option<Duration>)>,
}

/// Where the events come from: an SSE body (decoded here, the common path)
/// or a stream of typed events.
enum Source {
    Sse(Box<EventStream>),
    Events(Pin<Box<dyn Stream<Item = crate::Result<ResponseStreamEvent>> + Send>>),
}

impl Source {
    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        request_id: Option<&str>,
    ) -> Poll<Option<crate::Result<ResponseStreamEvent>>> {
        match self {
            Self::Events(events) => events.as_mut().poll_next(cx),
            Self::Sse(events) => match Pin::new(events.as_mut()).poll_next(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(error))),
                Poll::Ready(Some(Ok(event))) => {
                    Poll::Ready(Some(ResponseStreamEvent::from_json(&event.data).map_err(|error| {
                        Error::Stream(StreamError {
                            kind: StreamErrorKind::MalformedEvent,
                            message: error.to_string(),
                            request_id: request_id.map(str::to_owned),
                            source: Some(Box::new(error)),
                        })
                    })))
                }
            },
        }
    }
}

impl fmt::Debug for ResponseStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseStream")
            .field("meta", &self.meta)
            .field("last_sequence_number", &self.last_sequence_number)
            .field("response_id", &self.response_id)
            .field("terminal_seen", &self.terminal_seen)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl ResponseStream {
    /// Events read from an SSE body.
    #[must_use]
    pub fn new(bytes: ByteStream, meta: ResponseMeta, idle_timeout: Option<Duration>, sleep: Arc<dyn Sleep>) -> Self {
        let events = EventStream::new(bytes, idle_timeout, sleep)
            .with_terminator(Terminator::EndOfBody)
            .with_request_id(meta.request_id.clone());
        Self::with_source(Source::Sse(Box::new(events)), meta)
    }

    /// A stream over events that are already typed (for layers that replay
    /// or transform streams, and for tests).
    #[must_use]
    pub fn from_events<S>(events: S, meta: ResponseMeta) -> Self
    where
        S: Stream<Item = crate::Result<ResponseStreamEvent>> + Send + 'static,
    {
        Self::with_source(Source::Events(Box::pin(events)), meta)
    }

    fn with_source(events: Source, meta: ResponseMeta) -> Self {
        Self {
            events,
            meta,
            last_sequence_number: None,
            response_id: None,
            terminal_seen: false,
            finished: false,
            observer: None,
        }
    }

    pub(crate) fn with_observer(mut self, observer: ResponseObserver) -> Self {
        self.observer = Some((observer, None));
        self
    }

    /// The response's HTTP metadata (request id, rate limits).
    #[must_use]
    pub fn meta(&self) -> &ResponseMeta {
        &self.meta
    }

    /// The sequence number of the last event yielded.
    #[must_use]
    pub fn last_sequence_number(&self) -> Option<u64> {
        self.last_sequence_number
    }

    /// The response id, once `response.created` (or any lifecycle event) arrived.
    #[must_use]
    pub fn response_id(&self) -> Option<&str> {
        self.response_id.as_deref()
    }

    /// Reads the stream to its end and returns the final response, rebuilt
    /// by a [`ResponseAccumulator`], and the metadata. A failed or incomplete
    /// response is returned as such (check `status`); a broken stream is an error.
    pub async fn collect_response(mut self) -> crate::Result<(ResponseObject, ResponseMeta)> {
        let mut accumulator = ResponseAccumulator::new();
        while let Some(event) = self.next().await {
            accumulator.push(&event?);
        }
        let meta = self.meta.clone();
        Ok((accumulator.into_response(), meta))
    }

    fn stream_error(&self, kind: StreamErrorKind, message: String) -> Error {
        Error::Stream(StreamError { kind, message, request_id: self.meta.request_id.clone(), source: None })
    }

    /// Records the outcome once; `Err(None)` is a stream dropped before its end.
    fn finish(&mut self, outcome: Result<Option<&ResponseObject>, Option<&Error>>) {
        self.finished = true;
        let Some((observer, first_output)) = self.observer.take() else {
            return;
        };
        let latency = observer.clock.now().saturating_duration_since(observer.started);
        let mut record = RequestRecord::new(Operation::Other("responses.stream"))
            .with_latency(latency)
            .with_attempts(self.meta.attempts.max(1))
            .with_status(self.meta.status);
        if let Some(deployment) = observer.deployment {
            record = record.with_deployment(deployment);
        }
        if let Some(first) = first_output {
            record = record.with_time_to_first_token(first);
        }
        if let Some(request_id) = &self.meta.request_id {
            record = record.with_request_id(request_id.clone());
        }
        match outcome {
            Ok(response) => {
                if let Some(response) = response {
                    if let Some(usage) = &response.usage {
                        record = record.with_usage(TokenUsage::from(usage));
                    }
                    if !response.model.is_empty() {
                        record = record.with_model(response.model.clone());
                    }
                }
            }
            Err(Some(error)) => record = record.with_error(error),
            Err(None) => record = record.with_error_kind(crate::stream::CANCELLED),
        }
        observer.recorder.record(&record);
    }
}

impl Stream for ResponseStream {
    type Item = crate::Result<ResponseStreamEvent>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(None);
        }
        match this.events.poll_next(cx, this.meta.request_id.as_deref()) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(event))) => {
                if let Some(number) = event.sequence_number {
                    this.last_sequence_number = Some(number);
                }
                if let Some((observer, first_output)) = &mut this.observer
                    && first_output.is_none()
                    && matches!(
                        event.event,
                        ResponseEvent::OutputTextDelta { .. }
                            | ResponseEvent::RefusalDelta { .. }
                            | ResponseEvent::FunctionCallArgumentsDelta { .. }
                    )
                {
                    *first_output = Some(observer.clock.now().saturating_duration_since(observer.started));
                }
                if let Some(response) = event.event.response()
                    && !response.id.is_empty()
                {
                    this.response_id = Some(response.id.clone());
                }
                if let ResponseEvent::Error { code, message, param } = &event.event {
                    let mut text = message.clone();
                    if let Some(code) = code {
                        text.push_str(&format!(" (code {code})"));
                    }
                    if let Some(param) = param {
                        text.push_str(&format!(" (param {param})"));
                    }
                    let error = this.stream_error(StreamErrorKind::ServiceError, text);
                    this.finish(Err(Some(&error)));
                    return Poll::Ready(Some(Err(error)));
                }
                if event.is_terminal() {
                    this.terminal_seen = true;
                    let response = event.event.response().cloned();
                    this.finish(Ok(response.as_ref()));
                    // Later bytes are not read: the terminal event is the end.
                    return Poll::Ready(Some(Ok(event)));
                }
                Poll::Ready(Some(Ok(event)))
            }
            Poll::Ready(Some(Err(error))) => {
                this.finish(Err(Some(&error)));
                Poll::Ready(Some(Err(error)))
            }
            Poll::Ready(None) => {
                if this.terminal_seen {
                    this.finished = true;
                    return Poll::Ready(None);
                }
                let at = match this.last_sequence_number {
                    Some(number) => format!("after sequence_number {number}"),
                    None => "before any event".to_owned(),
                };
                let error = this.stream_error(
                    StreamErrorKind::EndedWithoutDone,
                    format!("the response stream ended {at} without response.completed, .incomplete or .failed"),
                );
                this.finish(Err(Some(&error)));
                Poll::Ready(Some(Err(error)))
            }
        }
    }
}

impl FusedStream for ResponseStream {
    fn is_terminated(&self) -> bool {
        self.finished
    }
}

impl Drop for ResponseStream {
    fn drop(&mut self) {
        if self.observer.is_some() {
            self.finish(Err(None));
        }
    }
}
