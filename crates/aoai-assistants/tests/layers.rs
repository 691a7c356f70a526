//! An assistant over stacked layers: `Guarded<Cached<Client>>` through the
//! `ResponsesApi` trait, against the emulator on loopback — guards redact
//! every round's answer (whole, streamed, and a background stream resumed
//! after a break), the cache answers a repeated first round.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::PathBuf;

use aoai_assistants::{Assistant, RunEvent, ThreadBackend};
use aoai_cache::{Cached, MemoryCache};
use aoai_core::retry::RetryPolicy;
use aoai_emulator::faults::{Fault, FaultConfig};
use aoai_emulator::{DeploymentConfig, Emulator, EmulatorHandle};
use aoai_safety::Guarded;
use aoai_safety::guard::TextGuard;
use aoai_safety::pii::{PiiMode, PiiScanner};
use futures_util::StreamExt;

const DEPLOYMENT: &str = "gpt-4o";
const ADDRESS: &str = "bob.smith@example.org";

/// The emulator answers "contact" with a phone number and an e-mail address.
fn fixtures(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("aoai-assistants-layers-{}-{name}.toml", std::process::id()));
    std::fs::write(
        &path,
        r#"
[[fixtures]]
name = "contact"
match = { last_user_contains = "contact" }
reply = { content = "Call 555-123-4567 or write to bob.smith@example.org for help." }
"#,
    )
    .unwrap();
    path
}

fn requests(emulator: &EmulatorHandle) -> u64 {
    emulator.stats().deployment(DEPLOYMENT).map_or(0, |stats| stats.requests)
}

fn redact_pii() -> TextGuard<PiiScanner> {
    TextGuard::new(PiiScanner::new(PiiMode::Redact).unwrap())
}

#[tokio::test]
async fn an_assistant_over_guarded_and_cached_layers_is_redacted_and_served_from_the_cache() {
    let emulator = Emulator::builder().fixtures(fixtures("whole")).start().await.unwrap();
    let client = emulator.client_builder().retry(RetryPolicy::none()).build().unwrap();
    let cached = Cached::builder(client.clone(), MemoryCache::new()).namespace("emulator").build();
    let stats = cached.clone();
    let layered = Guarded::new(cached).guard(redact_pii());
    let assistant = Assistant::builder(layered, DEPLOYMENT).temperature(0.0).build().unwrap();

    let thread = assistant.create_thread_on(ThreadBackend::ResponseChain).await.unwrap();
    let first = assistant.run(&thread, "contact?").await.unwrap();
    assert!(first.text.contains("[EMAIL]") && !first.text.contains(ADDRESS), "{}", first.text);
    assert_eq!(requests(&emulator), 1);
    // The same first round on a new thread: answered by the cache, still guarded.
    let thread = assistant.create_thread_on(ThreadBackend::ResponseChain).await.unwrap();
    let mut events = assistant.run_stream(&thread, "contact?");
    let mut streamed = String::new();
    let mut result = None;
    while let Some(event) = events.next().await {
        match event {
            RunEvent::TextDelta { delta, .. } => streamed.push_str(&delta),
            RunEvent::Completed(done) => result = Some(done),
            RunEvent::Failed(error) => panic!("{error:?}"),
            _ => {}
        }
    }
    let second = result.unwrap();
    assert_eq!(requests(&emulator), 1, "the repeated round was a cache hit");
    assert_eq!(stats.stats().hits, 1);
    assert_eq!(second.text, first.text);
    assert_eq!(streamed, second.text);
    assert!(second.request_ids.is_empty(), "a hit sends no request: {:?}", second.request_ids);
}

#[tokio::test]
async fn a_guarded_background_stream_resumed_after_a_break_repeats_and_leaks_nothing() {
    let emulator = Emulator::builder()
        .deployment(
            DeploymentConfig::new(DEPLOYMENT, "gpt-4o")
                .faults(FaultConfig::default().sequence([Some(Fault::StreamCut)]).repeat(false)),
        )
        .fixtures(fixtures("background"))
        .response_step(std::time::Duration::from_millis(5))
        .start()
        .await
        .unwrap();
    let client = emulator.client_builder().retry(RetryPolicy::none()).build().unwrap();
    let assistant = Assistant::builder(Guarded::new(client).guard(redact_pii()), DEPLOYMENT).build().unwrap();
    let thread = assistant.create_thread_on(ThreadBackend::ResponseChain).await.unwrap();
    let mut events = assistant.start_background_stream(&thread, "contact?");
    let (mut deltas, mut resumed, mut result) = (Vec::new(), 0, None);
    while let Some(event) = events.next().await {
        match event {
            RunEvent::TextDelta { delta, .. } => deltas.push(delta),
            RunEvent::Resumed { .. } => resumed += 1,
            RunEvent::Completed(done) => result = Some(done),
            RunEvent::Failed(error) => panic!("{error:?}"),
            _ => {}
        }
    }
    let result = result.unwrap();
    assert_eq!(resumed, 1);
    assert!(deltas.iter().all(|delta| !delta.contains(ADDRESS)), "{deltas:?}");
    assert_eq!(deltas.concat(), result.text, "every piece once");
    assert!(result.text.contains("[EMAIL]") && !result.text.contains(ADDRESS), "{}", result.text);
}
