//! Engine speed: writes and queries over 20,000 records of 384 dimensions
//! (all-MiniLM-L6-v2's size) in memory, printing one line per measure, e.g.
//! `index/vector exact k=10: 9.1 ms per query`. Numbers, not assertions:
//! the baseline for an approximate (HNSW) strategy to beat.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use aoai_index::{Index, Query, Record, Schema, TextField, TextQuery, VectorQuery};

const RECORDS: usize = 20_000;
const DIMENSIONS: usize = 384;
const WORDS: &[&str] = &[
    "cache",
    "batch",
    "journal",
    "quota",
    "token",
    "deployment",
    "filter",
    "guard",
    "prompt",
    "vector",
    "index",
    "search",
    "answer",
    "stream",
    "retry",
    "limit",
    "model",
    "embedding",
    "chunk",
    "source",
    "title",
    "heading",
    "redis",
    "scheduler",
    "resume",
    "blocklist",
    "normalise",
    "emulator",
    "azure",
    "client",
];

fn vector(rng: &mut fastrand::Rng) -> Vec<f32> {
    (0..DIMENSIONS).map(|_| rng.f32() * 2.0 - 1.0).collect()
}

fn text(rng: &mut fastrand::Rng, words: usize) -> String {
    (0..words).map(|_| WORDS[rng.usize(..WORDS.len())]).collect::<Vec<_>>().join(" ")
}

#[allow(clippy::disallowed_methods)]
fn time<T>(label: &str, per: &str, rounds: u32, mut run: impl FnMut() -> T) {
    let start = Instant::now();
    for _ in 0..rounds {
        black_box(run());
    }
    let each: Duration = start.elapsed() / rounds;
    println!("index/{label}: {:.2} ms per {per}", each.as_secs_f64() * 1000.0);
}

fn main() {
    let mut rng = fastrand::Rng::with_seed(7);
    let schema = Schema::new()
        .text_field(TextField::new("text"))
        .text_field(TextField::new("title").boost(2.0))
        .vector_field("v", DIMENSIONS);
    let index = Index::in_memory(schema).unwrap();
    let records: Vec<Record> = (0..RECORDS)
        .map(|row| {
            Record::new(format!("r{row}"))
                .field("text", text(&mut rng, 60))
                .field("title", text(&mut rng, 3))
                .field("lang", if row % 4 == 0 { "fr" } else { "en" })
                .vector("v", vector(&mut rng))
        })
        .collect();
    let batches: Vec<Vec<Record>> = records.chunks(1000).map(<[Record]>::to_vec).collect();
    let mut batches = batches.into_iter();
    time(&format!("upsert 1000 of {RECORDS} (growing)"), "batch", 20, || {
        index.upsert(batches.next().unwrap()).unwrap()
    });
    assert_eq!(index.len(), RECORDS);

    let query = vector(&mut rng);
    let french = |record: &Record| record.fields.get("lang").and_then(|lang| lang.as_str()) == Some("fr");
    time("vector exact k=10", "query", 20, || {
        index.search(&Query::new(10).vector(VectorQuery::new("v", &query, 10))).unwrap()
    });
    time("vector exact k=10, filter 1/4", "query", 20, || {
        index.search(&Query::new(10).vector(VectorQuery::new("v", &query, 10)).filter(&french)).unwrap()
    });
    time("keyword 3 words, 50 candidates", "query", 50, || {
        index.search(&Query::new(10).text(TextQuery::new("journal quota redis"))).unwrap()
    });
    time("keyword 3 words, filter 1/4", "query", 20, || {
        index.search(&Query::new(10).text(TextQuery::new("journal quota redis")).filter(&french)).unwrap()
    });
    time("hybrid k=10, 50 candidates", "query", 20, || {
        index
            .search(
                &Query::new(10).text(TextQuery::new("journal quota redis")).vector(VectorQuery::new("v", &query, 50)),
            )
            .unwrap()
    });
    time("delete 10 records", "write", 5, || {
        let ids: Vec<String> = (0..10).map(|_| format!("r{}", rng.usize(..RECORDS))).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        index.delete(&ids).unwrap()
    });
}
