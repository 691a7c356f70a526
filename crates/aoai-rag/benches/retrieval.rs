//! The committed retrieval evaluations (`cargo xtask bench rag`), each run
//! in keyword, vector and hybrid modes beside two plain-BM25 baselines over
//! the same chunks: a textbook BM25 (rank_bm25's `BM25Okapi`: lowercase
//! alphanumeric tokens, k1 = 1.5, b = 0.75, negative idf floored at 0.25 ×
//! the mean idf) and tantivy's defaults over a single field (its default
//! tokenizer, BM25 k1 = 1.2, b = 0.75, query parser in OR mode).
//!
//! Collections (`crates/aoai-rag/tests/data/`):
//!
//! - `eval/`: chapters of The Rust Programming Language and queries written
//!   for them, judged by section (our own; see its README);
//! - every `eval-NAME/` with `docs/` and `queries.json`: a public test
//!   collection converted by a script in `scripts/`, judged by document
//!   (see each README for where the bytes come from and their licence).
//!
//! Documents are chunked as `aoai rag index` does by default (fitted to the
//! embedder; `--chunk-tokens N` for a fixed size) and indexed in an
//! [`EmbeddedIndex`] with the local all-MiniLM-L6-v2 embedder. Vectors are
//! computed once by the model and kept in `target/aoai-bench-cache/` (keyed
//! by the model and the texts), so a second run spends no time embedding;
//! the build throughput line always embeds (the book only).
//!
//! Metrics:
//!
//! - judged by section: a chunk's grade is the highest grade of the
//!   judgments it falls under (same source file, the judged heading in its
//!   heading path), else 0; recall@10 = the share of the query's grade-2
//!   sections with a chunk in the top 10; MRR@10 = 1 / rank of the first
//!   grade-2 chunk;
//! - judged by document: the ranking is collapsed to one hit per document
//!   (its best chunk), as `aoai rag search --per-source 1` does; recall@10 =
//!   the share of the query's relevant (grade ≥ 1) documents in the top 10;
//!   MRR@10 = 1 / rank of the first relevant document;
//! - nDCG@10 = DCG@10 / ideal DCG@10 with gain `2^grade − 1` and discount
//!   `log2(rank + 1)`; the ideal ranks the judged units best first.
//!
//! Flags: `--collection NAME` (one collection), `--weights KEYWORD,VECTOR`
//! (hybrid fusion weights), `--chunk-tokens N`, `--quality-only` (no build
//! timing), `--study` (the fusion study: RRF constants, weights, candidate
//! depths and score-normalised linear combinations, recomputed from the
//! two lists each hybrid search returns).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::disallowed_methods, reason = "a benchmark measures wall-clock time")]

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aoai_rag::chunk::{ChunkerConfig, TokenChunker};
use aoai_rag::index::IndexConfig;
use aoai_rag::local::LocalEmbedder;
use aoai_rag::retrieve::FusionWeights;
use aoai_rag::{Chunk, Chunker, Document, EmbeddedIndex, Embedder, Filter, Format, Hit, Retriever, SearchMode};
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
    /// The judged section (a heading); none: the whole document.
    #[serde(default)]
    section: Option<String>,
    grade: u8,
}

impl Judgment {
    fn covers(&self, chunk: &Chunk) -> bool {
        self.source == chunk.source && self.section.as_ref().is_none_or(|section| chunk.headings.contains(section))
    }
}

struct Collection {
    name: String,
    own: bool,
    files: Vec<PathBuf>,
    judged: Judged,
    by_document: bool,
}

