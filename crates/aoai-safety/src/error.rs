//! Errors: [`GuardError`], and [`Blocked`], the typed refusal.
//!
//! A refusal is a [`Blocked`] whichever side it came from: a local guard or
//! Content Safety before sending (nothing was sent), Azure's content filter
//! refusing the prompt (400 `content_filter`, sent), or a guard refusing the
//! answer (sent; the answer's request id is kept). When a guarded client is
//! used as an [`aoai_core::ChatApi`] or [`aoai_core::ResponsesApi`], a refusal travels as
//! [`aoai_core::Error::Rejected`]; [`GuardError::from`] turns it back into a
//! [`Blocked`].

use std::fmt;

use aoai_core::error::{ApiError, RejectedError};

use crate::guard::Reason;

/// The layer name put on [`RejectedError::layer`].
pub const LAYER: &str = "aoai-safety";

/// What was being checked when a guard refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stage {
    /// The request, before sending (or Azure's filter refusing the prompt).
    Input,
    /// A whole answer.
    Output,
    /// A streamed answer, mid-stream: what came before the error was delivered.
    Stream,
}

impl Stage {
    /// `input`, `output` or `stream`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Input => "input",
            Self::Output => "output",
            Self::Stream => "stream",
        }
    }
}

/// A guard refused a request or an answer.
#[derive(Debug, Clone)]
pub struct Blocked {
    /// The guard that refused (its [`Guard::name`](crate::Guard::name), or
    /// `azure_filter` for Azure's own refusal).
    pub guard: String,
    /// What was being checked.
    pub stage: Stage,
    /// Why: categories, severities, sources, what matched and where.
    pub reasons: Vec<Reason>,
    /// Whether the request reached the service. `false` for an input refused
    /// by a guard: nothing was sent.
    pub sent: bool,
    /// The request id of the refused answer (or of Azure's 400).
    pub request_id: Option<String>,
    /// Azure's 400 `content_filter` error, when Azure refused the prompt.
    pub azure_error: Option<ApiError>,
}

impl Blocked {
    /// The categories that caused the refusal, in order, without repeats.
    #[must_use]
    pub fn categories(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for reason in &self.reasons {
            if !out.contains(&reason.category.as_str()) {
                out.push(&reason.category);
            }
        }
        out
    }

    /// This refusal as an [`aoai_core::Error::Rejected`], for [`aoai_core::ChatApi`] callers.
    #[must_use]
    pub fn into_core(self) -> aoai_core::Error {
        aoai_core::Error::Rejected(RejectedError {
            layer: LAYER,
            may_have_been_sent: self.sent,
            request_id: self.request_id.clone(),
            source: Box::new(self),
        })
    }
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} blocked by {}", self.stage.as_str(), self.guard)?;
        let reasons: Vec<String> = self.reasons.iter().map(ToString::to_string).collect();
        if !reasons.is_empty() {
            write!(f, ": {}", reasons.join(", "))?;
        }
        Ok(())
    }
}

impl std::error::Error for Blocked {}

/// What can go wrong in a guarded call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GuardError {
    /// A guard (or Azure's filter) refused.
    #[error(transparent)]
    Blocked(Box<Blocked>),
    /// The wrapped client failed, or a guard's own service call (Content
    /// Safety) failed. [`aoai_core::Error::may_have_been_sent`] says whether
    /// the chat request went out.
    #[error("the guarded client failed")]
    Client(#[source] aoai_core::Error),
    /// A guard's own service call (Content Safety) failed, so the content
    /// could not be checked. At `stage: Input` the chat request was not sent;
    /// at `Output` the answer was not delivered.
    #[error("guard {guard} could not check the {}", stage.as_str())]
    Service {
        /// The guard.
        guard: String,
        /// What it was checking.
        stage: Stage,
        /// Its call's error.
        #[source]
        source: aoai_core::Error,
    },
    /// A guard was configured wrongly (an empty blocklist term, a bad pattern).
    #[error("invalid guard configuration: {0}")]
    Config(String),
    /// A guard does not cover this API (a custom guard written for chat
    /// that does not implement the Responses hooks), so the content could
    /// not be checked and is refused. At `stage: Input` nothing was sent; at
    /// `Output` the answer was not delivered.
    #[error("guard {guard} does not cover the {api}: it cannot check the {}", stage.as_str())]
    Unsupported {
        /// The guard.
        guard: String,
        /// The API it does not cover (`Responses API`).
        api: &'static str,
        /// What it was asked to check.
        stage: Stage,
    },
}

