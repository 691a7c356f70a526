//! Vector stores, in memory, with real retrieval: files added to a store are
//! chunked and indexed (BM25 over the chunk text, `aoai-index`), and
//! `POST vector_stores/{id}/search` and the Responses API's `file_search`
//! tool search those chunks.
//!
//! | Request (under `/openai` with `api-version`, or `/openai/v1`) | Answer |
//! |---|---|
//! | `POST vector_stores` `{name, file_ids, chunking_strategy, expires_after, metadata}` | the store |
//! | `GET vector_stores[?limit&order&after&before]` | a page, newest first |
//! | `GET`/`POST`/`DELETE vector_stores/{id}` | the store / updated (`name`, `expires_after`, `metadata`) / `vector_store.deleted` |
//! | `POST vector_stores/{id}/files` `{file_id, attributes, chunking_strategy}`, `GET …/files[?filter&…]` | the file / a page |
//! | `GET`/`POST`/`DELETE vector_stores/{id}/files/{file_id}` | the file / new `attributes` / `vector_store.file.deleted` |
//! | `POST vector_stores/{id}/file_batches` `{file_ids \| files, attributes, chunking_strategy}` | the batch |
//! | `GET …/file_batches/{b}`, `POST …/file_batches/{b}/cancel`, `GET …/file_batches/{b}/files` | the batch / cancelled / a page |
//! | `POST vector_stores/{id}/search` `{query, max_num_results, filters, ranking_options, rewrite_query}` | `vector_store.search_results.page` |
//!
//! **Ingestion.** A file is read from the Files store when it is added and cut
//! with the static strategy (`chunking_strategy.static` sizes, else OpenAI's
//! default 800-token chunks with 400 tokens of overlap, counted with cl100k;
//! see [`chunk`]). Its status is `in_progress` for one
//! [`batch_step`](crate::config::EmulatorConfig::batch_step) on the emulator's
//! clock, then `completed` (searchable from then on), or `failed` with
//! `last_error`: `invalid_file` for an unknown file id or an empty file,
//! `unsupported_file` for content that is not UTF-8 text (or holds NUL bytes).
//! Cancelling a batch turns its files still in progress into `cancelled`
//! and removes their chunks. Removing a file from a store, or deleting the
//! store, removes its chunks from the index.
//!
//! **Search.** The queries (one string or several, joined) are scored by
//! BM25 over the chunks of the named stores' completed files; the score is
//! mapped to 0–1 as `bm25 / (1 + bm25)`. Results are chunks, best first,
//! ties broken by file id and then position, so the order is deterministic.
//! `filters` (comparison `eq ne gt gte lt lte` and compound `and or`) apply
//! to file attributes; `ranking_options.score_threshold` drops low scores.
//!
//! **For the Responses server** (`file_search` tool): [`AppState::file_search`]
//! searches several stores at once and returns [`Passage`]s (file id, name,
//! score, chunk text, attributes and the chunk's byte range in the file),
//! merged best first; an unknown store id is a 404 [`ErrorReply`].
//!
//! Memory is bounded: at most [`MAX_STORES`] stores and [`MAX_BATCHES`]
//! batches (the oldest are evicted, with their chunks), [`MAX_FILES_PER_STORE`]
//! files per store (more is a 400).

pub(crate) mod chunk;

use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use aoai_core::files::Deleted;
use aoai_core::page::{Cursor, Page};
use aoai_core::vector_stores::{
    ChunkingStrategy, ExpiresAfter, FileCounts, IngestionStatus, LastError, LastErrorCode, SearchContent, SearchResult,
    VectorStore, VectorStoreFile, VectorStoreFileBatch, VectorStoreSearchResults, VectorStoreStatus,
};
use aoai_index::{Index, Query, Record, Schema, TextField, TextQuery};
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde_json::{Map, Value, json};

use crate::server::{AppState, ErrorReply, json_response};

/// The most vector stores kept; the oldest is evicted beyond.
pub(crate) const MAX_STORES: usize = 1000;
/// The most file batches kept; the oldest is evicted beyond.
pub(crate) const MAX_BATCHES: usize = 2000;
/// The most files in one store.
pub(crate) const MAX_FILES_PER_STORE: usize = 10_000;
/// The largest JSON body read.
const BODY_LIMIT: usize = 4 << 20;

/// A passage found by [`AppState::file_search`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Passage {
    /// The store it was found in.
    pub(crate) vector_store_id: String,
    /// The file.
    pub(crate) file_id: String,
    /// The file's name.
    pub(crate) filename: String,
    /// Relevance, 0–1.
    pub(crate) score: f64,
    /// The chunk's text.
    pub(crate) text: String,
    /// The file's attributes in that store.
    pub(crate) attributes: Map<String, Value>,
    /// The chunk's byte range in the file.
    pub(crate) bytes: Range<usize>,
}

/// How a file's ingestion ends once its time is up.
#[derive(Debug, Clone)]
enum Outcome {
    Completed,
    Failed { code: &'static str, message: String },
}

#[derive(Debug, Clone)]
struct FileEntry {
    file_id: String,
    filename: String,
    created_at: u64,
    ready_at: Instant,
    outcome: Outcome,
    cancelled: bool,
    usage_bytes: u64,
    attributes: Option<Map<String, Value>>,
    chunking: ChunkingStrategy,
    batch_id: Option<String>,
}

#[derive(Debug, Clone)]
struct StoreEntry {
    id: String,
    name: String,
    created_at: u64,
    last_active_at: u64,
    expires_after: Option<ExpiresAfter>,
    metadata: Option<Map<String, Value>>,
    files: Vec<FileEntry>,
}

#[derive(Debug, Clone)]
struct BatchEntry {
    id: String,
    store_id: String,
    created_at: u64,
    cancelled: bool,
}

#[derive(Debug, Default)]
struct Inner {
    /// Oldest first.
    stores: Vec<StoreEntry>,
    /// Oldest first.
    batches: Vec<BatchEntry>,
}

/// Every vector store, file batch and indexed chunk.
pub(crate) struct VectorStores {
    inner: Mutex<Inner>,
    index: Option<Index>,
    tokenizer: aoai_core::tokens::Tokenizer,
}

impl std::fmt::Debug for VectorStores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VectorStores").finish_non_exhaustive()
    }
}

impl Default for VectorStores {
    fn default() -> Self {
        let schema = Schema::new().text_field(TextField::new("text"));
        let index = Index::in_memory(schema).map_err(|error| tracing::error!("vector store index: {error}")).ok();
        Self { inner: Mutex::new(Inner::default()), index, tokenizer: chunk::tokenizer() }
    }
}

/// A file's status at `now`.
fn file_status(file: &FileEntry, now: Instant) -> &'static str {
    if file.cancelled {
        "cancelled"
    } else if now < file.ready_at {
        "in_progress"
    } else {
        match file.outcome {
            Outcome::Completed => "completed",
            Outcome::Failed { .. } => "failed",
        }
    }
}

fn counts<'a>(files: impl Iterator<Item = &'a FileEntry>, now: Instant) -> FileCounts {
    let mut counts = FileCounts::default();
    for file in files {
        counts.total += 1;
        match file_status(file, now) {
            "in_progress" => counts.in_progress += 1,
            "completed" => counts.completed += 1,
            "failed" => counts.failed += 1,
            _ => counts.cancelled += 1,
        }
    }
    counts
}

