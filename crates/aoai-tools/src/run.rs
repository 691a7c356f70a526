//! The tool-calling loop: [`ToolLoop`].
//!
//! Each round sends the conversation with the registry's tools, runs every
//! tool call of the answer concurrently (each validated, then run with a time
//! limit, in its own task and `execute_tool` span), appends the assistant
//! message and one tool message per call, and asks again, until the model
//! answers without tool calls or the round limit is reached.
//!
//! A tool's failure, a timeout, malformed or schema-breaking arguments and
//! unknown tool names never end the loop: the model reads the precise error
//! as the tool's result (`{"error": "…"}`) and can correct itself. Only a
//! failed request ([`LoopError::Request`]) or the round limit
//! ([`LoopError::RoundLimit`]) end it early.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aoai_core::ChatApi;
use aoai_core::chat::{
    ChatAccumulator, ChatChunk, ChatMessage, ChatRequest, ChatResponse, FinishReason, StreamOptions, ToolCall,
    ToolChoice, Usage,
};
use aoai_core::clock::Time;
use futures_util::StreamExt;
use serde_json::Value;
use tracing::Instrument;
use tracing::field::Empty;

use crate::error::{LoopError, ToolError};
use crate::registry::ToolRegistry;
use crate::tool::ToolContext;

/// The default round limit: requests to the model per run.
pub const DEFAULT_MAX_ROUNDS: u32 = 8;
/// The default time limit of one tool call.
pub const DEFAULT_TOOL_TIMEOUT: Duration = Duration::from_secs(30);
/// The default number of tool calls of one round that run at the same time.
pub const DEFAULT_MAX_CONCURRENT_TOOLS: usize = 8;

/// Runs conversations with tools until the model gives a final answer.
///
/// Configure it once and [`run`](Self::run) (or
/// [`run_streaming`](Self::run_streaming)) any number of conversations
/// through any [`ChatApi`] (the [`Client`](aoai_core::Client), or a decorated
/// one).
///
/// - `max_rounds` (default [`DEFAULT_MAX_ROUNDS`]): requests per run; if the
///   model still calls tools in the answer to the last one, the run ends
///   with [`LoopError::RoundLimit`].
/// - `tool_timeout` (default [`DEFAULT_TOOL_TIMEOUT`]): per call; a call that
///   takes longer is abandoned and the model reads [`ToolError::TimedOut`].
/// - `max_concurrent_tools` (default [`DEFAULT_MAX_CONCURRENT_TOOLS`]).
/// - `tool_choice` for the first round (later rounds leave it unset, which
///   the service reads as `auto`), unless `repeat_tool_choice`.
/// - `parallel_tool_calls`, sent on every round when set.
/// - `state`: a value every tool reads through [`ToolContext::state`].
///
/// The request's `tools` are replaced by the registry's definitions; its
/// other fields (temperature, `max_tokens`, …) are sent on every round. Only
/// the first choice is followed.
///
/// ```no_run
/// use aoai_core::chat::{ChatMessage, ChatRequest, ToolChoice};
/// use aoai_tools::{ToolContext, ToolLoop, ToolRegistry, typed_tool};
/// use schemars::JsonSchema;
/// use serde::Deserialize;
///
/// #[derive(Deserialize, JsonSchema)]
/// struct Weather {
///     city: String,
/// }
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = aoai_core::Client::from_env()?;
/// let registry = ToolRegistry::new().with(typed_tool(
///     "get_weather",
///     "Current weather for a city",
///     |args: Weather, _: ToolContext| async move { Ok(format!("sunny in {}", args.city)) },
/// ))?;
/// let tools = ToolLoop::new(registry).max_rounds(4).tool_choice(ToolChoice::Required);
/// let request = ChatRequest::new(vec![ChatMessage::user("Weather in Paris?")]);
/// let output = tools.run(&client, "gpt-4o", request).await?;
/// println!("{} after {} rounds, {} tokens", output.text().unwrap_or(""), output.rounds.len(), output.usage.total_tokens);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
#[must_use]
pub struct ToolLoop {
    registry: ToolRegistry,
    max_rounds: u32,
    tool_timeout: Duration,
    max_concurrent_tools: usize,
    tool_choice: Option<ToolChoice>,
    repeat_tool_choice: bool,
    parallel_tool_calls: Option<bool>,
    state: Option<Arc<dyn Any + Send + Sync>>,
    time: Time,
}

