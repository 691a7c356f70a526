//! The storage engine under aoai's retrieval (issue #7).
//!
//! Layer 0: it knows nothing of Azure, HTTP, embedders or chunkers. Two
//! crates build on it: `aoai-rag`'s embedded index (chunks + an embedder)
//! and `aoai-emulator`'s Azure AI Search endpoints, so the Azure AI Search
//! backend is tested against the same engine that serves local retrieval.
//!
//! An [`Index`] holds [`Record`]s (an id, stored JSON fields, vectors by
//! field) under a [`Schema`] (text fields for BM25, vector fields of fixed
//! length). A [`Query`] combines a keyword list (BM25 via tantivy), vector
//! lists (cosine similarity) and a filter predicate; the lists are fused by
//! [reciprocal rank](fusion). Indexes live in a directory or in memory;
//! every write builds a new immutable [`Snapshot`] that searches read, so
//! readers never wait for writers.
//!
//! ```
//! use aoai_index::{Index, Query, Record, Schema, TextField, TextQuery, VectorQuery};
//!
//! # fn main() -> aoai_index::Result<()> {
//! let schema = Schema::new().text_field(TextField::new("body")).vector_field("embedding", 2);
//! let index = Index::in_memory(schema)?;
//! index.upsert(vec![
//!     Record::new("a").field("body", "red apples").vector("embedding", vec![1.0, 0.0]),
//!     Record::new("b").field("body", "green pears").vector("embedding", vec![0.0, 1.0]),
//! ])?;
//! let hits = index.search(
//!     &Query::new(10).text(TextQuery::new("pears")).vector(VectorQuery::new("embedding", &[0.1, 1.0], 10)),
//! )?;
//! assert_eq!(hits[0].record.id, "b");
//! # Ok(())
//! # }
//! ```
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod ann;
mod bm25f;
mod chunked;
pub mod error;
pub mod fusion;
pub mod hnsw;
mod index;
pub mod schema;
mod storage;

pub use error::{Error, Result};
pub use fusion::{Fusion, RRF_K, reciprocal_rank_fusion};
pub use index::{
    COMPACTION_LOG_BYTES, DEFAULT_HNSW_THRESHOLD, Filter, Hit, Index, ListScore, Options, Query, Snapshot, Storage,
    TextQuery, VectorQuery, VectorSearch, normalize,
};
pub use schema::{DEFAULT_B, DEFAULT_IDF_FLOOR, DEFAULT_K1, Idf, Record, Schema, TextField, TextScoring, VectorField};
pub use storage::write_atomic;
