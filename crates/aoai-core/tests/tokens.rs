//! Token counting checked against tiktoken-rs, the reference implementation.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use aoai_core::chat::{ChatMessage, ChatRequest, ContentPart, FunctionDefinition, Tool, ToolCall, Usage};
use aoai_core::tokens::{
    Cost, DEFAULT_MAX_OUTPUT_TOKENS, DecodeTokensError, Encoding, Price, PriceTable, RequestEstimate, Tokenizer,
};
use proptest::prelude::*;
use serde_json::json;
use tiktoken_rs::CoreBPE;

const ENCODINGS: [Encoding; 2] = [Encoding::Cl100kBase, Encoding::O200kBase];

fn oracle(encoding: Encoding) -> &'static CoreBPE {
    match encoding {
        Encoding::Cl100kBase => tiktoken_rs::cl100k_base_singleton(),
        Encoding::O200kBase => tiktoken_rs::o200k_base_singleton(),
        other => panic!("no oracle for {other}"),
    }
}

/// The corpus: every `*.txt` file under `tests/fixtures/tokens`, by name.
fn corpus() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokens");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "txt"))
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// Whole files, each line with its line end, and the text between every
/// 97th character and the next 301 (to cut pieces at odd places).
fn corpus_samples() -> Vec<(String, String)> {
    let mut samples = Vec::new();
    for (name, text) in corpus() {
        for (line_idx, line) in text.split_inclusive('\n').enumerate() {
            samples.push((format!("{name}:{}", line_idx + 1), line.to_owned()));
        }
        let chars: Vec<char> = text.chars().collect();
        for start in (0..chars.len()).step_by(97) {
            let window: String = chars[start..chars.len().min(start + 301)].iter().collect();
            samples.push((format!("{name}@{start}"), window));
        }
        samples.push((name, text));
    }
    samples
}

fn assert_matches_oracle(tokenizer: Tokenizer, label: &str, text: &str) {
    let expected = oracle(tokenizer.encoding()).encode_ordinary(text);
    let ids = tokenizer.encode(text);
    assert_eq!(ids, expected, "{} ids differ on {label}: {text:?}", tokenizer.encoding());
    assert_eq!(tokenizer.count(text), expected.len(), "{} count differs on {label}", tokenizer.encoding());
    assert_eq!(tokenizer.decode(&ids).unwrap(), text, "{} round trip on {label}", tokenizer.encoding());
}

#[test]
fn corpus_is_varied_and_large_enough() {
    let corpus = corpus();
    let names: Vec<&str> = corpus.iter().map(|(name, _)| name.as_str()).collect();
    for expected in [
        "cjk.txt",
        "combining.txt",
        "emoji.txt",
        "empty.txt",
        "english.txt",
        "european.txt",
        "json.txt",
        "log.txt",
        "long_words.txt",
        "markdown.txt",
        "numbers.txt",
        "python.txt",
        "repeated.txt",
        "rtl.txt",
        "rust.txt",
        "special.txt",
        "technical.txt",
        "whitespace.txt",
    ] {
        assert!(names.contains(&expected), "missing {expected} in {names:?}");
    }
    let bytes: usize = corpus.iter().map(|(_, text)| text.len()).sum();
    assert!(bytes > 30_000, "corpus has only {bytes} bytes");
    let whitespace = &corpus.iter().find(|(name, _)| name == "whitespace.txt").unwrap().1;
    assert!(whitespace.contains("\r\n"), "line ends were normalised; see .gitattributes");
}

#[test]
fn corpus_matches_tiktoken_cl100k() {
    let tokenizer = Tokenizer::new(Encoding::Cl100kBase);
    for (label, text) in corpus_samples() {
        assert_matches_oracle(tokenizer, &label, &text);
    }
}

#[test]
fn corpus_matches_tiktoken_o200k() {
    let tokenizer = Tokenizer::new(Encoding::O200kBase);
    for (label, text) in corpus_samples() {
        assert_matches_oracle(tokenizer, &label, &text);
    }
}

