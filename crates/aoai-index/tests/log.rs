//! Append-only storage through the public API: writes append to
//! `writes.log` and leave the base files alone, reopening replays the log,
//! a torn last write is dropped at every byte where a crash could cut it,
//! compaction rewrites the base files, the keyword index catches up from
//! the log, format 1 directories are read, unknown formats are refused, and
//! snapshots keep their view while an HNSW graph grows in place.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::fs;
use std::path::Path;

use aoai_index::hnsw::HnswConfig;
use aoai_index::{
    Error, Index, Options, Query, Record, Schema, Storage, TextField, TextQuery, VectorQuery, VectorSearch,
};

fn schema() -> Schema {
    Schema::new().text_field(TextField::new("body")).vector_field("v", 4)
}

fn record(id: &str, body: &str, vector: [f32; 4]) -> Record {
    Record::new(id).field("body", body).vector("v", vector.to_vec())
}

/// Every record as (id, body, stored vector), in row order.
fn contents(index: &Index) -> Vec<(String, String, Option<Vec<f32>>)> {
    let snapshot = index.snapshot();
    snapshot
        .records()
        .map(|record| {
            (
                record.id.clone(),
                record.fields["body"].as_str().unwrap().to_owned(),
                snapshot.vector(&record.id, "v").map(<[f32]>::to_vec),
            )
        })
        .collect()
}

fn keyword_ids(index: &Index, text: &str) -> Vec<String> {
    let mut ids: Vec<String> = index
        .search(&Query::new(50).text(TextQuery::new(text)))
        .unwrap()
        .into_iter()
        .map(|hit| hit.record.id.clone())
        .collect();
    ids.sort();
    ids
}

