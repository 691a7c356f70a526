#![doc = include_str!("../README.md")]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod api;
pub mod auth;
pub mod chat;
pub mod clock;
pub mod config;
pub mod conversations;
pub mod embeddings;
pub mod error;
pub mod files;
pub mod filter;
pub mod metrics;
pub mod page;
pub mod poll;
pub mod quota;
pub mod response;
pub mod responses;
pub mod retry;
pub mod routing;
pub mod secret;
pub mod sse;
pub mod stream;
pub mod telemetry;
pub mod tokens;
pub mod vector_stores;

mod chunk_json;
mod client;
mod extra_fields;
mod multipart;
mod open_enum;

pub use api::{ChatApi, EmbeddingsApi, ResponsesApi};
pub use client::{Client, ClientBuilder, RequestOptions, Timeouts};
pub use error::{Error, Result};
pub use response::Response;
pub use secret::Secret;
