//! The capability traits other layers implement or wrap.
//!
//! [`ChatApi`], [`EmbeddingsApi`] and [`ResponsesApi`] are the seams: [`Client`](crate::Client)
//! implements them against the service; caches, guards and rate limiters in
//! other crates wrap any implementation and are themselves one, so they stack
//! in any order (`Guarded<Cached<Client>>`).

use std::sync::Arc;

use async_trait::async_trait;

use crate::chat::{ChatRequest, ChatResponse};
use crate::embeddings::{EmbeddingsRequest, EmbeddingsResponse};
use crate::error::Result;
use crate::response::Response;
use crate::responses::{ResponseDeleted, ResponseObject, ResponseRequest, ResponseStream};
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

/// The Responses API: create (whole or streamed), read, delete and cancel
/// responses. Background polling ([`crate::responses::wait_for_response`])
/// works over any implementation.
#[async_trait]
pub trait ResponsesApi: Send + Sync {
    /// Creates a response on `deployment` (sent as `"model"`).
    async fn create_response(&self, deployment: &str, request: &ResponseRequest) -> Result<Response<ResponseObject>>;

    /// Starts a streamed response on `deployment`.
    async fn create_response_stream(&self, deployment: &str, request: &ResponseRequest) -> Result<ResponseStream>;

    /// Reads a stored response; `include` asks for extra output.
    async fn get_response(&self, id: &str, include: &[&str]) -> Result<Response<ResponseObject>>;

    /// Deletes a stored response.
    async fn delete_response(&self, id: &str) -> Result<Response<ResponseDeleted>>;

    /// Cancels a background response (idempotent).
    async fn cancel_response(&self, id: &str) -> Result<Response<ResponseObject>>;

    /// Streams a stored (background) response's events again, from the one
    /// after sequence number `starting_after` (from the first when `None`):
    /// how a dropped stream picks up where it stopped.
    async fn resume_response_stream(&self, id: &str, starting_after: Option<u64>) -> Result<ResponseStream>;
}

#[async_trait]
impl<T: ResponsesApi + ?Sized> ResponsesApi for Arc<T> {
    async fn create_response(&self, deployment: &str, request: &ResponseRequest) -> Result<Response<ResponseObject>> {
        (**self).create_response(deployment, request).await
    }

    async fn create_response_stream(&self, deployment: &str, request: &ResponseRequest) -> Result<ResponseStream> {
        (**self).create_response_stream(deployment, request).await
    }

    async fn get_response(&self, id: &str, include: &[&str]) -> Result<Response<ResponseObject>> {
        (**self).get_response(id, include).await
    }

    async fn delete_response(&self, id: &str) -> Result<Response<ResponseDeleted>> {
        (**self).delete_response(id).await
    }

    async fn cancel_response(&self, id: &str) -> Result<Response<ResponseObject>> {
        (**self).cancel_response(id).await
    }

    async fn resume_response_stream(&self, id: &str, starting_after: Option<u64>) -> Result<ResponseStream> {
        (**self).resume_response_stream(id, starting_after).await
    }
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