#[test]
fn known_counts() {
    let cl100k = Tokenizer::new(Encoding::Cl100kBase);
    let o200k = Tokenizer::new(Encoding::O200kBase);
    assert_eq!(cl100k.count(""), 0);
    assert_eq!(o200k.count(""), 0);
    assert!(cl100k.encode("").is_empty());
    // The cookbook's examples: `tiktoken is great!` is 6 cl100k tokens and
    // [83, 8251, 2488, 382, 2212, 0] in o200k.
    assert_eq!(cl100k.count("tiktoken is great!"), 6);
    assert_eq!(o200k.encode("tiktoken is great!"), [83, 8251, 2488, 382, 2212, 0]);
    assert_eq!(o200k.decode(&[83, 8251, 2488, 382, 2212, 0]).unwrap(), "tiktoken is great!");
}

#[test]
fn special_token_text_is_ordinary_text() {
    for encoding in ENCODINGS {
        let tokenizer = Tokenizer::new(encoding);
        let ids = tokenizer.encode("<|endoftext|>");
        assert!(ids.len() > 1, "{encoding}: {ids:?}");
        assert!(ids.iter().all(|&id| (id as usize) < encoding.vocabulary_size()));
        assert_eq!(tokenizer.decode(&ids).unwrap(), "<|endoftext|>");
    }
}

#[test]
fn decode_special_token_ids_like_tiktoken() {
    for encoding in ENCODINGS {
        let tokenizer = Tokenizer::new(encoding);
        let specials = oracle(encoding).encode_with_special_tokens("a<|endoftext|>b<|endofprompt|>");
        assert_eq!(specials.len(), 4, "{encoding}: {specials:?}");
        assert_eq!(tokenizer.decode(&specials).unwrap(), "a<|endoftext|>b<|endofprompt|>");
        assert_eq!(tokenizer.decode(&specials).unwrap(), oracle(encoding).decode(&specials).unwrap());
    }
    let cl100k = Tokenizer::new(Encoding::Cl100kBase);
    let fim =
        tiktoken_rs::cl100k_base_singleton().encode_with_special_tokens("<|fim_prefix|><|fim_middle|><|fim_suffix|>");
    assert_eq!(cl100k.decode(&fim).unwrap(), "<|fim_prefix|><|fim_middle|><|fim_suffix|>");
}

#[test]
fn decode_errors() {
    let tokenizer = Tokenizer::new(Encoding::Cl100kBase);
    assert_eq!(tokenizer.decode(&[15339, 100_256]), Err(DecodeTokensError::UnknownToken { index: 1, token: 100_256 }));
    assert_eq!(tokenizer.decode(&[u32::MAX]), Err(DecodeTokensError::UnknownToken { index: 0, token: u32::MAX }));
    // An emoji spans several tokens; its first token alone is not UTF-8.
    let ids = tokenizer.encode("ab🙂");
    assert!(ids.len() > 2, "{ids:?}");
    let cut = &ids[..ids.len() - 1];
    assert!(matches!(tokenizer.decode(cut), Err(DecodeTokensError::InvalidUtf8 { valid_up_to: 2 })));
    let bytes = tokenizer.decode_bytes(cut).unwrap();
    assert!(bytes.len() > 2 && "ab🙂".as_bytes().starts_with(&bytes), "{bytes:?}");
    assert!(tokenizer.decode_lossy(cut).starts_with("ab\u{fffd}"));
    assert_eq!(tokenizer.decode_lossy(&[15339, u32::MAX]), format!("{}\u{fffd}", tokenizer.decode(&[15339]).unwrap()));
    assert_eq!(
        DecodeTokensError::UnknownToken { index: 1, token: 7 }.to_string(),
        "token id 7 at index 1 is not in the vocabulary"
    );
}

#[test]
fn count_up_to_is_exact_below_the_limit() {
    for encoding in ENCODINGS {
        let tokenizer = Tokenizer::new(encoding);
        for (label, text) in corpus() {
            let count = tokenizer.count(&text);
            assert_eq!(tokenizer.count_up_to(&text, count), Some(count), "{label}");
            assert_eq!(tokenizer.count_up_to(&text, usize::MAX), Some(count), "{label}");
            if count > 0 {
                assert_eq!(tokenizer.count_up_to(&text, count - 1), None, "{label}");
            }
        }
    }
}

