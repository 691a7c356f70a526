//! The cache's errors: a backend that failed or took too long, or a stored
//! value that could not be read back.
//!
//! [`Cached`](crate::Cached) never returns these to its callers: a failing
//! backend turns a request into a pass-through to the upstream (counted in
//! [`CacheStats::pass_throughs`](crate::stats::CacheStats::pass_throughs)).
//! They reach code that calls a [`Cache`](crate::Cache) directly.

use std::time::Duration;

/// Why a cache operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The backend answered with an error or could not be reached.
    #[error(transparent)]
    Backend(BackendError),
    /// The backend did not answer within its per-operation timeout.
    #[error(transparent)]
    Timeout(TimeoutError),
    /// A stored value could not be decoded (written by another version, or corrupted).
    #[error(transparent)]
    Decode(DecodeError),
}

impl Error {
    /// The backend's short name (`memory`, `redis`), when the error comes from one.
    #[must_use]
    pub fn backend(&self) -> Option<&'static str> {
        match self {
            Self::Backend(error) => Some(error.backend),
            Self::Timeout(error) => Some(error.backend),
            Self::Decode(_) => None,
        }
    }
}

/// A backend failed (see [`Error::Backend`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {backend} cache could not {operation}: {message}")]
pub struct BackendError {
    pub(crate) backend: &'static str,
    pub(crate) operation: &'static str,
    pub(crate) message: String,
}

impl BackendError {
    /// The backend's short name (`redis`).
    #[must_use]
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// What it was doing: `connect`, `get`, `put`, `lock`, `unlock`.
    #[must_use]
    pub fn operation(&self) -> &'static str {
        self.operation
    }

    /// What went wrong; never contains a password.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// A backend took too long (see [`Error::Timeout`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {backend} cache did not {operation} within {after:?}")]
pub struct TimeoutError {
    pub(crate) backend: &'static str,
    pub(crate) operation: &'static str,
    pub(crate) after: Duration,
}

impl TimeoutError {
    /// The backend's short name.
    #[must_use]
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// What it was doing.
    #[must_use]
    pub fn operation(&self) -> &'static str {
        self.operation
    }

    /// The timeout that expired.
    #[must_use]
    pub fn after(&self) -> Duration {
        self.after
    }
}

/// A stored value that is not what this crate writes (see [`Error::Decode`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a cached value could not be decoded: {message}")]
pub struct DecodeError {
    pub(crate) message: String,
}

impl DecodeError {
    /// What the decoder said.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
