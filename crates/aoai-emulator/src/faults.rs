//! Fault injection: errors, broken connections and broken streams, per
//! deployment, drawn at random or played from a script.
//!
//! A fault is chosen for every chat or embeddings request that a deployment
//! admits (after authentication, validation and the quota check, so a faulted
//! request has been charged against the quota, as it would be on Azure when
//! the backend fails). Request number `k` of the deployment (counting from 0)
//! takes step `k` of [`FaultConfig::sequence`] while there is one (cycling when
//! [`FaultConfig::repeat`] is set); after that, each request draws one fault
//! from [`FaultConfig::probabilities`], or none.
//!
//! | [`Fault`] | what the client sees |
//! |---|---|
//! | `500`, `503`, `408` | that status with an Azure JSON error body |
//! | `reset` | the TCP connection closes (with `RST`) before any response byte |
//! | `stream_cut` | streams: some chunks, then the body ends without `data: [DONE]`; whole responses: headers, then the connection drops mid-body |
//! | `stall` | streams: some chunks, then nothing (until the client gives up); whole responses: headers and then no body |
//! | `slow_headers` | the normal answer, after [`FaultConfig::slow_headers`] |

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// One injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fault {
    /// HTTP 500 with `{"error":{"code":"InternalServerError",…}}`.
    InternalServerError,
    /// HTTP 503 with `{"error":{"code":"ServiceUnavailable",…}}`.
    ServiceUnavailable,
    /// HTTP 408 with `{"error":{"code":"Timeout",…}}`.
    RequestTimeout,
    /// The connection is closed (reset) after the request was read and before
    /// any byte of the response.
    ConnectionReset,
    /// A stream ends without `data: [DONE]` (a whole response loses the
    /// connection mid-body).
    StreamCut,
    /// A stream stops sending after a few chunks without ending (a whole
    /// response sends its headers and never its body).
    StalledStream,
    /// The response headers are delayed by [`FaultConfig::slow_headers`].
    SlowHeaders,
}

impl Fault {
    /// Every fault, in a fixed order.
    pub const ALL: [Fault; 7] = [
        Fault::InternalServerError,
        Fault::ServiceUnavailable,
        Fault::RequestTimeout,
        Fault::ConnectionReset,
        Fault::StreamCut,
        Fault::StalledStream,
        Fault::SlowHeaders,
    ];

    /// The name used in configuration files and flags: `500`, `503`, `408`,
    /// `reset`, `stream_cut`, `stall`, `slow_headers`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::InternalServerError => "500",
            Self::ServiceUnavailable => "503",
            Self::RequestTimeout => "408",
            Self::ConnectionReset => "reset",
            Self::StreamCut => "stream_cut",
            Self::StalledStream => "stall",
            Self::SlowHeaders => "slow_headers",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A fault name that is not one of [`Fault::name`]'s (or `ok`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fault {0:?} (expected ok, 500, 503, 408, reset, stream_cut, stall or slow_headers)")]
pub struct UnknownFault(pub String);

impl FromStr for Fault {
    type Err = UnknownFault;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let name = text.trim().to_ascii_lowercase();
        Ok(match name.as_str() {
            "500" | "internal_server_error" => Self::InternalServerError,
            "503" | "service_unavailable" => Self::ServiceUnavailable,
            "408" | "timeout" | "request_timeout" => Self::RequestTimeout,
            "reset" | "connection_reset" => Self::ConnectionReset,
            "stream_cut" | "cut" => Self::StreamCut,
            "stall" | "stalled_stream" => Self::StalledStream,
            "slow_headers" => Self::SlowHeaders,
            _ => return Err(UnknownFault(text.to_owned())),
        })
    }
}

/// Parses one step of a fault script: `ok` (or `none`) for a normal answer,
/// else a [`Fault`] name.
///
/// # Errors
///
/// [`UnknownFault`] for any other text.
pub fn parse_step(text: &str) -> Result<Option<Fault>, UnknownFault> {
    match text.trim().to_ascii_lowercase().as_str() {
        "ok" | "none" | "200" => Ok(None),
        _ => text.parse().map(Some),
    }
}

