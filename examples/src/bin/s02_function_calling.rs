//! Guide section 2, function calling: offer tools, let the model call them,
//! run the calls and send the results back until it answers.
//!
//! ```text
//! cargo run -p aoai-examples --bin s02_function_calling
//! ```
//!
//! The tools come from two places: a third-party crate
//! (`examples/tools-plugin`, package `aoai-example-tools`) that implements
//! `aoai_tools::Tool` and exposes `register`, and a typed closure whose
//! parameter schema `schemars` derives from its argument struct.
//! [`ToolLoop`] validates every call's arguments before the tool runs, runs
//! the calls of a turn concurrently with a time limit, and sends errors back
//! to the model as the tool's result instead of failing.
//!
//! 1. `tool_choice: required` with parallel calls in the first round, then
//!    the model answers from the results.
//! 2. The same, streamed: chunks as they arrive, tool outcomes as they finish.
//! 3. A model forced to call a tool on every round stops at the round limit,
//!    a typed error that keeps what was done.

use std::error::Error;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use aoai_core::chat::{ChatMessage, ChatRequest, ToolChoice};
use aoai_tools::run::ToolRunOutput;
use aoai_tools::{LoopError, LoopEvent, RegistryError, ToolContext, ToolError, ToolLoop, ToolRegistry, typed_tool};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

#[tokio::main]
async fn main() -> ExitCode {
    aoai_examples::exit_any(run().await)
}

/// The arguments of `get_weather`; the doc comments become the schema's descriptions.
#[derive(Debug, Deserialize, JsonSchema)]
struct WeatherArgs {
    /// The city, e.g. Paris.
    city: String,
}

/// The plug-in crate's tools plus a typed closure.
fn registry() -> Result<ToolRegistry, RegistryError> {
    let mut registry = ToolRegistry::new();
    aoai_example_tools::register(&mut registry)?;
    registry.register(typed_tool(
        "get_weather",
        "Current weather for a city",
        |args: WeatherArgs, _context: ToolContext| async move {
            let city = args.city.trim();
            if city.is_empty() {
                return Err(ToolError::failed("no city given"));
            }
            // A made-up but deterministic forecast.
            let seed: u32 = city.bytes().map(u32::from).sum();
            let sky = ["sunny", "cloudy", "rainy", "windy"][seed as usize % 4];
            Ok(json!({"city": city, "sky": sky, "celsius": 8 + seed % 17}))
        },
    ))?;
    Ok(registry)
}

async fn run() -> Result<(), Box<dyn Error>> {
    // The configured endpoint, or the embedded emulator; keep `session` alive while `client` is used.
    let session = aoai_examples::session().await?;
    let client = session.client()?;
    let deployment = aoai_examples::chat_deployment();
    let registry = registry()?;
    println!("tools: {}", registry.names().collect::<Vec<_>>().join(", "));

    let request = ChatRequest::new(vec![
        ChatMessage::system("You are a travel assistant. Use the tools; answer in two sentences."),
        ChatMessage::user(
            "I am flying to Paris: what is the weather there, a few facts about the city, and how far is 350 km in mi?",
        ),
    ])
    .max_tokens(300);
    let tools = ToolLoop::new(registry.clone())
        .tool_choice(ToolChoice::Required)
        .parallel_tool_calls(true)
        .max_rounds(4)
        .tool_timeout(Duration::from_secs(10));

    // 1. Whole responses.
    println!("\n1. required tool calls, then the answer");
    let output = tools.run(&client, &deployment, request.clone()).await?;
    report(&output);

    // 2. Streamed: each round's chunks as they arrive, each tool outcome once its round has run.
    println!("\n2. the same, streamed");
    let mut stdout = std::io::stdout();
    let mut chunks = 0_usize;
    let output = tools
        .run_streaming(&client, &deployment, request.clone(), |event| match event {
            LoopEvent::Chunk { chunk, .. } => {
                chunks += 1;
                if let Some(text) = chunk.delta_text() {
                    print!("{text}");
                    let _ = stdout.flush();
                }
            }
            LoopEvent::ToolCall { round, record } => {
                println!("   round {round}: {} -> {}", record.name, record.content())
            }
            _ => {}
        })
        .await?;
    println!();
    println!(
        "streamed final answer ({chunks} chunks in {} rounds): {}",
        output.rounds.len(),
        output.text().unwrap_or("-")
    );

    // 3. Forcing a tool on every round never lets the model answer.
    println!("\n3. a tool forced on every round");
    let forced =
        ToolLoop::new(registry).tool_choice(ToolChoice::function("city_facts")).repeat_tool_choice(true).max_rounds(2);
    match forced.run(&client, &deployment, request).await {
        Ok(output) => println!("answered anyway: {}", output.text().unwrap_or("-")),
        Err(error @ LoopError::RoundLimit { .. }) => {
            let partial =
                error.partial().map_or((0, 0), |partial| (partial.tool_calls().count(), partial.usage.total_tokens));
            println!("round limit: {error}; {} tool call(s) ran, {} tokens used", partial.0, partial.1);
        }
        Err(error) => return Err(error.into()),
    }
    Ok(())
}

fn report(output: &ToolRunOutput) {
    for round in &output.rounds {
        let reason = round.finish_reason.as_ref().map_or("-", |reason| reason.as_str());
        if round.tool_calls.is_empty() {
            println!("round {} (finish reason {reason}): final answer", round.round);
            continue;
        }
        println!("round {} (finish reason {reason}): {} tool call(s)", round.round, round.tool_calls.len());
        for call in &round.tool_calls {
            let status = if call.outcome.is_ok() { "ok" } else { "error, sent to the model" };
            println!("   {}({}) -> {} [{status}, {:?}]", call.name, call.arguments, call.content(), call.duration);
        }
    }
    println!("final answer: {}", output.text().unwrap_or("-"));
    let usage = &output.usage;
    println!(
        "usage over {} rounds: {} prompt + {} completion = {} tokens",
        output.rounds.len(),
        usage.prompt_tokens,
        usage.completion_tokens,
        usage.total_tokens
    );
}
