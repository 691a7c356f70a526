//! Knowledge for `file_search`: a vector store kept in step with a
//! directory, an expiry policy for it, and searching it.
//!
//! [`create_from_directory`] makes a vector store and fills it;
//! [`sync`] brings an existing one up to date: it uploads new files,
//! replaces changed ones and removes the files deleted from the directory
//! (from the store, and their uploads). Each file the sync manages carries
//! the attributes `path` (relative, `/`-separated), `sha256` (of the
//! content) and `title` (the first Markdown heading, else the file name);
//! files of the store without a `path` attribute are left alone.
//!
//! Files are read whole. Hidden files and directories (a leading `.`),
//! symbolic links, binary files (a NUL byte, or not UTF-8) and files over
//! [`SyncOptions::max_file_bytes`] are skipped and reported; files with
//! identical content are uploaded once (the first path in order) and the
//! others reported as duplicates.
//!
//! # Expiry
//!
//! A store can expire a number of days after its last use (a search, a
//! file added): the service then stops searching it and its status turns
//! `expired` for good. [`SyncOptions::expiry`] sets the policy
//! ([`Expiry::never`] or [`Expiry::days_after_last_active`], 1–365 days):
//! a created store gets it, and a sync of an existing store whose policy
//! differs changes it ([`SyncReport::expiry_updated`]). Without a policy a
//! created store never expires and an existing store's policy is left as
//! it is. A sync reads the store before anything else: an expired store is
//! an error of kind [`KnowledgeErrorKind::StoreExpired`] and nothing is
//! uploaded (make a new store with [`create_from_directory`]). The report
//! carries the store's [`expires_at`](SyncReport::expires_at) after the
//! sync.
//!
//! ```no_run
//! use std::path::Path;
//!
//! use aoai_assistants::knowledge::{self, Expiry, SyncOptions};
//! # async fn demo(client: aoai_core::Client) -> Result<(), Box<dyn std::error::Error>> {
//! let options = SyncOptions::default().expiry(Expiry::days_after_last_active(30)?);
//! let report = knowledge::create_from_directory(&client, "handbook", Path::new("handbook"), &options, &mut |_| {})
//!     .await?;
//! println!("{} expires at {:?} (unix seconds)", report.vector_store_id, report.expires_at);
//! # Ok(())
//! # }
//! ```
//!
//! # Search
//!
//! [`search`] asks a store for the passages that match a query, best
//! first, outside any assistant run: each [`Passage`] carries the file's
//! id and name, its managed `path` and `title`, the score and the text,
//! the fields a [`Citation`](crate::Citation) of an answer has, so answers
//! and searches print alike. [`SearchOptions`] caps the results, drops low
//! scores, lets the service rewrite the query, and filters on attributes
//! with an [`AttributeFilter`]: equality (`eq`, `ne`), `and`/`or`, and a
//! path prefix. The service's filters have no prefix operator, so
//! [`AttributeFilter::path_prefix`] lists the store's files and sends an
//! `or` of `eq` filters on `path` for the paths that start with the
//! prefix.
//!
//! ```no_run
//! use aoai_assistants::knowledge::{self, AttributeFilter, SearchOptions};
//! # async fn demo(client: aoai_core::Client) -> aoai_assistants::Result<()> {
//! let options = SearchOptions::default().max_results(5).filter(AttributeFilter::path_prefix("policies/"));
//! for passage in knowledge::search(&client, "vs_handbook", "days of paid leave", &options).await? {
//!     println!("{:.3} {} {}", passage.score, passage.path.as_deref().unwrap_or(&passage.filename), passage.text);
//! }
//! # Ok(())
//! # }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use aoai_core::Client;
use aoai_core::files::FilePurpose;
use aoai_core::vector_stores::{
    AddVectorStoreFile, CreateVectorStore, ExpiresAfter, IngestionProgress, IngestionReport, PollOptions, SearchResult,
    UpdateVectorStore, VectorStore, VectorStoreFile, VectorStoreFileListQuery, VectorStoreSearchRequest,
    VectorStoreStatus,
};
use bytes::Bytes;
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::error::{Error, ExpiryError, KnowledgeError, KnowledgeErrorKind, Result};

/// The attribute holding a managed file's relative path.
pub const PATH_ATTRIBUTE: &str = "path";
/// The attribute holding a managed file's content hash (SHA-256, hex).
pub const HASH_ATTRIBUTE: &str = "sha256";
/// The attribute holding a managed file's title.
pub const TITLE_ATTRIBUTE: &str = "title";

