//! The fast path agrees with serde_json: whenever it decodes a chunk, serde
//! decodes the same value; it takes the common shapes itself.

use proptest::prelude::*;

use super::{Memo, decode as decode_with};
use crate::chat::{ChatChunk, FinishReason};
use crate::filter::Severity;

/// The fast path with nothing remembered.
fn decode(text: &str) -> Option<ChatChunk> {
    decode_with(text, &mut Memo::default())
}

fn reference(text: &str) -> serde_json::Result<ChatChunk> {
    serde_json::from_str(text)
}

/// Every data line of the SSE fixtures and of a long Azure stream.
fn fixture_lines() -> Vec<String> {
    let files = [
        include_str!("../../tests/fixtures/sse/azure_chat.sse"),
        include_str!("../../tests/fixtures/sse/tool_calls.sse"),
        include_str!("../../tests/fixtures/sse/crlf_keepalive.sse"),
        include_str!("../../tests/fixtures/sse/in_stream_error.sse"),
        include_str!("../../tests/fixtures/sse/malformed_json.sse"),
        include_str!("../../tests/fixtures/sse/cut_before_done.sse"),
    ];
    files
        .iter()
        .flat_map(|file| file.lines())
        .filter_map(|line| line.trim_end_matches('\r').strip_prefix("data:"))
        .map(|data| data.trim_start().to_owned())
        .filter(|data| data != "[DONE]")
        .collect()
}

#[test]
fn fixtures_decode_as_serde_does() {
    let lines = fixture_lines();
    assert!(lines.len() > 10);
    let mut fast = 0;
    for line in &lines {
        match (decode(line), reference(line)) {
            (Some(ours), Ok(theirs)) => {
                assert_eq!(ours, theirs, "{line}");
                fast += 1;
            }
            (Some(ours), Err(error)) => panic!("fast path accepted what serde rejects ({error}): {ours:?}"),
            (None, _) => {}
        }
        assert_eq!(ChatChunk::from_json(line).ok(), reference(line).ok());
    }
    // Everything well-formed in the fixtures takes the fast path.
    let well_formed = lines.iter().filter(|line| reference(line).is_ok()).count();
    assert_eq!(fast, well_formed);
}

#[test]
fn typical_azure_chunk_takes_the_fast_path() {
    let line = r#"{"choices":[{"content_filter_results":{"hate":{"filtered":false,"severity":"safe"},"protected_material_code":{"filtered":false,"detected":false},"self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"low"},"violence":{"filtered":true,"severity":"high"}},"delta":{"content":" caf\u00e9\n\ud83c\udf0d \"q\""},"finish_reason":null,"index":0,"logprobs":null}],"created":1732780800,"id":"chatcmpl-1","model":"gpt-4o-2024-08-06","object":"chat.completion.chunk","system_fingerprint":"fp_1","usage":null,"brand_new":[1,{"a":null}]}"#;
    let chunk = decode(line).unwrap();
    assert_eq!(chunk, reference(line).unwrap());
    assert_eq!(chunk.delta_text(), Some(" café\n🌍 \"q\""));
    let filter = chunk.choices[0].content_filter_results.as_ref().unwrap();
    assert_eq!(filter.violence.as_ref().unwrap().severity, Some(Severity::High));
    assert!(filter.is_filtered());
    assert_eq!(chunk.extra["brand_new"], serde_json::json!([1, {"a": null}]));
}

