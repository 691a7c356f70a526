//! Local knowledge (feature `rag`): an aoai-rag [`Retriever`] — the
//! embedded hybrid index, or any other — answering for `file_search` on a
//! server without vector stores, or for data that must stay local.
//!
//! The retriever is offered to the model as a function tool
//! ([`DEFAULT_TOOL_NAME`], arguments `{"query": "…"}`). The run answers its
//! calls itself (not through the tool registry): each passage found gets a
//! marker numbered across the run — `[doc1]`, `[doc2]`, … — and the tool's
//! output lists them with their source and title. The model cites a passage
//! by writing its marker after the sentence it supports; each marker of the
//! final answer becomes a [`Citation`](crate::Citation) of the same shape as
//! a server-side `file_search` citation:
//!
//! | field | server-side `file_search` | local knowledge |
//! |---|---|---|
//! | `file_id` | the uploaded file's id | the chunk's source (its path, as indexed) |
//! | `filename` | the file's name | the chunk's source |
//! | `quote`, `score` | the best passage of that file | the passage the marker names, its fused score |
//! | `position` | where the service put the annotation | where the marker stands in the text (characters) |
//!
//! The passages found are also in [`RunResult::passages`](crate::RunResult::passages)
//! (as [`FileSearchResult`]s, with the attributes `chunk_id`, `title`,
//! `headings`, `start` and `end`), and a streamed run reports each search as
//! [`RunEvent::FileSearchResults`](crate::RunEvent::FileSearchResults). The
//! markers stay in the text as the model wrote them. Numbering restarts with
//! each run: a marker that names a passage of an earlier turn is not a
//! citation.
//!
//! ```no_run
//! use aoai_assistants::Assistant;
//! use aoai_assistants::local::LocalKnowledge;
//! use aoai_rag::{AzureEmbedder, EmbeddedIndex};
//! # async fn demo(client: aoai_core::Client) -> Result<(), Box<dyn std::error::Error>> {
//! let embedder = AzureEmbedder::builder(client.clone(), "text-embedding-3-small", 1536).build()?;
//! let index = EmbeddedIndex::open("handbook-index", embedder)?;
//! let assistant = Assistant::builder(client, "gpt-4o")
//!     .instructions("Answer from the handbook and cite it.")
//!     .local_knowledge(LocalKnowledge::new(index).k(4))
//!     .build()?;
//! let thread = assistant.create_thread().await?;
//! let answer = assistant.run(&thread, "How many days of leave does the handbook give?").await?;
//! for citation in &answer.citations {
//!     println!("{} at {}: {}", citation.filename, citation.position, citation.quote.as_deref().unwrap_or(""));
//! }
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::Arc;

use aoai_core::responses::{FileSearchResult, FunctionTool};
use aoai_rag::{Filter, Hit, Retriever, SearchMode};
use aoai_tools::ToolError;
use async_trait::async_trait;
use serde_json::{Map, Value, json};

use crate::run::PassageSearch;

/// The tool's name when none is given.
pub const DEFAULT_TOOL_NAME: &str = "search_knowledge";
/// How many passages one search returns when not set.
pub const DEFAULT_K: usize = 5;
/// The tool's description when none is given: what it searches and how to cite.
pub const DEFAULT_DESCRIPTION: &str = "Search the local knowledge base (documents, files, notes, manuals, \
     policies) for passages that answer a question. Returns numbered passages, each with its source file and \
     title. Answer from them and cite a passage by writing its marker, for example [doc1], right after the \
     sentence it supports.";

/// An aoai-rag [`Retriever`] offered to the model as a search tool, whose
/// hits become [`Citation`](crate::Citation)s; give it to
/// [`AssistantBuilder::local_knowledge`](crate::AssistantBuilder::local_knowledge).
#[derive(Clone)]
#[must_use]
pub struct LocalKnowledge {
    retriever: Arc<dyn Retriever>,
    name: String,
    description: String,
    k: usize,
    mode: SearchMode,
    filter: Filter,
}

