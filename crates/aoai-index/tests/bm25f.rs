//! BM25F scoring ([`TextScoring::Bm25f`]) through the public API: the
//! formula against an independent computation (proptest), a word in two
//! fields weighing like extra occurrences in one, deletions and filters,
//! schema checks and the serialised form.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::HashMap;

use aoai_index::{Error, Idf, Index, Query, Record, Schema, TextField, TextQuery, TextScoring};
use proptest::prelude::*;

fn keyword(index: &Index, text: &str) -> Vec<(String, f32)> {
    let hits = index.search(&Query::new(100).text(TextQuery { candidates: 100, ..TextQuery::new(text) })).unwrap();
    hits.into_iter().map(|hit| (hit.record.id.clone(), hit.text.unwrap().score)).collect()
}

/// BM25 as the textbook writes it, for one field: BM25F with one field of
/// boost 1 is BM25. `floor`: `None` for Lucene's idf, `Some` for
/// Robertson–Spärck Jones's raised to the floor.
fn textbook(documents: &[Vec<&str>], query: &[&str], k1: f64, b: f64, floor: Option<f64>) -> HashMap<usize, f64> {
    let n = documents.len() as f64;
    let average = documents.iter().map(Vec::len).sum::<usize>() as f64 / n;
    let mut words: Vec<&str> = query.to_vec();
    words.sort_unstable();
    words.dedup();
    let mut scores = HashMap::new();
    for word in words {
        let df = documents.iter().filter(|document| document.contains(&word)).count() as f64;
        if df == 0.0 {
            continue;
        }
        let idf = match floor {
            None => (1.0 + (n - df + 0.5) / (df + 0.5)).ln(),
            Some(floor) => ((n - df + 0.5) / (df + 0.5)).ln().max(floor),
        };
        for (row, document) in documents.iter().enumerate() {
            let tf = document.iter().filter(|w| **w == word).count() as f64;
            if tf > 0.0 {
                let tf = tf / (1.0 - b + b * document.len() as f64 / average);
                *scores.entry(row).or_insert(0.0) += idf * tf * (k1 + 1.0) / (k1 + tf);
            }
        }
    }
    scores
}

const VOCABULARY: [&str; 8] = ["cache", "batch", "quota", "token", "stream", "guard", "index", "chunk"];

proptest! {
    /// With one field, BM25F's scores are BM25's, computed independently
    /// (documents under 40 words, where tantivy's field norms are exact).
    #[test]
    fn one_field_scores_are_textbook_bm25(
        documents in proptest::collection::vec(proptest::collection::vec(0_usize..8, 1..30), 1..12),
        query in proptest::collection::vec(0_usize..8, 1..4),
        b in 0.0_f32..=1.0,
        floor in proptest::option::of(0.0_f32..1.0),
    ) {
        let documents: Vec<Vec<&str>> =
            documents.iter().map(|words| words.iter().map(|w| VOCABULARY[*w]).collect()).collect();
        let query: Vec<&str> = query.iter().map(|w| VOCABULARY[*w]).collect();
        let schema = Schema::new()
            .text_field(TextField::new("body").length_normalization(b))
            .scoring(TextScoring::Bm25f {
                k1: aoai_index::DEFAULT_K1,
                idf: floor.map_or(Idf::Lucene, |floor| Idf::RobertsonSparckJones { floor }),
            });
        let index = Index::in_memory(schema).unwrap();
        index
            .upsert(
                documents
                    .iter()
                    .enumerate()
                    .map(|(row, words)| Record::new(row.to_string()).field("body", words.join(" ")))
                    .collect(),
            )
            .unwrap();
        let expected =
            textbook(&documents, &query, f64::from(aoai_index::DEFAULT_K1), f64::from(b), floor.map(f64::from));
        // A record scoring 0 (every word at a floor of 0) is not a hit.
        let expected: HashMap<usize, f64> = expected.into_iter().filter(|(_, score)| *score > 0.0).collect();
        let found = keyword(&index, &query.join(" "));
        prop_assert_eq!(found.len(), expected.len());
        for (id, score) in &found {
            let want = expected[&id.parse::<usize>().unwrap()];
            prop_assert!((f64::from(*score) - want).abs() < 1e-4 * want.max(1.0), "{id}: {score} vs {want}");
        }
        prop_assert!(found.windows(2).all(|pair| pair[0].1 >= pair[1].1));
    }
}

