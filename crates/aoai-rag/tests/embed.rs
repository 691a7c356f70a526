//! `AzureEmbedder` through the real client against aoai-emulator: batch
//! boundaries, input order, dimensions; and against a fake that answers out
//! of order.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Mutex;

use aoai_core::EmbeddingsApi;
use aoai_core::embeddings::{Embedding, EmbeddingInput, EmbeddingsRequest, EmbeddingsResponse};
use aoai_core::response::{Response, ResponseMeta};
use aoai_emulator::generate::embed_text;
use aoai_emulator::{DeploymentConfig, Emulator, EmulatorHandle};
use aoai_rag::Error;
use aoai_rag::embed::{AzureEmbedder, Embedder};
use async_trait::async_trait;

async fn emulator() -> EmulatorHandle {
    Emulator::builder().deployment(DeploymentConfig::new("embed", "text-embedding-3-small")).start().await.unwrap()
}

fn requests(emulator: &EmulatorHandle) -> u64 {
    emulator.stats().deployment("embed").map_or(0, |stats| stats.requests)
}

fn texts(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("document number {i} about topic {}", i % 7)).collect()
}

#[tokio::test]
async fn splits_by_max_inputs_and_keeps_order() {
    let emulator = emulator().await;
    let embedder = AzureEmbedder::builder(emulator.client().unwrap(), "embed", 1536).max_inputs(4).build().unwrap();
    let texts = texts(10);
    let vectors = embedder.embed(&texts).await.unwrap();
    assert_eq!(requests(&emulator), 3, "4 + 4 + 2 inputs");
    assert_eq!(vectors.len(), 10);
    for (text, vector) in texts.iter().zip(&vectors) {
        assert_eq!(vector, &embed_text(text, 1536));
    }
    assert_eq!(embedder.identity(), "azure:embed:1536");
    assert_eq!(embedder.dimensions(), 1536);
}

#[tokio::test]
async fn splits_by_token_budget() {
    let emulator = emulator().await;
    // Each text is 8 or 9 tokens: a 20-token budget holds two.
    let embedder =
        AzureEmbedder::builder(emulator.client().unwrap(), "embed", 1536).max_request_tokens(20).build().unwrap();
    let vectors = embedder.embed(&texts(5)).await.unwrap();
    assert_eq!(vectors.len(), 5);
    assert_eq!(requests(&emulator), 3, "2 + 2 + 1 inputs");
    // An empty input list sends nothing.
    assert!(embedder.embed(&[]).await.unwrap().is_empty());
    assert_eq!(requests(&emulator), 3);
}

#[tokio::test]
async fn requests_shorter_vectors_and_checks_their_length() {
    let emulator = emulator().await;
    let short = AzureEmbedder::builder(emulator.client().unwrap(), "embed", 256).request_dimensions().build().unwrap();
    let vectors = short.embed(&texts(3)).await.unwrap();
    assert!(vectors.iter().all(|vector| vector.len() == 256));
    assert_eq!(vectors[0], embed_text(&texts(3)[0], 256));
    assert_eq!(short.identity(), "azure:embed:256");

    // Expecting 256 without asking for it: the 1536-long answer is refused.
    let wrong = AzureEmbedder::builder(emulator.client().unwrap(), "embed", 256).build().unwrap();
    let error = wrong.embed(&texts(1)).await.unwrap_err();
    assert!(matches!(&error, Error::Embed(embed) if embed.message().contains("1536 dimensions")), "{error}");
}

#[tokio::test]
async fn service_errors_keep_the_client_error() {
    let emulator = emulator().await;
    let embedder = AzureEmbedder::builder(emulator.client().unwrap(), "missing", 1536).build().unwrap();
    let Error::Embed(error) = embedder.embed(&texts(1)).await.unwrap_err() else { panic!("not an embed error") };
    assert_eq!(error.client_error().and_then(aoai_core::Error::status), Some(404));
}

#[test]
fn rejects_settings_that_cannot_work() {
    let client = || Reversed::default();
    assert!(matches!(AzureEmbedder::builder(client(), "d", 0).build(), Err(Error::Config(_))));
    assert!(matches!(AzureEmbedder::builder(client(), "d", 8).max_inputs(2049).build(), Err(Error::Config(_))));
    assert!(matches!(AzureEmbedder::builder(client(), "d", 8).max_request_tokens(0).build(), Err(Error::Config(_))));
}

/// Answers each batch in reverse order, with vectors `[position, batch size]`.
#[derive(Debug, Default)]
struct Reversed {
    batches: Mutex<Vec<usize>>,
}

#[async_trait]
impl EmbeddingsApi for Reversed {
    async fn embeddings(
        &self,
        _deployment: &str,
        request: &EmbeddingsRequest,
    ) -> aoai_core::Result<Response<EmbeddingsResponse>> {
        let EmbeddingInput::Texts(texts) = &request.input else { panic!("expected a list of texts") };
        self.batches.lock().unwrap().push(texts.len());
        let data = texts
            .iter()
            .enumerate()
            .rev()
            .map(|(index, text)| Embedding {
                index: u32::try_from(index).unwrap(),
                object: "embedding".to_owned(),
                embedding: vec![text.parse::<f32>().unwrap(), 0.0],
            })
            .collect();
        Ok(Response {
            body: EmbeddingsResponse { data, ..EmbeddingsResponse::default() },
            meta: ResponseMeta::default(),
        })
    }
}

#[tokio::test]
async fn puts_vectors_back_in_input_order_by_index() {
    let embedder = AzureEmbedder::builder(Reversed::default(), "d", 2).max_inputs(3).build().unwrap();
    let texts: Vec<String> = (0..8).map(|i| i.to_string()).collect();
    let vectors = embedder.embed(&texts).await.unwrap();
    let firsts: Vec<f32> = vectors.iter().map(|vector| vector[0]).collect();
    assert_eq!(firsts, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
}
