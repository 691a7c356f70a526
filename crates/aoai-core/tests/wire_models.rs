//! Wire models against raw fixtures: the REST spec's examples, Azure-shaped
//! responses and stream transcripts, unknown values, request snapshots and the
//! stream accumulator.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aoai_core::chat::{
    ChatAccumulator, ChatChunk, ChatMessage, ChatRequest, ChatResponse, ChoiceLogprobs, ChunkChoice, ContentPart,
    Delta, FinishReason, FunctionCallDelta, FunctionCallOption, FunctionDefinition, ImageDetail, JsonSchemaFormat,
    MessageContent, ResponseFormat, Role, StreamOptions, TokenLogprob, Tool, ToolCall, ToolCallDelta, ToolChoice,
    ToolType, Usage,
};
use aoai_core::embeddings::{
    EmbeddingDecodeError, EmbeddingInput, EmbeddingsRequest, EmbeddingsResponse, EncodingFormat, decode_base64_f32,
    encode_base64_f32,
};
use aoai_core::filter::{Severity, SeverityResult};
use base64::Engine as _;
use proptest::prelude::*;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/models/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("reading {path}: {error}"))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).unwrap()
}

/// The JSON chunks of a raw SSE transcript, up to `[DONE]` (which must be there).
fn sse_chunks(name: &str) -> Vec<ChatChunk> {
    let text = fixture(name);
    let mut chunks = Vec::new();
    for line in text.lines() {
        let Some(data) = line.strip_prefix("data: ") else {
            assert!(line.is_empty(), "unexpected line in {name}: {line}");
            continue;
        };
        if data == "[DONE]" {
            return chunks;
        }
        chunks.push(serde_json::from_str(data).unwrap_or_else(|error| panic!("{error}: {data}")));
    }
    panic!("{name} has no [DONE]");
}

