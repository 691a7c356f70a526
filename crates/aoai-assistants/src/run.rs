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
    Annotation, ContentPart, FileCitation, FileSearchResult, FunctionCall, Input, InputItem, MessageContent,
    OutputItem, ResponseObject, ResponseRequest, ResponseStatus, ResponseUsage,
};
use aoai_tools::{ToolContext, ToolError};
use async_trait::async_trait;
use futures_util::FutureExt;
use futures_util::future::join_all;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::assistant::Assistant;
use crate::background::BackgroundRun;
use crate::error::{Error, OutputError, RequestError, ResponseEndedError, Result, RoundLimitError, UnsupportedError};
use crate::stream::{RunEvent, Streamed};
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

impl ToolCallRecord {
    /// The record of `call`, answered with `output` (and `error` when it failed).
    fn of(call: FunctionCall, round: u32, output: String, error: Option<ToolError>, duration: Duration) -> Self {
        Self { round, call_id: call.call_id, name: call.name, arguments: call.arguments, output, error, duration }
    }
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

/// A search the run answers itself, offered to the model as a function
/// tool: local knowledge (feature `rag`) implements it. Its passages are
/// numbered across the run (`[docN]`) and the markers of the answer become
/// [`Citation`]s.
#[async_trait]
pub(crate) trait PassageSearch: Send + Sync + std::fmt::Debug {
    /// The tool's name.
    fn name(&self) -> &str;
    /// The tool as the model sees it.
    fn tool(&self) -> aoai_core::responses::FunctionTool;
    /// The passages for a call's arguments, best first.
    async fn search(&self, arguments: &str) -> std::result::Result<Vec<FileSearchResult>, ToolError>;
}

/// The marker of the `number`th passage of a run's local searches.
fn marker(number: usize) -> String {
    format!("[doc{number}]")
}

/// What a local search tells the model: each passage under its marker,
/// with its source and title.
fn passages_output(found: &[FileSearchResult], first_number: usize) -> String {
    if found.is_empty() {
        return "No passage of the knowledge base matches this query.".to_owned();
    }
    let mut out = String::new();
    for (offset, passage) in found.iter().enumerate() {
        if !out.is_empty() {
            out.push_str("\n\n");
        }
        out.push_str(&marker(first_number + offset));
        out.push_str(" source: ");
        out.push_str(&passage.filename);
        let title = passage.attributes.as_ref().and_then(|attributes| attributes.get("title")).and_then(Value::as_str);
        if let Some(title) = title {
            out.push_str(" | title: ");
            out.push_str(title);
        }
        out.push('\n');
        out.push_str(passage.text.trim());
    }
    out
}

/// The citations of `text`'s `[docN]` markers that name one of `local`
/// (the run's local passages, numbered from 1), at the marker's position
/// in characters.
pub(crate) fn local_citations(text: &str, local: &[FileSearchResult]) -> Vec<Citation> {
    let mut out = Vec::new();
    if local.is_empty() {
        return out;
    }
    let mut consumed_chars = 0usize;
    let mut rest = text;
    while let Some(start) = rest.find("[doc") {
        let after = &rest[start + 4..];
        let position = consumed_chars + rest[..start].chars().count();
        let digits = after.find(']').filter(|end| *end > 0 && after[..*end].bytes().all(|byte| byte.is_ascii_digit()));
        let skip = match digits {
            Some(end) => {
                let number: usize = after[..end].parse().unwrap_or(0);
                if let Some(passage) = number.checked_sub(1).and_then(|index| local.get(index)) {
                    out.push(Citation {
                        file_id: passage.file_id.clone(),
                        filename: passage.filename.clone(),
                        quote: Some(passage.text.clone()),
                        score: Some(passage.score),
                        position,
                    });
                }
                start + 4 + end + 1
            }
            None => start + 4,
        };
        consumed_chars += rest[..skip].chars().count();
        rest = &rest[skip..];
    }
    out
}

/// How a turn's first round gets its response.
pub(crate) enum Start {
    /// Sent like every round.
    Send,
    /// Sent with `background: true` (stored); when streamed, a dropped
    /// stream is resumed.
    Background,
    /// Already obtained (a polled background run).
    Got(Box<Response<ResponseObject>>),
    /// Streamed again from a background run.
    Resume(BackgroundRun),
}

/// Where a turn's history lives while it runs.
enum Mode {
    Conversation(String),
    Chain { previous: Option<String>, verify: bool },
    ClientSide { history: Vec<InputItem> },
}

pub(crate) type Events<'a> = Option<&'a crate::stream::EventQueue>;

pub(crate) fn emit(events: Events<'_>, event: impl FnOnce() -> RunEvent) {
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
        self.execute(thread, user, Start::Send, None).await
    }