impl fmt::Debug for ToolLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolLoop")
            .field("registry", &self.registry)
            .field("max_rounds", &self.max_rounds)
            .field("tool_timeout", &self.tool_timeout)
            .field("max_concurrent_tools", &self.max_concurrent_tools)
            .field("tool_choice", &self.tool_choice)
            .field("repeat_tool_choice", &self.repeat_tool_choice)
            .field("parallel_tool_calls", &self.parallel_tool_calls)
            .field("has_state", &self.state.is_some())
            .finish_non_exhaustive()
    }
}

/// What a run produced.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ToolRunOutput {
    /// The final response (for [`LoopError::RoundLimit`]: the last one, whose
    /// tool calls were not run).
    pub response: ChatResponse,
    /// The whole conversation: the request's messages, then per round the
    /// assistant message and its tool results, then the final answer. (At
    /// the round limit it ends with the last answered round's results.)
    pub messages: Vec<ChatMessage>,
    /// One record per round, in order.
    pub rounds: Vec<RoundRecord>,
    /// The usage of every round, summed.
    pub usage: Usage,
}

impl ToolRunOutput {
    /// The text of the final answer.
    #[must_use]
    pub fn text(&self) -> Option<&str> {
        self.response.text()
    }

    /// Every tool call of every round, in order.
    pub fn tool_calls(&self) -> impl Iterator<Item = &ToolCallRecord> {
        self.rounds.iter().flat_map(|round| round.tool_calls.iter())
    }
}

/// One request to the model and the tool calls it asked for.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RoundRecord {
    /// The round, from 1.
    pub round: u32,
    /// The response's id.
    pub response_id: String,
    /// The first choice's finish reason.
    pub finish_reason: Option<FinishReason>,
    /// The round's usage, when the service reported it.
    pub usage: Option<Usage>,
    /// The tool calls that ran, in the order the model made them (empty for
    /// the final answer, and at the round limit).
    pub tool_calls: Vec<ToolCallRecord>,
}

/// One tool call and how it went.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ToolCallRecord {
    /// The call's id.
    pub id: String,
    /// The tool the model called.
    pub name: String,
    /// The arguments as the model wrote them.
    pub arguments: String,
    /// The tool's result, or why there is none.
    pub outcome: Result<Value, ToolError>,
    /// From validation to the result (or the time limit).
    pub duration: Duration,
}

impl ToolCallRecord {
    /// The tool message's content sent to the model: the result as JSON
    /// text, or `{"error": "…"}`.
    #[must_use]
    pub fn content(&self) -> String {
        match &self.outcome {
            Ok(value) => value.to_string(),
            Err(error) => error.to_model_value().to_string(),
        }
    }
}

/// What [`ToolLoop::run_streaming`] reports as it goes.
#[derive(Debug)]
#[non_exhaustive]
pub enum LoopEvent<'a> {
    /// A streamed chunk of the model's answer in `round`.
    Chunk {
        /// The round, from 1.
        round: u32,
        /// The chunk as received.
        chunk: &'a ChatChunk,
    },
    /// A tool call of `round` finished (reported as each finishes, so
    /// possibly out of the model's order; the records keep that order).
    ToolCall {
        /// The round, from 1.
        round: u32,
        /// The call and its outcome.
        record: &'a ToolCallRecord,
    },
}

