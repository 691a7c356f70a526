//! Background runs: start a turn on the service and come back for it.
//!
//! [`Assistant::start_background`] sends the turn's first request with
//! `background: true` (stored) and returns a [`BackgroundRun`] at once;
//! [`Assistant::poll`] waits for that response (on the assistant's clock)
//! and finishes the turn — running tools in the foreground if the model
//! asked for any; [`Assistant::cancel`] cancels it. A `BackgroundRun` is
//! serde, so another process can poll it. Client-side threads cannot run in
//! the background (a background response must be stored).
//!
//! Streamed: [`Assistant::start_background_stream`] runs the turn as
//! [`RunEvent`](crate::RunEvent)s whose first is
//! [`RunEvent::BackgroundStarted`](crate::RunEvent::BackgroundStarted) with
//! the run (save it to come back). When the connection breaks mid-answer
//! (the stream ends early, a read fails, or it goes idle past the client's
//! stream timeout), the stream is picked up after the last event read —
//! nothing is repeated or lost — and a
//! [`RunEvent::Resumed`](crate::RunEvent::Resumed) says so, up to three
//! times per round. A process that lost the stream altogether calls
//! [`Assistant::resume_stream`] with the saved run: the response's events
//! from the first (or after [`BackgroundRun::starting_after`]), then the
//! rest of the turn.

use aoai_core::ResponsesApi;
use aoai_core::responses::{Input, ResponseObject, wait_for_response};
use serde::{Deserialize, Serialize};

use crate::assistant::Assistant;
use crate::error::{Error, RequestError, Result, UnsupportedError};
use crate::run::{RunResult, Start, input_items};
use crate::thread::{Thread, ThreadState};

/// A turn running on the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BackgroundRun {
    /// The background response's id.
    pub response_id: String,
    /// The thread's id when it started.
    pub thread_id: String,
    /// For [`Assistant::resume_stream`]: the sequence number of the last
    /// event already seen (the stream goes on after it); `None` replays the
    /// response's events from the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starting_after: Option<u64>,
}

impl BackgroundRun {
    /// The run of background response `response_id` on thread `thread_id`
    /// (for a run saved elsewhere than as this type's JSON).
    #[must_use]
    pub fn new(response_id: impl Into<String>, thread_id: impl Into<String>) -> Self {
        Self { response_id: response_id.into(), thread_id: thread_id.into(), starting_after: None }
    }

    /// Resume its stream after the event with this sequence number.
    #[must_use]
    pub fn starting_after(mut self, sequence_number: u64) -> Self {
        self.starting_after = Some(sequence_number);
        self
    }
}

impl<C: ResponsesApi> Assistant<C> {
    /// Starts one turn of `thread` in the background.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] on a client-side thread; [`Error::Request`]
    /// when the request fails.
    pub async fn start_background(&self, thread: &Thread, input: impl Into<Input>) -> Result<BackgroundRun> {
        let _turn = thread.begin_turn().await;
        let request = self.settings.request(input_items(input.into()), true).background(true).store(true);
        let request = match &*thread.lock() {
            ThreadState::Conversation { conversation_id } => request.conversation(conversation_id.clone()),
            ThreadState::ResponseChain { last_response_id: Some(previous), .. } => {
                request.previous_response_id(previous.clone())
            }
            ThreadState::ResponseChain { last_response_id: None, .. } => request,
            ThreadState::ClientSide { .. } => {
                return Err(Error::Unsupported(UnsupportedError::new("a background run", "client-side")));
            }
        };
        let response = self
            .client
            .create_response(&self.settings.deployment, &request)
            .await
            .map_err(|error| Error::Request(RequestError::new("create background response", 1, error)))?;
        Ok(BackgroundRun::new(response.body.id, thread.id()))
    }

    /// Waits for `run` to finish and completes the turn on `thread` (tool
    /// rounds run in the foreground).
    ///
    /// # Errors
    ///
    /// As [`Assistant::run`]; a cancelled run is [`Error::Response`] with
    /// status `cancelled`; past the poll deadline, [`Error::Request`] with
    /// a timeout (the run goes on: [`cancel`](Self::cancel) it if it should not).
    pub async fn poll(&self, thread: &Thread, run: &BackgroundRun) -> Result<RunResult> {
        let _turn = thread.begin_turn().await;
        let response = wait_for_response(&self.client, &run.response_id, &self.settings.poll, &self.settings.time)
            .await
            .map_err(|error| Error::Request(RequestError::new("poll background response", 1, error)))?;
        self.execute(thread, Vec::new(), Start::Got(Box::new(response)), None).await
    }

    /// Cancels `run` (idempotent; a finished run is answered unchanged).
    ///
    /// # Errors
    ///
    /// [`Error::Request`] when the request fails.
    pub async fn cancel(&self, run: &BackgroundRun) -> Result<ResponseObject> {
        let response = self
            .client
            .cancel_response(&run.response_id)
            .await
            .map_err(|error| Error::Request(RequestError::new("cancel background response", 0, error)))?;
        Ok(response.body)
    }
}