/// When a vector store expires: never, or a number of days (1–365) after
/// its last use (the service's `expires_after` with the anchor
/// `last_active_at`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Expiry {
    days: Option<u16>,
}

impl Expiry {
    /// The store never expires.
    #[must_use]
    pub fn never() -> Self {
        Self { days: None }
    }

    /// The store expires `days` days after it was last used.
    ///
    /// # Errors
    ///
    /// [`ExpiryError`] when `days` is not within 1–365 (what the service takes).
    pub fn days_after_last_active(days: u32) -> Result<Self, ExpiryError> {
        match u16::try_from(days) {
            Ok(short @ 1..=365) => Ok(Self { days: Some(short) }),
            _ => Err(ExpiryError::new(days)),
        }
    }

    /// The days after the last use, or `None` for a store that never expires.
    #[must_use]
    pub fn days(&self) -> Option<u32> {
        self.days.map(u32::from)
    }

    /// The policy as the service has it (`None`: no `expires_after`).
    #[must_use]
    pub fn to_expires_after(&self) -> Option<ExpiresAfter> {
        self.days().map(ExpiresAfter::days_after_last_active)
    }

    /// The policy of a store, from its `expires_after`; `None` when it is
    /// one this type does not express (another anchor, days out of range).
    #[must_use]
    pub fn of_store(expires_after: Option<&ExpiresAfter>) -> Option<Self> {
        match expires_after {
            None => Some(Self::never()),
            Some(after) if after.anchor == "last_active_at" => Self::days_after_last_active(after.days).ok(),
            Some(_) => None,
        }
    }
}

impl std::fmt::Display for Expiry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.days {
            None => f.write_str("never expires"),
            Some(1) => f.write_str("expires 1 day after its last use"),
            Some(days) => write!(f, "expires {days} days after its last use"),
        }
    }
}

/// How a directory is synced.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SyncOptions {
    /// Files larger than this are skipped (default 10 MiB).
    pub max_file_bytes: u64,
    /// How ingestion is awaited.
    pub poll: PollOptions,
    /// The store's expiry policy: a created store gets it, an existing
    /// store whose policy differs is updated. `None` (the default): a
    /// created store never expires, an existing store's policy is kept.
    pub expiry: Option<Expiry>,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self { max_file_bytes: 10 * 1024 * 1024, poll: PollOptions::default(), expiry: None }
    }
}

impl SyncOptions {
    /// Sets the largest file read.
    #[must_use]
    pub fn max_file_bytes(mut self, bytes: u64) -> Self {
        self.max_file_bytes = bytes;
        self
    }

    /// Sets how ingestion is awaited.
    #[must_use]
    pub fn poll(mut self, poll: PollOptions) -> Self {
        self.poll = poll;
        self
    }

