//! Vector stores: the searchable collections of files behind `file_search`.
//!
//! Models ([`VectorStore`], [`VectorStoreFile`], [`VectorStoreFileBatch`],
//! [`VectorStoreSearchResults`]), request builders ([`CreateVectorStore`],
//! [`UpdateVectorStore`], [`AddVectorStoreFile`], [`CreateFileBatch`],
//! [`VectorStoreSearchRequest`]) and [`Client`] calls for every route:
//!
//! | call | route |
//! |---|---|
//! | [`Client::create_vector_store`] | `POST vector_stores` |
//! | [`Client::list_vector_stores`] (a [`Stream`](futures_util::Stream) over every page) | `GET vector_stores` |
//! | [`Client::retrieve_vector_store`], [`Client::update_vector_store`], [`Client::delete_vector_store`] | `GET`/`POST`/`DELETE vector_stores/{id}` |
//! | [`Client::add_vector_store_file`], [`Client::list_vector_store_files`] | `POST`/`GET vector_stores/{id}/files` |
//! | [`Client::retrieve_vector_store_file`], [`Client::delete_vector_store_file`] | `GET`/`DELETE vector_stores/{id}/files/{file_id}` |
//! | [`Client::create_vector_store_file_batch`], [`Client::retrieve_vector_store_file_batch`], [`Client::cancel_vector_store_file_batch`], [`Client::list_vector_store_file_batch_files`] | `vector_stores/{id}/file_batches[/{batch_id}[/cancel\|/files]]` |
//! | [`Client::search_vector_store`] | `POST vector_stores/{id}/search` (api-version ≥ [`RESPONSES_API_VERSION`] on dated endpoints) |
//!
//! Every call carries `OpenAI-Beta: assistants=v2`, is resource-scoped
//! (`{endpoint}/openai/vector_stores…?api-version=…` or
//! `{endpoint}/openai/v1/vector_stores…`) and is recorded in metrics under
//! its own operation name (`vector_stores.create`, …).
//!
//! # Ingestion
//!
//! A file added to a store is chunked and embedded in the background; its
//! status goes `in_progress` → `completed` (or `failed` with a
//! [`last_error`](VectorStoreFile::last_error), or `cancelled`).
//! [`Client::wait_for_vector_store`] and [`Client::wait_for_file_batch`] poll
//! with back-off on the client's injected clock until nothing is in progress,
//! call a progress callback with the counts after each poll, and return an
//! [`IngestionReport`] listing every file with its final status and error;
//! they fail with a deadline [`Error::Timeout`] if ingestion outlasts
//! [`PollOptions::deadline`]. [`Client::upload_files_to_vector_store`]
//! uploads files (purpose `assistants`, which Azure requires), adds them as
//! one batch and waits.
//!
//! ```no_run
//! use aoai_core::vector_stores::{CreateVectorStore, PollOptions, VectorStoreSearchRequest};
//! # async fn demo(client: aoai_core::Client) -> aoai_core::Result<()> {
//! let store = client.create_vector_store(&CreateVectorStore::new().name("handbook")).await?.body;
//! let files = vec![("leave.md".to_owned(), bytes::Bytes::from("Employees get 25 days of leave."))];
//! let report = client
//!     .upload_files_to_vector_store(&store.id, files, &PollOptions::default(), &mut |progress| {
//!         eprintln!("{}/{} processed", progress.completed + progress.failed, progress.total)
//!     })
//!     .await?;
//! for file in report.failures() {
//!     eprintln!("{} failed: {:?}", file.id, file.last_error);
//! }
//! let hits = client.search_vector_store(&store.id, &VectorStoreSearchRequest::new("days of leave")).await?.body;
//! for hit in &hits.data {
//!     println!("{:.3} {} {}", hit.score, hit.filename, hit.text());
//! }
//! # Ok(())
//! # }
//! ```

use bytes::Bytes;
use http::Method;
use serde::de::Deserializer;
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::client::{Client, RequestOptions};
use crate::error::{Error, InvalidRequestError, Result};
use crate::extra_fields::deserialize_with_extra;
use crate::files::{Deleted, FilePurpose};
use crate::open_enum::open_enum;
use crate::page::{Cursor, ListQuery, Page, Pages, check_id, paginate};
use crate::response::Response;
use crate::routing::{RESPONSES_API_VERSION, Route};

open_enum! {
    /// A vector store's status.
    #[derive(Default)]
    pub enum VectorStoreStatus {
        /// Files are being processed.
        #[default]
        InProgress = "in_progress",
        /// Ready for use.
        Completed = "completed",
        /// Expired (see `expires_after`).
        Expired = "expired",
    }
}

open_enum! {
    /// The ingestion status of a file in a vector store, or of a file batch.
    #[derive(Default)]
    pub enum IngestionStatus {
        /// Being chunked and embedded.
        #[default]
        InProgress = "in_progress",
        /// Searchable.
        Completed = "completed",
        /// Failed; see `last_error`.
        Failed = "failed",
        /// Cancelled (a batch was cancelled before the file was processed).
        Cancelled = "cancelled",
    }
}

