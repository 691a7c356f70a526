//! Streams in Azure's exact shape, through the client and as raw SSE bytes,
//! and the latency model.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::time::Duration;

use aoai_core::chat::{ChatMessage, ChatRequest, StreamOptions, Tool, ToolChoice};
use aoai_core::clock::{ManualClock, Time};
use aoai_emulator::Emulator;
use aoai_emulator::config::{DeploymentConfig, LatencyModel};
use serde_json::{Value, json};
use support::{client, post_json, sse_data};

const STREAM_PATH: &str = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-01-preview";

fn question() -> ChatRequest {
    ChatRequest::new(vec![ChatMessage::user("Tell me about mountains.")]).max_tokens(30)
}

#[tokio::test]
async fn streamed_answer_equals_the_whole_answer() {
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator);
    let whole = client.chat("gpt-4o", &question()).await.unwrap();
    let stream = client.chat_stream("gpt-4o", &question().stream_options(StreamOptions::with_usage())).await.unwrap();
    assert!(stream.meta().request_id.is_some());
    let (streamed, _meta) = stream.collect_response().await.unwrap();
    assert_eq!(streamed.text(), whole.text());
    assert_eq!(streamed.choices[0].finish_reason, whole.body.choices[0].finish_reason);
    assert_eq!(streamed.usage, whole.body.usage);
    assert_eq!(streamed.model, whole.body.model);
    let prompt = streamed.prompt_filter_results.as_ref().unwrap();
    assert!(prompt[0].content_filter_results.as_ref().unwrap().jailbreak.is_some());
    assert!(streamed.choices[0].content_filter_results.as_ref().unwrap().hate.is_some());

    let stats = emulator.stats();
    let stats = stats.deployment("gpt-4o").unwrap();
    assert_eq!((stats.requests, stats.served), (2, 2));
}

