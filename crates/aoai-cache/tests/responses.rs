//! `Cached` as a `ResponsesApi` over aoai-core's `Client` against a real
//! aoai-emulator (`/openai/v1/responses`): the emulator's stats prove which
//! requests reached the server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aoai_cache::{CacheMode, CacheStatus, Cached, MemoryCache};
use aoai_core::conversations::CreateConversation;
use aoai_core::responses::{
    ResponseAccumulator, ResponseEvent, ResponseObject, ResponseRequest, ResponseStatus, ResponseStream,
    ResponseStreamEvent, ResponseTool, ResponseToolChoice, kinds,
};
use aoai_core::{Client, ResponsesApi};
use aoai_emulator::config::LatencyModel;
use aoai_emulator::faults::{Fault, FaultConfig};
use aoai_emulator::{DeploymentConfig, Emulator, EmulatorHandle};
use futures_util::StreamExt;
use serde_json::json;

async fn emulator() -> EmulatorHandle {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cache.toml");
    Emulator::builder()
        .deployment(DeploymentConfig::new("chat", "gpt-4o"))
        .deployment(DeploymentConfig::new("chat-mini", "gpt-4o-mini"))
        .deployment(
            DeploymentConfig::new("slow", "gpt-4o")
                .latency(LatencyModel::new(Duration::from_millis(150), Duration::from_millis(1))),
        )
        .deployment(
            DeploymentConfig::new("cut", "gpt-4o")
                .faults(FaultConfig::default().sequence([Some(Fault::StreamCut)]).repeat(false)),
        )
        .blocklist(["zebra"])
        .fixtures(fixtures)
        .start()
        .await
        .unwrap()
}

/// A client of the emulator's `/openai/v1/` endpoint.
fn client(emulator: &EmulatorHandle) -> Client {
    Client::builder(emulator.v1_endpoint()).api_key(emulator.api_key()).build().unwrap()
}

fn served(emulator: &EmulatorHandle, deployment: &str) -> u64 {
    emulator.stats().deployment(deployment).map_or(0, |stats| stats.served)
}

fn cached(emulator: &EmulatorHandle) -> Cached<Client> {
    Cached::builder(client(emulator), MemoryCache::new()).namespace("emulator").build()
}

fn question(text: &str) -> ResponseRequest {
    ResponseRequest::new(text).instructions("Be terse.").temperature(0.0).max_output_tokens(60)
}

fn weather_tool() -> ResponseTool {
    ResponseTool::function(
        "get_weather",
        "Get the current weather in a city",
        json!({
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1, "maximum": 7}},
            "required": ["city", "days"],
            "additionalProperties": false
        }),
    )
}

async fn events(stream: ResponseStream) -> Vec<ResponseStreamEvent> {
    stream.collect::<Vec<_>>().await.into_iter().map(Result::unwrap).collect()
}

fn accumulate(events: &[ResponseStreamEvent]) -> ResponseObject {
    let mut accumulator = ResponseAccumulator::new();
    events.iter().for_each(|event| accumulator.push(event));
    accumulator.into_response()
}

/// The checks a replayed stream must pass: numbered from 0, in the service's
/// order, its output built by the events alone equal to `stored`'s.
fn assert_well_formed_replay(events: &[ResponseStreamEvent], stored: &ResponseObject) {
    let numbers: Vec<u64> = events.iter().map(|event| event.sequence_number.unwrap()).collect();
    assert_eq!(numbers, (0..events.len() as u64).collect::<Vec<_>>());
    let kinds: Vec<&str> = events.iter().map(ResponseStreamEvent::kind).collect();
    assert_eq!(&kinds[..3], [kinds::CREATED, kinds::IN_PROGRESS, kinds::OUTPUT_ITEM_ADDED], "{kinds:?}");
    assert_eq!(kinds[kinds.len() - 2..], [kinds::OUTPUT_ITEM_DONE, kinds::COMPLETED], "{kinds:?}");
    let mut accumulator = ResponseAccumulator::new();
    events[..events.len() - 1].iter().for_each(|event| accumulator.push(event));
    assert_eq!(accumulator.output(), stored.output.as_slice(), "the events alone rebuild the output");
    assert_eq!(&accumulate(events), stored);
}

