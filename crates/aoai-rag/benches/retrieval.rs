//! The committed retrieval evaluation (`cargo xtask bench rag`): chapters of
//! The Rust Programming Language (`tests/data/eval/book/`), chunked as
//! `aoai rag index` does by default (fitted to the embedder; `--chunk-tokens
//! N` for a fixed size), indexed in an [`EmbeddedIndex`] with the local
//! all-MiniLM-L6-v2 embedder, and the judged queries of
//! `tests/data/eval/queries.json` run in keyword, vector and hybrid modes.
//!
//! Prints nDCG@10, recall@10 and MRR@10 per mode (and per query style),
//! index build throughput with and without embedding time, and query
//! latency. Metrics (see `tests/data/eval/README.md`):
//!
//! - a chunk's grade is the highest grade of the judgments it falls under
//!   (same source file, the judged heading in its heading path), else 0;
//! - nDCG@10 = DCG@10 / ideal DCG@10 with gain `2^grade − 1` and discount
//!   `log2(rank + 1)`; the ideal ranks the corpus's graded chunks best first;
//! - recall@10 = the share of the query's grade-2 sections with at least one
//!   chunk in the top 10 (sections, not chunks, so a section cut into many
//!   chunks does not dilute it and the figure survives chunker changes);
//! - MRR@10 = 1 / the rank of the first grade-2 chunk (0 if none in the top 10).
//!
//! `--weights KEYWORD,VECTOR` changes the hybrid fusion weights (default 1,1).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::disallowed_methods, reason = "a benchmark measures wall-clock time")]

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aoai_rag::chunk::{ChunkerConfig, TokenChunker};
use aoai_rag::index::IndexConfig;
use aoai_rag::local::LocalEmbedder;
use aoai_rag::retrieve::FusionWeights;
use aoai_rag::{Chunk, Chunker, Document, EmbeddedIndex, Embedder, Filter, Format, Retriever, SearchMode};
use async_trait::async_trait;
use serde::Deserialize;

const K: usize = 10;

#[derive(Deserialize)]
struct Judged {
    queries: Vec<JudgedQuery>,
}

#[derive(Deserialize)]
struct JudgedQuery {
    id: String,
    style: String,
    query: String,
    judgments: Vec<Judgment>,
}

#[derive(Deserialize)]
struct Judgment {
    source: String,
    section: String,
    grade: u8,
}

fn grade(query: &JudgedQuery, chunk: &Chunk) -> u8 {
    query
        .judgments
        .iter()
        .filter(|judgment| judgment.source == chunk.source && chunk.headings.contains(&judgment.section))
        .map(|judgment| judgment.grade)
        .max()
        .unwrap_or(0)
}

fn dcg(grades: impl Iterator<Item = u8>) -> f64 {
    grades
        .enumerate()
        .map(|(position, grade)| (2f64.powi(i32::from(grade)) - 1.0) / (position as f64 + 2.0).log2())
        .sum()
}

#[derive(Default, Clone, Copy)]
struct Scores {
    ndcg: f64,
    recall: f64,
    mrr: f64,
    count: usize,
}

impl Scores {
    fn add(&mut self, other: Scores) {
        self.ndcg += other.ndcg;
        self.recall += other.recall;
        self.mrr += other.mrr;
        self.count += other.count;
    }

    fn mean(self) -> (f64, f64, f64) {
        let n = self.count.max(1) as f64;
        (self.ndcg / n, self.recall / n, self.mrr / n)
    }
}