fn store_object(store: &StoreEntry, now: Instant, unix_now: u64) -> VectorStore {
    let file_counts = counts(store.files.iter(), now);
    let expires_at = store.expires_after.as_ref().map(|after| store.last_active_at + u64::from(after.days) * 86_400);
    let status = if expires_at.is_some_and(|at| unix_now >= at) {
        VectorStoreStatus::Expired
    } else if file_counts.in_progress > 0 {
        VectorStoreStatus::InProgress
    } else {
        VectorStoreStatus::Completed
    };
    let usage_bytes =
        store.files.iter().filter(|file| file_status(file, now) == "completed").map(|file| file.usage_bytes).sum();
    VectorStore {
        id: store.id.clone(),
        object: "vector_store".to_owned(),
        created_at: store.created_at,
        name: store.name.clone(),
        status,
        file_counts,
        usage_bytes,
        expires_after: store.expires_after.clone(),
        expires_at,
        last_active_at: Some(store.last_active_at),
        metadata: Some(store.metadata.clone().unwrap_or_default()),
        extra: Map::new(),
    }
}

fn file_object(store_id: &str, file: &FileEntry, now: Instant) -> VectorStoreFile {
    let status = file_status(file, now);
    let last_error = match (&file.outcome, status) {
        (Outcome::Failed { code, message }, "failed") => {
            Some(LastError { code: LastErrorCode::from(*code), message: message.clone() })
        }
        _ => None,
    };
    VectorStoreFile {
        id: file.file_id.clone(),
        object: "vector_store.file".to_owned(),
        created_at: file.created_at,
        vector_store_id: store_id.to_owned(),
        status: IngestionStatus::from(status),
        last_error,
        usage_bytes: if status == "completed" { file.usage_bytes } else { 0 },
        chunking_strategy: Some(file.chunking.clone()),
        attributes: Some(file.attributes.clone().unwrap_or_default()),
        extra: Map::new(),
    }
}

fn batch_object(batch: &BatchEntry, store: Option<&StoreEntry>, now: Instant) -> VectorStoreFileBatch {
    let files: Vec<&FileEntry> = store
        .map(|store| store.files.iter().filter(|file| file.batch_id.as_deref() == Some(batch.id.as_str())).collect())
        .unwrap_or_default();
    let file_counts = counts(files.iter().copied(), now);
    let status = if batch.cancelled {
        IngestionStatus::Cancelled
    } else if file_counts.in_progress > 0 {
        IngestionStatus::InProgress
    } else if !files.is_empty() && file_counts.failed == file_counts.total {
        IngestionStatus::Failed
    } else {
        IngestionStatus::Completed
    };
    VectorStoreFileBatch {
        id: batch.id.clone(),
        object: "vector_store.files_batch".to_owned(),
        created_at: batch.created_at,
        vector_store_id: batch.store_id.clone(),
        status,
        file_counts,
        extra: Map::new(),
    }
}

fn store_not_found(id: &str) -> ErrorReply {
    ErrorReply::azure(StatusCode::NOT_FOUND, "NotFound", format!("Vector store {id} was not found."))
}

fn file_not_found(store: &str, id: &str) -> ErrorReply {
    ErrorReply::azure(StatusCode::NOT_FOUND, "NotFound", format!("File {id} was not found in vector store {store}."))
}

fn batch_not_found(id: &str) -> ErrorReply {
    ErrorReply::azure(StatusCode::NOT_FOUND, "NotFound", format!("File batch {id} was not found."))
}

/// A file's chunk sizes, and the `chunking_strategy` echoed back for it.
#[derive(Debug, Clone)]
struct Chunking {
    max_tokens: usize,
    overlap: usize,
    echo: ChunkingStrategy,
}

/// A file to add to a store.
#[derive(Debug, Clone)]
struct NewFile {
    file_id: String,
    attributes: Option<Map<String, Value>>,
    chunking: Chunking,
}

/// The `chunking_strategy` of a request.
fn parse_chunking(value: Option<&Value>, param: &str) -> Result<Chunking, ErrorReply> {
    let default = || ChunkingStrategy::fixed(chunk::DEFAULT_MAX_TOKENS as u32, chunk::DEFAULT_OVERLAP as u32);
    let Some(value) = value.filter(|value| !value.is_null()) else {
        return Ok(Chunking {
            max_tokens: chunk::DEFAULT_MAX_TOKENS,
            overlap: chunk::DEFAULT_OVERLAP,
            echo: default(),
        });
    };
    let invalid = |message: String| ErrorReply::invalid(message, Some(param), Some("invalid_value"));
    match value.get("type").and_then(Value::as_str) {
        Some("auto") => {
            Ok(Chunking { max_tokens: chunk::DEFAULT_MAX_TOKENS, overlap: chunk::DEFAULT_OVERLAP, echo: default() })
        }
        Some("static") => {
            let sizes = value.get("static").ok_or_else(|| invalid(format!("'{param}.static' is required")))?;
            let max = sizes
                .get("max_chunk_size_tokens")
                .and_then(Value::as_u64)
                .ok_or_else(|| invalid(format!("'{param}.static.max_chunk_size_tokens' must be an integer")))?;
            let overlap = sizes
                .get("chunk_overlap_tokens")
                .and_then(Value::as_u64)
                .ok_or_else(|| invalid(format!("'{param}.static.chunk_overlap_tokens' must be an integer")))?;
            let max = usize::try_from(max).unwrap_or(usize::MAX);
            let overlap = usize::try_from(overlap).unwrap_or(usize::MAX);
            if !(chunk::MIN_MAX_TOKENS..=chunk::MAX_MAX_TOKENS).contains(&max) {
                return Err(invalid(format!(
                    "'{param}.static.max_chunk_size_tokens' must be between {} and {}",
                    chunk::MIN_MAX_TOKENS,
                    chunk::MAX_MAX_TOKENS
                )));
            }
            if overlap > max / 2 {
                return Err(invalid(format!(
                    "'{param}.static.chunk_overlap_tokens' must not exceed half of max_chunk_size_tokens"
                )));
            }
            Ok(Chunking { max_tokens: max, overlap, echo: ChunkingStrategy::fixed(max as u32, overlap as u32) })
        }
        _ => Err(invalid(format!("'{param}.type' must be 'auto' or 'static'"))),
    }
}

/// `metadata` / `attributes`: an object of at most 16 pairs, or null.
fn parse_pairs(value: Option<&Value>, param: &str) -> Result<Option<Map<String, Value>>, ErrorReply> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) if map.len() <= 16 => Ok(Some(map.clone())),
        Some(Value::Object(_)) => {
            Err(ErrorReply::invalid(format!("'{param}' holds at most 16 pairs"), Some(param), Some("invalid_value")))
        }
        Some(_) => Err(ErrorReply::invalid(format!("'{param}' must be an object"), Some(param), Some("invalid_type"))),
    }
}

