//! Azure-shaped chat completion streams.
//!
//! A complete answer (already annotated with filter results) is cut into the
//! server-sent events Azure sends, in this order:
//!
//! 1. `{"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[…]}`;
//! 2. per choice, a role chunk: `"delta":{"content":"","refusal":null,"role":"assistant"}`
//!    with `"content_filter_results":{}`;
//! 3. content deltas, one token each (a character split across tokens waits
//!    for its last byte), or tool-call pieces: the first with `id`, `type`,
//!    `function.name` and empty `arguments`, then the arguments token by token;
//! 4. per choice, a finish chunk: `"delta":{}` with `finish_reason`;
//! 5. per choice, a content-filter annotation without `delta` (as the
//!    asynchronous filter sends it: empty `id`, `model` and `object`,
//!    `created` 0, with `content_filter_offsets` covering the whole text);
//! 6. with `stream_options.include_usage`, a usage chunk with `"choices":[]`,
//!    and `"usage":null` on every other chunk;
//! 7. `data: [DONE]`.
//!
//! Choices are interleaved round-robin, as the service interleaves them.
//! Keys are written in sorted order, as Azure writes them.

use aoai_core::chat::{ChatResponse, Choice};
use aoai_core::tokens::Tokenizer;
use bytes::Bytes;
use serde_json::{Map, Value, json};

/// One server-sent event and how many generated tokens it carries (for the
/// per-token delay of the latency model).
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub(crate) data: Bytes,
    pub(crate) tokens: u32,
}

/// The events of a streamed answer, `data: [DONE]` last.
pub(crate) fn events(response: &ChatResponse, include_usage: bool, tokenizer: Tokenizer) -> Vec<Event> {
    let mut out = Vec::new();
    let mut first = Map::new();
    first.insert("choices".into(), json!([]));
    first.insert("created".into(), json!(0));
    first.insert("id".into(), json!(""));
    first.insert("model".into(), json!(""));
    first.insert("object".into(), json!(""));
    first.insert(
        "prompt_filter_results".into(),
        serde_json::to_value(response.prompt_filter_results.as_deref().unwrap_or_default()).unwrap_or(Value::Null),
    );
    if include_usage {
        first.insert("usage".into(), Value::Null);
    }
    out.push(event(&Value::Object(first), 0));

    let envelope = |choice: Value| {
        let mut chunk = Map::new();
        chunk.insert("choices".into(), Value::Array(vec![choice]));
        chunk.insert("created".into(), json!(response.created));
        chunk.insert("id".into(), json!(response.id));
        chunk.insert("model".into(), json!(response.model));
        chunk.insert("object".into(), json!("chat.completion.chunk"));
        if let Some(fingerprint) = &response.system_fingerprint {
            chunk.insert("system_fingerprint".into(), json!(fingerprint));
        }
        if include_usage {
            chunk.insert("usage".into(), Value::Null);
        }
        Value::Object(chunk)
    };

    let per_choice: Vec<Vec<(Value, u32)>> =
        response.choices.iter().map(|choice| choice_deltas(choice, tokenizer)).collect();
    let longest = per_choice.iter().map(Vec::len).max().unwrap_or(0);
    for position in 0..longest {
        for deltas in &per_choice {
            if let Some((choice, tokens)) = deltas.get(position) {
                out.push(event(&envelope(choice.clone()), *tokens));
            }
        }
    }

    for choice in &response.choices {
        let length = choice.message.content.as_deref().map_or(0, |text| text.chars().count());
        let mut annotated = Map::new();
        annotated.insert(
            "content_filter_offsets".into(),
            json!({"check_offset": length, "start_offset": 0, "end_offset": length}),
        );
        annotated.insert(
            "content_filter_results".into(),
            serde_json::to_value(&choice.content_filter_results).unwrap_or(Value::Null),
        );
        annotated.insert("finish_reason".into(), Value::Null);
        annotated.insert("index".into(), json!(choice.index));
        let mut chunk = Map::new();
        chunk.insert("choices".into(), Value::Array(vec![Value::Object(annotated)]));
        chunk.insert("created".into(), json!(0));
        chunk.insert("id".into(), json!(""));
        chunk.insert("model".into(), json!(""));
        chunk.insert("object".into(), json!(""));
        if include_usage {
            chunk.insert("usage".into(), Value::Null);
        }
        out.push(event(&Value::Object(chunk), 0));
    }

    if include_usage {
        let mut chunk = Map::new();
        chunk.insert("choices".into(), json!([]));
        chunk.insert("created".into(), json!(response.created));
        chunk.insert("id".into(), json!(response.id));
        chunk.insert("model".into(), json!(response.model));
        chunk.insert("object".into(), json!("chat.completion.chunk"));
        if let Some(fingerprint) = &response.system_fingerprint {
            chunk.insert("system_fingerprint".into(), json!(fingerprint));
        }
        chunk.insert("usage".into(), serde_json::to_value(&response.usage).unwrap_or(Value::Null));
        out.push(event(&Value::Object(chunk), 0));
    }
    out.push(Event { data: Bytes::from_static(b"data: [DONE]\n\n"), tokens: 0 });
    out
}

