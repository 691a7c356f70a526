//! # aoai-safety
//!
//! Guards for Azure OpenAI chat and the Responses API: check what goes in
//! and what comes out.
//!
//! - [`guard`]: the [`Guard`] trait and its [`Verdict`] (allow, annotate,
//!   block, redact) with [`Reason`]s: category, severity, source, what
//!   matched and where.
//! - [`blocklist`]: a local blocklist — Aho–Corasick over NFKC-normalised,
//!   case-folded text, whole words, offsets in the original text.
//! - [`pii`]: e-mail addresses, phone numbers and Luhn-checked card numbers,
//!   blocked or redacted to `[EMAIL]`, `[PHONE]`, `[CARD]`.
//! - [`azure_filter`]: Azure OpenAI's own filter annotations against your
//!   thresholds and policies; its 400 `content_filter` refusal as a typed
//!   [`Blocked`].
//! - `content_safety` (feature `content-safety`): the Azure AI Content Safety
//!   client (`text:analyze`, `text:shieldPrompt`, blocklists) and
//!   `ContentSafetyGuard`.
//! - [`guarded`]: [`Guarded`], any [`aoai_core::ChatApi`] or
//!   [`aoai_core::ResponsesApi`] with guards around it, itself both; streams
//!   are checked chunk by chunk (chat) or event by event (Responses), through
//!   one look-behind window and holdback.
//!
//! | feature | adds |
//! |---|---|
//! | `content-safety` | `content_safety::{ContentSafetyClient, ContentSafetyGuard}` (through aoai-core's client) |
//!
//! ```
//! use aoai_core::chat::{ChatMessage, ChatRequest};
//! use aoai_emulator::Emulator;
//! use aoai_safety::azure_filter::AzureFilterGuard;
//! use aoai_safety::blocklist::Blocklist;
//! use aoai_safety::guard::TextGuard;
//! use aoai_safety::pii::{PiiMode, PiiScanner};
//! use aoai_safety::{GuardError, Guarded, Stage};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let emulator = Emulator::builder().start().await?;
//! let guarded = Guarded::new(emulator.client()?)
//!     .guard(TextGuard::new(Blocklist::new(["Project Falcon"])?))
//!     .guard(TextGuard::new(PiiScanner::new(PiiMode::Redact)?))
//!     .guard(AzureFilterGuard::default());
//!
//! // A blocked prompt is never sent.
//! let request = ChatRequest::new(vec![ChatMessage::user("What is project falcon?")]).max_tokens(20);
//! let Err(GuardError::Blocked(blocked)) = guarded.chat_checked("gpt-4o-mini", &request).await else {
//!     panic!("expected a block")
//! };
//! assert_eq!((blocked.stage, blocked.sent), (Stage::Input, false));
//! assert_eq!(blocked.reasons[0].detail.as_deref(), Some("Project Falcon"));
//!
//! // Personal data is redacted before sending; notes say what was rewritten.
//! let request = ChatRequest::new(vec![ChatMessage::user("Write to ada@example.com")]).max_tokens(20);
//! let answer = guarded.chat_checked("gpt-4o-mini", &request).await?;
//! assert_eq!(answer.notes[0].category, "email");
//! # Ok(())
//! # }
//! ```
//!
//! Stacking order with a cache, streaming behaviour and the thresholds are
//! described in [`guarded`], [`azure_filter`] and the crate's `README.md`.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod azure_filter;
pub mod blocklist;
#[cfg(feature = "content-safety")]
pub mod content_safety;
pub mod error;
pub mod guard;
pub mod guarded;
pub mod pii;
mod window;

pub use error::{Blocked, GuardError, Result, Stage};
pub use guard::{Guard, Reason, Source, Verdict};
pub use guarded::Guarded;
