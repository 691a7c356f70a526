//! The Files API: [`FileObject`], and [`Client`] calls to upload
//! ([`Client::upload_file_for`]), retrieve, list (paged), download and delete
//! files. Resource-scoped: `{endpoint}/openai/files?api-version=…` or
//! `{endpoint}/openai/v1/files`.
//!
//! **Purposes on Azure.** Files meant for `file_search` (vector stores, the
//! Responses API's `file_search` tool) must be uploaded with
//! [`FilePurpose::Assistants`]: Azure does not support `user_data` as an
//! upload purpose (it is OpenAI's). Batch input files use
//! [`FilePurpose::Batch`].
//!
//! ```no_run
//! use aoai_core::files::FilePurpose;
//! # async fn demo(client: aoai_core::Client) -> aoai_core::Result<()> {
//! let file = client.upload_file_for(&FilePurpose::Assistants, "notes.md", "# Notes\n".into()).await?.body;
//! println!("{} ({} bytes)", file.id, file.bytes);
//! client.delete_file(&file.id).await?;
//! # Ok(())
//! # }
//! ```

use bytes::Bytes;
use http::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::client::{Client, RequestOptions};
use crate::error::Result;
use crate::extra_fields::deserialize_with_extra;
use crate::open_enum::open_enum;
use crate::page::{Cursor, ListQuery, Page, Pages, check_id, paginate};
use crate::response::Response;
use crate::routing::Route;

open_enum! {
    /// What a file is for.
    #[derive(Default)]
    pub enum FilePurpose {
        /// Files for `file_search` and vector stores (Azure requires this purpose for them).
        #[default]
        Assistants = "assistants",
        /// Files the service wrote for assistants.
        AssistantsOutput = "assistants_output",
        /// Batch API input.
        Batch = "batch",
        /// Batch API output and error files.
        BatchOutput = "batch_output",
        /// Fine-tuning training data.
        FineTune = "fine-tune",
        /// Fine-tuning results.
        FineTuneResults = "fine-tune-results",
        /// Images for vision fine-tuning.
        Vision = "vision",
        /// OpenAI's general-purpose files (not supported on Azure: use `assistants`).
        UserData = "user_data",
        /// Evaluation data.
        Evals = "evals",
    }
}

open_enum! {
    /// A file's processing status.
    #[derive(Default)]
    pub enum FileStatus {
        /// Uploaded, not yet processed.
        #[default]
        Uploaded = "uploaded",
        /// Waiting to be processed (Azure).
        Pending = "pending",
        /// Being processed (Azure).
        Running = "running",
        /// Ready.
        Processed = "processed",
        /// Processing failed; see `status_details`.
        Error = "error",
        /// Being deleted (Azure).
        Deleting = "deleting",
        /// Deleted (Azure).
        Deleted = "deleted",
    }
}

/// A file's metadata.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FileObject {
    /// `file-…`.
    pub id: String,
    /// `file`.
    pub object: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Unix seconds.
    pub created_at: u64,
    /// The name given at upload.
    pub filename: String,
    /// What it is for.
    pub purpose: FilePurpose,
    /// Processing status (deprecated by OpenAI, still sent by Azure).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<FileStatus>,
    /// Why processing failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_details: Option<String>,
    /// Unix seconds at which the file expires, if it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// Any other field, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

deserialize_with_extra!(
    FileObject {
        id: "id" => or_default,
        object: "object" => or_default,
        bytes: "bytes" => or_default,
        created_at: "created_at" => or_default,
        filename: "filename" => or_default,
        purpose: "purpose" => or_default,
        status: "status" => opt,
        status_details: "status_details" => opt,
        expires_at: "expires_at" => opt,
    }
    extra: extra
);

impl Cursor for FileObject {
    fn cursor(&self) -> Option<&str> {
        Some(self.id.as_str()).filter(|id| !id.is_empty())
    }
}

/// The answer to a delete: `{"id","object","deleted"}` (files, vector
/// stores, their files, conversations).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deleted {
    /// The deleted object's id.
    #[serde(default)]
    pub id: String,
    /// `file`, `vector_store.deleted`, `vector_store.file.deleted`, `conversation.deleted`…
    #[serde(default)]
    pub object: String,
    /// Whether it was deleted.
    #[serde(default)]
    pub deleted: bool,
}