open_enum! {
    /// Why a file failed ingestion.
    #[derive(Default)]
    pub enum LastErrorCode {
        /// The service failed.
        #[default]
        ServerError = "server_error",
        /// A file type that cannot be searched (binary, image…).
        UnsupportedFile = "unsupported_file",
        /// The file is unreadable or unknown.
        InvalidFile = "invalid_file",
        /// Ingestion was rate limited.
        RateLimitExceeded = "rate_limit_exceeded",
    }
}

/// File counts of a vector store or a file batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FileCounts {
    /// Being processed.
    pub in_progress: u64,
    /// Processed.
    pub completed: u64,
    /// Failed.
    pub failed: u64,
    /// Cancelled.
    pub cancelled: u64,
    /// All files.
    pub total: u64,
}

/// When a vector store expires: `days` after `anchor` (`last_active_at`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiresAfter {
    /// The anchor timestamp; only `last_active_at` exists.
    #[serde(default = "last_active_at")]
    pub anchor: String,
    /// Days after the anchor (1–365).
    pub days: u32,
}

fn last_active_at() -> String {
    "last_active_at".to_owned()
}

impl ExpiresAfter {
    /// `days` after the store was last active.
    #[must_use]
    pub fn days_after_last_active(days: u32) -> Self {
        Self { anchor: last_active_at(), days }
    }
}

/// How files are cut into chunks before indexing.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ChunkingStrategy {
    /// The service's default: 800-token chunks overlapping by 400 (`{"type":"auto"}`, requests only).
    Auto,
    /// Fixed-size chunks (`{"type":"static","static":{…}}`).
    Static(StaticChunking),
    /// Another strategy, kept as sent (files indexed before chunking was configurable say `{"type":"other"}`).
    Other(Value),
}

/// The sizes of a static chunking strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticChunking {
    /// The most tokens in a chunk (100–4096; default 800).
    pub max_chunk_size_tokens: u32,
    /// Tokens shared by consecutive chunks (at most half the chunk size; default 400).
    pub chunk_overlap_tokens: u32,
}

impl Default for StaticChunking {
    fn default() -> Self {
        Self { max_chunk_size_tokens: 800, chunk_overlap_tokens: 400 }
    }
}

impl ChunkingStrategy {
    /// A static strategy with these sizes.
    #[must_use]
    pub fn fixed(max_chunk_size_tokens: u32, chunk_overlap_tokens: u32) -> Self {
        Self::Static(StaticChunking { max_chunk_size_tokens, chunk_overlap_tokens })
    }

    /// The sizes, for `auto` the defaults; `None` for other strategies.
    #[must_use]
    pub fn sizes(&self) -> Option<StaticChunking> {
        match self {
            Self::Auto => Some(StaticChunking::default()),
            Self::Static(sizes) => Some(*sizes),
            Self::Other(_) => None,
        }
    }
}

impl Serialize for ChunkingStrategy {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Self::Auto => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("type", "auto")?;
                map.end()
            }
            Self::Static(sizes) => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("type", "static")?;
                map.serialize_entry("static", sizes)?;
                map.end()
            }
            Self::Other(value) => value.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for ChunkingStrategy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let kind = value.get("type").and_then(Value::as_str);
        Ok(match kind {
            Some("auto") => Self::Auto,
            Some("static") => match value.get("static").map(|sizes| StaticChunking::deserialize(sizes.clone())) {
                Some(Ok(sizes)) => Self::Static(sizes),
                _ => Self::Other(value),
            },
            _ => Self::Other(value),
        })
    }
}

/// A vector store.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VectorStore {
    /// `vs_…`.
    pub id: String,
    /// `vector_store`.
    pub object: String,
    /// Unix seconds.
    pub created_at: u64,
    /// Its name (may be empty).
    pub name: String,
    /// `in_progress` while files are processed, then `completed`; or `expired`.
    pub status: VectorStoreStatus,
    /// Files by ingestion status.
    pub file_counts: FileCounts,
    /// Bytes used by the stored chunks.
    pub usage_bytes: u64,
    /// The expiration policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_after: Option<ExpiresAfter>,
    /// Unix seconds at which it expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// Unix seconds of its last use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_active_at: Option<u64>,
    /// Up to 16 string pairs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    /// Any other field, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

deserialize_with_extra!(
    VectorStore {
        id: "id" => or_default,
        object: "object" => or_default,
        created_at: "created_at" => or_default,
        name: "name" => or_default,
        status: "status" => or_default,
        file_counts: "file_counts" => or_default,
        usage_bytes: "usage_bytes" => or_default,
        expires_after: "expires_after" => opt,
        expires_at: "expires_at" => opt,
        last_active_at: "last_active_at" => opt,
        metadata: "metadata" => opt,
    }
    extra: extra
);

impl Cursor for VectorStore {
    fn cursor(&self) -> Option<&str> {
        Some(self.id.as_str()).filter(|id| !id.is_empty())
    }
}

/// The body of `POST vector_stores`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[must_use]
pub struct CreateVectorStore {
    /// The name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Files (purpose `assistants`) to add at once.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub file_ids: Vec<String>,
    /// How those files are chunked (default `auto`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunking_strategy: Option<ChunkingStrategy>,
    /// The expiration policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_after: Option<ExpiresAfter>,
    /// Up to 16 string pairs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    /// Any other field, sent as given.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl CreateVectorStore {
    /// An empty, unnamed store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Adds a file to ingest at creation.
    pub fn file_id(mut self, file_id: impl Into<String>) -> Self {
        self.file_ids.push(file_id.into());
        self
    }

