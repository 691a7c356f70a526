//! The engine through its public API: keyword, vector and hybrid search,
//! filters, writes, persistence and rebuild, schema checks, and a proptest
//! of writes and exact search against a model.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;

use aoai_index::{
    Error, Index, Options, Query, RRF_K, Record, Schema, Storage, TextField, TextQuery, VectorQuery, VectorSearch,
};
use proptest::prelude::*;

fn schema() -> Schema {
    Schema::new()
        .text_field(TextField::new("body"))
        .text_field(TextField::new("title").boost(2.0).sources(["title", "tags"]))
        .vector_field("v", 3)
}

fn records() -> Vec<Record> {
    vec![
        Record::new("a")
            .field("body", "the cache stores chat completions")
            .field("title", "Caching")
            .field("tags", serde_json::json!(["en", "cache"]))
            .field("n", 1)
            .vector("v", vec![1.0, 0.0, 0.0]),
        Record::new("b")
            .field("body", "a crashed batch resumes from its journal")
            .field("title", "Batching")
            .field("tags", serde_json::json!(["en"]))
            .field("n", 2)
            .vector("v", vec![0.0, 2.0, 0.0]),
        Record::new("c")
            .field("body", "guards block forbidden words; the cache is not involved")
            .field("title", "Safety")
            .field("tags", serde_json::json!(["fr"]))
            .field("n", 3)
            .vector("v", vec![0.0, 0.0, 5.0]),
        Record::new("d").field("body", "no vector here, just the journal").field("n", 4),
    ]
}

fn ids(hits: &[aoai_index::Hit]) -> Vec<&str> {
    hits.iter().map(|hit| hit.record.id.as_str()).collect()
}

#[test]
fn keyword_vector_and_hybrid_lists_fuse_by_reciprocal_rank() {
    let index = Index::in_memory(schema()).unwrap();
    index.upsert(records()).unwrap();
    assert_eq!(index.len(), 4);
    assert_eq!(index.directory(), None);

    let keyword = index.search(&Query::new(10).text(TextQuery::new("journal"))).unwrap();
    assert_eq!(ids(&keyword).len(), 2);
    assert!(ids(&keyword).contains(&"b") && ids(&keyword).contains(&"d"));
    assert!(keyword.iter().all(|hit| hit.text.is_some() && hit.vectors.is_empty()));
    // A title word, boosted.
    let titled = index.search(&Query::new(10).text(TextQuery::new("safety"))).unwrap();
    assert_eq!(ids(&titled), vec!["c"]);
    // Restricted to one field.
    let body_only = TextQuery { fields: Some(vec!["body".to_owned()]), ..TextQuery::new("safety") };
    assert!(index.search(&Query::new(10).text(body_only)).unwrap().is_empty());
    // Items from a string array are indexed.
    assert_eq!(ids(&index.search(&Query::new(10).text(TextQuery::new("fr"))).unwrap()), vec!["c"]);

    // Vectors are normalised: cosine similarity, records without a vector are never in the list.
    let vector = index.search(&Query::new(10).vector(VectorQuery::new("v", &[0.0, 1.0, 0.1], 10))).unwrap();
    assert_eq!(ids(&vector), vec!["b", "c", "a"]);
    let first = vector[0].vectors[0].unwrap();
    assert_eq!(first.rank, 1);
    assert!((first.score - 1.0 / (1.01_f32).sqrt()).abs() < 1e-6);
    assert_eq!(index.snapshot().vector("b", "v"), Some(&[0.0, 1.0, 0.0][..]));
    assert_eq!(index.snapshot().vector("d", "v"), None);

    // Hybrid: each hit's score is the sum of weight / (60 + rank) over its lists.
    let query = Query::new(10)
        .text(TextQuery::new("cache"))
        .vector(VectorQuery { weight: 2.0, ..VectorQuery::new("v", &[0.0, 0.0, 1.0], 2) });
    let hybrid = index.search(&query).unwrap();
    for hit in &hybrid {
        let expected = hit.text.map_or(0.0, |list| 1.0 / (RRF_K + list.rank as f64))
            + hit.vectors[0].map_or(0.0, |list| 2.0 / (RRF_K + list.rank as f64));
        assert!((hit.score - expected).abs() < 1e-12, "{hit:?}");
    }
    assert_eq!(hybrid[0].record.id, "c");
    assert!(hybrid.windows(2).all(|pair| pair[0].score >= pair[1].score));
    assert_eq!(index.search(&Query { top: 1, ..query.clone() }).unwrap().len(), 1);
}

