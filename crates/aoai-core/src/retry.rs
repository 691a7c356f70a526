//! When and how long to wait before resending.
//!
//! The defaults match the official SDKs: two retries, exponential back-off
//! from 0.5 s doubling to 8 s with jitter, and the server's own delay
//! (`retry-after-ms`, `x-ms-retry-after-ms`, `Retry-After`) honoured when it is
//! at most [`RetryPolicy::max_retry_after`]. Longer server delays are not
//! waited: the error is returned so the caller (for example a batch scheduler)
//! can decide.

use std::time::Duration;

use crate::error::Error;

/// Retry settings.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 disables retrying).
    pub max_retries: u32,
    /// First back-off delay.
    pub initial_backoff: Duration,
    /// Largest back-off delay.
    pub max_backoff: Duration,
    /// Server delays longer than this are not waited; the error is returned.
    pub max_retry_after: Duration,
    /// Randomise back-off delays (down to 75 %) so clients don't retry in lockstep.
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 2,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
            jitter: true,
        }
    }
}

/// Why no retry will be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GiveUp {
    /// The error is not retryable.
    NotRetryable,
    /// All retries are used.
    Exhausted,
    /// The server asked for a longer wait than the policy allows.
    RetryAfterTooLong,
}

impl RetryPolicy {
    /// No retries at all.
    #[must_use]
    pub fn none() -> Self {
        Self { max_retries: 0, ..Self::default() }
    }

    /// Sets the number of retries.
    #[must_use]
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// Sets the back-off range.
    #[must_use]
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// Sets the longest server delay that is waited.
    #[must_use]
    pub fn max_retry_after(mut self, limit: Duration) -> Self {
        self.max_retry_after = limit;
        self
    }

    /// Turns jitter on or off.
    #[must_use]
    pub fn jitter(mut self, on: bool) -> Self {
        self.jitter = on;
        self
    }

    /// The delay before retry number `retry` (1-based) after `error`, or why
    /// not to retry. `random` is a number in `[0, 1)` used for jitter.
    pub fn delay(&self, retry: u32, error: &Error, random: f64) -> Result<Duration, GiveUp> {
        if !error.is_retryable() {
            return Err(GiveUp::NotRetryable);
        }
        if retry > self.max_retries {
            return Err(GiveUp::Exhausted);
        }
        if let Some(server) = error.retry_after() {
            if server > self.max_retry_after {
                return Err(GiveUp::RetryAfterTooLong);
            }
            if !server.is_zero() {
                return Ok(server);
            }
        }
        Ok(self.backoff_delay(retry, random))
    }

    /// Exponential back-off for retry number `retry` (1-based), jittered.
    #[must_use]
    pub fn backoff_delay(&self, retry: u32, random: f64) -> Duration {
        let exponent = retry.saturating_sub(1).min(31);
        let base = self.initial_backoff.saturating_mul(1_u32 << exponent).min(self.max_backoff);
        if self.jitter { base.mul_f64(1.0 - 0.25 * random.clamp(0.0, 1.0)) } else { base }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ApiError, ConnectionError};
    use crate::response::ResponseMeta;

    fn api(status: u16, retry_after: Option<Duration>) -> Error {
        let meta = ResponseMeta { status, retry_after, ..ResponseMeta::default() };
        Error::Api(ApiError::from_response(meta, b"{}"))
    }

    #[test]
    fn server_delay_wins_within_limit() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay(1, &api(429, Some(Duration::from_millis(1234))), 0.5), Ok(Duration::from_millis(1234)));
        assert_eq!(policy.delay(1, &api(429, Some(Duration::from_secs(61))), 0.5), Err(GiveUp::RetryAfterTooLong));
        assert_eq!(policy.delay(1, &api(400, None), 0.5), Err(GiveUp::NotRetryable));
        assert_eq!(policy.delay(3, &api(503, None), 0.5), Err(GiveUp::Exhausted));
    }

    #[test]
    fn backoff_doubles_caps_and_jitters() {
        let policy = RetryPolicy::default().jitter(false).max_retries(10);
        let delays: Vec<_> = (1..=6).map(|n| policy.backoff_delay(n, 0.0)).collect();
        assert_eq!(delays, [0.5, 1.0, 2.0, 4.0, 8.0, 8.0].map(Duration::from_secs_f64));
        let jittered = RetryPolicy::default().backoff_delay(2, 0.999);
        assert!(jittered >= Duration::from_millis(750) && jittered <= Duration::from_secs(1));
        let error = Error::Connection(ConnectionError { may_have_been_sent: false, attempts: 1, source: "x".into() });
        assert_eq!(policy.delay(1, &error, 0.0), Ok(Duration::from_millis(500)));
    }
}
