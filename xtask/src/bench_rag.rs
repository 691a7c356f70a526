//! `cargo xtask bench rag [--size N] [--weights KEYWORD,VECTOR] [--chunk-tokens N]
//! [--collection NAME] [--study] [--quality-only]`: aoai-rag's retrieval
//! evaluation and the engine's latency at scale.
//!
//! 1. Makes sure all-MiniLM-L6-v2 is fetched (`cargo xtask fetch-model`).
//! 2. `cargo bench -p aoai-rag --features local-embeddings --bench retrieval`:
//!    every committed evaluation — our own (`crates/aoai-rag/tests/data/eval/`:
//!    chapters of The Rust Programming Language, queries judged by section)
//!    and each public collection (`tests/data/eval-NAME/`, judged by
//!    document) — in keyword, vector and hybrid modes beside two plain-BM25
//!    baselines over the same chunks (rank_bm25's BM25Okapi, tantivy's
//!    defaults): nDCG@10, recall@10, MRR@10, and build throughput.
//!    `--study` adds the fusion study (RRF constants, weights, depths,
//!    normalised linear combinations).
//! 3. `cargo bench -p aoai-index --bench scale -- --size N` (default
//!    100,000): a synthetic corpus of N records × 384 dimensions; build
//!    throughput and p50/p95 of keyword, vector (exact and HNSW) and hybrid
//!    queries, and HNSW's recall@10 against the exact scan.

use crate::run;

/// The target: hybrid p50 at most 5 ms over 100,000 chunks.
const DEFAULT_SIZE: &str = "100000";

pub(crate) fn bench(args: &[String]) -> Result<(), String> {
    let mut size = DEFAULT_SIZE.to_owned();
    let mut weights = None;
    let mut chunk_tokens = None;
    let mut passed: Vec<String> = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--size" => size = rest.next().ok_or("--size needs a number")?.clone(),
            "--weights" => weights = Some(rest.next().ok_or("--weights needs KEYWORD,VECTOR")?.clone()),
            "--chunk-tokens" => chunk_tokens = Some(rest.next().ok_or("--chunk-tokens needs a number")?.clone()),
            "--collection" => {
                passed.push(arg.clone());
                passed.push(rest.next().ok_or("--collection needs a name (book, longmemeval, ...)")?.clone());
            }
            "--study" | "--quality-only" => passed.push(arg.clone()),
            other => {
                return Err(format!(
                    "unknown argument {other:?} for `bench rag` (--size N, --weights K,V, --chunk-tokens N, \
                     --collection NAME, --study, --quality-only)"
                ));
            }
        }
    }
    if size.parse::<usize>().map_or(true, |size| size < 100) {
        return Err(format!("--size {size}: give a number of records, at least 100"));
    }
    crate::fetch_model()?;
    let mut retrieval = vec!["bench", "-p", "aoai-rag", "--features", "local-embeddings", "--bench", "retrieval"];
    if weights.is_some() || chunk_tokens.is_some() || !passed.is_empty() {
        retrieval.push("--");
    }
    retrieval.extend(passed.iter().map(String::as_str));
    if let Some(weights) = &weights {
        retrieval.extend(["--weights", weights.as_str()]);
    }
    if let Some(tokens) = &chunk_tokens {
        retrieval.extend(["--chunk-tokens", tokens.as_str()]);
    }
    run("cargo", &retrieval)?;
    run("cargo", &["bench", "-p", "aoai-index", "--bench", "scale", "--", "--size", size.as_str()])
}
