#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The loop against a scripted `ChatApi` that records every request: what
//! is sent on each round (tools, `tool_choice`, `parallel_tool_calls`), the
//! concurrency limit, the application state, and tool-call arguments split
//! into small stream fragments.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aoai_core::ChatApi;
use aoai_core::chat::{
    ChatMessage, ChatRequest, ChatResponse, Choice, FinishReason, ResponseMessage, Role, ToolCall, ToolChoice, Usage,
};
use aoai_core::clock::SystemClock;
use aoai_core::response::{Response, ResponseMeta};
use aoai_core::stream::{ByteStream, ChatStream};
use aoai_tools::{LoopEvent, ToolContext, ToolLoop, ToolRegistry, typed_tool};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

/// Answers with the scripted responses in order and records the requests.
#[derive(Default)]
struct Scripted {
    responses: Mutex<VecDeque<ChatResponse>>,
    requests: Mutex<Vec<ChatRequest>>,
}

impl Scripted {
    fn new(responses: Vec<ChatResponse>) -> Self {
        Self { responses: Mutex::new(responses.into()), requests: Mutex::default() }
    }

    fn next(&self, request: &ChatRequest) -> ChatResponse {
        self.requests.lock().unwrap().push(request.clone());
        self.responses.lock().unwrap().pop_front().expect("more requests than scripted responses")
    }

    fn requests(&self) -> Vec<ChatRequest> {
        self.requests.lock().unwrap().clone()
    }
}

#[async_trait]
impl ChatApi for Scripted {
    async fn chat(&self, _deployment: &str, request: &ChatRequest) -> aoai_core::Result<Response<ChatResponse>> {
        Ok(Response { body: self.next(request), meta: ResponseMeta::default() })
    }

    async fn chat_stream(&self, _deployment: &str, request: &ChatRequest) -> aoai_core::Result<ChatStream> {
        let body = sse(&self.next(request));
        let pieces: Vec<Result<bytes::Bytes, aoai_core::error::BoxError>> = vec![Ok(bytes::Bytes::from(body))];
        let bytes: ByteStream = Box::pin(futures_util::stream::iter(pieces));
        Ok(ChatStream::new(bytes, ResponseMeta::default(), None, Arc::new(SystemClock)))
    }
}

/// The response as Azure would stream it: content and every tool call's
/// arguments in fragments of at most 3 characters, then a usage chunk.
fn sse(response: &ChatResponse) -> String {
    let mut events = Vec::new();
    let chunk = |choices: Value, usage: Value| json!({"id": response.id, "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o", "choices": choices, "usage": usage});
    events.push(json!({"choices": [], "created": 0, "id": "", "model": "", "object": "", "prompt_filter_results": []}));
    events.push(chunk(json!([{"index": 0, "delta": {"role": "assistant", "content": ""}}]), Value::Null));
    let message = &response.choices[0].message;
    if let Some(content) = &message.content {
        for piece in content.as_bytes().chunks(3) {
            let text = String::from_utf8(piece.to_vec()).unwrap();
            events.push(chunk(json!([{"index": 0, "delta": {"content": text}}]), Value::Null));
        }
    }
    for (index, call) in message.tool_calls.iter().flatten().enumerate() {
        events.push(chunk(
            json!([{"index": 0, "delta": {"tool_calls": [{"index": index, "id": call.id, "type": "function", "function": {"name": call.function.name, "arguments": ""}}]}}]),
            Value::Null,
        ));
        for piece in call.function.arguments.as_bytes().chunks(3) {
            let text = String::from_utf8(piece.to_vec()).unwrap();
            events.push(chunk(
                json!([{"index": 0, "delta": {"tool_calls": [{"index": index, "function": {"arguments": text}}]}}]),
                Value::Null,
            ));
        }
    }
    let reason = response.choices[0].finish_reason.as_ref().map(|reason| reason.as_str().to_owned());
    events.push(chunk(json!([{"index": 0, "delta": {}, "finish_reason": reason}]), Value::Null));
    events.push(chunk(json!([]), serde_json::to_value(&response.usage).unwrap()));
    let mut body: String = events.iter().map(|event| format!("data: {event}\n\n")).collect();
    body.push_str("data: [DONE]\n\n");
    body
}

fn response(id: &str, content: Option<&str>, calls: Vec<ToolCall>, usage: (u64, u64)) -> ChatResponse {
    let reason = if calls.is_empty() { FinishReason::Stop } else { FinishReason::ToolCalls };
    ChatResponse {
        id: id.to_owned(),
        object: "chat.completion".to_owned(),
        model: "gpt-4o".to_owned(),
        choices: vec![Choice {
            index: 0,
            message: ResponseMessage {
                role: Role::Assistant,
                content: content.map(str::to_owned),
                tool_calls: if calls.is_empty() { None } else { Some(calls) },
                ..ResponseMessage::default()
            },
            finish_reason: Some(reason),
            logprobs: None,
            content_filter_results: None,
        }],
        usage: Some(Usage::new(usage.0, usage.1)),
        ..ChatResponse::default()
    }
}

