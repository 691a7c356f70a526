//! # aoai-batch
//!
//! The batch scheduler's hot path: drive Azure OpenAI deployments as close to
//! their tokens-per-minute (TPM) and requests-per-minute (RPM) quotas as the
//! service allows, and never over them.
//!
//! - [`limiter`]: one deployment's quota mirrored on the client — a pure,
//!   synchronous limiter of requests and tokens together, on instants passed
//!   in. It admits exactly the schedules Azure admits, rejects at once what
//!   can never fit, pauses once per 429 and tightens itself from the
//!   `x-ratelimit-remaining-*` headers.
//! - [`estimate`]: what a chat or embeddings request is charged at admission.
//! - [`Scheduler`]: the shared async side — tasks `acquire(cost).await` on
//!   several deployments, spread by remaining capacity, on an injected clock.
//! - `shared` (feature `redis`): `RedisGate`, the same admission rule with
//!   the quota kept in Redis, for worker processes on several machines.
//!
//! | feature | adds |
//! |---|---|
//! | `redis` | `shared::RedisGate`, a [`Gate`] shared through Redis (the `redis` crate, tokio) |
//!
//! ```
//! use aoai_batch::Scheduler;
//! use aoai_batch::estimate::Estimator;
//! use aoai_batch::limiter::QuotaSpec;
//! use aoai_core::chat::{ChatMessage, ChatRequest};
//! use aoai_core::clock::{ManualClock, Time};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let clock = ManualClock::new();
//! let scheduler = Scheduler::builder(Time::manual(&clock))
//!     .deployment("gpt-4o-mini", QuotaSpec::from_tpm(30_000))
//!     .build()?;
//! let estimator = Estimator::for_model("gpt-4o-mini");
//! let request = ChatRequest::new(vec![ChatMessage::user("Name three rivers.")]).max_completion_tokens(100);
//! let grant = scheduler.acquire(estimator.chat(&request)).await?;
//! // Send `request` to `grant.deployment()`, then report the response's
//! // headers with `scheduler.observe(&grant, &response.meta.rate_limits)`,
//! // or a 429 with `scheduler.rate_limited(grant.deployment(), retry_after)`.
//! assert_eq!(grant.deployment(), "gpt-4o-mini");
//! # Ok::<(), aoai_batch::Error>(())
//! # }).unwrap();
//! ```
//!
//! The model and its arithmetic are in the crate's `README.md`.

pub mod api;
pub mod error;
pub mod estimate;
pub mod gate;
pub mod limiter;
pub mod run;
pub mod scheduler;
#[cfg(feature = "redis")]
pub mod shared;

pub use error::{Error, Result};
pub use gate::Gate;
pub use scheduler::{Grant, Scheduler};
