//! `SemanticCache` against a real aoai-emulator, whose embeddings are
//! deterministic per text and close for texts that share words.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use aoai_cache::semantic::cosine;
use aoai_cache::{CacheStatus, SemanticCache};
use aoai_core::chat::{ChatMessage, ChatRequest};
use aoai_core::embeddings::EmbeddingsRequest;
use aoai_core::{ChatApi, Client};
use aoai_emulator::{DeploymentConfig, Emulator, EmulatorHandle};

async fn emulator() -> EmulatorHandle {
    Emulator::builder()
        .deployment(DeploymentConfig::new("chat", "gpt-4o"))
        .deployment(DeploymentConfig::new("chat-mini", "gpt-4o-mini"))
        .deployment(DeploymentConfig::new("embed", "text-embedding-3-small"))
        .start()
        .await
        .unwrap()
}

fn served(emulator: &EmulatorHandle, deployment: &str) -> u64 {
    emulator.stats().deployment(deployment).map_or(0, |stats| stats.served)
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest::new(vec![ChatMessage::system("Answer briefly."), ChatMessage::user(text)])
        .temperature(0.0)
        .max_tokens(30)
}

async fn similarity(client: &Client, left: &str, right: &str) -> f32 {
    let response = client.embeddings("embed", &EmbeddingsRequest::new(vec![left, right])).await.unwrap();
    let vectors = response.body.into_vectors_in_order();
    cosine(&vectors[0], &vectors[1])
}

fn semantic(emulator: &EmulatorHandle, threshold: f32) -> SemanticCache<Client, Client> {
    SemanticCache::builder(emulator.client().unwrap(), emulator.client().unwrap(), "embed")
        .namespace("emulator")
        .threshold(threshold)
        .build()
}

#[tokio::test]
async fn identical_text_hits_and_near_texts_follow_the_threshold() {
    let emulator = emulator().await;
    let client = emulator.client().unwrap();
    let original = "What is the capital city of France?";
    let near = "what is the capital city of france";
    let paraphrase = "Which city is the capital of France?";
    let unrelated = "How do I bake sourdough bread at home?";
    // The emulator's embeddings use lowercase words and trigrams: case and
    // punctuation don't move a text; shared words keep it close.
    let near_score = similarity(&client, original, near).await;
    let paraphrase_score = similarity(&client, original, paraphrase).await;
    let unrelated_score = similarity(&client, original, unrelated).await;
    assert!(near_score > 0.99, "{near_score}");
    assert!(
        paraphrase_score < near_score && paraphrase_score > unrelated_score,
        "{paraphrase_score} {unrelated_score}"
    );
    assert!(unrelated_score < 0.5, "{unrelated_score}");

    // Threshold between the paraphrase and the near text: the near text
    // hits, the paraphrase and the unrelated question don't.
    let threshold = f32::midpoint(paraphrase_score, near_score);
    let cache = semantic(&emulator, threshold);
    let first = cache.chat("chat", &ask(original)).await.unwrap();
    assert_eq!(CacheStatus::of(&first.meta), CacheStatus::Upstream);
    let same = cache.chat("chat", &ask(original)).await.unwrap();
    assert_eq!(CacheStatus::of(&same.meta), CacheStatus::Hit);
    assert_eq!(same.body, first.body);
    let near_hit = cache.chat("chat", &ask(near)).await.unwrap();
    assert_eq!(CacheStatus::of(&near_hit.meta), CacheStatus::Hit);
    assert_eq!(served(&emulator, "chat"), 1);
    let paraphrased = cache.chat("chat", &ask(paraphrase)).await.unwrap();
    assert_eq!(CacheStatus::of(&paraphrased.meta), CacheStatus::Upstream);
    let other = cache.chat("chat", &ask(unrelated)).await.unwrap();
    assert_eq!(CacheStatus::of(&other.meta), CacheStatus::Upstream);
    assert_eq!(served(&emulator, "chat"), 3);

    // A lower threshold (below the paraphrase's score) lets the paraphrase hit.
    let loose = semantic(&emulator, paraphrase_score - 0.01);
    loose.chat("chat", &ask(original)).await.unwrap();
    let hit = loose.chat("chat", &ask(paraphrase)).await.unwrap();
    assert_eq!(CacheStatus::of(&hit.meta), CacheStatus::Hit);
    let stats = loose.stats();
    assert_eq!((stats.hits, stats.misses), (1, 1));

    // A hit on a streamed request is replayed as a stream.
    let stream = cache.chat_stream("chat", &ask(original).stream(true)).await.unwrap();
    assert_eq!(CacheStatus::of(stream.meta()), CacheStatus::Hit);
    let (replayed, _) = stream.collect_response().await.unwrap();
    assert_eq!(replayed.text(), first.body.text());
}

