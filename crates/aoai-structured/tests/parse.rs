#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Parsing constructed responses, and the bounded repair.

use std::sync::Mutex;

use aoai_core::chat::{ChatMessage, ChatRequest, ChatResponse};
use aoai_core::response::Response;
use aoai_core::stream::ChatStream;
use aoai_core::{ChatApi, Client};
use aoai_emulator::Emulator;
use aoai_structured::{StructuredError, parse, parse_json, request};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize, JsonSchema, PartialEq)]
struct Item {
    name: String,
    #[schemars(range(min = 0))]
    quantity: i64,
}

#[derive(Debug, Deserialize, JsonSchema, PartialEq)]
struct Order {
    id: String,
    items: Vec<Item>,
    note: Option<String>,
}

/// The schema says string, serde wants a number: only serde can fail.
#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
struct Mismatched {
    #[schemars(with = "String")]
    count: i64,
}

fn response(message: Value, finish_reason: &str) -> ChatResponse {
    serde_json::from_value(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "gpt-4o",
        "choices": [{"index": 0, "finish_reason": finish_reason, "message": message}]
    }))
    .unwrap()
}

fn answer(content: &str) -> ChatResponse {
    response(json!({"role": "assistant", "content": content}), "stop")
}

#[test]
fn valid_answer_parses() {
    let order: Order = parse(&answer(r#"{"id":"A1","items":[{"name":"pen","quantity":2}],"note":null}"#)).unwrap();
    assert_eq!(order, Order { id: "A1".into(), items: vec![Item { name: "pen".into(), quantity: 2 }], note: None });
}

#[test]
fn refusal_is_typed() {
    let refused = response(json!({"role": "assistant", "content": null, "refusal": "I can't help with that."}), "stop");
    match parse::<Order>(&refused).unwrap_err() {
        StructuredError::Refusal { refusal } => assert_eq!(refusal, "I can't help with that."),
        other => panic!("expected Refusal, got {other:?}"),
    }
}

#[test]
fn truncated_and_filtered_are_typed() {
    let cut = response(json!({"role": "assistant", "content": "{\"id\":\"A"}), "length");
    let error = parse::<Order>(&cut).unwrap_err();
    assert!(matches!(&error, StructuredError::Truncated { partial: Some(text) } if text == "{\"id\":\"A"), "{error:?}");
    assert_eq!(error.content(), Some("{\"id\":\"A"));
    let filtered = response(json!({"role": "assistant", "content": null}), "content_filter");
    assert!(matches!(parse::<Order>(&filtered).unwrap_err(), StructuredError::ContentFiltered { partial: None }));
}

#[test]
fn missing_content_is_typed() {
    let empty = response(json!({"role": "assistant", "content": null}), "stop");
    assert!(matches!(parse::<Order>(&empty).unwrap_err(), StructuredError::MissingContent { .. }));
    let no_choice: ChatResponse = serde_json::from_value(
        json!({"id": "1", "object": "chat.completion", "created": 0, "model": "gpt-4o", "choices": []}),
    )
    .unwrap();
    let error = parse::<Order>(&no_choice).unwrap_err();
    assert!(error.to_string().contains("no choice"), "{error}");
}

#[test]
fn invalid_json_reports_position() {
    let error = parse::<Order>(&answer("{\"id\": \"A1\",\n \"items\": [}")).unwrap_err();
    match &error {
        StructuredError::InvalidJson { line, column, content, .. } => {
            assert_eq!(*line, 2);
            assert!(*column > 1);
            assert!(content.starts_with("{\"id\""));
        }
        other => panic!("expected InvalidJson, got {other:?}"),
    }
    assert!(error.is_repairable());
}

#[test]
fn every_schema_violation_has_its_path() {
    let content = r#"{"id":7,"items":[{"name":"pen","quantity":2},{"name":"ink","quantity":-1,"color":"blue"}]}"#;
    let error = parse::<Order>(&answer(content)).unwrap_err();
    let StructuredError::SchemaViolations { violations, content: kept } = &error else {
        panic!("expected SchemaViolations, got {error:?}")
    };
    assert_eq!(kept, content);
    let mut paths: Vec<&str> = violations.iter().map(|violation| violation.instance_path.as_str()).collect();
    paths.sort_unstable();
    // `note` is missing at the root, `id` has the wrong type, the second item
    // has a negative quantity and an unknown property.
    assert_eq!(paths, ["", "/id", "/items/1", "/items/1/quantity"], "{violations:?}");
    assert!(violations.iter().any(|violation| violation.message.contains("note")), "{violations:?}");
    let display = error.to_string();
    assert!(display.contains("/items/1/quantity"), "{display}");
    assert!(error.is_repairable());
}

#[test]
fn serde_errors_come_last() {
    let error = parse_json::<Mismatched>(r#"{"count":"three"}"#).unwrap_err();
    assert!(matches!(error, StructuredError::Deserialize { .. }), "{error:?}");
    assert!(error.is_repairable());
}

/// Delegates to the emulator, but spoils the content of the first answer.
struct SpoilFirst {
    client: Client,
    requests: Mutex<Vec<ChatRequest>>,
    spoiled: &'static str,
}

#[async_trait]
impl ChatApi for SpoilFirst {
    async fn chat(&self, deployment: &str, request: &ChatRequest) -> aoai_core::Result<Response<ChatResponse>> {
        let first = {
            let mut requests = self.requests.lock().unwrap();
            requests.push(request.clone());
            requests.len() == 1
        };
        let mut response = self.client.chat(deployment, request).await?;
        if first {
            response.body.choices[0].message.content = Some(self.spoiled.to_owned());
        }
        Ok(response)
    }

    async fn chat_stream(&self, deployment: &str, request: &ChatRequest) -> aoai_core::Result<ChatStream> {
        self.client.chat_stream(deployment, request).await
    }
}

#[tokio::test]
async fn repair_reasks_once_with_the_errors() {
    let emulator = Emulator::start().await.unwrap();
    let api = SpoilFirst {
        client: emulator.client().unwrap(),
        requests: Mutex::new(Vec::new()),
        spoiled: r#"{"id":1,"items":[],"note":null}"#,
    };
    let plain = ChatRequest::new(vec![ChatMessage::user("Give me an order as JSON.")]);
    let repaired = request::<Order, _>(&api, "gpt-4o", &plain).await.unwrap();
    assert_eq!(repaired.attempts, 2);
    let requests = api.requests.lock().unwrap();
    assert_eq!(requests.len(), 2);
    let second = &requests[1];
    assert_eq!(second.messages.len(), 3);
    assert_eq!(second.messages[1].text().as_deref(), Some(r#"{"id":1,"items":[],"note":null}"#));
    let feedback = second.messages[2].text().unwrap();
    assert!(feedback.contains("/id"), "{feedback}");
    assert_eq!(second.messages[2].role(), "user");
}

#[tokio::test]
async fn repair_is_bounded_and_skips_unrepairable_errors() {
    let emulator = Emulator::start().await.unwrap();
    // Invalid JSON on the first answer only: repaired.
    let api = SpoilFirst { client: emulator.client().unwrap(), requests: Mutex::new(Vec::new()), spoiled: "{oops" };
    let plain = ChatRequest::new(vec![ChatMessage::user("Give me an order as JSON.")]);
    assert_eq!(request::<Order, _>(&api, "gpt-4o", &plain).await.unwrap().attempts, 2);
    // A truncated answer is not re-asked.
    let api = SpoilFirst { client: emulator.client().unwrap(), requests: Mutex::new(Vec::new()), spoiled: "{}" };
    let error = request::<Order, _>(&api, "gpt-4o", &plain.clone().max_tokens(2)).await.unwrap_err();
    assert!(matches!(error, StructuredError::Truncated { .. }), "{error:?}");
    assert_eq!(api.requests.lock().unwrap().len(), 1);
}
