//! `Cached` over aoai-core's `Client` against a real aoai-emulator: the
//! emulator's stats prove which requests reached the server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aoai_cache::{CacheMode, CacheStatus, Cached, MemoryCache};
use aoai_core::chat::{ChatMessage, ChatRequest, FinishReason, StreamOptions};
use aoai_core::embeddings::EmbeddingsRequest;
use aoai_core::{ChatApi, Client, EmbeddingsApi};
use aoai_emulator::config::LatencyModel;
use aoai_emulator::faults::{Fault, FaultConfig};
use aoai_emulator::{DeploymentConfig, Emulator, EmulatorHandle};
use futures_util::StreamExt;

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
        .deployment(DeploymentConfig::new("embed", "text-embedding-3-small"))
        .blocklist(["zebra"])
        .fixtures(fixtures)
        .start()
        .await
        .unwrap()
}

fn served(emulator: &EmulatorHandle, deployment: &str) -> u64 {
    emulator.stats().deployment(deployment).map_or(0, |stats| stats.served)
}

fn cached(emulator: &EmulatorHandle) -> Cached<Client> {
    Cached::builder(emulator.client().unwrap(), MemoryCache::new()).namespace("emulator").build()
}

fn question(text: &str) -> ChatRequest {
    ChatRequest::new(vec![ChatMessage::system("Be terse."), ChatMessage::user(text)]).temperature(0.0).max_tokens(40)
}

#[tokio::test]
async fn a_hit_never_reaches_the_server() {
    let emulator = emulator().await;
    let cached = cached(&emulator);
    let request = question("Capital of France?");
    let first = cached.chat("chat", &request).await.unwrap();
    assert_eq!(CacheStatus::of(&first.meta), CacheStatus::Upstream);
    assert_eq!(served(&emulator, "chat"), 1);
    let second = cached.chat("chat", &request).await.unwrap();
    assert_eq!(CacheStatus::of(&second.meta), CacheStatus::Hit);
    assert_eq!(second.meta.attempts, 0);
    assert_eq!(second.body, first.body);
    assert_eq!(served(&emulator, "chat"), 1, "the hit reached the server");
    let stats = cached.stats();
    assert_eq!((stats.hits, stats.misses), (1, 1));
    let usage = first.body.usage.clone().unwrap();
    assert_eq!(stats.tokens_saved(), usage.prompt_tokens + usage.completion_tokens);
    assert!(stats.cost_saved_usd > 0.0, "gpt-4o has a price");
    assert_eq!(stats.miss_prompt_tokens, usage.prompt_tokens);
}