    /// Sets the store's expiry policy (see [`SyncOptions::expiry`](Self#structfield.expiry)).
    #[must_use]
    pub fn expiry(mut self, expiry: Expiry) -> Self {
        self.expiry = Some(expiry);
        self
    }
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct SyncReport {
    /// The store.
    pub vector_store_id: String,
    /// Paths uploaded for the first time.
    pub added: Vec<String>,
    /// Paths whose content changed, replaced.
    pub updated: Vec<String>,
    /// Paths deleted from the directory, removed from the store.
    pub removed: Vec<String>,
    /// Paths already in the store with the same content.
    pub unchanged: Vec<String>,
    /// Paths with the same content as an earlier path, not uploaded: (path, the path uploaded).
    pub duplicates: Vec<(String, String)>,
    /// Paths not read: (path, why).
    pub skipped: Vec<(String, String)>,
    /// The store's files after ingestion (empty when nothing was added).
    pub ingestion: Option<IngestionReport>,
    /// Whether the store's expiry policy was changed to [`SyncOptions::expiry`](SyncOptions#structfield.expiry).
    pub expiry_updated: bool,
    /// When the store expires after the sync (unix seconds; `None` when it never does).
    pub expires_at: Option<u64>,
}

/// A file found in the directory.
struct LocalFile {
    path: String,
    content: Bytes,
    sha256: String,
    title: String,
}

/// Creates a vector store named `name` from the files under `directory`
/// and waits for ingestion, calling `progress` after every poll.
///
/// # Errors
///
/// [`Error::Knowledge`] when the directory cannot be read or a call fails.
pub async fn create_from_directory(
    client: &Client,
    name: &str,
    directory: &Path,
    options: &SyncOptions,
    progress: &mut (dyn FnMut(IngestionProgress) + Send),
) -> Result<SyncReport> {
    let mut request = CreateVectorStore::new().name(name);
    if let Some(expires_after) = options.expiry.as_ref().and_then(Expiry::to_expires_after) {
        request = request.expires_after(expires_after);
    }
    let store = client
        .create_vector_store(&request)
        .await
        .map_err(|error| request_error(name, "cannot create the vector store", error))?
        .body;
    sync(client, &store.id, directory, options, progress).await
}

/// Brings the vector store `vector_store_id` in step with `directory` (see
/// the [module docs](self)) and waits for ingestion of what was added.
///
/// The store is read first: a store that does not exist or has expired is
/// an error before anything is read or uploaded. Then its expiry policy is
/// brought to [`SyncOptions::expiry`](SyncOptions#structfield.expiry) when one is set.
///
/// # Errors
///
/// [`Error::Knowledge`] of kind [`KnowledgeErrorKind::StoreNotFound`] or
/// [`KnowledgeErrorKind::StoreExpired`] for the store,
/// [`KnowledgeErrorKind::Directory`] when the directory cannot be read, and
/// [`KnowledgeErrorKind::Request`] when a call fails; files changed before
/// the failure stay changed (a new sync finishes the job).
pub async fn sync(
    client: &Client,
    vector_store_id: &str,
    directory: &Path,
    options: &SyncOptions,
    progress: &mut (dyn FnMut(IngestionProgress) + Send),
) -> Result<SyncReport> {
    let mut report = SyncReport { vector_store_id: vector_store_id.to_owned(), ..SyncReport::default() };
    let store = retrieve_store(client, vector_store_id).await?;
    if store.status == VectorStoreStatus::Expired {
        return Err(expired_error(&store));
    }
    let root = directory.to_owned();
    let max_bytes = options.max_file_bytes;
    let (files, skipped) = tokio::task::spawn_blocking(move || read_directory(&root, max_bytes))
        .await
        .map_err(|error| directory_error("", &format!("reading the directory stopped: {error}")))??;
    report.skipped = skipped;
    if let Some(policy) = options.expiry
        && Expiry::of_store(store.expires_after.as_ref()) != Some(policy)
    {
        let update = match policy.to_expires_after() {
            Some(expires_after) => UpdateVectorStore::new().expires_after(expires_after),
            None => UpdateVectorStore::new().never_expires(),
        };
        client
            .update_vector_store(vector_store_id, &update)
            .await
            .map_err(|error| store_error(vector_store_id, "cannot change the store's expiry policy", error))?;
        report.expiry_updated = true;
    }

    let remote: Vec<VectorStoreFile> = client
        .list_vector_store_files(vector_store_id, &VectorStoreFileListQuery::new())
        .try_collect()
        .await
        .map_err(|error| store_error(vector_store_id, "cannot list the store's files", error))?;
    // Managed files by path: (file id, hash).
    let mut managed: BTreeMap<String, (String, String)> = BTreeMap::new();
    for file in &remote {
        let attribute = |key: &str| file.attributes.as_ref().and_then(|map| map.get(key)).and_then(Value::as_str);
        if let Some(path) = attribute(PATH_ATTRIBUTE) {
            managed.insert(path.to_owned(), (file.id.clone(), attribute(HASH_ATTRIBUTE).unwrap_or("").to_owned()));
        }
    }

    let mut first_with_hash: HashMap<String, String> = HashMap::new();
    let mut added_any = false;
    for file in files {
        if let Some(original) = first_with_hash.get(&file.sha256) {
            report.duplicates.push((file.path, original.clone()));
            continue;
        }
        first_with_hash.insert(file.sha256.clone(), file.path.clone());
        match managed.remove(&file.path) {
            Some((_, hash)) if hash == file.sha256 => report.unchanged.push(file.path),
            Some((old_id, _)) => {
                remove(client, vector_store_id, &file.path, &old_id).await?;
                upload(client, vector_store_id, &file).await?;
                added_any = true;
                report.updated.push(file.path);
            }
            None => {
                upload(client, vector_store_id, &file).await?;
                added_any = true;
                report.added.push(file.path);
            }
        }
    }
    // What is left was deleted from the directory (or is now a duplicate).
    for (path, (file_id, _)) in managed {
        remove(client, vector_store_id, &path, &file_id).await?;
        report.removed.push(path);
    }
    if added_any {
        let ingestion = client
            .wait_for_vector_store(vector_store_id, &options.poll, progress)
            .await
            .map_err(|error| store_error(vector_store_id, "waiting for ingestion failed", error))?;
        report.ingestion = Some(ingestion);
    }
    // Uploads and updates move `expires_at`: read it once everything is done.
    report.expires_at = retrieve_store(client, vector_store_id).await?.expires_at;
    Ok(report)
}

/// The store, or an error of kind `StoreNotFound` (404) or `Request`.
async fn retrieve_store(client: &Client, vector_store_id: &str) -> Result<VectorStore> {
    Ok(client
        .retrieve_vector_store(vector_store_id)
        .await
        .map_err(|error| store_error(vector_store_id, "cannot read the vector store", error))?
        .body)
}

fn expired_error(store: &VectorStore) -> Error {
    let when = store.expires_at.map_or_else(String::new, |at| format!(" at {at} (unix seconds)"));
    let policy = Expiry::of_store(store.expires_after.as_ref())
        .filter(|policy| policy.days().is_some())
        .map_or_else(String::new, |policy| format!("; its policy: it {policy}"));
    Error::Knowledge(KnowledgeError::new(
        KnowledgeErrorKind::StoreExpired,
        &store.id,
        format!(
            "the vector store expired{when}{policy}; an expired store is no longer searched and cannot be filled \
             again: make a new one (knowledge::create_from_directory) and delete this one"
        ),
        None,
    ))
}

async fn upload(client: &Client, vector_store_id: &str, file: &LocalFile) -> Result<()> {
    let name = file.path.rsplit('/').next().unwrap_or(&file.path);
    let uploaded = client
        .upload_file_for(&FilePurpose::Assistants, name, file.content.clone())
        .await
        .map_err(|error| request_error(&file.path, "upload failed", error))?
        .body;
    let request = AddVectorStoreFile::new(uploaded.id)
        .attribute(PATH_ATTRIBUTE, file.path.clone())
        .attribute(HASH_ATTRIBUTE, file.sha256.clone())
        .attribute(TITLE_ATTRIBUTE, file.title.clone());
    client
        .add_vector_store_file(vector_store_id, &request)
        .await
        .map_err(|error| request_error(&file.path, "adding the file to the store failed", error))?;
    Ok(())
}

/// Removes a managed file from the store and deletes its upload (a 404
/// there means it is already gone).
async fn remove(client: &Client, vector_store_id: &str, path: &str, file_id: &str) -> Result<()> {
    client
        .delete_vector_store_file(vector_store_id, file_id)
        .await
        .map_err(|error| request_error(path, "removing the file from the store failed", error))?;
    match client.delete_file(file_id).await {
        Ok(_) => Ok(()),
        Err(error) if error.is_not_found() => Ok(()),
        Err(error) => Err(request_error(path, "deleting the uploaded file failed", error)),
    }
}

/// How a store is searched (see [`search`]).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
#[must_use]
pub struct SearchOptions {
    /// At most this many passages (1–50; the service's default is 10).
    pub max_results: Option<u32>,
    /// Passages scoring below this (0–1) are dropped.
    pub score_threshold: Option<f64>,
    /// Only files whose attributes pass this filter.
    pub filter: Option<AttributeFilter>,
    /// Whether the service may rewrite the query first.
    pub rewrite_query: Option<bool>,
}

impl SearchOptions {
    /// Sets the most passages returned (1–50).
    pub fn max_results(mut self, max: u32) -> Self {
        self.max_results = Some(max);
        self
    }