    /// The turn loop behind `run`, `run_stream` and background runs;
    /// `start` says how the first round gets its response.
    pub(crate) async fn execute(
        &self,
        thread: &Thread,
        user: Vec<InputItem>,
        start: Start,
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
        let background = matches!(start, Start::Background | Start::Resume(_));
        if background && matches!(mode, Mode::ClientSide { .. }) {
            return Err(Error::Unsupported(UnsupportedError::new("a background run", "client-side")));
        }
        let mut result = RunResult::new();
        // Everything this turn added, kept only while the history may be
        // client-side (a chain that was not verified yet may turn client-side).
        let mut transcript: Option<Vec<InputItem>> =
            matches!(mode, Mode::ClientSide { .. } | Mode::Chain { verify: true, .. }).then(|| user.clone());
        let mut start = start;
        let mut next_input = user;
        let mut round: u32 = 0;
        // The passages of this run's local searches; passage N is `[docN]`.
        let mut local: Vec<FileSearchResult> = Vec::new();
        loop {
            round += 1;
            result.rounds = round;
            emit(events, || RunEvent::RoundStarted { round });
            let (response, request_id) = match std::mem::replace(&mut start, Start::Send) {
                Start::Got(response) => {
                    let response = *response;
                    (response.body, response.meta.request_id)
                }
                Start::Resume(run) => {
                    let Some(sender) = events else {
                        return Err(Error::Unsupported(UnsupportedError::new("resuming without a stream", "any")));
                    };
                    let request_error =
                        |error| Error::Request(RequestError::new("resume response stream", round, error));
                    let stream = self
                        .client
                        .resume_response_stream(&run.response_id, run.starting_after)
                        .await
                        .map_err(request_error)?;
                    let streamed = Streamed { round, sender, background: Some(thread.id()), announced: true };
                    self.consume(stream, streamed, &mut result).await?
                }
                first @ (Start::Send | Start::Background) => {
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
                            let turn = transcript.as_deref().unwrap_or_default();
                            let items = trimmed(&settings.tokenizer, history, turn, settings.history_budget);
                            settings.request(items, round == 1).store(false)
                        }
                    };
                    if matches!(first, Start::Background) {
                        let request = request.background(true).store(true);
                        self.send(&request, round, &mut result, events, Some(thread.id())).await?
                    } else {
                        self.send(&request, round, &mut result, events, None).await?
                    }
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
                // Stored and chained: the turn's items are the server's now.
                transcript = None;
            }
            if let Some(transcript) = &mut transcript {
                transcript.extend(response.output.iter().filter_map(replayable));
            }
            let calls: Vec<FunctionCall> = response.function_calls().into_iter().cloned().collect();
            if calls.is_empty() {
                self.finish(&mut result, response, &local, events)?;
                result.thread_id = commit(thread, mode, transcript.unwrap_or_default());
                return Ok(result);
            }
            if round >= settings.max_rounds {
                result.pending_calls = calls;
                result.text = response.output_text();
                result.response = response;
                result.thread_id = thread.id();
                return Err(Error::RoundLimit(RoundLimitError::new(round, result)));
            }
            let records = self.call_tools(calls, round, &mut local, &mut result.passages, events).await;
            let outputs: Vec<InputItem> = records
                .iter()
                .map(|record| InputItem::function_call_output(record.call_id.clone(), record.output.clone()))
                .collect();
            result.tool_calls.extend(records);
            if let Some(transcript) = &mut transcript {
                transcript.extend(outputs.iter().cloned());
            }
            next_input = outputs;
        }
    }

    /// Sends one request, streamed when someone listens for events;
    /// `background` (the thread's id) when it is a background response
    /// whose dropped stream may be resumed.
    async fn send(
        &self,
        request: &ResponseRequest,
        round: u32,
        result: &mut RunResult,
        events: Events<'_>,
        background: Option<String>,
    ) -> Result<(ResponseObject, Option<String>)> {
        let deployment = &self.settings.deployment;
        let request_error = |error| Error::Request(RequestError::new("create response", round, error));
        let Some(sender) = events else {
            let response = self.client.create_response(deployment, request).await.map_err(request_error)?;
            return Ok((response.body, response.meta.request_id));
        };
        let stream = self.client.create_response_stream(deployment, request).await.map_err(request_error)?;
        self.consume(stream, Streamed { round, sender, background, announced: false }, result).await
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

    /// Runs the calls through the registry (or the local knowledge search),
    /// concurrently when allowed, each within the tool timeout; every
    /// outcome becomes the call's output. Local passages are numbered in the
    /// order of the calls, after `local`.
    async fn call_tools(
        &self,
        calls: Vec<FunctionCall>,
        round: u32,
        local: &mut Vec<FileSearchResult>,
        passages: &mut Vec<FileSearchResult>,
        events: Events<'_>,
    ) -> Vec<ToolCallRecord> {
        for call in &calls {
            emit(events, || RunEvent::ToolCallStarted {
                round,
                call_id: call.call_id.clone(),
                name: call.name.clone(),
                arguments: call.arguments.clone(),
            });
        }
        let one = |call: FunctionCall| async move {
            let (record, found) = self.call_tool(call, round).await;
            if found.is_none() {
                emit(events, || RunEvent::ToolCallFinished(record.clone()));
            }
            (record, found)
        };
        let outcomes = if self.settings.parallel_tool_calls {
            join_all(calls.into_iter().map(one)).await
        } else {
            let mut outcomes = Vec::with_capacity(calls.len());
            for call in calls {
                outcomes.push(one(call).await);
            }
            outcomes
        };
        let mut records = Vec::with_capacity(outcomes.len());
        for (mut record, found) in outcomes {
            if let Some(found) = found {
                record.output = passages_output(&found, local.len() + 1);
                emit(events, || RunEvent::FileSearchResults { round, results: found.clone() });
                emit(events, || RunEvent::ToolCallFinished(record.clone()));
                passages.extend(found.iter().cloned());
                local.extend(found);
            }
            records.push(record);
        }
        records
    }

    /// One call; for the local knowledge search, also the passages found
    /// (the record's output is then written by the caller, which numbers them).
    async fn call_tool(&self, call: FunctionCall, round: u32) -> (ToolCallRecord, Option<Vec<FileSearchResult>>) {
        let settings = &self.settings;
        if let Some(knowledge) = settings.knowledge.as_ref().filter(|knowledge| knowledge.name() == call.name) {
            let started = settings.time.clock.now();
            let limit = settings.tool_timeout;
            let guarded = AssertUnwindSafe(knowledge.search(&call.arguments)).catch_unwind();
            let outcome = match tokio::time::timeout(limit, guarded).await {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(_panic)) => Err(ToolError::failed(format!("`{}` failed unexpectedly (it panicked)", call.name))),
                Err(_) => Err(ToolError::TimedOut { tool: call.name.clone(), limit }),
            };
            let duration = settings.time.clock.now().saturating_duration_since(started);
            let (output, error, found) = match outcome {
                Ok(found) => (String::new(), None, Some(found)),
                Err(error) => {
                    tracing::debug!(tool = %call.name, error = %error, "knowledge search failed; the model is told");
                    (error.to_model_value().to_string(), Some(error), None)
                }
            };
            return (ToolCallRecord::of(call, round, output, error, duration), found);
        }
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
        (ToolCallRecord::of(call, round, output, error, duration), None)
    }

    /// The final answer: text, citations (the service's, and those of local
    /// passage markers, reported as they are found when streaming) and the
    /// structured output.
    fn finish(
        &self,
        result: &mut RunResult,
        response: ResponseObject,
        local: &[FileSearchResult],
        events: Events<'_>,
    ) -> Result<()> {
        result.text = response.output_text();
        result.citations = citations(&response, &result.passages);
        let marked = local_citations(&result.text, local);
        for citation in &marked {
            emit(events, || RunEvent::CitationAdded(citation.clone()));
        }
        if !marked.is_empty() {
            result.citations.extend(marked);
            result.citations.sort_by_key(|citation| citation.position);
        }
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
    for text in output_texts(&response.output) {
        for annotation in &text.annotations {
            if let Annotation::FileCitation(citation) = annotation {
                out.push(cite(citation, offset, passages));
            }
        }
        offset += text.text.chars().count();
    }
    out
}

