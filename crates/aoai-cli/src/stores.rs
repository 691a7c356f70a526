//! `aoai files …` and `aoai vector-stores …`: the Files API and vector
//! stores, what the Responses API's `file_search` searches.
//!
//! `create` and `add` upload files with purpose `assistants` (what Azure
//! requires for file_search), add them to the store as one file batch, wait
//! for ingestion with a progress line on stderr, and print a table of every
//! file's status (with `last_error` for failures). Directories are walked
//! like `aoai rag index`; files found by walking are kept only when their
//! extension is one file_search reads. A command with failed files exits 1
//! after printing the table. With nothing configured each command starts its
//! own embedded emulator, so ids do not outlive the command.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use aoai_core::Client;
use aoai_core::files::{FileListQuery, FilePurpose};
use aoai_core::page::ListQuery;
use aoai_core::poll::PollOptions;
use aoai_core::vector_stores::{
    CreateVectorStore, IngestionProgress, IngestionReport, IngestionStatus, VectorStoreSearchRequest,
};
use bytes::Bytes;
use clap::{Args, Subcommand};
use futures_util::StreamExt as _;
use serde_json::json;

use crate::paths::{collect_files, source_name};
use crate::progress::{Ticker, bar};
use crate::{Failure, print, session};

/// Extensions file_search reads (OpenAI's list of supported files); others
/// found by walking a directory are skipped.
const SEARCHABLE: [&str; 22] = [
    "c", "cpp", "cs", "css", "doc", "docx", "go", "html", "java", "js", "json", "md", "pdf", "php", "pptx", "py", "rb",
    "sh", "tex", "ts", "txt", "htm",
];

/// `aoai files …`.
#[derive(Debug, Subcommand)]
pub(crate) enum FilesCommand {
    /// Upload files (purpose `assistants` unless told otherwise).
    Upload(UploadArgs),
    /// List uploaded files.
    List(FileListArgs),
    /// Delete files.
    Delete(DeleteArgs),
}

/// Options for `aoai files upload`.
#[derive(Debug, Args)]
pub(crate) struct UploadArgs {
    /// Files to upload.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// What the files are for: assistants (file_search), batch, fine-tune, vision, user_data, evals.
    #[arg(long, default_value = "assistants")]
    purpose: String,
    /// Print the file objects as JSON lines.
    #[arg(long)]
    json: bool,
}

/// Options for `aoai files list`.
#[derive(Debug, Args)]
pub(crate) struct FileListArgs {
    /// Only files with this purpose.
    #[arg(long)]
    purpose: Option<String>,
    /// Print JSON lines.
    #[arg(long)]
    json: bool,
}

/// Ids to delete.
#[derive(Debug, Args)]
pub(crate) struct DeleteArgs {
    /// The ids.
    #[arg(required = true)]
    ids: Vec<String>,
}

/// `aoai vector-stores …`.
#[derive(Debug, Subcommand)]
pub(crate) enum VectorStoresCommand {
    /// Create a store, upload PATHs into it and wait until they are searchable.
    Create(CreateArgs),
    /// List stores.
    List(JsonArgs),
    /// Print a store.
    Get(IdArgs),
    /// Delete a store (its files stay uploaded).
    Delete(IdArgs),
    /// Upload PATHs into a store and wait until they are searchable.
    Add(AddArgs),
    /// Search a store's chunks.
    Search(SearchArgs),
}

/// Options for `aoai vector-stores create`.
#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// The store's name.
    name: String,
    /// Files or directories to add.
    paths: Vec<PathBuf>,
    /// Print the store and the files as JSON.
    #[arg(long)]
    json: bool,
}

/// Options for `aoai vector-stores add`.
#[derive(Debug, Args)]
pub(crate) struct AddArgs {
    /// The store's id.
    id: String,
    /// Files or directories to add.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Print the files as JSON.
    #[arg(long)]
    json: bool,
}

/// Options for `aoai vector-stores search`.
#[derive(Debug, Args)]
pub(crate) struct SearchArgs {
    /// The store's id.
    id: String,
    /// What to look for.
    query: String,
    /// How many results (1–50).
    #[arg(long, short = 'k', default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=50))]
    k: u32,
    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
}

