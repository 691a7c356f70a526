//! Wire models of the Files and Batch APIs.
//!
//! Every model keeps the fields it does not name in `extra`, and every string
//! enum keeps values it does not know in `Unknown(String)`: Azure adds
//! statuses and fields over time, and parsing must never fail on one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

aoai_core::open_enum! {
    /// A batch's status. Terminal: `completed`, `failed`, `expired`, `cancelled`.
    pub enum BatchStatus {
        /// The input file is being validated.
        Validating = "validating",
        /// The input file failed validation; see [`Batch::errors`].
        Failed = "failed",
        /// The requests are being run.
        InProgress = "in_progress",
        /// The requests are done; the output and error files are being written.
        Finalizing = "finalizing",
        /// Done; the output and error files are ready.
        Completed = "completed",
        /// Not finished within the completion window; finished requests are in the files.
        Expired = "expired",
        /// A cancel was requested; requests in flight finish first.
        Cancelling = "cancelling",
        /// Cancelled; the requests finished before are in the files.
        Cancelled = "cancelled",
    }
}

impl BatchStatus {
    /// Whether the batch will not change any more. An unknown status is not
    /// terminal: [`BatchClient::wait`](super::BatchClient::wait) keeps polling.
    #[must_use]
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Expired | Self::Cancelled)
    }
}

aoai_core::open_enum! {
    /// Why a file was uploaded, or who made it.
    pub enum FilePurpose {
        /// Batch input.
        Batch = "batch",
        /// Batch output or error lines, written by the service.
        BatchOutput = "batch_output",
        /// Fine-tuning data.
        FineTune = "fine-tune",
        /// Fine-tuning results, written by the service.
        FineTuneResults = "fine-tune-results",
        /// Assistants and vector stores.
        Assistants = "assistants",
        /// Files written by assistants.
        AssistantsOutput = "assistants_output",
        /// Images for vision fine-tuning.
        Vision = "vision",
        /// Anything else.
        UserData = "user_data",
        /// Evaluation data.
        Evals = "evals",
    }
}

aoai_core::open_enum! {
    /// A file's processing state.
    pub enum FileStatus {
        /// Uploaded, not yet processed.
        Uploaded = "uploaded",
        /// Waiting to be processed (Azure).
        Pending = "pending",
        /// Being processed (Azure).
        Running = "running",
        /// Ready to use.
        Processed = "processed",
        /// Processing failed; see `status_details`.
        Error = "error",
        /// Being deleted (Azure).
        Deleting = "deleting",
        /// Deleted (Azure).
        Deleted = "deleted",
    }
}

/// A file's metadata (`object: "file"`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct FileObject {
    /// `file-…` (Azure may use other prefixes).
    pub id: String,
    /// Always `file`.
    pub object: String,
    /// Why it was uploaded.
    pub purpose: FilePurpose,
    /// The name given at upload.
    pub filename: String,
    /// Its size; `null` on some Azure answers.
    pub bytes: Option<u64>,
    /// Unix seconds.
    pub created_at: Option<u64>,
    /// Unix seconds when the file will be deleted, when it expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// Its processing state.
    pub status: FileStatus,
    /// Why processing failed, when it did.
    pub status_details: Option<String>,
    /// Fields this version does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Request counts of a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct RequestCounts {
    /// Requests in the input file.
    pub total: u64,
    /// Requests answered with a success.
    pub completed: u64,
    /// Requests that failed.
    pub failed: u64,
    /// Fields this version does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One error of a batch that failed validation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct BatchErrorItem {
    /// A machine-readable code, e.g. `duplicate_custom_id`.
    pub code: Option<String>,
    /// What is wrong.
    pub message: Option<String>,
    /// The field at fault, e.g. `custom_id`.
    pub param: Option<String>,
    /// The 1-based input line at fault.
    pub line: Option<u64>,
    /// Fields this version does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The `errors` list of a batch (`object: "list"`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct BatchErrors {
    /// Always `list`.
    pub object: String,
    /// The errors.
    pub data: Vec<BatchErrorItem>,
    /// Fields this version does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A Batch API job (`object: "batch"`). Timestamps are Unix seconds and
