//! Query latency and build throughput at scale (issue #7: hybrid p50 ≤ 5 ms
//! over 100,000 chunks of 384 dimensions on the 2-core machine):
//! `cargo bench -p aoai-index --bench scale -- [--size N] [--queries Q] [--ef-construction N]`.
//!
//! A synthetic corpus: each record has a body of 60 to 140 words and a
//! 4-word title drawn from a 20,000-word vocabulary with Zipf-like
//! frequencies, and a 384-d unit vector near one of 1,000 random centres.
//! Queries are 3 words of one record's text and a vector near that record's
//! centre. The index lives in a temporary directory, as in use.
//!
//! Builds an exact index and measures keyword, vector and hybrid queries;
//! keeps the exact top 10 of each query; drops it; builds an HNSW index of
//! the same records and measures vector and hybrid queries and the recall@10
//! of its vector lists against the exact ones. Hybrid queries fuse a keyword
//! list and a vector list of 50 candidates each, as aoai-rag's
//! `EmbeddedIndex` does, and return 10.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
#![allow(clippy::disallowed_methods, reason = "a benchmark measures wall-clock time")]

use std::time::{Duration, Instant};

use aoai_index::{Index, Options, Query, Record, Schema, Storage, TextField, TextQuery, VectorQuery, VectorSearch};

const DIMENSIONS: usize = 384;
const CENTRES: usize = 1_000;
const VOCABULARY: usize = 20_000;
const CANDIDATES: usize = 50;
const K: usize = 10;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f32 {
        let (u, v) = (self.uniform(), self.uniform());
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }

    /// A word index with probability ∝ 1 / (rank + 10) (Zipf-like, flattened head).
    fn word(&mut self) -> usize {
        let total = ((VOCABULARY + 10) as f64 / 10.0).ln();
        let rank = (10.0 * (self.uniform() * total).exp() - 10.0) as usize;
        rank.min(VOCABULARY - 1)
    }
}

fn word(index: usize) -> String {
    const SYLLABLES: [&str; 16] =
        ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "be", "da", "fi", "go", "hu", "je", "pa", "zu"];
    let mut out = String::new();
    let mut value = index + 16;
    while value > 0 {
        out.push_str(SYLLABLES[value % 16]);
        value /= 16;
    }
    out
}

fn unit(mut vector: Vec<f32>) -> Vec<f32> {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    vector.iter_mut().for_each(|x| *x /= norm);
    vector
}

struct Corpus {
    records: Vec<Record>,
    queries: Vec<(String, Vec<f32>)>,
}

fn corpus(size: usize, queries: usize) -> Corpus {
    let mut rng = Rng(42);
    let words: Vec<String> = (0..VOCABULARY).map(word).collect();
    let centres: Vec<Vec<f32>> = (0..CENTRES).map(|_| unit((0..DIMENSIONS).map(|_| rng.normal()).collect())).collect();
    let near = |rng: &mut Rng, centre: &[f32]| unit(centre.iter().map(|c| c + 0.06 * rng.normal()).collect());
    let mut records = Vec::with_capacity(size);
    let mut texts = Vec::with_capacity(size);
    for i in 0..size {
        let length = 60 + (rng.next() % 81) as usize;
        let body: Vec<&str> = (0..length).map(|_| words[rng.word()].as_str()).collect();
        let title: Vec<&str> = (0..4).map(|_| words[rng.word()].as_str()).collect();
        let centre = (rng.next() % CENTRES as u64) as usize;
        let vector = near(&mut rng, &centres[centre]);
        texts.push((body.join(" "), centre));
        records.push(
            Record::new(format!("chunk-{i:06}"))
                .field("body", texts[i].0.clone())
                .field("title", title.join(" "))
                .vector("v", vector),
        );
    }
    let queries = (0..queries)
        .map(|_| {
            let (text, centre) = &texts[(rng.next() % size as u64) as usize];
            let body: Vec<&str> = text.split(' ').collect();
            let start = (rng.next() % (body.len() - 3) as u64) as usize;
            (body[start..start + 3].join(" "), near(&mut rng, &centres[*centre]))
        })
        .collect();
    Corpus { records, queries }
}

/// Scored as aoai-rag's embedded index scores chunks: BM25F over the body
/// and a title of weight 2 without length normalisation.
fn schema() -> Schema {
    Schema::new()
        .text_field(TextField::new("body"))
        .text_field(TextField::new("title").boost(2.0).length_normalization(0.0))
        .scoring(aoai_index::TextScoring::bm25f())
        .vector_field("v", DIMENSIONS)
}

fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort_unstable();
    let at = |fraction: f64| samples[((samples.len() - 1) as f64 * fraction).round() as usize].as_secs_f64() * 1e3;
    (at(0.5), at(0.95))
}

fn time(corpus: &Corpus, run: impl Fn(&(String, Vec<f32>)) -> Vec<String>) -> ((f64, f64), Vec<Vec<String>>) {
    // One warm-up pass over a few queries (page cache, allocator).
    for query in corpus.queries.iter().take(10) {
        run(query);
    }
    let mut samples = Vec::with_capacity(corpus.queries.len());
    let mut results = Vec::with_capacity(corpus.queries.len());
    for query in &corpus.queries {
        let start = Instant::now();
        let ids = run(query);
        samples.push(start.elapsed());
        results.push(ids);
    }
    (percentiles(samples), results)
}

fn ids(hits: Vec<aoai_index::Hit>) -> Vec<String> {
    hits.into_iter().map(|hit| hit.record.id.clone()).collect()
}

fn keyword(index: &Index, text: &str) -> Vec<String> {
    ids(index.search(&Query::new(K).text(TextQuery { candidates: CANDIDATES, ..TextQuery::new(text) })).unwrap())
}