/// The value without `null` object members (we skip `None` when writing).
fn strip_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, strip_nulls(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

fn assert_no_nulls(value: &Value, path: &str) {
    match value {
        Value::Null => panic!("null at {path}"),
        Value::Object(map) => map.iter().for_each(|(key, value)| assert_no_nulls(value, &format!("{path}.{key}"))),
        Value::Array(items) => {
            items.iter().enumerate().for_each(|(index, value)| assert_no_nulls(value, &format!("{path}[{index}]")))
        }
        _ => {}
    }
}

fn accumulate(chunks: &[ChatChunk]) -> ChatResponse {
    let mut accumulator = ChatAccumulator::new();
    for chunk in chunks {
        accumulator.push(chunk);
    }
    accumulator.finish()
}

fn content_chunk(index: u32, text: &str) -> ChatChunk {
    ChatChunk {
        id: "c".into(),
        choices: vec![ChunkChoice {
            index,
            delta: Some(Delta { content: Some(text.into()), ..Delta::default() }),
            ..ChunkChoice::default()
        }],
        ..ChatChunk::default()
    }
}

fn tool_fragment(index: u32, id: Option<&str>, name: Option<&str>, arguments: &str) -> ChatChunk {
    ChatChunk {
        choices: vec![ChunkChoice {
            index: 0,
            delta: Some(Delta {
                tool_calls: Some(vec![ToolCallDelta {
                    index,
                    id: id.map(Into::into),
                    kind: id.map(|_| ToolType::Function),
                    function: Some(FunctionCallDelta { name: name.map(Into::into), arguments: Some(arguments.into()) }),
                }]),
                ..Delta::default()
            }),
            ..ChunkChoice::default()
        }],
        ..ChatChunk::default()
    }
}

fn annotation_chunk(results: Value) -> ChatChunk {
    serde_json::from_value(json!({
        "choices": [{"index": 0, "finish_reason": null, "content_filter_results": results}],
        "created": 0, "id": "", "model": "", "object": ""
    }))
    .unwrap()
}

// ---------------------------------------------------------------------------
// Spec examples.
// ---------------------------------------------------------------------------

#[test]
fn spec_chat_response_parses_with_missing_object_and_model() {
    let raw = fixture_json("spec_chat_response.json");
    let response: ChatResponse = serde_json::from_value(raw.clone()).unwrap();
    assert_eq!(response.id, "chatcmpl-7R1nGnsXO8n4oi9UPz2f3UHdgAYMn");
    assert_eq!(response.created, 1_686_676_106);
    assert_eq!(response.object, "", "the example has no object");
    assert_eq!(response.model, "", "the example has no model");
    assert!(response.text().unwrap().starts_with("Ahoy matey!"));
    assert_eq!(response.finish_reason(), Some(&FinishReason::Stop));
    assert_eq!(response.first_choice().unwrap().message.role, Role::Assistant);
    let usage = response.usage.as_ref().unwrap();
    assert_eq!((usage.prompt_tokens, usage.completion_tokens, usage.total_tokens), (33, 557, 590));
    assert_eq!((usage.cached_tokens(), usage.reasoning_tokens()), (0, 0));
    assert!(response.tool_calls().is_empty());

    let back = serde_json::to_value(&response).unwrap();
    assert_eq!(back["choices"], raw["choices"]);
    assert_eq!(back["usage"], raw["usage"]);
}

#[test]
fn spec_chat_request_round_trips() {
    let raw = fixture_json("spec_chat_request.json");
    let request: ChatRequest = serde_json::from_value(raw.clone()).unwrap();
    assert_eq!(request.messages.len(), 2);
    assert_eq!(request.messages[0].role(), "system");
    assert_eq!(request.messages[1].text().as_deref(), Some("can you tell me how to care for a parrot?"));
    assert_eq!(serde_json::to_value(&request).unwrap(), raw);
    assert_eq!(
        request,
        ChatRequest::new(vec![
            ChatMessage::system("you are a helpful assistant that talks like a pirate"),
            ChatMessage::user("can you tell me how to care for a parrot?"),
        ])
    );
}

#[test]
fn spec_embeddings_example_parses() {
    let raw = fixture_json("spec_embeddings_response.json");
    let response: EmbeddingsResponse = serde_json::from_value(raw.clone()).unwrap();
    assert_eq!(response.data.len(), 1);
    assert_eq!(response.data[0].index, 0);
    assert_eq!(response.data[0].embedding.len(), 1536);
    assert_eq!(response.data[0].embedding[0], -0.012_838_088_f32);
    assert_eq!((response.usage.prompt_tokens, response.usage.total_tokens), (4, 4));
    assert_eq!(response.vectors_in_order().len(), 1);

    let back = serde_json::to_value(&response).unwrap();
    let floats: Vec<f32> = serde_json::from_value(back["data"][0]["embedding"].clone()).unwrap();
    let expected: Vec<f32> = serde_json::from_value(raw["data"][0]["embedding"].clone()).unwrap();
    assert_eq!(floats, expected, "floats written back read as the same f32s");

    let request: EmbeddingsRequest = serde_json::from_value(fixture_json("spec_embeddings_request.json")).unwrap();
    assert_eq!(request, EmbeddingsRequest::new(vec!["this is a test"]));
}

// ---------------------------------------------------------------------------
// Azure-shaped responses.
// ---------------------------------------------------------------------------

#[test]
fn azure_response_with_filters_and_usage_details() {
    let raw = fixture_json("azure_chat_response.json");
    let response: ChatResponse = serde_json::from_value(raw.clone()).unwrap();
    assert_eq!(response.text(), Some("The capital of France is Paris."));
    assert_eq!(response.system_fingerprint.as_deref(), Some("fp_42bfad963b"));

    let prompt = response.prompt_filter_results.as_ref().unwrap();
    assert_eq!(prompt.len(), 1);
    let prompt_results = prompt[0].content_filter_results.as_ref().unwrap();
    assert!(!prompt_results.jailbreak.as_ref().unwrap().detected);
    assert!(!prompt_results.is_filtered());

    let choice = response.first_choice().unwrap();
    let choice_results = choice.content_filter_results.as_ref().unwrap();
    assert_eq!(choice_results.violence.as_ref().unwrap().severity, Some(Severity::Low));
    assert!(!choice_results.protected_material_code.as_ref().unwrap().detected);
    assert_eq!(choice.logprobs, None);
    assert_eq!(choice.message.refusal, None);

    let usage = response.usage.as_ref().unwrap();
    assert_eq!(usage.cached_tokens(), 1920);
    assert_eq!(usage.reasoning_tokens(), 1216);
    assert_eq!(usage.completion_tokens_details.as_ref().unwrap().accepted_prediction_tokens, Some(0));
    assert!(response.extra.is_empty());

    assert_eq!(strip_nulls(serde_json::to_value(&response).unwrap()), strip_nulls(raw));
}

#[test]
fn unknown_fields_and_values_are_kept() {
    let raw = fixture_json("unknowns_chat_response.json");
    let response: ChatResponse = serde_json::from_value(raw.clone()).unwrap();
    assert_eq!(response.extra["service_tier"], "default");

    let first = &response.choices[0];
    assert_eq!(first.finish_reason, Some(FinishReason::Unknown("guardrail_intervened".into())));
    assert_eq!(first.finish_reason.as_ref().unwrap().as_str(), "guardrail_intervened");
    assert_eq!(first.message.role, Role::Unknown("narrator".into()));
    assert_eq!(first.message.extra["annotations"], json!([]));
    let results = first.content_filter_results.as_ref().unwrap();
    assert_eq!(results.hate.as_ref().unwrap().severity, Some(Severity::Unknown("negligible".into())));
    assert_eq!(results.other["brand_new_category"]["score"], 0.12);

    let second = &response.choices[1];
    assert_eq!(second.finish_reason, None);
    assert_eq!(second.message.content, None, "a null message defaults");
    assert_eq!(second.message.role, Role::Assistant);

    let usage = response.usage.as_ref().unwrap();
    assert_eq!(usage.cached_tokens(), 0, "cached_tokens: null");
    assert_eq!(usage.prompt_tokens_details.as_ref().unwrap().extra["image_tokens"], 3);

    // The older `prompt_annotations` name lands in `prompt_filter_results` and is written with the new name.
    assert_eq!(response.prompt_filter_results.as_ref().unwrap().len(), 1);
    let back = serde_json::to_value(&response).unwrap();
    assert_eq!(back["prompt_filter_results"], raw["prompt_annotations"]);
    assert_eq!(back["choices"][0]["finish_reason"], "guardrail_intervened");
    assert_eq!(back["choices"][0]["message"]["role"], "narrator");
    assert_eq!(back["choices"][0]["content_filter_results"], raw["choices"][0]["content_filter_results"]);
    assert_eq!(back["service_tier"], "default");
}

#[test]
fn response_with_tool_calls_continues_the_conversation() {
    let response: ChatResponse = serde_json::from_value(fixture_json("tool_calls_response.json")).unwrap();
    assert_eq!(response.finish_reason(), Some(&FinishReason::ToolCalls));
    assert_eq!(response.text(), None);
    let calls = response.tool_calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        calls[0],
        ToolCall::function("call_8hWq1kXbE3nRzT0c", "get_weather", r#"{"city":"Paris","unit":"celsius"}"#)
    );
    assert_eq!(calls[1].kind, ToolType::Function);
    assert_eq!(calls[1].function.arguments, r#"{"city":"Oslo","unit":"celsius"}"#);
    assert_eq!(response.first_choice().unwrap().content_filter_results, Some(Box::default()));

    let assistant = response.choices[0].message.clone().into_request_message();
    assert_eq!(assistant.role(), "assistant");
    assert_eq!(assistant.tool_calls().len(), 2);
    assert_eq!(assistant.text(), None);
    assert_eq!(
        serde_json::to_value(&assistant).unwrap(),
        json!({
            "role": "assistant",
            "tool_calls": [
                {"id": "call_8hWq1kXbE3nRzT0c", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\",\"unit\":\"celsius\"}"}},
                {"id": "call_Vb7mPq2LsX9dYe4K", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\",\"unit\":\"celsius\"}"}}
            ]
        })
    );
    let reply = ChatMessage::tool(&calls[0].id, "18 °C");
    assert_eq!(reply.tool_call_id(), Some("call_8hWq1kXbE3nRzT0c"));
    assert_eq!(
        serde_json::to_value(&reply).unwrap(),
        json!({"role": "tool", "tool_call_id": "call_8hWq1kXbE3nRzT0c", "content": "18 °C"})
    );
}

