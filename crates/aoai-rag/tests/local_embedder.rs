//! The local embedder against sentence-transformers' own output
//! (`tests/data/minilm_reference.json`, written by `scripts/minilm_reference.py`).
//!
//! Needs the model files: `cargo xtask fetch-model` (part of `cargo xtask setup`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;

use aoai_rag::local::{FETCH_COMMAND, LocalEmbedder, LocalEmbedderError};
use serde::Deserialize;

/// The bound: every component within 1e-4 of sentence-transformers'.
const TOLERANCE: f32 = 1e-4;

#[derive(Deserialize)]
struct Reference {
    max_seq_length: usize,
    sentences: Vec<Case>,
    tokenizer_only: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    text: String,
    token_ids: Vec<u32>,
    #[serde(default)]
    embedding: Vec<f32>,
}

fn reference() -> Reference {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/minilm_reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn embedder() -> &'static LocalEmbedder {
    static EMBEDDER: OnceLock<LocalEmbedder> = OnceLock::new();
    EMBEDDER.get_or_init(|| match LocalEmbedder::from_default_location() {
        Ok(embedder) => embedder,
        Err(error) => panic!("{error}"),
    })
}

fn max_abs_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn token_ids_match_the_reference_tokenizer() {
    let reference = reference();
    let tokenizer = embedder().tokenizer();
    assert_eq!(tokenizer.max_len(), reference.max_seq_length);
    for case in reference.sentences.iter().chain(&reference.tokenizer_only) {
        assert_eq!(tokenizer.encode(&case.text), case.token_ids, "token ids of {:?}", case.text);
    }
}

#[test]
fn the_long_sentence_is_truncated_to_256_tokens() {
    let reference = reference();
    let longest = reference.sentences.iter().map(|case| case.token_ids.len()).max().unwrap();
    assert_eq!(longest, 256);
}

#[test]
fn vectors_match_sentence_transformers_to_1e_4() {
    let reference = reference();
    let texts: Vec<&str> = reference.sentences.iter().map(|case| case.text.as_str()).collect();
    let vectors = embedder().embed(&texts).unwrap();
    assert_eq!(vectors.len(), texts.len());
    let mut worst = 0.0f32;
    for (case, vector) in reference.sentences.iter().zip(&vectors) {
        assert_eq!(vector.len(), 384);
        let difference = max_abs_difference(vector, &case.embedding);
        let start: String = case.text.chars().take(40).collect();
        eprintln!("max |Δ| = {difference:.2e} for {start:?}");
        assert!(difference <= TOLERANCE, "max |Δ| = {difference} for {:?}", case.text);
        worst = worst.max(difference);
    }
    eprintln!("worst max |Δ| over {} sentences: {worst:.2e}", texts.len());
}

#[test]
fn a_batch_equals_its_texts_one_by_one() {
    let reference = reference();
    let texts: Vec<&str> = reference.sentences.iter().map(|case| case.text.as_str()).collect();
    let batch = embedder().embed(&texts).unwrap();
    for (text, batched) in texts.iter().zip(&batch) {
        let alone = embedder().embed(&[text]).unwrap();
        let difference = max_abs_difference(batched, &alone[0]);
        assert!(difference <= 1e-5, "padding changed {text:?} by {difference}");
    }
}

#[test]
fn vectors_are_unit_length_with_384_dimensions() {
    let embedder = embedder();
    assert_eq!(embedder.dimensions(), 384);
    for vector in embedder.embed(&["one", "two words", ""]).unwrap() {
        let norm: f32 = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert_eq!(vector.len(), 384);
        assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
    }
    assert!(embedder.embed(&[]).unwrap().is_empty());
}

#[test]
fn similar_sentences_are_closer_than_unrelated_ones() {
    let vectors = embedder()
        .embed(&["A cat sits on the mat.", "A kitten rests on a rug.", "Quarterly revenue grew by 4%."])
        .unwrap();
    let cosine = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    assert!(cosine(&vectors[0], &vectors[1]) > cosine(&vectors[0], &vectors[2]) + 0.2);
}

#[test]
fn a_missing_model_names_the_fetch_command() {
    let dir = std::env::temp_dir().join("aoai-rag-no-model-here");
    let error = LocalEmbedder::from_dir(&dir).unwrap_err();
    assert!(matches!(error, LocalEmbedderError::ModelMissing { .. }), "{error:?}");
    assert!(error.to_string().contains(FETCH_COMMAND), "{error}");
}

/// Throughput on this machine (not a check): `cargo nextest run -p aoai-rag
/// --features local-embeddings --run-ignored only --no-capture -E 'test(throughput)'`.
#[test]
#[ignore = "a measurement, not a check"]
#[allow(clippy::disallowed_methods, reason = "measures wall-clock time; no logic depends on it")]
fn throughput() {
    let sentences: Vec<String> = (0..128)
        .map(|i| format!("Sentence number {i} is a short line of about fifteen words about retrieval and embeddings."))
        .collect();
    let texts: Vec<&str> = sentences.iter().map(String::as_str).collect();
    let embedder = embedder();
    embedder.embed(&texts[..8]).unwrap();
    let start = std::time::Instant::now();
    let vectors = embedder.embed(&texts).unwrap();
    let seconds = start.elapsed().as_secs_f64();
    let tokens = embedder.tokenizer().encode(texts[0]).len();
    eprintln!(
        "{} sentences of {tokens} tokens in {seconds:.2} s: {:.0} sentences/s",
        vectors.len(),
        vectors.len() as f64 / seconds
    );
}
