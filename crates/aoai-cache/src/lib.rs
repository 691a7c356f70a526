#![doc = include_str!("../README.md")]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod backend;
pub mod cached;
pub mod canonical;
pub mod error;
pub mod key;
pub mod memory;
pub mod policy;
#[cfg(feature = "redis")]
pub mod redis;
pub mod replay;
pub mod semantic;
pub mod stats;

pub use backend::{Cache, FillOutcome};
pub use cached::{CacheStatus, Cached};
pub use error::{Error, Result};
pub use memory::MemoryCache;
pub use policy::{CacheMode, CachePolicy};
pub use semantic::SemanticCache;
pub use stats::CacheStats;
