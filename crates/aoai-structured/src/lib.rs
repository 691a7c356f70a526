#![doc = include_str!("../README.md")]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod error;
pub mod parse;
pub mod schema;
pub mod template;

pub use error::StructuredError;
pub use parse::{Repaired, extract, parse, parse_json, parse_stream, parse_tool_call, request};
pub use schema::{
    LimitExceeded, SchemaError, SchemaLimit, SchemaLimits, StrictSchema, Violation, response_format, schema_for,
};
pub use template::{GenerationSettings, PromptTemplate, TemplateError, TemplateLibrary};