    /// Replaces the files to ingest at creation.
    pub fn file_ids<I, S>(mut self, file_ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.file_ids = file_ids.into_iter().map(Into::into).collect();
        self
    }

    /// Sets `chunking_strategy`.
    pub fn chunking_strategy(mut self, strategy: ChunkingStrategy) -> Self {
        self.chunking_strategy = Some(strategy);
        self
    }

    /// Sets `expires_after`.
    pub fn expires_after(mut self, expires_after: ExpiresAfter) -> Self {
        self.expires_after = Some(expires_after);
        self
    }

    /// Adds a metadata pair.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.get_or_insert_with(Map::new).insert(key.into(), Value::String(value.into()));
        self
    }
}

/// The body of `POST vector_stores/{id}` (an update: only what is set changes).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[must_use]
pub struct UpdateVectorStore {
    /// A new name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The expiration policy: `None` leaves it as it is, `Some(None)` removes
    /// it (`"expires_after": null`: the store never expires), `Some(Some(…))`
    /// replaces it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_after: Option<Option<ExpiresAfter>>,
    /// New metadata (replaces the old).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

impl UpdateVectorStore {
    /// Nothing changed yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Renames the store.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the expiration policy.
    pub fn expires_after(mut self, expires_after: ExpiresAfter) -> Self {
        self.expires_after = Some(Some(expires_after));
        self
    }

    /// Removes the expiration policy: the store never expires (sends
    /// `"expires_after": null`).
    pub fn never_expires(mut self) -> Self {
        self.expires_after = Some(None);
        self
    }

    /// Adds a metadata pair to the replacement metadata.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.get_or_insert_with(Map::new).insert(key.into(), Value::String(value.into()));
        self
    }
}

/// Why a file failed ingestion.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastError {
    /// `server_error`, `unsupported_file`, `invalid_file`, …
    #[serde(default)]
    pub code: LastErrorCode,
    /// A readable description.
    #[serde(default)]
    pub message: String,
}

/// A file in a vector store.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VectorStoreFile {
    /// The file's id (`file-…`).
    pub id: String,
    /// `vector_store.file`.
    pub object: String,
    /// Unix seconds.
    pub created_at: u64,
    /// The store.
    pub vector_store_id: String,
    /// Ingestion status.
    pub status: IngestionStatus,
    /// Why ingestion failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<LastError>,
    /// Bytes used by its chunks.
    pub usage_bytes: u64,
    /// How it was chunked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunking_strategy: Option<ChunkingStrategy>,
    /// Up to 16 pairs of strings, numbers or booleans, for search filters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Map<String, Value>>,
    /// Any other field, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

deserialize_with_extra!(
    VectorStoreFile {
        id: "id" => or_default,
        object: "object" => or_default,
        created_at: "created_at" => or_default,
        vector_store_id: "vector_store_id" => or_default,
        status: "status" => or_default,
        last_error: "last_error" => opt,
        usage_bytes: "usage_bytes" => or_default,
        chunking_strategy: "chunking_strategy" => opt,
        attributes: "attributes" => opt,
    }
    extra: extra
);

impl Cursor for VectorStoreFile {
    fn cursor(&self) -> Option<&str> {
        Some(self.id.as_str()).filter(|id| !id.is_empty())
    }
}

/// The body of `POST vector_stores/{id}/files`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[must_use]
pub struct AddVectorStoreFile {
    /// An uploaded file (purpose `assistants`).
    pub file_id: String,
    /// Attributes for search filters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Map<String, Value>>,
    /// How it is chunked (default `auto`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunking_strategy: Option<ChunkingStrategy>,
}

impl AddVectorStoreFile {
    /// Adds `file_id` with the defaults.
    pub fn new(file_id: impl Into<String>) -> Self {
        Self { file_id: file_id.into(), ..Self::default() }
    }

    /// Adds an attribute (a string, number or boolean).
    pub fn attribute(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.attributes.get_or_insert_with(Map::new).insert(key.into(), value.into());
        self
    }

    /// Sets `chunking_strategy`.
    pub fn chunking_strategy(mut self, strategy: ChunkingStrategy) -> Self {
        self.chunking_strategy = Some(strategy);
        self
    }
}

/// A batch of files added to a vector store together.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VectorStoreFileBatch {
    /// `vsfb_…`.
    pub id: String,
    /// `vector_store.files_batch`.
    pub object: String,
    /// Unix seconds.
    pub created_at: u64,
    /// The store.
    pub vector_store_id: String,
    /// `in_progress` until every file is done.
    pub status: IngestionStatus,
    /// Its files by status.
    pub file_counts: FileCounts,
    /// Any other field, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

deserialize_with_extra!(
    VectorStoreFileBatch {
        id: "id" => or_default,
        object: "object" => or_default,
        created_at: "created_at" => or_default,
        vector_store_id: "vector_store_id" => or_default,
        status: "status" => or_default,
        file_counts: "file_counts" => or_default,
    }
    extra: extra
);