#[test]
fn filters_apply_inside_every_list() {
    let index = Index::in_memory(schema()).unwrap();
    index.upsert(records()).unwrap();
    let english = |record: &Record| {
        record.fields.get("tags").and_then(|tags| tags.as_array()).is_some_and(|tags| tags.contains(&"en".into()))
    };
    let keyword = index.search(&Query::new(10).text(TextQuery::new("cache")).filter(&english)).unwrap();
    assert_eq!(ids(&keyword), vec!["a"]);
    // The filtered list is ranked among the accepted records: "c" is first for this vector, but filtered out.
    let vector =
        index.search(&Query::new(1).vector(VectorQuery::new("v", &[0.0, 0.1, 1.0], 1)).filter(&english)).unwrap();
    assert_eq!(ids(&vector), vec!["b"]);
    assert_eq!(vector[0].vectors[0].unwrap().rank, 1);
    let nothing = |_: &Record| false;
    assert!(index.search(&Query::new(10).text(TextQuery::new("cache")).filter(&nothing)).unwrap().is_empty());
}

#[test]
fn writes_replace_delete_and_reject_bad_records() {
    let index = Index::in_memory(schema()).unwrap();
    index.upsert(records()).unwrap();
    let generation = index.generation();
    // Upsert replaces by id; the last of two records with one id wins.
    let replaced = index
        .upsert(vec![
            Record::new("a").field("body", "first").vector("v", vec![1.0, 1.0, 0.0]),
            Record::new("a").field("body", "second version"),
        ])
        .unwrap();
    assert_eq!(replaced, 1);
    assert_eq!(index.len(), 4);
    assert_eq!(index.get("a").unwrap().fields["body"], "second version");
    assert_eq!(index.snapshot().vector("a", "v"), None);
    assert!(index.search(&Query::new(10).text(TextQuery::new("completions"))).unwrap().is_empty());
    assert_eq!(ids(&index.search(&Query::new(10).text(TextQuery::new("second"))).unwrap()), vec!["a"]);
    assert_eq!(index.generation(), generation + 1);

    // A snapshot taken before a write keeps its view.
    let before = index.snapshot();
    assert_eq!(index.delete(&["a", "missing"]).unwrap(), 1);
    assert_eq!(before.len(), 4);
    assert_eq!(index.len(), 3);
    assert_eq!(index.delete_where(&|record| record.fields["n"].as_i64() == Some(4)).unwrap(), 1);
    assert_eq!(
        index.replace_where(&|record| record.id == "b", vec![Record::new("e").field("body", "new")]).unwrap(),
        1
    );
    let mut left: Vec<String> = index.snapshot().records().map(|record| record.id.clone()).collect();
    left.sort();
    assert_eq!(left, vec!["c", "e"]);
    // A write that changes nothing keeps the generation.
    let generation = index.generation();
    assert_eq!(index.delete(&["missing"]).unwrap(), 0);
    assert_eq!(index.generation(), generation);

    // Bad records are refused before anything is written.
    for bad in [
        Record::new("x").vector("v", vec![1.0, 2.0]),
        Record::new("x").vector("w", vec![1.0, 2.0, 3.0]),
        Record::new("").field("body", "no id"),
        Record::new("x").vector("v", vec![f32::NAN, 0.0, 0.0]),
    ] {
        let error = index.upsert(vec![Record::new("ok"), bad]).unwrap_err();
        assert!(matches!(&error, Error::Invalid(invalid) if invalid.what() == "record"), "{error}");
    }
    assert!(index.get("ok").is_none());
    // Bad queries too.
    let error = index.search(&Query::new(3).vector(VectorQuery::new("v", &[1.0], 3))).unwrap_err();
    assert!(matches!(error, Error::Invalid(_)));
    let error = index.search(&Query::new(3).vector(VectorQuery::new("nope", &[1.0, 0.0, 0.0], 3))).unwrap_err();
    assert!(matches!(error, Error::Invalid(_)));
    let unknown_field = TextQuery { fields: Some(vec!["nope".to_owned()]), ..TextQuery::new("x") };
    assert!(matches!(index.search(&Query::new(3).text(unknown_field)), Err(Error::Invalid(_))));
    // Bad schemas.
    assert!(matches!(Index::in_memory(Schema::new().vector_field("v", 0)), Err(Error::Invalid(_))));
    let twice = Schema::new().text_field(TextField::new("a")).text_field(TextField::new("a"));
    assert!(matches!(Index::in_memory(twice), Err(Error::Invalid(_))));
}

