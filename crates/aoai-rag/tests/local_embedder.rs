//! The local embedder against sentence-transformers' own output
//! (`tests/data/minilm_reference.json`, written by `scripts/minilm_reference.py`).
//!
//! Needs the model files: `cargo xtask fetch-model` (part of `cargo xtask setup`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;

use std::collections::BTreeMap;

use aoai_rag::local::{FETCH_COMMAND, LocalEmbedder, LocalEmbedderError};
use aoai_rag::{Chunk, EmbeddedIndex, Embedder, Filter, Retriever, SearchMode};
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
        assert!(difference <= 1e-5, "batching changed {text:?} by {difference}");
    }
}

/// Texts are packed into batches by token count and the batches run on
/// several workers: whatever a text is batched with (short or long texts,
/// many or few, first or last), its vector stays the same.
#[test]
fn a_texts_vector_does_not_depend_on_its_batch_mates() {
    let probe = "Ownership rules: each value has one owner, and the value is dropped when the owner goes out of scope.";
    let alone = embedder().embed(&[probe]).unwrap().remove(0);
    let long = "borrowing lifetimes traits generics closures iterators ".repeat(60);
    let medium = "A reference lets you refer to a value without taking ownership of it. ".repeat(4);
    let mixes: Vec<Vec<&str>> = vec![
        vec![probe, "short", "x"],
        vec![long.as_str(), probe, medium.as_str()],
        std::iter::repeat_n(medium.as_str(), 40).chain([probe]).chain(std::iter::repeat_n(long.as_str(), 9)).collect(),
        std::iter::once(probe).chain(std::iter::repeat_n("tiny text", 100)).collect(),
    ];
    for mix in &mixes {
        let position = mix.iter().position(|text| *text == probe).unwrap();
        let vectors = embedder().embed(mix).unwrap();
        assert_eq!(vectors.len(), mix.len());
        let difference = max_abs_difference(&vectors[position], &alone);
        eprintln!("{} texts: max |Δ| = {difference:.2e}", mix.len());
        assert!(difference <= 1e-5, "batched with {} texts, the vector moved by {difference}", mix.len());
        // The others are right too: each equals its own vector alone.
        for (text, vector) in mix.iter().zip(&vectors).take(3) {
            let own = embedder().embed(&[text]).unwrap().remove(0);
            assert!(max_abs_difference(vector, &own) <= 1e-5, "{text:?} moved in a batch");
        }
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

/// The async [`Embedder`] seam: the same vectors as the synchronous call,
/// an identity naming the model and size, inside and outside a runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedder_trait_runs_the_model_off_the_runtime() {
    let embedder = embedder().clone();
    assert_eq!(Embedder::identity(&embedder), "local:all-MiniLM-L6-v2:384");
    assert_eq!(Embedder::dimensions(&embedder), 384);
    let texts = vec!["A cat sits on the mat.".to_owned(), "Quarterly revenue grew by 4%.".to_owned()];
    let through_trait = Embedder::embed(&embedder, &texts).await.unwrap();
    let direct = embedder.embed(&["A cat sits on the mat.", "Quarterly revenue grew by 4%."]).unwrap();
    for (a, b) in through_trait.iter().zip(&direct) {
        assert!(max_abs_difference(a, b) <= 1e-6);
    }
    assert!(Embedder::embed(&embedder, &[]).await.unwrap().is_empty());
}

#[test]
fn the_embedder_trait_works_without_a_runtime() {
    let embedder = embedder().clone();
    let texts = vec!["A kitten rests on a rug.".to_owned()];
    let vectors = futures_lite_block_on(Embedder::embed(&embedder, &texts)).unwrap();
    assert_eq!(vectors.len(), 1);
    assert!(max_abs_difference(&vectors[0], &embedder.embed(&["A kitten rests on a rug."]).unwrap()[0]) <= 1e-6);
}

/// Polls a future to completion on this thread, with no tokio runtime.
fn futures_lite_block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    let mut future = std::pin::pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
}

