//! The engine's errors: storage that could not be read or written, a record
//! or query that does not fit the schema, a directory built with another
//! schema or stored in a format this build cannot read.

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why an index operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The index's files (or its in-memory keyword index) could not be read or written.
    #[error(transparent)]
    Storage(StorageError),
    /// A schema, record or query that cannot work: an unknown field, a vector of the wrong length.
    #[error(transparent)]
    Invalid(InvalidError),
    /// The directory holds an index built with another schema.
    #[error(transparent)]
    Mismatch(MismatchError),
    /// The directory holds an index in a storage format this build cannot read.
    #[error(transparent)]
    Format(FormatError),
}

/// The directory's storage format is not one this build reads (see [`Error::Format`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "index at {location} is stored in format {found}, which this build cannot read (it reads formats 1 and 2): \
     rebuild the index from its sources (delete the directory and index again)"
)]
pub struct FormatError {
    location: String,
    found: u64,
}

impl FormatError {
    pub(crate) fn new(location: impl Into<String>, found: u64) -> Self {
        Self { location: location.into(), found }
    }

    /// The index directory.
    #[must_use]
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The format the directory says it is in.
    #[must_use]
    pub fn found(&self) -> u64 {
        self.found
    }
}

/// The index could not be read or written (see [`Error::Storage`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("index at {location} could not {operation}: {message}")]
pub struct StorageError {
    location: String,
    operation: &'static str,
    message: String,
}

impl StorageError {
    pub(crate) fn new(location: impl Into<String>, operation: &'static str, message: impl ToString) -> Self {
        Self { location: location.into(), operation, message: message.to_string() }
    }

    /// The index directory, or `memory`.
    #[must_use]
    pub fn location(&self) -> &str {
        &self.location
    }

    /// What it was doing: `open`, `read`, `write`, `search`, `commit`.
    #[must_use]
    pub fn operation(&self) -> &'static str {
        self.operation
    }

    /// What went wrong.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// A schema, record or query that does not fit (see [`Error::Invalid`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what}: {message}")]
pub struct InvalidError {
    what: &'static str,
    message: String,
}

impl InvalidError {
    pub(crate) fn new(what: &'static str, message: impl Into<String>) -> Self {
        Self { what, message: message.into() }
    }

    /// What is invalid: `schema`, `record` or `query`.
    #[must_use]
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// What is wrong.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The directory was built with another schema (see [`Error::Mismatch`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("index at {location} was built with another schema: stored {stored}, given {given}")]
pub struct MismatchError {
    location: String,
    stored: String,
    given: String,
}

impl MismatchError {
    pub(crate) fn new(location: impl Into<String>, stored: String, given: String) -> Self {
        Self { location: location.into(), stored, given }
    }

    /// The index directory.
    #[must_use]
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The stored schema, as JSON.
    #[must_use]
    pub fn stored(&self) -> &str {
        &self.stored
    }

    /// The schema offered, as JSON.
    #[must_use]
    pub fn given(&self) -> &str {
        &self.given
    }
}
