//! The capability traits other layers implement or wrap.
//!
//! [`ChatApi`] and [`EmbeddingsApi`] are the seams: [`Client`](crate::Client)
//! implements them against the service; caches, guards and rate limiters in
//! other crates wrap any implementation and are themselves one, so they stack
//! in any order (`Guarded<Cached<Client>>`).

use std::sync::Arc;

use async_trait::async_trait;

use crate::chat::{ChatRequest, ChatResponse};
use crate::embeddings::{EmbeddingsRequest, EmbeddingsResponse};
use crate::error::Result;
use crate::response::Response;
use crate::stream::ChatStream;

/// Chat completions, whole or streamed.
#[async_trait]
pub trait ChatApi: Send + Sync {
    /// Creates a chat completion on `deployment`.
    async fn chat(&self, deployment: &str, request: &ChatRequest) -> Result<Response<ChatResponse>>;

    /// Starts a streamed chat completion on `deployment`.
    async fn chat_stream(&self, deployment: &str, request: &ChatRequest) -> Result<ChatStream>;
}

/// Embeddings.
#[async_trait]
pub trait EmbeddingsApi: Send + Sync {
    /// Creates embeddings on `deployment`.
    async fn embeddings(&self, deployment: &str, request: &EmbeddingsRequest) -> Result<Response<EmbeddingsResponse>>;
}

#[async_trait]
impl ChatApi for crate::Client {
    async fn chat(&self, deployment: &str, request: &ChatRequest) -> Result<Response<ChatResponse>> {
        crate::Client::chat(self, deployment, request).await
    }

    async fn chat_stream(&self, deployment: &str, request: &ChatRequest) -> Result<ChatStream> {
        crate::Client::chat_stream(self, deployment, request).await
    }
}

#[async_trait]
impl EmbeddingsApi for crate::Client {
    async fn embeddings(&self, deployment: &str, request: &EmbeddingsRequest) -> Result<Response<EmbeddingsResponse>> {
        crate::Client::embeddings(self, deployment, request).await
    }
}

#[async_trait]
impl<T: ChatApi + ?Sized> ChatApi for Arc<T> {
    async fn chat(&self, deployment: &str, request: &ChatRequest) -> Result<Response<ChatResponse>> {
        (**self).chat(deployment, request).await
    }

    async fn chat_stream(&self, deployment: &str, request: &ChatRequest) -> Result<ChatStream> {
        (**self).chat_stream(deployment, request).await
    }
}

#[async_trait]
impl<T: EmbeddingsApi + ?Sized> EmbeddingsApi for Arc<T> {
    async fn embeddings(&self, deployment: &str, request: &EmbeddingsRequest) -> Result<Response<EmbeddingsResponse>> {
        (**self).embeddings(deployment, request).await
    }
}
