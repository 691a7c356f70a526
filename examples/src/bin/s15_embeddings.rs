//! Guide section 15, embeddings: embed a few texts, shorten the vectors with
//! `dimensions`, fetch them base64-encoded, and rank the texts by cosine
//! similarity to a question; then the same documents in aoai-rag's
//! `EmbeddedIndex`, which stores the vectors on disk and searches them
//! (vector mode: cosine similarity, no keyword list).
//!
//! ```text
//! AZURE_OPENAI_EMBEDDING_DEPLOYMENT=text-embedding-3-small \
//!     cargo run -p aoai-examples --bin s15_embeddings
//! ```
//!
//! `dimensions` works with the `text-embedding-3-*` models only (ada-002
//! rejects it). Base64 is a quarter of the size of JSON floats on the wire;
//! the response decodes either form into `Vec<f32>`, so the code that uses
//! the vectors doesn't change.

use std::process::ExitCode;

use aoai_core::embeddings::{EmbeddingsRequest, EncodingFormat, decode_base64_f32, encode_base64_f32};
use aoai_rag::chunk::{Chunker, ChunkerConfig, Document, Format, TokenChunker};
use aoai_rag::{AzureEmbedder, EmbeddedIndex, Embedder, Filter, Retriever, SearchMode};

const DIMENSIONS: u32 = 256;

#[tokio::main]
async fn main() -> ExitCode {
    aoai_examples::exit_any(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    // The configured endpoint, or the embedded emulator; keep `session` alive while `client` is used.
    let session = aoai_examples::session().await?;
    let client = session.client()?;
    let deployment = aoai_examples::embedding_deployment();
    let documents = [
        "The Eiffel Tower is in Paris.",
        "Rust guarantees memory safety without a garbage collector.",
        "Azure OpenAI limits requests and tokens per minute per deployment.",
        "Croissants are best eaten warm.",
        "A 429 response means the rate limit was exceeded; retry after the delay it gives.",
    ];

    // The documents: shortened to 256 dimensions, sent back as base64.
    let request =
        EmbeddingsRequest::new(documents.to_vec()).dimensions(DIMENSIONS).encoding_format(EncodingFormat::Base64);
    let response = client.embeddings(&deployment, &request).await?;
    println!(
        "{} vectors of {} dimensions from {} ({} tokens)",
        response.data.len(),
        response.data.first().map_or(0, |embedding| embedding.embedding.len()),
        response.model,
        response.usage.prompt_tokens
    );
    let vectors = response.into_body().into_vectors_in_order();

    // The question: same model and dimensions, as JSON floats this time.
    let question = "Why did my request get HTTP 429?";
    let response = client.embeddings(&deployment, &EmbeddingsRequest::new(question).dimensions(DIMENSIONS)).await?;
    let Some(query) = response.into_body().into_vectors_in_order().into_iter().next() else {
        println!("the service returned no vector for the question");
        return Ok(());
    };

    let mut ranked: Vec<(f32, &str)> =
        vectors.iter().zip(documents).map(|(vector, text)| (cosine_similarity(&query, vector), text)).collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    println!("\nclosest to {question:?}:");
    for (score, text) in &ranked {
        println!("  {score:.3}  {text}");
    }

    // What base64 saves, by hand: little-endian f32s, standard alphabet.
    let base64 = encode_base64_f32(&query);
    let floats = serde_json::to_string(&query).unwrap_or_default();
    println!("\none vector: {} bytes as JSON floats, {} as base64", floats.len(), base64.len());
    match decode_base64_f32(&base64) {
        Ok(decoded) => println!("decoded back exactly: {}", decoded == query),
        Err(error) => println!("cannot decode: {error}"),
    }

    // Semantic search with an index: aoai-rag embeds the chunks (same deployment and
    // dimensions), keeps the vectors on disk, and embeds the query at search time.
    let embedder =
        AzureEmbedder::builder(session.client()?, &deployment, DIMENSIONS as usize).request_dimensions().build()?;
    let directory = std::env::temp_dir().join(format!("aoai-s15-{}", std::process::id()));
    let index = EmbeddedIndex::open(&directory, embedder)?;
    let chunker = TokenChunker::new(ChunkerConfig::default())?;
    for (position, text) in documents.iter().enumerate() {
        let source = format!("note-{position}.txt");
        index.replace_document(&source, chunker.chunk(&Document::new(source.as_str(), *text, Format::Text))).await?;
    }
    let hits = index.search(question, 3, SearchMode::Vector, &Filter::none()).await?;
    println!("\nsemantic search over an EmbeddedIndex of {} chunks ({}):", index.len(), index.embedder().identity());
    for hit in &hits {
        let cosine = hit.vector.map_or(0.0, |list| list.score);
        println!("  {cosine:.3}  {}: {}", hit.chunk.source, hit.chunk.text);
    }
    drop(index);
    let _ = std::fs::remove_dir_all(&directory);
    Ok(())
}

/// The cosine of the angle between two vectors: 1 for the same direction.
fn cosine_similarity(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm_a = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let norm_b = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm_a == 0.0 || norm_b == 0.0 { 0.0 } else { dot / (norm_a * norm_b) }
}
