//! The crate's errors: bad settings, an embedding call that failed, an index
//! that could not be read or written, an index built with another embedder,
//! a chat call for a grounded answer that failed.

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a chunking, embedding or index operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Settings that cannot work (a budget too small, zero dimensions).
    #[error(transparent)]
    Config(ConfigError),
    /// The embedding service failed, or answered with the wrong number or size of vectors.
    #[error(transparent)]
    Embed(EmbedError),
    /// The index on disk could not be opened, read or written.
    #[error(transparent)]
    Index(IndexError),
    /// The index was built with another embedder or vector size.
    #[error(transparent)]
    Mismatch(MismatchError),
    /// The chat call of a grounded answer failed.
    #[error(transparent)]
    Chat(ChatError),
    /// An Azure AI Search call failed, or some documents of a batch were refused.
    #[error(transparent)]
    Search(SearchError),
}

/// Settings that cannot work (see [`Error::Config`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {message}")]
pub struct ConfigError {
    message: String,
}

impl ConfigError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }

    /// What is wrong.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// An embedding call failed (see [`Error::Embed`]).
#[derive(Debug, thiserror::Error)]
#[error("embedding with {embedder} failed: {message}")]
pub struct EmbedError {
    embedder: String,
    message: String,
    #[source]
    source: Option<Box<aoai_core::Error>>,
}

impl EmbedError {
    pub(crate) fn new(
        embedder: impl Into<String>,
        message: impl Into<String>,
        source: Option<aoai_core::Error>,
    ) -> Self {
        Self { embedder: embedder.into(), message: message.into(), source: source.map(Box::new) }
    }

    /// The embedder's identity (see [`Embedder::identity`](crate::embed::Embedder::identity)).
    #[must_use]
    pub fn embedder(&self) -> &str {
        &self.embedder
    }

    /// What went wrong.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The client's error, when the service call failed.
    #[must_use]
    pub fn client_error(&self) -> Option<&aoai_core::Error> {
        self.source.as_deref()
    }
}

/// The index could not be opened, read or written (see [`Error::Index`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("index at {path} could not {operation}: {message}")]
pub struct IndexError {
    path: String,
    operation: &'static str,
    message: String,
}

impl IndexError {
    pub(crate) fn new(path: impl Into<String>, operation: &'static str, message: impl ToString) -> Self {
        Self { path: path.into(), operation, message: message.to_string() }
    }

    /// The index directory.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
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

/// The index was built with another embedder (see [`Error::Mismatch`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("index was built with {stored} ({stored_dimensions} dimensions), not {given} ({given_dimensions} dimensions)")]
pub struct MismatchError {
    stored: String,
    stored_dimensions: usize,
    given: String,
    given_dimensions: usize,
}

impl MismatchError {
    pub(crate) fn new(stored: &str, stored_dimensions: usize, given: &str, given_dimensions: usize) -> Self {
        Self { stored: stored.to_owned(), stored_dimensions, given: given.to_owned(), given_dimensions }
    }

    /// The embedder identity in the index's manifest.
    #[must_use]
    pub fn stored(&self) -> &str {
        &self.stored
    }

    /// The embedder identity offered.
    #[must_use]
    pub fn given(&self) -> &str {
        &self.given
    }
}

/// The chat call of a grounded answer failed (see [`Error::Chat`]).
#[derive(Debug, thiserror::Error)]
#[error("asking {deployment} failed: {message}")]
pub struct ChatError {
    deployment: String,
    message: String,
    #[source]
    source: Option<Box<aoai_core::Error>>,
}

impl ChatError {
    pub(crate) fn new(deployment: &str, message: impl Into<String>, source: Option<aoai_core::Error>) -> Self {
        Self { deployment: deployment.to_owned(), message: message.into(), source: source.map(Box::new) }
    }

    /// The chat deployment asked.
    #[must_use]
    pub fn deployment(&self) -> &str {
        &self.deployment
    }

    /// What went wrong.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The client's error, when the service call failed.
    #[must_use]
    pub fn client_error(&self) -> Option<&aoai_core::Error> {
        self.source.as_deref()
    }
}

/// One document Azure AI Search refused in a batch (see [`SearchError::failed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedDocument {
    /// The chunk id.
    pub chunk_id: String,
    /// The per-document status code (e.g. 404 for a merge of a missing document).
    pub status: u16,
    /// The service's message.
    pub message: String,
}

/// An Azure AI Search call failed (see [`Error::Search`]).
#[derive(Debug, thiserror::Error)]
#[error("Azure AI Search index {index}: {message}")]
pub struct SearchError {
    index: String,
    message: String,
    failed: Vec<FailedDocument>,
    #[source]
    source: Option<Box<aoai_core::Error>>,
}

impl SearchError {
    #[cfg_attr(not(feature = "azure-search"), allow(dead_code))]
    pub(crate) fn new(
        index: impl Into<String>,
        message: impl Into<String>,
        failed: Vec<FailedDocument>,
        source: Option<aoai_core::Error>,
    ) -> Self {
        Self { index: index.into(), message: message.into(), failed, source: source.map(Box::new) }
    }

    /// The index name.
    #[must_use]
    pub fn index(&self) -> &str {
        &self.index
    }

    /// What went wrong.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The documents the service refused, when a batch partly failed (empty otherwise).
    #[must_use]
    pub fn failed(&self) -> &[FailedDocument] {
        &self.failed
    }

    /// The client's error, when the call itself failed.
    #[must_use]
    pub fn client_error(&self) -> Option<&aoai_core::Error> {
        self.source.as_deref()
    }

    /// The HTTP status of the failed call, if there was one.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        self.client_error().and_then(aoai_core::Error::status)
    }
}