/// The body of `POST vector_stores/{id}/file_batches`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[must_use]
pub struct CreateFileBatch {
    /// Uploaded files (purpose `assistants`).
    pub file_ids: Vec<String>,
    /// Attributes given to every file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Map<String, Value>>,
    /// How every file is chunked (default `auto`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunking_strategy: Option<ChunkingStrategy>,
}

impl CreateFileBatch {
    /// A batch of these files.
    pub fn new<I, S>(file_ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self { file_ids: file_ids.into_iter().map(Into::into).collect(), ..Self::default() }
    }

    /// Sets `chunking_strategy`.
    pub fn chunking_strategy(mut self, strategy: ChunkingStrategy) -> Self {
        self.chunking_strategy = Some(strategy);
        self
    }
}

/// The query of a vector store's (or a batch's) file list: paging and a status filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct VectorStoreFileListQuery {
    /// `limit`, `order`, `after`, `before`.
    pub page: ListQuery,
    /// Only files with this status (`filter`).
    pub filter: Option<IngestionStatus>,
}

impl VectorStoreFileListQuery {
    /// Every file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only files with this status.
    pub fn status(mut self, status: IngestionStatus) -> Self {
        self.filter = Some(status);
        self
    }

    /// Items per page.
    pub fn limit(mut self, limit: u32) -> Self {
        self.page.limit = Some(limit);
        self
    }
}

/// The query of a search: one text or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SearchQuery {
    /// One query.
    Text(String),
    /// Several queries, searched together.
    Texts(Vec<String>),
}

impl From<&str> for SearchQuery {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

impl From<String> for SearchQuery {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl From<Vec<String>> for SearchQuery {
    fn from(texts: Vec<String>) -> Self {
        Self::Texts(texts)
    }
}

/// Ranking options of a search.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RankingOptions {
    /// `auto`, `none`, `default-2024-11-15`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranker: Option<String>,
    /// Results scoring below this (0–1) are dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_threshold: Option<f64>,
}

/// The body of `POST vector_stores/{id}/search`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[must_use]
pub struct VectorStoreSearchRequest {
    /// What to search for.
    pub query: SearchQuery,
    /// 1–50 (default 10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_num_results: Option<u32>,
    /// A comparison or compound filter on file attributes, as the wire has it
    /// (`{"type":"eq","key":"lang","value":"en"}`, `{"type":"and","filters":[…]}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filters: Option<Value>,
    /// Ranking options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ranking_options: Option<RankingOptions>,
    /// Whether the service may rewrite the query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewrite_query: Option<bool>,
}

impl VectorStoreSearchRequest {
    /// A search for `query` with the defaults.
    pub fn new(query: impl Into<SearchQuery>) -> Self {
        Self { query: query.into(), max_num_results: None, filters: None, ranking_options: None, rewrite_query: None }
    }

    /// Sets `max_num_results`.
    pub fn max_num_results(mut self, max: u32) -> Self {
        self.max_num_results = Some(max);
        self
    }

    /// Sets `filters`.
    pub fn filters(mut self, filters: Value) -> Self {
        self.filters = Some(filters);
        self
    }

    /// Sets `ranking_options.score_threshold`.
    pub fn score_threshold(mut self, threshold: f64) -> Self {
        self.ranking_options.get_or_insert_with(RankingOptions::default).score_threshold = Some(threshold);
        self
    }

    /// Sets `rewrite_query`.
    pub fn rewrite_query(mut self, rewrite: bool) -> Self {
        self.rewrite_query = Some(rewrite);
        self
    }
}

/// A piece of a search result's content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchContent {
    /// `text`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The chunk's text.
    #[serde(default)]
    pub text: String,
}

/// One search result: a chunk of a file.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SearchResult {
    /// The file.
    pub file_id: String,
    /// The file's name.
    pub filename: String,
    /// Relevance, 0–1, higher is better.
    pub score: f64,
    /// The file's attributes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Map<String, Value>>,
    /// The matching content.
    pub content: Vec<SearchContent>,
    /// Any other field, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

deserialize_with_extra!(
    SearchResult {
        file_id: "file_id" => or_default,
        filename: "filename" => or_default,
        score: "score" => or_default,
        attributes: "attributes" => opt,
        content: "content" => or_default,
    }
    extra: extra
);

impl SearchResult {
    /// The text of the content pieces, joined by newlines.
    #[must_use]
    pub fn text(&self) -> String {
        let texts: Vec<&str> = self.content.iter().map(|piece| piece.text.as_str()).collect();
        texts.join("\n")
    }
}

/// The answer to a search.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VectorStoreSearchResults {
    /// `vector_store.search_results.page`.
    pub object: String,
    /// The queries searched (rewritten, when asked).
    pub search_query: Vec<String>,
    /// The results, best first.
    pub data: Vec<SearchResult>,
    /// Whether more results follow.
    pub has_more: bool,
    /// The next page's token, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page: Option<String>,
    /// Any other field, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

deserialize_with_extra!(
    VectorStoreSearchResults {
        object: "object" => or_default,
        search_query: "search_query" => or_default,
        data: "data" => or_default,
        has_more: "has_more" => or_default,
        next_page: "next_page" => opt,
    }
    extra: extra
);

pub use crate::poll::PollOptions;