fn size(path: &Path) -> u64 {
    fs::metadata(path).unwrap().len()
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else if entry.file_name() != ".tantivy-writer.lock" {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn writes_append_to_the_log_and_reopening_replays_them() {
    let directory = tempfile::tempdir().unwrap();
    let records_file = directory.path().join("records.jsonl");
    let log = directory.path().join("writes.log");
    let expected = {
        let index = Index::open(directory.path(), schema()).unwrap();
        let base = fs::read(&records_file).unwrap();
        index
            .upsert(vec![record("a", "alpha apples", [1.0, 0.0, 0.0, 0.0]), record("b", "beta", [0.0, 1.0, 0.0, 0.0])])
            .unwrap();
        let after_one = size(&log);
        index
            .upsert(vec![
                record("c", "gamma apples", [0.0, 0.0, 3.0, 0.0]),
                record("a", "alpha again", [0.0, 0.0, 0.0, 1.0]),
            ])
            .unwrap();
        index.delete(&["b"]).unwrap();
        assert!(size(&log) > after_one, "each write appends");
        assert_eq!(fs::read(&records_file).unwrap(), base, "the base files are not rewritten by writes");
        assert_eq!(index.generation(), 3);
        assert!(index.log_bytes() > 0);
        contents(&index)
    };
    assert_eq!(
        expected,
        vec![
            ("c".to_owned(), "gamma apples".to_owned(), Some(vec![0.0, 0.0, 1.0, 0.0])),
            ("a".to_owned(), "alpha again".to_owned(), Some(vec![0.0, 0.0, 0.0, 1.0])),
        ]
    );
    let reopened = Index::open(directory.path(), schema()).unwrap();
    assert_eq!(contents(&reopened), expected);
    assert_eq!(reopened.generation(), 3);
    assert_eq!(keyword_ids(&reopened, "apples alpha beta"), vec!["a".to_owned(), "c".to_owned()]);
}

#[test]
fn a_torn_last_write_is_dropped_at_every_byte_it_could_be_cut() {
    let source = tempfile::tempdir().unwrap();
    let log = source.path().join("writes.log");
    let (first, after_first) = {
        let index = Index::open(source.path(), schema()).unwrap();
        index
            .upsert(vec![record("a", "alpha", [1.0, 0.0, 0.0, 0.0]), record("b", "beta", [0.0, 1.0, 0.0, 0.0])])
            .unwrap();
        let first = contents(&index);
        let after_first = size(&log);
        index.upsert(vec![record("c", "gamma", [0.0, 0.0, 1.0, 0.0])]).unwrap();
        index.delete(&["a"]).unwrap();
        (first, after_first)
    };
    // Keep only the first two writes; the second is the one that tears.
    let whole = fs::read(&log).unwrap();
    let second_end = {
        let length = u64::from_le_bytes(whole[after_first as usize..after_first as usize + 8].try_into().unwrap());
        after_first as usize + 16 + length as usize
    };
    let after_second: Vec<(String, String, Option<Vec<f32>>)> = {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(source.path(), copy.path());
        fs::write(copy.path().join("writes.log"), &whole[..second_end]).unwrap();
        contents(&Index::open(copy.path(), schema()).unwrap())
    };
    assert_eq!(after_second.len(), 3);
    for cut in after_first as usize..second_end {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(source.path(), copy.path());
        fs::write(copy.path().join("writes.log"), &whole[..cut]).unwrap();
        let index = Index::open(copy.path(), schema()).unwrap();
        assert_eq!(contents(&index), first, "cut at byte {cut}");
        assert_eq!(index.generation(), 1, "cut at byte {cut}");
        assert_eq!(keyword_ids(&index, "alpha beta gamma"), vec!["a".to_owned(), "b".to_owned()], "cut at byte {cut}");
        assert_eq!(size(&copy.path().join("writes.log")), after_first, "the torn tail is cut off");
        // The next write follows the good prefix and survives a reopen.
        index.upsert(vec![record("d", "delta", [0.0, 0.0, 0.0, 1.0])]).unwrap();
        drop(index);
        let reopened = Index::open(copy.path(), schema()).unwrap();
        assert_eq!(reopened.generation(), 2);
        assert_eq!(reopened.len(), 3, "cut at byte {cut}");
    }
}

#[test]
fn compaction_rewrites_the_base_files_and_empties_the_log() {
    let directory = tempfile::tempdir().unwrap();
    let index = Index::open(directory.path(), schema()).unwrap();
    for round in 0..5 {
        let records: Vec<Record> = (0..4)
            .map(|i| record(&format!("r{round}-{i}"), &format!("word{i} round{round}"), [1.0, i as f32, 0.0, 0.5]))
            .collect();
        index.upsert(records).unwrap();
        index.delete(&[format!("r{round}-0").as_str()]).unwrap();
    }
    let before = contents(&index);
    let generation = index.generation();
    assert!(index.compact().unwrap());
    assert!(!index.compact().unwrap(), "nothing left to compact");
    assert_eq!(index.log_bytes(), 0);
    assert_eq!(index.generation(), generation);
    assert_eq!(contents(&index), before);
    let lines = fs::read_to_string(directory.path().join("records.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 1 + 15, "the header and the live records");
    assert!(lines.starts_with("{\"format\":2,"));
    index.upsert(vec![record("late", "late word1", [0.0, 0.0, 1.0, 0.0])]).unwrap();
    let expected = contents(&index);
    drop(index);
    let reopened = Index::open(directory.path(), schema()).unwrap();
    assert_eq!(contents(&reopened), expected);
    assert_eq!(reopened.generation(), generation + 1);
    assert_eq!(keyword_ids(&reopened, "late").len(), 1);
}

#[test]
fn the_keyword_index_catches_up_from_the_log() {
    // A crash after the log's sync and before the keyword commit: the
    // keyword index of the first write beside the log of both.
    let directory = tempfile::tempdir().unwrap();
    let stale = tempfile::tempdir().unwrap();
    {
        let index = Index::open(directory.path(), schema()).unwrap();
        index.upsert(vec![record("a", "alpha", [1.0, 0.0, 0.0, 0.0])]).unwrap();
        copy_dir(directory.path(), stale.path());
        index.upsert(vec![record("b", "beta alpha", [0.0, 1.0, 0.0, 0.0])]).unwrap();
        index.delete(&["a"]).unwrap();
    }
    fs::copy(directory.path().join("writes.log"), stale.path().join("writes.log")).unwrap();
    let index = Index::open(stale.path(), schema()).unwrap();
    assert_eq!(index.generation(), 3);
    assert_eq!(keyword_ids(&index, "alpha beta"), vec!["b".to_owned()]);
}

#[test]
fn format_1_directories_are_read_and_unknown_formats_refused() {
    let directory = tempfile::tempdir().unwrap();
    let schema_json = serde_json::to_string(&schema()).unwrap();
    let header = format!("{{\"format\":1,\"generation\":4,\"schema\":{schema_json}}}\n");
    let body = "{\"id\":\"old\",\"fields\":{\"body\":\"from before the log\"},\"vectors\":[\"v\"]}\n";
    fs::write(directory.path().join("records.jsonl"), format!("{header}{body}")).unwrap();
    let mut vectors = b"AOAIVEC1".to_vec();
    vectors.extend_from_slice(&4u64.to_le_bytes());
    vectors.extend_from_slice(&4u32.to_le_bytes());
    vectors.extend_from_slice(&0u32.to_le_bytes());
    for value in [0.0f32, 1.0, 0.0, 0.0] {
        vectors.extend_from_slice(&value.to_le_bytes());
    }
    fs::write(directory.path().join("vectors.f32"), vectors).unwrap();
    {
        let index = Index::open(directory.path(), schema()).unwrap();
        assert_eq!(index.generation(), 4);
        assert_eq!(
            contents(&index),
            vec![("old".to_owned(), "from before the log".to_owned(), Some(vec![0.0, 1.0, 0.0, 0.0]))]
        );
        assert_eq!(keyword_ids(&index, "log"), vec!["old".to_owned()]);
        index.upsert(vec![record("new", "after", [1.0, 0.0, 0.0, 0.0])]).unwrap();
    }
    assert!(fs::read_to_string(directory.path().join("records.jsonl")).unwrap().starts_with("{\"format\":2,"));
    assert_eq!(Index::open(directory.path(), schema()).unwrap().len(), 2);

    let future = tempfile::tempdir().unwrap();
    fs::write(
        future.path().join("records.jsonl"),
        format!("{{\"format\":3,\"generation\":1,\"schema\":{schema_json}}}\n"),
    )
    .unwrap();
    match Index::open(future.path(), schema()) {
        Err(Error::Format(error)) => {
            assert_eq!(error.found(), 3);
            assert!(error.to_string().contains("rebuild the index"), "{error}");
        }
        other => panic!("expected a format error, got {other:?}"),
    }
}

#[test]
fn snapshots_keep_their_view_while_the_graph_grows_in_place() {
    let directory = tempfile::tempdir().unwrap();
    let options = Options::default().vector_search(VectorSearch::Hnsw { config: HnswConfig::default(), threshold: 0 });
    let open = || Index::open_with(Storage::Directory(directory.path().into()), schema(), options).unwrap();
    let index = open();
    let base: Vec<Record> = (0..200)
        .map(|i| {
            let angle = i as f32 * 0.03;
            record(&format!("r{i}"), "base", [angle.cos(), angle.sin(), 0.1, 0.0])
        })
        .collect();
    index.upsert(base).unwrap();
    let query = [0.0, 0.0, 0.0, 1.0];
    let nearest = |snapshot: &aoai_index::Snapshot| {
        snapshot.search(&Query::new(1).vector(VectorQuery::new("v", &query, 1))).unwrap()[0].record.id.clone()
    };
    let before = index.snapshot();
    let old_nearest = nearest(&before);
    index.upsert(vec![record("new", "appended", [0.0, 0.0, 0.0, 1.0])]).unwrap();
    index.delete(&[old_nearest.as_str()]).unwrap();
    let after = index.snapshot();
    assert_eq!(nearest(&after), "new");
    assert_eq!(nearest(&before), old_nearest, "the older snapshot sees neither the insert nor the delete");
    assert!(before.get("new").is_none());
    let expected = nearest(&after);
    drop((index, before, after));
    // Reopened: the saved graph plus the rows the log appended after it.
    assert_eq!(nearest(&open().snapshot()), expected);
    assert_eq!(open().len(), 200);
}

#[test]
fn a_compaction_cut_between_its_renames_is_finished_on_open() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path();
    let index = Index::open(path, schema()).unwrap();
    index.upsert(vec![record("a", "alpha", [1.0, 0.0, 0.0, 0.0]), record("b", "beta", [0.0, 1.0, 0.0, 0.0])]).unwrap();
    index.delete(&["a"]).unwrap();
    let expected = contents(&index);
    let old_records = fs::read(path.join("records.jsonl")).unwrap();
    let old_log = fs::read(path.join("writes.log")).unwrap();
    assert!(index.compact().unwrap());
    drop(index);
    // The crash: vectors.f32 renamed (generation 2), records.jsonl not yet
    // (still generation 0, its replacement left as records.jsonl.tmp), the
    // log not yet reset.
    fs::rename(path.join("records.jsonl"), path.join("records.jsonl.tmp")).unwrap();
    fs::write(path.join("records.jsonl"), old_records).unwrap();
    fs::write(path.join("writes.log"), old_log).unwrap();
    let reopened = Index::open(path, schema()).unwrap();
    assert_eq!(contents(&reopened), expected);
    assert_eq!(reopened.generation(), 2);
    assert!(!path.join("records.jsonl.tmp").exists());
    assert_eq!(keyword_ids(&reopened, "alpha beta"), vec!["b".to_owned()]);
}
