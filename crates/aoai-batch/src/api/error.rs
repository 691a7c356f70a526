//! [`ApiError`]: what can go wrong with the Batch API, from checking the input
//! file to reading the results.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::model::BatchStatus;

/// Which result file a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ResultFile {
    /// The batch's output file.
    Output,
    /// The batch's error file.
    Errors,
    /// The batch's input file (read back for its `custom_id`s).
    Input,
}

impl fmt::Display for ResultFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Output => "output",
            Self::Errors => "error",
            Self::Input => "input",
        })
    }
}

/// A Batch API failure. Input problems name the 1-based line; service
/// failures keep the [`aoai_core::Error`] (status, code, request id) as their
/// source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The input file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The input file is larger than the Batch API accepts.
    #[error("the input file has {bytes} bytes; the Batch API accepts at most {limit}")]
    TooLarge {
        /// Its size.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// The input file has more requests than the Batch API accepts.
    #[error("the input file has more than {limit} requests (line {line} is one too many)")]
    TooManyRequests {
        /// The limit.
        limit: usize,
        /// The first line over the limit.
        line: u64,
    },
    /// The input file has no requests.
    #[error("the input file has no requests")]
    Empty,
    /// A line is not a valid request `{custom_id, method, url, body}`.
    #[error("line {line}: {problem}")]
    MalformedLine {
        /// 1-based.
        line: u64,
        /// The line's `custom_id`, when it has a string one.
        custom_id: Option<String>,
        /// What is wrong.
        problem: String,
    },
    /// Two lines share a `custom_id`.
    #[error("line {line}: custom_id {custom_id:?} is already used on line {first_line}")]
    DuplicateCustomId {
        /// The repeated id.
        custom_id: String,
        /// 1-based line of the repeat.
        line: u64,
        /// 1-based line of its first use.
        first_line: u64,
    },
    /// A line calls another `url` than the file's first line (or than the
    /// batch's endpoint): a batch calls one endpoint.
    #[error("line {line}: url {url:?} differs from {expected:?}; a batch calls one endpoint")]
    UrlMismatch {
        /// 1-based.
        line: u64,
        /// The line's url.
        url: String,
        /// The url of the first line, or the endpoint asked for.
        expected: String,
    },
    /// A file or batch id that cannot be part of a URL path.
    #[error("invalid {what} id {id:?}")]
    InvalidId {
        /// `file` or `batch`.
        what: &'static str,
        /// The id.
        id: String,
    },
    /// The service refused a request or could not be reached.
    #[error("cannot {operation}")]
    Service {
        /// What was attempted, e.g. `create the batch`.
        operation: String,
        /// The client's error: status, code, request id, whether it may have been sent.
        #[source]
        source: aoai_core::Error,
    },
    /// A line of a result file (or of the input file read back) is not valid.
    #[error("{file} file {file_id}, line {line}: {problem}")]
    MalformedResult {
        /// Which file.
        file: ResultFile,
        /// Its id.
        file_id: String,
        /// 1-based.
        line: u64,
        /// What is wrong.
        problem: String,
    },
    /// The batch is not finished, so it has no results to read yet.
    #[error("batch {id} is not finished: its status is {status}")]
    NotFinished {
        /// The batch.
        id: String,
        /// Its status.
        status: BatchStatus,
    },
    /// [`BatchClient::wait`](super::BatchClient::wait) gave up.
    #[error("batch {id} is still {status} after {waited:?}")]
    WaitTimeout {
        /// The batch.
        id: String,
        /// Its last status.
        status: BatchStatus,
        /// How long it was polled.
        waited: Duration,
    },
}

impl ApiError {
    /// The 1-based input line at fault, for input problems.
    #[must_use]
    pub fn line(&self) -> Option<u64> {
        match self {
            Self::TooManyRequests { line, .. }
            | Self::MalformedLine { line, .. }
            | Self::DuplicateCustomId { line, .. }
            | Self::UrlMismatch { line, .. } => Some(*line),
            _ => None,
        }
    }

    /// The client's error, for service failures.
    #[must_use]
    pub fn service_error(&self) -> Option<&aoai_core::Error> {
        match self {
            Self::Service { source, .. } => Some(source),
            _ => None,
        }
    }

    /// Whether the input file is at fault (nothing was sent).
    #[must_use]
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            Self::Read { .. }
                | Self::TooLarge { .. }
                | Self::TooManyRequests { .. }
                | Self::Empty
                | Self::MalformedLine { .. }
                | Self::DuplicateCustomId { .. }
                | Self::UrlMismatch { .. }
        )
    }

    pub(crate) fn service(operation: impl Into<String>) -> impl FnOnce(aoai_core::Error) -> Self {
        let operation = operation.into();
        move |source| Self::Service { operation, source }
    }
}
