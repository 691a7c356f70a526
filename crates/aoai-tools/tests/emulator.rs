#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The tool loop against the emulator: a real HTTP server on loopback, through
//! the real `aoai_core::Client`. The generated mode answers `tool_choice`
//! with schema-valid arguments and, after tool results, a final answer that
//! quotes them; the scripted mode (`tests/fixtures/scripted.toml`) plays a
//! model that needs three rounds or writes broken calls.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aoai_core::chat::{ChatMessage, ChatRequest, FinishReason, ToolChoice, Usage};
use aoai_emulator::{Emulator, EmulatorHandle};
use aoai_tools::run::ToolCallRecord;
use aoai_tools::{LoopError, LoopEvent, ToolContext, ToolError, ToolLoop, ToolRegistry, typed_tool};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Barrier;

#[derive(Debug, Deserialize, JsonSchema)]
struct WeatherArgs {
    /// The city.
    city: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Unit {
    Km,
    Mi,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ConvertArgs {
    /// The value to convert.
    value: f64,
    /// The unit of `value`.
    from: Unit,
    /// The unit wanted.
    to: Unit,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct TimeArgs {
    /// An IANA time zone.
    timezone: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct NoArgs {}

fn convert(args: &ConvertArgs) -> f64 {
    match (&args.from, &args.to) {
        (Unit::Km, Unit::Mi) => args.value / 1.609_344,
        (Unit::Mi, Unit::Km) => args.value * 1.609_344,
        _ => args.value,
    }
}

/// Weather, time and unit conversion; `calls` counts tool runs.
fn travel_registry(calls: Arc<AtomicUsize>) -> ToolRegistry {
    let (weather_calls, time_calls, convert_calls) = (calls.clone(), calls.clone(), calls);
    ToolRegistry::new()
        .with(typed_tool("get_weather", "Current weather for a city", move |args: WeatherArgs, _: ToolContext| {
            weather_calls.fetch_add(1, Ordering::SeqCst);
            async move { Ok(json!({"city": args.city, "sky": "sunny", "celsius": 21})) }
        }))
        .unwrap()
        .with(typed_tool("get_time", "Current time in a timezone", move |args: TimeArgs, _: ToolContext| {
            time_calls.fetch_add(1, Ordering::SeqCst);
            async move { Ok(json!({"timezone": args.timezone, "time": "12:00"})) }
        }))
        .unwrap()
        .with(typed_tool(
            "convert_units",
            "Convert a distance between km and mi",
            move |args: ConvertArgs, _: ToolContext| {
                convert_calls.fetch_add(1, Ordering::SeqCst);
                async move { Ok(json!({"result": convert(&args)})) }
            },
        ))
        .unwrap()
}

async fn emulator() -> EmulatorHandle {
    Emulator::start().await.unwrap()
}

async fn scripted_emulator() -> EmulatorHandle {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scripted.toml");
    Emulator::builder().fixtures(fixtures).start().await.unwrap()
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest::new(vec![ChatMessage::system("You are a travel assistant."), ChatMessage::user(text)])
}

fn sum_of_rounds(output: &aoai_tools::ToolRunOutput) -> Usage {
    output.rounds.iter().filter_map(|round| round.usage.clone()).sum()
}

fn roles(messages: &[ChatMessage]) -> Vec<&str> {
    messages.iter().map(ChatMessage::role).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_runs_parallel_calls_concurrently_then_the_model_answers_citing_them() {
    let emulator = emulator().await;
    let client = emulator.client().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    // Each tool waits until all three have started: run one after another, they would time out.
    let barrier = Arc::new(Barrier::new(3));
    let mut registry = ToolRegistry::new();
    for name in ["get_weather", "get_time", "get_news"] {
        let (barrier, calls) = (barrier.clone(), calls.clone());
        registry
            .register(typed_tool(name, format!("The {name} for a city"), move |args: WeatherArgs, ctx: ToolContext| {
                let (barrier, calls) = (barrier.clone(), calls.clone());
                async move {
                    barrier.wait().await;
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok(json!({"tool": ctx.tool_name(), "city": args.city, "round": ctx.round()}))
                }
            }))
            .unwrap();
    }
    let tools = ToolLoop::new(registry)
        .tool_choice(ToolChoice::Required)
        .parallel_tool_calls(true)
        .tool_timeout(Duration::from_secs(10));
    let output = tools.run(&client, "gpt-4o", ask("Weather, time and news for Paris?")).await.unwrap();

    assert_eq!(output.rounds.len(), 2, "{output:#?}");
    let first = &output.rounds[0];
    assert_eq!(first.tool_calls.len(), 3, "the emulator makes three parallel calls: {first:#?}");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    for call in &first.tool_calls {
        let result = call.outcome.as_ref().unwrap();
        assert_eq!(result["tool"], call.name.as_str());
        assert_eq!(result["round"], 1);
    }
    assert!(output.rounds[1].tool_calls.is_empty());
    assert_eq!(output.rounds[1].finish_reason, Some(FinishReason::Stop));
    // The final answer quotes every tool message.
    let text = output.text().unwrap();
    for call in &first.tool_calls {
        assert!(text.contains(&call.content()), "{text} lacks {}", call.content());
    }
    assert_eq!(roles(&output.messages), ["system", "user", "assistant", "tool", "tool", "tool", "assistant"]);
    let ids: Vec<&str> = output.messages[3..6].iter().filter_map(ChatMessage::tool_call_id).collect();
    let called: Vec<&str> = first.tool_calls.iter().map(|call| call.id.as_str()).collect();
    assert_eq!(ids, called);
    assert_eq!(output.usage, sum_of_rounds(&output));
    assert!(output.usage.prompt_tokens > 0 && output.usage.completion_tokens > 0);
    assert_eq!(emulator.stats().deployment("gpt-4o").map(|deployment| deployment.served), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_tool_choice_without_parallel_calls_makes_one_valid_call() {
    let emulator = emulator().await;
    let client = emulator.client().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let tools = ToolLoop::new(travel_registry(calls.clone()))
        .tool_choice(ToolChoice::function("convert_units"))
        .parallel_tool_calls(false);
    let output = tools.run(&client, "gpt-4o", ask("How far is 10 km in miles?")).await.unwrap();
    let records: Vec<&ToolCallRecord> = output.tool_calls().collect();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].name, "convert_units");
    assert!(records[0].outcome.as_ref().unwrap()["result"].is_number(), "{:#?}", records[0]);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(output.rounds.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_choice_none_answers_without_tools() {
    let emulator = emulator().await;
    let client = emulator.client().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let tools = ToolLoop::new(travel_registry(calls.clone())).tool_choice(ToolChoice::None);
    let output = tools.run(&client, "gpt-4o", ask("What is the weather in Paris?")).await.unwrap();
    assert_eq!(output.rounds.len(), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert!(output.text().is_some());
    assert_eq!(roles(&output.messages), ["system", "user", "assistant"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_calls_the_tool_the_question_names_then_answers() {
    let emulator = emulator().await;
    let client = emulator.client().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let tools = ToolLoop::new(travel_registry(calls.clone()));
    let output = tools.run(&client, "gpt-4o", ask("What is the current weather in Paris?")).await.unwrap();
    let names: Vec<&str> = output.tool_calls().map(|call| call.name.as_str()).collect();
    assert!(names.contains(&"get_weather"), "{names:?}");
    assert!(output.tool_calls().all(|call| call.outcome.is_ok()));
    assert_eq!(output.rounds.len(), 2);
    assert!(output.text().unwrap().contains("get_weather returned"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_dependent_rounds_follow_the_scripted_model() {
    let emulator = scripted_emulator().await;
    let client = emulator.client().unwrap();
    #[derive(Deserialize, JsonSchema)]
    struct Lookup {
        name: String,
    }
    #[derive(Deserialize, JsonSchema)]
    struct Forecast {
        city_id: String,
    }
    let registry = ToolRegistry::new()
        .with(typed_tool("lookup_city", "Find a city's id", |args: Lookup, _: ToolContext| async move {
            Ok(json!({"name": args.name, "id": "city-75"}))
        }))
        .unwrap()
        .with(typed_tool("get_weather", "Weather by city id", |args: Forecast, _: ToolContext| async move {
            Ok(json!({"city_id": args.city_id, "sky": "sunny"}))
        }))
        .unwrap();
    let output = ToolLoop::new(registry).run(&client, "gpt-4o", ask("Please plan my trip to Paris.")).await.unwrap();
    assert_eq!(output.rounds.len(), 3);
    let names: Vec<(&str, &str)> = output.tool_calls().map(|call| (call.id.as_str(), call.name.as_str())).collect();
    assert_eq!(names, [("call_lookup", "lookup_city"), ("call_weather", "get_weather")]);
    assert_eq!(output.text(), Some("Pack sunglasses: it is sunny in Paris."));
    assert_eq!(roles(&output.messages), ["system", "user", "assistant", "tool", "assistant", "tool", "assistant"]);
    assert_eq!(output.usage, sum_of_rounds(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_arguments_and_invented_tools_go_back_to_the_model_precisely() {
    let emulator = scripted_emulator().await;
    let client = emulator.client().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let output = ToolLoop::new(travel_registry(calls.clone()))
        .run(&client, "gpt-4o", ask("Make some broken calls."))
        .await
        .unwrap();
    assert_eq!(output.rounds.len(), 2);
    assert_eq!(output.text(), Some("I could not use the tools."));
    let records: Vec<&ToolCallRecord> = output.tool_calls().collect();
    assert_eq!(records.len(), 5);
    // Only the well-formed call ran.
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    let truncated = records[0].outcome.as_ref().unwrap_err();
    assert!(matches!(truncated, ToolError::InvalidArguments { .. }));
    assert!(
        truncated.to_string().contains("the arguments are not valid JSON: EOF while parsing a value at line 1 column"),
        "{truncated}"
    );

    let violation = records[1].outcome.as_ref().unwrap_err();
    let mut pointers: Vec<&str> = violation.violations().iter().map(|v| v.instance_path.as_str()).collect();
    pointers.sort_unstable();
    assert_eq!(pointers, ["/to", "/value"], "{violation}");
    assert!(violation.to_string().contains("at /to: \"parsecs\" is not one of \"km\" or \"mi\""), "{violation}");
    assert!(violation.to_string().contains("at /value: \"ten\" is not of type \"number\""), "{violation}");

    let missing = records[2].outcome.as_ref().unwrap_err();
    assert!(missing.to_string().contains("at /: \"value\" is a required property"), "{missing}");

    let invented = records[3].outcome.as_ref().unwrap_err();
    assert_eq!(invented.to_string(), "unknown tool `teleport`; available tools: get_weather, get_time, convert_units");

    let good = records[4].outcome.as_ref().unwrap();
    assert!((good["result"].as_f64().unwrap() - 6.2137).abs() < 1e-3);

    // What the model read: one tool message per call, errors as {"error": "..."}.
    let tool_messages: Vec<Value> = output
        .messages
        .iter()
        .filter(|message| message.role() == "tool")
        .map(|message| serde_json::from_str(&message.text().unwrap()).unwrap())
        .collect();
    assert_eq!(tool_messages.len(), 5);
    for (message, record) in tool_messages.iter().zip(&records).take(4) {
        assert_eq!(message["error"], record.outcome.as_ref().unwrap_err().to_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_tool_is_reported_to_the_model_and_the_loop_goes_on() {
    let emulator = emulator().await;
    let client = emulator.client().unwrap();
    let registry = ToolRegistry::new()
        .with(typed_tool("book_hotel", "Book a hotel in a city", |args: WeatherArgs, _: ToolContext| async move {
            Err::<Value, _>(ToolError::failed(format!("no rooms left in {}", args.city)))
        }))
        .unwrap();
    let output = ToolLoop::new(registry)
        .tool_choice(ToolChoice::function("book_hotel"))
        .run(&client, "gpt-4o", ask("Book a hotel in Paris."))
        .await
        .unwrap();
    let record = output.tool_calls().next().unwrap();
    let error = record.outcome.as_ref().unwrap_err();
    assert!(matches!(error, ToolError::Failed { .. }));
    assert!(error.to_string().starts_with("no rooms left in "));
    assert_eq!(record.content(), json!({"error": error.to_string()}).to_string());
    // The emulator's final answer quotes the tool message, error included.
    assert!(output.text().unwrap().contains("no rooms left in "), "{:?}", output.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_tool_is_a_failure_not_a_crash() {
    let emulator = emulator().await;
    let client = emulator.client().unwrap();
    let registry = ToolRegistry::new()
        .with(typed_tool("explode", "Always panics", |_: NoArgs, _: ToolContext| async move {
            if true {
                panic!("boom");
            }
            Ok(())
        }))
        .unwrap();
    let output = ToolLoop::new(registry)
        .tool_choice(ToolChoice::function("explode"))
        .run(&client, "gpt-4o", ask("Explode."))
        .await
        .unwrap();
    let error = output.tool_calls().next().unwrap().outcome.as_ref().unwrap_err();
    assert_eq!(error.to_string(), "`explode` failed unexpectedly (it panicked)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_tool_times_out_and_the_model_is_told() {
    let emulator = emulator().await;
    let client = emulator.client().unwrap();
    let registry = ToolRegistry::new()
        .with(typed_tool("slow_search", "Search slowly", |_: NoArgs, _: ToolContext| async move {
            std::future::pending::<()>().await;
            Ok(())
        }))
        .unwrap()
        .with(typed_tool("fast_search", "Search quickly", |_: NoArgs, _: ToolContext| async move { Ok("found") }))
        .unwrap();
    let output = ToolLoop::new(registry)
        .tool_choice(ToolChoice::Required)
        .tool_timeout(Duration::from_millis(200))
        .run(&client, "gpt-4o", ask("Search for hotels."))
        .await
        .unwrap();
    let records: Vec<&ToolCallRecord> = output.tool_calls().collect();
    assert_eq!(records.len(), 2, "{records:#?}");
    let slow = records.iter().find(|record| record.name == "slow_search").unwrap();
    assert_eq!(
        slow.outcome.as_ref().unwrap_err(),
        &ToolError::TimedOut { tool: "slow_search".to_owned(), limit: Duration::from_millis(200) }
    );
    assert!(slow.duration >= Duration::from_millis(200));
    let fast = records.iter().find(|record| record.name == "fast_search").unwrap();
    assert_eq!(fast.outcome.as_ref().unwrap(), &json!("found"));
    assert!(output.text().unwrap().contains("did not finish within 200ms"), "{:?}", output.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_round_limit_is_a_typed_error_with_everything_done_so_far() {
    let emulator = emulator().await;
    let client = emulator.client().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let tools = ToolLoop::new(travel_registry(calls.clone()))
        .tool_choice(ToolChoice::function("get_weather"))
        .repeat_tool_choice(true)
        .max_rounds(3);
    let error = tools.run(&client, "gpt-4o", ask("Weather in Paris?")).await.unwrap_err();
    let LoopError::RoundLimit { rounds, partial } = &error else { panic!("{error:?}") };
    assert_eq!(*rounds, 3);
    assert_eq!(error.to_string(), "the model still called tools after 3 rounds (the limit)");
    assert_eq!(partial.rounds.len(), 3);
    // The last round's calls were not run: two rounds of one call each ran.
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(partial.rounds[2].tool_calls.is_empty());
    assert_eq!(partial.response.tool_calls().len(), 1);
    assert_eq!(partial.usage, sum_of_rounds(partial));
    assert_eq!(
        roles(&partial.messages),
        ["system", "user", "assistant", "tool", "assistant", "tool"],
        "the transcript ends with the last answered round"
    );
    assert_eq!(emulator.stats().deployment("gpt-4o").map(|deployment| deployment.served), Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_request_names_its_round() {
    let emulator = emulator().await;
    let client = emulator.client().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let error = ToolLoop::new(travel_registry(calls))
        .run(&client, "no-such-deployment", ask("Weather in Paris?"))
        .await
        .unwrap_err();
    assert!(matches!(error, LoopError::Request { round: 1, .. }), "{error:?}");
    assert_eq!(error.request_error().map(|error| error.kind_name()), Some("not_found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_streaming_variant_assembles_calls_and_matches_the_whole_answers() {
    let emulator = emulator().await;
    let client = emulator.client().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let tools =
        ToolLoop::new(travel_registry(calls.clone())).tool_choice(ToolChoice::Required).parallel_tool_calls(true);
    let question = "Weather and time in Paris, and 10 km in miles?";

    let mut chunks_per_round = [0_usize; 3];
    let mut tool_events = Vec::new();
    let streamed = tools
        .run_streaming(&client, "gpt-4o", ask(question), |event| match event {
            LoopEvent::Chunk { round, .. } => chunks_per_round[round as usize] += 1,
            LoopEvent::ToolCall { round, record } => tool_events.push((round, record.name.clone())),
            _ => {}
        })
        .await
        .unwrap();
    let whole = tools.run(&client, "gpt-4o", ask(question)).await.unwrap();

    assert!(chunks_per_round[1] > 3 && chunks_per_round[2] > 3, "{chunks_per_round:?}");
    assert_eq!(streamed.rounds.len(), 2);
    let streamed_calls: Vec<(&str, &str)> =
        streamed.tool_calls().map(|call| (call.name.as_str(), call.arguments.as_str())).collect();
    let whole_calls: Vec<(&str, &str)> =
        whole.tool_calls().map(|call| (call.name.as_str(), call.arguments.as_str())).collect();
    assert_eq!(streamed_calls.len(), 3);
    assert_eq!(streamed_calls, whole_calls, "the streamed fragments assemble into the same calls");
    assert!(streamed.tool_calls().all(|call| call.outcome.is_ok()), "{:#?}", streamed.rounds);
    // Events come as calls finish; the records keep the model's order.
    let mut event_names: Vec<(u32, &str)> = tool_events.iter().map(|(round, name)| (*round, name.as_str())).collect();
    let mut record_names: Vec<(u32, &str)> = streamed.tool_calls().map(|call| (1, call.name.as_str())).collect();
    event_names.sort_unstable();
    record_names.sort_unstable();
    assert_eq!(event_names, record_names);
    assert_eq!(streamed.text(), whole.text());
    assert!(streamed.rounds.iter().all(|round| round.usage.is_some()), "include_usage is requested");
    assert_eq!(streamed.usage, whole.usage);
    assert_eq!(streamed.usage, sum_of_rounds(&streamed));
}

#[test]
fn each_tool_call_has_a_span_inside_the_loop_span() {
    use tracing_subscriber::fmt::format::FmtSpan;

    #[derive(Clone, Default)]
    struct Buffer(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_span_events(FmtSpan::CLOSE)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let emulator = emulator().await;
            let client = emulator.client().unwrap();
            let calls = Arc::new(AtomicUsize::new(0));
            ToolLoop::new(travel_registry(calls))
                .tool_choice(ToolChoice::function("get_time"))
                .run(&client, "gpt-4o", ask("Time in Paris?"))
                .await
                .unwrap();
        });
    });
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let tool_line = text
        .lines()
        .find(|line| line.contains("execute_tool{") && line.contains("close"))
        .unwrap_or_else(|| panic!("no execute_tool span:\n{text}"));
    assert!(tool_line.contains("tool_loop{"), "not inside the loop span: {tool_line}");
    for field in
        ["gen_ai.tool.name=\"get_time\"", "gen_ai.tool.call.id=\"call_", "gen_ai.operation.name=\"execute_tool\""]
    {
        assert!(tool_line.contains(field), "{field} missing: {tool_line}");
    }
    let loop_line = text
        .lines()
        .find(|line| line.contains("tool_loop{") && line.contains("aoai.tool_loop.rounds=2"))
        .unwrap_or_else(|| panic!("no closed tool_loop span with its rounds:\n{text}"));
    assert!(loop_line.contains("aoai.tool_loop.tool_calls=1"), "{loop_line}");
}
