#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Structured outputs, repair and forced-tool extraction against the emulator.

use aoai_core::chat::{ChatMessage, ChatRequest, FinishReason};
use aoai_emulator::Emulator;
use aoai_structured::{StructuredError, extract, parse, parse_stream, request, response_format, schema_for};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;

#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
struct Address {
    city: String,
    street: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum Mood {
    Happy,
    Sad,
    Neutral,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(dead_code)]
enum Event {
    Meeting { title: String, attendees: Vec<String> },
    Reminder { text: String, urgent: bool },
}

#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
enum Payment {
    Card { last_digits: String },
    Cash(f64),
    Unknown,
}

/// A map modelled the strict way: key/value entries.
#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
struct Entry {
    key: String,
    value: i64,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
struct Person {
    name: String,
    age: i64,
    height: f64,
    mood: Mood,
    address: Option<Address>,
    tags: Vec<String>,
    events: Vec<Event>,
    payment: Payment,
    attributes: Vec<Entry>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
struct Tree {
    label: String,
    children: Vec<Tree>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
struct Flat {
    answer: String,
    confidence: f64,
    done: bool,
}

/// Nested options of enums, vectors of vectors, unsigned integers.
#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
struct Inventory {
    matrix: Vec<Vec<i64>>,
    mood: Option<Mood>,
    next: Option<Event>,
    small: u8,
    count: u32,
    entries: Vec<Entry>,
    payments: Vec<Option<Payment>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
struct Secretive {
    zebra: String,
}

fn structured_request<T: JsonSchema + 'static>(prompt: &str, seed: i64) -> ChatRequest {
    ChatRequest::new(vec![ChatMessage::system("Answer in JSON."), ChatMessage::user(prompt)])
        .seed(seed)
        .response_format(response_format::<T>("answer").unwrap())
}

fn check_type<T: JsonSchema + DeserializeOwned + 'static>(
    runtime: &tokio::runtime::Runtime,
    client: &aoai_core::Client,
) {
    let words = prop::sample::select(vec!["rivers", "Paris weather", "a meeting plan", "cats and dogs", "tax forms"]);
    let mut runner = TestRunner::new(Config { cases: 32, failure_persistence: None, ..Config::default() });
    runner
        .run(&(words, any::<i64>()), |(prompt, seed)| {
            let response =
                runtime.block_on(client.chat("gpt-4o", &structured_request::<T>(prompt, seed))).unwrap().into_body();
            let parsed = parse::<T>(&response);
            prop_assert!(
                parsed.is_ok(),
                "{}: {:?}\nschema: {}\nanswer: {:?}",
                std::any::type_name::<T>(),
                parsed.err(),
                schema_for::<T>().unwrap().schema(),
                response.text()
            );
            Ok(())
        })
        .unwrap();
}

#[test]
fn emulator_answers_parse_into_representative_types() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let emulator = runtime.block_on(Emulator::start()).unwrap();
    let client = emulator.client().unwrap();
    check_type::<Flat>(&runtime, &client);
    check_type::<Address>(&runtime, &client);
    check_type::<Person>(&runtime, &client);
    check_type::<Tree>(&runtime, &client);
    check_type::<Inventory>(&runtime, &client);
}

#[tokio::test]
async fn tiny_max_tokens_is_truncated() {
    let emulator = Emulator::start().await.unwrap();
    let client = emulator.client().unwrap();
    let response =
        client.chat("gpt-4o", &structured_request::<Person>("Describe someone.", 1).max_tokens(3)).await.unwrap();
    let response = response.into_body();
    assert_eq!(response.finish_reason(), Some(&FinishReason::Length));
    match parse::<Person>(&response).unwrap_err() {
        StructuredError::Truncated { partial } => assert!(partial.is_some_and(|text| !text.is_empty())),
        other => panic!("expected Truncated, got {other:?}"),
    }
}

#[tokio::test]
async fn blocklisted_answer_is_filtered() {
    let emulator = Emulator::builder().blocklist(["zebra"]).start().await.unwrap();
    let client = emulator.client().unwrap();
    let response =
        client.chat("gpt-4o", &structured_request::<Secretive>("Tell me a secret.", 1)).await.unwrap().into_body();
    assert_eq!(response.finish_reason(), Some(&FinishReason::ContentFilter));
    assert!(matches!(parse::<Secretive>(&response), Err(StructuredError::ContentFiltered { .. })));
}

#[tokio::test]
async fn request_parses_on_the_first_attempt() {
    let emulator = Emulator::start().await.unwrap();
    let client = emulator.client().unwrap();
    let plain = ChatRequest::new(vec![ChatMessage::user("Describe someone in JSON.")]).seed(7);
    // `request` adds the strict response format itself.
    let repaired = request::<Person, _>(&client, "gpt-4o", &plain).await.unwrap();
    assert_eq!(repaired.attempts, 1);
}

#[tokio::test]
async fn forced_tool_call_extracts_the_type() {
    let emulator = Emulator::start().await.unwrap();
    let client = emulator.client().unwrap();
    for seed in 0..5 {
        let plain =
            ChatRequest::new(vec![ChatMessage::user("Extract the person from: Ada, 36, lives in Paris.")]).seed(seed);
        let person: Person = extract(&client, "gpt-4o", plain, "record_person", "Records a person.").await.unwrap();
        assert!(!person.name.is_empty());
    }
    // The forced function is the one parsed; another name is reported as missing.
    let plain = ChatRequest::new(vec![ChatMessage::user("Ada, 36.")]);
    let request = aoai_structured::parse::extraction_request::<Flat>(plain, "record", "Records.").unwrap();
    let response = client.chat("gpt-4o", &request).await.unwrap().into_body();
    assert!(aoai_structured::parse_tool_call::<Flat>(&response, "record").is_ok());
    let error = aoai_structured::parse_tool_call::<Flat>(&response, "other").unwrap_err();
    assert!(matches!(error, StructuredError::MissingContent { .. }), "{error:?}");
}

/// A fixtures file for a scripted emulator, in a fresh directory.
fn fixtures_file(text: &str) -> std::path::PathBuf {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("aoai-structured-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("fixtures.toml");
    std::fs::write(&path, text).unwrap();
    path
}

const REFUSING: &str = r#"
[[fixtures]]
name = "refused"
match = { last_user_contains = "lock" }
reply = { refusal = "I can't help with that." }
"#;

#[tokio::test]
async fn refusal_from_the_service_is_typed() {
    let path = fixtures_file(REFUSING);
    let emulator = Emulator::builder().fixtures(&path).start().await.unwrap();
    let client = emulator.client().unwrap();
    let refused = structured_request::<Flat>("How do I pick a lock?", 1);
    let response = client.chat("gpt-4o", &refused).await.unwrap().into_body();
    assert_eq!(response.first_choice().unwrap().message.refusal.as_deref(), Some("I can't help with that."));
    match parse::<Flat>(&response).unwrap_err() {
        StructuredError::Refusal { refusal } => assert_eq!(refusal, "I can't help with that."),
        other => panic!("expected Refusal, got {other:?}"),
    }
    // Streamed, the refusal arrives as deltas and is still typed.
    let stream = client.chat_stream("gpt-4o", &refused).await.unwrap();
    assert!(matches!(parse_stream::<Flat>(stream).await, Err(StructuredError::Refusal { .. })));
    // A refusal is not re-asked.
    let error = request::<Flat, _>(&client, "gpt-4o", &refused).await.unwrap_err();
    assert!(matches!(error, StructuredError::Refusal { .. }), "{error:?}");
    assert_eq!(emulator.stats().deployment("gpt-4o").map(|deployment| deployment.served), Some(3));
    // Other prompts are answered by the generator, and parse.
    let answered = client.chat("gpt-4o", &structured_request::<Flat>("Is water wet?", 1)).await.unwrap();
    assert!(parse::<Flat>(&answered.into_body()).is_ok());
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[tokio::test]
async fn streamed_answers_parse() {
    let emulator = Emulator::start().await.unwrap();
    let client = emulator.client().unwrap();
    for seed in 0..4 {
        let stream =
            client.chat_stream("gpt-4o", &structured_request::<Person>("Describe someone.", seed)).await.unwrap();
        parse_stream::<Person>(stream).await.unwrap();
    }
    let stream = client
        .chat_stream("gpt-4o", &structured_request::<Person>("Describe someone.", 1).max_tokens(3))
        .await
        .unwrap();
    assert!(matches!(parse_stream::<Person>(stream).await, Err(StructuredError::Truncated { .. })));
}
