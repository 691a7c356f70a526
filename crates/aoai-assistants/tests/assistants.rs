//! Assistants through the real client against the emulator on loopback:
//! threads on each backend, file_search citations, tools that fail or hang,
//! the round limit, typed output, background runs, streamed runs, and
//! saved threads.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use aoai_assistants::error::Error;
use aoai_assistants::{Assistant, RunEvent, Thread, ThreadBackend, ThreadState};
use aoai_core::clock::{ManualClock, Time};
use aoai_core::response::Response;
use aoai_core::responses::{PollOptions, ResponseDeleted, ResponseObject, ResponseRequest, ResponseStream};
use aoai_core::retry::RetryPolicy;
use aoai_core::routing::Endpoint;
use aoai_core::vector_stores::{CreateVectorStore, PollOptions as IngestPoll};
use aoai_core::{Client, ResponsesApi};
use aoai_emulator::{Emulator, EmulatorHandle};
use aoai_tools::{ToolContext, ToolError, typed_tool};
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

const DEPLOYMENT: &str = "gpt-4o";
const LEAVE: &str = "Holiday policy. Every employee receives twenty-five days of paid annual leave. \
                     Unused leave days carry over to the next year, up to five days.";
const BIKES: &str = "Commuting. Bicycles are parked in the basement garage; showers are on the second floor.";

fn client(emulator: &EmulatorHandle) -> Client {
    emulator.client_builder().retry(RetryPolicy::none()).build().unwrap()
}

/// A server that does not store responses, as some OpenAI-compatible local
/// servers: every request goes out with `store: false`.
struct Unstored(Client);

#[async_trait]
impl ResponsesApi for Unstored {
    async fn create_response(
        &self,
        deployment: &str,
        request: &ResponseRequest,
    ) -> aoai_core::Result<Response<ResponseObject>> {
        self.0.create_response(deployment, &request.clone().store(false)).await
    }
    async fn create_response_stream(
        &self,
        deployment: &str,
        request: &ResponseRequest,
    ) -> aoai_core::Result<ResponseStream> {
        self.0.create_response_stream(deployment, &request.clone().store(false)).await
    }
    async fn get_response(&self, id: &str, include: &[&str]) -> aoai_core::Result<Response<ResponseObject>> {
        self.0.get_response(id, include).await
    }
    async fn delete_response(&self, id: &str) -> aoai_core::Result<Response<ResponseDeleted>> {
        self.0.delete_response(id).await
    }
    async fn cancel_response(&self, id: &str) -> aoai_core::Result<Response<ResponseObject>> {
        self.0.cancel_response(id).await
    }
    async fn resume_response_stream(&self, id: &str, after: Option<u64>) -> aoai_core::Result<ResponseStream> {
        self.0.resume_response_stream(id, after).await
    }
}

async fn assert_remembers<C: ResponsesApi>(assistant: &Assistant<C>, thread: &Thread, label: &str) {
    let first = assistant.run(thread, "My favourite river is the Danube.").await.unwrap();
    assert!(!first.text.is_empty(), "{label}");
    let second = assistant.run(thread, "What did I say before?").await.unwrap();
    assert!(second.text.contains("favourite river is the Danube"), "{label}: {}", second.text);
    assert_eq!(second.thread_id, thread.id(), "{label}");
}

#[tokio::test]
async fn every_backend_remembers_the_earlier_turn() {
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator);
    let assistant = Assistant::builder(client.clone(), DEPLOYMENT)
        .instructions("Answer briefly.")
        .conversations(client.clone())
        .build()
        .unwrap();
    for backend in [ThreadBackend::Conversation, ThreadBackend::ResponseChain, ThreadBackend::ClientSide] {
        let thread = assistant.create_thread_on(backend).await.unwrap();
        assert_eq!(thread.backend(), backend);
        assert_remembers(&assistant, &thread, backend.name()).await;
        match thread.save() {
            ThreadState::Conversation { conversation_id } => assert!(conversation_id.starts_with("conv_")),
            ThreadState::ResponseChain { last_response_id, .. } => {
                assert!(last_response_id.unwrap().starts_with("resp_"));
                assert!(thread.id().starts_with("resp_"));
            }
            ThreadState::ClientSide { items, .. } => assert_eq!(items.len(), 4, "two questions, two answers"),
            other => panic!("{other:?}"),
        }
    }
    // A fresh thread knows nothing of another thread.
    let other = assistant.create_thread_on(ThreadBackend::ClientSide).await.unwrap();
    let answer = assistant.run(&other, "What did I say before?").await.unwrap();
    assert!(!answer.text.contains("Danube"), "{}", answer.text);
}

