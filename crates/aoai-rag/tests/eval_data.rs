//! The committed retrieval evaluation data (`tests/data/eval/`) stays
//! usable: at least 300 chunks at the default chunker settings, at least 40
//! judged queries, and every judgment names a section the chunker produces
//! (so `cargo xtask bench rag` can grade every query).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use aoai_rag::chunk::{ChunkerConfig, TokenChunker};
use aoai_rag::{Chunker, Document, Format};
use serde_json::Value;

#[test]
fn the_evaluation_corpus_and_judgments_fit_together() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/eval");
    for file in ["LICENSE-MIT", "LICENSE-APACHE", "README.md", "queries.json"] {
        assert!(data.join(file).is_file(), "{file} is missing");
    }
    let chunker = TokenChunker::new(ChunkerConfig::default()).unwrap();
    let mut chunks = Vec::new();
    for entry in std::fs::read_dir(data.join("book")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        chunks.extend(chunker.chunk(&Document::new(name, text, Format::Markdown)));
    }
    assert!(chunks.len() >= 300, "{} chunks", chunks.len());

    let judged: Value = serde_json::from_str(&std::fs::read_to_string(data.join("queries.json")).unwrap()).unwrap();
    let queries = judged["queries"].as_array().unwrap();
    assert!(queries.len() >= 40, "{} queries", queries.len());
    let mut ids = std::collections::HashSet::new();
    for query in queries {
        let id = query["id"].as_str().unwrap();
        assert!(ids.insert(id), "duplicate query id {id}");
        assert!(["keyword", "paraphrase", "question"].contains(&query["style"].as_str().unwrap()));
        assert!(!query["query"].as_str().unwrap().trim().is_empty());
        let judgments = query["judgments"].as_array().unwrap();
        assert!(judgments.iter().any(|judgment| judgment["grade"] == 2), "{id}: nothing answers it");
        for judgment in judgments {
            let source = judgment["source"].as_str().unwrap();
            let section = judgment["section"].as_str().unwrap();
            assert!([1, 2].contains(&judgment["grade"].as_u64().unwrap()), "{id}: grade");
            let matched = chunks
                .iter()
                .any(|chunk| chunk.source == source && chunk.headings.iter().any(|heading| heading == section));
            assert!(matched, "{id}: no chunk of {source} under {section:?}");
        }
    }
}
