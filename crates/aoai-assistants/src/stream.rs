//! [`Assistant::run_stream`]: a turn as a stream of typed [`RunEvent`]s.
//!
//! Each round is a streamed response (`create_response_stream`) rebuilt by
//! [`ResponseAccumulator`]; the
//! turn loop is the one behind [`Assistant::run`], so the final
//! [`RunEvent::Completed`] carries a [`RunResult`] of the same shape.
//!
//! Reading one round's stream lives here too (`consume`): the events are
//! reported as they arrive, and a background round's stream that breaks is
//! read again after the last event seen.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use aoai_core::ResponsesApi;
use aoai_core::error::{StreamErrorKind, TimeoutKind};
use aoai_core::responses::{
    Annotation, FileSearchResult, Input, InputItem, OutputItem, ResponseAccumulator, ResponseEvent, ResponseObject,
    ResponseStream,
};
use futures_util::{Stream, StreamExt};

use crate::assistant::Assistant;
use crate::background::BackgroundRun;
use crate::error::{Error, RequestError, ResponseEndedError, Result};
use crate::run::{Citation, RunResult, Start, ToolCallRecord, cite, emit, input_items, text_offset};
use crate::thread::Thread;

/// What a streamed run reports, in order. The stream ends after
/// [`RunEvent::Completed`] or [`RunEvent::Failed`].
#[derive(Debug)]
#[non_exhaustive]
pub enum RunEvent {
    /// A model request starts (1-based).
    RoundStarted {
        /// The round.
        round: u32,
    },
    /// More of the answer's text.
    TextDelta {
        /// The round it belongs to.
        round: u32,
        /// The new text.
        delta: String,
    },
    /// The passages a `file_search` found.
    FileSearchResults {
        /// The round.
        round: u32,
        /// The passages, best first.
        results: Vec<FileSearchResult>,
    },
    /// A citation on the answer, positioned in the round's text.
    CitationAdded(Citation),
    /// A tool call is about to run.
    ToolCallStarted {
        /// The round whose response asked for it.
        round: u32,
        /// The call's id.
        call_id: String,
        /// The tool's name.
        name: String,
        /// The arguments as the model wrote them.
        arguments: String,
    },
    /// A tool call finished (or failed; the model is told either way).
    ToolCallFinished(ToolCallRecord),
    /// A background run started (from [`Assistant::start_background_stream`]):
    /// save the run to [resume](Assistant::resume_stream) or
    /// [cancel](Assistant::cancel) it.
    BackgroundStarted(BackgroundRun),
    /// A background response's stream broke and was picked up again after
    /// the event with sequence number `after` (from the first when `None`):
    /// no event is repeated.
    Resumed {
        /// The round.
        round: u32,
        /// The last event read before the break.
        after: Option<u64>,
        /// Which resume this is (1-based) in the round.
        attempt: u32,
    },
    /// The run finished.
    Completed(Box<RunResult>),
    /// The run stopped (see [`Error`]; a round-limit error carries the partial result).
    Failed(Error),
}

/// The events of a streamed run.
pub type RunStream<'a> = Pin<Box<dyn Stream<Item = RunEvent> + Send + 'a>>;

impl<C: ResponsesApi> Assistant<C> {
    /// Runs one turn of `thread` as a stream of events. Nothing is sent
    /// until the stream is polled; dropping it abandons the run (the
    /// thread keeps its state from before the turn, except a server-side
    /// conversation, which already holds what was sent).
    ///
    /// ```no_run
    /// use aoai_assistants::{Assistant, RunEvent};
    /// use futures_util::StreamExt;
    /// # async fn demo(assistant: Assistant<aoai_core::Client>) -> aoai_assistants::Result<()> {
    /// let thread = assistant.create_thread().await?;
    /// let mut events = assistant.run_stream(&thread, "Summarise the handbook.");
    /// while let Some(event) = events.next().await {
    ///     match event {
    ///         RunEvent::TextDelta { delta, .. } => print!("{delta}"),
    ///         RunEvent::Completed(result) => println!("\n{} sources", result.citations.len()),
    ///         RunEvent::Failed(error) => return Err(error),
    ///         _ => {}
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn run_stream<'a>(&'a self, thread: &'a Thread, input: impl Into<Input>) -> RunStream<'a>
    where
        C: 'a,
    {
        self.drive(thread, input_items(input.into()), Start::Send)
    }