#[derive(Deserialize, JsonSchema)]
struct Lookup {
    /// What to look up.
    query: String,
}

/// The application state the tools read.
struct Prefix(&'static str);

/// `lookup`, which answers `{prefix}{query}` and tracks how many calls run at once.
fn registry(running: Arc<AtomicUsize>, most: Arc<AtomicUsize>) -> ToolRegistry {
    ToolRegistry::new()
        .with(typed_tool("lookup", "Look something up", move |args: Lookup, ctx: ToolContext| {
            let (running, most) = (running.clone(), most.clone());
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::task::yield_now().await;
                // `a` takes longest, so it finishes last.
                let delay = Duration::from_millis(if args.query == "a" { 60 } else { 10 });
                tokio::time::timeout(delay, std::future::pending::<()>()).await.ok();
                running.fetch_sub(1, Ordering::SeqCst);
                let prefix = ctx.state::<Prefix>().map_or("?", |prefix| prefix.0);
                Ok(format!("{prefix}{}", args.query))
            }
        }))
        .unwrap()
}

fn three_lookups() -> Vec<ToolCall> {
    ["a", "b", "c"]
        .iter()
        .map(|query| ToolCall::function(format!("call_{query}"), "lookup", json!({"query": query}).to_string()))
        .collect()
}

fn script() -> Vec<ChatResponse> {
    vec![
        response("r1", None, three_lookups(), (100, 30)),
        response("r2", Some("Found a, b and c."), Vec::new(), (180, 10)),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_round_sends_the_tools_and_only_the_first_the_tool_choice() {
    let api = Scripted::new(script());
    let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let output = ToolLoop::new(registry(running, most.clone()))
        .tool_choice(ToolChoice::Required)
        .parallel_tool_calls(true)
        .max_concurrent_tools(2)
        .state(Prefix("found:"))
        .run(&api, "gpt-4o", ChatRequest::new(vec![ChatMessage::user("Look up a, b and c.")]).temperature(0.0))
        .await
        .unwrap();

    let requests = api.requests();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert_eq!(request.tools.as_ref().map(|tools| tools[0].function.name.as_str()), Some("lookup"));
        assert_eq!(request.parallel_tool_calls, Some(true));
        assert_eq!(request.temperature, Some(0.0), "the request's own settings are kept");
    }
    assert_eq!(requests[0].tool_choice, Some(ToolChoice::Required));
    assert_eq!(requests[1].tool_choice, None, "later rounds leave the choice to the model (auto)");
    assert_eq!(requests[1].messages.len(), 5, "user, assistant with calls, three tool results");

    // At most two of the three calls ran at the same time, and records keep the model's order.
    assert_eq!(most.load(Ordering::SeqCst), 2);
    let results: Vec<(&str, Value)> =
        output.tool_calls().map(|call| (call.id.as_str(), call.outcome.clone().unwrap())).collect();
    assert_eq!(
        results,
        [("call_a", json!("found:a")), ("call_b", json!("found:b")), ("call_c", json!("found:c"))],
        "the tools read the loop's state"
    );
    assert_eq!(requests[1].messages[2], ChatMessage::tool("call_a", "\"found:a\""));
    assert_eq!(output.usage, Usage::new(280, 40));
    assert_eq!(output.text(), Some("Found a, b and c."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_argument_fragments_are_assembled_before_validation() {
    let api = Scripted::new(script());
    let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut texts = String::new();
    let mut outcomes = Vec::new();
    let output = ToolLoop::new(registry(running, most))
        .run_streaming(&api, "gpt-4o", ChatRequest::new(vec![ChatMessage::user("Look up a, b and c.")]), |event| {
            match event {
                LoopEvent::Chunk { chunk, .. } => texts.push_str(chunk.delta_text().unwrap_or_default()),
                LoopEvent::ToolCall { record, .. } => outcomes.push(record.content()),
                _ => {}
            }
        })
        .await
        .unwrap();
    let arguments: Vec<&str> = output.tool_calls().map(|call| call.arguments.as_str()).collect();
    assert_eq!(arguments, [r#"{"query":"a"}"#, r#"{"query":"b"}"#, r#"{"query":"c"}"#]);
    assert_eq!(outcomes.last().map(String::as_str), Some("\"?a\""), "events come as calls finish");
    outcomes.sort_unstable();
    assert_eq!(outcomes, ["\"?a\"", "\"?b\"", "\"?c\""], "no state given");
    assert_eq!(texts, "Found a, b and c.");
    assert_eq!(output.usage, Usage::new(280, 40));
    let requests = api.requests();
    assert!(
        requests.iter().all(|request| request.stream_options.as_ref().is_some_and(|options| options.include_usage))
    );
}
