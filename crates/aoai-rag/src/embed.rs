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
//! (default 8000), sends them one after another, and puts the vectors back in
//! input order by each item's `index`.

use aoai_core::EmbeddingsApi;
use aoai_core::embeddings::EmbeddingsRequest;
use aoai_core::tokens::{Encoding, Tokenizer};
use async_trait::async_trait;

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

/// An [`Embedder`] over an Azure OpenAI embeddings deployment.
#[derive(Debug, Clone)]
pub struct AzureEmbedder<C> {
    client: C,
    deployment: String,
    dimensions: usize,
    send_dimensions: bool,
    max_inputs: usize,
    max_request_tokens: usize,
    tokenizer: Tokenizer,
}

/// Builds an [`AzureEmbedder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct AzureEmbedderBuilder<C> {
    client: C,
    deployment: String,
    dimensions: usize,
    send_dimensions: bool,
    max_inputs: usize,
    max_request_tokens: usize,
    encoding: Encoding,
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
            encoding: Encoding::Cl100kBase,
        }
    }

    /// The deployment it calls.
    #[must_use]
    pub fn deployment(&self) -> &str {
        &self.deployment
    }

    /// The requests `texts` are sent in: ranges of input positions.
    fn batches(&self, texts: &[String]) -> Vec<std::ops::Range<usize>> {
        let mut batches = Vec::new();
        let mut start = 0;
        let mut tokens = 0;
        for (index, text) in texts.iter().enumerate() {
            let count = self.tokenizer.count(text);
            let full = index - start >= self.max_inputs || tokens + count > self.max_request_tokens;
            if index > start && full {
                batches.push(start..index);
                start = index;
                tokens = 0;
            }
            tokens += count;
        }
        if start < texts.len() {
            batches.push(start..texts.len());
        }
        batches
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

    /// The embedder.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for zero dimensions, or `max_inputs` outside 1..=2048,
    /// or a zero token budget.
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
        Ok(AzureEmbedder {
            client: self.client,
            deployment: self.deployment,
            dimensions: self.dimensions,
            send_dimensions: self.send_dimensions,
            max_inputs: self.max_inputs,
            max_request_tokens: self.max_request_tokens,
            tokenizer: Tokenizer::new(self.encoding),
        })
    }
}

#[async_trait]
impl<C: EmbeddingsApi> Embedder for AzureEmbedder<C> {
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let mut vectors: Vec<Vec<f32>> = Vec::with_capacity(texts.len());
        for batch in self.batches(texts) {
            let inputs = texts.get(batch.clone()).unwrap_or_default().to_vec();
            let expected = inputs.len();
            let mut request = EmbeddingsRequest::new(inputs);
            if self.send_dimensions {
                request = request.dimensions(u32::try_from(self.dimensions).unwrap_or(u32::MAX));
            }
            let response = self
                .client
                .embeddings(&self.deployment, &request)
                .await
                .map_err(|error| self.error("the embeddings request failed", Some(error)))?;
            let mut slots: Vec<Option<Vec<f32>>> = vec![None; expected];
            for item in response.body.data {
                let index = item.index as usize;
                let Some(slot) = slots.get_mut(index) else {
                    return Err(self.error(format!("the service answered index {index} for {expected} inputs"), None));
                };
                if item.embedding.len() != self.dimensions {
                    return Err(self.error(
                        format!(
                            "the service answered {} dimensions, expected {}",
                            item.embedding.len(),
                            self.dimensions
                        ),
                        None,
                    ));
                }
                *slot = Some(item.embedding);
            }
            for (offset, slot) in slots.into_iter().enumerate() {
                let Some(vector) = slot else {
                    return Err(
                        self.error(format!("the service answered no vector for input {}", batch.start + offset), None)
                    );
                };
                vectors.push(vector);
            }
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