fn score(query: &JudgedQuery, ranked: &[Chunk], corpus: &[Chunk]) -> Scores {
    let grades: Vec<u8> = ranked.iter().take(K).map(|chunk| grade(query, chunk)).collect();
    let mut ideal: Vec<u8> = corpus.iter().map(|chunk| grade(query, chunk)).filter(|g| *g > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let ideal_dcg = dcg(ideal.iter().take(K).copied());
    let ndcg = if ideal_dcg > 0.0 { dcg(grades.iter().copied()) / ideal_dcg } else { 0.0 };
    let answering: Vec<&Judgment> = query.judgments.iter().filter(|judgment| judgment.grade == 2).collect();
    let found = answering
        .iter()
        .filter(|judgment| {
            ranked
                .iter()
                .take(K)
                .any(|chunk| chunk.source == judgment.source && chunk.headings.contains(&judgment.section))
        })
        .count();
    let recall = found as f64 / answering.len().max(1) as f64;
    let mrr = grades.iter().position(|g| *g == 2).map_or(0.0, |position| 1.0 / (position as f64 + 1.0));
    Scores { ndcg, recall, mrr, count: 1 }
}

/// Serves vectors computed once, under the local embedder's identity: the
/// index build measured without embedding time.
struct Precomputed {
    vectors: HashMap<String, Vec<f32>>,
    identity: String,
}

#[async_trait]
impl Embedder for Precomputed {
    async fn embed(&self, texts: &[String]) -> aoai_rag::Result<Vec<Vec<f32>>> {
        Ok(texts.iter().map(|text| self.vectors.get(text).cloned().unwrap_or_else(|| vec![0.0; 384])).collect())
    }

    fn dimensions(&self) -> usize {
        384
    }

    fn identity(&self) -> String {
        self.identity.clone()
    }
}

fn percentile(samples: &mut [Duration], fraction: f64) -> Duration {
    samples.sort_unstable();
    let position = ((samples.len() as f64 - 1.0) * fraction).round() as usize;
    samples.get(position).copied().unwrap_or_default()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut weights = FusionWeights::default();
    if let Some(position) = args.iter().position(|arg| arg == "--weights") {
        let value = args.get(position + 1).expect("--weights KEYWORD,VECTOR");
        let (keyword, vector) = value.split_once(',').expect("--weights KEYWORD,VECTOR");
        weights = FusionWeights { keyword: keyword.parse().unwrap(), vector: vector.parse().unwrap() };
    }
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/eval");
    let mut files: Vec<_> = std::fs::read_dir(data.join("book")).unwrap().map(|entry| entry.unwrap().path()).collect();
    files.sort();
    // Chunked as `aoai rag index` does by default: sized for the embedder
    // (MiniLM reads 256 word-pieces) and checked with its own tokenizer;
    // `--chunk-tokens N` chunks at N tokens unfitted (512: the old default).
    let embedder = LocalEmbedder::from_default_location().unwrap_or_else(|error| panic!("{error}"));
    let chunker = match args.iter().position(|arg| arg == "--chunk-tokens") {
        Some(position) => {
            let tokens: usize = args.get(position + 1).expect("--chunk-tokens N").parse().expect("--chunk-tokens N");
            TokenChunker::new(ChunkerConfig { max_tokens: tokens, ..ChunkerConfig::default() }).unwrap()
        }
        None => TokenChunker::new(ChunkerConfig::for_embedder(&embedder)).unwrap().fit_to(embedder.clone()),
    };
    println!(
        "chunking: {} tokens, {} overlapping{}",
        chunker.config().max_tokens,
        chunker.config().overlap_tokens,
        if chunker.limit().is_some() { ", each within the embedder's input" } else { ", not fitted to the embedder" }
    );
    let mut chunks = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_str().unwrap().to_owned();
        let text = std::fs::read_to_string(file).unwrap();
        chunks.extend(chunker.chunk(&Document::new(name, text, Format::Markdown)));
    }
    let judged: Judged = serde_json::from_str(&std::fs::read_to_string(data.join("queries.json")).unwrap()).unwrap();
    for query in &judged.queries {
        for judgment in &query.judgments {
            let matched = chunks
                .iter()
                .any(|chunk| chunk.source == judgment.source && chunk.headings.contains(&judgment.section));
            assert!(matched, "query {}: no chunk of {} under {:?}", query.id, judgment.source, judgment.section);
        }
    }
    let tokens: usize = chunks.iter().map(|chunk| chunk.tokens).sum();
    println!(
        "corpus: {} files, {} chunks ({} tokens on average), {} judged queries",
        files.len(),
        chunks.len(),
        tokens / chunks.len().max(1),
        judged.queries.len()
    );

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let identity = Embedder::identity(&embedder);
    let texts: Vec<String> = chunks.iter().map(|chunk| chunk.text.clone()).collect();

    // Embedding alone.
    let start = Instant::now();
    let vectors = runtime.block_on(Embedder::embed(&embedder, &texts)).unwrap();
    let embedding = start.elapsed();
    // Index build with the model (what a user runs).
    let dir = tempfile::tempdir().unwrap();
    let config = IndexConfig { weights, ..IndexConfig::default() };
    let index = EmbeddedIndex::open_with(dir.path(), embedder.clone(), config).unwrap();
    let start = Instant::now();
    runtime.block_on(index.add(chunks.clone())).unwrap();
    let with_embedding = start.elapsed();
    // Index build without embedding time: the same vectors served from memory.
    let precomputed = Precomputed { vectors: texts.iter().cloned().zip(vectors).collect(), identity };
    let other_dir = tempfile::tempdir().unwrap();
    let without = EmbeddedIndex::open_with(other_dir.path(), Arc::new(precomputed), config).unwrap();
    let start = Instant::now();
    runtime.block_on(without.add(chunks.clone())).unwrap();
    let without_embedding = start.elapsed();
    let rate = |elapsed: Duration| chunks.len() as f64 / elapsed.as_secs_f64();
    println!(
        "build: embedding alone {:.1} s ({:.1} chunks/s); index with embedding {:.1} s ({:.1} chunks/s); \
         index without embedding {:.3} s ({:.0} chunks/s)",
        embedding.as_secs_f64(),
        rate(embedding),
        with_embedding.as_secs_f64(),
        rate(with_embedding),
        without_embedding.as_secs_f64(),
        rate(without_embedding)
    );

    println!(
        "\nhybrid fusion weights: keyword {}, vector {} (RRF k = 60, 50 candidates per list)\n",
        weights.keyword, weights.vector
    );
    println!(
        "{:<8} {:>9} {:>10} {:>7} {:>11} {:>11}",
        "mode", "nDCG@10", "recall@10", "MRR@10", "p50 query", "p95 query"
    );
    let mut per_style: BTreeMap<(String, &str), Scores> = BTreeMap::new();
    let mut per_query: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for (mode, name) in
        [(SearchMode::Keyword, "keyword"), (SearchMode::Vector, "vector"), (SearchMode::Hybrid, "hybrid")]
    {
        let mut total = Scores::default();
        let mut latencies = Vec::new();
        for query in &judged.queries {
            let start = Instant::now();
            let hits = runtime.block_on(index.search(&query.query, K, mode, &Filter::none())).unwrap();
            latencies.push(start.elapsed());
            let ranked: Vec<Chunk> = hits.into_iter().map(|hit| hit.chunk).collect();
            let scores = score(query, &ranked, &chunks);
            total.add(scores);
            per_style.entry((query.style.clone(), name)).or_default().add(scores);
            per_query.entry(query.id.as_str()).or_default().push(scores.ndcg);
        }
        let (ndcg, recall, mrr) = total.mean();
        let p50 = percentile(&mut latencies, 0.5);
        let p95 = percentile(&mut latencies, 0.95);
        println!(
            "{name:<8} {ndcg:>9.3} {recall:>10.3} {mrr:>7.3} {:>9.1}ms {:>9.1}ms",
            p50.as_secs_f64() * 1e3,
            p95.as_secs_f64() * 1e3
        );
    }
    println!("\nby query style (nDCG@10 / recall@10):");
    let styles: Vec<String> = {
        let mut styles: Vec<String> = judged.queries.iter().map(|query| query.style.clone()).collect();
        styles.sort();
        styles.dedup();
        styles
    };
    for style in &styles {
        let count = judged.queries.iter().filter(|query| &query.style == style).count();
        let mut line = format!("  {style:<10} ({count:>2} queries)");
        for name in ["keyword", "vector", "hybrid"] {
            let (ndcg, recall, _) = per_style.get(&(style.clone(), name)).copied().unwrap_or_default().mean();
            line.push_str(&format!("  {name} {ndcg:.3} / {recall:.3}"));
        }
        println!("{line}");
    }
    let hybrid_wins = per_query.values().filter(|s| s.len() == 3 && s[2] > s[0].max(s[1]) + 1e-9).count();
    let hybrid_loses = per_query.values().filter(|s| s.len() == 3 && s[2] + 1e-9 < s[0].max(s[1])).count();
    println!(
        "\nper query nDCG@10: hybrid above both single modes on {hybrid_wins}, below the better one on {hybrid_loses}, \
         of {}",
        per_query.len()
    );
    if std::env::var_os("AOAI_EVAL_VERBOSE").is_some() {
        for (id, s) in &per_query {
            println!("  {id}: keyword {:.3} vector {:.3} hybrid {:.3}", s[0], s[1], s[2]);
        }
    }
}