// ---------------------------------------------------------------------------
// Stream chunks.
// ---------------------------------------------------------------------------

#[test]
fn azure_first_chunk_has_no_choices_and_carries_prompt_filters() {
    let chunk: ChatChunk = serde_json::from_str(
        r#"{"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"jailbreak":{"filtered":false,"detected":false}}}]}"#,
    )
    .unwrap();
    assert!(chunk.choices.is_empty());
    assert_eq!((chunk.id.as_str(), chunk.created, chunk.model.as_str()), ("", 0, ""));
    assert_eq!(chunk.delta_text(), None);
    let results = chunk.prompt_filter_results.as_ref().unwrap()[0].content_filter_results.as_ref().unwrap();
    assert_eq!(results.hate, Some(SeverityResult { filtered: false, severity: Some(Severity::Safe) }));

    let older: ChatChunk = serde_json::from_str(
        r#"{"choices":[],"created":0,"id":"","model":"","object":"","prompt_annotations":[{"prompt_index":0,"content_filter_results":{}}]}"#,
    )
    .unwrap();
    assert_eq!(older.prompt_filter_results.unwrap().len(), 1);
}

#[test]
fn filter_only_chunk_has_no_delta() {
    let chunk: ChatChunk = serde_json::from_str(
        r#"{"choices":[{"content_filter_offsets":{"check_offset":35,"start_offset":35,"end_offset":62},"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"protected_material_text":{"filtered":false,"detected":false}},"finish_reason":null,"index":0}],"created":0,"id":"","model":"","object":"","usage":null}"#,
    )
    .unwrap();
    let choice = &chunk.choices[0];
    assert_eq!(choice.delta, None);
    assert_eq!(choice.finish_reason, None);
    assert_eq!(chunk.usage, None);
    let offsets = choice.content_filter_offsets.as_ref().unwrap();
    assert_eq!((offsets.check_offset, offsets.start_offset, offsets.end_offset), (35, 35, 62));
    assert!(!choice.content_filter_results.as_ref().unwrap().protected_material_text.as_ref().unwrap().detected);

    // Some proxies send empty offsets and results.
    let empty: ChatChunk = serde_json::from_str(
        r#"{"choices":[{"content_filter_offsets":{},"content_filter_results":{},"finish_reason":null,"index":0}],"created":0,"id":"","model":"","object":""}"#,
    )
    .unwrap();
    assert_eq!(empty.choices[0].content_filter_offsets.as_ref().unwrap().end_offset, 0);
}

#[test]
fn usage_chunk_and_null_usage() {
    let chunks = sse_chunks("azure_stream_text.sse");
    let (last, rest) = chunks.split_last().unwrap();
    assert!(last.choices.is_empty());
    let usage = last.usage.as_ref().unwrap();
    assert_eq!((usage.prompt_tokens, usage.completion_tokens, usage.total_tokens), (14, 7, 21));
    assert!(rest.iter().all(|chunk| chunk.usage.is_none()), "`\"usage\": null` reads as None");

    let with_role = &rest[1];
    assert_eq!(with_role.choices[0].delta.as_ref().unwrap().role, Some(Role::Assistant));
    assert_eq!(with_role.delta_text(), Some(""));
    assert_eq!(with_role.choices[0].content_filter_results, Some(Box::default()));
}

#[test]
fn chunks_round_trip() {
    for chunk in sse_chunks("azure_stream_parallel_tools.sse") {
        let value = serde_json::to_value(&chunk).unwrap();
        let back: ChatChunk = serde_json::from_value(value).unwrap();
        assert_eq!(back, chunk);
    }
}

// ---------------------------------------------------------------------------
// Accumulator.
// ---------------------------------------------------------------------------