#[test]
fn model_to_encoding() {
    let cl100k = [
        "gpt-4",
        "gpt-4-0613",
        "gpt-4-32k",
        "gpt-4-turbo",
        "gpt-4-turbo-2024-04-09",
        "gpt-4-1106-preview",
        "gpt-4-vision-preview",
        "gpt-35-turbo",
        "gpt-35-turbo-16k",
        "gpt-35-turbo-instruct",
        "gpt-3.5-turbo",
        "gpt-3.5-turbo-0125",
        "GPT-35-Turbo",
        "gpt4",
        "gpt4-prod",
        "gpt-4_eastus",
        "text-embedding-ada-002",
        "text-embedding-3-small",
        "text-embedding-3-large",
        "azure/gpt-35-turbo",
        "ft:gpt-3.5-turbo-0125:my-org::abc123",
        "davinci-002",
    ];
    for model in cl100k {
        assert_eq!(Encoding::for_model(model), Encoding::Cl100kBase, "{model}");
    }
    let o200k = [
        "gpt-4o",
        "gpt-4o-2024-08-06",
        "gpt-4o-mini",
        "gpt-4o-mini-2024-07-18",
        "GPT-4o",
        "gpt4o",
        "chatgpt-4o-latest",
        "gpt-4.1",
        "gpt-4.1-mini",
        "gpt-4.1-nano-2025-04-14",
        "gpt-4.5-preview",
        "gpt-5",
        "gpt-5-mini",
        "gpt-5-nano",
        "gpt-5-chat",
        "gpt-5.1",
        "o1",
        "o1-mini",
        "o1-preview",
        "o3",
        "o3-mini",
        "o3-pro",
        "o4-mini",
        "codex-mini",
        "gpt-oss-120b",
        "ft:gpt-4o-mini-2024-07-18:org::xyz",
        "azure/gpt-4o",
        "my-custom-deployment",
        "",
    ];
    for model in o200k {
        assert_eq!(Encoding::for_model(model), Encoding::O200kBase, "{model}");
    }
    // Agrees with tiktoken-rs wherever both know the model.
    for model in cl100k.iter().chain(o200k.iter()) {
        let Some(theirs) = tiktoken_rs::tokenizer::get_tokenizer(model) else { continue };
        let theirs = match theirs {
            tiktoken_rs::tokenizer::Tokenizer::Cl100kBase => Encoding::Cl100kBase,
            _ => Encoding::O200kBase,
        };
        assert_eq!(Encoding::for_model(model), theirs, "{model}");
    }
    assert_eq!(Tokenizer::for_model("gpt-35-turbo").encoding(), Encoding::Cl100kBase);
    assert_eq!(Encoding::Cl100kBase.to_string(), "cl100k_base");
    assert_eq!(Encoding::from_name("o200k_base"), Some(Encoding::O200kBase));
    assert_eq!(Encoding::from_name("p50k_base"), None);
    assert_eq!(Encoding::O200kBase.tokenizer(), Tokenizer::new(Encoding::O200kBase));
    assert_eq!(format!("{:?}", Tokenizer::new(Encoding::O200kBase)), "Tokenizer { encoding: O200kBase }");
}

fn assert_truncations(tokenizer: Tokenizer, text: &str, max_tokens: usize) {
    let count = tokenizer.count(text);
    let head = tokenizer.truncate(text, max_tokens);
    assert!(text.starts_with(head), "not a prefix");
    assert!(tokenizer.count(head) <= max_tokens, "{} > {max_tokens} in {head:?}", tokenizer.count(head));
    let tail = tokenizer.truncate_end(text, max_tokens);
    assert!(text.ends_with(tail), "not a suffix");
    assert!(tokenizer.count(tail) <= max_tokens, "{} > {max_tokens} in {tail:?}", tokenizer.count(tail));
    if count <= max_tokens {
        assert_eq!(head, text);
        assert_eq!(tail, text);
    }
}

#[test]
fn truncate_corpus() {
    for encoding in ENCODINGS {
        let tokenizer = Tokenizer::new(encoding);
        for (label, text) in corpus() {
            let count = tokenizer.count(&text);
            for max_tokens in [0, 1, 2, 3, 7, 50, count / 2, count.saturating_sub(1), count, count + 1] {
                assert_truncations(tokenizer, &text, max_tokens);
                // Prose and code lose at most a token or two to the cut.
                if label != "repeated.txt" && max_tokens <= count {
                    let kept = tokenizer.count(tokenizer.truncate(&text, max_tokens));
                    assert!(kept + 2 >= max_tokens, "{encoding} {label}: kept {kept} of {max_tokens}");
                }
            }
        }
    }
}