/// An id and the output form.
#[derive(Debug, Args)]
pub(crate) struct IdArgs {
    /// The store's id.
    id: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Only the output form.
#[derive(Debug, Args)]
pub(crate) struct JsonArgs {
    /// Print JSON lines.
    #[arg(long)]
    json: bool,
}

fn to_json(value: &impl serde::Serialize) -> Result<String, Failure> {
    serde_json::to_string(value).map_err(|error| Failure::Other(format!("cannot print JSON: {error}")))
}

pub(crate) async fn files(command: FilesCommand) -> Result<(), Failure> {
    let session = session(None, "gpt-4o").await?;
    let client = &session.client;
    match command {
        FilesCommand::Upload(args) => {
            let purpose = FilePurpose::from(args.purpose.as_str());
            for path in &args.paths {
                let (name, content) = read_file(path)?;
                let file = client.upload_file_for(&purpose, &name, content).await?.body;
                if args.json {
                    print(&format!("{}\n", to_json(&file)?))?;
                } else {
                    print(&format!("{}\t{}\t{} bytes\t{}\n", file.id, file.filename, file.bytes, file.purpose))?;
                }
            }
            Ok(())
        }
        FilesCommand::List(args) => {
            let mut query = FileListQuery::new();
            if let Some(purpose) = &args.purpose {
                query = query.purpose(FilePurpose::from(purpose.as_str()));
            }
            let mut files = client.list_files(&query);
            while let Some(file) = files.next().await {
                let file = file?;
                if args.json {
                    print(&format!("{}\n", to_json(&file)?))?;
                } else {
                    print(&format!("{}\t{}\t{} bytes\t{}\n", file.id, file.filename, file.bytes, file.purpose))?;
                }
            }
            Ok(())
        }
        FilesCommand::Delete(args) => {
            for id in &args.ids {
                client.delete_file(id).await?;
                print(&format!("deleted {id}\n"))?;
            }
            Ok(())
        }
    }
}

pub(crate) async fn vector_stores(command: VectorStoresCommand) -> Result<(), Failure> {
    let session = session(None, "gpt-4o").await?;
    let client = &session.client;
    match command {
        VectorStoresCommand::Create(args) => {
            let files = gather(&args.paths)?;
            let store = client.create_vector_store(&CreateVectorStore::new().name(args.name.clone())).await?.body;
            eprintln!("vector store: {}", store.id);
            let report = if files.is_empty() { None } else { Some(ingest(client, &store.id, files).await?) };
            let store = client.retrieve_vector_store(&store.id).await?.body;
            if args.json {
                let files = report.as_ref().map(|(report, _)| report.files.clone()).unwrap_or_default();
                print(&format!("{}\n", to_json(&json!({"vector_store": store, "files": files}))?))?;
            } else {
                print(&format!("{}\t{}\t{} file(s)\n", store.id, store.name, store.file_counts.total))?;
                if let Some((report, names)) = &report {
                    print_table(report, names)?;
                }
            }
            report.map_or(Ok(()), |(report, _)| failed(&report))
        }
        VectorStoresCommand::Add(args) => {
            let files = gather(&args.paths)?;
            if files.is_empty() {
                return Err(Failure::Usage("no file to add".to_owned()));
            }
            let (report, names) = ingest(client, &args.id, files).await?;
            if args.json {
                for file in &report.files {
                    print(&format!("{}\n", to_json(file)?))?;
                }
            } else {
                print_table(&report, &names)?;
            }
            failed(&report)
        }
        VectorStoresCommand::List(args) => {
            let mut stores = client.list_vector_stores(&ListQuery::default());
            while let Some(store) = stores.next().await {
                let store = store?;
                if args.json {
                    print(&format!("{}\n", to_json(&store)?))?;
                } else {
                    let counts = &store.file_counts;
                    print(&format!(
                        "{}\t{}\t{}\t{}/{} file(s) completed\n",
                        store.id, store.name, store.status, counts.completed, counts.total
                    ))?;
                }
            }
            Ok(())
        }
        VectorStoresCommand::Get(args) => {
            let store = client.retrieve_vector_store(&args.id).await?.body;
            if args.json {
                print(&format!("{}\n", to_json(&store)?))
            } else {
                let counts = &store.file_counts;
                print(&format!(
                    "{}\t{}\t{}\t{} bytes\tfiles: {} completed, {} in progress, {} failed, {} cancelled, {} total\n",
                    store.id,
                    store.name,
                    store.status,
                    store.usage_bytes,
                    counts.completed,
                    counts.in_progress,
                    counts.failed,
                    counts.cancelled,
                    counts.total
                ))
            }
        }
        VectorStoresCommand::Delete(args) => {
            client.delete_vector_store(&args.id).await?;
            if args.json {
                print(&format!("{}\n", json!({"id": args.id, "deleted": true})))
            } else {
                print(&format!("deleted {}\n", args.id))
            }
        }
        VectorStoresCommand::Search(args) => {
            let request = VectorStoreSearchRequest::new(args.query.clone()).max_num_results(args.k);
            let results = client.search_vector_store(&args.id, &request).await?.body;
            if args.json {
                return print(&format!("{}\n", to_json(&results)?));
            }
            let mut out = String::new();
            for (rank, result) in results.data.iter().enumerate() {
                let text: String = result.text().split_whitespace().collect::<Vec<_>>().join(" ");
                let snippet: String = text.chars().take(160).collect();
                let more = if text.chars().count() > 160 { "…" } else { "" };
                out.push_str(&format!(
                    "{}. {} ({}) score {:.3}\n   {snippet}{more}\n",
                    rank + 1,
                    result.filename,
                    result.file_id,
                    result.score
                ));
            }
            if out.is_empty() {
                out.push_str("no results\n");
            }
            print(&out)
        }
    }
}

/// The files to upload: given files as they are, files found in directories
/// only with a searchable extension.
pub(crate) fn gather(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Failure> {
    let mut files = Vec::new();
    let mut skipped = 0usize;
    for path in paths {
        let metadata = std::fs::metadata(path)
            .map_err(|error| Failure::Usage(format!("cannot read {}: {error}", path.display())))?;
        if metadata.is_dir() {
            for file in collect_files(std::slice::from_ref(path), None)? {
                if searchable(&file) {
                    files.push(file);
                } else {
                    skipped += 1;
                }
            }
        } else {
            files.push(path.clone());
        }
    }
    if skipped > 0 {
        eprintln!("warning: skipped {skipped} file(s) whose type file_search does not read");
    }
    Ok(files)
}

fn searchable(path: &Path) -> bool {
    path.extension()
        .and_then(|extension| extension.to_str())
        .is_some_and(|extension| SEARCHABLE.contains(&extension.to_ascii_lowercase().as_str()))
}

fn read_file(path: &Path) -> Result<(String, Bytes), Failure> {
    let content =
        std::fs::read(path).map_err(|error| Failure::Usage(format!("cannot read {}: {error}", path.display())))?;
    let name = path.file_name().map_or_else(|| source_name(path), |name| name.to_string_lossy().into_owned());
    Ok((name, Bytes::from(content)))
}

/// Uploads, adds as one batch, waits with a progress line; returns the
/// report and each file id's local path.
pub(crate) async fn ingest(
    client: &Client,
    store: &str,
    paths: Vec<PathBuf>,
) -> Result<(IngestionReport, HashMap<String, String>), Failure> {
    let mut uploads = Vec::with_capacity(paths.len());
    let mut by_name: Vec<String> = Vec::with_capacity(paths.len());
    for path in &paths {
        let (name, content) = read_file(path)?;
        uploads.push((name, content));
        by_name.push(source_name(path));
    }
    let progress =
        Arc::new(Mutex::new(IngestionProgress { total: paths.len() as u64, ..IngestionProgress::default() }));
    let ticker = {
        let progress = progress.clone();
        Ticker::start(client.time(), move || {
            let current = *progress.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let done = current.completed + current.failed + current.cancelled;
            Some((
                done,
                format!(
                    "{} {done}/{} file(s) processed, {} failed",
                    bar(done, current.total, 24),
                    current.total,
                    current.failed
                ),
            ))
        })
    };
    let mut update = |current: IngestionProgress| {
        *progress.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = current;
    };
    let result = upload_all(client, store, uploads, &mut update).await;
    ticker.stop();
    let (report, file_ids) = result?;
    let names = file_ids.into_iter().zip(by_name).collect();
    Ok((report, names))
}

async fn upload_all(
    client: &Client,
    store: &str,
    uploads: Vec<(String, Bytes)>,
    update: &mut (dyn FnMut(IngestionProgress) + Send),
) -> Result<(IngestionReport, Vec<String>), Failure> {
    let mut file_ids = Vec::with_capacity(uploads.len());
    for (name, content) in uploads {
        file_ids.push(client.upload_file_for(&FilePurpose::Assistants, &name, content).await?.body.id);
    }
    let batch = client
        .create_vector_store_file_batch(store, &aoai_core::vector_stores::CreateFileBatch::new(file_ids.clone()))
        .await?
        .body;
    let report = client.wait_for_file_batch(store, &batch.id, &PollOptions::default(), update).await?;
    Ok((report, file_ids))
}

fn print_table(report: &IngestionReport, names: &HashMap<String, String>) -> Result<(), Failure> {
    let mut out = String::new();
    for file in &report.files {
        let name = names.get(&file.id).map_or("?", String::as_str);
        let error =
            file.last_error.as_ref().map(|error| format!("\t{}: {}", error.code, error.message)).unwrap_or_default();
        out.push_str(&format!("{}\t{}\t{name}{error}\n", file.status, file.id));
    }
    print(&out)
}

pub(crate) fn failed(report: &IngestionReport) -> Result<(), Failure> {
    let failed = report.files.iter().filter(|file| file.status != IngestionStatus::Completed).count();
    if failed == 0 {
        Ok(())
    } else {
        Err(Failure::Other(format!("{failed} of {} file(s) were not processed", report.files.len())))
    }
}
