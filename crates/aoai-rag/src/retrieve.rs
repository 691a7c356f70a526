//! The [`Retriever`] seam: a query in, ranked [`Hit`]s out, with the score
//! each ranked list gave and the fused score.
//!
//! Hybrid search fuses the keyword (BM25) and vector lists by reciprocal
//! rank, as Azure AI Search does: a chunk at rank `r` (from 1) of a list
//! with weight `w` gets `w / (60 + r)` from that list, and its fused score is
//! the sum over the lists it appears in. Chunks in only one list still count.
//!
//! Neighbouring chunks of one document often rank together, so ten hits may
//! cover only a few documents. [`Retriever::search_per_source`] keeps at most
//! `n` hits of each source (the best ones) and still returns `k` hits when
//! enough sources match, by searching deeper; [`collapse_per_source`] is the
//! collapsing step alone.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::chunk::Chunk;
use crate::error::Result;

pub use aoai_index::{Fusion, ListScore, RRF_K, reciprocal_rank_fusion};

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
    /// The fused score, the order of results: for the embedded index the sum
    /// over the lists it is in of `weight ×` its score rescaled to 0..=1 within
    /// the list (score / the list's best, the default) or of `weight / (60 + rank)` (reciprocal
    /// rank, as Azure AI Search reports it).
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

    /// At most `k` hits that pass `filter`, best first, with at most
    /// `per_source` of them from any one source (`0`: no limit, as
    /// [`search`](Self::search)).
    ///
    /// The default searches for `4 × k` hits, collapses them with
    /// [`collapse_per_source`], and searches four times deeper again while
    /// fewer than `k` remain and the retriever had more to give, so it
    /// returns `k` hits whenever enough sources match.
    ///
    /// # Errors
    ///
    /// As [`search`](Self::search).
    async fn search_per_source(
        &self,
        query: &str,
        k: usize,
        mode: SearchMode,
        filter: &Filter,
        per_source: usize,
    ) -> Result<Vec<Hit>> {
        if per_source == 0 || k == 0 {
            return self.search(query, k, mode, filter).await;
        }
        let mut depth = k.saturating_mul(4);
        loop {
            let hits = self.search(query, depth, mode, filter).await?;
            let exhausted = hits.len() < depth;
            let mut collapsed = collapse_per_source(hits, per_source);
            if collapsed.len() >= k || exhausted || depth == usize::MAX {
                collapsed.truncate(k);
                return Ok(collapsed);
            }
            depth = depth.saturating_mul(4);
        }
    }
}

/// `hits` (best first) keeping at most `per_source` of each chunk source,
/// the first ones, in order; `0` keeps them all.
#[must_use]
pub fn collapse_per_source(hits: Vec<Hit>, per_source: usize) -> Vec<Hit> {
    if per_source == 0 {
        return hits;
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    hits.into_iter()
        .filter(|hit| {
            let count = seen.entry(hit.chunk.source.clone()).or_insert(0);
            *count += 1;
            *count <= per_source
        })
        .collect()
}

/// A borrowed retriever is one, so an index can serve a `GroundedAnswerer`
/// and other searches without being moved in.
#[async_trait]
impl<T: Retriever + ?Sized> Retriever for &T {
    async fn search(&self, query: &str, k: usize, mode: SearchMode, filter: &Filter) -> Result<Vec<Hit>> {
        (**self).search(query, k, mode, filter).await
    }

    async fn search_per_source(
        &self,
        query: &str,
        k: usize,
        mode: SearchMode,
        filter: &Filter,
        per_source: usize,
    ) -> Result<Vec<Hit>> {
        (**self).search_per_source(query, k, mode, filter, per_source).await
    }
}

/// A shared retriever is one (several tasks, one index).
#[async_trait]
impl<T: Retriever + ?Sized> Retriever for std::sync::Arc<T> {
    async fn search(&self, query: &str, k: usize, mode: SearchMode, filter: &Filter) -> Result<Vec<Hit>> {
        (**self).search(query, k, mode, filter).await
    }

    async fn search_per_source(
        &self,
        query: &str,
        k: usize,
        mode: SearchMode,
        filter: &Filter,
        per_source: usize,
    ) -> Result<Vec<Hit>> {
        (**self).search_per_source(query, k, mode, filter, per_source).await
    }
}

/// The weights of the lists in hybrid search (both 1 by default; the
/// embedded index's [`IndexConfig`](crate::index::IndexConfig) defaults to
/// keyword 0.9, vector 0.1).
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