/// `None` until reached.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Batch {
    /// `batch_…`.
    pub id: String,
    /// Always `batch`.
    pub object: String,
    /// What every request calls, e.g. `/chat/completions`.
    pub endpoint: String,
    /// Validation errors of a failed batch.
    pub errors: Option<BatchErrors>,
    /// The uploaded input file.
    pub input_file_id: String,
    /// The completion window, `24h`.
    pub completion_window: String,
    /// Where the job is.
    pub status: BatchStatus,
    /// The file of answered requests, once written.
    pub output_file_id: Option<String>,
    /// The file of failed requests, once written.
    pub error_file_id: Option<String>,
    /// When the job was created.
    pub created_at: Option<u64>,
    /// When it started running.
    pub in_progress_at: Option<u64>,
    /// When it expires.
    pub expires_at: Option<u64>,
    /// When it started writing its files.
    pub finalizing_at: Option<u64>,
    /// When it completed.
    pub completed_at: Option<u64>,
    /// When it failed.
    pub failed_at: Option<u64>,
    /// When it expired.
    pub expired_at: Option<u64>,
    /// When a cancel was requested.
    pub cancelling_at: Option<u64>,
    /// When it was cancelled.
    pub cancelled_at: Option<u64>,
    /// How many requests there are and how they went.
    pub request_counts: Option<RequestCounts>,
    /// The caller's key-value pairs (strings on the wire; kept as sent).
    pub metadata: Option<Map<String, Value>>,
    /// Fields this version does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Batch {
    /// Whether the job will not change any more.
    #[must_use]
    pub fn is_terminal(&self) -> bool {
        self.status.is_terminal()
    }

    /// The request counts, zero when the service sent none.
    #[must_use]
    pub fn counts(&self) -> RequestCounts {
        self.request_counts.clone().unwrap_or_default()
    }
}

/// One page of `GET /batches` (`object: "list"`), newest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct BatchPage {
    /// Always `list`.
    pub object: String,
    /// The batches.
    pub data: Vec<Batch>,
    /// The first id on the page.
    pub first_id: Option<String>,
    /// The last id on the page.
    pub last_id: Option<String>,
    /// Whether more batches follow.
    pub has_more: bool,
    /// Fields this version does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The body of `POST /batches`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CreateBatch {
    /// The uploaded input file (purpose `batch`).
    pub input_file_id: String,
    /// What every request calls; must match the `url` of the input lines,
    /// e.g. `/chat/completions` or `/embeddings`.
    pub endpoint: String,
    /// The completion window; Azure accepts `24h`.
    pub completion_window: String,
    /// Up to 16 key-value pairs kept with the job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
}

impl CreateBatch {
    /// The completion window Azure accepts.
    pub const COMPLETION_WINDOW: &'static str = "24h";

    /// A job over `input_file_id` calling `endpoint`, with the `24h` window.
    #[must_use]
    pub fn new(input_file_id: impl Into<String>, endpoint: impl Into<String>) -> Self {
        Self {
            input_file_id: input_file_id.into(),
            endpoint: endpoint.into(),
            completion_window: Self::COMPLETION_WINDOW.to_owned(),
            metadata: None,
        }
    }

    /// Adds a metadata pair.
    #[must_use]
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.get_or_insert_with(BTreeMap::new).insert(key.into(), value.into());
        self
    }

    /// Sets the completion window.
    #[must_use]
    pub fn completion_window(mut self, window: impl Into<String>) -> Self {
        self.completion_window = window.into();
        self
    }
}

impl Default for BatchStatus {
    /// An empty unknown value, for a field the service left out.
    fn default() -> Self {
        Self::Unknown(String::new())
    }
}

impl Default for FilePurpose {
    /// An empty unknown value, for a field the service left out.
    fn default() -> Self {
        Self::Unknown(String::new())
    }
}

impl Default for FileStatus {
    /// An empty unknown value, for a field the service left out.
    fn default() -> Self {
        Self::Unknown(String::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip() {
        for text in
            ["validating", "failed", "in_progress", "finalizing", "completed", "expired", "cancelling", "cancelled"]
        {
            let status: BatchStatus = serde_json::from_value(Value::String(text.to_owned())).unwrap();
            assert!(!matches!(status, BatchStatus::Unknown(_)), "{text}");
            assert_eq!(serde_json::to_value(&status).unwrap(), Value::String(text.to_owned()));
        }
        let unknown: BatchStatus = serde_json::from_str("\"paused\"").unwrap();
        assert_eq!(unknown, BatchStatus::Unknown("paused".to_owned()));
        assert!(!unknown.is_terminal());
        assert_eq!(unknown.to_string(), "paused");
    }

    #[test]
    fn create_body() {
        let body = CreateBatch::new("file-1", "/chat/completions").metadata("job", "eval");
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({
                "input_file_id": "file-1",
                "endpoint": "/chat/completions",
                "completion_window": "24h",
                "metadata": {"job": "eval"}
            })
        );
    }
}