type EventSink<'a> = &'a mut (dyn FnMut(LoopEvent<'_>) + Send);

impl ToolLoop {
    /// A loop offering the tools of `registry`, with the defaults.
    pub fn new(registry: ToolRegistry) -> Self {
        Self {
            registry,
            max_rounds: DEFAULT_MAX_ROUNDS,
            tool_timeout: DEFAULT_TOOL_TIMEOUT,
            max_concurrent_tools: DEFAULT_MAX_CONCURRENT_TOOLS,
            tool_choice: None,
            repeat_tool_choice: false,
            parallel_tool_calls: None,
            state: None,
            time: Time::system(),
        }
    }

    /// The tools offered.
    #[must_use]
    pub fn registry(&self) -> &ToolRegistry {
        &self.registry
    }

    /// Requests per run, at least 1.
    pub fn max_rounds(mut self, max_rounds: u32) -> Self {
        self.max_rounds = max_rounds.max(1);
        self
    }

    /// The time limit of each tool call.
    pub fn tool_timeout(mut self, limit: Duration) -> Self {
        self.tool_timeout = limit;
        self
    }

    /// How many tool calls of one round run at the same time, at least 1.
    pub fn max_concurrent_tools(mut self, limit: usize) -> Self {
        self.max_concurrent_tools = limit.max(1);
        self
    }

    /// The `tool_choice` of the first round (it overrides the request's).
    pub fn tool_choice(mut self, tool_choice: ToolChoice) -> Self {
        self.tool_choice = Some(tool_choice);
        self
    }

    /// Whether to send the first round's `tool_choice` on every round. With
    /// `required` or a named function the model can then never finish, and
    /// the run ends at the round limit.
    pub fn repeat_tool_choice(mut self, repeat: bool) -> Self {
        self.repeat_tool_choice = repeat;
        self
    }

    /// `parallel_tool_calls`, sent on every round.
    pub fn parallel_tool_calls(mut self, parallel: bool) -> Self {
        self.parallel_tool_calls = Some(parallel);
        self
    }

    /// A value every tool call can read with [`ToolContext::state`].
    pub fn state<T: Any + Send + Sync>(mut self, state: T) -> Self {
        self.state = Some(Arc::new(state));
        self
    }

    /// The clock that measures tool durations (tests inject a manual one).
    pub fn time(mut self, time: Time) -> Self {
        self.time = time;
        self
    }

    /// Runs `request` on `deployment` until a final answer.
    ///
    /// # Errors
    ///
    /// [`LoopError::Request`] when a request fails, [`LoopError::RoundLimit`]
    /// when the model still calls tools in the last allowed round.
    pub async fn run<C: ChatApi + ?Sized>(
        &self,
        client: &C,
        deployment: &str,
        request: ChatRequest,
    ) -> Result<ToolRunOutput, LoopError> {
        self.drive(client, deployment, request, None).await
    }

    /// [`run`](Self::run), streaming each round's answer: `on_event` sees
    /// every chunk as it arrives and every tool call's outcome. Tool-call
    /// argument fragments are assembled with aoai-core's
    /// [`ChatAccumulator`]; usage is requested with
    /// `stream_options.include_usage` unless the request sets
    /// `stream_options`.
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run); a broken stream is a [`LoopError::Request`].
    pub async fn run_streaming<C, F>(
        &self,
        client: &C,
        deployment: &str,
        mut request: ChatRequest,
        mut on_event: F,
    ) -> Result<ToolRunOutput, LoopError>
    where
        C: ChatApi + ?Sized,
        F: FnMut(LoopEvent<'_>) + Send,
    {
        if request.stream_options.is_none() {
            request.stream_options = Some(StreamOptions::with_usage());
        }
        self.drive(client, deployment, request, Some(&mut on_event)).await
    }

    async fn drive<C: ChatApi + ?Sized>(
        &self,
        client: &C,
        deployment: &str,
        mut request: ChatRequest,
        mut events: Option<EventSink<'_>>,
    ) -> Result<ToolRunOutput, LoopError> {
        let span = tracing::info_span!(
            "tool_loop",
            "otel.name" = "tool_loop",
            "aoai.deployment" = deployment,
            "aoai.tool_loop.max_rounds" = self.max_rounds,
            "aoai.tool_loop.rounds" = Empty,
            "aoai.tool_loop.tool_calls" = Empty,
            "gen_ai.usage.input_tokens" = Empty,
            "gen_ai.usage.output_tokens" = Empty,
            "error.type" = Empty,
        );
        let result = self.drive_rounds(client, deployment, &mut request, &mut events).instrument(span.clone()).await;
        let (rounds, usage) = match &result {
            Ok(output) => (output.rounds.as_slice(), Some(&output.usage)),
            Err(LoopError::RoundLimit { partial, .. }) => (partial.rounds.as_slice(), Some(&partial.usage)),
            Err(_) => (&[][..], None),
        };
        span.record("aoai.tool_loop.rounds", rounds.len());
        span.record("aoai.tool_loop.tool_calls", rounds.iter().map(|round| round.tool_calls.len()).sum::<usize>());
        if let Some(usage) = usage {
            span.record("gen_ai.usage.input_tokens", usage.prompt_tokens);
            span.record("gen_ai.usage.output_tokens", usage.completion_tokens);
        }
        match &result {
            Err(LoopError::Request { source, .. }) => {
                span.record("error.type", source.kind_name());
            }
            Err(LoopError::RoundLimit { .. }) => {
                span.record("error.type", "round_limit");
            }
            Ok(_) => {}
        }
        result
    }

    async fn drive_rounds<C: ChatApi + ?Sized>(
        &self,
        client: &C,
        deployment: &str,
        request: &mut ChatRequest,
        events: &mut Option<EventSink<'_>>,
    ) -> Result<ToolRunOutput, LoopError> {
        if self.registry.is_empty() {
            request.tools = None;
        } else {
            request.tools = Some(self.registry.definitions());
        }
        if self.parallel_tool_calls.is_some() && request.tools.is_some() {
            request.parallel_tool_calls = self.parallel_tool_calls;
        }
        let first_choice = self.tool_choice.clone().or_else(|| request.tool_choice.take());
        let mut rounds: Vec<RoundRecord> = Vec::new();
        let mut usage = Usage::default();
        for round in 1..=self.max_rounds {
            request.tool_choice = match round == 1 || self.repeat_tool_choice {
                true if request.tools.is_some() => first_choice.clone(),
                _ => None,
            };
            let response = match events.as_deref_mut() {
                None => client.chat(deployment, request).await.map(|response| response.body),
                Some(sink) => stream_round(client, deployment, request, round, sink).await,
            }
            .map_err(|source| LoopError::Request { round, source })?;
            if let Some(round_usage) = &response.usage {
                usage += round_usage.clone();
            }
            let mut record = RoundRecord {
                round,
                response_id: response.id.clone(),
                finish_reason: response.finish_reason().cloned(),
                usage: response.usage.clone(),
                tool_calls: Vec::new(),
            };
            let calls = response.tool_calls().to_vec();
            if calls.is_empty() || round == self.max_rounds {
                let at_limit = !calls.is_empty();
                if !at_limit && let Some(choice) = response.first_choice() {
                    request.messages.push(choice.message.clone().into_request_message());
                }
                rounds.push(record);
                let output = ToolRunOutput { response, messages: std::mem::take(&mut request.messages), rounds, usage };
                if at_limit {
                    return Err(LoopError::RoundLimit { rounds: round, partial: Box::new(output) });
                }
                return Ok(output);
            }
            if let Some(choice) = response.first_choice() {
                request.messages.push(choice.message.clone().into_request_message());
            }
            record.tool_calls = self.run_calls(round, calls, events).await;
            for call in &record.tool_calls {
                request.messages.push(ChatMessage::tool(call.id.clone(), call.content()));
            }
            rounds.push(record);
        }
        // `max_rounds` is at least 1 and the last round always returns.
        Err(LoopError::RoundLimit {
            rounds: self.max_rounds,
            partial: Box::new(ToolRunOutput {
                response: ChatResponse::default(),
                messages: std::mem::take(&mut request.messages),
                rounds,
                usage,
            }),
        })
    }

    /// Runs the calls of one round concurrently, at most
    /// `max_concurrent_tools` at a time, reporting each as it finishes;
    /// records come back in the model's order.
    async fn run_calls(
        &self,
        round: u32,
        calls: Vec<ToolCall>,
        events: &mut Option<EventSink<'_>>,
    ) -> Vec<ToolCallRecord> {
        let mut finished: Vec<(usize, ToolCallRecord)> = Vec::with_capacity(calls.len());
        let mut pending = futures_util::stream::iter(calls.into_iter().enumerate())
            .map(|(position, call)| async move { (position, self.run_call(round, call).await) })
            .buffer_unordered(self.max_concurrent_tools);
        while let Some((position, record)) = pending.next().await {
            if let Some(sink) = events.as_deref_mut() {
                sink(LoopEvent::ToolCall { round, record: &record });
            }
            finished.push((position, record));
        }
        finished.sort_by_key(|(position, _)| *position);
        finished.into_iter().map(|(_, record)| record).collect()
    }

    async fn run_call(&self, round: u32, call: ToolCall) -> ToolCallRecord {
        let name = call.function.name.clone();
        let span = tracing::info_span!(
            "execute_tool",
            "otel.name" = format!("execute_tool {name}"),
            "gen_ai.operation.name" = "execute_tool",
            "gen_ai.tool.name" = name.as_str(),
            "gen_ai.tool.call.id" = call.id.as_str(),
            "gen_ai.tool.type" = "function",
            "aoai.tool_loop.round" = round,
            "aoai.tool.duration_ms" = Empty,
            "error.type" = Empty,
        );
        let started = self.time.clock.now();
        let outcome = self.execute(round, &call, &span).await;
        let duration = self.time.clock.now().saturating_duration_since(started);
        span.record("aoai.tool.duration_ms", duration.as_millis() as u64);
        if let Err(error) = &outcome {
            span.record("error.type", error.kind_name());
            span.in_scope(|| tracing::debug!(error = %error, "tool call failed; the model is told"));
        }
        ToolCallRecord { id: call.id, name, arguments: call.function.arguments, outcome, duration }
    }

    async fn execute(&self, round: u32, call: &ToolCall, span: &tracing::Span) -> Result<Value, ToolError> {
        let name = call.function.name.as_str();
        let arguments = self.registry.validate(name, &call.function.arguments)?;
        let tool = self.registry.shared(name).ok_or_else(|| self.registry.unknown(name))?;
        let mut context = ToolContext::new(call.id.clone(), name, round);
        if let Some(state) = &self.state {
            context = context.with_state(state.clone());
        }
        let limit = self.tool_timeout;
        let task = tokio::spawn(
            async move { tokio::time::timeout(limit, tool.call(arguments, context)).await }.instrument(span.clone()),
        );
        let mut task = AbortOnDrop(task);
        match (&mut task.0).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_elapsed)) => Err(ToolError::TimedOut { tool: name.to_owned(), limit }),
            Err(error) if error.is_panic() => {
                Err(ToolError::failed(format!("`{name}` failed unexpectedly (it panicked)")))
            }
            Err(_) => Err(ToolError::failed(format!("`{name}` was cancelled"))),
        }
    }
}

/// One round over a stream: every chunk to `sink`, assembled into a response.
async fn stream_round<C: ChatApi + ?Sized>(
    client: &C,
    deployment: &str,
    request: &ChatRequest,
    round: u32,
    sink: &mut (dyn FnMut(LoopEvent<'_>) + Send),
) -> aoai_core::Result<ChatResponse> {
    let mut stream = client.chat_stream(deployment, request).await?;
    let mut accumulator = ChatAccumulator::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        accumulator.push(&chunk);
        sink(LoopEvent::Chunk { round, chunk: &chunk });
    }
    Ok(accumulator.finish())
}

/// A spawned tool call that is aborted when the run is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