#[test]
fn unusual_values_go_to_serde_and_keep_its_answer() {
    let cases = [
        // Duplicate key: serde's derive rejects it in a choice.
        r#"{"choices":[{"index":0,"index":1}]}"#,
        // Numbers that are not plain integers.
        r#"{"created":1.5}"#,
        r#"{"created":-1}"#,
        r#"{"created":007}"#,
        r#"{"created":18446744073709551616}"#,
        r#"{"choices":[{"index":4294967296}]}"#,
        // A lone surrogate and a bad escape.
        r#"{"id":"\ud800"}"#,
        r#"{"id":"\q"}"#,
        // Wrong types.
        r#"{"id":3}"#,
        r#"{"choices":[{"finish_reason":3}]}"#,
        r#"{"choices":[{"content_filter_results":{"hate":{"filtered":null}}}]}"#,
        // Trailing commas and garbage.
        r#"{"id":"a",}"#,
        r#"{"id":"a"} x"#,
        r#"{"choices":[{"index":0},]}"#,
        r#"[]"#,
        "",
        // Filter shapes left to serde: citations, blocklists, unknown categories.
        r#"{"choices":[{"content_filter_results":{"protected_material_code":{"filtered":false,"detected":true,"citation":{"URL":"https://x","license":"MIT"}}}}]}"#,
        r#"{"choices":[{"content_filter_results":{"custom_blocklists":{"filtered":false,"details":[]},"brand_new":{"filtered":false}}}]}"#,
    ];
    for case in cases {
        let fast = ChatChunk::from_json(case).map_err(|error| error.to_string());
        let slow = reference(case).map_err(|error| error.to_string());
        assert_eq!(fast, slow, "{case}");
        if let Some(chunk) = decode(case) {
            assert_eq!(Ok(chunk), reference(case).map_err(|error| error.to_string()), "{case}");
        }
    }
    assert_eq!(
        decode(r#"{"choices":[{"finish_reason":"new_reason","delta":{"role":"robot"}}]}"#).unwrap().choices[0]
            .finish_reason,
        Some(FinishReason::Unknown("new_reason".into()))
    );
}

#[test]
fn deep_nesting_is_left_to_serde() {
    let deep = format!(r#"{{"x":{}1{}}}"#, "[".repeat(200), "]".repeat(200));
    assert!(decode(&deep).is_none());
    assert!(ChatChunk::from_json(&deep).is_err());
}

// ---------------------------------------------------------------------------
// Generated chunks: random subsets of fields, values of right and wrong
// types, escapes, whitespace, duplicates and corruption.
// ---------------------------------------------------------------------------

fn ws() -> impl Strategy<Value = &'static str> {
    prop_oneof![8 => Just(""), 1 => Just(" "), 1 => Just("\n  "), 1 => Just("\t")]
}

fn string() -> BoxedStrategy<String> {
    let piece = prop_oneof![
        10 => "[a-zA-Z0-9 ,.]{0,6}",
        2 => Just("é日🌍".to_owned()),
        1 => Just("\\n".to_owned()),
        1 => Just("\\\"".to_owned()),
        1 => Just("\\\\".to_owned()),
        1 => Just("\\/".to_owned()),
        1 => Just("\\u00e9".to_owned()),
        1 => Just("\\ud83c\\udf0d".to_owned()),
        1 => Just("\\ud800".to_owned()),
        1 => Just("\\udc00".to_owned()),
        1 => Just("\\x".to_owned()),
        1 => Just("\u{1}".to_owned()),
    ];
    prop::collection::vec(piece, 0..4).prop_map(|parts| format!("\"{}\"", parts.concat())).boxed()
}

fn text_or_null() -> BoxedStrategy<String> {
    prop_oneof![8 => string(), 2 => Just("null".to_owned()), 1 => Just("12".to_owned())].boxed()
}

fn integer() -> BoxedStrategy<String> {
    prop_oneof![
        6 => (0u64..2_000_000_000).prop_map(|n| n.to_string()),
        1 => Just("0".to_owned()),
        1 => Just("null".to_owned()),
        1 => prop::sample::select(vec!["-1", "1.5", "1e3", "007", "18446744073709551616", "4294967296", "\"3\""])
            .prop_map(str::to_owned),
    ]
    .boxed()
}

fn boolean() -> BoxedStrategy<String> {
    prop::sample::select(vec!["true", "false", "false", "false", "null", "1"]).prop_map(str::to_owned).boxed()
}

/// An object from optional entries, shuffled, sometimes with one entry twice.
fn object(entries: Vec<BoxedStrategy<Option<(String, String)>>>) -> BoxedStrategy<String> {
    (entries, any::<bool>(), prop::collection::vec(ws(), 4))
        .prop_map(|(entries, duplicate, spaces)| {
            let mut entries: Vec<(String, String)> = entries.into_iter().flatten().collect();
            if duplicate && !entries.is_empty() && spaces[3] == "\t" {
                entries.push(entries[0].clone());
            }
            entries
        })
        .prop_shuffle()
        .prop_flat_map(|entries| {
            let count = entries.len();
            (Just(entries), prop::collection::vec(ws(), count * 2 + 2))
        })
        .prop_map(|(entries, spaces)| {
            let body: Vec<String> = entries
                .iter()
                .enumerate()
                .map(|(index, (key, value))| format!("{}\"{key}\":{}{value}", spaces[index * 2], spaces[index * 2 + 1]))
                .collect();
            format!("{{{}{}}}", body.join(","), spaces[spaces.len() - 1])
        })
        .boxed()
}

fn entry(key: &'static str, value: BoxedStrategy<String>, weight: f64) -> BoxedStrategy<Option<(String, String)>> {
    prop::option::weighted(weight, value.prop_map(move |value| (key.to_owned(), value))).boxed()
}

fn fixed(text: &'static str) -> BoxedStrategy<String> {
    Just(text.to_owned()).boxed()
}

fn severity() -> BoxedStrategy<String> {
    object(vec![
        entry("filtered", boolean(), 0.9),
        entry(
            "severity",
            prop::sample::select(vec!["\"safe\"", "\"low\"", "\"medium\"", "\"high\"", "\"extreme\"", "null"])
                .prop_map(str::to_owned)
                .boxed(),
            0.9,
        ),
        entry("note", fixed("[1]"), 0.05),
    ])
}

fn detected() -> BoxedStrategy<String> {
    object(vec![
        entry("filtered", boolean(), 0.9),
        entry("detected", boolean(), 0.9),
        entry("citation", fixed(r#"{"URL":"https://example.com","license":"MIT"}"#), 0.05),
    ])
}

fn or_null(value: BoxedStrategy<String>) -> BoxedStrategy<String> {
    prop_oneof![9 => value, 1 => Just("null".to_owned())].boxed()
}

fn filter_results() -> BoxedStrategy<String> {
    object(vec![
        entry("hate", or_null(severity()), 0.8),
        entry("sexual", or_null(severity()), 0.8),
        entry("violence", or_null(severity()), 0.8),
        entry("self_harm", or_null(severity()), 0.8),
        entry("jailbreak", detected(), 0.2),
        entry("protected_material_text", detected(), 0.3),
        entry("protected_material_code", detected(), 0.3),
        entry("custom_blocklists", fixed(r#"{"filtered":false,"details":[{"filtered":false,"id":"b1"}]}"#), 0.05),
        entry("brand_new", fixed(r#"{"filtered":false}"#), 0.05),
    ])
}

fn delta() -> BoxedStrategy<String> {
    object(vec![
        entry("content", text_or_null(), 0.8),
        entry(
            "role",
            prop::sample::select(vec!["\"assistant\"", "\"tool\"", "\"robot\"", "null", "1"])
                .prop_map(str::to_owned)
                .boxed(),
            0.2,
        ),
        entry("refusal", text_or_null(), 0.2),
        entry(
            "tool_calls",
            fixed(r#"[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\""}}]"#),
            0.1,
        ),
        entry("function_call", fixed(r#"{"name":"f","arguments":""}"#), 0.05),
        entry("x_unknown", fixed(r#"[1,{"y":null},"z"]"#), 0.05),
    ])
}

fn choice() -> BoxedStrategy<String> {
    object(vec![
        entry("index", integer(), 0.9),
        entry("delta", or_null(delta()), 0.9),
        entry(
            "finish_reason",
            prop::sample::select(vec![
                "null",
                "null",
                "\"stop\"",
                "\"length\"",
                "\"content_filter\"",
                "\"new_reason\"",
                "3",
            ])
            .prop_map(str::to_owned)
            .boxed(),
            0.9,
        ),
        entry(
            "logprobs",
            prop_oneof![
                3 => Just("null".to_owned()),
                1 => Just(r#"{"content":[{"token":"a","logprob":-0.1,"bytes":[97],"top_logprobs":[]}]}"#.to_owned()),
            ]
            .boxed(),
            0.5,
        ),
        entry("content_filter_results", or_null(filter_results()), 0.7),
        entry("content_filter_offsets", fixed(r#"{"check_offset":1,"start_offset":0,"end_offset":5}"#), 0.1),
        entry("x_unknown", fixed(r#"{"nested":[true,false,null,-1.5e3]}"#), 0.05),
    ])
}

fn chunk() -> BoxedStrategy<String> {
    let choices = prop_oneof![
        10 => prop::collection::vec(choice(), 0..3).prop_map(|choices| format!("[{}]", choices.join(","))),
        1 => Just("null".to_owned()),
        1 => Just("\"x\"".to_owned()),
    ]
    .boxed();
    object(vec![
        entry("id", text_or_null(), 0.9),
        entry("object", text_or_null(), 0.9),
        entry("created", integer(), 0.9),
        entry("model", text_or_null(), 0.9),
        entry("choices", choices, 0.95),
        entry(
            "usage",
            prop_oneof![
                2 => Just("null".to_owned()),
                1 => Just(r#"{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"prompt_tokens_details":{"cached_tokens":0},"x":1}"#.to_owned()),
            ]
            .boxed(),
            0.5,
        ),
        entry("system_fingerprint", text_or_null(), 0.6),
        entry(
            "prompt_filter_results",
            filter_results().prop_map(|results| format!(r#"[{{"prompt_index":0,"content_filter_results":{results}}}]"#)).boxed(),
            0.1,
        ),
        entry("prompt_annotations", fixed("[]"), 0.03),
        entry("error", fixed(r#"{"code":"500","message":"The server had an error."}"#), 0.03),
        entry("x_unknown", string(), 0.1),
    ])
}

/// A stream's chunks whose filter results come from a few texts, so that
/// the decoder's memory is used, and sometimes wrongly shaped.
fn stream_of_chunks() -> impl Strategy<Value = Vec<String>> {
    (prop::collection::vec(filter_results(), 1..4), prop::collection::vec((any::<prop::sample::Index>(), string(), 0u8..12), 1..12))
        .prop_map(|(filters, chunks)| {
            chunks
                .into_iter()
                .map(|(which, content, shape)| {
                    let filter = which.get(&filters);
                    match shape {
                        // The filter text, then more text right after it.
                        0 => format!(r#"{{"choices":[{{"index":0,"content_filter_results":{filter}x}}]}}"#),
                        // Cut inside the filter text.
                        1 => format!(r#"{{"choices":[{{"index":0,"content_filter_results":{}"#, &filter[..filter.len() / 2]),
                        // Results for two choices.
                        2 => format!(
                            r#"{{"choices":[{{"index":0,"content_filter_results":{filter}}},{{"index":1,"content_filter_results":{filter}}}]}}"#
                        ),
                        _ => format!(
                            r#"{{"id":"c","choices":[{{"content_filter_results":{filter},"delta":{{"content":{content}}},"index":0}}]}}"#
                        ),
                    }
                })
                .collect()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn a_decoder_that_remembers_agrees_with_serde(chunks in stream_of_chunks()) {
        let mut memo = Memo::default();
        let mut decoder = crate::chat::ChunkDecoder::new();
        for text in &chunks {
            let slow = reference(text);
            if let Some(fast) = decode_with(text, &mut memo) {
                match &slow {
                    Ok(slow) => prop_assert_eq!(&fast, slow),
                    Err(error) => prop_assert!(false, "fast path accepted what serde rejects ({}): {}", error, text),
                }
            }
            let via_api = decoder.decode(text).map_err(|error| error.to_string());
            prop_assert_eq!(via_api, slow.map_err(|error| error.to_string()));
        }
    }
}

#[test]
fn remembered_filter_results_are_reused_only_for_the_same_text() {
    let safe = r#"{"hate":{"filtered":false,"severity":"safe"}}"#;
    let high = r#"{"hate":{"filtered":true,"severity":"high"}}"#;
    let chunk = |filter: &str| format!(r#"{{"choices":[{{"index":0,"content_filter_results":{filter}}}]}}"#);
    let mut memo = Memo::default();
    let first = decode_with(&chunk(safe), &mut memo).unwrap();
    assert_eq!(memo.filter_text, safe);
    let second = decode_with(&chunk(safe), &mut memo).unwrap();
    assert_eq!(first, second);
    let changed = decode_with(&chunk(high), &mut memo).unwrap();
    assert!(changed.choices[0].content_filter_results.as_ref().unwrap().is_filtered());
    assert_eq!(memo.filter_text, high);
    // The same object spelled with spaces is read again, with the same value.
    let spaced = decode_with(&chunk(r#"{ "hate": {"filtered": true, "severity": "high"} }"#), &mut memo).unwrap();
    assert_eq!(spaced, changed);
}

/// A chunk's text, sometimes cut short or with a byte changed.
fn maybe_corrupted() -> impl Strategy<Value = String> {
    (chunk(), 0u8..20, any::<prop::sample::Index>(), prop::sample::select(vec!["}", "]", ",", "\"", ":", "\\", "x"]))
        .prop_map(|(text, mode, at, with)| {
            let boundaries: Vec<usize> = (0..=text.len()).filter(|&index| text.is_char_boundary(index)).collect();
            let cut = boundaries[at.index(boundaries.len())];
            match mode {
                0 => text[..cut].to_owned(),
                1 => format!("{}{with}{}", &text[..cut], &text[cut..]),
                _ => text,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn fast_path_agrees_with_serde(text in maybe_corrupted()) {
        let slow = reference(&text);
        if let Some(fast) = decode(&text) {
            match &slow {
                Ok(slow) => prop_assert_eq!(&fast, slow),
                Err(error) => prop_assert!(false, "fast path accepted what serde rejects ({}): {}", error, text),
            }
        }
        let via_api = ChatChunk::from_json(&text).map_err(|error| error.to_string());
        prop_assert_eq!(via_api, slow.map_err(|error| error.to_string()));
    }
}

#[test]
fn generated_well_formed_chunks_mostly_take_the_fast_path() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let strategy = chunk();
    let (mut valid, mut fast) = (0, 0);
    for _ in 0..500 {
        let text = strategy.new_tree(&mut runner).unwrap().current();
        if reference(&text).is_ok() {
            valid += 1;
            fast += usize::from(decode(&text).is_some());
        }
    }
    eprintln!("valid {valid} fast {fast}");
    assert!(valid > 50, "only {valid} of 500 generated chunks are valid");
    // Duplicates and the rare shapes left to serde account for the rest.
    assert!(fast * 10 >= valid * 7, "fast path took {fast} of {valid} valid chunks");
}

proptest! {
    #[test]
    fn word_at_a_time_search_finds_the_first_stop(bytes in prop::collection::vec(
        prop_oneof![4 => 0x20u8..0x7f, 1 => Just(b'"'), 1 => Just(b'\\'), 1 => 0u8..0x20, 2 => 0x80u8..=0xff], 0..40)) {
        let expected = bytes.iter().position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20);
        prop_assert_eq!(super::stop_position(&bytes), expected);
    }
}
