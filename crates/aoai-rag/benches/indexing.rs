//! End-to-end indexing throughput with the local model (`cargo xtask bench
//! rag`, or `cargo bench -p aoai-rag --features local-embeddings --bench
//! indexing`): the committed book corpus (`tests/data/eval/book/`) read,
//! chunked as `aoai rag index` does by default (fitted to the embedder),
//! embedded with all-MiniLM-L6-v2 and written to a new `EmbeddedIndex` —
//! the "chunk, embed, index" figure in chunks per second, and where
//! the time went: chunking, embedding (with the word-pieces the model read),
//! writing, and the process's CPU time over wall time (how many cores were
//! busy). Loading the model is timed apart. Target on the 2-core machine:
//! at least 25 chunks/s.
//!
//! `--runs N` repeats the measurement (default 1) and prints each run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::disallowed_methods, reason = "a benchmark measures wall-clock time")]

use std::path::Path;
use std::time::{Duration, Instant};

use aoai_rag::chunk::{ChunkerConfig, TokenChunker};
use aoai_rag::local::LocalEmbedder;
use aoai_rag::{Chunker, Document, EmbeddedIndex, Format};

/// The target of issue #17 on the 2-core machine.
const TARGET_CHUNKS_PER_SECOND: f64 = 25.0;

/// User + system CPU time of this process so far (Linux `/proc/self/stat`;
/// zero elsewhere).
fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return Duration::ZERO };
    // Fields after the command name (which may hold spaces) start at ") ".
    let Some((_, rest)) = stat.rsplit_once(") ") else { return Duration::ZERO };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 here.
    let ticks: u64 =
        fields.get(11..13).map_or(0, |pair| pair.iter().filter_map(|field| field.parse::<u64>().ok()).sum());
    // The kernel's USER_HZ is 100 on every Linux this runs on.
    Duration::from_millis(ticks * 10)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize = args
        .iter()
        .position(|arg| arg == "--runs")
        .map_or(1, |position| args.get(position + 1).expect("--runs N").parse().expect("--runs N"));
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/eval/book");
    let mut files: Vec<_> = std::fs::read_dir(&corpus).unwrap().map(|entry| entry.unwrap().path()).collect();
    files.sort();

    let start = Instant::now();
    let embedder = LocalEmbedder::from_default_location().unwrap_or_else(|error| panic!("{error}"));
    println!(
        "indexing: model loaded in {:.2} s; {} workers (one per core)",
        start.elapsed().as_secs_f64(),
        embedder.workers()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    // Warm up: the first call pays page faults and thread start-up.
    runtime.block_on(aoai_rag::Embedder::embed(&embedder, &["warm up".to_owned()])).unwrap();

    for run in 1..=runs {
        let dir = tempfile::tempdir().unwrap();
        let index = EmbeddedIndex::open(dir.path(), embedder.clone()).unwrap();
        let cpu_before = cpu_time();
        let start = Instant::now();
        let chunker = TokenChunker::new(ChunkerConfig::for_embedder(&embedder)).unwrap().fit_to(embedder.clone());
        let documents: Vec<(String, Vec<aoai_rag::Chunk>)> = files
            .iter()
            .map(|file| {
                let name = file.file_name().unwrap().to_str().unwrap().to_owned();
                let text = std::fs::read_to_string(file).unwrap();
                let chunks = chunker.chunk(&Document::new(name.as_str(), text, Format::Markdown));
                (name, chunks)
            })
            .collect();
        let chunking = start.elapsed();
        let chunks: usize = documents.iter().map(|(_, chunks)| chunks.len()).sum();
        let pieces: usize = documents
            .iter()
            .flat_map(|(_, chunks)| chunks)
            .map(|chunk| embedder.tokenizer().encode(&chunk.text).len())
            .sum();
        let counted = start.elapsed();
        let embedded = runtime.block_on(index.embed_documents(documents)).unwrap();
        let embedding = start.elapsed() - counted;
        let before_write = start.elapsed();
        index.write_documents(embedded).unwrap();
        let writing = start.elapsed() - before_write;
        // Counting word-pieces for this report is not part of indexing.
        let total = start.elapsed() - (counted - chunking);
        let cpu = cpu_time().saturating_sub(cpu_before);
        let rate = chunks as f64 / total.as_secs_f64();
        assert_eq!(index.len(), chunks);
        println!(
            "indexing run {run}: {chunks} chunks ({} word-pieces on average) of {} files chunked, embedded and indexed \
             in {:.1} s = {rate:.1} chunks/s (target ≥ {TARGET_CHUNKS_PER_SECOND}): chunking {:.2} s, embedding \
             {:.1} s ({:.0} word-pieces/s), writing {:.2} s; CPU {:.1} s = {:.2} cores busy",
            pieces / chunks.max(1),
            files.len(),
            total.as_secs_f64(),
            chunking.as_secs_f64(),
            embedding.as_secs_f64(),
            pieces as f64 / embedding.as_secs_f64(),
            writing.as_secs_f64(),
            cpu.as_secs_f64(),
            cpu.as_secs_f64() / total.as_secs_f64(),
        );
    }
}
