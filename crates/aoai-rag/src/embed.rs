//! Turning texts into vectors: the [`Embedder`] trait and [`AzureEmbedder`].
//!
//! An [`Embedder`] maps texts to vectors of a fixed length and names itself
//! with an [`identity`](Embedder::identity) (`azure:{deployment}:{dimensions}`
//! for [`AzureEmbedder`]); an index records that identity and refuses
//! vectors from any other, since vectors from two models are not comparable.
//!
//! [`AzureEmbedder`] works over any [`EmbeddingsApi`] (the
//! [`Client`](aoai_core::Client), or a decorator around it). It splits the
//! texts into requests of at most [`max_inputs`](AzureEmbedderBuilder::max_inputs)
//! inputs (Azure accepts 2048) and about
//! [`max_request_tokens`](AzureEmbedderBuilder::max_request_tokens) tokens
//! (default 8000), sends up to [`concurrency`](AzureEmbedderBuilder::concurrency)
//! of them at once (default [`DEFAULT_CONCURRENCY`]), and puts the vectors
//! back in input order (requests in order, items by their `index`). If any
//! request fails, the call is an [`Error::Embed`] naming it, the requests
//! still in flight are dropped, and no vector is returned: a caller that
//! writes what it embedded writes nothing.
//!
//! Quota: each request goes through the client, whose retry policy waits out
//! a 429 for the `retry-after-ms` Azure sends. Callers that share a
//! deployment's quota with other work (`aoai batch run`, other processes)
//! give the embedder that work's quota gate (feature `quota-gate`:
//! [`AzureEmbedderBuilder::gate`], any `aoai_batch::Gate`, such as its
//! `Scheduler` or the Redis-shared `RedisGate`): every request then waits
//! for admission, charged its input tokens, before it is sent, the gate
//! learns from the response's rate-limit headers, and a 429 pauses the
//! deployment in the gate for everyone before the request is sent again
//! (at most [`MAX_RATE_LIMIT_RETRIES`] times).

use std::ops::Range;

use aoai_core::EmbeddingsApi;
use aoai_core::embeddings::EmbeddingsRequest;
use aoai_core::tokens::{Encoding, Tokenizer};
use async_trait::async_trait;
use futures_util::StreamExt as _;

use crate::error::{ConfigError, EmbedError, Error, Result};

/// Texts to vectors.
#[async_trait]
pub trait Embedder: Send + Sync {
    /// One vector of [`dimensions`](Self::dimensions) components per text, in order.
    ///
    /// # Errors
    ///
    /// [`Error::Embed`] when the vectors could not be made.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>>;

    /// The length of every vector.
    fn dimensions(&self) -> usize;

    /// Names the model and settings: two embedders with the same identity
    /// make comparable vectors.
    fn identity(&self) -> String;

    /// The most tokens of one input the model reads, in its own tokens
    /// (special tokens included); the rest of a longer input is cut off
    /// (or refused) and never embedded. `None` (the default) when unknown.
    fn max_input_tokens(&self) -> Option<usize> {
        None
    }

    /// How many of its own tokens the model sees for `text`, before any
    /// truncation and special tokens included; `None` (the default) when the
    /// embedder cannot count. [`TokenChunker::fit_to`](crate::chunk::TokenChunker::fit_to)
    /// uses it with [`max_input_tokens`](Self::max_input_tokens) so that no
    /// chunk is longer than the model reads.
    fn count_input_tokens(&self, text: &str) -> Option<usize> {
        let _ = text;
        None
    }
}

#[async_trait]
impl<T: Embedder + ?Sized> Embedder for std::sync::Arc<T> {
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        (**self).embed(texts).await
    }

    fn dimensions(&self) -> usize {
        (**self).dimensions()
    }

    fn identity(&self) -> String {
        (**self).identity()
    }

    fn max_input_tokens(&self) -> Option<usize> {
        (**self).max_input_tokens()
    }

    fn count_input_tokens(&self, text: &str) -> Option<usize> {
        (**self).count_input_tokens(text)
    }
}