#[test]
fn a_directory_survives_reopening_and_rebuilds_a_lost_keyword_index() {
    let directory = tempfile::tempdir().unwrap();
    let query = Query::new(10).text(TextQuery::new("journal cache")).vector(VectorQuery::new("v", &[0.2, 1.0, 0.3], 3));
    let (generation, hits) = {
        let index = Index::open(directory.path(), schema()).unwrap();
        index.upsert(records()).unwrap();
        index.delete(&["a"]).unwrap();
        (index.generation(), index.search(&query).unwrap())
    };
    let reopened = Index::open(directory.path(), schema()).unwrap();
    assert_eq!(reopened.generation(), generation);
    assert_eq!(reopened.search(&query).unwrap(), hits);
    assert_eq!(reopened.snapshot().vector("c", "v"), Some(&[0.0, 0.0, 1.0][..]));
    drop(reopened);

    std::fs::remove_dir_all(directory.path().join("keyword")).unwrap();
    let rebuilt = Index::open(directory.path(), schema()).unwrap();
    let ranks = |hits: &[aoai_index::Hit]| -> Vec<(String, f64)> {
        hits.iter().map(|hit| (hit.record.id.clone(), hit.score)).collect()
    };
    // BM25 statistics counted the deleted record until segments merge; the
    // rebuilt index answers as one built from the surviving records.
    let fresh = Index::in_memory(schema()).unwrap();
    fresh.upsert(records().into_iter().filter(|record| record.id != "a").collect()).unwrap();
    assert_eq!(ranks(&rebuilt.search(&query).unwrap()), ranks(&fresh.search(&query).unwrap()));
    assert_eq!(rebuilt.len(), 3);
    drop(rebuilt);

    // Another schema is refused.
    let other = Schema::new().text_field(TextField::new("body")).vector_field("v", 4);
    assert!(matches!(Index::open(directory.path(), other), Err(Error::Mismatch(_))));
    // Damaged files are a storage error, never a panic.
    std::fs::write(directory.path().join("vectors.f32"), b"AOAI").unwrap();
    assert!(matches!(Index::open(directory.path(), schema()), Err(Error::Storage(_))));
}

#[test]
fn the_vector_strategy_is_chosen_per_index() {
    let options = Options::default().vector_search(VectorSearch::Exact);
    let index = Index::open_with(Storage::Memory, schema(), options).unwrap();
    index.upsert(records()).unwrap();
    let hits = index.search(&Query::new(1).vector(VectorQuery::new("v", &[1.0, 0.0, 0.0], 1))).unwrap();
    assert_eq!(ids(&hits), vec!["a"]);
}

#[derive(Debug, Clone)]
enum Operation {
    Upsert(Vec<(u8, [i8; 2])>),
    Delete(Vec<u8>),
}