/// The output-text parts of `output`'s messages, in order: what
/// `output_text()` joins.
fn output_texts(output: &[OutputItem]) -> impl Iterator<Item = &aoai_core::responses::OutputText> {
    output
        .iter()
        .filter_map(|item| match item {
            OutputItem::Message(message) => match &message.content {
                MessageContent::Parts(parts) => Some(parts.iter()),
                _ => None,
            },
            _ => None,
        })
        .flatten()
        .filter_map(|part| match part {
            ContentPart::OutputText(text) => Some(text),
            _ => None,
        })
}

/// Where the text part `content_index` of output item `output_index`
/// starts in `output_text()`, in characters.
pub(crate) fn text_offset(output: &[OutputItem], output_index: u64, content_index: u64) -> usize {
    let mut offset = 0usize;
    for (item_index, item) in output.iter().enumerate() {
        let OutputItem::Message(message) = item else { continue };
        let MessageContent::Parts(parts) = &message.content else { continue };
        for (part_index, part) in parts.iter().enumerate() {
            if item_index as u64 == output_index && part_index as u64 == content_index {
                return offset;
            }
            if let ContentPart::OutputText(text) = part {
                offset += text.text.chars().count();
            }
        }
        if item_index as u64 >= output_index {
            break;
        }
    }
    offset
}

/// A citation of `citation`, whose text part starts at `offset`, with the
/// best passage of its file among `passages`.
pub(crate) fn cite(citation: &FileCitation, offset: usize, passages: &[FileSearchResult]) -> Citation {
    let best = passages
        .iter()
        .filter(|passage| passage.file_id == citation.file_id)
        .max_by(|left, right| left.score.total_cmp(&right.score));
    Citation {
        file_id: citation.file_id.clone(),
        filename: citation.filename.clone(),
        quote: best.map(|passage| passage.text.clone()),
        score: best.map(|passage| passage.score),
        position: offset.saturating_add(usize::try_from(citation.index).unwrap_or(usize::MAX)),
    }
}