#[tokio::test]
async fn auto_probes_once_and_falls_back() {
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator);

    // Conversations served: a conversation thread.
    let assistant = Assistant::builder(client.clone(), DEPLOYMENT).conversations(client.clone()).build().unwrap();
    let thread = assistant.create_thread().await.unwrap();
    assert_eq!(thread.backend(), ThreadBackend::Conversation);
    assert_eq!(assistant.chosen_backend(), Some(ThreadBackend::Conversation));
    assert_eq!(assistant.create_thread().await.unwrap().backend(), ThreadBackend::Conversation);

    // Conversations answered with a real 404 (a base path the server does not serve): a chain, checked.
    let nowhere = Client::builder(Endpoint::openai(&format!("{}/nowhere/v1", emulator.base_url())).unwrap())
        .api_key(emulator.api_key())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let assistant = Assistant::builder(client.clone(), DEPLOYMENT).conversations(nowhere).build().unwrap();
    let thread = assistant.create_thread().await.unwrap();
    assert_eq!(thread.backend(), ThreadBackend::ResponseChain);
    assert_eq!(assistant.chosen_backend(), None, "not chosen until the first answer is read back");
    assert_remembers(&assistant, &thread, "auto chain").await;
    assert_eq!(assistant.chosen_backend(), Some(ThreadBackend::ResponseChain));
    assert_eq!(thread.backend(), ThreadBackend::ResponseChain);

    // Responses not stored: the thread turns client-side after its first answer and still remembers.
    let assistant = Assistant::builder(Unstored(client.clone()), DEPLOYMENT).build().unwrap();
    let thread = assistant.create_thread().await.unwrap();
    assert_remembers(&assistant, &thread, "auto unstored").await;
    assert_eq!(thread.backend(), ThreadBackend::ClientSide);
    assert_eq!(assistant.chosen_backend(), Some(ThreadBackend::ClientSide));
    assert_eq!(assistant.create_thread().await.unwrap().backend(), ThreadBackend::ClientSide);
}

