//! [`Assistant::run_stream`]: a turn as a stream of typed [`RunEvent`]s.
//!
//! Each round is a streamed response (`create_response_stream`) rebuilt by
//! [`ResponseAccumulator`](aoai_core::responses::ResponseAccumulator); the
//! turn loop is the one behind [`Assistant::run`], so the final
//! [`RunEvent::Completed`] carries a [`RunResult`] of the same shape.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use aoai_core::ResponsesApi;
use aoai_core::responses::{FileSearchResult, Input};
use futures_util::Stream;

use crate::assistant::Assistant;
use crate::error::Error;
use crate::run::{Citation, RunResult, ToolCallRecord, input_items};
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
        let user = input_items(input.into());
        let queue = Arc::new(EventQueue::default());
        let sink = queue.clone();
        let driver = async move {
            let _turn = thread.begin_turn().await;
            let last = match self.execute(thread, user, None, Some(&sink)).await {
                Ok(result) => RunEvent::Completed(Box::new(result)),
                Err(error) => RunEvent::Failed(error),
            };
            sink.push(last);
        };
        Box::pin(QueueStream { driver: Some(Box::pin(driver)), queue })
    }
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
