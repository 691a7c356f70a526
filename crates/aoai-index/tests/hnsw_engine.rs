//! The engine with `VectorSearch::Hnsw`: the same answers as the exact scan
//! (up to the graph's recall), filters and deletes inside the graph walk,
//! graphs kept in step with writes and saved beside the rows.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use aoai_index::hnsw::HnswConfig;
use aoai_index::{Index, Options, Query, Record, Schema, Storage, TextField, VectorQuery, VectorSearch};

const DIMENSIONS: usize = 16;

fn schema() -> Schema {
    Schema::new().text_field(TextField::new("body")).vector_field("v", DIMENSIONS)
}

/// Deterministic vectors in 8 loose clusters.
fn vector(i: usize) -> Vec<f32> {
    let mut state = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xdead_beef;
    (0..DIMENSIONS)
        .map(|d| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = (state % 1000) as f32 / 1000.0 - 0.5;
            let centre = if d == i % 8 { 3.0 } else { 0.0 };
            centre + noise
        })
        .collect()
}

fn records(range: std::ops::Range<usize>) -> Vec<Record> {
    range
        .map(|i| {
            Record::new(format!("r{i:04}"))
                .field("body", format!("record {i}"))
                .field("group", i % 3)
                .vector("v", vector(i))
        })
        .collect()
}

fn hnsw(threshold: usize) -> Options {
    Options::default().vector_search(VectorSearch::Hnsw { config: HnswConfig::default(), threshold })
}

fn vector_ids(index: &Index, query: &[f32], k: usize) -> Vec<String> {
    index
        .search(&Query::new(k).vector(VectorQuery::new("v", query, k)))
        .unwrap()
        .into_iter()
        .map(|hit| hit.record.id.clone())
        .collect()
}

fn overlap(left: &[String], right: &[String]) -> usize {
    left.iter().filter(|id| right.contains(id)).count()
}

#[test]
fn hnsw_answers_like_the_exact_scan_through_writes() {
    let exact = Index::in_memory(schema()).unwrap();
    let approximate = Index::open_with(Storage::Memory, schema(), hnsw(100)).unwrap();
    for index in [&exact, &approximate] {
        index.upsert(records(0..600)).unwrap();
        index.delete(&["r0000", "r0008", "r0016", "r0100"]).unwrap();
        index.upsert(records(590..700)).unwrap();
    }
    let mut total = 0;
    for i in (0..700).step_by(37) {
        let query = vector(i + 1000);
        let truth = vector_ids(&exact, &query, 10);
        let found = vector_ids(&approximate, &query, 10);
        assert_eq!(found.len(), 10);
        assert!(!found.iter().any(|id| ["r0000", "r0008", "r0016", "r0100"].contains(&id.as_str())));
        total += overlap(&truth, &found);
    }
    let recall = total as f64 / (10 * (0..700).step_by(37).count()) as f64;
    eprintln!("engine recall@10 with HNSW: {recall:.3}");
    assert!(recall >= 0.95, "recall {recall}");
}

#[test]
fn filters_apply_inside_the_graph_walk() {
    let index = Index::open_with(Storage::Memory, schema(), hnsw(10)).unwrap();
    index.upsert(records(0..300)).unwrap();
    let only_group_2 = |record: &Record| record.fields.get("group") == Some(&serde_json::json!(2));
    let query = vector(5);
    let hits = index.search(&Query::new(10).vector(VectorQuery::new("v", &query, 10)).filter(&only_group_2)).unwrap();
    assert_eq!(hits.len(), 10);
    assert!(hits.iter().all(|hit| only_group_2(&hit.record)));
}

#[test]
fn below_the_threshold_no_graph_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open_with(Storage::Directory(dir.path().into()), schema(), hnsw(50)).unwrap();
    index.upsert(records(0..40)).unwrap();
    assert!(!dir.path().join("vectors-0.hnsw").exists());
    index.upsert(records(40..60)).unwrap();
    assert!(dir.path().join("vectors-0.hnsw").exists());
    index
        .delete(&(0..30).map(|i| format!("r{i:04}")).collect::<Vec<_>>().iter().map(String::as_str).collect::<Vec<_>>())
        .unwrap();
    assert!(!dir.path().join("vectors-0.hnsw").exists(), "30 records: back to the exact scan");
}

#[test]
fn graphs_are_saved_and_reopened_or_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let query = vector(1234);
    let before = {
        let index = Index::open_with(Storage::Directory(path.clone()), schema(), hnsw(10)).unwrap();
        index.upsert(records(0..200)).unwrap();
        index.delete(&["r0003"]).unwrap();
        vector_ids(&index, &query, 10)
    };
    let file = path.join("vectors-0.hnsw");
    let saved = std::fs::read(&file).unwrap();
    // Reopened: the saved graph is loaded (same answers).
    let index = Index::open_with(Storage::Directory(path.clone()), schema(), hnsw(10)).unwrap();
    assert_eq!(vector_ids(&index, &query, 10), before);
    drop(index);
    assert_eq!(std::fs::read(&file).unwrap(), saved, "a fitting graph is not rewritten");
    // A corrupt graph file is rebuilt from the rows.
    let mut corrupt = saved.clone();
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0xff;
    std::fs::write(&file, &corrupt).unwrap();
    let index = Index::open_with(Storage::Directory(path.clone()), schema(), hnsw(10)).unwrap();
    assert_eq!(vector_ids(&index, &query, 10), before);
    drop(index);
    let rebuilt = std::fs::read(&file).unwrap();
    assert_ne!(rebuilt, corrupt, "the rebuilt graph was saved");
    let index = Index::open_with(Storage::Directory(path.clone()), schema(), hnsw(10)).unwrap();
    assert_eq!(vector_ids(&index, &query, 10), before);
    drop(index);
    assert_eq!(std::fs::read(&file).unwrap(), rebuilt);
    // Opened for exact search: the graph file goes.
    let index = Index::open_with(Storage::Directory(path.clone()), schema(), Options::default()).unwrap();
    assert_eq!(vector_ids(&index, &query, 10), before);
    assert!(!file.exists());
}
