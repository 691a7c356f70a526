//! The repository's own `docs/*.md`, chunked and indexed with the
//! emulator's embeddings: keyword, vector and hybrid results are sensible
//! and identical after reopening the directory.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;

use aoai_emulator::{DeploymentConfig, Emulator};
use aoai_rag::chunk::{Chunker, ChunkerConfig, Document, Format, TokenChunker};
use aoai_rag::{AzureEmbedder, EmbeddedIndex, Filter, Retriever, SearchMode};

const FILES: &[&str] = &["ARCHITECTURE.md", "guide.md", "benchmarks.md"];

fn documents() -> Vec<Document> {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
    FILES
        .iter()
        .map(|name| {
            let text = std::fs::read_to_string(docs.join(name)).unwrap();
            Document::new(format!("docs/{name}"), text, Format::Markdown)
        })
        .collect()
}

#[tokio::test]
async fn docs_are_searchable_in_every_mode_and_stable_after_reopening() {
    let emulator =
        Emulator::builder().deployment(DeploymentConfig::new("embed", "text-embedding-3-small")).start().await.unwrap();
    let embedder =
        || AzureEmbedder::builder(emulator.client().unwrap(), "embed", 256).request_dimensions().build().unwrap();
    let directory = tempfile::tempdir().unwrap();
    let index = EmbeddedIndex::open(directory.path(), embedder()).unwrap();
    let chunker =
        TokenChunker::new(ChunkerConfig { max_tokens: 256, overlap_tokens: 32, ..ChunkerConfig::default() }).unwrap();
    let documents = documents();
    let mut total = 0;
    for document in &documents {
        let chunks = chunker.chunk(document);
        assert!(chunks.iter().all(|chunk| chunk.tokens <= 256 && document.text[chunk.start..chunk.end] == chunk.text));
        total += chunks.len();
        index.replace_document(&document.source, chunks).await.unwrap();
    }
    assert_eq!(index.len(), total);
    assert!(total > 10, "{total} chunks");

    // Keyword: the best hits contain the query's rare word.
    let keyword = index.search("blocklist", 5, SearchMode::Keyword, &Filter::none()).await.unwrap();
    assert!(!keyword.is_empty());
    assert!(keyword[0].chunk.text.to_lowercase().contains("blocklist"), "{:?}", keyword[0].chunk);

    // Vector: a chunk's own text finds that chunk first, with cosine ~1.
    let target = index.get("docs/ARCHITECTURE.md#3").unwrap();
    let vector = index.search(&target.text, 5, SearchMode::Vector, &Filter::none()).await.unwrap();
    assert_eq!(vector[0].chunk.id, target.id);
    assert!(vector[0].vector.unwrap().score > 0.999);

    // Hybrid: a question about retries puts chunks mentioning them on top
    // (two of the first three), the first found by both lists.
    let question = "how are rate limited requests retried with retry-after-ms?";
    let hybrid = index.search(question, 5, SearchMode::Hybrid, &Filter::none()).await.unwrap();
    assert!(hybrid[0].keyword.is_some() && hybrid[0].vector.is_some(), "{:?}", hybrid[0]);
    let about_retries = hybrid.iter().take(3).filter(|hit| hit.chunk.text.to_lowercase().contains("retr")).count();
    assert!(about_retries >= 2, "{hybrid:?}");

    // A filter keeps one document.
    let guide =
        index.search(question, 5, SearchMode::Hybrid, &Filter::none().source_prefix("docs/guide")).await.unwrap();
    assert!(!guide.is_empty() && guide.iter().all(|hit| hit.chunk.source == "docs/guide.md"));

    // Reopened: the same results in every mode.
    drop(index);
    let reopened = EmbeddedIndex::open(directory.path(), embedder()).unwrap();
    assert_eq!(reopened.len(), total);
    assert_eq!(reopened.search("blocklist", 5, SearchMode::Keyword, &Filter::none()).await.unwrap(), keyword);
    assert_eq!(reopened.search(&target.text, 5, SearchMode::Vector, &Filter::none()).await.unwrap(), vector);
    assert_eq!(reopened.search(question, 5, SearchMode::Hybrid, &Filter::none()).await.unwrap(), hybrid);
}
