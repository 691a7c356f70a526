//! # aoai-emulator
//!
//! A local Azure OpenAI-compatible server: a real HTTP server on loopback that
//! speaks Azure OpenAI's wire protocol, generates valid answers, and enforces
//! quotas and faults the way Azure does.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod generate;
