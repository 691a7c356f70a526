//! Retrieval-augmented generation (work in progress on branch `rag`, issue #7).