fn collections(only: Option<&str>) -> Vec<Collection> {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut found = vec![(String::from("book"), true, data.join("eval/book"), data.join("eval/queries.json"))];
    let mut public: Vec<PathBuf> = std::fs::read_dir(&data)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.file_name().and_then(|name| name.to_str()).is_some_and(|name| name.starts_with("eval-")))
        .filter(|path| path.join("docs").is_dir() && path.join("queries.json").is_file())
        .collect();
    public.sort();
    for dir in public {
        let name = dir.file_name().unwrap().to_str().unwrap().trim_start_matches("eval-").to_owned();
        found.push((name, false, dir.join("docs"), dir.join("queries.json")));
    }
    found
        .into_iter()
        .filter(|(name, ..)| only.is_none_or(|only| only == name))
        .map(|(name, own, docs, queries)| {
            let mut files: Vec<PathBuf> =
                std::fs::read_dir(&docs).unwrap().map(|entry| entry.unwrap().path()).collect();
            files.sort();
            let judged: Judged = serde_json::from_str(&std::fs::read_to_string(&queries).unwrap())
                .unwrap_or_else(|error| panic!("{}: {error}", queries.display()));
            let by_document = judged.queries.iter().flat_map(|query| &query.judgments).all(|j| j.section.is_none());
            Collection { name, own, files, judged, by_document }
        })
        .collect()
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