#[tokio::test]
async fn a_response_hit_never_reaches_the_server_and_names_the_stored_original() {
    let emulator = emulator().await;
    let cached = cached(&emulator);
    let request = question("Capital of France?");
    let first = cached.create_response("chat", &request).await.unwrap();
    assert_eq!(CacheStatus::of(&first.meta), CacheStatus::Upstream);
    assert_eq!(first.body.status, ResponseStatus::Completed);
    assert_eq!(served(&emulator, "chat"), 1);

    let second = cached.create_response("chat", &request).await.unwrap();
    assert_eq!(CacheStatus::of(&second.meta), CacheStatus::Hit);
    assert_eq!(second.meta.attempts, 0);
    assert_eq!(second.body, first.body);
    assert_eq!(served(&emulator, "chat"), 1, "the hit reached the server");

    let stats = cached.stats();
    assert_eq!((stats.hits, stats.misses, stats.bypassed, stats.not_stored), (1, 1, 0, 0), "{stats}");
    let usage = first.body.usage.clone().unwrap();
    assert_eq!(stats.tokens_saved(), usage.input_tokens + usage.output_tokens);
    assert!(stats.cost_saved_usd > 0.0, "gpt-4o has a price");
    assert_eq!(stats.miss_prompt_tokens, usage.input_tokens);

    // `store` defaults to true: the hit's id is the stored original, which
    // reads back, and which a follow-up continues from.
    let stored = cached.get_response(&second.body.id, &[]).await.unwrap();
    assert_eq!(CacheStatus::of(&stored.meta), CacheStatus::Upstream, "get_response passes through");
    assert_eq!(stored.body, first.body);
    let follow_up = question("And of Italy?").previous_response_id(second.body.id.clone());
    let next = cached.create_response("chat", &follow_up).await.unwrap();
    assert_eq!(next.body.previous_response_id.as_deref(), Some(first.body.id.as_str()));
    assert_eq!(CacheStatus::of(&cached.create_response("chat", &follow_up).await.unwrap().meta), CacheStatus::Hit);
    assert_eq!(served(&emulator, "chat"), 2);
}

#[tokio::test]
async fn deployments_instructions_previous_ids_and_store_split_entries_and_tags_do_not() {
    let emulator = emulator().await;
    let cached = cached(&emulator);
    let request = question("Name a colour.");
    let first = cached.create_response("chat", &request).await.unwrap();
    assert_eq!(served(&emulator, "chat"), 1);

    // Tags and end-user ids never change the answer: one entry.
    let tagged = request.clone().user("alice").safety_identifier("hashed").prompt_cache_key("p").metadata("run", "7");
    let hit = cached.create_response("chat", &tagged.store(true)).await.unwrap();
    assert_eq!(CacheStatus::of(&hit.meta), CacheStatus::Hit);
    assert_eq!(hit.body, first.body);

    // What shapes the answer, or which deployment gives it, is another entry.
    let other_deployment = cached.create_response("chat-mini", &request).await.unwrap();
    assert_eq!(CacheStatus::of(&other_deployment.meta), CacheStatus::Upstream);
    assert_eq!(served(&emulator, "chat-mini"), 1);
    let misses = [
        request.clone().instructions("Answer in French."),
        request.clone().previous_response_id(first.body.id.clone()),
        request.clone().previous_response_id(other_deployment.body.id.clone()),
        request.clone().store(false),
    ];
    for (position, miss) in misses.iter().enumerate() {
        let response = cached.create_response("chat", miss).await.unwrap();
        assert_eq!(CacheStatus::of(&response.meta), CacheStatus::Upstream, "request {position}");
    }
    assert_eq!(served(&emulator, "chat"), 1 + misses.len() as u64);
    let stats = cached.stats();
    assert_eq!((stats.hits, stats.misses), (1, 2 + misses.len() as u64), "{stats}");
}

