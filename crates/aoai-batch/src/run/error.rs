//! Why a run could not start or had to stop. Failures of single items are
//! not errors of the run: they are lines of the errors file.

use std::path::PathBuf;

/// A run that could not start, or had to stop (its files could not be
/// written). Everything else — malformed lines, failed requests — is recorded
/// per item and the run goes on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// Two input lines share a `custom_id`; nothing was sent.
    #[error("duplicate custom_id {custom_id:?} on lines {first_line} and {second_line}")]
    DuplicateCustomId {
        /// The id.
        custom_id: String,
        /// Where it first appears (1-based).
        first_line: u64,
        /// Where it appears again.
        second_line: u64,
    },
    /// A file could not be read or written.
    #[error("cannot {operation} {path}")]
    Io {
        /// `read`, `write`, `create`, `open`, `truncate`.
        operation: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A fresh run would overwrite results of an earlier one.
    #[error("{path} already exists: resume that run (--resume) or remove it")]
    OutputExists {
        /// The existing file.
        path: PathBuf,
    },
    /// Resume was asked for, results exist, but their journal does not.
    #[error("cannot resume: {output} exists but its journal {journal} does not")]
    NoJournal {
        /// The output file.
        output: PathBuf,
        /// The missing journal.
        journal: PathBuf,
    },
    /// The input is not the one the journal was written for: resuming would
    /// mix results of different inputs.
    #[error("cannot resume: the input changed since the run started ({what})")]
    InputChanged {
        /// What differs (size or hash, old and new).
        what: String,
    },
    /// The journal or a results file has a line that cannot be read (other
    /// than a torn last line, which is cut off on resume).
    #[error("cannot resume: {path} line {line} is corrupt: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// A worker task failed unexpectedly; the run stopped (resume continues it).
    #[error("a worker failed: {message}")]
    Worker {
        /// What happened.
        message: String,
    },
}

impl RunError {
    /// Whether the error is about the input or the arguments (a usage error
    /// for a command line), rather than the file system.
    #[must_use]
    pub fn is_usage(&self) -> bool {
        !matches!(self, Self::Io { .. } | Self::Worker { .. })
    }
}