fn parse_expires_after(value: Option<&Value>) -> Result<Option<ExpiresAfter>, ErrorReply> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(value) => {
            let anchor = value.get("anchor").and_then(Value::as_str);
            let days = value.get("days").and_then(Value::as_u64);
            match (anchor, days) {
                (Some("last_active_at"), Some(days @ 1..=365)) => {
                    Ok(Some(ExpiresAfter::days_after_last_active(days as u32)))
                }
                _ => Err(ErrorReply::invalid(
                    "'expires_after' must be {\"anchor\": \"last_active_at\", \"days\": 1..365}",
                    Some("expires_after"),
                    Some("invalid_value"),
                )),
            }
        }
    }
}

/// Reads a JSON object body (an empty body is `{}`).
pub(crate) async fn read_object(request: Request) -> Result<Map<String, Value>, ErrorReply> {
    let body = axum::body::to_bytes(request.into_body(), BODY_LIMIT)
        .await
        .map_err(|error| ErrorReply::invalid(format!("cannot read the body: {error}"), None, None))?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ErrorReply::invalid("The request body must be a JSON object.", None, None)),
        Err(error) => Err(ErrorReply::invalid_json(&error)),
    }
}

/// `limit`, `order`, `after`, `before` (and other parameters) of a list request.
#[derive(Debug, Default)]
pub(crate) struct ListParams {
    pub(crate) limit: usize,
    pub(crate) ascending: bool,
    pub(crate) after: Option<String>,
    pub(crate) before: Option<String>,
    pub(crate) other: Vec<(String, String)>,
}

impl ListParams {
    /// Parses the query string; a bad `limit` or `order` is a 400 naming it.
    pub(crate) fn parse(uri: &Uri, default_limit: usize, max_limit: usize) -> Result<Self, ErrorReply> {
        let mut params = Self { limit: default_limit, ..Self::default() };
        for pair in uri.query().unwrap_or_default().split('&').filter(|pair| !pair.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value);
            match name {
                "limit" => {
                    params.limit =
                        value.parse::<usize>().ok().filter(|limit| (1..=max_limit).contains(limit)).ok_or_else(
                            || {
                                ErrorReply::invalid(
                                    format!("'limit' must be an integer between 1 and {max_limit}, not '{value}'"),
                                    Some("limit"),
                                    Some("invalid_value"),
                                )
                            },
                        )?;
                }
                "order" => {
                    params.ascending = match value.as_str() {
                        "asc" => true,
                        "desc" => false,
                        _ => {
                            return Err(ErrorReply::invalid(
                                format!("'order' must be 'asc' or 'desc', not '{value}'"),
                                Some("order"),
                                Some("invalid_value"),
                            ));
                        }
                    }
                }
                "after" => params.after = Some(value),
                "before" => params.before = Some(value),
                _ => params.other.push((name.to_owned(), value)),
            }
        }
        Ok(params)
    }

    /// Another parameter's value.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.other.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    /// A page of `items` (given oldest first) in the order asked, after
    /// `after` and before `before`, as `{"object":"list",…}`.
    pub(crate) fn page<T: Cursor + Clone>(&self, mut items: Vec<T>) -> Page<T> {
        if !self.ascending {
            items.reverse();
        }
        let start = match &self.after {
            Some(after) => {
                items.iter().position(|item| item.cursor() == Some(after.as_str())).map_or(items.len(), |i| i + 1)
            }
            None => 0,
        };
        let end = match &self.before {
            Some(before) => items.iter().position(|item| item.cursor() == Some(before.as_str())).unwrap_or(items.len()),
            None => items.len(),
        }
        .max(start);
        let window = &items[start..end];
        let data: Vec<T> = window.iter().take(self.limit).cloned().collect();
        Page {
            object: "list".to_owned(),
            first_id: data.first().and_then(Cursor::cursor).map(str::to_owned),
            last_id: data.last().and_then(Cursor::cursor).map(str::to_owned),
            has_more: window.len() > data.len(),
            data,
            extra: Map::new(),
        }
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(index + 1..index + 3).and_then(|hex| std::str::from_utf8(hex).ok());
                match hex.and_then(|hex| u8::from_str_radix(hex, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        index += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl VectorStores {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn remove_chunks(&self, store_id: &str, file_id: Option<&str>) {
        let Some(index) = &self.index else { return };
        let remove = |record: &Record| {
            record.fields.get("store").and_then(Value::as_str) == Some(store_id)
                && file_id.is_none_or(|file_id| record.fields.get("file").and_then(Value::as_str) == Some(file_id))
        };
        if let Err(error) = index.delete_where(&remove) {
            tracing::warn!("vector store index: {error}");
        }
    }
}

impl AppState {
    /// Reads, chunks and indexes one file for a store; the entry to record.
    fn ingest(&self, store_id: &str, file: NewFile, batch_id: Option<String>) -> FileEntry {
        let stores = &self.vector_stores;
        let NewFile { file_id, attributes, chunking } = file;
        let file_id = file_id.as_str();
        let Chunking { max_tokens, overlap, echo } = chunking;
        let ready_at = self.time.clock.now() + self.batch_step;
        let mut entry = FileEntry {
            file_id: file_id.to_owned(),
            filename: String::new(),
            created_at: self.unix_now(),
            ready_at,
            outcome: Outcome::Completed,
            cancelled: false,
            usage_bytes: 0,
            attributes,
            chunking: echo,
            batch_id,
        };
        let Some((meta, content)) = self.files.get(file_id) else {
            entry.outcome = Outcome::Failed { code: "invalid_file", message: format!("File {file_id} was not found.") };
            return entry;
        };
        entry.filename = meta.filename.clone();
        let text = match std::str::from_utf8(&content) {
            Ok(text) if !text.contains('\0') => text,
            _ => {
                entry.outcome = Outcome::Failed {
                    code: "unsupported_file",
                    message: format!("File {} is not a supported text file.", meta.filename),
                };
                return entry;
            }
        };
        if text.trim().is_empty() {
            entry.outcome =
                Outcome::Failed { code: "invalid_file", message: format!("File {} is empty.", meta.filename) };
            return entry;
        }
        let chunks = chunk::chunk(text, max_tokens, overlap, &stores.tokenizer);
        entry.usage_bytes = chunks.iter().map(|chunk| chunk.bytes.len() as u64).sum();
        let records: Vec<Record> = chunks
            .iter()
            .enumerate()
            .map(|(number, chunk)| {
                Record::new(format!("{store_id}/{file_id}/{number}"))
                    .field("store", store_id)
                    .field("file", file_id)
                    .field("text", &text[chunk.bytes.clone()])
                    .field("start", chunk.bytes.start as u64)
                    .field("end", chunk.bytes.end as u64)
            })
            .collect();
        if let Some(index) = &stores.index {
            let file = file_id.to_owned();
            let store = store_id.to_owned();
            let same = move |record: &Record| {
                record.fields.get("store").and_then(Value::as_str) == Some(store.as_str())
                    && record.fields.get("file").and_then(Value::as_str) == Some(file.as_str())
            };
            if let Err(error) = index.replace_where(&same, records) {
                entry.outcome = Outcome::Failed { code: "server_error", message: format!("indexing failed: {error}") };
            }
        }
        entry
    }

    /// Whether a vector store with this id exists.
    pub(crate) fn vector_store_exists(&self, id: &str) -> bool {
        self.vector_stores.lock().stores.iter().any(|store| store.id == id)
    }

    /// Searches the named stores' completed files for `query` (BM25) and
    /// returns at most `max_results` passages, best first (ties: file id,
    /// then position), merged over the stores. The Responses API's
    /// `file_search` tool calls this.
    ///
    /// # Errors
    ///
    /// 404 for an unknown store id; 500 if the index fails.
    pub(crate) fn file_search(
        &self,
        vector_store_ids: &[String],
        query: &str,
        max_results: usize,
    ) -> Result<Vec<Passage>, ErrorReply> {
        self.search_filtered(vector_store_ids, query, max_results, None)
    }

    fn search_filtered(
        &self,
        vector_store_ids: &[String],
        query: &str,
        max_results: usize,
        filters: Option<&Value>,
    ) -> Result<Vec<Passage>, ErrorReply> {
        let now = self.time.clock.now();
        let unix_now = self.unix_now();
        // (store, file) → (filename, attributes), for completed files that pass the filters.
        let mut searchable: std::collections::HashMap<(String, String), (String, Map<String, Value>)> =
            std::collections::HashMap::new();
        {
            let mut inner = self.vector_stores.lock();
            for id in vector_store_ids {
                let Some(store) = inner.stores.iter_mut().find(|store| &store.id == id) else {
                    return Err(store_not_found(id));
                };
                store.last_active_at = unix_now;
                for file in &store.files {
                    if file_status(file, now) != "completed" {
                        continue;
                    }
                    let attributes = file.attributes.clone().unwrap_or_default();
                    if let Some(filters) = filters
                        && !matches_filter(filters, &attributes)
                    {
                        continue;
                    }
                    searchable.insert((store.id.clone(), file.file_id.clone()), (file.filename.clone(), attributes));
                }
            }
        }
        let Some(index) = &self.vector_stores.index else {
            return Err(ErrorReply::azure(
                StatusCode::INTERNAL_SERVER_ERROR,
                "500",
                "The search index is unavailable.",
            ));
        };
        if searchable.is_empty() || max_results == 0 || query.trim().is_empty() {
            return Ok(Vec::new());
        }
        let accept = |record: &Record| {
            let store = record.fields.get("store").and_then(Value::as_str).unwrap_or_default();
            let file = record.fields.get("file").and_then(Value::as_str).unwrap_or_default();
            searchable.contains_key(&(store.to_owned(), file.to_owned()))
        };
        let mut text_query = TextQuery::new(query);
        text_query.candidates = max_results.max(50);
        let hits =
            index.search(&Query::new(text_query.candidates).text(text_query).filter(&accept)).map_err(|error| {
                ErrorReply::azure(StatusCode::INTERNAL_SERVER_ERROR, "500", format!("search failed: {error}"))
            })?;
        let mut passages: Vec<Passage> = hits
            .into_iter()
            .filter_map(|hit| {
                let bm25 = f64::from(hit.text?.score);
                let fields = &hit.record.fields;
                let store = fields.get("store")?.as_str()?.to_owned();
                let file = fields.get("file")?.as_str()?.to_owned();
                let (filename, attributes) = searchable.get(&(store.clone(), file.clone()))?.clone();
                let start = usize::try_from(fields.get("start")?.as_u64()?).ok()?;
                let end = usize::try_from(fields.get("end")?.as_u64()?).ok()?;
                Some(Passage {
                    vector_store_id: store,
                    file_id: file,
                    filename,
                    score: bm25 / (1.0 + bm25),
                    text: fields.get("text")?.as_str()?.to_owned(),
                    attributes,
                    bytes: start..end,
                })
            })
            .filter(|passage| passage.score > 0.0)
            .collect();
        passages.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.file_id.cmp(&b.file_id))
                .then_with(|| a.bytes.start.cmp(&b.bytes.start))
                .then_with(|| a.vector_store_id.cmp(&b.vector_store_id))
        });
        passages.truncate(max_results);
        Ok(passages)
    }
}

