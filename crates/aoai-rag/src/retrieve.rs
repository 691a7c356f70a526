//! The [`Retriever`] seam: a query in, ranked [`Hit`]s out, with the score
//! each ranked list gave and the fused score.
//!
//! Hybrid search fuses the keyword (BM25) and vector lists by reciprocal
//! rank, as Azure AI Search does: a chunk at rank `r` (from 1) of a list
//! with weight `w` gets `w / (60 + r)` from that list, and its fused score is
//! the sum over the lists it appears in. Chunks in only one list still count.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::chunk::Chunk;
use crate::error::Result;

pub use aoai_index::{ListScore, RRF_K, reciprocal_rank_fusion};

/// Which lists a search ranks by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SearchMode {
    /// Keyword and vector lists, fused by reciprocal rank.
    #[default]
    Hybrid,
    /// BM25 over the chunk text and its title and headings only (no embedding call).
    Keyword,
    /// Vector similarity only.
    Vector,
}

/// Which chunks a search may return: all conditions must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// The chunk's source starts with this.
    pub source_prefix: Option<String>,
    /// The chunk has every one of these tags with these values.
    pub tags: BTreeMap<String, String>,
}

impl Filter {
    /// No condition.
    #[must_use]
    pub fn none() -> Self {
        Self::default()
    }

    /// Sources starting with `prefix`.
    #[must_use]
    pub fn source_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.source_prefix = Some(prefix.into());
        self
    }

    /// Chunks tagged `key=value`.
    #[must_use]
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }

    /// Whether `chunk` passes.
    #[must_use]
    pub fn matches(&self, chunk: &Chunk) -> bool {
        self.source_prefix.as_ref().is_none_or(|prefix| chunk.source.starts_with(prefix.as_str()))
            && self.tags.iter().all(|(key, value)| chunk.tags.get(key) == Some(value))
    }

    /// Whether a chunk stored as JSON fields (`source`, `tags`) passes.
    pub(crate) fn matches_fields(&self, fields: &serde_json::Map<String, serde_json::Value>) -> bool {
        let source = fields.get("source").and_then(serde_json::Value::as_str).unwrap_or_default();
        let tags = fields.get("tags");
        self.source_prefix.as_ref().is_none_or(|prefix| source.starts_with(prefix.as_str()))
            && self.tags.iter().all(|(key, value)| {
                tags.and_then(|tags| tags.get(key)).and_then(serde_json::Value::as_str) == Some(value.as_str())
            })
    }
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// The chunk, with its source, offsets and headings for a citation.
    pub chunk: Chunk,
    /// The sum of `weight / (60 + rank)` over the lists it is in; the order of results.
    pub score: f64,
    /// Its place in the keyword list, if it is there.
    pub keyword: Option<ListScore>,
    /// Its place in the vector list, if it is there.
    pub vector: Option<ListScore>,
}

/// Finds the chunks that best answer a query.
#[async_trait]
pub trait Retriever: Send + Sync {
    /// At most `k` hits that pass `filter`, best first.
    ///
    /// # Errors
    ///
    /// When the query cannot be embedded or the index cannot be read.
    async fn search(&self, query: &str, k: usize, mode: SearchMode, filter: &Filter) -> Result<Vec<Hit>>;
}

/// A borrowed retriever is one, so an index can serve a `GroundedAnswerer`
/// and other searches without being moved in.
#[async_trait]
impl<T: Retriever + ?Sized> Retriever for &T {
    async fn search(&self, query: &str, k: usize, mode: SearchMode, filter: &Filter) -> Result<Vec<Hit>> {
        (**self).search(query, k, mode, filter).await
    }
}

/// A shared retriever is one (several tasks, one index).
#[async_trait]
impl<T: Retriever + ?Sized> Retriever for std::sync::Arc<T> {
    async fn search(&self, query: &str, k: usize, mode: SearchMode, filter: &Filter) -> Result<Vec<Hit>> {
        (**self).search(query, k, mode, filter).await
    }
}

/// The weights of the lists in hybrid search (both 1 by default).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FusionWeights {
    /// The keyword list's weight.
    pub keyword: f64,
    /// The vector list's weight.
    pub vector: f64,
}

impl Default for FusionWeights {
    fn default() -> Self {
        Self { keyword: 1.0, vector: 1.0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_by_prefix_and_tags() {
        let chunk = Chunk {
            id: "docs/a.md#0".into(),
            source: "docs/a.md".into(),
            index: 0,
            title: None,
            headings: vec![],
            text: "x".into(),
            start: 0,
            end: 1,
            tokens: 1,
            tags: BTreeMap::from([("lang".to_owned(), "en".to_owned())]),
        };
        assert!(Filter::none().matches(&chunk));
        assert!(Filter::none().source_prefix("docs/").tag("lang", "en").matches(&chunk));
        assert!(!Filter::none().source_prefix("src/").matches(&chunk));
        assert!(!Filter::none().tag("lang", "fr").matches(&chunk));
    }
}