#[test]
fn truncate_examples() {
    let tokenizer = Tokenizer::new(Encoding::O200kBase);
    let text = "The quick brown fox jumps over the lazy dog";
    assert_eq!(tokenizer.truncate(text, 0), "");
    assert_eq!(tokenizer.truncate(text, 3), "The quick brown");
    assert_eq!(tokenizer.truncate_end(text, 3), " the lazy dog");
    assert_eq!(tokenizer.truncate(text, 100), text);
    assert_eq!(tokenizer.truncate("", 0), "");
    // Never splits a character, even when its bytes span several tokens.
    let emoji = "🙂🙂🙂🙂";
    for max_tokens in 0..12 {
        let head = tokenizer.truncate(emoji, max_tokens);
        let tail = tokenizer.truncate_end(emoji, max_tokens);
        assert_eq!(head.chars().count() * 4, head.len());
        assert_eq!(tail.chars().count() * 4, tail.len());
        assert!(tokenizer.count(head) <= max_tokens && tokenizer.count(tail) <= max_tokens);
    }
}

/// Strings built from fragments that stress the pre-tokenizer: runs of mixed
/// whitespace, contractions, digits, punctuation, case changes and
/// multi-byte characters.
fn tricky_text() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        Just(" ".to_owned()),
        Just("  ".to_owned()),
        Just("\n".to_owned()),
        Just("\r\n".to_owned()),
        Just("\t".to_owned()),
        Just("\u{a0}".to_owned()),
        Just("\u{3000}".to_owned()),
        Just("'s".to_owned()),
        Just("'LL".to_owned()),
        Just("’re".to_owned()),
        Just("<|endoftext|>".to_owned()),
        Just("🙂".to_owned()),
        Just("👩\u{200d}💻".to_owned()),
        Just("e\u{301}".to_owned()),
        Just("中文".to_owned()),
        Just("عربي".to_owned()),
        "[a-zA-Z]{1,12}",
        "[0-9]{1,7}",
        "[!-/:-@\\[-`{-~]{1,4}",
        "\\PC{1,3}",
    ];
    proptest::collection::vec(fragment, 0..24).prop_map(|fragments| fragments.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_matches_tiktoken(text in "(?s).{0,80}") {
        for encoding in ENCODINGS {
            let tokenizer = Tokenizer::new(encoding);
            let expected = oracle(encoding).encode_ordinary(&text);
            prop_assert_eq!(tokenizer.count(&text), expected.len());
            prop_assert_eq!(tokenizer.encode(&text), expected);
        }
    }

    #[test]
    fn tricky_text_matches_tiktoken(text in tricky_text()) {
        for encoding in ENCODINGS {
            let tokenizer = Tokenizer::new(encoding);
            let expected = oracle(encoding).encode_ordinary(&text);
            prop_assert_eq!(tokenizer.count(&text), expected.len());
            prop_assert_eq!(tokenizer.encode(&text), expected);
        }
    }

    #[test]
    fn truncate_keeps_a_valid_prefix_within_budget(text in tricky_text(), max_tokens in 0_usize..40) {
        for encoding in ENCODINGS {
            assert_truncations(Tokenizer::new(encoding), &text, max_tokens);
        }
    }

    #[test]
    fn truncate_arbitrary_text(text in "(?s).{0,80}", max_tokens in 0_usize..40) {
        for encoding in ENCODINGS {
            assert_truncations(Tokenizer::new(encoding), &text, max_tokens);
        }
    }
}