/// Scores a ranking of chunks (best first, any length) against `query`.
fn score(query: &JudgedQuery, ranked: &[&Chunk], corpus: &[Chunk], by_document: bool) -> Scores {
    if by_document {
        let mut sources: Vec<&str> = Vec::new();
        for chunk in ranked {
            if !sources.contains(&chunk.source.as_str()) {
                sources.push(&chunk.source);
                if sources.len() == K {
                    break;
                }
            }
        }
        let grade_of =
            |source: &str| query.judgments.iter().filter(|j| j.source == source).map(|j| j.grade).max().unwrap_or(0);
        let grades: Vec<u8> = sources.iter().map(|source| grade_of(source)).collect();
        let mut ideal: Vec<u8> = query.judgments.iter().map(|j| j.grade).filter(|g| *g > 0).collect();
        ideal.sort_unstable_by(|a, b| b.cmp(a));
        let ideal_dcg = dcg(ideal.iter().take(K).copied());
        let ndcg = if ideal_dcg > 0.0 { dcg(grades.iter().copied()) / ideal_dcg } else { 0.0 };
        let relevant = ideal.len();
        let found = grades.iter().filter(|g| **g > 0).count();
        let recall = found as f64 / relevant.max(1) as f64;
        let mrr = grades.iter().position(|g| *g > 0).map_or(0.0, |position| 1.0 / (position as f64 + 1.0));
        return Scores { ndcg, recall, mrr, count: 1 };
    }
    let grade = |chunk: &Chunk| query.judgments.iter().filter(|j| j.covers(chunk)).map(|j| j.grade).max().unwrap_or(0);
    let grades: Vec<u8> = ranked.iter().take(K).map(|chunk| grade(chunk)).collect();
    let mut ideal: Vec<u8> = corpus.iter().map(grade).filter(|g| *g > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let ideal_dcg = dcg(ideal.iter().take(K).copied());
    let ndcg = if ideal_dcg > 0.0 { dcg(grades.iter().copied()) / ideal_dcg } else { 0.0 };
    let answering: Vec<&Judgment> = query.judgments.iter().filter(|judgment| judgment.grade == 2).collect();
    let found = answering.iter().filter(|judgment| ranked.iter().take(K).any(|chunk| judgment.covers(chunk))).count();
    let recall = found as f64 / answering.len().max(1) as f64;
    let mrr = grades.iter().position(|g| *g == 2).map_or(0.0, |position| 1.0 / (position as f64 + 1.0));
    Scores { ndcg, recall, mrr, count: 1 }
}

/// The local model behind a cache of vectors computed earlier (same
/// identity, so the index takes it for the model).
struct Cached {
    model: LocalEmbedder,
    vectors: HashMap<String, Vec<f32>>,
}

#[async_trait]
impl Embedder for Cached {
    async fn embed(&self, texts: &[String]) -> aoai_rag::Result<Vec<Vec<f32>>> {
        let missing: Vec<String> = texts.iter().filter(|text| !self.vectors.contains_key(*text)).cloned().collect();
        let computed = if missing.is_empty() { Vec::new() } else { Embedder::embed(&self.model, &missing).await? };
        let computed: HashMap<&String, Vec<f32>> = missing.iter().zip(computed).collect();
        Ok(texts
            .iter()
            .map(|text| self.vectors.get(text).or_else(|| computed.get(text)).cloned().unwrap_or_default())
            .collect())
    }

    fn dimensions(&self) -> usize {
        Embedder::dimensions(&self.model)
    }

    fn identity(&self) -> String {
        Embedder::identity(&self.model)
    }
}

fn text_hash(text: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

/// The vectors of `texts` by the model, from the cache file when it holds
/// them all, else computed and written.
fn vectors_of(runtime: &tokio::runtime::Runtime, model: &LocalEmbedder, texts: &[String]) -> HashMap<String, Vec<f32>> {
    let identity = Embedder::identity(model);
    let dimensions = Embedder::dimensions(model);
    let mut key = DefaultHasher::new();
    identity.hash(&mut key);
    texts.hash(&mut key);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/aoai-bench-cache");
    let file = dir.join(format!("vectors-{:016x}.f32", key.finish()));
    if let Ok(bytes) = std::fs::read(&file) {
        let row = 8 + dimensions * 4;
        if bytes.len() == row * texts.len() {
            let by_hash: HashMap<u64, Vec<f32>> = bytes
                .chunks_exact(row)
                .map(|row| {
                    let hash = u64::from_le_bytes(row[..8].try_into().unwrap());
                    let vector = row[8..].chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
                    (hash, vector)
                })
                .collect();
            if let Some(vectors) =
                texts.iter().map(|text| by_hash.get(&text_hash(text)).map(|v| (text.clone(), v.clone()))).collect()
            {
                return vectors;
            }
        }
    }
    let start = Instant::now();
    let vectors = runtime.block_on(Embedder::embed(model, texts)).unwrap();
    println!(
        "  (embedded {} texts in {:.1} s; cached in {})",
        texts.len(),
        start.elapsed().as_secs_f64(),
        file.display()
    );
    let mut bytes = Vec::with_capacity(texts.len() * (8 + dimensions * 4));
    for (text, vector) in texts.iter().zip(&vectors) {
        bytes.extend(text_hash(text).to_le_bytes());
        for value in vector {
            bytes.extend(value.to_le_bytes());
        }
    }
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(&file, bytes).unwrap();
    texts.iter().cloned().zip(vectors).collect()
}

/// rank_bm25's `BM25Okapi` over the chunks' texts (one field).
struct Okapi {
    postings: HashMap<String, Vec<(usize, f64)>>,
    lengths: Vec<f64>,
    average: f64,
    idf: HashMap<String, f64>,
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|word| !word.is_empty()).map(str::to_lowercase).collect()
}

impl Okapi {
    const K1: f64 = 1.5;
    const B: f64 = 0.75;
    const EPSILON: f64 = 0.25;

    fn new(texts: &[&str]) -> Self {
        let mut postings: HashMap<String, Vec<(usize, f64)>> = HashMap::new();
        let mut lengths = Vec::with_capacity(texts.len());
        for (row, text) in texts.iter().enumerate() {
            let words = words(text);
            lengths.push(words.len() as f64);
            let mut counts: HashMap<String, f64> = HashMap::new();
            for word in words {
                *counts.entry(word).or_default() += 1.0;
            }
            for (word, count) in counts {
                postings.entry(word).or_default().push((row, count));
            }
        }
        let n = texts.len() as f64;
        let average = lengths.iter().sum::<f64>() / n.max(1.0);
        let mut idf: HashMap<String, f64> = postings
            .iter()
            .map(|(word, list)| {
                let df = list.len() as f64;
                (word.clone(), (n - df + 0.5).ln() - (df + 0.5).ln())
            })
            .collect();
        let floor = Self::EPSILON * idf.values().sum::<f64>() / idf.len().max(1) as f64;
        for value in idf.values_mut() {
            if *value < 0.0 {
                *value = floor;
            }
        }
        Self { postings, lengths, average, idf }
    }

    /// Rows by score, best first; only rows with a query word (rank_bm25
    /// scores every document, the rest 0).
    fn rank(&self, query: &str) -> Vec<usize> {
        let mut scores: HashMap<usize, f64> = HashMap::new();
        for word in words(query) {
            let (Some(list), Some(idf)) = (self.postings.get(&word), self.idf.get(&word)) else { continue };
            for (row, tf) in list {
                let norm = 1.0 - Self::B + Self::B * self.lengths[*row] / self.average;
                *scores.entry(*row).or_default() += idf * tf * (Self::K1 + 1.0) / (tf + Self::K1 * norm);
            }
        }
        let mut ranked: Vec<(usize, f64)> = scores.into_iter().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.into_iter().map(|(row, _)| row).collect()
    }
}

/// tantivy with its defaults over one field holding the chunks' texts.
struct Tantivy {
    searcher: tantivy::Searcher,
    parser: tantivy::query::QueryParser,
    row: tantivy::schema::Field,
}

impl Tantivy {
    fn new(texts: &[&str]) -> Self {
        use tantivy::schema::{NumericOptions, Schema, TEXT};
        let mut builder = Schema::builder();
        let body = builder.add_text_field("body", TEXT);
        let row = builder.add_u64_field("row", NumericOptions::default().set_stored());
        let index = tantivy::Index::create_in_ram(builder.build());
        let mut writer: tantivy::IndexWriter = index.writer_with_num_threads(1, 50_000_000).unwrap();
        for (position, text) in texts.iter().enumerate() {
            writer.add_document(tantivy::doc!(body => *text, row => position as u64)).unwrap();
        }
        writer.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        let parser = tantivy::query::QueryParser::for_index(&index, vec![body]);
        Self { searcher, parser, row }
    }

    fn rank(&self, query: &str, depth: usize) -> Vec<usize> {
        use tantivy::schema::Value as _;
        let (parsed, _) = self.parser.parse_query_lenient(query);
        let top =
            self.searcher.search(&parsed, &tantivy::collector::TopDocs::with_limit(depth).order_by_score()).unwrap();
        top.into_iter()
            .map(|(_, address)| {
                let document: tantivy::TantivyDocument = self.searcher.doc(address).unwrap();
                document.get_first(self.row).and_then(|value| value.as_u64()).unwrap() as usize
            })
            .collect()
    }
}

fn percentile(samples: &mut [Duration], fraction: f64) -> Duration {
    samples.sort_unstable();
    let position = ((samples.len() as f64 - 1.0) * fraction).round() as usize;
    samples.get(position).copied().unwrap_or_default()
}

struct Args {
    weights: Option<FusionWeights>,
    chunk_tokens: Option<usize>,
    collection: Option<String>,
    quality_only: bool,
    study: bool,
}

fn args() -> Args {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| args.iter().position(|arg| arg == flag).map(|p| args.get(p + 1).cloned().expect(flag));
    let weights = value("--weights").map(|value| {
        let (keyword, vector) = value.split_once(',').expect("--weights KEYWORD,VECTOR");
        FusionWeights { keyword: keyword.parse().unwrap(), vector: vector.parse().unwrap() }
    });
    Args {
        weights,
        chunk_tokens: value("--chunk-tokens").map(|tokens| tokens.parse().expect("--chunk-tokens N")),
        collection: value("--collection"),
        quality_only: args.iter().any(|arg| arg == "--quality-only"),
        study: args.iter().any(|arg| arg == "--study"),
    }
}

fn main() {
    let args = args();
    let model = LocalEmbedder::from_default_location().unwrap_or_else(|error| panic!("{error}"));
    // Chunked as `aoai rag index` does by default: sized for the embedder
    // (MiniLM reads 256 word-pieces) and checked with its own tokenizer;
    // `--chunk-tokens N` chunks at N tokens unfitted (512: the old default).
    let chunker = match args.chunk_tokens {
        Some(tokens) => TokenChunker::new(ChunkerConfig { max_tokens: tokens, ..ChunkerConfig::default() }).unwrap(),
        None => TokenChunker::new(ChunkerConfig::for_embedder(&model)).unwrap().fit_to(model.clone()),
    };
    println!(
        "chunking: {} tokens, {} overlapping{}",
        chunker.config().max_tokens,
        chunker.config().overlap_tokens,
        if chunker.limit().is_some() { ", each within the embedder's input" } else { ", not fitted to the embedder" }
    );
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let collections = collections(args.collection.as_deref());
    assert!(!collections.is_empty(), "no collection {:?}", args.collection);
    for collection in &collections {
        evaluate(&runtime, &model, &chunker, collection, &args);
    }
}

fn evaluate(
    runtime: &tokio::runtime::Runtime,
    model: &LocalEmbedder,
    chunker: &TokenChunker,
    collection: &Collection,
    args: &Args,
) {
    let mut chunks = Vec::new();
    for file in &collection.files {
        let name = file.file_name().unwrap().to_str().unwrap().to_owned();
        let text = std::fs::read_to_string(file).unwrap();
        chunks.extend(chunker.chunk(&Document::new(name, text, Format::Markdown)));
    }
    let judged = &collection.judged;
    for query in &judged.queries {
        for judgment in &query.judgments {
            assert!(
                chunks.iter().any(|chunk| judgment.covers(chunk)),
                "query {}: no chunk of {} under {:?}",
                query.id,
                judgment.source,
                judgment.section
            );
        }
    }
    let tokens: usize = chunks.iter().map(|chunk| chunk.tokens).sum();
    println!(
        "\n== {} ({}): {} files, {} chunks ({} tokens on average), {} judged queries, judged by {}",
        collection.name,
        if collection.own { "our own" } else { "public" },
        collection.files.len(),
        chunks.len(),
        tokens / chunks.len().max(1),
        judged.queries.len(),
        if collection.by_document { "document" } else { "section" },
    );

    let texts: Vec<String> = chunks.iter().map(|chunk| chunk.text.clone()).collect();
    let rows: HashMap<&str, usize> = chunks.iter().enumerate().map(|(row, chunk)| (chunk.id.as_str(), row)).collect();
    if collection.own && !args.quality_only {
        build_throughput(runtime, model, &chunks, &texts);
    }
    let mut all_texts = texts.clone();
    all_texts.extend(judged.queries.iter().map(|query| query.query.clone()));
    let vectors = vectors_of(runtime, model, &all_texts);
    let embedder = Arc::new(Cached { model: model.clone(), vectors });
    let dir = tempfile::tempdir().unwrap();
    let defaults = IndexConfig::default();
    let config = IndexConfig { weights: args.weights.unwrap_or(defaults.weights), ..defaults };
    let index = EmbeddedIndex::open_with(dir.path(), Arc::clone(&embedder), config).unwrap();
    runtime.block_on(index.add(chunks.clone())).unwrap();

    let text_refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let okapi = Okapi::new(&text_refs);
    let tantivy = Tantivy::new(&text_refs);
    // Deep enough that collapsing to documents still leaves ten.
    let depth = if collection.by_document { 100 } else { K };
    let per_source = usize::from(collection.by_document);

    println!(
        "hybrid: {:?} fusion, weights keyword {} / vector {}, {} candidates per list",
        config.fusion, config.weights.keyword, config.weights.vector, config.candidates
    );
    println!(
        "{:<11} {:>9} {:>10} {:>7} {:>11} {:>11}",
        "mode", "nDCG@10", "recall@10", "MRR@10", "p50 query", "p95 query"
    );
    let mut per_style: BTreeMap<(String, &str), Scores> = BTreeMap::new();
    let mut per_query: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut table: Vec<(&str, Scores)> = Vec::new();
    let modes: [(&str, Option<SearchMode>); 5] = [
        ("bm25-okapi", None),
        ("tantivy", None),
        ("keyword", Some(SearchMode::Keyword)),
        ("vector", Some(SearchMode::Vector)),
        ("hybrid", Some(SearchMode::Hybrid)),
    ];
    for (name, mode) in modes {
        let mut total = Scores::default();
        let mut latencies = Vec::new();
        for query in &judged.queries {
            let start = Instant::now();
            let ranked: Vec<&Chunk> = match (name, mode) {
                (_, Some(mode)) => {
                    let hits = runtime
                        .block_on(index.search_per_source(&query.query, K, mode, &Filter::none(), per_source))
                        .unwrap();
                    latencies.push(start.elapsed());
                    hits.iter().map(|hit| &chunks[rows[hit.chunk.id.as_str()]]).collect()
                }
                ("bm25-okapi", None) => {
                    let ranked = okapi.rank(&query.query);
                    latencies.push(start.elapsed());
                    ranked.into_iter().take(depth).map(|row| &chunks[row]).collect()
                }
                _ => {
                    let ranked = tantivy.rank(&query.query, depth);
                    latencies.push(start.elapsed());
                    ranked.into_iter().map(|row| &chunks[row]).collect()
                }
            };
            let scores = score(query, &ranked, &chunks, collection.by_document);
            total.add(scores);
            per_style.entry((query.style.clone(), name)).or_default().add(scores);
            per_query.entry(query.id.as_str()).or_default().push(scores.ndcg);
        }
        let (ndcg, recall, mrr) = total.mean();
        let p50 = percentile(&mut latencies, 0.5);
        let p95 = percentile(&mut latencies, 0.95);
        println!(
            "{name:<11} {ndcg:>9.3} {recall:>10.3} {mrr:>7.3} {:>9.2}ms {:>9.2}ms",
            p50.as_secs_f64() * 1e3,
            p95.as_secs_f64() * 1e3
        );
        table.push((name, total));
    }
    let ndcg_of = |name: &str| table.iter().find(|(n, _)| *n == name).map_or(0.0, |(_, s)| s.mean().0);
    let baseline = ndcg_of("bm25-okapi").max(ndcg_of("tantivy"));
    println!(
        "keyword {} the better plain BM25 ({:+.3}); hybrid {} both single modes ({:+.3} over the better)",
        if ndcg_of("keyword") >= baseline { "≥" } else { "<" },
        ndcg_of("keyword") - baseline,
        if ndcg_of("hybrid") > ndcg_of("keyword").max(ndcg_of("vector")) { ">" } else { "≤" },
        ndcg_of("hybrid") - ndcg_of("keyword").max(ndcg_of("vector")),
    );
    let styles: Vec<String> = {
        let mut styles: Vec<String> = judged.queries.iter().map(|query| query.style.clone()).collect();
        styles.sort();
        styles.dedup();
        styles
    };
    if styles.len() > 1 {
        println!("by query style (nDCG@10 / recall@10):");
        for style in &styles {
            let count = judged.queries.iter().filter(|query| &query.style == style).count();
            let mut line = format!("  {style:<10} ({count:>3} queries)");
            for name in ["bm25-okapi", "keyword", "vector", "hybrid"] {
                let (ndcg, recall, _) = per_style.get(&(style.clone(), name)).copied().unwrap_or_default().mean();
                line.push_str(&format!("  {name} {ndcg:.3} / {recall:.3}"));
            }
            println!("{line}");
        }
    }
    // Columns: okapi, tantivy, keyword, vector, hybrid.
    let hybrid_wins = per_query.values().filter(|s| s[4] > s[2].max(s[3]) + 1e-9).count();
    let hybrid_loses = per_query.values().filter(|s| s[4] + 1e-9 < s[2].max(s[3])).count();
    println!(
        "per query nDCG@10: hybrid above both single modes on {hybrid_wins}, below the better one on {hybrid_loses}, of {}",
        per_query.len()
    );
    if std::env::var_os("AOAI_EVAL_VERBOSE").is_some() {
        for (id, s) in &per_query {
            println!("  {id}: okapi {:.3} keyword {:.3} vector {:.3} hybrid {:.3}", s[0], s[2], s[3], s[4]);
        }
    }
    if args.study {
        study(runtime, &embedder, &chunks, &rows, collection);
    }
}

/// Embedding and index build throughput on the collection (the model runs).
fn build_throughput(runtime: &tokio::runtime::Runtime, model: &LocalEmbedder, chunks: &[Chunk], texts: &[String]) {
    let start = Instant::now();
    let vectors = runtime.block_on(Embedder::embed(model, texts)).unwrap();
    let embedding = start.elapsed();
    let dir = tempfile::tempdir().unwrap();
    let index = EmbeddedIndex::open(dir.path(), model.clone()).unwrap();
    let start = Instant::now();
    runtime.block_on(index.add(chunks.to_vec())).unwrap();
    let with_embedding = start.elapsed();
    let cached = Cached { model: model.clone(), vectors: texts.iter().cloned().zip(vectors).collect() };
    let other_dir = tempfile::tempdir().unwrap();
    let without = EmbeddedIndex::open(other_dir.path(), Arc::new(cached)).unwrap();
    let start = Instant::now();
    runtime.block_on(without.add(chunks.to_vec())).unwrap();
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
}

/// One way of fusing the keyword and vector lists of a query.
#[derive(Clone, Copy, Debug)]
enum Fusion {
    /// Reciprocal rank: `w / (k + rank)` per list, over the top `depth` of each.
    Rrf { k: f64, keyword: f64, depth: usize },
    /// Min-max normalised scores, `alpha × keyword + (1 − alpha) × vector`.
    MinMax { alpha: f64, depth: usize },
    /// z-scores, `alpha × keyword + (1 − alpha) × vector`.
    ZScore { alpha: f64, depth: usize },
    /// Scores divided by the list's best (theoretical minimum 0),
    /// `alpha × keyword + (1 − alpha) × vector`.
    MaxNorm { alpha: f64, depth: usize },
}

impl std::fmt::Display for Fusion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fusion::Rrf { k, keyword, depth } => write!(f, "rrf k={k} kw={keyword} depth={depth}"),
            Fusion::MinMax { alpha, depth } => write!(f, "minmax alpha={alpha} depth={depth}"),
            Fusion::ZScore { alpha, depth } => write!(f, "zscore alpha={alpha} depth={depth}"),
            Fusion::MaxNorm { alpha, depth } => write!(f, "maxnorm alpha={alpha} depth={depth}"),
        }
    }
}