#[tokio::test]
async fn file_search_answers_cite_the_right_file_with_its_passage() {
    let clock = ManualClock::new();
    let emulator =
        Emulator::builder().time(Time::manual(&clock)).batch_step(Duration::from_secs(1)).start().await.unwrap();
    let client = emulator.client_builder().retry(RetryPolicy::none()).time(Time::manual(&clock)).build().unwrap();
    let store = client.create_vector_store(&CreateVectorStore::new().name("handbook")).await.unwrap().body;
    let files = vec![("leave.md".to_owned(), Bytes::from(LEAVE)), ("bikes.md".to_owned(), Bytes::from(BIKES))];
    let report = client.upload_files_to_vector_store(&store.id, files, &IngestPoll::default(), &mut |_| {}).await;
    let report = report.unwrap();
    assert!(report.all_completed());

    let assistant = Assistant::builder(client.clone(), DEPLOYMENT)
        .instructions("Answer from the handbook.")
        .file_search([store.id.clone()])
        .build()
        .unwrap();
    let thread = assistant.create_thread_on(ThreadBackend::ResponseChain).await.unwrap();
    let result = assistant.run(&thread, "How many days of paid annual leave does an employee receive?").await.unwrap();
    assert!(!result.citations.is_empty(), "{}", result.text);
    assert!(!result.passages.is_empty());
    let length = result.text.chars().count();
    for citation in &result.citations {
        assert_eq!(citation.filename, "leave.md");
        assert!(citation.file_id.starts_with("file"), "{citation:?}");
        assert!(citation.quote.as_deref().unwrap().contains("twenty-five days"), "{citation:?}");
        assert!(citation.position <= length, "{citation:?} in {length} characters");
    }
    assert_eq!(result.rounds, 1);
    assert!(result.tool_calls.is_empty());
    assert_eq!(result.request_ids.len(), 1);

    // Streamed: the same shape, and the events on the way.
    let mut events = assistant.run_stream(&thread, "How many days of paid annual leave does an employee receive?");
    let (mut text, mut cited, mut searched) = (String::new(), Vec::new(), 0);
    let mut completed = None;
    while let Some(event) = events.next().await {
        match event {
            RunEvent::TextDelta { delta, .. } => text.push_str(&delta),
            RunEvent::CitationAdded(citation) => cited.push(citation),
            RunEvent::FileSearchResults { results, .. } => searched += results.len(),
            RunEvent::Completed(result) => completed = Some(result),
            RunEvent::Failed(error) => panic!("{error}"),
            _ => {}
        }
    }
    let streamed = completed.unwrap();
    assert_eq!(streamed.text, text);
    assert_eq!(streamed.citations, cited);
    assert_eq!(searched, streamed.passages.len());
    assert_eq!(streamed.citations.len(), result.citations.len());
    assert!(streamed.citations.iter().all(|citation| citation.filename == "leave.md" && citation.quote.is_some()));
    assert_eq!(streamed.request_ids.len(), 1);
    assert_eq!(thread.id(), streamed.response_ids[0]);
}

#[derive(Deserialize, JsonSchema)]
struct City {
    /// The city.
    city: String,
}

#[tokio::test]
async fn a_failing_tool_is_reported_to_the_model_and_the_run_completes() {
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator);
    let weather = typed_tool("get_weather", "Get the current weather in a city", |_: City, _: ToolContext| async {
        Err::<(), _>(ToolError::failed("the weather service is down"))
    });
    let assistant = Assistant::builder(client.clone(), DEPLOYMENT).tool(weather).build().unwrap();
    for backend in [ThreadBackend::ResponseChain, ThreadBackend::ClientSide] {
        let thread = assistant.create_thread_on(backend).await.unwrap();
        let result = assistant.run(&thread, "What is the weather in Paris?").await.unwrap();
        assert_eq!(result.rounds, 2, "{}", backend.name());
        assert_eq!(result.tool_calls.len(), 1);
        let call = &result.tool_calls[0];
        assert_eq!(call.name, "get_weather");
        assert!(matches!(call.error, Some(ToolError::Failed { .. })), "{call:?}");
        assert!(call.output.contains("the weather service is down"));
        assert!(result.text.contains("the weather service is down"), "{}", result.text);
        assert_eq!(result.response_ids.len(), 2);
        assert!(result.usage.total_tokens > 0);
    }

    // A tool that never finishes times out; the model reads the timeout.
    let hangs = typed_tool("get_weather", "Get the current weather in a city", |_: City, _: ToolContext| async {
        std::future::pending::<Result<(), ToolError>>().await
    });
    let assistant = Assistant::builder(client.clone(), DEPLOYMENT)
        .tool(hangs)
        .tool_timeout(Duration::from_millis(20))
        .build()
        .unwrap();
    let thread = assistant.create_thread_on(ThreadBackend::ResponseChain).await.unwrap();
    // A tool that panics is a failed call too.
    let panics = typed_tool("get_weather", "Get the current weather in a city", |_: City, _: ToolContext| async {
        if true {
            panic!("boom");
        }
        Ok(())
    });
    let panicky = Assistant::builder(client.clone(), DEPLOYMENT).tool(panics).build().unwrap();
    let result = panicky.run(&thread, "What is the weather in Paris?").await.unwrap();
    assert!(result.tool_calls[0].output.contains("panicked"), "{:?}", result.tool_calls);
    let thread = assistant.create_thread_on(ThreadBackend::Conversation).await;
    assert!(matches!(thread, Err(Error::Config(_))), "no conversations client given");
    let thread = assistant.create_thread_on(ThreadBackend::ResponseChain).await.unwrap();
    let result = assistant.run(&thread, "What is the weather in Paris?").await.unwrap();
    assert!(matches!(result.tool_calls[0].error, Some(ToolError::TimedOut { .. })));
    assert!(result.text.contains("did not finish"), "{}", result.text);
}

