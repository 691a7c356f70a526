//! Guide section 13, integration patterns: layers stacked on one client —
//! guards outside, a cache inside, the client with metrics at the bottom.
//!
//! ```text
//! cargo run -p aoai-examples --bin s13_integration_pipeline
//! ```
//!
//! `Guarded<Cached<Client>>`: every layer is an `aoai_core::ChatApi` and
//! wraps one, so the order is a choice, and this one means:
//!
//! - a prompt the guards block never reaches the cache or the service;
//! - a redacted prompt is cached (and looked up) in its redacted form, so
//!   personal data never becomes part of a cache key or entry;
//! - cached answers still pass the output guards on every hit;
//! - the client's metrics count only what really went upstream.
//!
//! With the cache outside the guards (`Cached<Guarded<Client>>`), hits
//! would skip the guards entirely and blocked requests would be looked up
//! in the cache first.

use std::process::ExitCode;
use std::sync::Arc;

use aoai_cache::{CacheStatus, Cached, MemoryCache};
use aoai_core::ChatApi;
use aoai_core::chat::{ChatMessage, ChatRequest};
use aoai_core::metrics::InMemoryRecorder;
use aoai_safety::azure_filter::AzureFilterGuard;
use aoai_safety::blocklist::Blocklist;
use aoai_safety::guard::TextGuard;
use aoai_safety::pii::{PiiMode, PiiScanner};
use aoai_safety::{GuardError, Guarded};

#[tokio::main]
async fn main() -> ExitCode {
    aoai_examples::exit_any(run().await)
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest::new(vec![ChatMessage::system("Answer in one sentence."), ChatMessage::user(text)])
        .temperature(0.0)
        .max_tokens(40)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    // The configured endpoint, or the embedded emulator; keep `session` alive while the client is used.
    let session = aoai_examples::session().await?;
    let recorder = InMemoryRecorder::new();
    let client = session.client_builder().metrics(Arc::new(recorder.clone())).build()?;
    let deployment = aoai_examples::chat_deployment();

    // Bottom to top: client (metrics) → cache → guards.
    let endpoint = session.endpoint();
    let mut cache = Cached::builder(client, MemoryCache::new()).namespace(endpoint.host());
    if let Some(version) = endpoint.api_version() {
        cache = cache.api_version(version);
    }
    let pipeline = Guarded::new(cache.build())
        .guard(TextGuard::new(Blocklist::new(["Project Falcon"])?))
        .guard(TextGuard::new(PiiScanner::new(PiiMode::Redact)?))
        .guard(AzureFilterGuard::default());

    // 1. A miss: checked, sent, stored.
    let question = ask("What does a content filter do?");
    let answer = pipeline.chat_checked(&deployment, &question).await?;
    println!("1. {:?}: {}", CacheStatus::of(&answer.value.meta), answer.value.text().unwrap_or("(no text)"));

    // 2. The same question: answered by the cache, and still checked on the way out.
    let again = pipeline.chat_checked(&deployment, &question).await?;
    println!(
        "2. {:?}: same answer: {}; output notes: {}",
        CacheStatus::of(&again.value.meta),
        again.value.body == answer.value.body,
        again.notes.len()
    );

    // 3. A blocked prompt stops at the guard: no cache lookup, nothing sent.
    match pipeline.chat_checked(&deployment, &ask("Summarise Project Falcon for me.")).await {
        Err(GuardError::Blocked(blocked)) => println!(
            "3. blocked at {} by {} (sent: {}): {}",
            blocked.stage.as_str(),
            blocked.guard,
            blocked.sent,
            blocked.reasons.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
        ),
        Err(error) => return Err(error.into()),
        Ok(_) => return Err("the blocklist let a blocked prompt through".into()),
    }

    // 4. Personal data is redacted before the cache sees it: two prompts that
    //    differ only in the address share one entry.
    let first = pipeline.chat_checked(&deployment, &ask("Draft a reply to ada@example.com about the invoice.")).await?;
    let second =
        pipeline.chat_checked(&deployment, &ask("Draft a reply to bob@example.org about the invoice.")).await?;
    println!(
        "4. redacted ({}), then {:?} for a different address",
        first.notes.iter().map(|note| note.category.as_str()).collect::<Vec<_>>().join(", "),
        CacheStatus::of(&second.value.meta)
    );

    // 5. Through the plain ChatApi trait, a block is `Error::Rejected` and
    //    the guard's typed error is recoverable from it.
    let layered: &dyn ChatApi = &pipeline;
    if let Err(error) = layered.chat(&deployment, &ask("Tell me about project falcon.")).await {
        let recovered = GuardError::from(error);
        println!("5. through ChatApi: rejected; recovered block: {}", recovered.blocked().is_some());
    }

    // Metrics: what reached the service. Cache: what it saved.
    let summary = recorder.summary();
    println!("\nupstream requests recorded by the client: {}", summary.requests);
    println!("{}", pipeline.inner().stats());
    Ok(())
}