fn operation() -> impl Strategy<Value = Operation> {
    prop_oneof![
        proptest::collection::vec((0_u8..12, any::<[i8; 2]>()), 0..5).prop_map(Operation::Upsert),
        proptest::collection::vec(0_u8..12, 0..4).prop_map(Operation::Delete),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// After any sequence of writes, the index holds what a map would, and
    /// an exact vector search ranks as a brute-force cosine over that map.
    #[test]
    fn writes_and_exact_search_match_a_model(
        operations in proptest::collection::vec(operation(), 1..8),
        query in any::<[i8; 2]>(),
        even_only in any::<bool>(),
    ) {
        let index = Index::in_memory(Schema::new().text_field(TextField::new("t")).vector_field("v", 2)).unwrap();
        let mut model: BTreeMap<String, [f32; 2]> = BTreeMap::new();
        for operation in operations {
            match operation {
                Operation::Upsert(items) => {
                    let records = items.iter().map(|(id, vector)| {
                        Record::new(id.to_string()).field("t", format!("word{id}")).field("even", id % 2 == 0)
                            .vector("v", vector.map(f32::from).to_vec())
                    }).collect();
                    index.upsert(records).unwrap();
                    for (id, vector) in items {
                        model.insert(id.to_string(), vector.map(f32::from));
                    }
                }
                Operation::Delete(ids) => {
                    let ids: Vec<String> = ids.iter().map(u8::to_string).collect();
                    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
                    let removed = index.delete(&refs).unwrap();
                    let mut expected = 0;
                    let mut seen = std::collections::BTreeSet::new();
                    for id in &ids {
                        if seen.insert(id) && model.remove(id).is_some() { expected += 1; }
                    }
                    prop_assert_eq!(removed, expected);
                }
            }
        }
        prop_assert_eq!(index.len(), model.len());
        for id in model.keys() {
            prop_assert!(index.get(id).is_some());
            let keyword = index.search(&Query::new(5).text(TextQuery::new(&format!("word{id}")))).unwrap();
            prop_assert_eq!(ids(&keyword), vec![id.as_str()]);
        }
        let query = query.map(f32::from);
        let norm = |v: [f32; 2]| (v[0] * v[0] + v[1] * v[1]).sqrt();
        let filter = |record: &Record| !even_only || record.fields.get("even") == Some(&true.into());
        let mut expected: Vec<(String, f32)> = model.iter()
            .filter(|(id, _)| !even_only || id.parse::<u8>().unwrap() % 2 == 0)
            .map(|(id, v)| {
                let cosine = if norm(*v) == 0.0 || norm(query) == 0.0 { 0.0 } else {
                    (v[0] * query[0] + v[1] * query[1]) / (norm(*v) * norm(query))
                };
                (id.clone(), cosine)
            }).collect();
        expected.sort_by(|l, r| r.1.total_cmp(&l.1).then_with(|| l.0.cmp(&r.0)));
        let hits = index.search(&Query::new(20).vector(VectorQuery::new("v", &query, 20)).filter(&filter)).unwrap();
        prop_assert_eq!(hits.len(), expected.len());
        for (hit, (id, cosine)) in hits.iter().zip(&expected) {
            let score = hit.vectors[0].unwrap().score;
            prop_assert!((score - cosine).abs() < 1e-4, "{} {} vs {} {}", hit.record.id, score, id, cosine);
        }
    }
}

#[test]
fn per_query_boosts_replace_the_schema_boost_and_are_checked() {
    let index = Index::in_memory(schema()).unwrap();
    index.upsert(records()).unwrap();
    let score = |query: TextQuery<'_>| index.search(&Query::new(10).text(query)).unwrap()[0].text.unwrap().score;
    // "safety" is only in record c's title (schema boost 2).
    let schema_boost = score(TextQuery::new("safety"));
    let boosted = score(TextQuery { boosts: Some(vec![("title".to_owned(), 6.0)]), ..TextQuery::new("safety") });
    let unboosted = score(TextQuery { boosts: Some(vec![("title".to_owned(), 1.0)]), ..TextQuery::new("safety") });
    assert!((boosted / schema_boost - 3.0).abs() < 1e-4, "{boosted} / {schema_boost}");
    assert!((schema_boost / unboosted - 2.0).abs() < 1e-4, "{schema_boost} / {unboosted}");
    // A boost on an unknown field, or one that is not > 0, is refused.
    for boosts in [vec![("nope".to_owned(), 2.0)], vec![("title".to_owned(), 0.0)], vec![("body".to_owned(), f32::NAN)]]
    {
        let query = TextQuery { boosts: Some(boosts), ..TextQuery::new("safety") };
        assert!(matches!(index.search(&Query::new(3).text(query)), Err(Error::Invalid(_))));
    }
}