/// Ingestion counts, passed to the progress callback after every poll.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestionProgress {
    /// Processed.
    pub completed: u64,
    /// Failed.
    pub failed: u64,
    /// Still being processed.
    pub in_progress: u64,
    /// Cancelled.
    pub cancelled: u64,
    /// All files.
    pub total: u64,
}

impl From<FileCounts> for IngestionProgress {
    fn from(counts: FileCounts) -> Self {
        Self {
            completed: counts.completed,
            failed: counts.failed,
            in_progress: counts.in_progress,
            cancelled: counts.cancelled,
            total: counts.total,
        }
    }
}

/// The outcome of an ingestion wait: every file with its final status.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngestionReport {
    /// The store.
    pub vector_store_id: String,
    /// The batch waited for, if any.
    pub batch_id: Option<String>,
    /// The last counts.
    pub progress: IngestionProgress,
    /// Every file (of the store, or of the batch), with status and `last_error`.
    pub files: Vec<VectorStoreFile>,
    /// How many polls it took.
    pub polls: u32,
}

impl IngestionReport {
    /// The files that failed, each with its `last_error`.
    pub fn failures(&self) -> impl Iterator<Item = &VectorStoreFile> {
        self.files.iter().filter(|file| file.status == IngestionStatus::Failed)
    }

    /// Whether every file was processed.
    #[must_use]
    pub fn all_completed(&self) -> bool {
        self.files.iter().all(|file| file.status == IngestionStatus::Completed)
    }
}

/// A progress callback: called with the counts after every poll.
pub type ProgressCallback<'a> = dyn FnMut(IngestionProgress) + Send + 'a;

fn options(operation: &'static str) -> RequestOptions {
    RequestOptions::new(operation).assistants_beta()
}

fn to_body(value: &impl Serialize) -> Result<Value> {
    serde_json::to_value(value).map_err(|error| {
        Error::InvalidRequest(InvalidRequestError {
            message: format!("cannot encode the request: {error}"),
            source: Some(Box::new(error)),
        })
    })
}

impl Client {
    /// Creates a vector store.
    pub async fn create_vector_store(&self, request: &CreateVectorStore) -> Result<Response<VectorStore>> {
        let body = to_body(request)?;
        self.request_json_with(
            Method::POST,
            Route::Resource { path: "vector_stores" },
            Some(&body),
            &options("vector_stores.create"),
        )
        .await
    }

    /// A vector store.
    pub async fn retrieve_vector_store(&self, vector_store_id: &str) -> Result<Response<VectorStore>> {
        check_id("vector store", vector_store_id)?;
        let path = format!("vector_stores/{vector_store_id}");
        self.request_json_with(Method::GET, Route::Resource { path: &path }, None, &options("vector_stores.retrieve"))
            .await
    }

    /// Updates a vector store's name, expiration or metadata (`POST`).
    pub async fn update_vector_store(
        &self,
        vector_store_id: &str,
        update: &UpdateVectorStore,
    ) -> Result<Response<VectorStore>> {
        check_id("vector store", vector_store_id)?;
        let path = format!("vector_stores/{vector_store_id}");
        let body = to_body(update)?;
        self.request_json_with(
            Method::POST,
            Route::Resource { path: &path },
            Some(&body),
            &options("vector_stores.update"),
        )
        .await
    }

    /// Deletes a vector store (its files stay uploaded).
    pub async fn delete_vector_store(&self, vector_store_id: &str) -> Result<Response<Deleted>> {
        check_id("vector store", vector_store_id)?;
        let path = format!("vector_stores/{vector_store_id}");
        self.request_json_with(Method::DELETE, Route::Resource { path: &path }, None, &options("vector_stores.delete"))
            .await
    }

    /// One page of vector stores, after `cursor` (else `query.after`).
    pub async fn list_vector_stores_page(
        &self,
        query: &ListQuery,
        cursor: Option<&str>,
    ) -> Result<Response<Page<VectorStore>>> {
        let options = query.apply(options("vector_stores.list"), cursor);
        self.request_json_with(Method::GET, Route::Resource { path: "vector_stores" }, None, &options).await
    }