/// The faults of one deployment. The default injects nothing.
///
/// ```
/// use std::time::Duration;
/// use aoai_emulator::faults::{Fault, FaultConfig};
///
/// // The first request fails with 503, the second is answered, the third loses
/// // its connection; afterwards 1 % of requests get a 500.
/// let faults = FaultConfig::default()
///     .sequence([Some(Fault::ServiceUnavailable), None, Some(Fault::ConnectionReset)])
///     .probability(Fault::InternalServerError, 0.01)
///     .seed(7);
/// assert!(!faults.is_empty());
/// assert_eq!(faults.slow_headers, Duration::from_secs(2));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FaultConfig {
    /// Each fault's probability per request (after the sequence). Their sum
    /// must not exceed 1.
    pub probabilities: Vec<(Fault, f64)>,
    /// A script: request `k` gets step `k` (`None` = answer normally).
    pub sequence: Vec<Option<Fault>>,
    /// Play the sequence again and again instead of once.
    pub repeat: bool,
    /// How long [`Fault::SlowHeaders`] holds the response headers back.
    pub slow_headers: Duration,
    /// Seed of the random draws; `None`: a random seed.
    pub seed: Option<u64>,
}

impl Default for FaultConfig {
    fn default() -> Self {
        Self {
            probabilities: Vec::new(),
            sequence: Vec::new(),
            repeat: false,
            slow_headers: Duration::from_secs(2),
            seed: None,
        }
    }
}

impl FaultConfig {
    /// Whether this configuration injects nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.sequence.iter().all(Option::is_none) && self.probabilities.iter().all(|(_, p)| *p <= 0.0)
    }

    /// Sets the probability of `fault` (replacing an earlier one).
    #[must_use]
    pub fn probability(mut self, fault: Fault, probability: f64) -> Self {
        self.probabilities.retain(|(existing, _)| *existing != fault);
        self.probabilities.push((fault, probability));
        self
    }

    /// Sets the script.
    #[must_use]
    pub fn sequence(mut self, steps: impl IntoIterator<Item = Option<Fault>>) -> Self {
        self.sequence = steps.into_iter().collect();
        self
    }

    /// Plays the script in a loop.
    #[must_use]
    pub fn repeat(mut self, repeat: bool) -> Self {
        self.repeat = repeat;
        self
    }

    /// Sets the delay of [`Fault::SlowHeaders`].
    #[must_use]
    pub fn slow_headers(mut self, delay: Duration) -> Self {
        self.slow_headers = delay;
        self
    }

    /// Seeds the random draws, for reproducible runs.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Checks probabilities: each in `0..=1`, their sum at most 1.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let mut sum = 0.0;
        for (fault, probability) in &self.probabilities {
            if !(0.0..=1.0).contains(probability) {
                return Err(format!("probability of fault {fault} is {probability}, not between 0 and 1"));
            }
            sum += probability;
        }
        if sum > 1.0 + 1e-9 {
            return Err(format!("fault probabilities add up to {sum}, more than 1"));
        }
        Ok(())
    }
}

/// A deployment's fault state: the script position and the random source.
#[derive(Debug)]
pub(crate) struct FaultPlan {
    config: FaultConfig,
    next_request: AtomicU64,
    rng: Mutex<fastrand::Rng>,
}

impl FaultPlan {
    /// A plan, or `None` when the configuration injects nothing (the hot path
    /// then skips fault handling entirely).
    pub(crate) fn new(config: &FaultConfig) -> Option<Self> {
        if config.is_empty() {
            return None;
        }
        let rng = match config.seed {
            Some(seed) => fastrand::Rng::with_seed(seed),
            None => fastrand::Rng::new(),
        };
        Some(Self { config: config.clone(), next_request: AtomicU64::new(0), rng: Mutex::new(rng) })
    }

    /// The delay of [`Fault::SlowHeaders`].
    pub(crate) fn slow_headers(&self) -> Duration {
        self.config.slow_headers
    }