/// A word once in a field of boost 2 weighs what two occurrences in a field
/// of boost 1 weigh (without length normalisation): one bag of words, one
/// saturation. Summed per-field BM25 scores would give the title match its
/// own idf and saturation on top of the body's.
#[test]
fn a_word_in_two_fields_counts_as_occurrences_not_as_a_second_match() {
    let schema = Schema::new()
        .text_field(TextField::new("body").length_normalization(0.0))
        .text_field(TextField::new("title").boost(2.0).length_normalization(0.0))
        .scoring(TextScoring::bm25f());
    let index = Index::in_memory(schema).unwrap();
    index
        .upsert(vec![
            Record::new("title").field("title", "quota").field("body", "windows and waits"),
            Record::new("body").field("body", "quota quota windows"),
            Record::new("both").field("title", "quota").field("body", "quota windows"),
            Record::new("none").field("body", "streams and guards"),
        ])
        .unwrap();
    let scores: HashMap<String, f32> = keyword(&index, "quota").into_iter().collect();
    assert_eq!(scores.len(), 3, "{scores:?}");
    assert!((scores["title"] - scores["body"]).abs() < 1e-6, "{scores:?}");
    // tf~ = 3 for "both": more than 2, saturating: less than 1.5 × the others.
    assert!(scores["both"] > scores["title"] && scores["both"] < 1.5 * scores["title"], "{scores:?}");
}

#[test]
fn deleted_records_neither_match_nor_count_and_filters_apply() {
    let schema = Schema::new().text_field(TextField::new("body")).scoring(TextScoring::bm25f());
    let index = Index::in_memory(schema).unwrap();
    index
        .upsert(vec![
            Record::new("a").field("body", "retry after a pause").field("lang", "en"),
            Record::new("b").field("body", "retry the batch").field("lang", "fr"),
            Record::new("c").field("body", "stream the answer").field("lang", "en"),
            Record::new("d").field("body", "guard the prompt").field("lang", "en"),
            Record::new("e").field("body", "cache the answer").field("lang", "en"),
            Record::new("f").field("body", "count the tokens").field("lang", "en"),
        ])
        .unwrap();
    let before: HashMap<String, f32> = keyword(&index, "retry").into_iter().collect();
    assert_eq!(before.len(), 2);
    index.delete(&["b"]).unwrap();
    let after = keyword(&index, "retry");
    assert_eq!(after.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["a"]);
    // Fewer records hold the word now: its idf, and so the score, rises.
    assert!(after[0].1 > before["a"], "{after:?} vs {before:?}");
    let english = |record: &Record| record.fields.get("lang").and_then(|v| v.as_str()) == Some("en");
    let hits = index.search(&Query::new(10).text(TextQuery::new("retry stream")).filter(&english)).unwrap();
    let mut ids: Vec<&str> = hits.iter().map(|hit| hit.record.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["a", "c"]);
    // Candidates bound the list.
    let hits =
        index.search(&Query::new(10).text(TextQuery { candidates: 1, ..TextQuery::new("retry stream") })).unwrap();
    assert_eq!(hits.len(), 1);
}