fn chunk(source: &str, title: &str, text: &str) -> Chunk {
    Chunk {
        id: format!("{source}#0"),
        source: source.to_owned(),
        index: 0,
        title: Some(title.to_owned()),
        headings: vec![title.to_owned()],
        text: text.to_owned(),
        start: 0,
        end: text.len(),
        tokens: 0,
        tags: BTreeMap::new(),
    }
}

/// Vector search through the embedded index finds a chunk that shares no
/// word with the query; keyword search cannot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vector_search_with_the_local_embedder_finds_meaning_without_shared_words() {
    let dir = tempfile::tempdir().unwrap();
    let index = EmbeddedIndex::open(dir.path(), embedder().clone()).unwrap();
    index
        .add(vec![
            chunk("pets.md", "Pets", "Felines enjoy napping in warm sunlight near windows."),
            chunk("finance.md", "Finance", "Quarterly revenue increased four percent compared with last year."),
            chunk("weather.md", "Weather", "Heavy rainfall and strong winds are expected along the coast tonight."),
            chunk("cooking.md", "Cooking", "Simmer the tomatoes with garlic and basil for twenty minutes."),
        ])
        .await
        .unwrap();
    let query = "my cat likes to sleep on the sofa";
    let hits = index.search(query, 2, SearchMode::Vector, &Filter::none()).await.unwrap();
    assert_eq!(hits[0].chunk.source, "pets.md", "{hits:#?}");
    let stormy = index.search("a storm is coming", 1, SearchMode::Vector, &Filter::none()).await.unwrap();
    assert_eq!(stormy[0].chunk.source, "weather.md");
    let keyword = index.search(query, 2, SearchMode::Keyword, &Filter::none()).await.unwrap();
    assert!(keyword.iter().all(|hit| hit.chunk.source != "pets.md"), "{keyword:#?}");
    // Reopening with the same model is accepted; the manifest names it.
    drop(index);
    let manifest = std::fs::read_to_string(dir.path().join("manifest.json")).unwrap();
    assert!(manifest.contains("local:all-MiniLM-L6-v2:384"), "{manifest}");
    let reopened = EmbeddedIndex::open(dir.path(), embedder().clone()).unwrap();
    assert_eq!(reopened.len(), 4);
}

/// Chunks sized for the local embedder (its default size, its own
/// WordPiece count) are never longer than the 256 word-pieces it reads, over
/// the whole committed evaluation corpus.
#[test]
fn chunks_fit_for_the_local_embedder_are_embedded_whole() {
    use aoai_rag::chunk::{ChunkerConfig, TokenChunker};
    use aoai_rag::{Chunker, Document, Format};

    let embedder = embedder().clone();
    let tokenizer = embedder.tokenizer();
    assert_eq!(Embedder::max_input_tokens(&embedder), Some(256));
    let config = ChunkerConfig::for_embedder(&embedder);
    assert_eq!(config.max_tokens, 256);
    let plain = TokenChunker::new(ChunkerConfig::default()).unwrap();
    let fitted = TokenChunker::new(config).unwrap().fit_to(embedder.clone());
    assert_eq!(fitted.limit().map(|limit| limit.max()), Some(256));

    let book = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/eval/book");
    let (mut before, mut before_over, mut after, mut largest) = (0, 0, 0, 0);
    for entry in std::fs::read_dir(book).unwrap() {
        let path = entry.unwrap().path();
        let document =
            Document::new(path.display().to_string(), std::fs::read_to_string(&path).unwrap(), Format::Markdown);
        let chunks = plain.chunk(&document);
        before += chunks.len();
        before_over += chunks.iter().filter(|chunk| tokenizer.count(&chunk.text) > 256).count();
        for chunk in fitted.chunk(&document) {
            let pieces = tokenizer.count(&chunk.text);
            assert!(pieces <= 256, "{} is {pieces} word-pieces", chunk.id);
            assert_eq!(Embedder::count_input_tokens(&embedder, &chunk.text), Some(pieces));
            largest = largest.max(pieces);
            after += 1;
        }
    }
    eprintln!(
        "512-token chunks: {before} ({before_over} over 256 word-pieces); fitted: {after}, largest {largest} word-pieces"
    );
    // The default 512-token chunks overflow the model: the test would catch it.
    assert!(before_over > 0);
}
