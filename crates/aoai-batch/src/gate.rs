//! [`Gate`]: where a batch run asks for admission. The in-process
//! [`Scheduler`] is one; a limiter shared by several processes (Redis) is
//! another. The runner drives any `Gate`, so the two are interchangeable.

use std::time::Duration;

use aoai_core::response::RateLimitInfo;

use crate::error::Result;
use crate::scheduler::{Grant, Scheduler};

/// Admission control for requests against one or more deployments' quotas.
///
/// Implementations wait inside [`acquire`](Gate::acquire) until the request
/// fits and fail at once when waiting cannot help (see [`crate::Error`]).
#[async_trait::async_trait]
pub trait Gate: Send + Sync {
    /// Waits until a request charged `cost` tokens fits, on `deployment` when
    /// named, else on whichever deployment has the most room; charges it.
    async fn acquire(&self, deployment: Option<&str>, cost: u64) -> Result<Grant>;

    /// Corrects the quota mirror from the response headers of a granted request.
    async fn observe(&self, grant: &Grant, headers: &RateLimitInfo);

    /// Reports a 429 from `deployment` with the delay it asked for; the
    /// deployment pauses once, however many tasks report the same 429.
    async fn rate_limited(&self, deployment: &str, retry_after: Option<Duration>) -> Result<()>;
}

#[async_trait::async_trait]
impl Gate for Scheduler {
    async fn acquire(&self, deployment: Option<&str>, cost: u64) -> Result<Grant> {
        match deployment {
            Some(name) => self.acquire_on(name, cost).await,
            None => Scheduler::acquire(self, cost).await,
        }
    }

    async fn observe(&self, grant: &Grant, headers: &RateLimitInfo) {
        Scheduler::observe(self, grant, headers);
    }

    async fn rate_limited(&self, deployment: &str, retry_after: Option<Duration>) -> Result<()> {
        Scheduler::rate_limited(self, deployment, retry_after)
    }
}