#[test]
fn the_schema_checks_b_and_k1_and_reads_older_schemas() {
    let bad_b = Schema::new().text_field(TextField::new("body").length_normalization(1.5));
    assert!(matches!(Index::in_memory(bad_b), Err(Error::Invalid(_))));
    let bad_k1 =
        Schema::new().text_field(TextField::new("body")).scoring(TextScoring::Bm25f { k1: -1.0, idf: Idf::Lucene });
    assert!(matches!(Index::in_memory(bad_k1), Err(Error::Invalid(_))));
    for floor in [-0.1, f32::NAN, f32::INFINITY] {
        let bad_floor = Schema::new()
            .text_field(TextField::new("body"))
            .scoring(TextScoring::Bm25f { k1: 1.2, idf: Idf::RobertsonSparckJones { floor } });
        assert!(matches!(Index::in_memory(bad_floor), Err(Error::Invalid(_))), "{floor}");
    }
    // A schema written before BM25F: per-field scoring and b = 0.75.
    let old: Schema =
        serde_json::from_str(r#"{"text": [{"name": "body", "boost": 1.0, "sources": ["body"]}], "vectors": []}"#)
            .unwrap();
    assert_eq!(old.scoring, TextScoring::PerField);
    assert!((old.text[0].b - aoai_index::DEFAULT_B).abs() < f32::EPSILON);
    let new = Schema::new().text_field(TextField::new("body")).scoring(TextScoring::bm25f());
    let text = serde_json::to_string(&new).unwrap();
    assert!(text.contains(r#""scoring":{"kind":"bm25f","k1":1.2,"idf":{"kind":"lucene"}}"#), "{text}");
    assert_eq!(serde_json::from_str::<Schema>(&text).unwrap(), new);
    // A BM25F schema written before the idf was a choice: Lucene's.
    let before_idf: Schema = serde_json::from_str(
        r#"{"text": [{"name": "body", "boost": 1.0, "sources": ["body"]}], "vectors": [], "scoring": {"kind": "bm25f", "k1": 1.2}}"#,
    )
    .unwrap();
    assert_eq!(before_idf, new);
}

/// Robertson–Spärck Jones's idf with a floor: a word in most records weighs
/// the floor, under Lucene's `ln 2`-ish weight, so a record matching only
/// the common word drops below one matching the rare word once in a long
/// text; in a two-record index (every word's idf ≤ 0 before the floor)
/// term frequency still ranks.
#[test]
fn robertson_sparck_jones_idf_weighs_common_words_at_the_floor() {
    let records = || {
        vec![
            Record::new("common").field("body", "what did we what did we what did we what did we"),
            Record::new("rare").field("body", "the quota of a deployment per minute"),
            Record::new("x").field("body", "what did a token"),
            Record::new("y").field("body", "what did guards run"),
            Record::new("z").field("body", "a stream"),
        ]
    };
    let rank = |idf: Idf| {
        let schema = Schema::new().text_field(TextField::new("body")).scoring(TextScoring::Bm25f { k1: 1.2, idf });
        let index = Index::in_memory(schema).unwrap();
        index.upsert(records()).unwrap();
        keyword(&index, "what did quota").into_iter().map(|(id, _)| id).collect::<Vec<_>>()
    };
    assert_eq!(rank(Idf::Lucene)[0], "common");
    assert_eq!(rank(Idf::RobertsonSparckJones { floor: aoai_index::DEFAULT_IDF_FLOOR })[0], "rare");

    let schema = Schema::new()
        .text_field(TextField::new("body"))
        .scoring(TextScoring::Bm25f { k1: 1.2, idf: Idf::RobertsonSparckJones { floor: 0.25 } });
    let index = Index::in_memory(schema).unwrap();
    index
        .upsert(vec![Record::new("once").field("body", "quota"), Record::new("twice").field("body", "quota quota")])
        .unwrap();
    let ids: Vec<String> = keyword(&index, "quota").into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, ["twice", "once"]);
}

/// Scoring applies at query time: an index written under one scoring opens
/// under another (boosts, b, idf) without a rebuild; other fields are refused.
#[test]
fn an_index_reopens_under_other_scoring_but_not_other_fields() {
    let directory = tempfile::tempdir().unwrap();
    let lucene = Schema::new().text_field(TextField::new("body")).scoring(TextScoring::bm25f());
    let index = Index::open(directory.path(), lucene.clone()).unwrap();
    index
        .upsert(vec![Record::new("a").field("body", "quota window"), Record::new("b").field("body", "stream")])
        .unwrap();
    drop(index);
    let rsj = Schema::new()
        .text_field(TextField::new("body").boost(2.0).length_normalization(0.5))
        .scoring(TextScoring::Bm25f { k1: 1.2, idf: Idf::RobertsonSparckJones { floor: 0.25 } });
    let reopened = Index::open(directory.path(), rsj).unwrap();
    assert_eq!(keyword(&reopened, "quota").len(), 1);
    drop(reopened);
    let renamed = Schema::new().text_field(TextField::new("text")).scoring(TextScoring::bm25f());
    assert!(matches!(Index::open(directory.path(), renamed), Err(Error::Mismatch(_))));
    let resourced = Schema::new().text_field(TextField::new("body").sources(["other"])).scoring(TextScoring::bm25f());
    assert!(matches!(Index::open(directory.path(), resourced), Err(Error::Mismatch(_))));
}

/// The list is sorted a block at a time (4 × candidates, at least 64): a
/// filter that rejects the first blocks still gets the best records it allows,
/// in order.
#[test]
fn a_filter_rejecting_the_best_blocks_still_gets_the_best_it_allows() {
    let schema = Schema::new().text_field(TextField::new("body")).scoring(TextScoring::bm25f());
    let index = Index::in_memory(schema).unwrap();
    // Record i holds "quota" i times among 300 filler words: more is better.
    index
        .upsert(
            (1..=300)
                .map(|i: usize| {
                    let body = format!("{} {}", "quota ".repeat(i), "filler ".repeat(300 - i));
                    Record::new(format!("{i:03}")).field("body", body).field("n", i)
                })
                .collect(),
        )
        .unwrap();
    let low = |record: &Record| record.fields.get("n").and_then(serde_json::Value::as_u64).is_some_and(|n| n <= 20);
    let hits =
        index.search(&Query::new(5).text(TextQuery { candidates: 5, ..TextQuery::new("quota") }).filter(&low)).unwrap();
    let ids: Vec<&str> = hits.iter().map(|hit| hit.record.id.as_str()).collect();
    assert_eq!(ids, ["020", "019", "018", "017", "016"]);
}