impl fmt::Debug for LocalKnowledge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKnowledge")
            .field("name", &self.name)
            .field("k", &self.k)
            .field("mode", &self.mode)
            .field("filter", &self.filter)
            .finish_non_exhaustive()
    }
}

impl LocalKnowledge {
    /// Searches `retriever` ([`DEFAULT_K`] hybrid hits, no filter) under the
    /// name [`DEFAULT_TOOL_NAME`].
    pub fn new(retriever: impl Retriever + 'static) -> Self {
        Self::shared(Arc::new(retriever))
    }

    /// As [`new`](Self::new), for a retriever shared with other code.
    pub fn shared(retriever: Arc<dyn Retriever>) -> Self {
        Self {
            retriever,
            name: DEFAULT_TOOL_NAME.to_owned(),
            description: DEFAULT_DESCRIPTION.to_owned(),
            k: DEFAULT_K,
            mode: SearchMode::Hybrid,
            filter: Filter::none(),
        }
    }

    /// The tool's name, as the model calls it (letters, digits, `_`, `-`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The tool's description: say what the knowledge holds so the model
    /// knows when to search, and keep the citing rule of [`DEFAULT_DESCRIPTION`].
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// At most `k` passages per search (at least 1).
    pub fn k(mut self, k: usize) -> Self {
        self.k = k.max(1);
        self
    }

    /// How the retriever ranks (default hybrid).
    pub fn mode(mut self, mode: SearchMode) -> Self {
        self.mode = mode;
        self
    }

    /// Which chunks a search may return.
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }

    /// The tool's name.
    #[must_use]
    pub fn tool_name(&self) -> &str {
        &self.name
    }
}

#[async_trait]
impl PassageSearch for LocalKnowledge {
    fn name(&self) -> &str {
        &self.name
    }

    fn tool(&self) -> FunctionTool {
        FunctionTool {
            name: self.name.clone(),
            description: Some(self.description.clone()),
            parameters: json!({
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "What to search for: the question, or its key words."}
                },
                "required": ["query"],
                "additionalProperties": false
            }),
            strict: Some(true),
            extra: Map::new(),
        }
    }

    async fn search(&self, arguments: &str) -> Result<Vec<FileSearchResult>, ToolError> {
        let query = query_of(arguments).ok_or_else(|| {
            ToolError::failed(format!("`{}` needs arguments {{\"query\": \"…\"}} with a non-empty query", self.name))
        })?;
        let hits = self
            .retriever
            .search(&query, self.k, self.mode, &self.filter)
            .await
            .map_err(|error| ToolError::failed(format!("the knowledge search failed: {error}")))?;
        Ok(hits.into_iter().map(passage).collect())
    }
}

/// The query of the tool's arguments, when they hold a non-empty one.
fn query_of(arguments: &str) -> Option<String> {
    let value: Value = serde_json::from_str(arguments).ok()?;
    let query = value.get("query")?.as_str()?.trim();
    (!query.is_empty()).then(|| query.to_owned())
}

/// A hit as a `file_search` passage: the chunk's source for file id and
/// name, its place in the document as attributes.
fn passage(hit: Hit) -> FileSearchResult {
    let chunk = hit.chunk;
    let mut attributes = Map::new();
    attributes.insert("chunk_id".to_owned(), Value::String(chunk.id));
    if let Some(title) = chunk.title {
        attributes.insert("title".to_owned(), Value::String(title));
    }
    if !chunk.headings.is_empty() {
        attributes.insert("headings".to_owned(), json!(chunk.headings));
    }
    attributes.insert("start".to_owned(), json!(chunk.start));
    attributes.insert("end".to_owned(), json!(chunk.end));
    FileSearchResult {
        file_id: chunk.source.clone(),
        filename: chunk.source,
        score: hit.score,
        text: chunk.text,
        attributes: Some(attributes),
        extra: Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_read_from_the_arguments() {
        assert_eq!(query_of(r#"{"query": " leave days "}"#).as_deref(), Some("leave days"));
        assert_eq!(query_of(r#"{"query": "  "}"#), None);
        assert_eq!(query_of(r#"{"q": "x"}"#), None);
        assert_eq!(query_of("not json"), None);
    }
}