    /// The fault for the next request, if any.
    pub(crate) fn next(&self) -> Option<Fault> {
        let index = self.next_request.fetch_add(1, Ordering::Relaxed);
        let steps = self.config.sequence.len() as u64;
        if steps > 0 && (index < steps || self.config.repeat) {
            let position = usize::try_from(index % steps).unwrap_or(0);
            return self.config.sequence.get(position).copied().flatten();
        }
        if self.config.probabilities.is_empty() {
            return None;
        }
        let draw = self.rng.lock().unwrap_or_else(std::sync::PoisonError::into_inner).f64();
        pick(&self.config.probabilities, draw)
    }
}

/// The fault whose cumulative probability interval contains `draw` (in `0..1`).
fn pick(probabilities: &[(Fault, f64)], draw: f64) -> Option<Fault> {
    let mut cumulative = 0.0;
    for (fault, probability) in probabilities {
        cumulative += probability;
        if draw < cumulative {
            return Some(*fault);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for fault in Fault::ALL {
            assert_eq!(fault.name().parse::<Fault>().unwrap(), fault);
        }
        assert_eq!(parse_step("ok").unwrap(), None);
        assert_eq!(parse_step("RESET").unwrap(), Some(Fault::ConnectionReset));
        assert!(parse_step("teapot").is_err());
    }

    #[test]
    fn sequence_then_probabilities() {
        let config = FaultConfig::default()
            .sequence([Some(Fault::ServiceUnavailable), None, Some(Fault::StreamCut)])
            .probability(Fault::InternalServerError, 1.0);
        let plan = FaultPlan::new(&config).unwrap();
        let drawn: Vec<_> = (0..5).map(|_| plan.next()).collect();
        assert_eq!(
            drawn,
            vec![
                Some(Fault::ServiceUnavailable),
                None,
                Some(Fault::StreamCut),
                Some(Fault::InternalServerError),
                Some(Fault::InternalServerError)
            ]
        );
    }

    #[test]
    fn repeating_sequence_cycles() {
        let config = FaultConfig::default().sequence([None, Some(Fault::RequestTimeout)]).repeat(true);
        let plan = FaultPlan::new(&config).unwrap();
        let drawn: Vec<_> = (0..4).map(|_| plan.next()).collect();
        assert_eq!(drawn, vec![None, Some(Fault::RequestTimeout), None, Some(Fault::RequestTimeout)]);
    }

    #[test]
    fn probabilities_follow_their_weights() {
        let config = FaultConfig::default()
            .probability(Fault::InternalServerError, 0.2)
            .probability(Fault::ConnectionReset, 0.1)
            .seed(42);
        let plan = FaultPlan::new(&config).unwrap();
        let mut counts = [0_u32; 3];
        for _ in 0..20_000 {
            match plan.next() {
                Some(Fault::InternalServerError) => counts[0] += 1,
                Some(Fault::ConnectionReset) => counts[1] += 1,
                None => counts[2] += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!((3_600..4_400).contains(&counts[0]), "{counts:?}");
        assert!((1_700..2_300).contains(&counts[1]), "{counts:?}");
        assert_eq!(pick(&[(Fault::StreamCut, 0.5)], 0.49), Some(Fault::StreamCut));
        assert_eq!(pick(&[(Fault::StreamCut, 0.5)], 0.5), None);
    }

    #[test]
    fn empty_and_invalid_configs() {
        assert!(FaultPlan::new(&FaultConfig::default()).is_none());
        assert!(FaultPlan::new(&FaultConfig::default().sequence([None, None])).is_none());
        let too_much = FaultConfig::default().probability(Fault::StreamCut, 0.7).probability(Fault::StalledStream, 0.5);
        assert!(too_much.validate().is_err());
        assert!(FaultConfig::default().probability(Fault::StreamCut, -0.1).validate().is_err());
        assert!(FaultConfig::default().probability(Fault::StreamCut, 0.3).validate().is_ok());
    }
}
