#![doc = include_str!("../README.md")]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod error;
pub mod registry;
pub mod run;
pub mod tool;
pub mod typed;

pub use error::{LoopError, RegistryError, ToolError, Violation};
pub use registry::{ToolRegistry, is_valid_name};
pub use run::{LoopEvent, ToolLoop, ToolRunOutput};
pub use tool::{Tool, ToolContext};
pub use typed::{FnTool, typed_tool};