    /// Drops passages scoring below `threshold` (0–1).
    pub fn score_threshold(mut self, threshold: f64) -> Self {
        self.score_threshold = Some(threshold);
        self
    }

    /// Searches only the files whose attributes pass `filter`.
    pub fn filter(mut self, filter: AttributeFilter) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Lets the service rewrite the query (or forbids it).
    pub fn rewrite_query(mut self, rewrite: bool) -> Self {
        self.rewrite_query = Some(rewrite);
        self
    }
}

/// A filter on the attributes of a store's files, sent as the comparison
/// (`{"type":"eq","key":…,"value":…}`) and compound
/// (`{"type":"and"|"or","filters":[…]}`) filters the service takes.
///
/// ```
/// use aoai_assistants::knowledge::AttributeFilter;
///
/// // Markdown under `policies/` whose title is not "Draft".
/// let filter = AttributeFilter::all([AttributeFilter::path_prefix("policies/"), AttributeFilter::ne("title", "Draft")]);
/// # let _ = filter;
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct AttributeFilter {
    node: FilterNode,
}

#[derive(Debug, Clone, PartialEq)]
enum FilterNode {
    Compare { operator: &'static str, key: String, value: Value },
    PathPrefix(String),
    All(Vec<AttributeFilter>),
    Any(Vec<AttributeFilter>),
}

impl AttributeFilter {
    /// Files whose attribute `key` equals `value` (a string, number or boolean).
    pub fn eq(key: impl Into<String>, value: impl Into<Value>) -> Self {
        Self { node: FilterNode::Compare { operator: "eq", key: key.into(), value: value.into() } }
    }

