//! The crate's errors: an assistant that cannot be built, a request that
//! failed, a response the service ended badly, a run that hit its round
//! limit, a structured answer that breaks its schema, and what a thread's
//! backend cannot do.
//!
//! A tool's failure is never one of these: it goes back to the model as the
//! call's output (see [`ToolCallRecord`](crate::ToolCallRecord)).

use crate::run::RunResult;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why an assistant could not be built or a run did not finish.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Settings that cannot work (a schema that cannot be strict, a zero round limit).
    #[error(transparent)]
    Config(ConfigError),
    /// A configuration file that cannot be read, parsed or resolved (an
    /// unknown key, an unknown tool, a value out of range).
    #[error(transparent)]
    ConfigFile(crate::config::ConfigFileError),
    /// A request to the service failed (after the client's own retries).
    #[error(transparent)]
    Request(RequestError),
    /// The service ended a response as failed, incomplete or cancelled.
    #[error(transparent)]
    Response(ResponseEndedError),
    /// The model still called tools after the last allowed round.
    #[error(transparent)]
    RoundLimit(RoundLimitError),
    /// The answer does not follow the assistant's output format.
    #[error(transparent)]
    Output(OutputError),
    /// The thread's backend cannot do this (a background run on a client-side thread).
    #[error(transparent)]
    Unsupported(UnsupportedError),
    /// A knowledge directory could not be read or synced.
    #[error(transparent)]
    Knowledge(KnowledgeError),
}

impl Error {
    /// The client's error, when a request failed.
    #[must_use]
    pub fn request_error(&self) -> Option<&aoai_core::Error> {
        match self {
            Self::Request(error) => Some(error.client_error()),
            Self::Knowledge(error) => error.client_error(),
            _ => None,
        }
    }

    /// What the run had done before it stopped, when it has a result to show
    /// (the round limit, a response that ended badly).
    #[must_use]
    pub fn partial(&self) -> Option<&RunResult> {
        match self {
            Self::RoundLimit(error) => Some(error.partial()),
            Self::Response(error) => error.partial(),
            _ => None,
        }
    }
}

/// Settings that cannot work (see [`Error::Config`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid assistant configuration: {message}")]
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

/// A request failed (see [`Error::Request`]).
#[derive(Debug, thiserror::Error)]
#[error("{what} failed (round {round})")]
pub struct RequestError {
    what: &'static str,
    round: u32,
    #[source]
    source: aoai_core::Error,
}

impl RequestError {
    pub(crate) fn new(what: &'static str, round: u32, source: aoai_core::Error) -> Self {
        Self { what, round, source }
    }

    /// The operation that failed (`create response`, `create conversation`, …).
    #[must_use]
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// The round (1-based) whose request failed; 0 outside a run's rounds.
    #[must_use]
    pub fn round(&self) -> u32 {
        self.round
    }

    /// The client's error.
    #[must_use]
    pub fn client_error(&self) -> &aoai_core::Error {
        &self.source
    }

    /// Whether the request may have reached the service.
    #[must_use]
    pub fn may_have_been_sent(&self) -> bool {
        self.source.may_have_been_sent()
    }
}

/// The service ended a response as failed, incomplete or cancelled (see
/// [`Error::Response`]).
#[derive(Debug, thiserror::Error)]
#[error("response {response_id} ended {status}{}", describe(.code.as_deref(), .message.as_deref()))]
pub struct ResponseEndedError {
    response_id: String,
    status: String,
    code: Option<String>,
    message: Option<String>,
    partial: Option<Box<RunResult>>,
}

fn describe(code: Option<&str>, message: Option<&str>) -> String {
    match (code, message) {
        (Some(code), Some(message)) => format!(": {code}: {message}"),
        (Some(text), None) | (None, Some(text)) => format!(": {text}"),
        (None, None) => String::new(),
    }
}

impl ResponseEndedError {
    pub(crate) fn new(
        response_id: impl Into<String>,
        status: impl Into<String>,
        code: Option<String>,
        message: Option<String>,
        partial: Option<RunResult>,
    ) -> Self {
        Self { response_id: response_id.into(), status: status.into(), code, message, partial: partial.map(Box::new) }
    }

    /// The response's id.
    #[must_use]
    pub fn response_id(&self) -> &str {
        &self.response_id
    }

    /// Its status: `failed`, `incomplete` or `cancelled`.
    #[must_use]
    pub fn status(&self) -> &str {
        &self.status
    }

    /// The service's code (`server_error`) or reason (`max_output_tokens`), if any.
    #[must_use]
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The service's message, if any.
    #[must_use]
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The run up to and including this response, when there was one.
    #[must_use]
    pub fn partial(&self) -> Option<&RunResult> {
        self.partial.as_deref()
    }
}

