//! Guide section 12, caching: answer repeated requests from a cache with
//! `aoai-cache`, without sending them again.
//!
//! ```text
//! cargo run -p aoai-examples --bin s12_caching
//! ```
//!
//! [`Cached`] wraps the client and is itself a `ChatApi`, so it stacks with
//! other layers. Keys are the SHA-256 of the request's canonical JSON (RFC
//! 8785) with the deployment, the endpoint and the API version: field order
//! and `1` versus `1.0` don't split them; `stream` and `user` are left out,
//! so a streamed request is answered from a whole one's entry and replayed
//! as a stream. By default only deterministic requests are cached
//! (`temperature: 0` or a `seed`); errors and filtered answers never are.
//! Offline, the emulator's own counter shows that hits are never sent.
//! `RedisCache` (feature `redis`) shares the entries between processes.

use std::process::ExitCode;

use aoai_cache::{CacheStatus, Cached, MemoryCache};
use aoai_core::ChatApi;
use aoai_core::chat::{ChatMessage, ChatRequest};
use futures_util::StreamExt;

#[tokio::main]
async fn main() -> ExitCode {
    aoai_examples::exit_any(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    // The configured endpoint, or the embedded emulator; keep `session` alive while `client` is used.
    let session = aoai_examples::session().await?;
    let client = session.client()?;
    let deployment = aoai_examples::chat_deployment();
    let endpoint = session.endpoint();
    let mut builder = Cached::builder(client, MemoryCache::new()).namespace(endpoint.host());
    if let Some(version) = endpoint.api_version() {
        builder = builder.api_version(version);
    }
    let cached = builder.build();
    // How many requests the emulator has answered (offline only).
    let served =
        || session.emulator().and_then(|emulator| emulator.stats().deployment(&deployment).map(|stats| stats.served));
    let served_text = |count: Option<u64>| count.map_or_else(|| "n/a (online)".to_owned(), |count| count.to_string());

    let request = ChatRequest::new(vec![
        ChatMessage::system("Answer in one short sentence."),
        ChatMessage::user("What is a cache?"),
    ])
    .temperature(0.0)
    .max_tokens(40);

    // 1. A miss: sent, and stored.
    let first = cached.chat(&deployment, &request).await?;
    println!("1. {:?}: {}", CacheStatus::of(&first.meta), first.text().unwrap_or("(no text)"));
    let served_after_miss = served();

    // 2. A hit: the same answer, nothing sent.
    let second = cached.chat(&deployment, &request).await?;
    println!(
        "2. {:?}: same answer: {}; requests served upstream: {} before, {} after",
        CacheStatus::of(&second.meta),
        second.body == first.body,
        served_text(served_after_miss),
        served_text(served()),
    );

    // 3. Field order and `1` versus `1.0` don't change the key.
    let a: ChatRequest = serde_json::from_str(
        r#"{"messages":[{"role":"user","content":"Name a prime."}],"temperature":0,"top_p":1,"max_tokens":20}"#,
    )?;
    let b: ChatRequest = serde_json::from_str(
        r#"{"max_tokens":20,"top_p":1.0,"temperature":0.0,"messages":[{"content":"Name a prime.","role":"user"}]}"#,
    )?;
    let key_a = cached.chat_key(&deployment, &a);
    println!(
        "3. same key for reordered fields and 1 vs 1.0: {} ({}…)",
        key_a == cached.chat_key(&deployment, &b),
        &key_a.as_str()[..12]
    );
    cached.chat(&deployment, &a).await?;
    let reordered = cached.chat(&deployment, &b).await?;
    println!("   second spelling: {:?}", CacheStatus::of(&reordered.meta));

    // 4. A streamed request with the same body is replayed from the entry, as a stream.
    let mut stream = cached.chat_stream(&deployment, &request.clone().stream(true)).await?;
    let status = CacheStatus::of(stream.meta());
    let mut chunks = 0;
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        chunks += 1;
        text.push_str(chunk.delta_text().unwrap_or(""));
    }
    println!(
        "4. streamed {status:?}: {chunks} chunks, same text: {}; requests served upstream: {}",
        Some(text.as_str()) == first.text(),
        served_text(served()),
    );

    // 5. The counters.
    println!("5. {}", cached.stats());
    Ok(())
}