#[tokio::test]
async fn a_streamed_miss_passes_events_through_and_a_whole_request_hits_it() {
    let emulator = emulator().await;
    let cached = cached(&emulator);
    let request = question("Stream me a sentence about rivers.");

    let stream = cached.create_response_stream("chat", &request).await.unwrap();
    assert_eq!(CacheStatus::of(stream.meta()), CacheStatus::Upstream);
    assert!(stream.meta().request_id.is_some(), "the upstream's metadata");
    let live = events(stream).await;
    assert_eq!(served(&emulator, "chat"), 1);
    // Unchanged: the emulator numbers its events from 0 and ends with the
    // whole response, which the stored response is.
    let numbers: Vec<u64> = live.iter().map(|event| event.sequence_number.unwrap()).collect();
    assert_eq!(numbers, (0..live.len() as u64).collect::<Vec<_>>());
    let ResponseEvent::Completed(completed) = &live.last().unwrap().event else { panic!("{live:?}") };
    let live_response = accumulate(&live);
    assert_eq!(&live_response, &**completed);

    let whole = cached.create_response("chat", &request).await.unwrap();
    assert_eq!(CacheStatus::of(&whole.meta), CacheStatus::Hit);
    assert_eq!(whole.body, live_response);
    assert_eq!(served(&emulator, "chat"), 1);

    // A streamed request hits the same entry.
    let replayed = events(cached.create_response_stream("chat", &request).await.unwrap()).await;
    assert_well_formed_replay(&replayed, &live_response);
    assert_eq!(served(&emulator, "chat"), 1);
    let stats = cached.stats();
    assert_eq!((stats.hits, stats.misses, stats.not_stored), (2, 1, 0), "{stats}");
}

#[tokio::test]
async fn a_whole_miss_is_replayed_as_a_well_formed_event_stream() {
    let emulator = emulator().await;
    let cached = cached(&emulator);

    // Text.
    let request = question("Tell me about the rivers of Europe in two sentences.");
    let whole = cached.create_response("chat", &request).await.unwrap().body;
    let stream = cached.create_response_stream("chat", &request).await.unwrap();
    assert_eq!(CacheStatus::of(stream.meta()), CacheStatus::Hit);
    assert_eq!(stream.meta().attempts, 0);
    let replayed = events(stream).await;
    assert_well_formed_replay(&replayed, &whole);
    let kinds: Vec<&str> = replayed.iter().map(ResponseStreamEvent::kind).collect();
    assert_eq!(&kinds[3..4], [kinds::CONTENT_PART_ADDED], "a message's part opens before its text: {kinds:?}");
    assert!(kinds.iter().filter(|kind| **kind == kinds::OUTPUT_TEXT_DELTA).count() >= 2, "{kinds:?}");
    for kind in [kinds::OUTPUT_TEXT_DONE, kinds::CONTENT_PART_DONE] {
        assert!(kinds.contains(&kind), "{kind}: {kinds:?}");
    }

    // A function call: cached like text, replayed with its argument events.
    let forced =
        question("Hello there.").tools(vec![weather_tool()]).tool_choice(ResponseToolChoice::function("get_weather"));
    let call = cached.create_response("chat", &forced).await.unwrap().body;
    assert_eq!(call.function_calls().len(), 1);
    let replayed = events(cached.create_response_stream("chat", &forced).await.unwrap()).await;
    assert_well_formed_replay(&replayed, &call);
    let kinds: Vec<&str> = replayed.iter().map(ResponseStreamEvent::kind).collect();
    assert!(kinds.contains(&kinds::FUNCTION_CALL_ARGUMENTS_DELTA), "{kinds:?}");
    assert!(kinds.contains(&kinds::FUNCTION_CALL_ARGUMENTS_DONE), "{kinds:?}");
    assert_eq!(served(&emulator, "chat"), 2);
    assert_eq!(cached.stats().hits, 2);
}

#[tokio::test]
async fn background_and_conversation_requests_bypass_the_cache() {
    let emulator = emulator().await;
    let cached = cached(&emulator);
    let background = question("Work on this in the background.").background(true);
    for _ in 0..2 {
        let response = cached.create_response("chat", &background).await.unwrap();
        assert_eq!(CacheStatus::of(&response.meta), CacheStatus::Upstream);
    }
    assert_eq!(served(&emulator, "chat"), 2);

    let conversation = client(&emulator).create_conversation(&CreateConversation::new()).await.unwrap().body;
    let turn = question("Remember the number seven.").conversation(conversation.id.clone());
    for _ in 0..2 {
        let response = cached.create_response("chat", &turn).await.unwrap();
        assert_eq!(CacheStatus::of(&response.meta), CacheStatus::Upstream);
    }
    let stream = cached.create_response_stream("chat", &turn).await.unwrap();
    assert_eq!(CacheStatus::of(stream.meta()), CacheStatus::Upstream);
    stream.collect_response().await.unwrap();
    assert_eq!(served(&emulator, "chat"), 5);
    let stats = cached.stats();
    assert_eq!((stats.bypassed, stats.hits, stats.misses), (5, 0, 0), "{stats}");
}