/// The model still called tools after the last round (see [`Error::RoundLimit`]).
#[derive(Debug, thiserror::Error)]
#[error("the model still called tools after {rounds} rounds (the limit)")]
pub struct RoundLimitError {
    rounds: u32,
    partial: Box<RunResult>,
}

impl RoundLimitError {
    pub(crate) fn new(rounds: u32, partial: RunResult) -> Self {
        Self { rounds, partial: Box::new(partial) }
    }

    /// The limit that was reached.
    #[must_use]
    pub fn rounds(&self) -> u32 {
        self.rounds
    }

    /// Everything so far: the tool calls made, usage, ids, and the calls the
    /// last response asked for that were not run (`pending_calls`).
    #[must_use]
    pub fn partial(&self) -> &RunResult {
        &self.partial
    }
}

/// The answer does not follow the output format (see [`Error::Output`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the answer does not follow the format `{format}`: {reason}")]
pub struct OutputError {
    format: String,
    reason: String,
}

impl OutputError {
    pub(crate) fn new(format: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { format: format.into(), reason: reason.into() }
    }

    /// The format's (schema's) name.
    #[must_use]
    pub fn format(&self) -> &str {
        &self.format
    }

    /// What is wrong: not JSON, a schema violation, or a value the type does not take.
    #[must_use]
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// The thread's backend cannot do this (see [`Error::Unsupported`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} is not possible on a {backend} thread")]
pub struct UnsupportedError {
    what: &'static str,
    backend: &'static str,
}

impl UnsupportedError {
    pub(crate) fn new(what: &'static str, backend: &'static str) -> Self {
        Self { what, backend }
    }

    /// What was asked.
    #[must_use]
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// The thread's backend (`conversation`, `response chain`, `client-side`).
    #[must_use]
    pub fn backend(&self) -> &'static str {
        self.backend
    }
}

/// A knowledge directory could not be read or synced, or a store could not
/// be searched (see [`Error::Knowledge`]); [`kind`](Self::kind) says which
/// failure it is.
#[derive(Debug, thiserror::Error)]
#[error("{subject}: {message}")]
pub struct KnowledgeError {
    kind: KnowledgeErrorKind,
    subject: String,
    message: String,
    #[source]
    source: Option<Box<aoai_core::Error>>,
}

/// What kind of failure a [`KnowledgeError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KnowledgeErrorKind {
    /// The directory, or a file in it, could not be read (nothing was sent for it).
    Directory,
    /// The vector store does not exist (the service answered 404).
    StoreNotFound,
    /// The vector store has expired: its files are no longer searchable and
    /// it cannot be filled again; nothing was uploaded. Make a new store
    /// ([`create_from_directory`](crate::knowledge::create_from_directory)).
    StoreExpired,
    /// Another call to the service failed ([`KnowledgeError::client_error`] says how).
    Request,
}

impl KnowledgeError {
    pub(crate) fn new(
        kind: KnowledgeErrorKind,
        subject: impl Into<String>,
        message: impl Into<String>,
        source: Option<aoai_core::Error>,
    ) -> Self {
        Self { kind, subject: subject.into(), message: message.into(), source: source.map(Box::new) }
    }

    /// What kind of failure it is.
    #[must_use]
    pub fn kind(&self) -> KnowledgeErrorKind {
        self.kind
    }

    /// What it is about: a file's path, a directory, or the store.
    #[must_use]
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// What went wrong.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The client's error, when a call failed.
    #[must_use]
    pub fn client_error(&self) -> Option<&aoai_core::Error> {
        self.source.as_deref()
    }

    /// Whether the failed request may have reached the service (false when
    /// no request failed: a directory that cannot be read, an expired store).
    #[must_use]
    pub fn may_have_been_sent(&self) -> bool {
        self.source.as_deref().is_some_and(aoai_core::Error::may_have_been_sent)
    }
}

/// An expiry outside what the service accepts (see
/// [`Expiry::days_after_last_active`](crate::knowledge::Expiry::days_after_last_active)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a vector store expires 1 to 365 days after its last use, not {days}")]
pub struct ExpiryError {
    days: u32,
}

impl ExpiryError {
    pub(crate) fn new(days: u32) -> Self {
        Self { days }
    }

    /// The days asked for.
    #[must_use]
    pub fn days(&self) -> u32 {
        self.days
    }
}

impl From<ExpiryError> for Error {
    fn from(error: ExpiryError) -> Self {
        Self::Config(ConfigError::new(error.to_string()))
    }
}