/// The most inputs Azure accepts in one embeddings request.
pub const AZURE_MAX_INPUTS: usize = 2048;
/// The default token budget of one request.
pub const DEFAULT_MAX_REQUEST_TOKENS: usize = 8000;
/// The most tokens of one input the Azure embedding models read
/// (`text-embedding-3-*`, `ada-002`): 8191.
pub const AZURE_MAX_INPUT_TOKENS: usize = 8191;

/// Requests an [`AzureEmbedder`] has in flight at once by default.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// The most requests an [`AzureEmbedder`] may have in flight at once.
pub const MAX_CONCURRENCY: usize = 64;
/// With a quota gate, how many times one request is sent again after a 429.
pub const MAX_RATE_LIMIT_RETRIES: u32 = 8;

/// The quota gate requests wait on (feature `quota-gate`).
#[cfg(feature = "quota-gate")]
type SharedGate = std::sync::Arc<dyn aoai_batch::Gate>;

/// An [`Embedder`] over an Azure OpenAI embeddings deployment.
#[derive(Clone)]
pub struct AzureEmbedder<C> {
    client: C,
    deployment: String,
    dimensions: usize,
    send_dimensions: bool,
    max_inputs: usize,
    max_request_tokens: usize,
    concurrency: usize,
    tokenizer: Tokenizer,
    #[cfg(feature = "quota-gate")]
    gate: Option<SharedGate>,
}

impl<C: std::fmt::Debug> std::fmt::Debug for AzureEmbedder<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut debug = f.debug_struct("AzureEmbedder");
        debug
            .field("client", &self.client)
            .field("deployment", &self.deployment)
            .field("dimensions", &self.dimensions)
            .field("send_dimensions", &self.send_dimensions)
            .field("max_inputs", &self.max_inputs)
            .field("max_request_tokens", &self.max_request_tokens)
            .field("concurrency", &self.concurrency);
        #[cfg(feature = "quota-gate")]
        debug.field("gate", &self.gate.is_some());
        debug.finish_non_exhaustive()
    }
}

/// Builds an [`AzureEmbedder`].
#[derive(Clone)]
#[must_use]
pub struct AzureEmbedderBuilder<C> {
    client: C,
    deployment: String,
    dimensions: usize,
    send_dimensions: bool,
    max_inputs: usize,
    max_request_tokens: usize,
    concurrency: usize,
    encoding: Encoding,
    #[cfg(feature = "quota-gate")]
    gate: Option<SharedGate>,
}