#[tokio::test]
async fn tool_rounds_run_on_a_conversation_and_stream_their_events() {
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator);
    let weather =
        typed_tool("get_weather", "Get the current weather in a city", |city: City, _: ToolContext| async move {
            Ok(json!({"city": city.city, "celsius": 21}))
        });
    let assistant =
        Assistant::builder(client.clone(), DEPLOYMENT).tool(weather).conversations(client.clone()).build().unwrap();
    let thread = assistant.create_thread_on(ThreadBackend::Conversation).await.unwrap();
    let run = assistant.run(&thread, "What is the weather in Paris?").await.unwrap();
    assert_eq!(run.tool_calls.len(), 1);
    assert!(run.tool_calls[0].error.is_none());
    assert!(run.text.contains("\"celsius\":21"), "{}", run.text);

    let mut events = assistant.run_stream(&thread, "What is the weather in Paris?");
    let mut kinds = Vec::new();
    let mut streamed = None;
    while let Some(event) = events.next().await {
        kinds.push(match &event {
            RunEvent::RoundStarted { .. } => "round",
            RunEvent::TextDelta { .. } => "text",
            RunEvent::ToolCallStarted { .. } => "tool started",
            RunEvent::ToolCallFinished(_) => "tool finished",
            RunEvent::Completed(_) => "completed",
            RunEvent::Failed(error) => panic!("{error}"),
            _ => "other",
        });
        if let RunEvent::Completed(result) = event {
            streamed = Some(result);
        }
    }
    kinds.dedup();
    assert_eq!(kinds, ["round", "tool started", "tool finished", "round", "text", "completed"]);
    let streamed = streamed.unwrap();
    assert_eq!(streamed.rounds, run.rounds);
    assert_eq!(streamed.tool_calls.len(), run.tool_calls.len());
    assert_eq!(streamed.tool_calls[0].name, run.tool_calls[0].name);
    assert_eq!(streamed.tool_calls[0].output, run.tool_calls[0].output);
    assert_eq!(streamed.response_ids.len(), 2);
    assert_eq!(streamed.thread_id, thread.id());
}

#[tokio::test]
async fn a_run_past_its_rounds_stops_with_the_partial_result() {
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator);
    let weather =
        typed_tool("get_weather", "Get the current weather in a city", |_: City, _: ToolContext| async { Ok("sunny") });
    let assistant = Assistant::builder(client, DEPLOYMENT).tool(weather).max_rounds(1).build().unwrap();
    let thread = assistant.create_thread_on(ThreadBackend::ResponseChain).await.unwrap();
    let error = assistant.run(&thread, "What is the weather in Paris?").await.unwrap_err();
    let Error::RoundLimit(limit) = &error else { panic!("{error:?}") };
    assert_eq!(limit.rounds(), 1);
    let partial = error.partial().unwrap();
    assert_eq!(partial.pending_calls.len(), 1);
    assert_eq!(partial.pending_calls[0].name, "get_weather");
    assert!(partial.tool_calls.is_empty());
    assert_eq!(partial.response_ids.len(), 1);
    assert!(partial.usage.total_tokens > 0);
    // The failed turn left the thread where it was.
    assert!(!thread.id().starts_with("resp_"));

    let zero = Assistant::builder(emulator.client().unwrap(), DEPLOYMENT).max_rounds(0).build();
    assert!(matches!(zero, Err(Error::Config(_))));
}