    /// Runs one turn of `thread` in the background, streamed: the first
    /// event is [`RunEvent::BackgroundStarted`] with the run; a stream that
    /// breaks is resumed where it stopped ([`RunEvent::Resumed`]). See the
    /// [background module](crate::background). Tool rounds after the first
    /// response run in the foreground, as with [`Assistant::poll`].
    ///
    /// A client-side thread yields [`RunEvent::Failed`] with
    /// [`Error::Unsupported`] (a background response must be stored).
    pub fn start_background_stream<'a>(&'a self, thread: &'a Thread, input: impl Into<Input>) -> RunStream<'a>
    where
        C: 'a,
    {
        self.drive(thread, input_items(input.into()), Start::Background)
    }

    /// Streams background run `run` again — its events from the first, or
    /// after [`BackgroundRun::starting_after`] — and finishes the turn on
    /// `thread` (tool rounds run in the foreground), as
    /// [`Assistant::start_background_stream`] would have.
    pub fn resume_stream<'a>(&'a self, thread: &'a Thread, run: &BackgroundRun) -> RunStream<'a>
    where
        C: 'a,
    {
        self.drive(thread, Vec::new(), Start::Resume(run.clone()))
    }

    fn drive<'a>(&'a self, thread: &'a Thread, user: Vec<InputItem>, start: Start) -> RunStream<'a>
    where
        C: 'a,
    {
        let queue = Arc::new(EventQueue::default());
        let sink = queue.clone();
        let driver = async move {
            let _turn = thread.begin_turn().await;
            let last = match self.execute(thread, user, start, Some(&sink)).await {
                Ok(result) => RunEvent::Completed(Box::new(result)),
                Err(error) => RunEvent::Failed(error),
            };
            sink.push(last);
        };
        Box::pin(QueueStream { driver: Some(Box::pin(driver)), queue })
    }
}

/// How many times a round's dropped background stream is picked up again.
pub(crate) const MAX_RESUMES: u32 = 3;