    /// Files whose attribute `key` differs from `value` (or is missing).
    pub fn ne(key: impl Into<String>, value: impl Into<Value>) -> Self {
        Self { node: FilterNode::Compare { operator: "ne", key: key.into(), value: value.into() } }
    }

    /// The managed file at `path` (relative, `/`-separated, as synced).
    pub fn path(path: impl Into<String>) -> Self {
        Self::eq(PATH_ATTRIBUTE, path.into())
    }

    /// The managed files whose path starts with `prefix` (a directory:
    /// end it with `/`). The service has no prefix operator: [`search`]
    /// lists the store's files and sends an `or` of `eq` filters on `path`
    /// for the paths that match then (a file added later is not included
    /// until the next search).
    pub fn path_prefix(prefix: impl Into<String>) -> Self {
        Self { node: FilterNode::PathPrefix(prefix.into()) }
    }

    /// Files that pass every filter (`and`).
    pub fn all(filters: impl IntoIterator<Item = AttributeFilter>) -> Self {
        Self { node: FilterNode::All(filters.into_iter().collect()) }
    }

    /// Files that pass any of the filters (`or`).
    pub fn any(filters: impl IntoIterator<Item = AttributeFilter>) -> Self {
        Self { node: FilterNode::Any(filters.into_iter().collect()) }
    }

    /// Whether the wire form needs the store's managed paths.
    fn needs_paths(&self) -> bool {
        match &self.node {
            FilterNode::Compare { .. } => false,
            FilterNode::PathPrefix(_) => true,
            FilterNode::All(filters) | FilterNode::Any(filters) => filters.iter().any(Self::needs_paths),
        }
    }