impl<C: std::fmt::Debug> std::fmt::Debug for AzureEmbedderBuilder<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureEmbedderBuilder")
            .field("client", &self.client)
            .field("deployment", &self.deployment)
            .field("dimensions", &self.dimensions)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl<C: EmbeddingsApi> AzureEmbedder<C> {
    /// Starts building an embedder for `deployment`, whose model makes
    /// vectors of `dimensions` components (1536 for `text-embedding-3-small`
    /// and `ada-002`, 3072 for `-3-large`).
    pub fn builder(client: C, deployment: impl Into<String>, dimensions: usize) -> AzureEmbedderBuilder<C> {
        AzureEmbedderBuilder {
            client,
            deployment: deployment.into(),
            dimensions,
            send_dimensions: false,
            max_inputs: AZURE_MAX_INPUTS,
            max_request_tokens: DEFAULT_MAX_REQUEST_TOKENS,
            concurrency: DEFAULT_CONCURRENCY,
            encoding: Encoding::Cl100kBase,
            #[cfg(feature = "quota-gate")]
            gate: None,
        }
    }

    /// The deployment it calls.
    #[must_use]
    pub fn deployment(&self) -> &str {
        &self.deployment
    }

    /// How many requests it sends at once at most.
    #[must_use]
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// The requests `texts` are sent in: ranges of input positions and their tokens.
    fn batches(&self, texts: &[String]) -> Vec<(Range<usize>, usize)> {
        let mut batches = Vec::new();
        let mut start = 0;
        let mut tokens = 0;
        for (index, text) in texts.iter().enumerate() {
            let count = self.tokenizer.count(text);
            let full = index - start >= self.max_inputs || tokens + count > self.max_request_tokens;
            if index > start && full {
                batches.push((start..index, tokens));
                start = index;
                tokens = 0;
            }
            tokens += count;
        }
        if start < texts.len() {
            batches.push((start..texts.len(), tokens));
        }
        batches
    }

    /// Sends one request (through the gate, if any) and checks its answer:
    /// the vectors of `texts[batch]`, in order.
    async fn request(&self, texts: &[String], batch: Range<usize>, tokens: usize) -> Result<Vec<Vec<f32>>> {
        let inputs = texts.get(batch.clone()).unwrap_or_default().to_vec();
        let expected = inputs.len();
        let mut request = EmbeddingsRequest::new(inputs);
        if self.send_dimensions {
            request = request.dimensions(u32::try_from(self.dimensions).unwrap_or(u32::MAX));
        }
        let what = || format!("the embeddings request for inputs {}..{} failed", batch.start, batch.end);
        let response = self.send(&request, tokens).await.map_err(|error| match error {
            Sent::Client(error) => self.error(what(), Some(error)),
            Sent::Gate(message) => self.error(format!("{}: the quota gate refused it: {message}", what()), None),
        })?;
        let mut slots: Vec<Option<Vec<f32>>> = vec![None; expected];
        for item in response.body.data {
            let index = item.index as usize;
            let Some(slot) = slots.get_mut(index) else {
                return Err(self.error(format!("the service answered index {index} for {expected} inputs"), None));
            };
            if item.embedding.len() != self.dimensions {
                return Err(self.error(
                    format!("the service answered {} dimensions, expected {}", item.embedding.len(), self.dimensions),
                    None,
                ));
            }
            *slot = Some(item.embedding);
        }
        slots
            .into_iter()
            .enumerate()
            .map(|(offset, slot)| {
                slot.ok_or_else(|| {
                    self.error(format!("the service answered no vector for input {}", batch.start + offset), None)
                })
            })
            .collect()
    }

    #[cfg(not(feature = "quota-gate"))]
    async fn send(
        &self,
        request: &EmbeddingsRequest,
        _tokens: usize,
    ) -> std::result::Result<aoai_core::Response<aoai_core::embeddings::EmbeddingsResponse>, Sent> {
        self.client.embeddings(&self.deployment, request).await.map_err(Sent::Client)
    }

    /// Without a gate, straight through the client; with one, admitted first
    /// (charged the input tokens), the headers reported, a 429 reported and
    /// the request admitted and sent again.
    #[cfg(feature = "quota-gate")]
    async fn send(
        &self,
        request: &EmbeddingsRequest,
        tokens: usize,
    ) -> std::result::Result<aoai_core::Response<aoai_core::embeddings::EmbeddingsResponse>, Sent> {
        let Some(gate) = &self.gate else {
            return self.client.embeddings(&self.deployment, request).await.map_err(Sent::Client);
        };
        let cost = u64::try_from(tokens).unwrap_or(u64::MAX);
        let mut rate_limits = 0;
        loop {
            let grant =
                gate.acquire(Some(&self.deployment), cost).await.map_err(|error| Sent::Gate(error.to_string()))?;
            match self.client.embeddings(&self.deployment, request).await {
                Ok(response) => {
                    gate.observe(&grant, &response.meta.rate_limits).await;
                    return Ok(response);
                }
                Err(error) if error.status() == Some(429) && rate_limits < MAX_RATE_LIMIT_RETRIES => {
                    rate_limits += 1;
                    gate.rate_limited(grant.deployment(), error.retry_after())
                        .await
                        .map_err(|error| Sent::Gate(error.to_string()))?;
                }
                Err(error) => return Err(Sent::Client(error)),
            }
        }
    }

    fn error(&self, message: impl Into<String>, source: Option<aoai_core::Error>) -> Error {
        Error::Embed(EmbedError::new(self.identity(), message, source))
    }
}

impl<C: EmbeddingsApi> AzureEmbedderBuilder<C> {
    /// Sends `dimensions` with every request, asking a `text-embedding-3`
    /// model to shorten its vectors to the length given to
    /// [`AzureEmbedder::builder`].
    pub fn request_dimensions(mut self) -> Self {
        self.send_dimensions = true;
        self
    }

    /// The most inputs in one request (1 to 2048; default 2048).
    pub fn max_inputs(mut self, max_inputs: usize) -> Self {
        self.max_inputs = max_inputs;
        self
    }

