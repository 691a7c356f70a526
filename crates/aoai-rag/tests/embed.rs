//! `AzureEmbedder` through the real client against aoai-emulator: batch
//! boundaries, input order, dimensions, requests in flight together (the
//! emulator answers late, a counting wrapper sees the overlap), one failed
//! request failing the call, the quota gate (feature `quota-gate`); and
//! against a fake that answers out of order.

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
    assert!(matches!(AzureEmbedder::builder(client(), "d", 8).concurrency(0).build(), Err(Error::Config(_))));
    assert!(matches!(AzureEmbedder::builder(client(), "d", 8).concurrency(65).build(), Err(Error::Config(_))));
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

/// The real client, counting the requests it has in flight.
struct Counting {
    inner: aoai_core::Client,
    in_flight: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
}

impl Counting {
    fn new(inner: aoai_core::Client) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self { inner, in_flight: 0.into(), most: 0.into() })
    }

    fn most(&self) -> usize {
        self.most.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait]
impl EmbeddingsApi for Counting {
    async fn embeddings(
        &self,
        deployment: &str,
        request: &EmbeddingsRequest,
    ) -> aoai_core::Result<Response<EmbeddingsResponse>> {
        use std::sync::atomic::Ordering;
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        // A request holding "fail me" goes to a deployment that does not exist: a real 404.
        let failing = matches!(&request.input, EmbeddingInput::Texts(texts) if texts.iter().any(|t| t == "fail me"));
        let answer = self.inner.embeddings(if failing { "missing" } else { deployment }, request).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        answer
    }
}

/// An emulator whose embeddings answer after 150 ms, so requests sent
/// together are in flight together.
async fn slow_emulator() -> EmulatorHandle {
    let latency =
        aoai_emulator::config::LatencyModel::new(std::time::Duration::from_millis(150), std::time::Duration::ZERO);
    Emulator::builder()
        .deployment(DeploymentConfig::new("embed", "text-embedding-3-small").latency(latency))
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn sends_up_to_its_concurrency_at_once_and_keeps_input_order() {
    let emulator = slow_emulator().await;
    let texts = texts(20);
    for (concurrency, expected) in [(4, 4), (1, 1), (16, 10)] {
        let client = Counting::new(emulator.client().unwrap());
        let embedder = AzureEmbedder::builder(std::sync::Arc::clone(&client), "embed", 1536)
            .max_inputs(2)
            .concurrency(concurrency)
            .build()
            .unwrap();
        assert_eq!(embedder.concurrency(), concurrency);
        let vectors = embedder.embed(&texts).await.unwrap();
        assert_eq!(client.most(), expected, "10 requests at concurrency {concurrency}");
        assert_eq!(vectors.len(), 20);
        for (text, vector) in texts.iter().zip(&vectors) {
            assert_eq!(vector, &embed_text(text, 1536), "{text}");
        }
    }
    assert_eq!(requests(&emulator), 30);
    // The default is 4.
    let embedder = AzureEmbedder::builder(emulator.client().unwrap(), "embed", 1536).build().unwrap();
    assert_eq!(embedder.concurrency(), aoai_rag::embed::DEFAULT_CONCURRENCY);
}

#[tokio::test]
async fn one_failed_request_fails_the_call_with_the_client_error() {
    let emulator = slow_emulator().await;
    let mut texts = texts(20);
    texts[9] = "fail me".to_owned();
    let client = Counting::new(emulator.client().unwrap());
    let embedder = AzureEmbedder::builder(std::sync::Arc::clone(&client), "embed", 1536)
        .max_inputs(2)
        .concurrency(4)
        .build()
        .unwrap();
    let Err(Error::Embed(error)) = embedder.embed(&texts).await else { panic!("the call must fail") };
    assert!(error.message().contains("inputs 8..10"), "{}", error.message());
    assert_eq!(error.client_error().and_then(aoai_core::Error::status), Some(404));
    assert!(client.most() > 1, "the requests overlapped");
}

#[cfg(feature = "quota-gate")]
#[tokio::test]
async fn a_quota_gate_admits_and_charges_every_request() {
    use aoai_batch::Scheduler;
    use aoai_batch::limiter::QuotaSpec;
    use aoai_core::clock::Time;

    let emulator = emulator().await;
    let scheduler = std::sync::Arc::new(
        Scheduler::builder(Time::system()).deployment("embed", QuotaSpec::new(100_000, 600)).build().unwrap(),
    );
    let embedder = AzureEmbedder::builder(emulator.client().unwrap(), "embed", 1536)
        .max_inputs(2)
        .gate(scheduler.clone())
        .build()
        .unwrap();
    let texts = texts(10);
    let vectors = embedder.embed(&texts).await.unwrap();
    assert_eq!(vectors.len(), 10);
    let tokens: u64 = texts.iter().map(|text| embedder.count_input_tokens(text).unwrap() as u64).sum();
    let remaining = scheduler.remaining("embed").unwrap();
    // 600 requests a minute are 100 per 10-second window; 5 requests were charged, and their tokens.
    assert_eq!(remaining.requests, Some(95));
    assert!(remaining.tokens.unwrap() <= 100_000 - tokens, "{remaining:?} after {tokens} tokens");
    assert_eq!(requests(&emulator), 5);

    // A gate that does not know the deployment refuses; nothing is sent.
    let other = std::sync::Arc::new(
        Scheduler::builder(Time::system()).deployment("other", QuotaSpec::new(100_000, 600)).build().unwrap(),
    );
    let embedder = AzureEmbedder::builder(emulator.client().unwrap(), "embed", 1536).gate(other).build().unwrap();
    let Err(Error::Embed(error)) = embedder.embed(&texts).await else { panic!("the gate must refuse") };
    assert!(error.message().contains("quota gate"), "{}", error.message());
    assert_eq!(requests(&emulator), 5);
}