    /// The filter as the service takes it; `paths` are the store's managed paths.
    fn to_wire(&self, paths: &[String]) -> Value {
        match &self.node {
            FilterNode::Compare { operator, key, value } => json!({"type": operator, "key": key, "value": value}),
            FilterNode::PathPrefix(prefix) => {
                let mut matching: Vec<Value> = paths
                    .iter()
                    .filter(|path| path.starts_with(prefix.as_str()))
                    .map(|path| json!({"type": "eq", "key": PATH_ATTRIBUTE, "value": path}))
                    .collect();
                match matching.len() {
                    // No path starts with the prefix, so none equals it: this matches nothing.
                    0 => json!({"type": "eq", "key": PATH_ATTRIBUTE, "value": prefix}),
                    1 => matching.pop().unwrap_or(Value::Null),
                    _ => json!({"type": "or", "filters": matching}),
                }
            }
            FilterNode::All(filters) => compound("and", filters, paths),
            FilterNode::Any(filters) => compound("or", filters, paths),
        }
    }
}

fn compound(kind: &str, filters: &[AttributeFilter], paths: &[String]) -> Value {
    let filters: Vec<Value> = filters.iter().map(|filter| filter.to_wire(paths)).collect();
    json!({"type": kind, "filters": filters})
}

/// A passage found by [`search`]: a file's matching text with the fields a
/// [`Citation`](crate::Citation) has (file id and name, score), the managed
/// attributes `path` and `title`, and every attribute of the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Passage {
    /// The file's id (`file-…`).
    pub file_id: String,
    /// The file's name.
    pub filename: String,
    /// Its relative path, for a file a sync manages.
    pub path: Option<String>,
    /// Its title, for a file a sync manages.
    pub title: Option<String>,
    /// Relevance, 0–1, higher is better.
    pub score: f64,
    /// The matching text (the result's chunks, joined by newlines).
    pub text: String,
    /// Every attribute of the file.
    pub attributes: Map<String, Value>,
}

impl Passage {
    fn from_result(result: SearchResult) -> Self {
        let text = result.text();
        let attributes = result.attributes.unwrap_or_default();
        let attribute = |key: &str| attributes.get(key).and_then(Value::as_str).map(str::to_owned);
        let path = attribute(PATH_ATTRIBUTE);
        let title = attribute(TITLE_ATTRIBUTE);
        Self { file_id: result.file_id, filename: result.filename, path, title, score: result.score, text, attributes }
    }
}

/// Searches the vector store `vector_store_id` for `query` and returns the
/// passages found, best first (see the [module docs](self#search)).
///
/// # Errors
///
/// [`Error::Knowledge`] of kind [`KnowledgeErrorKind::StoreNotFound`] when
/// the store does not exist, else [`KnowledgeErrorKind::Request`] when a
/// call fails (`max_results` outside 1–50 fails before anything is sent).
pub async fn search(
    client: &Client,
    vector_store_id: &str,
    query: &str,
    options: &SearchOptions,
) -> Result<Vec<Passage>> {
    let mut request = VectorStoreSearchRequest::new(query);
    if let Some(max) = options.max_results {
        request = request.max_num_results(max);
    }
    if let Some(threshold) = options.score_threshold {
        request = request.score_threshold(threshold);
    }
    if let Some(rewrite) = options.rewrite_query {
        request = request.rewrite_query(rewrite);
    }
    if let Some(filter) = &options.filter {
        let paths = if filter.needs_paths() { managed_paths(client, vector_store_id).await? } else { Vec::new() };
        request = request.filters(filter.to_wire(&paths));
    }
    let results = client
        .search_vector_store(vector_store_id, &request)
        .await
        .map_err(|error| store_error(vector_store_id, "search failed", error))?
        .body;
    Ok(results.data.into_iter().map(Passage::from_result).collect())
}

/// The `path` attributes of the store's files.
async fn managed_paths(client: &Client, vector_store_id: &str) -> Result<Vec<String>> {
    let files: Vec<VectorStoreFile> = client
        .list_vector_store_files(vector_store_id, &VectorStoreFileListQuery::new())
        .try_collect()
        .await
        .map_err(|error| store_error(vector_store_id, "cannot list the store's files", error))?;
    Ok(files
        .iter()
        .filter_map(|file| file.attributes.as_ref()?.get(PATH_ATTRIBUTE)?.as_str().map(str::to_owned))
        .collect())
}

/// A failed call about a file or a name.
fn request_error(subject: &str, message: &str, source: aoai_core::Error) -> Error {
    Error::Knowledge(KnowledgeError::new(KnowledgeErrorKind::Request, subject, message, Some(source)))
}

/// A failed call about a store: a 404 means the store does not exist.
fn store_error(vector_store_id: &str, message: &str, source: aoai_core::Error) -> Error {
    if source.is_not_found() {
        let message = format!("{message}: no such vector store");
        return Error::Knowledge(KnowledgeError::new(
            KnowledgeErrorKind::StoreNotFound,
            vector_store_id,
            message,
            Some(source),
        ));
    }
    Error::Knowledge(KnowledgeError::new(KnowledgeErrorKind::Request, vector_store_id, message, Some(source)))
}

/// The directory or a file in it cannot be read.
fn directory_error(subject: &str, message: &str) -> Error {
    Error::Knowledge(KnowledgeError::new(KnowledgeErrorKind::Directory, subject, message, None))
}

type Listing = (Vec<LocalFile>, Vec<(String, String)>);

/// Every readable text file under `root`, sorted by path, and what was skipped.
fn read_directory(root: &Path, max_bytes: u64) -> Result<Listing> {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let mut pending: Vec<PathBuf> = vec![root.to_owned()];
    while let Some(directory) = pending.pop() {
        let entries = std::fs::read_dir(&directory)
            .map_err(|error| directory_error(&directory.display().to_string(), &error.to_string()))?;
        for entry in entries {
            let entry = entry.map_err(|error| directory_error(&directory.display().to_string(), &error.to_string()))?;
            let path = entry.path();
            let relative = relative_path(root, &path);
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let metadata =
                std::fs::symlink_metadata(&path).map_err(|error| directory_error(&relative, &error.to_string()))?;
            if metadata.is_dir() {
                pending.push(path);
            } else if metadata.file_type().is_symlink() {
                skipped.push((relative, "a symbolic link".to_owned()));
            } else if metadata.len() > max_bytes {
                skipped.push((relative, format!("larger than {max_bytes} bytes")));
            } else {
                let content = std::fs::read(&path).map_err(|error| directory_error(&relative, &error.to_string()))?;
                match std::str::from_utf8(&content) {
                    Ok(text) if !text.contains('\0') => {
                        let title = title_of(text, &relative);
                        let sha256 = sha256_hex(&content);
                        files.push(LocalFile { path: relative, content: Bytes::from(content), sha256, title });
                    }
                    _ => skipped.push((relative, "binary (not UTF-8 text)".to_owned())),
                }
            }
        }
    }
    files.sort_by(|left, right| left.path.cmp(&right.path));
    skipped.sort();
    Ok((files, skipped))
}

fn relative_path(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    relative.components().map(|part| part.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// The first Markdown heading, else the file name.
fn title_of(text: &str, path: &str) -> String {
    text.lines()
        .map(str::trim)
        .find_map(|line| line.strip_prefix('#').map(|heading| heading.trim_start_matches('#').trim()))
        .filter(|heading| !heading.is_empty())
        .map_or_else(|| path.rsplit('/').next().unwrap_or(path).to_owned(), str::to_owned)
}

fn sha256_hex(bytes: &[u8]) -> String {
    let mut hex = String::with_capacity(64);
    for byte in Sha256::digest(bytes) {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_hashes_and_paths() {
        assert_eq!(title_of("intro\n## Leave policy\ntext", "docs/leave.md"), "Leave policy");
        assert_eq!(title_of("no heading", "docs/leave.md"), "leave.md");
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(relative_path(Path::new("/a"), Path::new("/a/b/c.md")), "b/c.md");
    }

    #[test]
    fn expiry_takes_one_to_365_days() {
        assert_eq!(Expiry::days_after_last_active(0).unwrap_err().days(), 0);
        assert_eq!(Expiry::days_after_last_active(366).unwrap_err().days(), 366);
        assert_eq!(Expiry::days_after_last_active(70_000).unwrap_err().days(), 70_000);
        let week = Expiry::days_after_last_active(7).unwrap();
        assert_eq!(week.to_expires_after(), Some(ExpiresAfter::days_after_last_active(7)));
        assert_eq!(Expiry::of_store(Some(&ExpiresAfter::days_after_last_active(7))), Some(week));
        assert_eq!(Expiry::of_store(None), Some(Expiry::never()));
        let other = ExpiresAfter { anchor: "created_at".to_owned(), days: 7 };
        assert_eq!(Expiry::of_store(Some(&other)), None);
        assert_eq!(week.to_string(), "expires 7 days after its last use");
        assert_eq!(Expiry::never().to_expires_after(), None);
    }

    #[test]
    fn filters_take_the_wire_shape() {
        let paths = ["a/x.md".to_owned(), "a/y.md".to_owned(), "b/z.md".to_owned()];
        let filter = AttributeFilter::all([AttributeFilter::path_prefix("a/"), AttributeFilter::ne("title", "T")]);
        assert!(filter.needs_paths());
        assert_eq!(
            filter.to_wire(&paths),
            json!({"type": "and", "filters": [
                {"type": "or", "filters": [
                    {"type": "eq", "key": "path", "value": "a/x.md"},
                    {"type": "eq", "key": "path", "value": "a/y.md"}
                ]},
                {"type": "ne", "key": "title", "value": "T"}
            ]})
        );
        assert_eq!(
            AttributeFilter::path_prefix("b/").to_wire(&paths),
            json!({"type": "eq", "key": "path", "value": "b/z.md"})
        );
        assert_eq!(
            AttributeFilter::path_prefix("c/").to_wire(&paths),
            json!({"type": "eq", "key": "path", "value": "c/"})
        );
        let plain = AttributeFilter::any([AttributeFilter::path("b/z.md"), AttributeFilter::eq("draft", false)]);
        assert!(!plain.needs_paths());
        assert_eq!(
            plain.to_wire(&[]),
            json!({"type": "or", "filters": [
                {"type": "eq", "key": "path", "value": "b/z.md"},
                {"type": "eq", "key": "draft", "value": false}
            ]})
        );
    }
}