    /// The most tokens in one request (default 8000). A single input longer
    /// than this is sent alone; the service refuses inputs over its own limit
    /// (8192 tokens), so chunk before embedding.
    pub fn max_request_tokens(mut self, max_request_tokens: usize) -> Self {
        self.max_request_tokens = max_request_tokens;
        self
    }

    /// The encoding that counts the budget (default `cl100k_base`, the
    /// embedding models' own).
    pub fn encoding(mut self, encoding: Encoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// The most requests in flight at once (1 to [`MAX_CONCURRENCY`];
    /// default [`DEFAULT_CONCURRENCY`]). Results keep input order whatever
    /// order the answers arrive in; 1 sends one request after another.
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency;
        self
    }

    /// Admits every request through `gate` (feature `quota-gate`): the quota
    /// gate of `aoai batch run` or any `aoai_batch::Gate` sharing this
    /// deployment's quota, so embedding waits for room instead of meeting
    /// 429s. The gate must know the deployment (an unknown deployment fails
    /// the request with the gate's error).
    #[cfg(feature = "quota-gate")]
    pub fn gate(mut self, gate: std::sync::Arc<dyn aoai_batch::Gate>) -> Self {
        self.gate = Some(gate);
        self
    }

    /// The embedder.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for zero dimensions, or `max_inputs` outside 1..=2048,
    /// or a zero token budget, or `concurrency` outside 1..=64.
    pub fn build(self) -> Result<AzureEmbedder<C>> {
        if self.dimensions == 0 || u32::try_from(self.dimensions).is_err() {
            return Err(Error::Config(ConfigError::new(format!("dimensions is {}", self.dimensions))));
        }
        if !(1..=AZURE_MAX_INPUTS).contains(&self.max_inputs) {
            return Err(Error::Config(ConfigError::new(format!(
                "max_inputs is {}, it must be between 1 and {AZURE_MAX_INPUTS}",
                self.max_inputs
            ))));
        }
        if self.max_request_tokens == 0 {
            return Err(Error::Config(ConfigError::new("max_request_tokens is 0")));
        }
        if !(1..=MAX_CONCURRENCY).contains(&self.concurrency) {
            return Err(Error::Config(ConfigError::new(format!(
                "concurrency is {}, it must be between 1 and {MAX_CONCURRENCY}",
                self.concurrency
            ))));
        }
        Ok(AzureEmbedder {
            client: self.client,
            deployment: self.deployment,
            dimensions: self.dimensions,
            send_dimensions: self.send_dimensions,
            max_inputs: self.max_inputs,
            max_request_tokens: self.max_request_tokens,
            concurrency: self.concurrency,
            tokenizer: Tokenizer::new(self.encoding),
            #[cfg(feature = "quota-gate")]
            gate: self.gate,
        })
    }
}

#[async_trait]
impl<C: EmbeddingsApi> Embedder for AzureEmbedder<C> {
    /// Up to [`concurrency`](AzureEmbedderBuilder::concurrency) requests at
    /// once; the first failure ends the call (requests in flight are dropped).
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let mut answers = futures_util::stream::iter(self.batches(texts))
            .map(|(batch, tokens)| self.request(texts, batch, tokens))
            .buffered(self.concurrency);
        let mut vectors: Vec<Vec<f32>> = Vec::with_capacity(texts.len());
        while let Some(answer) = answers.next().await {
            vectors.extend(answer?);
        }
        Ok(vectors)
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    fn identity(&self) -> String {
        format!("azure:{}:{}", self.deployment, self.dimensions)
    }

    /// 8191 ([`AZURE_MAX_INPUT_TOKENS`]).
    fn max_input_tokens(&self) -> Option<usize> {
        Some(AZURE_MAX_INPUT_TOKENS)
    }

    /// Counted with the builder's [`encoding`](AzureEmbedderBuilder::encoding).
    fn count_input_tokens(&self, text: &str) -> Option<usize> {
        Some(self.tokenizer.count(text))
    }
}

/// Why a request was not answered.
enum Sent {
    /// The client's error.
    Client(aoai_core::Error),
    /// The quota gate's refusal, as text (its error type is aoai-batch's).
    #[cfg_attr(not(feature = "quota-gate"), allow(dead_code, reason = "only a gate refuses"))]
    Gate(String),
}