#[derive(Debug, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
struct Trip {
    /// Where to.
    destination: String,
    /// How many days.
    days: u32,
}

#[tokio::test]
async fn a_typed_output_is_checked_and_parsed() {
    let emulator = Emulator::start().await.unwrap();
    let assistant = Assistant::builder(client(&emulator), DEPLOYMENT).output_type::<Trip>().build().unwrap();
    let thread = assistant.create_thread_on(ThreadBackend::ClientSide).await.unwrap();
    let result = assistant.run(&thread, "Plan a trip to Lisbon.").await.unwrap();
    let value = result.output.clone().unwrap();
    assert!(value["destination"].is_string(), "{value}");
    let trip: Trip = result.parse().unwrap();
    assert_eq!(json!(trip.destination), value["destination"]);
    assert!(result.parse::<Vec<u8>>().is_err());
}

#[tokio::test]
async fn background_runs_complete_when_polled_and_cancel() {
    let clock = ManualClock::new();
    let emulator =
        Emulator::builder().time(Time::manual(&clock)).response_step(Duration::from_secs(2)).start().await.unwrap();
    let client = emulator.client_builder().retry(RetryPolicy::none()).time(Time::manual(&clock)).build().unwrap();
    let assistant = Assistant::builder(client.clone(), DEPLOYMENT)
        .time(Time::manual(&clock))
        .poll_options(PollOptions::default())
        .conversations(client.clone())
        .build()
        .unwrap();
    for backend in [ThreadBackend::ResponseChain, ThreadBackend::Conversation] {
        let thread = assistant.create_thread_on(backend).await.unwrap();
        let run = assistant.start_background(&thread, "My favourite river is the Danube.").await.unwrap();
        assert!(run.response_id.starts_with("resp_"));
        let saved: aoai_assistants::BackgroundRun =
            serde_json::from_str(&serde_json::to_string(&run).unwrap()).unwrap();
        let result = assistant.poll(&thread, &saved).await.unwrap();
        assert!(!result.text.is_empty());
        assert_eq!(result.response_ids, std::slice::from_ref(&run.response_id));
        // The background turn is part of the thread.
        let recall = assistant.run(&thread, "What did I say before?").await.unwrap();
        assert!(recall.text.contains("Danube"), "{}: {}", backend.name(), recall.text);

        let run = assistant.start_background(&thread, "Tell me about rivers.").await.unwrap();
        let cancelled = assistant.cancel(&run).await.unwrap();
        assert_eq!(cancelled.status.as_str(), "cancelled");
        let error = assistant.poll(&thread, &run).await.unwrap_err();
        let Error::Response(ended) = &error else { panic!("{error:?}") };
        assert_eq!(ended.status(), "cancelled");
    }
    let local = assistant.create_thread_on(ThreadBackend::ClientSide).await.unwrap();
    let error = assistant.start_background(&local, "Hi").await.unwrap_err();
    assert!(matches!(error, Error::Unsupported(_)));
}

/// The texts and markers of a streamed run's events.
#[derive(Default)]
struct Seen {
    text: String,
    started: Option<aoai_assistants::BackgroundRun>,
    resumed: Vec<(u32, Option<u64>)>,
    tools: usize,
    result: Option<aoai_assistants::RunResult>,
}

async fn watch(mut events: aoai_assistants::RunStream<'_>) -> Seen {
    let mut seen = Seen::default();
    while let Some(event) = events.next().await {
        match event {
            RunEvent::TextDelta { delta, .. } => seen.text.push_str(&delta),
            RunEvent::BackgroundStarted(run) => seen.started = Some(run),
            RunEvent::Resumed { round, after, .. } => seen.resumed.push((round, after)),
            RunEvent::ToolCallFinished(_) => seen.tools += 1,
            RunEvent::Completed(result) => seen.result = Some(*result),
            RunEvent::Failed(error) => panic!("{error:?}"),
            _ => {}
        }
    }
    seen
}