    /// Every vector store, following the cursors page by page.
    pub fn list_vector_stores(&self, query: &ListQuery) -> Pages<'static, VectorStore> {
        let client = self.clone();
        let query = query.clone();
        paginate(query.after.clone(), move |cursor| {
            let client = client.clone();
            let query = query.clone();
            async move { client.list_vector_stores_page(&query, cursor.as_deref()).await }
        })
    }

    /// Adds an uploaded file to a vector store; ingestion starts (`in_progress`).
    pub async fn add_vector_store_file(
        &self,
        vector_store_id: &str,
        request: &AddVectorStoreFile,
    ) -> Result<Response<VectorStoreFile>> {
        check_id("vector store", vector_store_id)?;
        check_id("file", &request.file_id)?;
        let path = format!("vector_stores/{vector_store_id}/files");
        let body = to_body(request)?;
        self.request_json_with(
            Method::POST,
            Route::Resource { path: &path },
            Some(&body),
            &options("vector_stores.files.create"),
        )
        .await
    }

    /// A file of a vector store, with its ingestion status.
    pub async fn retrieve_vector_store_file(
        &self,
        vector_store_id: &str,
        file_id: &str,
    ) -> Result<Response<VectorStoreFile>> {
        check_id("vector store", vector_store_id)?;
        check_id("file", file_id)?;
        let path = format!("vector_stores/{vector_store_id}/files/{file_id}");
        self.request_json_with(
            Method::GET,
            Route::Resource { path: &path },
            None,
            &options("vector_stores.files.retrieve"),
        )
        .await
    }

    /// Removes a file from a vector store (its chunks leave the index; the
    /// file itself stays uploaded).
    pub async fn delete_vector_store_file(&self, vector_store_id: &str, file_id: &str) -> Result<Response<Deleted>> {
        check_id("vector store", vector_store_id)?;
        check_id("file", file_id)?;
        let path = format!("vector_stores/{vector_store_id}/files/{file_id}");
        self.request_json_with(
            Method::DELETE,
            Route::Resource { path: &path },
            None,
            &options("vector_stores.files.delete"),
        )
        .await
    }

    /// One page of a vector store's files.
    pub async fn list_vector_store_files_page(
        &self,
        vector_store_id: &str,
        query: &VectorStoreFileListQuery,
        cursor: Option<&str>,
    ) -> Result<Response<Page<VectorStoreFile>>> {
        check_id("vector store", vector_store_id)?;
        let path = format!("vector_stores/{vector_store_id}/files");
        let options = query
            .page
            .apply(options("vector_stores.files.list"), cursor)
            .query_opt("filter", query.filter.as_ref().map(|status| status.as_str().to_owned()));
        self.request_json_with(Method::GET, Route::Resource { path: &path }, None, &options).await
    }

    /// Every file of a vector store, following the cursors.
    pub fn list_vector_store_files(
        &self,
        vector_store_id: &str,
        query: &VectorStoreFileListQuery,
    ) -> Pages<'static, VectorStoreFile> {
        let client = self.clone();
        let query = query.clone();
        let store = vector_store_id.to_owned();
        paginate(query.page.after.clone(), move |cursor| {
            let client = client.clone();
            let query = query.clone();
            let store = store.clone();
            async move { client.list_vector_store_files_page(&store, &query, cursor.as_deref()).await }
        })
    }

    /// Adds several uploaded files to a vector store at once.
    pub async fn create_vector_store_file_batch(
        &self,
        vector_store_id: &str,
        request: &CreateFileBatch,
    ) -> Result<Response<VectorStoreFileBatch>> {
        check_id("vector store", vector_store_id)?;
        for file_id in &request.file_ids {
            check_id("file", file_id)?;
        }
        let path = format!("vector_stores/{vector_store_id}/file_batches");
        let body = to_body(request)?;
        self.request_json_with(
            Method::POST,
            Route::Resource { path: &path },
            Some(&body),
            &options("vector_stores.file_batches.create"),
        )
        .await
    }

    /// A file batch, with its counts.
    pub async fn retrieve_vector_store_file_batch(
        &self,
        vector_store_id: &str,
        batch_id: &str,
    ) -> Result<Response<VectorStoreFileBatch>> {
        check_id("vector store", vector_store_id)?;
        check_id("file batch", batch_id)?;
        let path = format!("vector_stores/{vector_store_id}/file_batches/{batch_id}");
        self.request_json_with(
            Method::GET,
            Route::Resource { path: &path },
            None,
            &options("vector_stores.file_batches.retrieve"),
        )
        .await
    }

    /// Cancels a file batch: files not yet processed end `cancelled`.
    pub async fn cancel_vector_store_file_batch(
        &self,
        vector_store_id: &str,
        batch_id: &str,
    ) -> Result<Response<VectorStoreFileBatch>> {
        check_id("vector store", vector_store_id)?;
        check_id("file batch", batch_id)?;
        let path = format!("vector_stores/{vector_store_id}/file_batches/{batch_id}/cancel");
        self.request_json_with(
            Method::POST,
            Route::Resource { path: &path },
            None,
            &options("vector_stores.file_batches.cancel"),
        )
        .await
    }

    /// One page of a file batch's files.
    pub async fn list_vector_store_file_batch_files_page(
        &self,
        vector_store_id: &str,
        batch_id: &str,
        query: &VectorStoreFileListQuery,
        cursor: Option<&str>,
    ) -> Result<Response<Page<VectorStoreFile>>> {
        check_id("vector store", vector_store_id)?;
        check_id("file batch", batch_id)?;
        let path = format!("vector_stores/{vector_store_id}/file_batches/{batch_id}/files");
        let options = query
            .page
            .apply(options("vector_stores.file_batches.list_files"), cursor)
            .query_opt("filter", query.filter.as_ref().map(|status| status.as_str().to_owned()));
        self.request_json_with(Method::GET, Route::Resource { path: &path }, None, &options).await
    }

    /// Every file of a file batch, following the cursors.
    pub fn list_vector_store_file_batch_files(
        &self,
        vector_store_id: &str,
        batch_id: &str,
        query: &VectorStoreFileListQuery,
    ) -> Pages<'static, VectorStoreFile> {
        let client = self.clone();
        let query = query.clone();
        let store = vector_store_id.to_owned();
        let batch = batch_id.to_owned();
        paginate(query.page.after.clone(), move |cursor| {
            let client = client.clone();
            let query = query.clone();
            let store = store.clone();
            let batch = batch.clone();
            async move { client.list_vector_store_file_batch_files_page(&store, &batch, &query, cursor.as_deref()).await }
        })
    }

    /// Searches a vector store's chunks. On a classic Azure endpoint
    /// configured with an older `api-version`, this one call is sent with
    /// [`RESPONSES_API_VERSION`] (search is newer than vector stores).
    pub async fn search_vector_store(
        &self,
        vector_store_id: &str,
        request: &VectorStoreSearchRequest,
    ) -> Result<Response<VectorStoreSearchResults>> {
        check_id("vector store", vector_store_id)?;
        if let Some(max) = request.max_num_results
            && !(1..=50).contains(&max)
        {
            return Err(Error::InvalidRequest(InvalidRequestError::new(format!(
                "max_num_results must be between 1 and 50, not {max}"
            ))));
        }
        let path = format!("vector_stores/{vector_store_id}/search");
        let body = to_body(request)?;
        let options = options("vector_stores.search").min_api_version(RESPONSES_API_VERSION);
        self.request_json_with(Method::POST, Route::Resource { path: &path }, Some(&body), &options).await
    }

    /// Waits until no file of the store is `in_progress`, polling the
    /// store's `file_counts` with back-off on the client's clock and calling
    /// `progress` after every poll; then lists every file of the store.
    ///
    /// # Errors
    ///
    /// A call's error; [`Error::Timeout`] (deadline) when files are still in
    /// progress at `poll.deadline`.
    pub async fn wait_for_vector_store(
        &self,
        vector_store_id: &str,
        poll: &PollOptions,
        progress: &mut ProgressCallback<'_>,
    ) -> Result<IngestionReport> {
        let polls = self
            .poll_counts(poll, progress, || async {
                Ok(self.retrieve_vector_store(vector_store_id).await?.body.file_counts)
            })
            .await?;
        let files =
            self.collect_files(self.list_vector_store_files(vector_store_id, &VectorStoreFileListQuery::new())).await?;
        Ok(IngestionReport {
            vector_store_id: vector_store_id.to_owned(),
            batch_id: None,
            progress: polls.1,
            files,
            polls: polls.0,
        })
    }

    /// Waits until a file batch has no file `in_progress` (see
    /// [`Client::wait_for_vector_store`]); then lists the batch's files.
    ///
    /// # Errors
    ///
    /// As [`Client::wait_for_vector_store`].
    pub async fn wait_for_file_batch(
        &self,
        vector_store_id: &str,
        batch_id: &str,
        poll: &PollOptions,
        progress: &mut ProgressCallback<'_>,
    ) -> Result<IngestionReport> {
        let polls = self
            .poll_counts(poll, progress, || async {
                Ok(self.retrieve_vector_store_file_batch(vector_store_id, batch_id).await?.body.file_counts)
            })
            .await?;
        let files = self
            .collect_files(self.list_vector_store_file_batch_files(
                vector_store_id,
                batch_id,
                &VectorStoreFileListQuery::new(),
            ))
            .await?;
        Ok(IngestionReport {
            vector_store_id: vector_store_id.to_owned(),
            batch_id: Some(batch_id.to_owned()),
            progress: polls.1,
            files,
            polls: polls.0,
        })
    }

    /// Uploads `files` (name, content) with purpose `assistants`, adds them
    /// to the store as one file batch, and waits for ingestion (see
    /// [`Client::wait_for_file_batch`]). An upload that fails stops the
    /// call with its error; files uploaded before it stay uploaded.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRequest`] for no files; otherwise as the calls it makes.
    pub async fn upload_files_to_vector_store(
        &self,
        vector_store_id: &str,
        files: Vec<(String, Bytes)>,
        poll: &PollOptions,
        progress: &mut ProgressCallback<'_>,
    ) -> Result<IngestionReport> {
        check_id("vector store", vector_store_id)?;
        if files.is_empty() {
            return Err(Error::InvalidRequest(InvalidRequestError::new("no file to upload")));
        }
        let mut file_ids = Vec::with_capacity(files.len());
        for (filename, content) in files {
            let uploaded = self.upload_file_for(&FilePurpose::Assistants, &filename, content).await?;
            file_ids.push(uploaded.body.id);
        }
        let batch = self.create_vector_store_file_batch(vector_store_id, &CreateFileBatch::new(file_ids)).await?;
        self.wait_for_file_batch(vector_store_id, &batch.body.id, poll, progress).await
    }

    async fn collect_files(&self, mut pages: Pages<'static, VectorStoreFile>) -> Result<Vec<VectorStoreFile>> {
        use futures_util::StreamExt as _;
        let mut files = Vec::new();
        while let Some(file) = pages.next().await {
            files.push(file?);
        }
        Ok(files)
    }

    /// Polls `counts` until nothing is in progress; returns the number of
    /// polls and the last counts.
    async fn poll_counts<F, Fut>(
        &self,
        poll: &PollOptions,
        progress: &mut ProgressCallback<'_>,
        mut counts: F,
    ) -> Result<(u32, IngestionProgress)>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<FileCounts>>,
    {
        let mut poller = crate::poll::Poller::new(poll, self.time());
        loop {
            let current = IngestionProgress::from(counts().await?);
            progress(current);
            if current.in_progress == 0 {
                return Ok((poller.polls().saturating_add(1), current));
            }
            poller.wait().await.map_err(Error::Timeout)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn spec_objects_parse_and_keep_unknown_fields() {
        // `vectorStoreObject` example of the 2024-10-01-preview spec, plus a field it doesn't name.
        let store: VectorStore = serde_json::from_value(json!({
            "id": "vs_abc123",
            "object": "vector_store",
            "created_at": 1699061776,
            "name": "Support FAQ",
            "bytes": 139920,
            "usage_bytes": 139920,
            "file_counts": {"in_progress": 0, "completed": 3, "failed": 0, "cancelled": 0, "total": 3},
            "status": "completed",
            "expires_after": {"anchor": "last_active_at", "days": 7},
            "expires_at": null,
            "last_active_at": 1699061776,
            "metadata": {}
        }))
        .unwrap();
        assert_eq!(store.status, VectorStoreStatus::Completed);
        assert_eq!(store.file_counts.completed, 3);
        assert_eq!(store.expires_after, Some(ExpiresAfter::days_after_last_active(7)));
        assert_eq!(store.extra["bytes"], 139920);

        let file: VectorStoreFile = serde_json::from_value(json!({
            "id": "file-abc123",
            "object": "vector_store.file",
            "usage_bytes": 1234,
            "created_at": 1698107661,
            "vector_store_id": "vs_abc123",
            "status": "failed",
            "last_error": {"code": "unsupported_file", "message": "binary"},
            "chunking_strategy": {"type": "static", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}},
            "attributes": {"lang": "en"}
        }))
        .unwrap();
        assert_eq!(file.status, IngestionStatus::Failed);
        assert_eq!(file.last_error.as_ref().map(|error| &error.code), Some(&LastErrorCode::UnsupportedFile));
        assert_eq!(file.chunking_strategy, Some(ChunkingStrategy::fixed(800, 400)));

        let other: VectorStoreFile =
            serde_json::from_value(json!({"id": "f", "status": "paused", "chunking_strategy": {"type": "other"}}))
                .unwrap();
        assert_eq!(other.status, IngestionStatus::Unknown("paused".to_owned()));
        assert_eq!(other.chunking_strategy, Some(ChunkingStrategy::Other(json!({"type": "other"}))));

        let batch: VectorStoreFileBatch = serde_json::from_value(json!({
            "id": "vsfb_abc123",
            "object": "vector_store.files_batch",
            "created_at": 1699061776,
            "vector_store_id": "vs_abc123",
            "status": "in_progress",
            "file_counts": {"in_progress": 1, "completed": 1, "failed": 0, "cancelled": 0, "total": 2}
        }))
        .unwrap();
        assert_eq!(IngestionProgress::from(batch.file_counts).in_progress, 1);

        let results: VectorStoreSearchResults = serde_json::from_value(json!({
            "object": "vector_store.search_results.page",
            "search_query": ["leave"],
            "data": [{"file_id": "file-1", "filename": "a.md", "score": 0.9, "attributes": {},
                      "content": [{"type": "text", "text": "25 days"}]}],
            "has_more": false,
            "next_page": null
        }))
        .unwrap();
        assert_eq!(results.data[0].text(), "25 days");
    }

    #[test]
    fn requests_serialise_as_the_wire_has_them() {
        let create = CreateVectorStore::new()
            .name("kb")
            .file_id("file-1")
            .chunking_strategy(ChunkingStrategy::fixed(400, 100))
            .expires_after(ExpiresAfter::days_after_last_active(2))
            .metadata("team", "docs");
        assert_eq!(
            serde_json::to_value(&create).unwrap(),
            json!({
                "name": "kb",
                "file_ids": ["file-1"],
                "chunking_strategy": {"type": "static", "static": {"max_chunk_size_tokens": 400, "chunk_overlap_tokens": 100}},
                "expires_after": {"anchor": "last_active_at", "days": 2},
                "metadata": {"team": "docs"}
            })
        );
        assert_eq!(
            serde_json::to_value(AddVectorStoreFile::new("file-2").chunking_strategy(ChunkingStrategy::Auto)).unwrap(),
            json!({"file_id": "file-2", "chunking_strategy": {"type": "auto"}})
        );
        assert_eq!(serde_json::to_value(UpdateVectorStore::new().name("n")).unwrap(), json!({"name": "n"}));
        assert_eq!(
            serde_json::to_value(UpdateVectorStore::new().expires_after(ExpiresAfter::days_after_last_active(3)))
                .unwrap(),
            json!({"expires_after": {"anchor": "last_active_at", "days": 3}})
        );
        assert_eq!(
            serde_json::to_value(UpdateVectorStore::new().never_expires()).unwrap(),
            json!({"expires_after": null})
        );
        let search =
            VectorStoreSearchRequest::new(vec!["a".to_owned(), "b".to_owned()]).max_num_results(3).score_threshold(0.2);
        assert_eq!(
            serde_json::to_value(&search).unwrap(),
            json!({"query": ["a", "b"], "max_num_results": 3, "ranking_options": {"score_threshold": 0.2}})
        );
    }
}