/// Fuses two lists of (row, score), best first, into rows best first.
fn fuse(fusion: Fusion, keyword: &[(usize, f32)], vector: &[(usize, f32)]) -> Vec<usize> {
    let mut fused: HashMap<usize, f64> = HashMap::new();
    match fusion {
        Fusion::Rrf { k, keyword: weight, depth } => {
            for (rank, (row, _)) in keyword.iter().take(depth).enumerate() {
                *fused.entry(*row).or_default() += weight / (k + rank as f64 + 1.0);
            }
            for (rank, (row, _)) in vector.iter().take(depth).enumerate() {
                *fused.entry(*row).or_default() += 1.0 / (k + rank as f64 + 1.0);
            }
        }
        Fusion::MinMax { alpha, depth } | Fusion::ZScore { alpha, depth } | Fusion::MaxNorm { alpha, depth } => {
            let normalise = |list: &[(usize, f32)]| -> Vec<(usize, f64)> {
                let list = &list[..list.len().min(depth)];
                let values: Vec<f64> = list.iter().map(|(_, s)| f64::from(*s)).collect();
                let n = values.len().max(1) as f64;
                let (low, high) = values.iter().fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
                let mean = values.iter().sum::<f64>() / n;
                let deviation = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
                list.iter()
                    .map(|(row, s)| {
                        let s = f64::from(*s);
                        let value = match fusion {
                            Fusion::MinMax { .. } => {
                                if high > low {
                                    (s - low) / (high - low)
                                } else {
                                    1.0
                                }
                            }
                            Fusion::MaxNorm { .. } => {
                                if high > 0.0 {
                                    s.max(0.0) / high
                                } else {
                                    0.0
                                }
                            }
                            _ => {
                                if deviation > 0.0 {
                                    (s - mean) / deviation
                                } else {
                                    0.0
                                }
                            }
                        };
                        (*row, value)
                    })
                    .collect()
            };
            let keyword = normalise(keyword);
            let vector = normalise(vector);
            // A row missing from a list gets that list's lowest value.
            let floor = |list: &[(usize, f64)]| list.iter().map(|(_, v)| *v).fold(f64::MAX, f64::min).min(0.0);
            let (keyword_floor, vector_floor) = (floor(&keyword), floor(&vector));
            let keyword: HashMap<usize, f64> = keyword.into_iter().collect();
            let vector: HashMap<usize, f64> = vector.into_iter().collect();
            for row in keyword.keys().chain(vector.keys()) {
                let value = alpha * keyword.get(row).copied().unwrap_or(keyword_floor)
                    + (1.0 - alpha) * vector.get(row).copied().unwrap_or(vector_floor);
                fused.insert(*row, value);
            }
        }
    }
    let mut ranked: Vec<(usize, f64)> = fused.into_iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.into_iter().map(|(row, _)| row).collect()
}

