//! [`StructuredError`]: why an answer could not become a `T`.

use crate::schema::{SchemaError, Violation};

/// Why a structured answer could not be produced or parsed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StructuredError {
    /// The type's schema cannot be made strict.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// The model refused (`message.refusal`).
    #[error("the model refused: {refusal}")]
    Refusal {
        /// The refusal text.
        refusal: String,
    },
    /// The answer was cut by the token limit (`finish_reason: length`).
    #[error("the answer was truncated by the token limit")]
    Truncated {
        /// What was generated before the cut, if anything.
        partial: Option<String>,
    },
    /// Azure's content filter cut the answer (`finish_reason: content_filter`).
    #[error("the answer was cut by the content filter")]
    ContentFiltered {
        /// What was kept before the cut, if anything.
        partial: Option<String>,
    },
    /// The response holds nothing to parse.
    #[error("no answer to parse: {reason}")]
    MissingContent {
        /// What was missing (no choice, no content, no call of the tool).
        reason: String,
    },
    /// The answer is not JSON.
    #[error("the answer is not valid JSON at line {line}, column {column}: {message}")]
    InvalidJson {
        /// The parser's message.
        message: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// The answer as received.
        content: String,
    },
    /// The answer is JSON but breaks the schema.
    #[error("the answer breaks the schema: {}", join(violations))]
    SchemaViolations {
        /// Every violation, with its JSON path.
        violations: Vec<Violation>,
        /// The answer as received.
        content: String,
    },
    /// The answer validates but does not deserialize into the type.
    #[error("the answer does not deserialize: {message}")]
    Deserialize {
        /// serde's message.
        message: String,
        /// The answer as received.
        content: String,
    },
    /// The request failed.
    #[error("the request failed")]
    Api(#[source] Box<aoai_core::Error>),
}

impl StructuredError {
    /// Whether re-asking with the error could fix it (invalid JSON, schema
    /// violations, deserialization errors).
    #[must_use]
    pub fn is_repairable(&self) -> bool {
        matches!(self, Self::InvalidJson { .. } | Self::SchemaViolations { .. } | Self::Deserialize { .. })
    }

    /// The schema violations, if that is the error.
    #[must_use]
    pub fn violations(&self) -> &[Violation] {
        match self {
            Self::SchemaViolations { violations, .. } => violations,
            _ => &[],
        }
    }

    /// The raw answer the error is about, if there was one.
    #[must_use]
    pub fn content(&self) -> Option<&str> {
        match self {
            Self::InvalidJson { content, .. }
            | Self::SchemaViolations { content, .. }
            | Self::Deserialize { content, .. } => Some(content),
            Self::Truncated { partial } | Self::ContentFiltered { partial } => partial.as_deref(),
            _ => None,
        }
    }
}

impl From<aoai_core::Error> for StructuredError {
    fn from(error: aoai_core::Error) -> Self {
        Self::Api(Box::new(error))
    }
}

fn join(violations: &[Violation]) -> String {
    violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}
