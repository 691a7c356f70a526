//! Knowledge for `file_search`: a vector store kept in step with a
//! directory.
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

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use aoai_core::Client;
use aoai_core::files::FilePurpose;
use aoai_core::vector_stores::{
    AddVectorStoreFile, CreateVectorStore, ExpiresAfter, IngestionProgress, IngestionReport, PollOptions,
    VectorStoreFile, VectorStoreFileListQuery,
};
use bytes::Bytes;
use futures_util::TryStreamExt;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{Error, KnowledgeError, Result};

/// The attribute holding a managed file's relative path.
pub const PATH_ATTRIBUTE: &str = "path";
/// The attribute holding a managed file's content hash (SHA-256, hex).
pub const HASH_ATTRIBUTE: &str = "sha256";
/// The attribute holding a managed file's title.
pub const TITLE_ATTRIBUTE: &str = "title";

/// How a directory is synced.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SyncOptions {
    /// Files larger than this are skipped (default 10 MiB).
    pub max_file_bytes: u64,
    /// How ingestion is awaited.
    pub poll: PollOptions,
    /// The store expires this many days after it was last used (on create only).
    pub expires_after_days: Option<u32>,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self { max_file_bytes: 10 * 1024 * 1024, poll: PollOptions::default(), expires_after_days: None }
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

    /// Sets the expiry of a created store.
    #[must_use]
    pub fn expires_after_days(mut self, days: u32) -> Self {
        self.expires_after_days = Some(days);
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
    if let Some(days) = options.expires_after_days {
        request = request.expires_after(ExpiresAfter::days_after_last_active(days));
    }
    let store = client
        .create_vector_store(&request)
        .await
        .map_err(|error| knowledge_error(name, "cannot create the vector store", Some(error)))?
        .body;
    sync(client, &store.id, directory, options, progress).await
}

/// Brings the vector store `vector_store_id` in step with `directory` (see
/// the [module docs](self)) and waits for ingestion of what was added.
///
/// # Errors
///
/// [`Error::Knowledge`] when the directory cannot be read or a call fails;
/// files changed before the failure stay changed (a new sync finishes the job).
pub async fn sync(
    client: &Client,
    vector_store_id: &str,
    directory: &Path,
    options: &SyncOptions,
    progress: &mut (dyn FnMut(IngestionProgress) + Send),
) -> Result<SyncReport> {
    let mut report = SyncReport { vector_store_id: vector_store_id.to_owned(), ..SyncReport::default() };
    let root = directory.to_owned();
    let max_bytes = options.max_file_bytes;
    let (files, skipped) = tokio::task::spawn_blocking(move || read_directory(&root, max_bytes))
        .await
        .map_err(|error| knowledge_error("", &format!("reading the directory stopped: {error}"), None))??;
    report.skipped = skipped;

    let remote: Vec<VectorStoreFile> = client
        .list_vector_store_files(vector_store_id, &VectorStoreFileListQuery::new())
        .try_collect()
        .await
        .map_err(|error| knowledge_error(vector_store_id, "cannot list the store's files", Some(error)))?;
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
            .map_err(|error| knowledge_error(vector_store_id, "waiting for ingestion failed", Some(error)))?;
        report.ingestion = Some(ingestion);
    }
    Ok(report)
}

async fn upload(client: &Client, vector_store_id: &str, file: &LocalFile) -> Result<()> {
    let name = file.path.rsplit('/').next().unwrap_or(&file.path);
    let uploaded = client
        .upload_file_for(&FilePurpose::Assistants, name, file.content.clone())
        .await
        .map_err(|error| knowledge_error(&file.path, "upload failed", Some(error)))?
        .body;
    let request = AddVectorStoreFile::new(uploaded.id)
        .attribute(PATH_ATTRIBUTE, file.path.clone())
        .attribute(HASH_ATTRIBUTE, file.sha256.clone())
        .attribute(TITLE_ATTRIBUTE, file.title.clone());
    client
        .add_vector_store_file(vector_store_id, &request)
        .await
        .map_err(|error| knowledge_error(&file.path, "adding the file to the store failed", Some(error)))?;
    Ok(())
}

/// Removes a managed file from the store and deletes its upload (a 404
/// there means it is already gone).
async fn remove(client: &Client, vector_store_id: &str, path: &str, file_id: &str) -> Result<()> {
    client
        .delete_vector_store_file(vector_store_id, file_id)
        .await
        .map_err(|error| knowledge_error(path, "removing the file from the store failed", Some(error)))?;
    match client.delete_file(file_id).await {
        Ok(_) => Ok(()),
        Err(error) if error.is_not_found() => Ok(()),
        Err(error) => Err(knowledge_error(path, "deleting the uploaded file failed", Some(error))),
    }
}

fn knowledge_error(subject: &str, message: &str, source: Option<aoai_core::Error>) -> Error {
    Error::Knowledge(KnowledgeError::new(subject, message, source))
}

type Listing = (Vec<LocalFile>, Vec<(String, String)>);

/// Every readable text file under `root`, sorted by path, and what was skipped.
fn read_directory(root: &Path, max_bytes: u64) -> Result<Listing> {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let mut pending: Vec<PathBuf> = vec![root.to_owned()];
    while let Some(directory) = pending.pop() {
        let entries = std::fs::read_dir(&directory)
            .map_err(|error| knowledge_error(&directory.display().to_string(), &error.to_string(), None))?;
        for entry in entries {
            let entry =
                entry.map_err(|error| knowledge_error(&directory.display().to_string(), &error.to_string(), None))?;
            let path = entry.path();
            let relative = relative_path(root, &path);
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let metadata = std::fs::symlink_metadata(&path)
                .map_err(|error| knowledge_error(&relative, &error.to_string(), None))?;
            if metadata.is_dir() {
                pending.push(path);
            } else if metadata.file_type().is_symlink() {
                skipped.push((relative, "a symbolic link".to_owned()));
            } else if metadata.len() > max_bytes {
                skipped.push((relative, format!("larger than {max_bytes} bytes")));
            } else {
                let content =
                    std::fs::read(&path).map_err(|error| knowledge_error(&relative, &error.to_string(), None))?;
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
}