#[tokio::test]
async fn field_order_and_number_spelling_share_an_entry_and_deployments_never_do() {
    let emulator = emulator().await;
    let cached = cached(&emulator);
    let a: ChatRequest = serde_json::from_str(
        r#"{"messages":[{"role":"user","content":"Name a colour."}],"temperature":0,"max_tokens":20,"top_p":1}"#,
    )
    .unwrap();
    let b: ChatRequest = serde_json::from_str(
        r#"{"top_p":1.0,"max_tokens":20,"temperature":0.0,"messages":[{"content":"Name a colour.","role":"user"}],"user":"bob"}"#,
    )
    .unwrap();
    let first = cached.chat("chat", &a).await.unwrap();
    let second = cached.chat("chat", &b).await.unwrap();
    assert_eq!(CacheStatus::of(&second.meta), CacheStatus::Hit);
    assert_eq!(first.body, second.body);
    assert_eq!(served(&emulator, "chat"), 1);
    // Another deployment (another model) is another entry.
    let other = cached.chat("chat-mini", &a).await.unwrap();
    assert_eq!(CacheStatus::of(&other.meta), CacheStatus::Upstream);
    assert_eq!(other.body.model, "gpt-4o-mini");
    assert_eq!(served(&emulator, "chat-mini"), 1);
    // Parameters that change the answer are another entry.
    let seeded = cached.chat("chat", &a.clone().seed(5)).await.unwrap();
    assert_eq!(CacheStatus::of(&seeded.meta), CacheStatus::Upstream);
    assert_eq!(served(&emulator, "chat"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_identical_requests_make_one_upstream_call() {
    let emulator = emulator().await;
    let cached = Arc::new(cached(&emulator));
    let request = question("Tell me about merged fills.");
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let cached = cached.clone();
        let request = request.clone();
        tasks.push(tokio::spawn(async move { cached.chat("slow", &request).await.unwrap() }));
    }
    let mut texts = Vec::new();
    for task in tasks {
        texts.push(task.await.unwrap().body.text().map(str::to_owned));
    }
    assert!(texts.windows(2).all(|pair| pair[0] == pair[1]));
    assert_eq!(served(&emulator, "slow"), 1, "concurrent fills were not merged");
    let stats = cached.stats();
    assert_eq!((stats.misses, stats.hits), (1, 11));
}

#[tokio::test]
async fn a_streamed_answer_is_cached_and_replayed_as_a_stream() {
    let emulator = emulator().await;
    let cached = cached(&emulator);
    let request = question("Stream me a sentence about rivers.").stream(true);

    // Miss: the caller sees the upstream's chunks, without a usage chunk it
    // did not ask for.
    let stream = cached.chat_stream("chat", &request).await.unwrap();
    assert_eq!(CacheStatus::of(stream.meta()), CacheStatus::Upstream);
    let live: Vec<_> = stream.collect::<Vec<_>>().await.into_iter().map(Result::unwrap).collect();
    assert!(live.iter().all(|chunk| chunk.usage.is_none()));
    assert_eq!(served(&emulator, "chat"), 1);
    let mut accumulator = aoai_core::chat::ChatAccumulator::new();
    live.iter().for_each(|chunk| accumulator.push(chunk));
    let live_answer = accumulator.finish();

    // Hit: replayed as a stream of several chunks, the same answer.
    let stream =
        cached.chat_stream("chat", &request.clone().stream_options(StreamOptions::with_usage())).await.unwrap();
    assert_eq!(CacheStatus::of(stream.meta()), CacheStatus::Hit);
    let replayed: Vec<_> = stream.collect::<Vec<_>>().await.into_iter().map(Result::unwrap).collect();
    assert!(replayed.len() >= 3, "{} chunks", replayed.len());
    assert!(replayed.first().unwrap().choices.is_empty(), "Azure's annotation chunk first");
    assert!(replayed.last().unwrap().usage.is_some(), "usage was asked for");
    let mut accumulator = aoai_core::chat::ChatAccumulator::new();
    replayed.iter().for_each(|chunk| accumulator.push(chunk));
    let replayed_answer = accumulator.finish();
    assert_eq!(replayed_answer.text(), live_answer.text());
    assert_eq!(replayed_answer.choices, live_answer.choices);

    // A whole request with the same body shares the entry.
    let whole = cached.chat("chat", &question("Stream me a sentence about rivers.")).await.unwrap();
    assert_eq!(CacheStatus::of(&whole.meta), CacheStatus::Hit);
    assert_eq!(whole.body.text(), live_answer.text());
    assert!(whole.body.usage.is_some(), "the stored answer has usage though the caller did not ask");
    assert_eq!(served(&emulator, "chat"), 1);
    assert_eq!(cached.stats().hits, 2);
}

#[tokio::test]
async fn a_whole_answer_is_replayed_to_a_streamed_request() {
    let emulator = emulator().await;
    let cached = cached(&emulator);
    let whole = cached.chat("chat", &question("Whole first.")).await.unwrap();
    let stream = cached.chat_stream("chat", &question("Whole first.").stream(true)).await.unwrap();
    assert_eq!(CacheStatus::of(stream.meta()), CacheStatus::Hit);
    let (replayed, _) = stream.collect_response().await.unwrap();
    assert_eq!(replayed.text(), whole.body.text());
    assert_eq!(served(&emulator, "chat"), 1);
}

#[tokio::test]
async fn errors_filtered_answers_and_cut_streams_are_not_cached() {
    let emulator = emulator().await;
    let cached = cached(&emulator);

    // A prompt the filter blocks: a 400, twice sent.
    let blocked = question("Tell me about the zebra.");
    for _ in 0..2 {
        assert!(cached.chat("chat", &blocked).await.is_err());
    }
    assert_eq!(emulator.stats().deployment("chat").unwrap().errors, 2);

    // A completion the filter cuts: finish_reason content_filter, twice sent.
    let filtered = question("Why does it have stripes?");
    for _ in 0..2 {
        let response = cached.chat("chat", &filtered).await.unwrap();
        assert_eq!(response.body.finish_reason(), Some(&FinishReason::ContentFilter));
        assert_eq!(CacheStatus::of(&response.meta), CacheStatus::Upstream);
    }
    assert_eq!(served(&emulator, "chat"), 2);

    // A stream cut before [DONE]: an error for the caller, nothing stored.
    let request = question("A stream that gets cut.").stream(true);
    let stream = cached.chat_stream("cut", &request).await.unwrap();
    let items: Vec<_> = stream.collect().await;
    assert!(items.last().unwrap().is_err(), "the cut must surface");
    let stream = cached.chat_stream("cut", &request).await.unwrap();
    assert_eq!(CacheStatus::of(stream.meta()), CacheStatus::Upstream);
    stream.collect_response().await.unwrap();
    let cut = emulator.stats().deployment("cut").unwrap().clone();
    assert_eq!((cut.requests, cut.faults, cut.served), (2, 1, 1), "both streams reached the server");
    // Now it is stored.
    let stream = cached.chat_stream("cut", &request).await.unwrap();
    assert_eq!(CacheStatus::of(stream.meta()), CacheStatus::Hit);

    let stats = cached.stats();
    assert_eq!(stats.not_stored, 5, "{stats}");
    assert_eq!(stats.hits, 1);
}

#[tokio::test]
async fn sampled_requests_bypass_the_cache_unless_always() {
    let emulator = emulator().await;
    let cached = cached(&emulator);
    let sampled = ChatRequest::new(vec![ChatMessage::user("Surprise me.")]).temperature(0.9).max_tokens(10);
    cached.chat("chat", &sampled).await.unwrap();
    cached.chat("chat", &sampled).await.unwrap();
    assert_eq!(served(&emulator, "chat"), 2);
    assert_eq!(cached.stats().bypassed, 2);

    let always = Cached::builder(emulator.client().unwrap(), MemoryCache::new()).mode(CacheMode::Always).build();
    always.chat("chat", &sampled).await.unwrap();
    let hit = always.chat("chat", &sampled).await.unwrap();
    assert_eq!(CacheStatus::of(&hit.meta), CacheStatus::Hit);
    assert_eq!(served(&emulator, "chat"), 3);
}

#[tokio::test]
async fn embeddings_are_cached() {
    let emulator = emulator().await;
    let cached = cached(&emulator);
    let request = EmbeddingsRequest::new(vec!["alpha", "beta"]);
    let first = cached.embeddings("embed", &request).await.unwrap();
    let second = cached.embeddings("embed", &request).await.unwrap();
    assert_eq!(CacheStatus::of(&second.meta), CacheStatus::Hit);
    assert_eq!(first.body, second.body);
    assert_eq!(served(&emulator, "embed"), 1);
    assert_eq!(cached.stats().tokens_saved(), first.body.usage.prompt_tokens);
}

#[tokio::test]
async fn entries_expire_after_their_ttl() {
    let emulator = emulator().await;
    let clock = aoai_core::clock::ManualClock::new();
    let cache = MemoryCache::builder().clock(Arc::new(clock.clone())).build();
    let cached = Cached::builder(emulator.client().unwrap(), cache).ttl(Duration::from_secs(60)).build();
    let request = question("Expire me.");
    cached.chat("chat", &request).await.unwrap();
    clock.advance(Duration::from_secs(59));
    assert_eq!(CacheStatus::of(&cached.chat("chat", &request).await.unwrap().meta), CacheStatus::Hit);
    clock.advance(Duration::from_secs(1));
    assert_eq!(CacheStatus::of(&cached.chat("chat", &request).await.unwrap().meta), CacheStatus::Upstream);
    assert_eq!(served(&emulator, "chat"), 2);
}