// ---- Prices and cost -------------------------------------------------------

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn price_table_longest_prefix_wins() {
    let prices = PriceTable::default();
    let output = |model: &str| prices.get(model).map(|price| price.output_per_million);
    assert_eq!(output("gpt-4o-2024-08-06"), Some(10.0));
    assert_eq!(output("gpt-4o-2024-05-13"), Some(15.0));
    assert_eq!(output("gpt-4o-mini-2024-07-18"), Some(0.60));
    assert_eq!(output("GPT-4o-Mini"), Some(0.60));
    assert_eq!(output("gpt-4.1-nano-2025-04-14"), Some(0.40));
    assert_eq!(output("gpt-4-0613"), Some(60.0));
    assert_eq!(output("gpt-4-32k-0613"), Some(120.0));
    assert_eq!(output("gpt-4-turbo-2024-04-09"), Some(30.0));
    assert_eq!(output("gpt-35-turbo"), Some(1.50));
    assert_eq!(output("gpt-5-mini-2025-08-07"), Some(2.0));
    assert_eq!(output("o3-mini-2025-01-31"), Some(4.40));
    assert_eq!(output("o3-2025-04-16"), Some(8.0));
    assert_eq!(output("text-embedding-3-small"), Some(0.0));
    assert_eq!(output("llama-3"), None);
    assert_eq!(output(""), None);
    assert!(!prices.is_empty());
    assert!(prices.iter().all(|(prefix, _)| prefix == prefix.to_ascii_lowercase()));
    assert!(PriceTable::empty().get("gpt-4o").is_none());
    assert!(!aoai_core::tokens::DEFAULT_PRICES_AS_OF.is_empty());
}

#[test]
fn price_table_insert_remove_and_json() {
    let mut prices = PriceTable::default();
    let before = prices.len();
    let old = prices.insert("GPT-4o", Price::new(2.75, 1.375, 11.0));
    assert_eq!(old, Some(Price::new(2.50, 1.25, 10.0)));
    assert_eq!(prices.len(), before);
    assert_eq!(prices.get("gpt-4o-2024-11-20").unwrap().output_per_million, 11.0);
    assert_eq!(prices.remove("gpt-4o-2024-05-13"), Some(Price::new(5.0, 5.0, 15.0)));
    assert_eq!(prices.get("gpt-4o-2024-05-13").unwrap().output_per_million, 11.0);

    let loaded = PriceTable::from_json(
        r#"{"My-Model": {"input_per_million": 1.0, "output_per_million": 2.0, "currency_note": "ignored"},
            "my-model-mini": {"input_per_million": 0.1, "cached_input_per_million": 0.05, "output_per_million": 0.2}}"#,
    )
    .unwrap();
    assert_eq!(loaded.len(), 2);
    assert_eq!(loaded.get("my-model-2"), Some(&Price::new(1.0, 1.0, 2.0)));
    assert_eq!(loaded.get("my-model-mini-x"), Some(&Price::new(0.1, 0.05, 0.2)));
    // Round trip through serde.
    let json = serde_json::to_string(&loaded).unwrap();
    assert_eq!(PriceTable::from_json(&json).unwrap(), loaded);
    // Defaults overridden by a loaded table.
    let mut merged = PriceTable::default();
    merged.extend(loaded.clone());
    assert_eq!(merged.len(), PriceTable::default().len() + 2);

    for bad in [
        r#"{"m": {"input_per_million": -1.0, "output_per_million": 2.0}}"#,
        r#"{"m": {"input_per_million": 1.0}}"#,
        r#"["not", "a", "map"]"#,
        "{",
    ] {
        let error = PriceTable::from_json(bad).unwrap_err();
        assert_eq!(error.setting, "price table", "{bad}");
        assert_eq!(aoai_core::Error::from(error).kind_name(), "config", "{bad}");
    }
}

#[test]
fn cost_arithmetic() {
    let a = Cost { input: 1.0, cached_input: 0.5, output: 2.0 };
    let b = Cost { input: 0.25, cached_input: 0.0, output: 0.75 };
    assert!(close(a.total(), 3.5));
    assert_eq!(a + b, Cost { input: 1.25, cached_input: 0.5, output: 2.75 });
    let mut c = Cost::ZERO;
    c += a;
    assert_eq!(c, a);
    assert_eq!([a, b].into_iter().sum::<Cost>(), a + b);
    assert_eq!(Cost::default(), Cost::ZERO);
}

