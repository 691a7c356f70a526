//! One turn of a thread: [`Assistant::run`], and what it returns,
//! [`RunResult`].
//!
//! A run sends the thread's next request, runs the function calls the model
//! asks for through the assistant's [`ToolRegistry`](aoai_tools::ToolRegistry)
//! (validated first; concurrently when parallel calls are allowed; each with
//! a time limit), sends their outputs back, and repeats until the model
//! answers without calls or the round limit is reached. A tool's failure,
//! timeout, panic or unknown name is the call's output — the model reads it and the
//! run goes on.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use aoai_core::ResponsesApi;
use aoai_core::response::Response;
use aoai_core::responses::{
    Annotation, ContentPart, FileSearchResult, FunctionCall, Input, InputItem, MessageContent, OutputItem,
    ResponseEvent, ResponseObject, ResponseRequest, ResponseStatus, ResponseUsage,
};
use aoai_tools::{ToolContext, ToolError};
use futures_util::future::join_all;
use futures_util::{FutureExt, StreamExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::assistant::Assistant;
use crate::error::{Error, OutputError, RequestError, ResponseEndedError, Result, RoundLimitError};
use crate::stream::RunEvent;
use crate::thread::{Thread, ThreadBackend, ThreadState, replayable, trimmed};

/// A passage that backs the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Citation {
    /// The cited file's id.
    pub file_id: String,
    /// The cited file's name.
    pub filename: String,
    /// The passage, when the search results are known (the best-scored
    /// passage of that file found in this run).
    pub quote: Option<String>,
    /// The passage's relevance score, when known.
    pub score: Option<f64>,
    /// Where the citation stands in [`RunResult::text`], in characters.
    pub position: usize,
}

/// One tool call the run made.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ToolCallRecord {
    /// The round (1-based) whose response asked for it.
    pub round: u32,
    /// The call's id (`call_…`), echoed by its output.
    pub call_id: String,
    /// The tool's name, as the model called it.
    pub name: String,
    /// The arguments, as the model wrote them.
    pub arguments: String,
    /// What was sent back to the model: the tool's value as JSON text, or
    /// `{"error": "…"}`.
    pub output: String,
    /// Why the call produced no value (invalid arguments, failure, timeout,
    /// unknown tool); the model read it as `output`.
    pub error: Option<ToolError>,
    /// How long it ran (on the assistant's clock).
    pub duration: Duration,
}

/// Tokens summed over every round of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunUsage {
    /// Input tokens.
    pub input_tokens: u64,
    /// Of which served from the prompt cache.
    pub cached_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Of which hidden reasoning.
    pub reasoning_tokens: u64,
    /// Input plus output.
    pub total_tokens: u64,
}

impl RunUsage {
    fn add(&mut self, usage: &ResponseUsage) {
        self.input_tokens += usage.input_tokens;
        self.output_tokens += usage.output_tokens;
        self.total_tokens += usage.total_tokens;
        self.cached_tokens += usage.input_tokens_details.as_ref().map_or(0, |details| details.cached_tokens);
        self.reasoning_tokens += usage.output_tokens_details.as_ref().map_or(0, |details| details.reasoning_tokens);
    }
}

/// What one turn produced.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RunResult {
    /// The final answer's text.
    pub text: String,
    /// The answer as JSON, checked against the assistant's output type, when it has one.
    pub output: Option<Value>,
    /// The file citations on the answer, in order.
    pub citations: Vec<Citation>,
    /// Every passage `file_search` returned during the run.
    pub passages: Vec<FileSearchResult>,
    /// The tool calls made, in the order the model asked for them.
    pub tool_calls: Vec<ToolCallRecord>,
    /// Calls the last response asked for that were not run (only in the
    /// partial result of a round-limit error).
    pub pending_calls: Vec<FunctionCall>,
    /// Tokens over every round.
    pub usage: RunUsage,
    /// How many model requests the run made.
    pub rounds: u32,
    /// The `apim-request-id` of each request, when the service sent one.
    pub request_ids: Vec<String>,
    /// Each round's response id, in order.
    pub response_ids: Vec<String>,
    /// The thread's id after the turn.
    pub thread_id: String,
    /// The last response, whole.
    pub response: ResponseObject,
}

impl RunResult {
    fn new() -> Self {
        Self {
            text: String::new(),
            output: None,
            citations: Vec::new(),
            passages: Vec::new(),
            tool_calls: Vec::new(),
            pending_calls: Vec::new(),
            usage: RunUsage::default(),
            rounds: 0,
            request_ids: Vec::new(),
            response_ids: Vec::new(),
            thread_id: String::new(),
            response: ResponseObject::default(),
        }
    }

