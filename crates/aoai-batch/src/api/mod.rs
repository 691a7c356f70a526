//! Azure's Batch API: upload a JSONL file of requests, let the service run
//! them within 24 hours at a discount and outside the deployment's online
//! quota, then read the results back by `custom_id`.
//!
//! - [`BatchInput`] checks a file before upload: each line
//!   `{custom_id, method, url, body}`, `custom_id`s unique, one `url`, at
//!   most 100,000 requests and 200 MB. Errors name the line.
//! - [`BatchClient`] uploads it (purpose `batch`), creates, retrieves, lists
//!   and cancels jobs, [`wait`](BatchClient::wait)s until one is terminal on
//!   the injected [`Time`], downloads the output and error files and maps
//!   them with [`results`](BatchClient::results).
//! - The models keep unknown fields and unknown statuses
//!   ([`BatchStatus::Unknown`]).
//!
//! Files and batches are resource-scoped (`{endpoint}/openai/files`,
//! `{endpoint}/openai/batches`), so the same client serves every deployment:
//! each line's `body.model` names the (global batch) deployment.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use aoai_batch::api::{BatchClient, BatchInput, CreateBatch, WaitOptions};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let batches = BatchClient::new(aoai_core::Client::from_env()?);
//! let input = BatchInput::read("requests.jsonl")?;
//! let file = batches.upload("requests.jsonl", &input).await?;
//! let batch = batches.create(&CreateBatch::new(&file.id, input.url()).metadata("job", "nightly")).await?;
//! let batch = batches.wait(&batch.id, &WaitOptions::new(Duration::from_secs(60))).await?;
//! let results = batches.results_with_input(&batch, &input).await?;
//! for result in results.in_order(input.custom_ids()) {
//!     println!("{}: success {}", result.line.custom_id, result.line.is_success());
//! }
//! println!("{} never ran", results.missing.len());
//! # Ok(())
//! # }
//! ```

use std::path::Path;
use std::time::Duration;

use aoai_core::clock::Time;
use aoai_core::page::{ListQuery, Page, paginate};
use aoai_core::routing::Route;
use aoai_core::{Client, RequestOptions};
use bytes::Bytes;
use http::Method;

mod error;
mod input;
mod model;
mod results;

pub use error::{ApiError, ResultFile};
pub use input::{BatchInput, InputLimits};
pub use model::{
    Batch, BatchErrorItem, BatchErrors, BatchPage, BatchStatus, CreateBatch, FileObject, FilePurpose, FileStatus,
    RequestCounts,
};
pub use results::{BatchResult, BatchResults, ResultError, ResultLine, ResultResponse};

/// Every batch of a list, one at a time (see [`BatchClient::list_stream`]).
pub type BatchStream = std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Batch, ApiError>> + Send>>;

impl aoai_core::page::Cursor for Batch {
    fn cursor(&self) -> Option<&str> {
        Some(self.id.as_str()).filter(|id| !id.is_empty())
    }
}

/// How [`BatchClient::wait`] polls.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WaitOptions {
    /// The pause between two retrievals.
    pub poll_interval: Duration,
    /// Give up after this long (`None`: wait until the batch is terminal;
    /// Azure ends every batch within its 24-hour window, as `expired` at worst).
    pub timeout: Option<Duration>,
}

impl WaitOptions {
    /// Polls every `poll_interval`, without a timeout.
    #[must_use]
    pub fn new(poll_interval: Duration) -> Self {
        Self { poll_interval, timeout: None }
    }

    /// Gives up after `timeout`.
    #[must_use]
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }
}

impl Default for WaitOptions {
    /// Every 30 seconds, no timeout.
    fn default() -> Self {
        Self::new(Duration::from_secs(30))
    }
}

/// The Files and Batch APIs over an [`aoai_core::Client`] (its endpoint,
/// credential, retries and timeouts). Cheap to clone.
#[derive(Debug, Clone)]
pub struct BatchClient {
    client: Client,
    time: Time,
}

impl BatchClient {
    /// Batch calls through `client`; [`wait`](Self::wait) uses the client's time.
    #[must_use]
    pub fn new(client: Client) -> Self {
        let time = client.time().clone();
        Self { client, time }
    }

    /// The clock and sleep [`wait`](Self::wait) uses (a `ManualClock` in tests).
    #[must_use]
    pub fn with_time(mut self, time: Time) -> Self {
        self.time = time;
        self
    }