/// Whether `attributes` pass a comparison or compound filter (checked by [`check_filter`] first).
fn matches_filter(filter: &Value, attributes: &Map<String, Value>) -> bool {
    let kind = filter.get("type").and_then(Value::as_str).unwrap_or_default();
    match kind {
        "and" | "or" => {
            let filters = filter.get("filters").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            if kind == "and" {
                filters.iter().all(|inner| matches_filter(inner, attributes))
            } else {
                filters.iter().any(|inner| matches_filter(inner, attributes))
            }
        }
        _ => {
            let key = filter.get("key").and_then(Value::as_str).unwrap_or_default();
            let expected = filter.get("value").unwrap_or(&Value::Null);
            let Some(actual) = attributes.get(key) else {
                return kind == "ne";
            };
            let ordering = match (actual, expected) {
                (Value::Number(a), Value::Number(b)) => a.as_f64().zip(b.as_f64()).and_then(|(a, b)| a.partial_cmp(&b)),
                (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
                (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
                _ => None,
            };
            match kind {
                "eq" => ordering == Some(std::cmp::Ordering::Equal),
                "ne" => ordering != Some(std::cmp::Ordering::Equal),
                "gt" => ordering == Some(std::cmp::Ordering::Greater),
                "gte" => matches!(ordering, Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal)),
                "lt" => ordering == Some(std::cmp::Ordering::Less),
                "lte" => matches!(ordering, Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)),
                _ => false,
            }
        }
    }
}

/// Checks a filter's shape (types, keys, nesting up to 8 levels); a 400 naming `filters`.
fn check_filter(filter: &Value, depth: usize) -> Result<(), ErrorReply> {
    let invalid = |message: &str| ErrorReply::invalid(message.to_owned(), Some("filters"), Some("invalid_value"));
    if depth > 8 {
        return Err(invalid("'filters' is nested too deeply"));
    }
    match filter.get("type").and_then(Value::as_str) {
        Some("and" | "or") => {
            let filters = filter
                .get("filters")
                .and_then(Value::as_array)
                .ok_or_else(|| invalid("a compound filter needs 'filters'"))?;
            filters.iter().try_for_each(|inner| check_filter(inner, depth + 1))
        }
        Some("eq" | "ne" | "gt" | "gte" | "lt" | "lte") => {
            if filter.get("key").and_then(Value::as_str).is_none() {
                return Err(invalid("a comparison filter needs a string 'key'"));
            }
            match filter.get("value") {
                Some(Value::String(_) | Value::Number(_) | Value::Bool(_)) => Ok(()),
                _ => Err(invalid("a comparison filter needs a string, number or boolean 'value'")),
            }
        }
        _ => Err(invalid("'filters.type' must be one of eq, ne, gt, gte, lt, lte, and, or")),
    }
}

fn gate(app: &AppState, request: &Request) -> Result<(), ErrorReply> {
    app.gate(request.headers(), request.uri())
}

macro_rules! try_reply {
    ($expr:expr) => {
        match $expr {
            Ok(value) => value,
            Err(reply) => return reply.into_response(),
        }
    };
}

