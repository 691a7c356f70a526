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
//! 3. `cargo bench -p aoai-rag --features local-embeddings --bench indexing`:
//!    end-to-end indexing throughput (chunk, embed, index) with the local
//!    model on the same corpus, in chunks/s, and where the time went; then
//!    the same through the command line: `aoai rag index --embedder local`
//!    (release build) on the corpus into a new directory, timed whole
//!    (model loading included).
//! 4. `cargo bench -p aoai-index --bench scale -- --size N` (default
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
    run("cargo", &["bench", "-p", "aoai-rag", "--features", "local-embeddings", "--bench", "indexing"])?;
    cli_indexing()?;
    run("cargo", &["bench", "-p", "aoai-index", "--bench", "scale", "--", "--size", size.as_str()])
}

/// Times `aoai rag index --embedder local` on the book corpus into a fresh
/// directory and prints chunks/s from the chunk count it reports.
fn cli_indexing() -> Result<(), String> {
    run("cargo", &["build", "--release", "-p", "aoai-cli", "--features", "local-embeddings"])?;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), std::path::PathBuf::from);
    let binary = target.join("release").join("aoai");
    let corpus = root.join("crates/aoai-rag/tests/data/eval/book");
    let index = std::env::temp_dir().join(format!("aoai-bench-rag-index-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&index);
    let index_arg = index.display().to_string();
    let corpus_arg = corpus.display().to_string();
    let args = ["rag", "index", "--embedder", "local", "--index", index_arg.as_str(), corpus_arg.as_str()];
    eprintln!("$ {} {}", binary.display(), args.join(" "));
    #[allow(clippy::disallowed_methods, reason = "a benchmark measures wall time")]
    let started = std::time::Instant::now();
    let output = std::process::Command::new(&binary)
        .args(args)
        .output()
        .map_err(|error| format!("cannot run {}: {error}", binary.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&index);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("aoai rag index failed ({}): {stderr}", output.status));
    }
    // "…; 865 chunks, 156,789 tokens embedded in …"
    let summary = stderr.lines().rev().find(|line| line.starts_with("indexed ")).unwrap_or_default();
    let chunks: Option<u64> =
        summary.split("; ").nth(1).and_then(|part| part.split_whitespace().next()).and_then(|count| count.parse().ok());
    match chunks {
        Some(chunks) => println!(
            "aoai rag index --embedder local: {chunks} chunks in {seconds:.1} s = {:.1} chunks/s end to end \
             (process start, model load, chunk, embed, index)",
            chunks as f64 / seconds
        ),
        None => println!("aoai rag index --embedder local: {seconds:.1} s ({summary})"),
    }
    Ok(())
}