#[test]
fn accumulates_azure_text_stream() {
    let chunks = sse_chunks("azure_stream_text.sse");
    let mut accumulator = ChatAccumulator::new();
    for chunk in &chunks[..4] {
        accumulator.push(chunk);
    }
    assert_eq!(accumulator.current_text(0), Some("Bonjour à"));
    assert_eq!(accumulator.current_text(1), None);
    for chunk in &chunks[4..] {
        accumulator.push(chunk);
    }
    assert_eq!(accumulator.finish_reason(0), Some(&FinishReason::Stop));
    assert_eq!(accumulator.usage().unwrap().total_tokens, 21);
    let response = accumulator.finish();

    assert_eq!(response.id, "chatcmpl-stream1", "not the first chunk's empty id");
    assert_eq!(response.model, "gpt-4o-2024-08-06");
    assert_eq!(response.created, 1_764_322_003);
    assert_eq!(response.object, "chat.completion");
    assert_eq!(response.system_fingerprint.as_deref(), Some("fp_b705f0c291"));
    assert_eq!(response.text(), Some("Bonjour à vous 👋!"));
    assert_eq!(response.choices.len(), 1);
    let choice = &response.choices[0];
    assert_eq!(choice.message.role, Role::Assistant);
    assert_eq!(choice.message.refusal, None);
    assert_eq!(choice.finish_reason, Some(FinishReason::Stop));

    // The annotation after the finish chunk updated the choice's results.
    let results = choice.content_filter_results.as_ref().unwrap();
    assert_eq!(results.violence.as_ref().unwrap().severity, Some(Severity::Low));
    assert!(results.protected_material_text.is_some());
    assert_eq!(results.hate.as_ref().unwrap().severity, Some(Severity::Safe));

    let prompt = response.prompt_filter_results.as_ref().unwrap();
    assert!(prompt[0].content_filter_results.as_ref().unwrap().jailbreak.is_some());
    assert_eq!(response.usage.as_ref().unwrap().completion_tokens, 7);
}

#[test]
fn accumulates_parallel_tool_calls_split_across_chunks() {
    let chunks = sse_chunks("azure_stream_parallel_tools.sse");
    assert!(chunks.len() > 20, "arguments arrive in many fragments");
    let response = accumulate(&chunks);
    let expected: ChatResponse = serde_json::from_value(fixture_json("tool_calls_response.json")).unwrap();

    assert_eq!(response.id, "chatcmpl-stream2");
    assert_eq!(response.finish_reason(), Some(&FinishReason::ToolCalls));
    assert_eq!(response.text(), None, "tool-call answers have no content");
    let calls = response.tool_calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].id, expected.tool_calls()[0].id);
    assert_eq!(calls[1].id, expected.tool_calls()[1].id);
    for call in calls {
        assert_eq!(call.kind, ToolType::Function);
        assert_eq!(call.function.name, "get_weather");
    }
    assert_eq!(calls[0].function.arguments, r#"{"city": "Paris", "unit": "celsius"}"#);
    assert_eq!(calls[1].function.arguments, r#"{"city": "Oslo", "unit": "celsius"}"#);
    let usage = response.usage.as_ref().unwrap();
    assert_eq!((usage.total_tokens, usage.cached_tokens()), (140, 64));
}

#[test]
fn interleaved_tool_call_fragments_are_assembled_by_index() {
    let chunks = [
        tool_fragment(1, Some("call_b"), Some("lookup"), ""),
        tool_fragment(0, Some("call_a"), Some("search"), "{\"q\":"),
        tool_fragment(1, None, None, "{\"id\":"),
        tool_fragment(0, None, None, "\"rust\"}"),
        tool_fragment(1, None, Some("lookup"), "7}"),
    ];
    let response = accumulate(&chunks);
    let calls = response.tool_calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0], ToolCall::function("call_a", "search", "{\"q\":\"rust\"}"));
    assert_eq!(calls[1], ToolCall::function("call_b", "lookup", "{\"id\":7}"), "a repeated name is not doubled");
}

#[test]
fn tool_calls_without_index_are_split_by_id() {
    // Some OpenAI-compatible servers leave out `index`: every call reads as index 0.
    let chunks = [
        tool_fragment(0, Some("call_1"), Some("first"), "{\"a\":"),
        tool_fragment(0, None, None, "1}"),
        tool_fragment(0, Some("call_2"), Some("second"), "{\"b\":"),
        tool_fragment(0, None, None, "2}"),
    ];
    let response = accumulate(&chunks);
    let calls = response.tool_calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0], ToolCall::function("call_1", "first", "{\"a\":1}"));
    assert_eq!(calls[1], ToolCall::function("call_2", "second", "{\"b\":2}"));
}

