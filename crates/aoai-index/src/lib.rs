//! The storage engine under aoai's retrieval (issue #7).
//!
//! Layer 0: it knows nothing of Azure, HTTP, embedders or chunkers. Two
//! crates build on it: `aoai-rag`'s embedded index (chunks + an embedder)
//! and `aoai-emulator`'s Azure AI Search endpoints, so the Azure AI Search
//! backend is tested against the same engine that serves local retrieval.
//!
//! Work in progress: the engine moves here from `aoai-rag::index`.

pub mod hnsw;
