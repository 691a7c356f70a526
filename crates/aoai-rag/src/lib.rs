#![doc = include_str!("../README.md")]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod answer;
#[cfg(feature = "azure-search")]
pub mod azure_search;
pub mod chunk;
pub mod embed;
pub mod error;
pub mod index;
#[cfg(feature = "local-embeddings")]
pub mod local;
pub mod retrieve;

pub use answer::{Answer, Citation, GroundedAnswerer};
pub use chunk::{Chunk, Chunker, Document, Format, TokenChunker};
pub use embed::{AzureEmbedder, Embedder};
pub use error::{Error, Result};
pub use index::EmbeddedIndex;
pub use retrieve::{Filter, Hit, Retriever, SearchMode};