fn vector(index: &Index, vector: &[f32]) -> Vec<String> {
    ids(index.search(&Query::new(K).vector(VectorQuery::new("v", vector, K))).unwrap())
}

fn hybrid(index: &Index, text: &str, vector: &[f32]) -> Vec<String> {
    ids(index
        .search(
            &Query::new(K)
                .text(TextQuery { candidates: CANDIDATES, ..TextQuery::new(text) })
                .vector(VectorQuery::new("v", vector, CANDIDATES)),
        )
        .unwrap())
}

fn print_row(name: &str, (p50, p95): (f64, f64)) {
    println!("  {name:<24} p50 {p50:>7.2} ms   p95 {p95:>7.2} ms");
}

/// Appends files of 10 new chunks, one write each (as `aoai rag index` adds
/// one file), then removes them again: the time of each write, log fsync
/// and tantivy commit included.
fn append_files(index: &Index, corpus: &Corpus, name: &str) {
    const FILES: usize = 20;
    const CHUNKS: usize = 10;
    let mut appends = Vec::with_capacity(FILES);
    for file in 0..FILES {
        let records: Vec<Record> = (0..CHUNKS)
            .map(|chunk| {
                let mut record = corpus.records[(file * CHUNKS + chunk) % corpus.records.len()].clone();
                record.id = format!("appended-{file:03}-{chunk:02}");
                record
            })
            .collect();
        let start = Instant::now();
        index.upsert(records).unwrap();
        appends.push(start.elapsed());
    }
    let mut deletes = Vec::with_capacity(FILES);
    for file in 0..FILES {
        let ids: Vec<String> = (0..CHUNKS).map(|chunk| format!("appended-{file:03}-{chunk:02}")).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let start = Instant::now();
        index.delete(&ids).unwrap();
        deletes.push(start.elapsed());
    }
    let log = index.log_bytes();
    let (append_p50, append_p95) = percentiles(appends);
    let (delete_p50, delete_p95) = percentiles(deletes);
    println!(
        "  {name}: append one file ({CHUNKS} chunks) p50 {append_p50:.2} ms, p95 {append_p95:.2} ms; \
         delete it p50 {delete_p50:.2} ms, p95 {delete_p95:.2} ms ({FILES} each; log now {} KiB)",
        log / 1024
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str, default: usize| {
        args.iter().position(|arg| arg == flag).map_or(default, |position| args[position + 1].parse().unwrap())
    };
    let size = value("--size", 100_000);
    let query_count = value("--queries", 200);
    let graph = aoai_index::hnsw::HnswConfig {
        ef_construction: value("--ef-construction", aoai_index::hnsw::HnswConfig::default().ef_construction),
        ..aoai_index::hnsw::HnswConfig::default()
    };
    let start = Instant::now();
    let corpus = corpus(size, query_count);
    println!(
        "synthetic corpus: {size} records × {DIMENSIONS} dims, {query_count} queries (generated in {:.1} s)",
        start.elapsed().as_secs_f64()
    );

    let exact_truth = {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open_with(Storage::Directory(dir.path().into()), schema(), Options::default()).unwrap();
        let start = Instant::now();
        index.upsert(corpus.records.clone()).unwrap();
        let seconds = start.elapsed().as_secs_f64();
        println!(
            "exact index: built in {seconds:.1} s = {:.0} records/s (rows, vectors, BM25; one write)",
            size as f64 / seconds
        );
        let (keyword_times, _) = time(&corpus, |(text, _)| keyword(&index, text));
        let (vector_times, truth) = time(&corpus, |(_, v)| vector(&index, v));
        let (hybrid_times, _) = time(&corpus, |(text, v)| hybrid(&index, text, v));
        append_files(&index, &corpus, "exact index");
        print_row("keyword (BM25F)", keyword_times);
        print_row("vector, exact scan", vector_times);
        print_row("hybrid, exact scan", hybrid_times);
        truth
    };

    let dir = tempfile::tempdir().unwrap();
    // Threshold 0: a graph whatever --size is (the default threshold is 10,000).
    let options = Options::default().vector_search(VectorSearch::Hnsw { config: graph, threshold: 0 });
    let index = Index::open_with(Storage::Directory(dir.path().into()), schema(), options).unwrap();
    let start = Instant::now();
    index.upsert(corpus.records.clone()).unwrap();
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "HNSW index (m {}, ef_construction {}, ef_search {}): built in {seconds:.1} s = {:.0} records/s \
         (rows, vectors, BM25 and the graph; one write)",
        graph.m,
        graph.ef_construction,
        graph.ef_search,
        size as f64 / seconds
    );
    let start = Instant::now();
    index.compact().unwrap();
    println!(
        "  compacted (records.jsonl, vectors.f32 and vectors-0.hnsw rewritten, writes.log emptied) in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    drop(index);
    let start = Instant::now();
    let index = Index::open_with(Storage::Directory(dir.path().into()), schema(), options).unwrap();
    println!("  reopened (graph loaded from vectors-0.hnsw) in {:.1} s", start.elapsed().as_secs_f64());
    append_files(&index, &corpus, "HNSW index");
    let (vector_times, found) = time(&corpus, |(_, v)| vector(&index, v));
    let (hybrid_times, _) = time(&corpus, |(text, v)| hybrid(&index, text, v));
    print_row("vector, HNSW", vector_times);
    print_row("hybrid, HNSW", hybrid_times);
    let overlap: usize =
        found.iter().zip(&exact_truth).map(|(found, truth)| truth.iter().filter(|id| found.contains(id)).count()).sum();
    println!("  HNSW vector recall@10 against the exact scan: {:.3}", overlap as f64 / (K * query_count) as f64);
}