#[tokio::test]
async fn a_background_stream_that_breaks_is_resumed_without_repeating_text() {
    use aoai_emulator::DeploymentConfig;
    use aoai_emulator::faults::{Fault, FaultConfig};
    // The first request's stream is cut part-way; the response goes on on the server.
    let emulator = Emulator::builder()
        .deployment(
            DeploymentConfig::new(DEPLOYMENT, "gpt-4o")
                .faults(FaultConfig::default().sequence([Some(Fault::StreamCut)]).repeat(false)),
        )
        .response_step(Duration::from_millis(5))
        .start()
        .await
        .unwrap();
    let client = client(&emulator);
    let assistant = Assistant::builder(client.clone(), DEPLOYMENT).build().unwrap();
    let thread = assistant.create_thread_on(ThreadBackend::ResponseChain).await.unwrap();
    let seen = watch(assistant.start_background_stream(&thread, "My favourite river is the Danube.")).await;
    let run = seen.started.clone().expect("the run is announced");
    assert_eq!(seen.resumed.len(), 1, "one break, one resume");
    assert!(seen.resumed[0].1.is_some(), "resumed after the last event read");
    let result = seen.result.unwrap();
    assert!(!result.text.is_empty());
    // Every piece of the answer arrived exactly once.
    assert_eq!(seen.text, result.text);
    assert_eq!(result.response_ids, std::slice::from_ref(&run.response_id));
    // The turn is in the thread.
    let recall = assistant.run(&thread, "What did I say before?").await.unwrap();
    assert!(recall.text.contains("Danube"), "{}", recall.text);

    // Another process with the saved run: the whole answer again, from the first event…
    let saved: aoai_assistants::BackgroundRun = serde_json::from_str(&serde_json::to_string(&run).unwrap()).unwrap();
    let other = Thread::resume(serde_json::from_str(&serde_json::to_string(&thread.save()).unwrap()).unwrap());
    let again = watch(assistant.resume_stream(&other, &saved)).await;
    assert_eq!(again.text, result.text);
    assert!(again.resumed.is_empty());
    assert_eq!(again.result.unwrap().text, result.text);
    // …or only what came after a given event (deltas start after the
    // created, queued, in-progress, item-added and part-added events).
    let tail = watch(assistant.resume_stream(&other, &saved.clone().starting_after(10))).await;
    assert!(result.text.ends_with(&tail.text) && tail.text.len() < result.text.len(), "{:?}", tail.text);

    // A client-side thread cannot run in the background.
    let local = assistant.create_thread_on(ThreadBackend::ClientSide).await.unwrap();
    let mut events = assistant.start_background_stream(&local, "Hi");
    let mut failed = None;
    while let Some(event) = events.next().await {
        if let RunEvent::Failed(error) = event {
            failed = Some(error);
        }
    }
    assert!(matches!(failed, Some(Error::Unsupported(_))), "{failed:?}");
}

#[tokio::test]
async fn a_background_stream_runs_its_tool_rounds_in_the_foreground() {
    let emulator = Emulator::builder().response_step(Duration::from_millis(5)).start().await.unwrap();
    let client = client(&emulator);
    let assistant = Assistant::builder(client.clone(), DEPLOYMENT)
        .tool(typed_tool("get_weather", "Current weather in a city", |args: City, _: ToolContext| async move {
            Ok::<_, ToolError>(json!({"city": args.city, "celsius": 18}))
        }))
        .tool_choice(aoai_core::responses::ResponseToolChoice::function("get_weather"))
        .build()
        .unwrap();
    let thread = assistant.create_thread_on(ThreadBackend::ResponseChain).await.unwrap();
    let seen = watch(assistant.start_background_stream(&thread, "What is the weather in Paris?")).await;
    assert!(seen.started.is_some());
    assert_eq!(seen.tools, 1);
    let result = seen.result.unwrap();
    assert_eq!(result.rounds, 2);
    assert_eq!(result.tool_calls[0].name, "get_weather");
    assert!(!result.text.is_empty());
}

