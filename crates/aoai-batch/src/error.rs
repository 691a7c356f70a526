//! The scheduler's errors.

use std::time::Duration;

use crate::limiter::NeverFits;

/// Why the scheduler will not admit a request. None of these is worth
/// retrying: waiting is the scheduler's job, and it returns only what waiting
/// cannot fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request is larger than every deployment's whole quota.
    #[error("the request can never be admitted (largest deployment: {deployment})")]
    NeverFits {
        /// The deployment with the largest limit, which still refused it.
        deployment: String,
        /// The limit it exceeds there.
        #[source]
        source: NeverFits,
    },
    /// Every deployment that could take the request has no quota (a 429
    /// asking for a wait longer than [`SchedulerBuilder::no_quota_after`](crate::scheduler::SchedulerBuilder::no_quota_after)).
    #[error("no deployment has quota left (last: {deployment}, asked to retry after {retry_after:?})")]
    NoQuota {
        /// The deployment disabled last.
        deployment: String,
        /// The wait its 429 asked for.
        retry_after: Duration,
    },
    /// No deployment of that name was configured.
    #[error("unknown deployment {0:?}")]
    UnknownDeployment(String),
    /// The scheduler was built without deployments.
    #[error("the scheduler has no deployments")]
    NoDeployments,
    /// The shared limiter's store (Redis, feature `redis`) failed or could
    /// not be reached. The request was not admitted (it may have been charged,
    /// which only costs quota): retry later, or stop. The message never
    /// contains the store's password.
    #[error("the shared limiter could not {operation}: {message}")]
    Shared {
        /// What it was doing: `connect`, `admit a request`, `pause`, `correct`.
        operation: &'static str,
        /// What went wrong, with any password redacted.
        message: String,
    },
}

impl Error {
    /// The cost and limit of a request that never fits.
    #[must_use]
    pub fn never_fits(&self) -> Option<&NeverFits> {
        match self {
            Self::NeverFits { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