#[test]
fn later_clean_annotation_does_not_hide_a_filtered_one() {
    let chunks = [
        content_chunk(0, "some text"),
        annotation_chunk(json!({"violence": {"filtered": true, "severity": "high"},
                                "custom_blocklists": {"filtered": true, "details": [{"filtered": true, "id": "list-1"}]}})),
        ChatChunk {
            choices: vec![ChunkChoice {
                index: 0,
                delta: Some(Delta::default()),
                finish_reason: Some(FinishReason::ContentFilter),
                ..ChunkChoice::default()
            }],
            ..ChatChunk::default()
        },
        annotation_chunk(json!({"violence": {"filtered": false, "severity": "safe"},
                                "custom_blocklists": {"filtered": false, "details": [{"filtered": false, "id": "list-2"}]},
                                "jailbreak_v9": {"filtered": false}})),
    ];
    let response = accumulate(&chunks);
    let choice = response.first_choice().unwrap();
    assert_eq!(choice.finish_reason, Some(FinishReason::ContentFilter));
    let results = choice.content_filter_results.as_ref().unwrap();
    assert_eq!(results.violence, Some(SeverityResult { filtered: true, severity: Some(Severity::High) }));
    let lists = results.custom_blocklists.as_ref().unwrap();
    assert!(lists.filtered);
    assert_eq!(lists.details.len(), 2);
    assert!(results.other.contains_key("jailbreak_v9"));
    assert!(results.is_filtered());
}

#[test]
fn accumulator_handles_several_choices_in_any_order() {
    let mut finish_first = ChatChunk::default();
    finish_first.choices.push(ChunkChoice {
        index: 1,
        finish_reason: Some(FinishReason::Length),
        ..ChunkChoice::default()
    });
    let chunks = [
        finish_first,
        content_chunk(1, "B1"),
        content_chunk(0, "A1"),
        ChatChunk { choices: vec![], usage: Some(Usage::new(3, 4)), ..ChatChunk::default() },
        content_chunk(1, "B2"),
        content_chunk(0, "A2"),
    ];
    let response = accumulate(&chunks);
    assert_eq!(response.choices.len(), 2);
    assert_eq!(response.choices[0].index, 0);
    assert_eq!(response.choices[0].message.content.as_deref(), Some("A1A2"));
    assert_eq!(response.choices[1].message.content.as_deref(), Some("B1B2"));
    assert_eq!(response.choices[1].finish_reason, Some(FinishReason::Length));
    assert_eq!(response.choices[0].finish_reason, None);
    assert_eq!(response.usage, Some(Usage::new(3, 4)));

    // Nothing pushed: an empty response, not a panic.
    let empty = ChatAccumulator::new().finish();
    assert!(empty.choices.is_empty());
    assert_eq!(empty.text(), None);
}

#[test]
fn accumulator_joins_refusal_and_logprobs() {
    let token = |text: &str| TokenLogprob {
        token: text.into(),
        logprob: -0.5,
        bytes: Some(text.as_bytes().to_vec()),
        top_logprobs: vec![],
    };
    let chunk = |refusal: &str| ChatChunk {
        choices: vec![ChunkChoice {
            index: 0,
            delta: Some(Delta { refusal: Some(refusal.into()), ..Delta::default() }),
            logprobs: Some(ChoiceLogprobs { content: None, refusal: Some(vec![token(refusal)]) }),
            ..ChunkChoice::default()
        }],
        ..ChatChunk::default()
    };
    let response = accumulate(&[chunk("I can"), chunk("not help")]);
    let choice = &response.choices[0];
    assert_eq!(choice.message.refusal.as_deref(), Some("I cannot help"));
    assert_eq!(choice.message.content, None);
    let refusal_tokens = choice.logprobs.as_ref().unwrap().refusal.as_ref().unwrap();
    assert_eq!(refusal_tokens.iter().map(|t| t.token.as_str()).collect::<Vec<_>>(), ["I can", "not help"]);
}

#[test]
fn accumulator_assembles_deprecated_function_call() {
    let chunk = |name: Option<&str>, arguments: &str| ChatChunk {
        choices: vec![ChunkChoice {
            delta: Some(Delta {
                function_call: Some(FunctionCallDelta {
                    name: name.map(Into::into),
                    arguments: Some(arguments.into()),
                }),
                ..Delta::default()
            }),
            ..ChunkChoice::default()
        }],
        ..ChatChunk::default()
    };
    let response = accumulate(&[chunk(Some("f"), "{\"x\""), chunk(None, ":1}")]);
    let call = response.choices[0].message.function_call.as_ref().unwrap();
    assert_eq!((call.name.as_str(), call.arguments.as_str()), ("f", "{\"x\":1}"));
}

proptest! {
    #[test]
    fn split_content_accumulates_to_the_original(
        text in "\\PC{0,80}",
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
        argument_cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let chars: Vec<char> = text.chars().collect();
        let mut points: Vec<usize> = cuts.iter().map(|cut| cut.index(chars.len() + 1)).collect();
        points.sort_unstable();
        points.dedup();
        let mut chunks = vec![serde_json::from_str::<ChatChunk>(
            r#"{"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[]}"#,
        ).unwrap()];
        let mut start = 0;
        for point in points.into_iter().chain([chars.len()]) {
            let piece: String = chars[start..point].iter().collect();
            chunks.push(content_chunk(0, &piece));
            start = point;
        }
        let arguments = format!("{{\"text\":{}}}", serde_json::to_string(&text).unwrap());
        let argument_chars: Vec<char> = arguments.chars().collect();
        let mut points: Vec<usize> = argument_cuts.iter().map(|cut| cut.index(argument_chars.len() + 1)).collect();
        points.sort_unstable();
        points.dedup();
        let mut start = 0;
        for (number, point) in points.into_iter().chain([argument_chars.len()]).enumerate() {
            let piece: String = argument_chars[start..point].iter().collect();
            let (id, name) = if number == 0 { (Some("call_0"), Some("echo")) } else { (None, None) };
            chunks.push(tool_fragment(0, id, name, &piece));
            start = point;
        }
        // Round-trip every chunk through JSON, as the wire would.
        let chunks: Vec<ChatChunk> = chunks
            .iter()
            .map(|chunk| serde_json::from_str(&serde_json::to_string(chunk).unwrap()).unwrap())
            .collect();
        let response = accumulate(&chunks);
        let expected_text = if text.is_empty() { None } else { Some(text.as_str()) };
        prop_assert_eq!(response.text(), expected_text);
        prop_assert_eq!(&response.tool_calls()[0].function.arguments, &arguments);
        let echoed: Value = serde_json::from_str(&response.tool_calls()[0].function.arguments).unwrap();
        prop_assert_eq!(echoed["text"].as_str(), Some(text.as_str()));
    }
}