#[test]
fn cost_of_usage() {
    let prices = PriceTable::default();
    let usage: Usage = serde_json::from_value(json!({
        "prompt_tokens": 2_000_000,
        "completion_tokens": 300_000,
        "total_tokens": 2_300_000,
        "prompt_tokens_details": {"cached_tokens": 1_500_000},
        "completion_tokens_details": {"reasoning_tokens": 200_000}
    }))
    .unwrap();
    // gpt-4o: 0.5M uncached × $2.50 + 1.5M cached × $1.25 + 0.3M output × $10.
    let cost = prices.estimate_cost("gpt-4o-2024-11-20", &usage).unwrap();
    assert!(close(cost.input, 1.25), "{cost:?}");
    assert!(close(cost.cached_input, 1.875), "{cost:?}");
    assert!(close(cost.output, 3.0), "{cost:?}");
    assert!(close(cost.total(), 6.125), "{cost:?}");
    // o3-mini has its own cached rate; reasoning tokens are part of the output.
    let cost = prices.estimate_cost("o3-mini-2025-01-31", &usage).unwrap();
    assert!(close(cost.input, 0.55) && close(cost.cached_input, 0.825) && close(cost.output, 1.32), "{cost:?}");
    // Without details everything is uncached input and output.
    let plain = Usage::new(1000, 500);
    let cost = Price::new(3.0, 1.0, 6.0).cost(&plain);
    assert!(close(cost.input, 0.003) && close(cost.cached_input, 0.0) && close(cost.output, 0.003), "{cost:?}");
    // A server reporting reasoning tokens outside completion tokens is still charged for them.
    let odd: Usage = serde_json::from_value(json!({
        "prompt_tokens": 0, "completion_tokens": 10, "total_tokens": 10,
        "completion_tokens_details": {"reasoning_tokens": 1_000_000}
    }))
    .unwrap();
    assert!(close(Price::new(1.0, 1.0, 4.0).cost(&odd).output, 4.0));
    // Cached tokens above the prompt count are capped.
    let capped: Usage = serde_json::from_value(json!({
        "prompt_tokens": 100, "completion_tokens": 0, "total_tokens": 100,
        "prompt_tokens_details": {"cached_tokens": 1_000}
    }))
    .unwrap();
    let cost = Price::new(1_000_000.0, 10_000.0, 0.0).cost(&capped);
    assert!(close(cost.input, 0.0) && close(cost.cached_input, 1.0), "{cost:?}");
    assert_eq!(prices.estimate_cost("unknown-model", &usage), None);
}

// ---- Chat messages, tools and request estimates -----------------------------

/// The example conversation of the OpenAI cookbook, "How to count tokens with
/// tiktoken", section 6.
fn cookbook_messages() -> Vec<ChatMessage> {
    vec![
        ChatMessage::system(
            "You are a helpful, pattern-following assistant that translates corporate jargon into plain English.",
        ),
        ChatMessage::system("New synergies will help drive top-line growth.").with_name("example_user"),
        ChatMessage::system("Things working well together will increase revenue.").with_name("example_assistant"),
        ChatMessage::system(
            "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage.",
        )
        .with_name("example_user"),
        ChatMessage::system("Let's talk later when we're less busy about how to do better.")
            .with_name("example_assistant"),
        ChatMessage::user("This late pivot means we don't have time to boil the ocean for the client deliverable."),
    ]
}

/// The cookbook's rule computed with tiktoken-rs directly.
fn cookbook_rule_with_tiktoken(encoding: Encoding, messages: &[ChatMessage]) -> usize {
    let bpe = oracle(encoding);
    let len = |text: &str| bpe.encode_ordinary(text).len();
    let mut tokens = 0;
    for message in messages {
        tokens += 3 + len(message.role()) + len(&message.text().unwrap_or_default());
        if let Some(name) = message.name() {
            tokens += len(name) + 1;
        }
    }
    tokens + 3
}

#[test]
fn cookbook_example_messages() {
    let messages = cookbook_messages();
    // The cookbook's published prompt_tokens, confirmed by the API: 129 for
    // gpt-3.5-turbo and gpt-4 (cl100k), 124 for gpt-4o and gpt-4o-mini (o200k).
    for (model, expected) in
        [("gpt-3.5-turbo", 129), ("gpt-35-turbo", 129), ("gpt-4-0613", 129), ("gpt-4o", 124), ("gpt-4o-mini", 124)]
    {
        let tokenizer = Tokenizer::for_model(model);
        assert_eq!(tokenizer.count_messages(&messages), expected, "{model}");
        assert_eq!(cookbook_rule_with_tiktoken(tokenizer.encoding(), &messages), expected, "{model}");
    }
}

