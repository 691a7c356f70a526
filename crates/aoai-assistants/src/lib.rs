#![doc = include_str!("../README.md")]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod assistant;
pub mod background;
pub mod config;
pub mod error;
pub mod knowledge;
#[cfg(feature = "rag")]
pub mod local;
pub mod migration;
pub mod run;
pub mod stream;
pub mod thread;

pub use assistant::{Assistant, AssistantBuilder};
pub use background::BackgroundRun;
pub use config::AssistantConfig;
pub use error::{Error, Result};
pub use run::{Citation, RunResult, RunUsage, ToolCallRecord};
pub use stream::{RunEvent, RunStream};
pub use thread::{ConversationsApi, Thread, ThreadBackend, ThreadState};
