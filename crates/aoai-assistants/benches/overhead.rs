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
//! same tool schema (the one the assistant's registry generates). The raw
//! side calls the client's own methods, as a user without aoai-assistants
//! would; the assistant calls them through the `ResponsesApi` trait (so it
//! can wrap caches and guards), which boxes each request's future. Prints
//! CPU per turn for each side and the overhead; target (issue #16): under 5 %.
//!
//! `cargo bench -p aoai-assistants --bench overhead`
//!
//! For a profiler of one side alone: `AOAI_BENCH_ONLY=raw|assistant` runs
//! only that side, and `AOAI_BENCH_MODE=whole|streamed` only that mode (no
//! ratio is printed then).

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
/// Turns in one measured block.
const BLOCK_TURNS: usize = 10;
/// Blocks per side and mode.
const BLOCKS: usize = 200;

fn median(values: &mut [u64]) -> f64 {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0) as f64
}

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
        let only = std::env::var("AOAI_BENCH_ONLY").ok();
        let mode = std::env::var("AOAI_BENCH_MODE").ok();
        let (run_raw, run_assistant) = match only.as_deref() {
            Some("raw") => (true, false),
            Some("assistant") => (false, true),
            _ => (true, true),
        };
        for stream in [false, true] {
            match mode.as_deref() {
                Some("whole") if stream => continue,
                Some("streamed") if !stream => continue,
                _ => {}
            }
            // Warm up both (connections, schema caches).
            for _ in 0..20 {
                raw_turn(&client, &parameters, stream).await;
                assistant_turn(&assistant, stream).await;
            }
            // Paired blocks: a block of raw turns beside a block of assistant
            // turns, in alternating order, many times; each pair gives a ratio
            // and the median ratio is the overhead. On this shared 2-core VM a
            // whole run's CPU time drifts by ±20 %; pairs taken a few
            // milliseconds apart see the same machine, and the median drops
            // the pairs a neighbour disturbed.
            let (mut raw_blocks, mut assistant_blocks, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
            for block in 0..BLOCKS {
                let mut raw_ns = 0;
                let mut assistant_ns = 0;
                for raw_side in [block % 2 == 0, block % 2 == 1] {
                    if raw_side && run_raw {
                        let start = thread_cpu_ns();
                        for _ in 0..BLOCK_TURNS {
                            std::hint::black_box(raw_turn(&client, &parameters, stream).await);
                        }
                        raw_ns = thread_cpu_ns() - start;
                    } else if !raw_side && run_assistant {
                        let start = thread_cpu_ns();
                        for _ in 0..BLOCK_TURNS {
                            std::hint::black_box(assistant_turn(&assistant, stream).await);
                        }
                        assistant_ns = thread_cpu_ns() - start;
                    }
                }
                raw_blocks.push(raw_ns);
                assistant_blocks.push(assistant_ns);
                if raw_ns > 0 && assistant_ns > 0 {
                    ratios.push(assistant_ns as f64 / raw_ns as f64);
                }
            }
            let per_turn = |blocks: &mut Vec<u64>| median(blocks) / BLOCK_TURNS as f64 / 1_000.0;
            if !(run_raw && run_assistant) {
                let blocks = if run_raw { &mut raw_blocks } else { &mut assistant_blocks };
                println!("{}: median {:.1} µs CPU per turn", only.as_deref().unwrap_or(""), per_turn(blocks));
                continue;
            }
            ratios.sort_by(f64::total_cmp);
            let quartile = |q: usize| (ratios[ratios.len() * q / 4] - 1.0) * 100.0;
            println!(
                "{} tool round: raw client {:.1} µs CPU per turn, assistant {:.1} µs (medians of {BLOCKS} blocks of {BLOCK_TURNS}); overhead: median of paired ratios {:+.1} % (quartiles {:+.1} % .. {:+.1} %) (target < 5 %)",
                if stream { "streamed" } else { "whole" },
                per_turn(&mut raw_blocks),
                per_turn(&mut assistant_blocks),
                quartile(2),
                quartile(1),
                quartile(3),
            );
        }
        let _: &dyn ResponsesApi = &client;
    });
}