#[tokio::test]
async fn sampled_responses_bypass_in_deterministic_only_and_are_cached_in_always() {
    let emulator = emulator().await;
    let cached = cached(&emulator);
    let sampled = ResponseRequest::new("Surprise me.").temperature(0.7);
    let unset = ResponseRequest::new("Surprise me.");
    for request in [&sampled, &sampled, &unset] {
        let response = cached.create_response("chat", request).await.unwrap();
        assert_eq!(CacheStatus::of(&response.meta), CacheStatus::Upstream);
    }
    assert_eq!(served(&emulator, "chat"), 3);
    assert_eq!(cached.stats().bypassed, 3);

    let always = Cached::builder(client(&emulator), MemoryCache::new()).mode(CacheMode::Always).build();
    always.create_response("chat", &sampled).await.unwrap();
    let hit = always.create_response("chat", &sampled).await.unwrap();
    assert_eq!(CacheStatus::of(&hit.meta), CacheStatus::Hit);
    assert_eq!(served(&emulator, "chat"), 4);
}

#[tokio::test]
async fn incomplete_filtered_and_cut_responses_are_not_stored() {
    let emulator = emulator().await;
    let cached = cached(&emulator);

    // Cut by max_output_tokens: incomplete, whole and streamed, never stored.
    let long =
        ResponseRequest::new("Tell me everything about the rivers of Europe.").temperature(0.0).max_output_tokens(16);
    for _ in 0..2 {
        let response = cached.create_response("chat", &long).await.unwrap();
        assert_eq!(response.body.status, ResponseStatus::Incomplete);
        assert_eq!(CacheStatus::of(&response.meta), CacheStatus::Upstream);
    }
    let stream = cached.create_response_stream("chat", &long).await.unwrap();
    assert_eq!(CacheStatus::of(stream.meta()), CacheStatus::Upstream);
    assert_eq!(events(stream).await.last().unwrap().kind(), kinds::INCOMPLETE);
    assert_eq!(served(&emulator, "chat"), 3);

    // An answer the content filter stops: incomplete, a blocked filter, never stored.
    let filtered = question("Why does it have stripes?");
    for _ in 0..2 {
        let response = cached.create_response("chat", &filtered).await.unwrap();
        assert_eq!(CacheStatus::of(&response.meta), CacheStatus::Upstream);
        assert!(!response.body.blocked_filters().is_empty(), "{:?}", response.body);
    }
    assert_eq!(served(&emulator, "chat"), 5);

    // A prompt the filter refuses: an error, sent each time.
    let refused = question("Tell me about the zebra.");
    for _ in 0..2 {
        assert!(cached.create_response("chat", &refused).await.is_err());
    }
    assert_eq!(emulator.stats().deployment("chat").unwrap().errors, 2);

    // A stream cut before its terminal event: an error for the caller, nothing stored.
    let request = question("A stream that gets cut.");
    let items: Vec<_> = cached.create_response_stream("cut", &request).await.unwrap().collect().await;
    assert!(items.last().unwrap().is_err(), "the cut must surface");
    let stream = cached.create_response_stream("cut", &request).await.unwrap();
    assert_eq!(CacheStatus::of(stream.meta()), CacheStatus::Upstream);
    let (whole, _) = stream.collect_response().await.unwrap();
    let cut = emulator.stats().deployment("cut").unwrap().clone();
    assert_eq!((cut.requests, cut.faults, cut.served), (2, 1, 1), "both streams reached the server");
    // The clean one was stored.
    let hit = cached.create_response("cut", &request).await.unwrap();
    assert_eq!(CacheStatus::of(&hit.meta), CacheStatus::Hit);
    assert_eq!(hit.body, whole);

    let stats = cached.stats();
    assert_eq!(stats.not_stored, 8, "{stats}");
    assert_eq!(stats.hits, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_identical_response_requests_make_one_upstream_call() {
    let emulator = emulator().await;
    let cached = Arc::new(cached(&emulator));
    let request = question("Tell me about merged fills.");
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let cached = cached.clone();
        let request = request.clone();
        tasks.push(tokio::spawn(async move { cached.create_response("slow", &request).await.unwrap() }));
    }
    let mut bodies = Vec::new();
    for task in tasks {
        bodies.push(task.await.unwrap().body);
    }
    assert!(bodies.windows(2).all(|pair| pair[0] == pair[1]), "one answer, one id");
    assert_eq!(served(&emulator, "slow"), 1, "concurrent fills were not merged");
    let stats = cached.stats();
    assert_eq!((stats.misses, stats.hits), (1, 11));
}