fn string_list(value: Option<&Value>, param: &str) -> Result<Vec<String>, ErrorReply> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                item.as_str().filter(|text| !text.is_empty()).map(str::to_owned).ok_or_else(|| {
                    ErrorReply::invalid(
                        format!("'{param}[{index}]' must be a non-empty string"),
                        Some(param),
                        Some("invalid_type"),
                    )
                })
            })
            .collect(),
        Some(_) => Err(ErrorReply::invalid(
            format!("'{param}' must be an array of strings"),
            Some(param),
            Some("invalid_type"),
        )),
    }
}

/// Adds files to a store (ingesting each); a 404 for an unknown store.
fn add_files(app: &AppState, store_id: &str, files: Vec<NewFile>, batch_id: Option<&str>) -> Result<(), ErrorReply> {
    {
        let inner = app.vector_stores.lock();
        let Some(store) = inner.stores.iter().find(|store| store.id == store_id) else {
            return Err(store_not_found(store_id));
        };
        if store.files.len() + files.len() > MAX_FILES_PER_STORE {
            return Err(ErrorReply::invalid(
                format!("A vector store holds at most {MAX_FILES_PER_STORE} files."),
                Some("file_ids"),
                Some("invalid_value"),
            ));
        }
    }
    let entries: Vec<FileEntry> =
        files.into_iter().map(|file| app.ingest(store_id, file, batch_id.map(str::to_owned))).collect();
    let mut inner = app.vector_stores.lock();
    let Some(store) = inner.stores.iter_mut().find(|store| store.id == store_id) else {
        // Deleted meanwhile: drop what was indexed.
        drop(inner);
        app.vector_stores.remove_chunks(store_id, None);
        return Err(store_not_found(store_id));
    };
    for entry in entries {
        store.files.retain(|file| file.file_id != entry.file_id);
        store.files.push(entry);
    }
    store.last_active_at = app.unix_now();
    Ok(())
}

/// `POST vector_stores`.
pub(crate) async fn create(State(app): State<Arc<AppState>>, request: Request) -> Response {
    try_reply!(gate(&app, &request));
    let body = try_reply!(read_object(request).await);
    let name = match body.get("name") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(name)) => name.clone(),
        Some(_) => {
            return ErrorReply::invalid("'name' must be a string", Some("name"), Some("invalid_type")).into_response();
        }
    };
    let file_ids = try_reply!(string_list(body.get("file_ids"), "file_ids"));
    let chunking = try_reply!(parse_chunking(body.get("chunking_strategy"), "chunking_strategy"));
    let metadata = try_reply!(parse_pairs(body.get("metadata"), "metadata"));
    let expires_after = try_reply!(parse_expires_after(body.get("expires_after")));
    let now = app.unix_now();
    let store = StoreEntry {
        id: format!("vs_{}", crate::stats::random_hex(24)),
        name,
        created_at: now,
        last_active_at: now,
        expires_after,
        metadata,
        files: Vec::new(),
    };
    let id = store.id.clone();
    let evicted = {
        let mut inner = app.vector_stores.lock();
        inner.stores.push(store);
        let excess = inner.stores.len().saturating_sub(MAX_STORES);
        inner.stores.drain(..excess).map(|store| store.id).collect::<Vec<_>>()
    };
    for old in evicted {
        app.vector_stores.remove_chunks(&old, None);
    }
    let files =
        file_ids.into_iter().map(|file_id| NewFile { file_id, attributes: None, chunking: chunking.clone() }).collect();
    try_reply!(add_files(&app, &id, files, None));
    respond_store(&app, &id)
}

fn respond_store(app: &AppState, id: &str) -> Response {
    let now = app.time.clock.now();
    let unix_now = app.unix_now();
    let inner = app.vector_stores.lock();
    match inner.stores.iter().find(|store| store.id == id) {
        Some(store) => json_response(StatusCode::OK, &store_object(store, now, unix_now)),
        None => store_not_found(id).into_response(),
    }
}

/// `GET vector_stores`.
pub(crate) async fn list(State(app): State<Arc<AppState>>, request: Request) -> Response {
    try_reply!(gate(&app, &request));
    let params = try_reply!(ListParams::parse(request.uri(), 20, 100));
    let now = app.time.clock.now();
    let unix_now = app.unix_now();
    let items: Vec<VectorStore> =
        app.vector_stores.lock().stores.iter().map(|store| store_object(store, now, unix_now)).collect();
    json_response(StatusCode::OK, &params.page(items))
}

/// `GET vector_stores/{id}`.
pub(crate) async fn retrieve(State(app): State<Arc<AppState>>, Path(id): Path<String>, request: Request) -> Response {
    try_reply!(gate(&app, &request));
    respond_store(&app, &id)
}

/// `POST vector_stores/{id}`.
pub(crate) async fn update(State(app): State<Arc<AppState>>, Path(id): Path<String>, request: Request) -> Response {
    try_reply!(gate(&app, &request));
    let body = try_reply!(read_object(request).await);
    let name = match body.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name.clone()),
        Some(_) => {
            return ErrorReply::invalid("'name' must be a string", Some("name"), Some("invalid_type")).into_response();
        }
    };
    let metadata = try_reply!(parse_pairs(body.get("metadata"), "metadata"));
    let expires_after = try_reply!(parse_expires_after(body.get("expires_after")));
    {
        let mut inner = app.vector_stores.lock();
        let Some(store) = inner.stores.iter_mut().find(|store| store.id == id) else {
            return store_not_found(&id).into_response();
        };
        if let Some(name) = name {
            store.name = name;
        }
        if body.contains_key("metadata") {
            store.metadata = metadata;
        }
        if body.contains_key("expires_after") {
            store.expires_after = expires_after;
        }
    }
    respond_store(&app, &id)
}

/// `DELETE vector_stores/{id}`.
pub(crate) async fn delete(State(app): State<Arc<AppState>>, Path(id): Path<String>, request: Request) -> Response {
    try_reply!(gate(&app, &request));
    let removed = {
        let mut inner = app.vector_stores.lock();
        let before = inner.stores.len();
        inner.stores.retain(|store| store.id != id);
        inner.batches.retain(|batch| batch.store_id != id);
        inner.stores.len() != before
    };
    if !removed {
        return store_not_found(&id).into_response();
    }
    app.vector_stores.remove_chunks(&id, None);
    json_response(StatusCode::OK, &Deleted { id, object: "vector_store.deleted".to_owned(), deleted: true })
}

/// `POST vector_stores/{id}/files`.
pub(crate) async fn add_file(State(app): State<Arc<AppState>>, Path(id): Path<String>, request: Request) -> Response {
    try_reply!(gate(&app, &request));
    let body = try_reply!(read_object(request).await);
    let Some(file_id) = body.get("file_id").and_then(Value::as_str).filter(|id| !id.is_empty()).map(str::to_owned)
    else {
        return ErrorReply::missing("file_id").into_response();
    };
    let chunking = try_reply!(parse_chunking(body.get("chunking_strategy"), "chunking_strategy"));
    let attributes = try_reply!(parse_pairs(body.get("attributes"), "attributes"));
    try_reply!(add_files(&app, &id, vec![NewFile { file_id: file_id.clone(), attributes, chunking }], None));
    respond_file(&app, &id, &file_id)
}