#[tokio::test]
async fn saved_threads_resume_in_a_new_assistant() {
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator);
    for backend in [ThreadBackend::Conversation, ThreadBackend::ResponseChain, ThreadBackend::ClientSide] {
        let assistant = Assistant::builder(client.clone(), DEPLOYMENT).conversations(client.clone()).build().unwrap();
        let thread = assistant.create_thread_on(backend).await.unwrap();
        assistant.run(&thread, "My favourite river is the Danube.").await.unwrap();
        let saved = serde_json::to_string(&thread.save()).unwrap();
        drop(thread);

        let other = Assistant::builder(client.clone(), DEPLOYMENT).conversations(client.clone()).build().unwrap();
        let resumed = Thread::resume(serde_json::from_str(&saved).unwrap());
        assert_eq!(resumed.backend(), backend);
        let answer = other.run(&resumed, "What did I say before?").await.unwrap();
        assert!(answer.text.contains("Danube"), "{}: {}", backend.name(), answer.text);
    }
    // By id: a conversation id or a response id.
    let assistant = Assistant::builder(client.clone(), DEPLOYMENT).build().unwrap();
    let thread = assistant.create_thread_on(ThreadBackend::ResponseChain).await.unwrap();
    assistant.run(&thread, "My favourite river is the Danube.").await.unwrap();
    let resumed = Thread::from_response(thread.id());
    let answer = assistant.run(&resumed, "What did I say before?").await.unwrap();
    assert!(answer.text.contains("Danube"), "{}", answer.text);
}

#[tokio::test]
async fn parallel_calls_run_concurrently_and_serial_ones_one_at_a_time() {
    use std::sync::Arc;

    use aoai_core::responses::{ResponseToolChoice, ToolChoiceMode};
    use tokio::sync::Barrier;

    let emulator = Emulator::start().await.unwrap();
    // Both tools wait for each other: only concurrent calls get past the barrier in time.
    let barrier = Arc::new(Barrier::new(2));
    let tool = |name: &'static str, description: &'static str| {
        let barrier = barrier.clone();
        typed_tool(name, description, move |city: City, _: ToolContext| {
            let barrier = barrier.clone();
            async move {
                barrier.wait().await;
                Ok(json!({"city": city.city}))
            }
        })
    };
    let assistant = Assistant::builder(client(&emulator), DEPLOYMENT)
        .tool(tool("get_weather", "Get the current weather in a city"))
        .tool(tool("get_forecast", "Get the weather forecast for a city"))
        .tool_choice(ResponseToolChoice::Mode(ToolChoiceMode::Required))
        .tool_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let thread = assistant.create_thread_on(ThreadBackend::ClientSide).await.unwrap();
    let result = assistant.run(&thread, "Weather forecast for Paris?").await.unwrap();
    assert_eq!(result.tool_calls.len(), 2);
    assert!(result.tool_calls.iter().all(|call| call.error.is_none()), "{:?}", result.tool_calls);
    assert_eq!(result.rounds, 2, "tool_choice applies to the first round only");
    let mut names: Vec<&str> = result.tool_calls.iter().map(|call| call.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["get_forecast", "get_weather"]);

    // Without parallel calls the model asks for one at a time, and it runs alone.
    let serial = Assistant::builder(client(&emulator), DEPLOYMENT)
        .tool(typed_tool("get_weather", "Get the current weather in a city", |_: City, _: ToolContext| async {
            Ok("sunny")
        }))
        .tool(typed_tool("get_forecast", "Get the weather forecast for a city", |_: City, _: ToolContext| async {
            Ok("rain")
        }))
        .tool_choice(ResponseToolChoice::Mode(ToolChoiceMode::Required))
        .parallel_tool_calls(false)
        .build()
        .unwrap();
    let result = serial.run(&thread, "Weather forecast for Paris?").await.unwrap();
    assert_eq!(result.tool_calls.len(), 1);
    assert_eq!(result.response.parallel_tool_calls, Some(false));
}
