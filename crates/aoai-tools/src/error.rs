//! The errors of this crate: [`ToolError`] (one tool call went wrong; the
//! model is told), [`RegistryError`] (a tool cannot be registered) and
//! [`LoopError`] (the loop itself stopped).
//!
//! A [`ToolError`] never ends the loop: its text goes back to the model as the
//! tool's result, `{"error": "…"}`, so the model can correct its arguments or
//! answer without the tool. Only a failed request or the round limit end it,
//! as a [`LoopError`].

use std::fmt;
use std::time::Duration;

use serde_json::{Value, json};

use crate::run::ToolRunOutput;

/// One way a tool call's arguments break the tool's parameter schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Where in the arguments, as a JSON pointer (`""` is the whole object,
    /// `/unit` a field, `/stops/0` an array element).
    pub instance_path: String,
    /// What is wrong, as the validator words it.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.instance_path.is_empty() { "/" } else { self.instance_path.as_str() };
        write!(f, "at {path}: {}", self.message)
    }
}

/// Why one tool call produced no result. Its [`Display`](fmt::Display) is
/// what the model reads, so it says precisely what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ToolError {
    /// The arguments are not JSON, not an object, or break the schema; the
    /// tool did not run.
    #[error("invalid arguments for `{tool}`: {}", describe_invalid(.reason, .violations))]
    InvalidArguments {
        /// The tool's name.
        tool: String,
        /// What is wrong when it is not a schema violation (malformed JSON,
        /// a value that does not deserialize); empty otherwise.
        reason: String,
        /// Every schema violation, in the validator's order.
        violations: Vec<Violation>,
    },
    /// The tool ran and reported a failure.
    #[error("{message}")]
    Failed {
        /// The tool's own explanation.
        message: String,
    },
    /// The tool did not finish within the loop's per-call time limit.
    #[error("`{tool}` did not finish within {limit:?}")]
    TimedOut {
        /// The tool's name.
        tool: String,
        /// The limit it exceeded.
        limit: Duration,
    },
    /// The model called a tool the registry does not have.
    #[error("unknown tool `{name}`; available tools: {available}")]
    UnknownTool {
        /// The name the model used.
        name: String,
        /// The registered names, comma-separated.
        available: String,
    },
}

fn describe_invalid(reason: &str, violations: &[Violation]) -> String {
    let mut parts: Vec<String> = Vec::new();
    if !reason.is_empty() {
        parts.push(reason.to_owned());
    }
    parts.extend(violations.iter().map(Violation::to_string));
    parts.join("; ")
}

impl ToolError {
    /// A tool's own failure, in words the model can act on.
    #[must_use]
    pub fn failed(message: impl fmt::Display) -> Self {
        Self::Failed { message: message.to_string() }
    }

    /// Arguments that are malformed for a reason other than a schema
    /// violation.
    #[must_use]
    pub fn invalid_arguments(tool: impl Into<String>, reason: impl fmt::Display) -> Self {
        Self::InvalidArguments { tool: tool.into(), reason: reason.to_string(), violations: Vec::new() }
    }

    /// A short, stable name for the kind of error (`invalid_arguments`,
    /// `failed`, `timed_out`, `unknown_tool`), for spans and metrics.
    #[must_use]
    pub fn kind_name(&self) -> &'static str {
        match self {
            Self::InvalidArguments { .. } => "invalid_arguments",
            Self::Failed { .. } => "failed",
            Self::TimedOut { .. } => "timed_out",
            Self::UnknownTool { .. } => "unknown_tool",
        }
    }

    /// The schema violations, when the arguments broke the schema.
    #[must_use]
    pub fn violations(&self) -> &[Violation] {
        match self {
            Self::InvalidArguments { violations, .. } => violations,
            _ => &[],
        }
    }

    /// The value sent to the model as the tool's result: `{"error": "…"}`.
    #[must_use]
    pub fn to_model_value(&self) -> Value {
        json!({ "error": self.to_string() })
    }
}

/// A tool that cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The name does not match `^[a-zA-Z0-9_-]{1,64}$`, which the service requires.
    #[error("invalid tool name {name:?}: expected 1 to 64 of a-z, A-Z, 0-9, `_` and `-`")]
    InvalidName {
        /// The rejected name.
        name: String,
    },
    /// Another tool already has this name.
    #[error("a tool named `{name}` is already registered")]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// The parameter schema is not an object schema, or does not compile.
    #[error("invalid parameter schema for `{name}`: {reason}")]
    InvalidSchema {
        /// The tool's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

/// Why the tool loop stopped without a final answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoopError {
    /// A request to the model failed (after the client's own retries), or its
    /// stream broke.
    #[error("request of round {round} failed")]
    Request {
        /// The round (1-based) whose request failed.
        round: u32,
        /// The client's error.
        #[source]
        source: aoai_core::Error,
    },
    /// The model still called tools after the last allowed round.
    #[error("the model still called tools after {rounds} rounds (the limit)")]
    RoundLimit {
        /// How many rounds ran (the configured limit).
        rounds: u32,
        /// Everything so far: the last response (with its unanswered tool
        /// calls) as `response`, the transcript, the rounds and the usage.
        partial: Box<ToolRunOutput>,
    },
}

impl LoopError {
    /// The client's error, when a request failed.
    #[must_use]
    pub fn request_error(&self) -> Option<&aoai_core::Error> {
        match self {
            Self::Request { source, .. } => Some(source),
            Self::RoundLimit { .. } => None,
        }
    }

    /// What the loop had done before it stopped at the round limit.
    #[must_use]
    pub fn partial(&self) -> Option<&ToolRunOutput> {
        match self {
            Self::RoundLimit { partial, .. } => Some(partial),
            Self::Request { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_arguments_name_every_violation_with_its_pointer() {
        let error = ToolError::InvalidArguments {
            tool: "convert".to_owned(),
            reason: String::new(),
            violations: vec![
                Violation {
                    instance_path: "/unit".to_owned(),
                    message: "\"kelvin\" is not one of [\"c\",\"f\"]".to_owned(),
                },
                Violation { instance_path: String::new(), message: "\"value\" is a required property".to_owned() },
            ],
        };
        assert_eq!(
            error.to_string(),
            "invalid arguments for `convert`: at /unit: \"kelvin\" is not one of [\"c\",\"f\"]; at /: \"value\" is a required property"
        );
        assert_eq!(error.to_model_value()["error"], error.to_string());
        assert_eq!(error.kind_name(), "invalid_arguments");
    }
}