    /// The underlying client.
    #[must_use]
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Uploads a checked input file with purpose `batch`.
    ///
    /// # Errors
    ///
    /// [`ApiError::Service`] when the upload fails.
    pub async fn upload(&self, filename: &str, input: &BatchInput) -> Result<FileObject, ApiError> {
        let response = self
            .client
            .upload_file::<FileObject>(Route::Resource { path: "files" }, "batch", filename, input.content().clone())
            .await
            .map_err(ApiError::service("upload the input file"))?;
        Ok(response.body)
    }

    /// Reads, checks and uploads a file; returns the checked input too (its
    /// `custom_id`s and `url`).
    ///
    /// # Errors
    ///
    /// As [`BatchInput::read`] and [`BatchClient::upload`]; nothing is sent
    /// for an invalid file.
    pub async fn upload_path(&self, path: impl AsRef<Path>) -> Result<(BatchInput, FileObject), ApiError> {
        let path = path.as_ref();
        let input = BatchInput::read(path)?;
        let filename = path.file_name().map_or_else(|| "input.jsonl".into(), |name| name.to_string_lossy());
        let file = self.upload(&filename, &input).await?;
        Ok((input, file))
    }

    /// A file's metadata.
    ///
    /// # Errors
    ///
    /// [`ApiError::InvalidId`] or [`ApiError::Service`].
    pub async fn retrieve_file(&self, file_id: &str) -> Result<FileObject, ApiError> {
        check_id("file", file_id)?;
        let path = format!("files/{file_id}");
        self.get_json(&path, format!("retrieve file {file_id}")).await
    }

    /// A file's content.
    ///
    /// # Errors
    ///
    /// [`ApiError::InvalidId`] or [`ApiError::Service`].
    pub async fn file_content(&self, file_id: &str) -> Result<Bytes, ApiError> {
        check_id("file", file_id)?;
        let path = format!("files/{file_id}/content");
        let response = self
            .client
            .request_bytes(Method::GET, Route::Resource { path: &path }, None)
            .await
            .map_err(ApiError::service(format!("download file {file_id}")))?;
        Ok(response.body)
    }

    /// Creates a batch job.
    ///
    /// # Errors
    ///
    /// [`ApiError::Service`], e.g. a 400 for an unknown input file or endpoint.
    pub async fn create(&self, request: &CreateBatch) -> Result<Batch, ApiError> {
        let body = serde_json::to_value(request).map_err(|error| ApiError::Service {
            operation: "create the batch".to_owned(),
            source: aoai_core::Error::InvalidRequest(aoai_core::error::InvalidRequestError::new(format!(
                "cannot encode the request: {error}"
            ))),
        })?;
        let response = self
            .client
            .request_json::<Batch>(Method::POST, Route::Resource { path: "batches" }, Some(body))
            .await
            .map_err(ApiError::service("create the batch"))?;
        Ok(response.body)
    }

    /// A batch, as it is now.
    ///
    /// # Errors
    ///
    /// [`ApiError::InvalidId`] or [`ApiError::Service`] (a 404 for an unknown id).
    pub async fn retrieve(&self, batch_id: &str) -> Result<Batch, ApiError> {
        check_id("batch", batch_id)?;
        let path = format!("batches/{batch_id}");
        self.get_json(&path, format!("retrieve batch {batch_id}")).await
    }

    /// Every batch, newest first: all pages, following the `after` cursors
    /// (earlier versions returned the first page only). The answer is one
    /// [`BatchPage`] holding every batch, `has_more: false`, `first_id` and
    /// `last_id` of the whole list. For large accounts prefer
    /// [`list_stream`](Self::list_stream), which holds one page at a time.
    ///
    /// # Errors
    ///
    /// [`ApiError::Service`] for the first page that fails (or a server that
    /// repeats a cursor, see [`aoai_core::page`]).
    pub async fn list(&self) -> Result<BatchPage, ApiError> {
        use futures_util::StreamExt as _;
        let mut stream = self.list_stream(&ListQuery::new().limit(100));
        let mut data = Vec::new();
        while let Some(batch) = stream.next().await {
            data.push(batch?);
        }
        Ok(BatchPage {
            object: "list".to_owned(),
            first_id: data.first().map(|batch| batch.id.clone()),
            last_id: data.last().map(|batch| batch.id.clone()),
            has_more: false,
            data,
            extra: serde_json::Map::new(),
        })
    }