fn respond_file(app: &AppState, store_id: &str, file_id: &str) -> Response {
    let now = app.time.clock.now();
    let inner = app.vector_stores.lock();
    let Some(store) = inner.stores.iter().find(|store| store.id == store_id) else {
        return store_not_found(store_id).into_response();
    };
    match store.files.iter().find(|file| file.file_id == file_id) {
        Some(file) => json_response(StatusCode::OK, &file_object(store_id, file, now)),
        None => file_not_found(store_id, file_id).into_response(),
    }
}

fn status_filter(params: &ListParams) -> Result<Option<String>, ErrorReply> {
    match params.get("filter") {
        None => Ok(None),
        Some(status @ ("in_progress" | "completed" | "failed" | "cancelled")) => Ok(Some(status.to_owned())),
        Some(other) => Err(ErrorReply::invalid(
            format!("'filter' must be one of in_progress, completed, failed, cancelled, not '{other}'"),
            Some("filter"),
            Some("invalid_value"),
        )),
    }
}

/// `GET vector_stores/{id}/files`.
pub(crate) async fn list_files(State(app): State<Arc<AppState>>, Path(id): Path<String>, request: Request) -> Response {
    try_reply!(gate(&app, &request));
    let params = try_reply!(ListParams::parse(request.uri(), 20, 100));
    let filter = try_reply!(status_filter(&params));
    let now = app.time.clock.now();
    let items: Vec<VectorStoreFile> = {
        let inner = app.vector_stores.lock();
        let Some(store) = inner.stores.iter().find(|store| store.id == id) else {
            return store_not_found(&id).into_response();
        };
        store
            .files
            .iter()
            .filter(|file| filter.as_deref().is_none_or(|status| file_status(file, now) == status))
            .map(|file| file_object(&id, file, now))
            .collect()
    };
    json_response(StatusCode::OK, &params.page(items))
}

/// `GET vector_stores/{id}/files/{file_id}`.
pub(crate) async fn retrieve_file(
    State(app): State<Arc<AppState>>,
    Path((id, file_id)): Path<(String, String)>,
    request: Request,
) -> Response {
    try_reply!(gate(&app, &request));
    respond_file(&app, &id, &file_id)
}

/// `POST vector_stores/{id}/files/{file_id}`: new attributes.
pub(crate) async fn update_file(
    State(app): State<Arc<AppState>>,
    Path((id, file_id)): Path<(String, String)>,
    request: Request,
) -> Response {
    try_reply!(gate(&app, &request));
    let body = try_reply!(read_object(request).await);
    if !body.contains_key("attributes") {
        return ErrorReply::missing("attributes").into_response();
    }
    let attributes = try_reply!(parse_pairs(body.get("attributes"), "attributes"));
    {
        let mut inner = app.vector_stores.lock();
        let Some(store) = inner.stores.iter_mut().find(|store| store.id == id) else {
            return store_not_found(&id).into_response();
        };
        let Some(file) = store.files.iter_mut().find(|file| file.file_id == file_id) else {
            return file_not_found(&id, &file_id).into_response();
        };
        file.attributes = attributes;
    }
    respond_file(&app, &id, &file_id)
}