/// The answer to a file delete.
pub type FileDeleted = Deleted;

/// The query of [`Client::list_files`]: paging plus an optional purpose.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct FileListQuery {
    /// `limit`, `order`, `after`, `before`.
    pub page: ListQuery,
    /// Only files with this purpose.
    pub purpose: Option<FilePurpose>,
}

impl FileListQuery {
    /// Every file, the service's page size.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only files with this purpose.
    pub fn purpose(mut self, purpose: FilePurpose) -> Self {
        self.purpose = Some(purpose);
        self
    }

    /// Items per page.
    pub fn limit(mut self, limit: u32) -> Self {
        self.page.limit = Some(limit);
        self
    }
}

impl Client {
    /// Uploads `content` as a file named `filename` for `purpose`
    /// (multipart; the body is encoded once and resent as is on a retry).
    /// For `file_search`, use [`FilePurpose::Assistants`] (see the
    /// [module docs](crate::files)).
    pub async fn upload_file_for(
        &self,
        purpose: &FilePurpose,
        filename: &str,
        content: Bytes,
    ) -> Result<Response<FileObject>> {
        let options = RequestOptions::new("files.upload");
        self.upload_file_with(Route::Resource { path: "files" }, purpose.as_str(), filename, content, &options).await
    }

    /// A file's metadata.
    pub async fn retrieve_file(&self, file_id: &str) -> Result<Response<FileObject>> {
        check_id("file", file_id)?;
        let path = format!("files/{file_id}");
        let options = RequestOptions::new("files.retrieve");
        self.request_json_with(Method::GET, Route::Resource { path: &path }, None, &options).await
    }

    /// Deletes a file.
    pub async fn delete_file(&self, file_id: &str) -> Result<Response<FileDeleted>> {
        check_id("file", file_id)?;
        let path = format!("files/{file_id}");
        let options = RequestOptions::new("files.delete");
        self.request_json_with(Method::DELETE, Route::Resource { path: &path }, None, &options).await
    }

    /// A file's content.
    pub async fn file_content(&self, file_id: &str) -> Result<Response<Bytes>> {
        check_id("file", file_id)?;
        let path = format!("files/{file_id}/content");
        self.request_bytes_with(Method::GET, Route::Resource { path: &path }, &RequestOptions::new("files.content"))
            .await
    }

    /// One page of files, after `cursor` (else `query.page.after`).
    pub async fn list_files_page(
        &self,
        query: &FileListQuery,
        cursor: Option<&str>,
    ) -> Result<Response<Page<FileObject>>> {
        let options = query
            .page
            .apply(RequestOptions::new("files.list"), cursor)
            .query_opt("purpose", query.purpose.as_ref().map(|purpose| purpose.as_str().to_owned()));
        self.request_json_with(Method::GET, Route::Resource { path: "files" }, None, &options).await
    }

    /// Every file, following the `after` cursors page by page (see
    /// [`paginate`] for the bounds).
    pub fn list_files(&self, query: &FileListQuery) -> Pages<'static, FileObject> {
        let client = self.clone();
        let query = query.clone();
        paginate(query.page.after.clone(), move |cursor| {
            let client = client.clone();
            let query = query.clone();
            async move { client.list_files_page(&query, cursor.as_deref()).await }
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_spec_file_object_parses_and_keeps_unknown_fields() {
        let file: FileObject = serde_json::from_value(json!({
            "status": "processed",
            "bytes": 140,
            "purpose": "fine-tune",
            "filename": "puppy.jsonl",
            "id": "file-181a1cbdcdcf4677ada87f63a0928099",
            "created_at": 1646126127,
            "object": "file",
            "status_details": null,
            "expires_at": null,
            "something_new": 1
        }))
        .unwrap();
        assert_eq!(file.purpose, FilePurpose::FineTune);
        assert_eq!(file.status, Some(FileStatus::Processed));
        assert_eq!(file.extra["something_new"], 1);
        let odd: FileObject =
            serde_json::from_value(json!({"id": "f", "purpose": "new-purpose", "status": "odd"})).unwrap();
        assert_eq!(odd.purpose, FilePurpose::Unknown("new-purpose".to_owned()));
        assert_eq!(odd.status, Some(FileStatus::Unknown("odd".to_owned())));
    }
}