    /// One page of batches (`limit`, `after` from `query`, or `cursor` when
    /// given), newest first.
    ///
    /// # Errors
    ///
    /// [`ApiError::Service`].
    pub async fn list_page(&self, query: &ListQuery, cursor: Option<&str>) -> Result<BatchPage, ApiError> {
        let page = self.fetch_page(query, cursor).await.map_err(ApiError::service("list batches"))?;
        let page = page.body;
        Ok(BatchPage {
            object: page.object,
            data: page.data,
            first_id: page.first_id,
            last_id: page.last_id,
            has_more: page.has_more,
            extra: page.extra,
        })
    }

    /// Every batch, newest first, as a stream that follows the `after`
    /// cursors page by page (bounded as [`aoai_core::page::paginate`] is).
    pub fn list_stream(&self, query: &ListQuery) -> BatchStream {
        use futures_util::StreamExt as _;
        let this = self.clone();
        let query = query.clone();
        let pages = paginate(query.after.clone(), move |cursor| {
            let this = this.clone();
            let query = query.clone();
            async move { this.fetch_page(&query, cursor.as_deref()).await }
        });
        Box::pin(pages.map(|item| item.map_err(ApiError::service("list batches"))))
    }

    async fn fetch_page(
        &self,
        query: &ListQuery,
        cursor: Option<&str>,
    ) -> aoai_core::Result<aoai_core::Response<Page<Batch>>> {
        let options = RequestOptions::new("batches.list")
            .query_opt("limit", query.limit.map(|limit| limit.to_string()))
            .query_opt("after", cursor.or(query.after.as_deref()));
        self.client.request_json_with(Method::GET, Route::Resource { path: "batches" }, None, &options).await
    }

    /// Asks the service to cancel a batch; it moves to `cancelling`, then
    /// `cancelled` with the results of the requests finished before.
    ///
    /// # Errors
    ///
    /// [`ApiError::InvalidId`] or [`ApiError::Service`] (a 409 when the batch
    /// is already terminal: returned after one attempt, since retrying
    /// cannot change it — [`RequestOptions::final_status`]).
    pub async fn cancel(&self, batch_id: &str) -> Result<Batch, ApiError> {
        check_id("batch", batch_id)?;
        let path = format!("batches/{batch_id}/cancel");
        let options = RequestOptions::new("batches.cancel").final_status(409);
        let response = self
            .client
            .request_json_with::<Batch>(Method::POST, Route::Resource { path: &path }, None, &options)
            .await
            .map_err(ApiError::service(format!("cancel batch {batch_id}")))?;
        Ok(response.body)
    }

    /// Polls a batch until its status is terminal and returns it — whatever
    /// that status is: check [`Batch::status`]. An unknown status is polled on.
    ///
    /// # Errors
    ///
    /// [`ApiError::Service`] when a retrieval fails (after the client's
    /// retries), [`ApiError::WaitTimeout`] after `options.timeout`.
    pub async fn wait(&self, batch_id: &str, options: &WaitOptions) -> Result<Batch, ApiError> {
        self.wait_with_progress(batch_id, options, |_| {}).await
    }

    /// Like [`BatchClient::wait`], calling `progress` with every retrieved state.
    ///
    /// # Errors
    ///
    /// As [`BatchClient::wait`].
    pub async fn wait_with_progress(
        &self,
        batch_id: &str,
        options: &WaitOptions,
        mut progress: impl FnMut(&Batch),
    ) -> Result<Batch, ApiError> {
        let started = self.time.clock.now();
        loop {
            let batch = self.retrieve(batch_id).await?;
            progress(&batch);
            if batch.is_terminal() {
                return Ok(batch);
            }
            let waited = self.time.clock.now().saturating_duration_since(started);
            let pause = match options.timeout {
                Some(timeout) if waited >= timeout => {
                    return Err(ApiError::WaitTimeout { id: batch.id, status: batch.status, waited });
                }
                Some(timeout) => options.poll_interval.min(timeout - waited),
                None => options.poll_interval,
            };
            self.time.sleep.sleep(pause).await;
        }
    }