    /// The structured answer as `T` (the assistant's output type).
    ///
    /// # Errors
    ///
    /// [`Error::Output`] when the assistant has no output type or the value
    /// does not deserialize as `T`.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T> {
        let Some(value) = &self.output else {
            return Err(Error::Output(OutputError::new("", "the assistant has no output type")));
        };
        serde_json::from_value(value.clone())
            .map_err(|error| Error::Output(OutputError::new(std::any::type_name::<T>(), error.to_string())))
    }
}

/// Where a turn's history lives while it runs.
enum Mode {
    Conversation(String),
    Chain { previous: Option<String>, verify: bool },
    ClientSide { history: Vec<InputItem> },
}

pub(crate) type Events<'a> = Option<&'a crate::stream::EventQueue>;

fn emit(events: Events<'_>, event: impl FnOnce() -> RunEvent) {
    if let Some(queue) = events {
        queue.push(event());
    }
}

pub(crate) fn input_items(input: Input) -> Vec<InputItem> {
    match input {
        Input::Text(text) => vec![InputItem::user(text)],
        Input::Items(items) => items,
    }
}

impl<C: ResponsesApi> Assistant<C> {
    /// Runs one turn of `thread` with `input` (text, or items).
    ///
    /// # Errors
    ///
    /// [`Error::Request`] when a request fails, [`Error::Response`] when the
    /// service ends a response badly, [`Error::RoundLimit`] (with the partial
    /// result) when the model still calls tools after the last round,
    /// [`Error::Output`] when the answer breaks the output type's schema.
    pub async fn run(&self, thread: &Thread, input: impl Into<Input>) -> Result<RunResult> {
        let user = input_items(input.into());
        let _turn = thread.begin_turn().await;
        self.execute(thread, user, None, None).await
    }

    /// The turn loop behind `run`, `run_stream` and background polling;
    /// `first` is a response already obtained (a background run's).
    pub(crate) async fn execute(
        &self,
        thread: &Thread,
        user: Vec<InputItem>,
        first: Option<Response<ResponseObject>>,
        events: Events<'_>,
    ) -> Result<RunResult> {
        let settings = &self.settings;
        let mut mode = match &*thread.lock() {
            ThreadState::Conversation { conversation_id } => Mode::Conversation(conversation_id.clone()),
            ThreadState::ResponseChain { last_response_id, verify_storage, .. } => {
                Mode::Chain { previous: last_response_id.clone(), verify: *verify_storage }
            }
            ThreadState::ClientSide { items, .. } => Mode::ClientSide { history: items.clone() },
        };
        let mut result = RunResult::new();
        // Everything this turn added, for a client-side history.
        let mut transcript: Vec<InputItem> = user.clone();
        let mut pending = first;
        let mut next_input = user;
        let mut round: u32 = 0;
        loop {
            round += 1;
            result.rounds = round;
            emit(events, || RunEvent::RoundStarted { round });
            let (response, request_id) = match pending.take() {
                Some(response) => (response.body, response.meta.request_id),
                None => {
                    let input = std::mem::take(&mut next_input);
                    let request = match &mode {
                        Mode::Conversation(id) => settings.request(input, round == 1).conversation(id.clone()),
                        Mode::Chain { previous, .. } => {
                            let request = settings.request(input, round == 1);
                            match previous {
                                Some(previous) => request.previous_response_id(previous.clone()),
                                None => request,
                            }
                        }
                        Mode::ClientSide { history } => {
                            let items = trimmed(&settings.tokenizer, history, &transcript, settings.history_budget);
                            settings.request(items, round == 1).store(false)
                        }
                    };
                    self.send(&request, round, &mut result, events).await?
                }
            };
            result.request_ids.extend(request_id);
            result.response_ids.push(response.id.clone());
            if let Some(usage) = &response.usage {
                result.usage.add(usage);
            }
            for item in &response.output {
                if let OutputItem::FileSearchCall(call) = item {
                    result.passages.extend(call.results.iter().flatten().cloned());
                }
            }
            if response.status != ResponseStatus::Completed {
                let (code, message) = match (&response.error, &response.incomplete_details) {
                    (Some(error), _) => (Some(error.code.clone()), Some(error.message.clone())),
                    (None, Some(details)) => (Some(details.reason.clone()), None),
                    (None, None) => (None, None),
                };
                let status = response.status.as_str().to_owned();
                let id = response.id.clone();
                result.text = response.output_text();
                result.response = response;
                return Err(Error::Response(ResponseEndedError::new(id, status, code, message, Some(result))));
            }
            if let Mode::Chain { verify: true, .. } = mode {
                mode = self.verify_storage(&response.id, round).await?;
            }
            if let Mode::Chain { previous, .. } = &mut mode {
                *previous = Some(response.id.clone());
            }
            transcript.extend(response.output.iter().filter_map(replayable));
            let calls: Vec<FunctionCall> = response.function_calls().into_iter().cloned().collect();
            if calls.is_empty() {
                self.finish(&mut result, response)?;
                result.thread_id = commit(thread, mode, transcript);
                return Ok(result);
            }
            if round >= settings.max_rounds {
                result.pending_calls = calls;
                result.text = response.output_text();
                result.response = response;
                result.thread_id = thread.id();
                return Err(Error::RoundLimit(RoundLimitError::new(round, result)));
            }
            let records = self.call_tools(&calls, round, events).await;
            let outputs: Vec<InputItem> = records
                .iter()
                .map(|record| InputItem::function_call_output(record.call_id.clone(), record.output.clone()))
                .collect();
            result.tool_calls.extend(records);
            transcript.extend(outputs.iter().cloned());
            next_input = outputs;
        }
    }