// ---------------------------------------------------------------------------
// Requests.
// ---------------------------------------------------------------------------

#[test]
fn minimal_request_snapshot() {
    let request = ChatRequest::new(vec![ChatMessage::user("hi")]).max_tokens(5);
    assert_eq!(
        serde_json::to_string(&request).unwrap(),
        r#"{"messages":[{"role":"user","content":"hi"}],"max_tokens":5}"#
    );
}

#[test]
fn builder_sets_every_field_and_emits_no_nulls() {
    let schema = json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false});
    let request = ChatRequest::new(vec![ChatMessage::developer("Be brief.")])
        .message(ChatMessage::user("Weather?").with_name("ana"))
        .model("gpt-4o")
        .temperature(0.2)
        .top_p(0.9)
        .n(2)
        .stream(true)
        .stop(["END", "STOP"])
        .max_tokens(100)
        .max_completion_tokens(300)
        .presence_penalty(0.5)
        .frequency_penalty(-0.5)
        .logit_bias([(50256, -100), (13, 5)])
        .logprobs(true)
        .top_logprobs(3)
        .user("user-1234")
        .seed(42)
        .tools(vec![Tool::function("get_weather", "Weather for a city", schema.clone()).strict(true)])
        .tool(Tool::function("get_time", "Local time", json!({"type": "object", "properties": {}})))
        .tool_choice(ToolChoice::function("get_weather"))
        .parallel_tool_calls(false)
        .response_format(JsonSchemaFormat::new("weather", schema.clone()).description("A city").strict(true))
        .stream_options(StreamOptions::with_usage())
        .functions(vec![FunctionDefinition {
            name: "legacy".into(),
            description: None,
            parameters: Value::Null,
            strict: None,
        }])
        .function_call(FunctionCallOption::Named { name: "legacy".into() })
        .data_sources(json!([{"type": "azure_search", "parameters": {"index_name": "docs"}}]))
        .with_extra("reasoning_effort", "low")
        .with_extra("metadata", json!({"trace": "t-1"}));

    let expected = json!({
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": "Weather?", "name": "ana"}
        ],
        "model": "gpt-4o",
        "temperature": 0.2,
        "top_p": 0.9,
        "n": 2,
        "stream": true,
        "stop": ["END", "STOP"],
        "max_tokens": 100,
        "max_completion_tokens": 300,
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
        "logit_bias": {"50256": -100, "13": 5},
        "logprobs": true,
        "top_logprobs": 3,
        "user": "user-1234",
        "seed": 42,
        "tools": [
            {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city", "parameters": schema, "strict": true}},
            {"type": "function", "function": {"name": "get_time", "description": "Local time", "parameters": {"type": "object", "properties": {}}}}
        ],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": false,
        "response_format": {"type": "json_schema", "json_schema": {"name": "weather", "description": "A city", "schema": schema, "strict": true}},
        "stream_options": {"include_usage": true},
        "functions": [{"name": "legacy"}],
        "function_call": {"name": "legacy"},
        "data_sources": [{"type": "azure_search", "parameters": {"index_name": "docs"}}],
        "reasoning_effort": "low",
        "metadata": {"trace": "t-1"}
    });
    let body = serde_json::to_value(&request).unwrap();
    assert_eq!(body, expected);
    assert_no_nulls(&body, "$");
    assert!(!serde_json::to_string(&request).unwrap().contains("0.2000"), "temperature is written exactly");

    let back: ChatRequest = serde_json::from_value(body).unwrap();
    assert_eq!(back, request);
    assert_eq!(back.extra["reasoning_effort"], "low");
}

#[test]
fn empty_request_fields_are_not_sent() {
    let body = serde_json::to_value(ChatRequest::new(vec![ChatMessage::assistant("ok")])).unwrap();
    assert_eq!(body, json!({"messages": [{"role": "assistant", "content": "ok"}]}));
    let stop: ChatRequest = serde_json::from_value(json!({"messages": [], "stop": "\n", "temperature": null})).unwrap();
    assert_eq!(stop.stop, Some("\n".into()));
    assert_eq!(stop.temperature, None);
}

