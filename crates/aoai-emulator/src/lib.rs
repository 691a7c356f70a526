//! # aoai-emulator
//!
//! A local Azure OpenAI-compatible server: a real HTTP server on loopback that
//! speaks Azure OpenAI's wire protocol, generates valid, deterministic answers,
//! and enforces quotas and faults the way Azure does. It is to aoai what
//! Azurite is to Azure Storage: the backend of our tests, examples and
//! benchmarks, and of the `aoai` command line when no endpoint is configured.
//!
//! ## Start it in-process
//!
//! [`Emulator::builder`] gives an [`EmulatorConfig`]; [`start`](EmulatorConfig::start)
//! binds `127.0.0.1` on a free port and returns an [`EmulatorHandle`] with the
//! base URL, an accepted key, a ready [`aoai_core::Client`] and the
//! [`stats`](EmulatorHandle::stats). Dropping the handle stops the server.
//!
//! ```
//! use aoai_core::chat::{ChatMessage, ChatRequest};
//! use aoai_emulator::Emulator;
//! use aoai_emulator::config::DeploymentConfig;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let emulator = Emulator::builder()
//!     .deployment(DeploymentConfig::new("chat", "gpt-4o-mini").tpm(10_000).rpm(60))
//!     .start()
//!     .await?;
//! let client = emulator.client()?;
//!
//! let request = ChatRequest::new(vec![ChatMessage::user("Say hello")]).max_tokens(20);
//! let response = client.chat("chat", &request).await?;
//! assert!(response.text().is_some_and(|text| !text.is_empty()));
//! assert!(response.body.usage.as_ref().is_some_and(|usage| usage.completion_tokens <= 20));
//! assert!(response.meta.request_id.is_some());
//! assert!(response.meta.rate_limits.remaining_tokens.is_some());
//!
//! let stats = emulator.stats();
//! assert_eq!(stats.deployment("chat").map(|chat| chat.served), Some(1));
//! emulator.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! ## Or run the binary
//!
//! ```text
//! aoai-emulator [--port P] [--config FILE] [--deployment NAME=MODEL[,tpm=N][,rpm=N]]...
//! ```
//!
//! It binds `127.0.0.1` (`--port 0` picks a free port) and prints
//! `listening on http://127.0.0.1:PORT` as its first line. Without
//! deployments it serves `gpt-4o`, `gpt-4o-mini` and `text-embedding-3-small`
//! without quotas; without keys it accepts any non-empty key. The
//! configuration file format is described in [`config`].
//!
//! ## What it serves
//!
//! | Path (all under `/openai`) | |
//! |---|---|
//! | `POST deployments/{d}/chat/completions?api-version=…` | whole answers and SSE streams in Azure's exact shape |
//! | `POST deployments/{d}/embeddings?api-version=…` | float or base64 vectors |
//! | `POST v1/chat/completions`, `POST v1/embeddings` | the same, deployment in `model` |
//! | `GET models` | the models behind the deployments |
//! | `files`, `files/{id}`, `files/{id}/content` | the Files API, in memory |
//! | `batches`, `batches/{id}`, `batches/{id}/cancel` | the Batch API, statuses and output files |
//! | `vector_stores…` (stores, files, file batches, `search`) | vector stores with real chunking and BM25 retrieval |
//! | `conversations`, `conversations/{id}`, `conversations/{id}/items[/{item_id}]` | Conversations, in memory |
//! | `responses`, `responses/{id}`, `responses/{id}/cancel`, `responses/{id}/input_items` (under `/openai/v1` or with `api-version` ≥ `2025-03-01-preview`) | the Responses API: stored, chained, background and streamed responses, function tools, structured output |
//!
//! and `GET /_emulator/stats` (see [`stats`]). Every response carries
//! `apim-request-id` and `x-request-id` (the same unique id), `x-ms-region`,
//! and, on deployments with quotas, `x-ratelimit-remaining-requests` and
//! `x-ratelimit-remaining-tokens`.
//!
//! Azure AI Content Safety is served beside it, under `/contentsafety/`
//! (`text:analyze`, `text:shieldPrompt`, text blocklists and their items,
//! api-version `2024-09-01`, key in `Ocp-Apim-Subscription-Key`); see
//! [`content_safety`].
//!
//! Azure AI Search is served too, under `/indexes` (indexes, document
//! batches, lookups, counts, keyword/vector/hybrid search with an OData
//! filter subset, api-version `2025-09-01`, key in `api-key`), backed by
//! `aoai-index`; see [`search`].
//!
//! ## Azure's behaviour
//!
//! - **Auth**: `api-key` or `Authorization: Bearer`, else 401 with Azure's body.
//!   Unknown deployment: 404 `DeploymentNotFound`. Bad JSON or fields: 400
//!   with `type: invalid_request_error` and the `param` at fault.
//! - **Answers** come from the [`generate`] module: deterministic per request,
//!   `usage` counted with the real tokenizer, `max_tokens`, `n`, `stop`,
//!   structured outputs and tools honoured; a fixtures file can script them.
//! - **Content filter**: every answer carries `prompt_filter_results` and
//!   per-choice `content_filter_results`; a blocked prompt gets Azure's 400
//!   with `innererror.content_filter_result`; a blocked completion ends with
//!   `finish_reason: content_filter`.
//! - **Quotas** ([`quota`]): TPM charged at admission, RPM over 1 s or 10 s
//!   sliding sub-windows, 429 with exact `retry-after-ms` and `Retry-After`,
//!   or an HTML 429 in gateway mode.
//! - **Faults** ([`faults`]): 500, 503, 408, connection reset, cut or stalled
//!   streams, slow headers; random or scripted per deployment.
//! - **Latency** ([`config::LatencyModel`]): time to first token and per-token
//!   delay, off by default.
//!
//! Time is injected ([`EmulatorConfig::time`]): quotas read an
//! [`aoai_core::clock::Clock`], delays use an [`aoai_core::clock::Sleep`].

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod cli;
pub mod config;
pub mod content_safety;
pub mod faults;
pub mod generate;
pub mod quota;
pub mod search;
pub mod stats;

mod batches;
mod conversations;
mod error;
mod files;
mod responses;
mod server;
mod sse;
mod vector_stores;

pub use config::{DeploymentConfig, EmulatorConfig};
pub use error::EmulatorError;
pub use server::EmulatorHandle;
pub use stats::Stats;

/// The entry point: `Emulator::builder()…start().await`, or
/// [`Emulator::start`] for the defaults.
#[derive(Debug, Clone, Copy)]
pub struct Emulator;

impl Emulator {
    /// A configuration with the defaults, to adjust and [`start`](EmulatorConfig::start).
    pub fn builder() -> EmulatorConfig {
        EmulatorConfig::default()
    }

    /// Starts an emulator with the defaults: a free port, the default
    /// deployments, any key.
    ///
    /// # Errors
    ///
    /// Only if no port can be bound.
    pub async fn start() -> Result<EmulatorHandle, EmulatorError> {
        Self::builder().start().await
    }
}
