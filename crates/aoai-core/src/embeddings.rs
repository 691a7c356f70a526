//! TODO(owner): embeddings