#[tokio::test]
async fn different_parameters_or_deployments_never_hit() {
    let emulator = emulator().await;
    let cache = semantic(&emulator, 0.5);
    let question = "What is the capital city of France?";
    cache.chat("chat", &ask(question)).await.unwrap();
    let variants = [
        ("chat", ask(question).max_tokens(31)),
        ("chat", ask(question).seed(1)),
        ("chat", ask(question).n(2)),
        (
            "chat",
            ChatRequest::new(vec![ChatMessage::system("Answer at length."), ChatMessage::user(question)])
                .temperature(0.0)
                .max_tokens(30),
        ),
        ("chat-mini", ask(question)),
    ];
    for (deployment, request) in &variants {
        let response = cache.chat(deployment, request).await.unwrap();
        assert_eq!(CacheStatus::of(&response.meta), CacheStatus::Upstream, "{deployment} {request:?}");
    }
    assert_eq!(served(&emulator, "chat") + served(&emulator, "chat-mini"), 6);
    // Sampled requests are not cached at all by default.
    let sampled = ask(question).temperature(0.8);
    cache.chat("chat", &sampled).await.unwrap();
    cache.chat("chat", &sampled).await.unwrap();
    assert_eq!(cache.stats().bypassed, 2);
}

/// A streamed miss is stored when its stream ends, so a later similar
/// question hits; the usage chunk the cache asked for is not forwarded; a
/// stream abandoned half way stores nothing.
#[tokio::test]
async fn streamed_misses_are_stored_when_the_stream_ends() {
    use futures_util::StreamExt;
    let emulator = emulator().await;
    let cache = semantic(&emulator, 0.99);
    let original = "What is the capital city of France?";

    let mut stream = cache.chat_stream("chat", &ask(original).stream(true)).await.unwrap();
    assert_eq!(CacheStatus::of(stream.meta()), CacheStatus::Upstream);
    let mut text = String::new();
    let mut usage_chunks = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        usage_chunks += usize::from(chunk.usage.is_some());
        text.push_str(chunk.delta_text().unwrap_or_default());
    }
    assert!(!text.is_empty());
    assert_eq!(usage_chunks, 0, "the caller did not ask for usage");
    let hit = cache.chat("chat", &ask("what is the capital city of france")).await.unwrap();
    assert_eq!(CacheStatus::of(&hit.meta), CacheStatus::Hit);
    assert_eq!(hit.body.text(), Some(text.as_str()));
    assert_eq!(served(&emulator, "chat"), 1);
    assert_eq!((cache.stats().hits, cache.stats().misses), (1, 1));

    // Abandoned after the first chunk: nothing stored, the next asks upstream.
    let other = "How do I bake sourdough bread at home?";
    let mut stream = cache.chat_stream("chat", &ask(other).stream(true)).await.unwrap();
    stream.next().await.unwrap().unwrap();
    drop(stream);
    let again = cache.chat("chat", &ask(other)).await.unwrap();
    assert_eq!(CacheStatus::of(&again.meta), CacheStatus::Upstream);
}