#[tokio::test]
async fn raw_sse_has_azures_shape() {
    let emulator = Emulator::start().await.unwrap();
    let body = json!({
        "messages": [{"role": "user", "content": "Tell me about mountains."}],
        "max_tokens": 12,
        "n": 2,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    let response = post_json(emulator.addr(), STREAM_PATH, "k", &body.to_string()).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("text/event-stream; charset=utf-8"));
    assert!(response.header("apim-request-id").is_some());
    let text = response.text();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    let data = sse_data(&text);
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = data[..data.len() - 1].iter().map(|line| serde_json::from_str(line).unwrap()).collect();

    // 1. The prompt-filter chunk: empty choices, id, model and object, created 0.
    assert!(
        data[0].starts_with(r#"{"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"#),
        "{}",
        data[0]
    );
    assert_eq!(chunks[0]["prompt_filter_results"][0]["prompt_index"], 0);
    assert!(chunks[0]["usage"].is_null() && chunks[0].get("usage").is_some());

    // 2. Role chunks for both choices, then content deltas.
    for (position, index) in [(1, 0), (2, 1)] {
        let choice = &chunks[position]["choices"][0];
        assert_eq!(choice["index"], index);
        assert_eq!(choice["delta"], json!({"content": "", "refusal": null, "role": "assistant"}));
        assert_eq!(choice["content_filter_results"], json!({}));
        assert_eq!(chunks[position]["object"], "chat.completion.chunk");
        assert!(chunks[position]["id"].as_str().unwrap().starts_with("chatcmpl-"));
        assert!(chunks[position]["created"].as_u64().unwrap() > 0);
    }
    // 3. Finish chunks with an empty delta, then annotations without delta.
    let finishes: Vec<&Value> =
        chunks.iter().filter(|chunk| chunk["choices"][0]["finish_reason"].is_string()).collect();
    assert_eq!(finishes.len(), 2);
    for finish in &finishes {
        assert_eq!(finish["choices"][0]["delta"], json!({}));
        assert_eq!(finish["choices"][0]["finish_reason"], "length");
    }
    let annotations: Vec<&Value> = chunks
        .iter()
        .filter(|chunk| chunk["choices"].as_array().is_some_and(|choices| !choices.is_empty()))
        .filter(|chunk| chunk["choices"][0].get("delta").is_none())
        .collect();
    assert_eq!(annotations.len(), 2);
    for annotation in &annotations {
        assert_eq!((annotation["id"].as_str(), annotation["created"].as_u64()), (Some(""), Some(0)));
        let choice = &annotation["choices"][0];
        assert_eq!(choice["content_filter_results"]["hate"], json!({"filtered": false, "severity": "safe"}));
        assert!(choice["content_filter_offsets"]["end_offset"].as_u64().unwrap() > 0);
    }
    // 4. The usage chunk last, with empty choices; every other chunk says "usage": null.
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 24);
    assert!(chunks[..chunks.len() - 1].iter().all(|chunk| chunk.get("usage") == Some(&Value::Null)));
    // Annotations come after both finish chunks, the usage chunk after the annotations.
    let position = |target: &Value| chunks.iter().position(|chunk| chunk == target).unwrap();
    assert!(position(finishes[1]) < position(annotations[0]));
    assert!(position(annotations[1]) < chunks.len() - 1);

    // Without include_usage there is no usage key at all.
    let body = json!({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 5, "stream": true});
    let text = post_json(emulator.addr(), STREAM_PATH, "k", &body.to_string()).await.text();
    assert!(!text.contains("\"usage\""), "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn tool_calls_stream_in_pieces() {
    let emulator = Emulator::start().await.unwrap();
    let client = client(&emulator);
    let weather = Tool::function(
        "get_weather",
        "Current weather for a city",
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false}),
    );
    let request = ChatRequest::new(vec![ChatMessage::user("What is the weather in Paris?")])
        .tools(vec![weather])
        .tool_choice(ToolChoice::Required);
    let whole = client.chat("gpt-4o", &request).await.unwrap();
    let (streamed, _) = client.chat_stream("gpt-4o", &request).await.unwrap().collect_response().await.unwrap();
    assert_eq!(streamed.tool_calls(), whole.tool_calls());
    let call = &streamed.tool_calls()[0];
    assert_eq!(call.function.name, "get_weather");
    let arguments: Value = serde_json::from_str(&call.function.arguments).unwrap();
    assert!(arguments["city"].is_string());
    assert_eq!(streamed.choices[0].finish_reason, whole.body.choices[0].finish_reason);

    let mut body = serde_json::to_value(&request).unwrap();
    body["stream"] = json!(true);
    let text = post_json(emulator.addr(), STREAM_PATH, "k", &body.to_string()).await.text();
    let data = sse_data(&text);
    let role: Value = serde_json::from_str(&data[1]).unwrap();
    assert_eq!(role["choices"][0]["delta"], json!({"content": null, "refusal": null, "role": "assistant"}));
    let first_piece: Value = serde_json::from_str(&data[2]).unwrap();
    let piece = &first_piece["choices"][0]["delta"]["tool_calls"][0];
    assert_eq!((piece["index"].as_u64(), piece["type"].as_str()), (Some(0), Some("function")));
    assert_eq!(piece["function"], json!({"arguments": "", "name": "get_weather"}));
    assert!(piece["id"].as_str().unwrap().starts_with("call_"));
}

#[tokio::test]
async fn latency_model_paces_streams_and_answers() {
    let clock = ManualClock::new();
    let latency = LatencyModel::new(Duration::from_millis(200), Duration::from_millis(10));
    let emulator = Emulator::builder()
        .time(Time::manual(&clock))
        .deployment(DeploymentConfig::new("slow", "gpt-4o").latency(latency))
        .start()
        .await
        .unwrap();
    let client = client(&emulator);
    let whole = client.chat("slow", &question()).await.unwrap();
    let tokens = whole.body.usage.as_ref().unwrap().completion_tokens;
    assert_eq!(clock.sleeps(), vec![Duration::from_millis(200 + 10 * (tokens - 1))]);

    let before = clock.sleeps().len();
    let (streamed, _) = client.chat_stream("slow", &question()).await.unwrap().collect_response().await.unwrap();
    assert_eq!(streamed.text(), whole.text());
    let sleeps = clock.sleeps()[before..].to_vec();
    assert_eq!(sleeps[0], Duration::from_millis(200), "time to first token before the role chunk");
    let total: Duration = sleeps[1..].iter().sum();
    assert_eq!(total, Duration::from_millis(10 * tokens), "one per-token delay per streamed token");
}
