//! Retrieval-augmented generation (work in progress on branch `rag`, issue #7).

#[cfg(feature = "local-embeddings")]
pub mod local;