/// `GET vector_stores/{id}/files/{file_id}/content`: the file's chunks as text.
pub(crate) async fn file_content(
    State(app): State<Arc<AppState>>,
    Path((id, file_id)): Path<(String, String)>,
    request: Request,
) -> Response {
    try_reply!(gate(&app, &request));
    {
        let inner = app.vector_stores.lock();
        let Some(store) = inner.stores.iter().find(|store| store.id == id) else {
            return store_not_found(&id).into_response();
        };
        if !store.files.iter().any(|file| file.file_id == file_id) {
            return file_not_found(&id, &file_id).into_response();
        }
    }
    let mut pieces: Vec<(u64, String)> = app
        .vector_stores
        .index
        .as_ref()
        .map(|index| {
            index
                .snapshot()
                .records()
                .filter(|record| {
                    record.fields.get("store").and_then(Value::as_str) == Some(id.as_str())
                        && record.fields.get("file").and_then(Value::as_str) == Some(file_id.as_str())
                })
                .filter_map(|record| {
                    Some((record.fields.get("start")?.as_u64()?, record.fields.get("text")?.as_str()?.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default();
    pieces.sort_by_key(|(start, _)| *start);
    let data: Vec<Value> = pieces.into_iter().map(|(_, text)| json!({"type": "text", "text": text})).collect();
    json_response(
        StatusCode::OK,
        &json!({"object": "vector_store.file_content.page", "data": data, "has_more": false, "next_page": null}),
    )
}

/// `DELETE vector_stores/{id}/files/{file_id}`.
pub(crate) async fn delete_file(
    State(app): State<Arc<AppState>>,
    Path((id, file_id)): Path<(String, String)>,
    request: Request,
) -> Response {
    try_reply!(gate(&app, &request));
    {
        let mut inner = app.vector_stores.lock();
        let Some(store) = inner.stores.iter_mut().find(|store| store.id == id) else {
            return store_not_found(&id).into_response();
        };
        let before = store.files.len();
        store.files.retain(|file| file.file_id != file_id);
        if store.files.len() == before {
            return file_not_found(&id, &file_id).into_response();
        }
    }
    app.vector_stores.remove_chunks(&id, Some(&file_id));
    json_response(
        StatusCode::OK,
        &Deleted { id: file_id, object: "vector_store.file.deleted".to_owned(), deleted: true },
    )
}

/// `POST vector_stores/{id}/file_batches`.
pub(crate) async fn create_batch(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    try_reply!(gate(&app, &request));
    let body = try_reply!(read_object(request).await);
    let chunking = try_reply!(parse_chunking(body.get("chunking_strategy"), "chunking_strategy"));
    let attributes = try_reply!(parse_pairs(body.get("attributes"), "attributes"));
    let mut files = Vec::new();
    let ids = try_reply!(string_list(body.get("file_ids"), "file_ids"));
    match body.get("files") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) if ids.is_empty() => {
            for (index, item) in items.iter().enumerate() {
                let param = format!("files[{index}]");
                let Some(file_id) = item.get("file_id").and_then(Value::as_str).filter(|id| !id.is_empty()) else {
                    return ErrorReply::missing(&format!("{param}.file_id")).into_response();
                };
                let chunking =
                    try_reply!(parse_chunking(item.get("chunking_strategy"), &format!("{param}.chunking_strategy")));
                let attributes = try_reply!(parse_pairs(item.get("attributes"), &format!("{param}.attributes")));
                files.push(NewFile { file_id: file_id.to_owned(), attributes, chunking });
            }
        }
        Some(Value::Array(_)) => {
            return ErrorReply::invalid(
                "'file_ids' and 'files' are mutually exclusive",
                Some("files"),
                Some("invalid_value"),
            )
            .into_response();
        }
        Some(_) => {
            return ErrorReply::invalid("'files' must be an array", Some("files"), Some("invalid_type"))
                .into_response();
        }
    }
    files.extend(ids.into_iter().map(|file_id| NewFile {
        file_id,
        attributes: attributes.clone(),
        chunking: chunking.clone(),
    }));
    if files.is_empty() {
        return ErrorReply::missing("file_ids").into_response();
    }
    if files.len() > 2000 {
        return ErrorReply::invalid("A file batch holds at most 2000 files.", Some("file_ids"), Some("invalid_value"))
            .into_response();
    }
    let batch = BatchEntry {
        id: format!("vsfb_{}", crate::stats::random_hex(24)),
        store_id: id.clone(),
        created_at: app.unix_now(),
        cancelled: false,
    };
    let batch_id = batch.id.clone();
    try_reply!(add_files(&app, &id, files, Some(&batch_id)));
    {
        let mut inner = app.vector_stores.lock();
        inner.batches.push(batch);
        let excess = inner.batches.len().saturating_sub(MAX_BATCHES);
        inner.batches.drain(..excess);
    }
    respond_batch(&app, &id, &batch_id)
}

fn respond_batch(app: &AppState, store_id: &str, batch_id: &str) -> Response {
    let now = app.time.clock.now();
    let inner = app.vector_stores.lock();
    let Some(batch) = inner.batches.iter().find(|batch| batch.id == batch_id && batch.store_id == store_id) else {
        return batch_not_found(batch_id).into_response();
    };
    let store = inner.stores.iter().find(|store| store.id == store_id);
    json_response(StatusCode::OK, &batch_object(batch, store, now))
}

/// `GET vector_stores/{id}/file_batches/{batch_id}`.
pub(crate) async fn retrieve_batch(
    State(app): State<Arc<AppState>>,
    Path((id, batch_id)): Path<(String, String)>,
    request: Request,
) -> Response {
    try_reply!(gate(&app, &request));
    respond_batch(&app, &id, &batch_id)
}

/// `POST vector_stores/{id}/file_batches/{batch_id}/cancel`.
pub(crate) async fn cancel_batch(
    State(app): State<Arc<AppState>>,
    Path((id, batch_id)): Path<(String, String)>,
    request: Request,
) -> Response {
    try_reply!(gate(&app, &request));
    let now = app.time.clock.now();
    let cancelled_files: Vec<String> = {
        let mut guard = app.vector_stores.lock();
        let inner = &mut *guard;
        let Some(batch) = inner.batches.iter_mut().find(|batch| batch.id == batch_id && batch.store_id == id) else {
            return batch_not_found(&batch_id).into_response();
        };
        let Some(store) = inner.stores.iter_mut().find(|store| store.id == id) else {
            return store_not_found(&id).into_response();
        };
        let mut cancelled = Vec::new();
        for file in store.files.iter_mut().filter(|file| file.batch_id.as_deref() == Some(batch_id.as_str())) {
            if file_status(file, now) == "in_progress" {
                file.cancelled = true;
                cancelled.push(file.file_id.clone());
            }
        }
        if !cancelled.is_empty() {
            batch.cancelled = true;
        }
        cancelled
    };
    for file_id in cancelled_files {
        app.vector_stores.remove_chunks(&id, Some(&file_id));
    }
    respond_batch(&app, &id, &batch_id)
}

/// `GET vector_stores/{id}/file_batches/{batch_id}/files`.
pub(crate) async fn list_batch_files(
    State(app): State<Arc<AppState>>,
    Path((id, batch_id)): Path<(String, String)>,
    request: Request,
) -> Response {
    try_reply!(gate(&app, &request));
    let params = try_reply!(ListParams::parse(request.uri(), 20, 100));
    let filter = try_reply!(status_filter(&params));
    let now = app.time.clock.now();
    let items: Vec<VectorStoreFile> = {
        let inner = app.vector_stores.lock();
        if !inner.batches.iter().any(|batch| batch.id == batch_id && batch.store_id == id) {
            return batch_not_found(&batch_id).into_response();
        }
        let Some(store) = inner.stores.iter().find(|store| store.id == id) else {
            return store_not_found(&id).into_response();
        };
        store
            .files
            .iter()
            .filter(|file| file.batch_id.as_deref() == Some(batch_id.as_str()))
            .filter(|file| filter.as_deref().is_none_or(|status| file_status(file, now) == status))
            .map(|file| file_object(&id, file, now))
            .collect()
    };
    json_response(StatusCode::OK, &params.page(items))
}

/// `POST vector_stores/{id}/search`.
pub(crate) async fn search(State(app): State<Arc<AppState>>, Path(id): Path<String>, request: Request) -> Response {
    try_reply!(gate(&app, &request));
    let body = try_reply!(read_object(request).await);
    let queries: Vec<String> = match body.get("query") {
        Some(Value::String(text)) => vec![text.clone()],
        Some(Value::Array(_)) => try_reply!(string_list(body.get("query"), "query")),
        None | Some(Value::Null) => return ErrorReply::missing("query").into_response(),
        Some(_) => {
            return ErrorReply::invalid(
                "'query' must be a string or an array of strings",
                Some("query"),
                Some("invalid_type"),
            )
            .into_response();
        }
    };
    let max = match body.get("max_num_results") {
        None | Some(Value::Null) => 10,
        Some(value) => match value.as_u64().filter(|max| (1..=50).contains(max)) {
            Some(max) => max as usize,
            None => {
                return ErrorReply::invalid(
                    "'max_num_results' must be an integer between 1 and 50",
                    Some("max_num_results"),
                    Some("invalid_value"),
                )
                .into_response();
            }
        },
    };
    let filters = body.get("filters").filter(|value| !value.is_null());
    if let Some(filters) = filters {
        try_reply!(check_filter(filters, 0));
    }
    let threshold = match body.get("ranking_options").and_then(|options| options.get("score_threshold")) {
        None | Some(Value::Null) => 0.0,
        Some(value) => match value.as_f64().filter(|threshold| (0.0..=1.0).contains(threshold)) {
            Some(threshold) => threshold,
            None => {
                return ErrorReply::invalid(
                    "'ranking_options.score_threshold' must be a number between 0 and 1",
                    Some("ranking_options.score_threshold"),
                    Some("invalid_value"),
                )
                .into_response();
            }
        },
    };
    let joined = queries.join(" ");
    let passages = try_reply!(app.search_filtered(std::slice::from_ref(&id), &joined, max, filters));
    let data: Vec<SearchResult> = passages
        .into_iter()
        .filter(|passage| passage.score >= threshold)
        .map(|passage| SearchResult {
            file_id: passage.file_id,
            filename: passage.filename,
            score: passage.score,
            attributes: Some(passage.attributes),
            content: vec![SearchContent { kind: "text".to_owned(), text: passage.text }],
            extra: Map::new(),
        })
        .collect();
    let results = VectorStoreSearchResults {
        object: "vector_store.search_results.page".to_owned(),
        search_query: queries,
        data,
        has_more: false,
        next_page: None,
        extra: Map::new(),
    };
    json_response(StatusCode::OK, &results)
}

/// The routes, under both prefixes.
pub(crate) fn routes(router: axum::Router<Arc<AppState>>) -> axum::Router<Arc<AppState>> {
    use axum::routing::{get, post};
    let mut router = router;
    for prefix in ["/openai", "/openai/v1"] {
        router = router
            .route(&format!("{prefix}/vector_stores"), post(create).get(list))
            .route(&format!("{prefix}/vector_stores/{{id}}"), get(retrieve).post(update).delete(delete))
            .route(&format!("{prefix}/vector_stores/{{id}}/files"), post(add_file).get(list_files))
            .route(
                &format!("{prefix}/vector_stores/{{id}}/files/{{file_id}}"),
                get(retrieve_file).post(update_file).delete(delete_file),
            )
            .route(&format!("{prefix}/vector_stores/{{id}}/files/{{file_id}}/content"), get(file_content))
            .route(&format!("{prefix}/vector_stores/{{id}}/file_batches"), post(create_batch))
            .route(&format!("{prefix}/vector_stores/{{id}}/file_batches/{{batch_id}}"), get(retrieve_batch))
            .route(&format!("{prefix}/vector_stores/{{id}}/file_batches/{{batch_id}}/cancel"), post(cancel_batch))
            .route(&format!("{prefix}/vector_stores/{{id}}/file_batches/{{batch_id}}/files"), get(list_batch_files))
            .route(&format!("{prefix}/vector_stores/{{id}}/search"), post(search));
    }
    router
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aoai_core::clock::{ManualClock, Time};
    use bytes::Bytes;

    use super::*;
    use crate::config::EmulatorConfig;

    fn app(clock: &ManualClock) -> AppState {
        let config = EmulatorConfig::default().time(Time::manual(clock)).batch_step(Duration::from_millis(100));
        AppState::new(&config, None).unwrap()
    }

    fn new_store(app: &AppState, id: &str) {
        app.vector_stores.lock().stores.push(StoreEntry {
            id: id.to_owned(),
            name: String::new(),
            created_at: 0,
            last_active_at: 0,
            expires_after: None,
            metadata: None,
            files: Vec::new(),
        });
    }

    #[test]
    fn file_search_merges_stores_once_files_are_ready() {
        let clock = ManualClock::new();
        let app = app(&clock);
        let leave = app.files.insert(
            "assistants",
            "leave.md",
            Bytes::from_static(b"Employees get 25 days of paid leave each year."),
            1,
        );
        let bikes = app.files.insert(
            "assistants",
            "bikes.md",
            Bytes::from_static(b"Bicycles are parked in the basement garage."),
            1,
        );
        let binary = app.files.insert("assistants", "logo.png", Bytes::from_static(b"\x89PNG\0\0"), 1);
        new_store(&app, "vs_a");
        new_store(&app, "vs_b");
        let chunking = parse_chunking(None, "chunking_strategy").unwrap();
        let new = |id: &str| NewFile { file_id: id.to_owned(), attributes: None, chunking: chunking.clone() };
        add_files(&app, "vs_a", vec![new(&leave.id), new(&binary.id)], None).unwrap();
        add_files(&app, "vs_b", vec![new(&bikes.id)], None).unwrap();
        let ids = vec!["vs_a".to_owned(), "vs_b".to_owned()];
        assert!(app.file_search(&ids, "paid leave", 5).unwrap().is_empty(), "nothing is searchable while in progress");
        clock.advance(Duration::from_millis(100));
        let passages = app.file_search(&ids, "paid leave basement", 5).unwrap();
        assert_eq!(passages.len(), 2);
        assert!(passages[0].score >= passages[1].score && passages[0].score < 1.0);
        let leave_hit = passages.iter().find(|passage| passage.file_id == leave.id).unwrap();
        assert_eq!(leave_hit.filename, "leave.md");
        assert_eq!(leave_hit.bytes, 0..leave_hit.text.len());
        assert_eq!(app.file_search(&ids, "paid leave basement", 5).unwrap(), passages, "deterministic");
        let inner = app.vector_stores.lock();
        let failed = inner.stores[0].files.iter().find(|file| file.file_id == binary.id).unwrap();
        assert_eq!(file_status(failed, clock_now(&app)), "failed");
        drop(inner);
        let missing = app.file_search(&["vs_missing".to_owned()], "x", 5).unwrap_err();
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
    }

    fn clock_now(app: &AppState) -> Instant {
        app.time.clock.now()
    }

    #[test]
    fn list_params_page_both_ways() {
        let items: Vec<Value> = (0..5).map(|i| json!({"id": format!("x{i}")})).collect();
        let paged = |params: &ListParams, items: Vec<Value>| serde_json::to_value(params.page(items)).unwrap();
        let uri: Uri = "/x?limit=2&order=asc&after=x0".parse().unwrap();
        let page = paged(&ListParams::parse(&uri, 20, 100).unwrap(), items.clone());
        assert_eq!(page["data"], json!([{"id": "x1"}, {"id": "x2"}]));
        assert_eq!(page["has_more"], true);
        let uri: Uri = "/x?limit=10".parse().unwrap();
        let page = paged(&ListParams::parse(&uri, 20, 100).unwrap(), items.clone());
        assert_eq!(page["first_id"], "x4", "newest first by default");
        assert_eq!(page["has_more"], false);
        let uri: Uri = "/x?before=x2&order=asc".parse().unwrap();
        let page = paged(&ListParams::parse(&uri, 20, 100).unwrap(), items);
        assert_eq!(page["data"], json!([{"id": "x0"}, {"id": "x1"}]));
        for bad in ["/x?limit=0", "/x?limit=abc", "/x?limit=101", "/x?order=up"] {
            assert!(ListParams::parse(&bad.parse().unwrap(), 20, 100).is_err(), "{bad}");
        }
        assert_eq!(percent_decode("a%20b+c%2"), "a b c%2");
    }

    #[test]
    fn filters_match_attributes() {
        let attributes: Map<String, Value> =
            serde_json::from_value(json!({"lang": "en", "year": 2024, "public": true})).unwrap();
        let yes = json!({"type": "and", "filters": [
            {"type": "eq", "key": "lang", "value": "en"},
            {"type": "gte", "key": "year", "value": 2020},
            {"type": "or", "filters": [{"type": "eq", "key": "public", "value": true}, {"type": "eq", "key": "x", "value": 1}]}
        ]});
        assert!(check_filter(&yes, 0).is_ok());
        assert!(matches_filter(&yes, &attributes));
        assert!(!matches_filter(&json!({"type": "lt", "key": "year", "value": 2024}), &attributes));
        assert!(matches_filter(&json!({"type": "ne", "key": "missing", "value": 1}), &attributes));
        assert!(check_filter(&json!({"type": "like", "key": "a", "value": 1}), 0).is_err());
        assert!(check_filter(&json!({"type": "eq", "key": "a", "value": [1]}), 0).is_err());
    }

    #[test]
    fn chunking_strategies_are_checked() {
        assert_eq!(parse_chunking(None, "c").unwrap().max_tokens, 800);
        assert_eq!(parse_chunking(Some(&json!({"type": "auto"})), "c").unwrap().overlap, 400);
        let fixed = json!({"type": "static", "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 50}});
        assert_eq!(parse_chunking(Some(&fixed), "c").unwrap().max_tokens, 200);
        for bad in [
            json!({"type": "static", "static": {"max_chunk_size_tokens": 50, "chunk_overlap_tokens": 0}}),
            json!({"type": "static", "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 150}}),
            json!({"type": "semantic"}),
            json!({"type": "static"}),
        ] {
            assert!(parse_chunking(Some(&bad), "c").is_err(), "{bad}");
        }
    }
}