impl<C: ResponsesApi> Assistant<C> {
    /// Reads a round's stream to its end, reporting events as they come; a
    /// background response's stream that breaks is picked up after the
    /// last event read (at most [`MAX_RESUMES`] times).
    pub(crate) async fn consume(
        &self,
        mut stream: ResponseStream,
        mut streamed: Streamed<'_>,
        result: &mut RunResult,
    ) -> Result<(ResponseObject, Option<String>)> {
        let round = streamed.round;
        let sender = Some(streamed.sender);
        let request_error = |error| Error::Request(RequestError::new("create response", round, error));
        let request_id = stream.meta().request_id.clone();
        let mut accumulator = ResponseAccumulator::new();
        let mut passages = result.passages.clone();
        let mut resumes = 0u32;
        let mut response_id: Option<String> = None;
        loop {
            let event = match stream.next().await {
                None => break,
                Some(Ok(event)) => event,
                Some(Err(error)) => {
                    let resumable = streamed.background.is_some() && broke(&error) && resumes < MAX_RESUMES;
                    let Some(id) = response_id.clone().filter(|_| resumable) else {
                        return Err(request_error(error));
                    };
                    resumes += 1;
                    let after = accumulator.last_sequence_number();
                    tracing::debug!(response = %id, after, error = %error, "background stream broke; resuming");
                    emit(sender, || RunEvent::Resumed { round, after, attempt: resumes });
                    stream =
                        self.client.resume_response_stream(&id, after).await.map_err(|error| {
                            Error::Request(RequestError::new("resume response stream", round, error))
                        })?;
                    continue;
                }
            };
            accumulator.push(&event);
            match &event.event {
                ResponseEvent::Created(response)
                | ResponseEvent::Queued(response)
                | ResponseEvent::InProgress(response)
                    if response_id.is_none() =>
                {
                    response_id = Some(response.id.clone());
                    if let Some(thread_id) = streamed.background.as_ref().filter(|_| !streamed.announced) {
                        streamed.announced = true;
                        let run = BackgroundRun::new(response.id.clone(), thread_id.clone());
                        emit(sender, || RunEvent::BackgroundStarted(run));
                    }
                }
                ResponseEvent::OutputTextDelta { delta, .. } => {
                    emit(sender, || RunEvent::TextDelta { round, delta: delta.clone() });
                }
                ResponseEvent::OutputItemDone { item: OutputItem::FileSearchCall(call), .. } => {
                    let results = call.results.clone().unwrap_or_default();
                    passages.extend(results.iter().cloned());
                    emit(sender, || RunEvent::FileSearchResults { round, results });
                }
                ResponseEvent::OutputTextAnnotationAdded {
                    at, annotation: Annotation::FileCitation(citation), ..
                } => {
                    let offset = text_offset(accumulator.output(), at.output_index, at.content_index);
                    emit(sender, || RunEvent::CitationAdded(cite(citation, offset, &passages)));
                }
                ResponseEvent::Error { code, message, .. } => {
                    let id = response_id.unwrap_or_default();
                    return Err(Error::Response(ResponseEndedError::new(
                        id,
                        "failed",
                        code.clone(),
                        Some(message.clone()),
                        None,
                    )));
                }
                _ => {}
            }
        }
        Ok((accumulator.into_response(), request_id))
    }
}

/// Whether a stream error means the connection broke (the response may
/// go on on the service, and its stream can be read again).
fn broke(error: &aoai_core::Error) -> bool {
    match error {
        aoai_core::Error::Stream(error) => {
            matches!(error.kind, StreamErrorKind::EndedWithoutDone | StreamErrorKind::Read)
        }
        aoai_core::Error::Timeout(error) => error.kind == TimeoutKind::StreamIdle,
        aoai_core::Error::Connection(_) => true,
        _ => false,
    }
}

/// A round being streamed: to whom, and whether it is a background
/// response (the thread's id) whose start was already announced.
pub(crate) struct Streamed<'a> {
    pub(crate) round: u32,
    pub(crate) sender: &'a crate::stream::EventQueue,
    pub(crate) background: Option<String>,
    pub(crate) announced: bool,
}

/// Where a streamed run's events wait: the turn loop pushes, the stream pops,
/// both in the task that polls the stream — no channel and no wake-up per
/// event (a channel's wake-ups cost ~14 % CPU per streamed tool round).
#[derive(Debug, Default)]
pub(crate) struct EventQueue(Mutex<VecDeque<RunEvent>>);

impl EventQueue {
    /// Queues an event for the stream to yield.
    pub(crate) fn push(&self, event: RunEvent) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push_back(event);
    }

    fn pop(&self) -> Option<RunEvent> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).pop_front()
    }
}

/// Drives the turn loop and yields what it queued, in order.
struct QueueStream<'a> {
    driver: Option<Pin<Box<dyn Future<Output = ()> + Send + 'a>>>,
    queue: Arc<EventQueue>,
}

impl Stream for QueueStream<'_> {
    type Item = RunEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<RunEvent>> {
        let this = self.get_mut();
        loop {
            if let Some(event) = this.queue.pop() {
                return Poll::Ready(Some(event));
            }
            let Some(driver) = this.driver.as_mut() else {
                return Poll::Ready(None);
            };
            match driver.as_mut().poll(cx) {
                Poll::Ready(()) => this.driver = None,
                // Events queued before the driver waited are yielded now; otherwise wait.
                Poll::Pending => return this.queue.pop().map_or(Poll::Pending, |event| Poll::Ready(Some(event))),
            }
        }
    }
}