    /// Sends one request, streamed when someone listens for events.
    async fn send(
        &self,
        request: &ResponseRequest,
        round: u32,
        result: &mut RunResult,
        events: Events<'_>,
    ) -> Result<(ResponseObject, Option<String>)> {
        let deployment = &self.settings.deployment;
        let request_error = |error| Error::Request(RequestError::new("create response", round, error));
        let Some(sender) = events else {
            let response = self.client.create_response(deployment, request).await.map_err(request_error)?;
            return Ok((response.body, response.meta.request_id));
        };
        let mut stream = self.client.create_response_stream(deployment, request).await.map_err(request_error)?;
        let request_id = stream.meta().request_id.clone();
        let mut accumulator = aoai_core::responses::ResponseAccumulator::new();
        let mut passages = result.passages.clone();
        let mut cited = 0;
        while let Some(event) = stream.next().await {
            let event = event.map_err(request_error)?;
            accumulator.push(&event);
            match &event.event {
                ResponseEvent::OutputTextDelta { delta, .. } => {
                    emit(Some(sender), || RunEvent::TextDelta { round, delta: delta.clone() });
                }
                ResponseEvent::OutputItemDone { item: OutputItem::FileSearchCall(call), .. } => {
                    let results = call.results.clone().unwrap_or_default();
                    passages.extend(results.iter().cloned());
                    emit(Some(sender), || RunEvent::FileSearchResults { round, results });
                }
                ResponseEvent::OutputTextAnnotationAdded { .. } => {
                    let citations = citations(&accumulator.snapshot(), &passages);
                    for citation in citations.into_iter().skip(cited) {
                        cited += 1;
                        emit(Some(sender), || RunEvent::CitationAdded(citation));
                    }
                }
                ResponseEvent::Error { code, message, .. } => {
                    let id = accumulator.snapshot().id;
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

    /// After the first answer of a chain chosen by [`ThreadBackend::Auto`]:
    /// whether the server stored it. If not, the thread turns client-side.
    async fn verify_storage(&self, response_id: &str, round: u32) -> Result<Mode> {
        match self.client.get_response(response_id, &[]).await {
            Ok(_) => {
                self.choose_backend(ThreadBackend::ResponseChain);
                Ok(Mode::Chain { previous: Some(response_id.to_owned()), verify: false })
            }
            Err(error) if error.is_not_found() => {
                tracing::debug!("responses are not stored (404 reading one back); threads keep their history");
                self.choose_backend(ThreadBackend::ClientSide);
                Ok(Mode::ClientSide { history: Vec::new() })
            }
            Err(error) => Err(Error::Request(RequestError::new("read back the first response", round, error))),
        }
    }

    /// Runs the calls through the registry, concurrently when allowed, each
    /// within the tool timeout; every outcome becomes the call's output.
    async fn call_tools(&self, calls: &[FunctionCall], round: u32, events: Events<'_>) -> Vec<ToolCallRecord> {
        for call in calls {
            emit(events, || RunEvent::ToolCallStarted {
                round,
                call_id: call.call_id.clone(),
                name: call.name.clone(),
                arguments: call.arguments.clone(),
            });
        }
        let one = |call: &FunctionCall| {
            let call = call.clone();
            async move {
                let record = self.call_tool(call, round).await;
                emit(events, || RunEvent::ToolCallFinished(record.clone()));
                record
            }
        };
        if self.settings.parallel_tool_calls {
            join_all(calls.iter().map(one)).await
        } else {
            let mut records = Vec::with_capacity(calls.len());
            for call in calls {
                records.push(one(call).await);
            }
            records
        }
    }

    async fn call_tool(&self, call: FunctionCall, round: u32) -> ToolCallRecord {
        let settings = &self.settings;
        let mut context = ToolContext::new(call.call_id.clone(), call.name.clone(), round);
        if let Some(state) = &settings.state {
            context = context.with_state(state.clone());
        }
        let started = settings.time.clock.now();
        let limit = settings.tool_timeout;
        // A panicking tool is a failed call, like any other: the model is told.
        let guarded = AssertUnwindSafe(settings.registry.call(&call.name, &call.arguments, context)).catch_unwind();
        let outcome = match tokio::time::timeout(limit, guarded).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_panic)) => Err(ToolError::failed(format!("`{}` failed unexpectedly (it panicked)", call.name))),
            Err(_) => Err(ToolError::TimedOut { tool: call.name.clone(), limit }),
        };
        let duration = settings.time.clock.now().saturating_duration_since(started);
        let (output, error) = match outcome {
            Ok(value) => (value.to_string(), None),
            Err(error) => {
                tracing::debug!(tool = %call.name, error = %error, "tool call failed; the model is told");
                (error.to_model_value().to_string(), Some(error))
            }
        };
        ToolCallRecord {
            round,
            call_id: call.call_id,
            name: call.name,
            arguments: call.arguments,
            output,
            error,
            duration,
        }
    }

    /// The final answer: text, citations and the structured output.
    fn finish(&self, result: &mut RunResult, response: ResponseObject) -> Result<()> {
        result.text = response.output_text();
        result.citations = citations(&response, &result.passages);
        if let Some(format) = &self.settings.format {
            let value: Value = serde_json::from_str(&result.text)
                .map_err(|error| Error::Output(OutputError::new(format.name(), format!("not JSON: {error}"))))?;
            if let Err(violations) = format.validate(&value) {
                let reason = violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
                return Err(Error::Output(OutputError::new(format.name(), reason)));
            }
            result.output = Some(value);
        }
        result.response = response;
        Ok(())
    }
}

/// Saves what the turn changed in the thread; returns the thread's id.
fn commit(thread: &Thread, mode: Mode, transcript: Vec<InputItem>) -> String {
    let mut state = thread.lock();
    match (mode, &mut *state) {
        (Mode::Chain { previous, .. }, ThreadState::ResponseChain { last_response_id, verify_storage, .. }) => {
            *last_response_id = previous;
            *verify_storage = false;
        }
        (Mode::ClientSide { .. }, ThreadState::ClientSide { items, .. }) => items.extend(transcript),
        (Mode::ClientSide { .. }, ThreadState::ResponseChain { local_id, .. }) => {
            // The chain turned client-side on its first answer.
            *state = ThreadState::ClientSide { local_id: local_id.clone(), items: transcript };
        }
        _ => {}
    }
    state.id().to_owned()
}

/// The file citations of `response`'s text, positioned in `output_text()`
/// (characters), each with the best passage of its file among `passages`.
pub(crate) fn citations(response: &ResponseObject, passages: &[FileSearchResult]) -> Vec<Citation> {
    let mut out = Vec::new();
    let mut offset = 0usize;
    for item in &response.output {
        let OutputItem::Message(message) = item else { continue };
        let MessageContent::Parts(parts) = &message.content else { continue };
        for part in parts {
            let ContentPart::OutputText(text) = part else { continue };
            for annotation in &text.annotations {
                let Annotation::FileCitation(citation) = annotation else { continue };
                let best = passages
                    .iter()
                    .filter(|passage| passage.file_id == citation.file_id)
                    .max_by(|left, right| left.score.total_cmp(&right.score));
                out.push(Citation {
                    file_id: citation.file_id.clone(),
                    filename: citation.filename.clone(),
                    quote: best.map(|passage| passage.text.clone()),
                    score: best.map(|passage| passage.score),
                    position: offset + usize::try_from(citation.index).unwrap_or(usize::MAX),
                });
            }
            offset += text.text.chars().count();
        }
    }
    out
}