impl GuardError {
    /// The refusal, if this is one.
    #[must_use]
    pub fn blocked(&self) -> Option<&Blocked> {
        match self {
            Self::Blocked(blocked) => Some(blocked),
            _ => None,
        }
    }

    /// The underlying aoai-core error, if this is one (Azure's filter error
    /// included, through [`Blocked::azure_error`]'s own variant).
    #[must_use]
    pub fn core(&self) -> Option<&aoai_core::Error> {
        match self {
            Self::Client(error) => Some(error),
            _ => None,
        }
    }

    /// Whether the chat request may have reached the service: `false` for a
    /// guard's refusal of the input or a guard failing before sending.
    #[must_use]
    pub fn may_have_been_sent(&self) -> bool {
        match self {
            Self::Blocked(blocked) => blocked.sent,
            Self::Client(error) => error.may_have_been_sent(),
            Self::Service { stage, .. } | Self::Unsupported { stage, .. } => *stage != Stage::Input,
            Self::Config(_) => false,
        }
    }

    /// Guard `name` does not cover the Responses API.
    pub(crate) fn unsupported(name: &str, stage: Stage) -> Self {
        Self::Unsupported { guard: name.to_owned(), api: "Responses API", stage }
    }

    /// A client error raised inside guard `name` becomes [`GuardError::Service`].
    pub(crate) fn in_guard(self, name: &str, stage: Stage) -> Self {
        match self {
            Self::Client(source) => Self::Service { guard: name.to_owned(), stage, source },
            other => other,
        }
    }

    /// This error as an [`aoai_core::Error`], for [`aoai_core::ChatApi`] callers:
    /// a refusal becomes [`aoai_core::Error::Rejected`] (Azure's own filter
    /// error stays the [`aoai_core::Error::Api`] it was), a client error is
    /// returned as is.
    #[must_use]
    pub fn into_core(self) -> aoai_core::Error {
        match self {
            Self::Blocked(blocked) => match blocked.azure_error.clone() {
                Some(api) => aoai_core::Error::Api(api),
                None => blocked.into_core(),
            },
            Self::Client(error) => error,
            Self::Service { stage, .. } | Self::Unsupported { stage, .. } => {
                let may_have_been_sent = stage != Stage::Input;
                aoai_core::Error::Rejected(RejectedError {
                    layer: LAYER,
                    may_have_been_sent,
                    request_id: None,
                    source: Box::new(self),
                })
            }
            Self::Config(message) => aoai_core::Error::Config(aoai_core::error::ConfigError::new("guard", message)),
        }
    }
}

impl From<Blocked> for GuardError {
    fn from(blocked: Blocked) -> Self {
        Self::Blocked(Box::new(blocked))
    }
}

impl From<aoai_core::Error> for GuardError {
    /// A [`Blocked`] carried in [`aoai_core::Error::Rejected`] comes back as
    /// [`GuardError::Blocked`], and so does Azure's 400 `content_filter`
    /// error; everything else is [`GuardError::Client`].
    fn from(error: aoai_core::Error) -> Self {
        match error {
            aoai_core::Error::Rejected(rejected) if rejected.layer == LAYER => {
                let RejectedError { layer, may_have_been_sent, request_id, source } = rejected;
                match source.downcast::<Blocked>() {
                    Ok(blocked) => Self::Blocked(blocked),
                    Err(source) => match source.downcast::<GuardError>() {
                        Ok(error) => *error,
                        Err(source) => Self::Client(aoai_core::Error::Rejected(RejectedError {
                            layer,
                            may_have_been_sent,
                            request_id,
                            source,
                        })),
                    },
                }
            }
            error => match crate::azure_filter::blocked_from_error(&error) {
                Some(blocked) => blocked.into(),
                None => Self::Client(error),
            },
        }
    }
}

/// `Result` with [`GuardError`].
pub type Result<T, E = GuardError> = std::result::Result<T, E>;