/// The fusion study: each query's keyword and vector lists (200 deep, with
/// scores) fused every way, nDCG@10 / recall@10 per way.
/// `rows`: each chunk's position in `chunks`, by id.
fn study(
    runtime: &tokio::runtime::Runtime,
    embedder: &Arc<Cached>,
    chunks: &[Chunk],
    rows: &HashMap<&str, usize>,
    collection: &Collection,
) {
    const DEEP: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let config = IndexConfig { candidates: DEEP, ..IndexConfig::default() };
    let index = EmbeddedIndex::open_with(dir.path(), Arc::clone(embedder), config).unwrap();
    runtime.block_on(index.add(chunks.to_vec())).unwrap();
    let mut lists = Vec::new();
    for query in &collection.judged.queries {
        let hits: Vec<Hit> =
            runtime.block_on(index.search(&query.query, DEEP * 2, SearchMode::Hybrid, &Filter::none())).unwrap();
        let mut keyword: Vec<(usize, usize, f32)> = Vec::new();
        let mut vector: Vec<(usize, usize, f32)> = Vec::new();
        for hit in &hits {
            let row = rows[hit.chunk.id.as_str()];
            if let Some(place) = hit.keyword {
                keyword.push((place.rank, row, place.score));
            }
            if let Some(place) = hit.vector {
                vector.push((place.rank, row, place.score));
            }
        }
        keyword.sort_by_key(|(rank, ..)| *rank);
        vector.sort_by_key(|(rank, ..)| *rank);
        let strip = |list: Vec<(usize, usize, f32)>| list.into_iter().map(|(_, row, score)| (row, score)).collect();
        lists.push((strip(keyword), strip(vector)));
    }
    let mut ways = Vec::new();
    for depth in [20, 50, 100, 200] {
        for k in [5.0, 20.0, 60.0, 100.0] {
            for keyword in [0.5, 0.75, 1.0, 1.5] {
                ways.push(Fusion::Rrf { k, keyword, depth });
            }
        }
        for alpha in [0.3, 0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9] {
            ways.push(Fusion::MinMax { alpha, depth });
            ways.push(Fusion::ZScore { alpha, depth });
            ways.push(Fusion::MaxNorm { alpha, depth });
        }
    }
    println!("fusion study on {} (nDCG@10 / recall@10), best first:", collection.name);
    let mut results = Vec::new();
    for way in ways {
        let mut total = Scores::default();
        for (query, (keyword, vector)) in collection.judged.queries.iter().zip(&lists) {
            let keyword: &Vec<(usize, f32)> = keyword;
            let fused = fuse(way, keyword, vector);
            let ranked: Vec<&Chunk> = fused.iter().map(|row| &chunks[*row]).collect();
            total.add(score(query, &ranked, chunks, collection.by_document));
        }
        results.push((way, total.mean()));
    }
    results.sort_by(|a, b| b.1.0.total_cmp(&a.1.0));
    for (way, (ndcg, recall, _)) in &results {
        println!("  {way:<32} {ndcg:.3} / {recall:.3}");
    }
}