/// How many events a cut or stalled stream sends: the prompt-filter chunk,
/// the role chunks and about half of the rest, never `[DONE]`.
pub(crate) fn cut_point(events: &[Event]) -> usize {
    let without_done = events.len().saturating_sub(1);
    (without_done / 2).max(2).min(without_done)
}

fn event(value: &Value, tokens: u32) -> Event {
    let json = serde_json::to_vec(value).unwrap_or_default();
    let mut data = Vec::with_capacity(json.len() + 8);
    data.extend_from_slice(b"data: ");
    data.extend_from_slice(&json);
    data.extend_from_slice(b"\n\n");
    Event { data: Bytes::from(data), tokens }
}

/// The choice objects of one choice's chunks: role, pieces, finish.
fn choice_deltas(choice: &Choice, tokenizer: Tokenizer) -> Vec<(Value, u32)> {
    let index = choice.index;
    let delta_choice = |delta: Value| json!({"delta": delta, "finish_reason": null, "index": index, "logprobs": null});
    let message = &choice.message;
    let has_text = message.content.is_some();
    let mut out = Vec::new();
    out.push((
        json!({
            "content_filter_results": {},
            "delta": {"content": if has_text { json!("") } else { Value::Null }, "refusal": null, "role": "assistant"},
            "finish_reason": null,
            "index": index,
            "logprobs": null,
        }),
        0,
    ));
    if let Some(text) = &message.content {
        for (piece, tokens) in token_pieces(text, tokenizer) {
            out.push((delta_choice(json!({"content": piece})), tokens));
        }
    }
    if let Some(refusal) = &message.refusal {
        for (piece, tokens) in token_pieces(refusal, tokenizer) {
            out.push((delta_choice(json!({"refusal": piece})), tokens));
        }
    }
    for (call_index, call) in message.tool_calls.iter().flatten().enumerate() {
        out.push((
            delta_choice(json!({"tool_calls": [{
                "function": {"arguments": "", "name": call.function.name},
                "id": call.id,
                "index": call_index,
                "type": call.kind.as_str(),
            }]})),
            1,
        ));
        for (piece, tokens) in token_pieces(&call.function.arguments, tokenizer) {
            out.push((
                delta_choice(json!({"tool_calls": [{"function": {"arguments": piece}, "index": call_index}]})),
                tokens,
            ));
        }
    }
    let finish = choice.finish_reason.as_ref().map(|reason| reason.as_str().to_owned());
    out.push((
        json!({"content_filter_results": {}, "delta": {}, "finish_reason": finish, "index": index, "logprobs": null}),
        0,
    ));
    out
}

/// `text` cut at token boundaries; a character that spans tokens stays whole.
pub(crate) fn token_pieces(text: &str, tokenizer: Tokenizer) -> Vec<(String, u32)> {
    let mut pieces = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut pending_tokens = 0_u32;
    for token in tokenizer.encode(text) {
        match tokenizer.decode_bytes(&[token]) {
            Ok(bytes) => pending.extend_from_slice(&bytes),
            Err(_) => continue,
        }
        pending_tokens += 1;
        if let Ok(piece) = std::str::from_utf8(&pending) {
            pieces.push((piece.to_owned(), pending_tokens));
            pending.clear();
            pending_tokens = 0;
        }
    }
    if !pending.is_empty() {
        pieces.push((String::from_utf8_lossy(&pending).into_owned(), pending_tokens));
    }
    pieces
}

#[cfg(test)]
mod tests {
    use aoai_core::chat::{ChatAccumulator, ChatChunk, FinishReason, ResponseMessage, ToolCall, Usage};
    use aoai_core::filter::{ContentFilterResults, PromptFilterResult, SeverityResult};

    use super::*;