#[test]
fn messages_match_tiktoken_rs_helper() {
    use tiktoken_rs::ChatCompletionRequestMessage as TiktokenMessage;
    let messages = cookbook_messages();
    let theirs: Vec<TiktokenMessage> = messages
        .iter()
        .map(|message| TiktokenMessage {
            role: message.role().to_owned(),
            content: message.text(),
            name: message.name().map(str::to_owned),
            ..TiktokenMessage::default()
        })
        .collect();
    for model in ["gpt-4", "gpt-4o"] {
        let expected = tiktoken_rs::num_tokens_from_messages(model, &theirs).unwrap();
        assert_eq!(Tokenizer::for_model(model).count_messages(&messages), expected, "{model}");
    }
}

#[test]
fn message_parts_tool_calls_and_tool_results() {
    let t = Tokenizer::new(Encoding::O200kBase);
    assert_eq!(t.count_messages(&[]), 3);

    let parts = ChatMessage::user(vec![
        ContentPart::text("Describe this picture."),
        ContentPart::image_url("https://example.invalid/cat.png"),
        ContentPart::text(" Be brief."),
    ]);
    let expected = 3 + t.count("user") + t.count("Describe this picture.") + t.count(" Be brief.") + 3;
    assert_eq!(t.count_messages(&[parts]), expected);

    let mut call = ChatMessage::assistant("Checking.");
    if let ChatMessage::Assistant(assistant) = &mut call {
        assistant.tool_calls = Some(vec![
            ToolCall::function("call_1", "get_current_weather", r#"{"location":"Boston, MA"}"#),
            ToolCall::function("call_2", "get_time", "{}"),
        ]);
    }
    let expected_call = 3
        + t.count("assistant")
        + t.count("Checking.")
        + t.count("get_current_weather")
        + t.count(r#"{"location":"Boston, MA"}"#)
        + t.count("get_time")
        + t.count("{}");
    let result = ChatMessage::tool("call_1", "22 degrees and sunny");
    let expected_result = 3 + t.count("tool") + t.count("22 degrees and sunny");
    assert_eq!(t.count_messages(&[call.clone()]), expected_call + 3);
    assert_eq!(t.count_messages(&[call, result]), expected_call + expected_result + 3);

    // Messages parsed from the wire count the same, refusals included.
    let parsed: Vec<ChatMessage> = serde_json::from_value(json!([
        {"role": "developer", "content": "Answer in French.", "name": "ops"},
        {"role": "assistant", "content": null, "refusal": "I can't help with that."},
        {"role": "critic", "content": "An unknown role still counts."}
    ]))
    .unwrap();
    let expected = (3 + t.count("developer") + t.count("Answer in French.") + t.count("ops") + 1)
        + (3 + t.count("assistant") + t.count("I can't help with that."))
        + (3 + t.count("critic") + t.count("An unknown role still counts."))
        + 3;
    assert_eq!(t.count_messages(&parsed), expected);
}

fn weather_tool() -> Tool {
    Tool::function(
        "get_current_weather",
        "Get the current weather in a given location",
        json!({
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                "unit": {"type": "string", "description": "The unit of temperature to return", "enum": ["celsius", "fahrenheit"]}
            },
            "required": ["location"]
        }),
    )
}

#[test]
fn cookbook_example_tools() {
    let messages = vec![
        ChatMessage::system("You are a helpful assistant that can answer to questions about the weather."),
        ChatMessage::user("What's the weather like in San Francisco?"),
    ];
    let tools = [weather_tool()];
    // The cookbook's published prompt_tokens, confirmed by the API: 105 for
    // gpt-3.5-turbo and gpt-4, 101 for gpt-4o and gpt-4o-mini.
    for (model, expected) in [("gpt-3.5-turbo", 105), ("gpt-4", 105), ("gpt-4o", 101), ("gpt-4o-mini", 101)] {
        let tokenizer = Tokenizer::for_model(model);
        assert_eq!(tokenizer.count_messages(&messages) + tokenizer.count_tools(&tools), expected, "{model}");
        let request = ChatRequest::new(messages.clone()).tools(tools.clone()).max_tokens(10);
        let estimate = tokenizer.estimate_request(&request);
        assert_eq!(
            estimate,
            RequestEstimate { prompt_tokens: expected as u64, max_output_tokens: 10, total: expected as u64 + 10 }
        );
    }
    // The legacy `functions` field renders the same way.
    let t = Tokenizer::new(Encoding::O200kBase);
    let functions: Vec<FunctionDefinition> = tools.iter().map(|tool| tool.function.clone()).collect();
    assert_eq!(t.count_functions(&functions), t.count_tools(&tools));
    assert_eq!(t.count_tools(&[]), 0);
}

#[test]
fn tool_overhead_parts() {
    let t = Tokenizer::new(Encoding::O200kBase);
    // No parameters: 7 + "name:description" (final period dropped) + 12.
    let bare = Tool::function("ping", "Checks the service.", json!({"type": "object", "properties": {}}));
    assert_eq!(t.count_tools(std::slice::from_ref(&bare)), 7 + t.count("ping:Checks the service") + 12);
    let no_schema: Tool = serde_json::from_value(json!({"type": "function", "function": {"name": "ping"}})).unwrap();
    assert_eq!(t.count_tools(&[no_schema]), 7 + t.count("ping:") + 12);
    // Two tools share the closing 12; cl100k starts each function at 10.
    assert_eq!(t.count_tools(&[bare.clone(), bare.clone()]), 2 * (7 + t.count("ping:Checks the service")) + 12);
    let cl = Tokenizer::new(Encoding::Cl100kBase);
    assert_eq!(cl.count_tools(&[bare]), 10 + cl.count("ping:Checks the service") + 12);
    // A non-string type and non-string enum items are rendered as JSON.
    let odd = Tool::function("f", "", json!({"properties": {"x": {"type": ["integer", "null"], "enum": [1, 2]}}}));
    let expected =
        7 + t.count("f:") + 3 + (3 + t.count("1")) + (3 + t.count("2")) + t.count(r#"x:["integer","null"]:"#) + 12;
    assert_eq!(t.count_tools(&[odd]), expected);
}

#[test]
fn request_estimates() {
    let t = Tokenizer::new(Encoding::O200kBase);
    let messages = vec![ChatMessage::user("Name three rivers.")];
    let prompt = t.count_messages(&messages) as u64;

    let plain = ChatRequest::new(messages.clone());
    assert_eq!(
        t.estimate_request(&plain),
        RequestEstimate {
            prompt_tokens: prompt,
            max_output_tokens: u64::from(DEFAULT_MAX_OUTPUT_TOKENS),
            total: prompt + u64::from(DEFAULT_MAX_OUTPUT_TOKENS)
        }
    );
    assert_eq!(t.estimate_request_with(&plain, 50).max_output_tokens, 50);
    // max_completion_tokens wins over max_tokens; n multiplies; n = 0 counts as 1.
    let both = ChatRequest::new(messages.clone()).max_tokens(300).max_completion_tokens(200).n(3);
    assert_eq!(t.estimate_request(&both).max_output_tokens, 600);
    assert_eq!(t.estimate_request(&both).total, prompt + 600);
    let legacy = ChatRequest::new(messages.clone()).max_tokens(300).n(0);
    assert_eq!(t.estimate_request(&legacy).max_output_tokens, 300);
    // Tools add to the prompt.
    let with_tools = ChatRequest::new(messages).tool(weather_tool()).max_tokens(1);
    assert_eq!(t.estimate_request(&with_tools).prompt_tokens, prompt + t.count_tools(&[weather_tool()]) as u64);
    // Huge budgets don't overflow.
    let huge = ChatRequest::new(vec![]).max_completion_tokens(u32::MAX).n(u32::MAX);
    assert_eq!(t.estimate_request(&huge).max_output_tokens, u64::from(u32::MAX) * u64::from(u32::MAX));
}

/// `count_messages` counts the known role names as one token each without
/// tokenizing them; tiktoken agrees, and an unknown role is tokenized.
#[test]
fn known_roles_are_one_token_in_both_encodings() {
    for encoding in [Encoding::Cl100kBase, Encoding::O200kBase] {
        for role in ["system", "developer", "user", "assistant", "tool", "function"] {
            assert_eq!(oracle(encoding).encode_ordinary(role).len(), 1, "{role} in {encoding}");
        }
        let tokenizer = Tokenizer::new(encoding);
        let unknown: ChatMessage = serde_json::from_value(json!({"role": "critic_reviewer", "content": "x"})).unwrap();
        let known = ChatMessage::user("x");
        let extra = tokenizer.count("critic_reviewer") - 1;
        assert!(extra > 0, "{encoding}");
        assert_eq!(tokenizer.count_messages(&[unknown]), tokenizer.count_messages(&[known]) + extra, "{encoding}");
    }
}
