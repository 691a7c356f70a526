//! What an assistant run costs on the client beside the raw client doing the
//! same requests by hand: one forced function-tool round (ask, run the tool,
//! send `function_call_output` with `previous_response_id`, final answer),
//! whole and streamed.
//!
//! The emulator runs on its own runtime and thread; the client side (raw or
//! assistant) runs on the main thread's current-thread runtime, so the main
//! thread's CPU time (`/proc/thread-self/schedstat`, nanoseconds on the CPU)
//! is the client's alone: HTTP, JSON, the tool, and for the assistant its
//! bookkeeping. Both sides send the same two requests per turn, with the
//! same tool schema (the one the assistant's registry generates). Prints CPU
//! per turn for each side and the overhead; target (issue #16): under 5 %.
//!
//! `cargo bench -p aoai-assistants --bench overhead`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use aoai_assistants::{Assistant, RunEvent, ThreadBackend};
use aoai_core::responses::{InputItem, ResponseAccumulator, ResponseRequest, ResponseTool, ResponseToolChoice};
use aoai_core::{Client, ResponsesApi};
use aoai_emulator::config::LatencyModel;
use aoai_emulator::{DeploymentConfig, Emulator};
use aoai_tools::{ToolContext, ToolError, typed_tool};
use futures_util::StreamExt;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

const DEPLOYMENT: &str = "gpt-4o";
const TURNS: usize = 300;
const SAMPLES: usize = 5;

#[derive(Deserialize, JsonSchema)]
struct City {
    city: String,
}

fn weather(city: &str) -> Value {
    json!({"city": city, "celsius": 18, "sky": "clear"})
}

/// Nanoseconds this thread has spent on a CPU.
fn thread_cpu_ns() -> u64 {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat (Linux)");
    text.split_whitespace().next().and_then(|field| field.parse().ok()).expect("schedstat's first field")
}

async fn raw_turn(client: &Client, parameters: &Value, stream: bool) -> usize {
    // As the assistant sends it: the registry's schema, `strict` as the tool asks (not strict).
    let tool = ResponseTool::Function(aoai_core::responses::FunctionTool {
        name: "get_weather".into(),
        description: Some("Current weather in a city".into()),
        parameters: parameters.clone(),
        strict: Some(false),
        extra: serde_json::Map::new(),
    });
    let request = ResponseRequest::new("What is the weather in Paris?")
        .tools(vec![tool.clone()])
        .tool_choice(ResponseToolChoice::function("get_weather"));
    let asked = respond(client, &request, stream).await;
    let mut outputs = Vec::new();
    for call in asked.function_calls() {
        let arguments: Value = serde_json::from_str(&call.arguments).unwrap();
        let result = weather(arguments["city"].as_str().unwrap_or_default());
        outputs.push(InputItem::function_call_output(call.call_id.clone(), result.to_string()));
    }
    let request = ResponseRequest::new(outputs).previous_response_id(asked.id.clone()).tools(vec![tool]);
    respond(client, &request, stream).await.output_text().len()
}

async fn respond(client: &Client, request: &ResponseRequest, stream: bool) -> aoai_core::responses::ResponseObject {
    if !stream {
        return client.create_response(DEPLOYMENT, request).await.unwrap().body;
    }
    let mut events = client.create_response_stream(DEPLOYMENT, request).await.unwrap();
    let mut accumulator = ResponseAccumulator::new();
    while let Some(event) = events.next().await {
        accumulator.push(&event.unwrap());
    }
    accumulator.into_response()
}

async fn assistant_turn(assistant: &Assistant<Client>, stream: bool) -> usize {
    let thread = assistant.create_thread_on(ThreadBackend::ResponseChain).await.unwrap();
    if !stream {
        return assistant.run(&thread, "What is the weather in Paris?").await.unwrap().text.len();
    }
    let mut events = assistant.run_stream(&thread, "What is the weather in Paris?");
    let mut length = 0;
    while let Some(event) = events.next().await {
        if let RunEvent::Completed(result) = event {
            length = result.text.len();
        }
    }
    length
}

fn main() {
    // The emulator: its own runtime on its own threads, answering at once.
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        runtime.block_on(async move {
            let emulator = Emulator::builder()
                .deployment(
                    DeploymentConfig::new(DEPLOYMENT, "gpt-4o")
                        .latency(LatencyModel::new(Duration::ZERO, Duration::ZERO)),
                )
                .start()
                .await
                .unwrap();
            sender.send((emulator.base_url().to_owned(), emulator.api_key().expose().to_owned())).unwrap();
            std::future::pending::<()>().await;
            drop(emulator);
        });
    });
    let (base, key) = receiver.recv().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async move {
        let client = Client::builder(aoai_core::routing::Endpoint::azure_v1(&base).unwrap()).api_key(key).build().unwrap();
        let tool = typed_tool("get_weather", "Current weather in a city", |args: City, _: ToolContext| async move {
            Ok::<_, ToolError>(weather(&args.city))
        });
        // The raw side sends the very schema the assistant sends for the tool.
        let registry = aoai_tools::ToolRegistry::new()
            .with(typed_tool("get_weather", "Current weather in a city", |args: City, _: ToolContext| async move {
                Ok::<_, ToolError>(weather(&args.city))
            }))
            .unwrap();
        let parameters = registry.definitions()[0].function.parameters.clone();
        let assistant = Assistant::builder(client.clone(), DEPLOYMENT)
            .tool(tool)
            .tool_choice(ResponseToolChoice::function("get_weather"))
            .build()
            .unwrap();
        for stream in [false, true] {
            // Warm up both (connections, schema caches), then interleave samples; keep the fastest.
            raw_turn(&client, &parameters, stream).await;
            assistant_turn(&assistant, stream).await;
            let (mut best_raw, mut best_assistant) = (u64::MAX, u64::MAX);
            for _ in 0..SAMPLES {
                let start = thread_cpu_ns();
                for _ in 0..TURNS {
                    std::hint::black_box(raw_turn(&client, &parameters, stream).await);
                }
                best_raw = best_raw.min(thread_cpu_ns() - start);
                let start = thread_cpu_ns();
                for _ in 0..TURNS {
                    std::hint::black_box(assistant_turn(&assistant, stream).await);
                }
                best_assistant = best_assistant.min(thread_cpu_ns() - start);
            }
            let per_turn = |total: u64| total as f64 / TURNS as f64 / 1_000.0;
            let overhead = (best_assistant as f64 / best_raw as f64 - 1.0) * 100.0;
            println!(
                "{} tool round: raw client {:.1} µs CPU per turn, assistant {:.1} µs, overhead {overhead:+.1} % (target < 5 %)",
                if stream { "streamed" } else { "whole" },
                per_turn(best_raw),
                per_turn(best_assistant),
            );
        }
        let _: &dyn ResponsesApi = &client;
    });
}