#[test]
fn messages_helpers_and_round_trips() {
    let system = ChatMessage::system("rules").with_name("ops");
    assert_eq!((system.role(), system.name(), system.text().as_deref()), ("system", Some("ops"), Some("rules")));
    assert!(system.tool_calls().is_empty());

    let parts = ChatMessage::user(vec![
        ContentPart::text("What is "),
        ContentPart::ImageUrl {
            image_url: aoai_core::chat::ImageUrl {
                url: "https://example.invalid/a.png".into(),
                detail: Some(ImageDetail::Low),
            },
        },
        ContentPart::text("this?"),
    ]);
    assert_eq!(parts.text().as_deref(), Some("What is this?"));
    let body = serde_json::to_value(&parts).unwrap();
    assert_eq!(
        body,
        json!({"role": "user", "content": [
            {"type": "text", "text": "What is "},
            {"type": "image_url", "image_url": {"url": "https://example.invalid/a.png", "detail": "low"}},
            {"type": "text", "text": "this?"}
        ]})
    );
    assert_eq!(serde_json::from_value::<ChatMessage>(body).unwrap(), parts);

    let image_only = ChatMessage::user(vec![ContentPart::image_url("data:image/png;base64,AAAA")]);
    assert_eq!(image_only.text(), None);

    let tool = ChatMessage::tool("call_1", "42").with_name("ignored");
    assert_eq!((tool.role(), tool.name(), tool.tool_call_id()), ("tool", None, Some("call_1")));

    let assistant: ChatMessage = serde_json::from_value(json!({
        "role": "assistant", "content": null, "refusal": "no",
        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    }))
    .unwrap();
    assert_eq!(assistant.tool_calls().len(), 1);
    assert_eq!(assistant.text(), None);
    let ChatMessage::Assistant(body) = &assistant else { panic!("not an assistant message") };
    assert_eq!(body.refusal.as_deref(), Some("no"));

    let function: ChatMessage =
        serde_json::from_value(json!({"role": "function", "name": "f", "content": "out"})).unwrap();
    assert_eq!((function.role(), function.name(), function.text().as_deref()), ("function", Some("f"), Some("out")));
    assert_eq!(serde_json::to_value(&function).unwrap(), json!({"role": "function", "name": "f", "content": "out"}));
}

