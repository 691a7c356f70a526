//! Throughput of the local embedder (all-MiniLM-L6-v2 on the CPU):
//! `cargo bench -p aoai-rag --features local-embeddings --bench local_embedder`.
//!
//! Prints sentences per second for short sentences, and for chunk-sized
//! texts of mixed length through the async `Embedder` seam (the path
//! `EmbeddedIndex::add` takes). Needs the model files: `cargo xtask fetch-model`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::disallowed_methods, reason = "a benchmark measures wall-clock time")]

use std::time::Instant;

use aoai_rag::Embedder;
use aoai_rag::local::LocalEmbedder;

fn main() {
    let embedder = match LocalEmbedder::from_default_location() {
        Ok(embedder) => embedder,
        Err(error) => panic!("{error}"),
    };
    let sentences: Vec<String> = (0..256)
        .map(|i| format!("Sentence number {i} is a short line of about fifteen words about retrieval and embeddings."))
        .collect();
    let texts: Vec<&str> = sentences.iter().map(String::as_str).collect();
    embedder.embed(&texts[..8]).unwrap();
    let tokens = embedder.tokenizer().encode(texts[0]).len();
    let start = Instant::now();
    let vectors = embedder.embed(&texts).unwrap();
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "local embedder, short sentences: {} sentences of {tokens} tokens in {seconds:.2} s = {:.0} sentences/s",
        vectors.len(),
        vectors.len() as f64 / seconds
    );

    // Chunk-like texts of 20 to 200 words, in mixed order.
    let words = "ownership borrowing lifetimes traits generics closures iterators threads channels mutex \
                 vectors strings hash maps errors results options patterns smart pointers reference counting";
    let vocabulary: Vec<&str> = words.split_whitespace().collect();
    let chunks: Vec<String> = (0..128usize)
        .map(|i| {
            let length = 20 + (i * 37) % 181;
            (0..length).map(|j| vocabulary[(i * 7 + j * 3) % vocabulary.len()]).collect::<Vec<_>>().join(" ")
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    let start = Instant::now();
    let vectors = runtime.block_on(Embedder::embed(&embedder, &chunks)).unwrap();
    let seconds = start.elapsed().as_secs_f64();
    let total_tokens: usize = chunks.iter().map(|text| embedder.tokenizer().encode(text).len()).sum();
    println!(
        "local embedder, chunk-sized texts through the async Embedder: {} texts ({} tokens on average) in {seconds:.2} s \
         = {:.1} texts/s, {:.0} tokens/s",
        vectors.len(),
        total_tokens / chunks.len(),
        vectors.len() as f64 / seconds,
        total_tokens as f64 / seconds
    );
}
