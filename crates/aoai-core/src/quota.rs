//! Azure OpenAI's quota arithmetic: protocol facts shared by the client-side
//! limiter (aoai-batch) and the emulator that enforces them (aoai-emulator).
//!
//! A deployment's requests-per-minute quota is enforced over a short
//! sub-window of 1 or 10 seconds ([`RpmWindow`]): at most
//! `max(1, ⌊rpm · s / 60⌋)` requests in any `⌈amount · 60 000 / rpm⌉` ms
//! ([`request_window`]), so the rate never rounds up.
//!
//! ```
//! use std::time::Duration;
//! use aoai_core::quota::{request_window, RpmWindow};
//!
//! // 600 RPM: 100 requests in any 10 seconds, or 10 in any second.
//! assert_eq!(request_window(600, RpmWindow::TenSeconds), (100, Duration::from_secs(10)));
//! assert_eq!(request_window(600, RpmWindow::OneSecond), (10, Duration::from_secs(1)));
//! // 90 RPM over 1 s: one request per 667 ms.
//! assert_eq!(request_window(90, RpmWindow::OneSecond), (1, Duration::from_millis(667)));
//! assert_eq!("1s".parse::<RpmWindow>()?, RpmWindow::OneSecond);
//! # Ok::<(), aoai_core::quota::ParseRpmWindowError>(())
//! ```

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The sub-window over which requests per minute are enforced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RpmWindow {
    /// RPM / 60 requests per second.
    OneSecond,
    /// RPM / 6 requests per 10 seconds (Azure's default).
    #[default]
    TenSeconds,
}

impl RpmWindow {
    /// The window's nominal length in seconds.
    #[must_use]
    pub fn seconds(self) -> u64 {
        match self {
            Self::OneSecond => 1,
            Self::TenSeconds => 10,
        }
    }
}

/// A string that is not `1s`, `1`, `10s` or `10`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseRpmWindowError {
    text: String,
}

impl fmt::Display for ParseRpmWindowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rpm window {:?} is not 1s or 10s", self.text)
    }
}

impl std::error::Error for ParseRpmWindowError {}

impl FromStr for RpmWindow {
    type Err = ParseRpmWindowError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "1s" | "1" => Ok(Self::OneSecond),
            "10s" | "10" => Ok(Self::TenSeconds),
            other => Err(ParseRpmWindowError { text: other.to_owned() }),
        }
    }
}

impl fmt::Display for RpmWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.seconds())
    }
}

/// The request limit for `rpm` requests per minute enforced over `window`:
/// at most the returned count in any window of the returned length.
/// `rpm == 0` admits nothing: `(0, 60 s)`.
#[must_use]
pub fn request_window(rpm: u64, window: RpmWindow) -> (u64, Duration) {
    if rpm == 0 {
        return (0, Duration::from_secs(60));
    }
    let amount = (rpm.saturating_mul(window.seconds()) / 60).max(1);
    let window_ms = amount.saturating_mul(60_000).div_ceil(rpm);
    (amount, Duration::from_millis(window_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_never_round_the_rate_up() {
        for rpm in 1..5_000u64 {
            for window in [RpmWindow::OneSecond, RpmWindow::TenSeconds] {
                let (amount, length) = request_window(rpm, window);
                assert!(amount >= 1);
                // amount / length ≤ rpm / 60 s
                assert!(u128::from(amount) * 60_000 <= u128::from(rpm) * length.as_millis(), "{rpm} {window}");
            }
        }
        assert!("2s".parse::<RpmWindow>().is_err());
    }
}