    /// The output file's content, or `None` when the batch has none.
    ///
    /// # Errors
    ///
    /// [`ApiError::NotFinished`] before the batch is terminal, or [`ApiError::Service`].
    pub async fn download_output(&self, batch: &Batch) -> Result<Option<Bytes>, ApiError> {
        finished(batch)?;
        match &batch.output_file_id {
            Some(file_id) if !file_id.is_empty() => Ok(Some(self.file_content(file_id).await?)),
            _ => Ok(None),
        }
    }

    /// The error file's content, or `None` when the batch has none.
    ///
    /// # Errors
    ///
    /// [`ApiError::NotFinished`] before the batch is terminal, or [`ApiError::Service`].
    pub async fn download_errors(&self, batch: &Batch) -> Result<Option<Bytes>, ApiError> {
        finished(batch)?;
        match &batch.error_file_id {
            Some(file_id) if !file_id.is_empty() => Ok(Some(self.file_content(file_id).await?)),
            _ => Ok(None),
        }
    }

    /// Downloads the output and error files and maps them by `custom_id`; the
    /// input file is downloaded too, to report the `custom_id`s that came back
    /// in neither file ([`BatchResults::missing`]).
    ///
    /// # Errors
    ///
    /// [`ApiError::NotFinished`], [`ApiError::Service`] or [`ApiError::MalformedResult`].
    pub async fn results(&self, batch: &Batch) -> Result<BatchResults, ApiError> {
        finished(batch)?;
        let custom_ids = self.input_custom_ids(batch).await?;
        self.results_for(batch, &custom_ids).await
    }

    /// The `custom_id`s of a batch's input file, downloaded, in file order.
    ///
    /// # Errors
    ///
    /// [`ApiError::Service`], or [`ApiError::MalformedResult`] for a line
    /// without a string `custom_id`.
    pub async fn input_custom_ids(&self, batch: &Batch) -> Result<Vec<String>, ApiError> {
        let input = self.file_content(&batch.input_file_id).await?;
        results::input_custom_ids(&batch.input_file_id, &input)
    }

    /// Like [`BatchClient::results`], with the input at hand (nothing more to download).
    ///
    /// # Errors
    ///
    /// As [`BatchClient::results`].
    pub async fn results_with_input(&self, batch: &Batch, input: &BatchInput) -> Result<BatchResults, ApiError> {
        self.results_for(batch, input.custom_ids()).await
    }

    /// Like [`BatchClient::results`], with the input's `custom_id`s at hand.
    ///
    /// # Errors
    ///
    /// As [`BatchClient::results`].
    pub async fn results_for(&self, batch: &Batch, custom_ids: &[String]) -> Result<BatchResults, ApiError> {
        let output = self.download_output(batch).await?;
        let errors = self.download_errors(batch).await?;
        let output_id = batch.output_file_id.as_deref().unwrap_or_default();
        let error_id = batch.error_file_id.as_deref().unwrap_or_default();
        BatchResults::parse(
            output.as_deref().map(|content| (output_id, content)),
            errors.as_deref().map(|content| (error_id, content)),
            custom_ids.iter().map(String::as_str),
        )
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str, operation: String) -> Result<T, ApiError> {
        let response = self
            .client
            .request_json::<T>(Method::GET, Route::Resource { path }, None)
            .await
            .map_err(ApiError::service(operation))?;
        Ok(response.body)
    }
}

fn finished(batch: &Batch) -> Result<(), ApiError> {
    if batch.is_terminal() {
        Ok(())
    } else {
        Err(ApiError::NotFinished { id: batch.id.clone(), status: batch.status.clone() })
    }
}

/// An id becomes one URL path segment: no separators, no dot segments.
fn check_id(what: &'static str, id: &str) -> Result<(), ApiError> {
    let bad = id.is_empty()
        || id == "."
        || id == ".."
        || id.chars().any(|c| c.is_control() || c.is_whitespace() || matches!(c, '/' | '\\' | '?' | '#' | '%'));
    if bad { Err(ApiError::InvalidId { what, id: id.to_owned() }) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_single_segments() {
        assert!(check_id("batch", "batch_abc123").is_ok());
        assert!(check_id("file", "file-b4fa7277-f3eb").is_ok());
        for bad in ["", ".", "..", "a/b", "a?b", "a b", "a%2fb"] {
            assert!(matches!(check_id("batch", bad), Err(ApiError::InvalidId { .. })), "{bad:?}");
        }
    }
}