#[test]
fn unknown_role_and_part_are_kept() {
    let raw = json!({"role": "critic", "content": [{"type": "text", "text": "too "}, {"type": "text", "text": "long"}], "name": "rev", "weight": 2});
    let message: ChatMessage = serde_json::from_value(raw.clone()).unwrap();
    assert!(matches!(&message, ChatMessage::Other { role, .. } if role == "critic"));
    assert_eq!((message.role(), message.name(), message.text().as_deref()), ("critic", Some("rev"), Some("too long")));
    assert_eq!(serde_json::to_value(&message).unwrap(), raw);

    let audio = json!({"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}}], "cache": true});
    let message: ChatMessage = serde_json::from_value(audio.clone()).unwrap();
    let Some(MessageContent::Parts(parts)) = message.content() else { panic!("no parts") };
    assert!(matches!(&parts[0], ContentPart::Other(_)));
    assert_eq!(parts[0].kind(), Some("input_audio"));
    assert_eq!(serde_json::to_value(&message).unwrap(), audio, "unknown message fields are kept too");

    let missing = serde_json::from_value::<ChatMessage>(json!({"role": "user"})).unwrap_err();
    assert!(missing.to_string().contains("content"), "{missing}");
    let no_role = serde_json::from_value::<ChatMessage>(json!({"content": "x"})).unwrap_err();
    assert!(no_role.to_string().contains("role"), "{no_role}");
}

#[test]
fn tool_choice_and_response_format_forms() {
    let cases = [
        (ToolChoice::None, json!("none")),
        (ToolChoice::Auto, json!("auto")),
        (ToolChoice::Required, json!("required")),
        (ToolChoice::function("f"), json!({"type": "function", "function": {"name": "f"}})),
        (ToolChoice::Unknown("any".into()), json!("any")),
        (
            ToolChoice::Other(json!({"type": "allowed_tools", "mode": "auto"})),
            json!({"type": "allowed_tools", "mode": "auto"}),
        ),
    ];
    for (choice, wire) in cases {
        assert_eq!(serde_json::to_value(&choice).unwrap(), wire);
        assert_eq!(serde_json::from_value::<ToolChoice>(wire).unwrap(), choice);
    }

    let formats = [
        (ResponseFormat::Text, json!({"type": "text"})),
        (ResponseFormat::JsonObject, json!({"type": "json_object"})),
        (
            JsonSchemaFormat::new("s", json!({"type": "object"})).into(),
            json!({"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "object"}}}),
        ),
        (
            ResponseFormat::Other(json!({"type": "grammar", "grammar": "root ::= x"})),
            json!({"type": "grammar", "grammar": "root ::= x"}),
        ),
    ];
    for (format, wire) in formats {
        assert_eq!(serde_json::to_value(&format).unwrap(), wire);
        assert_eq!(serde_json::from_value::<ResponseFormat>(wire).unwrap(), format);
    }

    for (option, wire) in [
        (FunctionCallOption::None, json!("none")),
        (FunctionCallOption::Auto, json!("auto")),
        (FunctionCallOption::Named { name: "f".into() }, json!({"name": "f"})),
        (FunctionCallOption::Other(json!("sometimes")), json!("sometimes")),
    ] {
        assert_eq!(serde_json::to_value(&option).unwrap(), wire);
        assert_eq!(serde_json::from_value::<FunctionCallOption>(wire).unwrap(), option);
    }
}

#[test]
fn usage_sums_over_rounds() {
    let first: Usage = serde_json::from_value(json!({
        "prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
        "prompt_tokens_details": {"cached_tokens": 64, "image_tokens": 5},
        "completion_tokens_details": {"reasoning_tokens": 10}
    }))
    .unwrap();
    let second: Usage = serde_json::from_value(json!({
        "prompt_tokens": 50, "completion_tokens": 5, "total_tokens": 55,
        "prompt_tokens_details": {"cached_tokens": 0, "image_tokens": 2}
    }))
    .unwrap();
    let third = Usage::new(1, 1);

    let mut total = first.clone() + second.clone();
    assert_eq!((total.prompt_tokens, total.completion_tokens, total.total_tokens), (150, 25, 175));
    assert_eq!(total.cached_tokens(), 64);
    assert_eq!(total.reasoning_tokens(), 10);
    assert_eq!(total.prompt_tokens_details.as_ref().unwrap().extra["image_tokens"], 7);
    total += third.clone();
    assert_eq!(total.total_tokens, 177);
    assert_eq!([first, second, third].iter().sum::<Usage>(), total);

    let huge = Usage::new(u64::MAX, 0) + Usage::new(1, 0);
    assert_eq!(huge.prompt_tokens, u64::MAX, "saturates instead of overflowing");
}

// ---------------------------------------------------------------------------
// Embeddings.
// ---------------------------------------------------------------------------

#[test]
fn base64_embedding_round_trip() {
    let floats = [0.0_f32, 1.0, -2.5, 0.125, f32::MIN_POSITIVE, 3.402_823_5e38, -1.0e-7];
    let bytes: Vec<u8> = floats.iter().flat_map(|value| value.to_le_bytes()).collect();
    let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
    assert_eq!(encode_base64_f32(&floats), encoded);
    assert_eq!(decode_base64_f32(&encoded).unwrap(), floats);

    let response: EmbeddingsResponse = serde_json::from_value(json!({
        "object": "list",
        "model": "text-embedding-3-small",
        "data": [
            {"object": "embedding", "index": 1, "embedding": [9.0, 8.0]},
            {"object": "embedding", "index": 0, "embedding": encoded}
        ],
        "usage": {"prompt_tokens": 6, "total_tokens": 6},
        "x-extra": 1
    }))
    .unwrap();
    assert_eq!(response.data[1].embedding, floats);
    assert_eq!(response.vectors_in_order(), vec![&floats[..], &[9.0, 8.0][..]]);
    assert_eq!(response.extra["x-extra"], 1);
    let back = serde_json::to_value(&response).unwrap();
    assert_eq!(back["data"][1]["embedding"][2], -2.5, "written back as floats");
    let again: EmbeddingsResponse = serde_json::from_value(back).unwrap();
    assert_eq!(again, response);
    assert_eq!(again.into_vectors_in_order()[0], floats);
}

#[test]
fn base64_embedding_errors_are_clear() {
    let five_bytes = base64::engine::general_purpose::STANDARD.encode([1_u8, 2, 3, 4, 5]);
    assert_eq!(decode_base64_f32(&five_bytes), Err(EmbeddingDecodeError::Length { len: 5 }));
    let error = serde_json::from_value::<EmbeddingsResponse>(json!({"data": [{"index": 0, "embedding": five_bytes}]}))
        .unwrap_err();
    assert!(error.to_string().contains("not a multiple of 4"), "{error}");

    let invalid = decode_base64_f32("not base64!").unwrap_err();
    assert!(matches!(invalid, EmbeddingDecodeError::Base64 { .. }));
    assert!(invalid.to_string().contains("not valid base64"), "{invalid}");
}

#[test]
fn embeddings_request_snapshots() {
    let cases: [(EmbeddingsRequest, Value); 6] = [
        (EmbeddingsRequest::new("one"), json!({"input": "one"})),
        (EmbeddingsRequest::new(String::from("two")), json!({"input": "two"})),
        (EmbeddingsRequest::new(vec![String::from("a"), String::from("b")]), json!({"input": ["a", "b"]})),
        (EmbeddingsRequest::new(vec!["a"]), json!({"input": ["a"]})),
        (EmbeddingsRequest::new(vec![1_u32, 2, 3]), json!({"input": [1, 2, 3]})),
        (EmbeddingsRequest::new(vec![vec![1_u32], vec![2, 3]]), json!({"input": [[1], [2, 3]]})),
    ];
    for (request, wire) in cases {
        assert_eq!(serde_json::to_value(&request).unwrap(), wire);
        assert_eq!(serde_json::from_value::<EmbeddingsRequest>(wire).unwrap(), request);
    }

    let full = EmbeddingsRequest::new("q")
        .model("text-embedding-3-large")
        .dimensions(256)
        .encoding_format(EncodingFormat::Base64)
        .user("u-1")
        .input_type("query")
        .with_extra("truncate", "END");
    let body = serde_json::to_value(&full).unwrap();
    assert_eq!(
        body,
        json!({"input": "q", "model": "text-embedding-3-large", "dimensions": 256, "encoding_format": "base64",
               "user": "u-1", "input_type": "query", "truncate": "END"})
    );
    assert_no_nulls(&body, "$");
    assert_eq!(serde_json::from_value::<EmbeddingsRequest>(body).unwrap(), full);

    assert_eq!(EmbeddingInput::from(vec!["a", "b", "c"]).len(), 3);
    assert_eq!(EmbeddingInput::from("a").len(), 1);
    assert!(EmbeddingInput::Texts(vec![]).is_empty());
    assert_eq!(
        serde_json::from_value::<EncodingFormat>(json!("int8")).unwrap(),
        EncodingFormat::Unknown("int8".into())
    );
}
