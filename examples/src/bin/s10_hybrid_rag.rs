//! Guide section 10, hybrid search: index a small corpus in aoai-rag's
//! `EmbeddedIndex` (BM25 keyword index + embeddings), then run the same
//! queries by keyword, by vector and hybrid, and show how reciprocal-rank
//! fusion combines the two ranked lists.
//!
//! ```text
//! AZURE_OPENAI_EMBEDDING_DEPLOYMENT=text-embedding-3-small \
//!     cargo run -p aoai-examples --bin s10_hybrid_rag
//! ```
//!
//! Hybrid search scores each chunk `Σ 1 / (60 + rank)` over the lists it is
//! in (Azure AI Search's fusion, weights 1): a chunk near the top of both
//! lists beats one at the top of only one. Keyword search finds exact terms
//! (error codes, names); vector search finds paraphrases; hybrid keeps both.
//! The index lives in a temporary directory here; point `EmbeddedIndex::open`
//! at a real directory to keep it.

use std::process::ExitCode;

use aoai_rag::chunk::{Chunker, ChunkerConfig, Document, Format, TokenChunker};
use aoai_rag::retrieve::{Hit, RRF_K};
use aoai_rag::{AzureEmbedder, EmbeddedIndex, Filter, Retriever, SearchMode};

/// A handful of documents, one per topic.
const CORPUS: &[(&str, &str)] = &[
    (
        "docs/rate-limits.md",
        "# Rate limits\n\nAzure OpenAI limits tokens per minute and requests per minute per deployment.\n\n## 429 responses\n\nA 429 status means the quota was exceeded; wait for the Retry-After delay, then send again.\n",
    ),
    (
        "docs/batching.md",
        "# Batching\n\nThe batch scheduler sends requests at the deployment's quota, never faster.\n\n## Resume\n\nA crashed batch resumes from its journal, so no request is sent twice.\n",
    ),
    (
        "docs/caching.md",
        "# Caching\n\nThe cache keeps answers keyed by the canonical request, so repeated questions cost nothing.\n",
    ),
    (
        "docs/safety.md",
        "# Content safety\n\nGuards block prompts that mention forbidden words and redact personal data before it is sent.\n",
    ),
    (
        "docs/streaming.md",
        "# Streaming\n\nStreamed answers arrive as server-sent events; the first token comes long before the last.\n",
    ),
];

#[tokio::main]
async fn main() -> ExitCode {
    aoai_examples::exit_any(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    // The configured endpoint, or the embedded emulator; keep `session` alive while the index is used.
    let session = aoai_examples::session().await?;
    let embedder = AzureEmbedder::builder(session.client()?, aoai_examples::embedding_deployment(), 256)
        .request_dimensions()
        .build()?;
    let directory = std::env::temp_dir().join(format!("aoai-s10-{}", std::process::id()));
    let index = EmbeddedIndex::open(&directory, embedder)?;

    // Chunk (heading-aware, 128 tokens at most) and index every document.
    let chunker = TokenChunker::new(ChunkerConfig { max_tokens: 128, overlap_tokens: 16, ..ChunkerConfig::default() })?;
    for (source, text) in CORPUS {
        let document = Document::new(*source, *text, Format::Markdown);
        index.replace_document(source, chunker.chunk(&document)).await?;
    }
    println!("indexed {} documents as {} chunks in {}", CORPUS.len(), index.len(), directory.display());

    for query in ["what does HTTP 429 mean?", "sending too many requests too fast"] {
        println!("\nquery: {query:?}");
        for mode in [SearchMode::Keyword, SearchMode::Vector, SearchMode::Hybrid] {
            let hits = index.search(query, 3, mode, &Filter::none()).await?;
            println!("  {}:", name(mode));
            for (position, hit) in hits.iter().enumerate() {
                println!("    {}. {}", position + 1, describe(hit));
            }
        }
        // How the best hybrid hit got its score.
        if let Some(best) = index.search(query, 1, SearchMode::Hybrid, &Filter::none()).await?.first() {
            println!("  fused: {} = {:.5}", fusion(best), best.score);
        }
    }

    // A filter narrows both lists before ranking.
    let hits = index.search("requests", 5, SearchMode::Hybrid, &Filter::none().source_prefix("docs/batching")).await?;
    println!(
        "\nfiltered to docs/batching: {} hit(s), all from {:?}",
        hits.len(),
        hits.first().map(|hit| &hit.chunk.source)
    );

    drop(index);
    let _ = std::fs::remove_dir_all(&directory);
    Ok(())
}

fn name(mode: SearchMode) -> &'static str {
    match mode {
        SearchMode::Keyword => "keyword (BM25)",
        SearchMode::Vector => "vector (cosine)",
        _ => "hybrid (reciprocal-rank fusion)",
    }
}

/// Source, heading path, and each list's rank and raw score.
fn describe(hit: &Hit) -> String {
    let mut text = format!("{} > {}  score {:.5}", hit.chunk.source, hit.chunk.headings.join(" > "), hit.score);
    if let Some(keyword) = hit.keyword {
        text.push_str(&format!("  [keyword #{} bm25 {:.2}]", keyword.rank, keyword.score));
    }
    if let Some(vector) = hit.vector {
        text.push_str(&format!("  [vector #{} cosine {:.3}]", vector.rank, vector.score));
    }
    text
}

/// The fusion sum, term by term: `1/(60+r_keyword) + 1/(60+r_vector)`.
fn fusion(hit: &Hit) -> String {
    let terms: Vec<String> =
        [hit.keyword, hit.vector].into_iter().flatten().map(|list| format!("1/({RRF_K}+{})", list.rank)).collect();
    terms.join(" + ")
}