    fn response() -> ChatResponse {
        let safe = ContentFilterResults {
            hate: Some(SeverityResult { filtered: false, severity: Some("safe".into()) }),
            ..ContentFilterResults::default()
        };
        ChatResponse {
            id: "chatcmpl-1".into(),
            object: "chat.completion".into(),
            created: 1_700_000_000,
            model: "gpt-4o-2024-08-06".into(),
            choices: vec![
                Choice {
                    index: 0,
                    message: ResponseMessage {
                        content: Some("Héllo wörld, ünïcode 🎉!".into()), ..Default::default()
                    },
                    finish_reason: Some(FinishReason::Stop),
                    logprobs: None,
                    content_filter_results: Some(Box::new(safe.clone())),
                },
                Choice {
                    index: 1,
                    message: ResponseMessage {
                        content: None,
                        tool_calls: Some(vec![ToolCall::function("call_1", "get_weather", r#"{"city":"Paris"}"#)]),
                        ..Default::default()
                    },
                    finish_reason: Some(FinishReason::ToolCalls),
                    logprobs: None,
                    content_filter_results: Some(Box::new(safe.clone())),
                },
            ],
            usage: Some(Usage::new(12, 9)),
            system_fingerprint: Some("fp_emulator".into()),
            prompt_filter_results: Some(vec![PromptFilterResult {
                prompt_index: 0,
                content_filter_results: Some(safe),
            }]),
            extra: Map::new(),
        }
    }

    fn payloads(events: &[Event]) -> Vec<String> {
        events
            .iter()
            .map(|event| {
                let text = std::str::from_utf8(&event.data).unwrap();
                assert!(text.starts_with("data: ") && text.ends_with("\n\n"), "{text:?}");
                text["data: ".len()..text.len() - 2].to_owned()
            })
            .collect()
    }

    #[test]
    fn stream_has_azure_shape_and_rebuilds_the_response() {
        let tokenizer = Tokenizer::for_model("gpt-4o");
        let original = response();
        let events = events(&original, true, tokenizer);
        let payloads = payloads(&events);
        assert_eq!(payloads.last().unwrap(), "[DONE]");
        let values: Vec<Value> =
            payloads[..payloads.len() - 1].iter().map(|text| serde_json::from_str(text).unwrap()).collect();
        let first = &values[0];
        assert_eq!(first["choices"], json!([]));
        assert_eq!((first["id"].as_str(), first["created"].as_u64()), (Some(""), Some(0)));
        assert!(first["prompt_filter_results"][0]["content_filter_results"]["hate"].is_object());
        assert!(payloads[0].starts_with(r#"{"choices":[],"created":0,"id":"","model":"","object":""#));
        let usage = values.last().unwrap();
        assert_eq!(usage["choices"], json!([]));
        assert_eq!(usage["usage"]["total_tokens"], 21);
        assert!(values[..values.len() - 1].iter().all(|value| value["usage"].is_null()));
        let annotations: Vec<&Value> = values
            .iter()
            .filter(|value| value["choices"][0].is_object() && value["choices"][0].get("delta").is_none())
            .collect();
        assert_eq!(annotations.len(), 2);
        assert_eq!(annotations[0]["id"], "");
        assert_eq!(annotations[0]["choices"][0]["content_filter_offsets"]["end_offset"], 23);

        let mut accumulator = ChatAccumulator::new();
        for text in &payloads[..payloads.len() - 1] {
            accumulator.push(&serde_json::from_str::<ChatChunk>(text).unwrap());
        }
        let rebuilt = accumulator.finish();
        assert_eq!(rebuilt.id, original.id);
        assert_eq!(rebuilt.choices[0].message.content, original.choices[0].message.content);
        assert_eq!(rebuilt.choices[1].message.tool_calls, original.choices[1].message.tool_calls);
        assert_eq!(rebuilt.choices[1].finish_reason, Some(FinishReason::ToolCalls));
        assert_eq!(rebuilt.usage, original.usage);
        let content_tokens: u32 = events.iter().map(|event| event.tokens).sum();
        assert!(content_tokens >= tokenizer.count("Héllo wörld, ünïcode 🎉!") as u32);
    }

    #[test]
    fn without_usage_no_usage_keys_and_cut_point() {
        let events = events(&response(), false, Tokenizer::for_model("gpt-4o"));
        assert!(payloads(&events).iter().all(|text| !text.contains("\"usage\"")));
        let cut = cut_point(&events);
        assert!(cut >= 2 && cut < events.len() - 1);
    }

    #[test]
    fn pieces_keep_characters_whole() {
        let tokenizer = Tokenizer::for_model("gpt-4o");
        let text = "日本語のテキスト 🎉🎉";
        let pieces = token_pieces(text, tokenizer);
        assert_eq!(pieces.iter().map(|(piece, _)| piece.as_str()).collect::<String>(), text);
        assert_eq!(pieces.iter().map(|(_, tokens)| *tokens as usize).sum::<usize>(), tokenizer.count(text));
    }
}
