//! Request metrics: one [`RequestRecord`] per finished operation, handed to a
//! [`MetricsRecorder`].
//!
//! The client records every operation once, after its last attempt: what was
//! called, on which deployment, how long it took (and, for streams, how long
//! until the first token), how many attempts it needed, how it ended and how
//! many tokens it used. What happens to the record is up to the recorder:
//!
//! - [`NoopRecorder`] drops it (the default);
//! - [`InMemoryRecorder`] aggregates counters, token totals and latency
//!   percentiles in constant memory and prints them as a summary table;
//! - [`FanoutRecorder`] hands each record to several recorders;
//! - `telemetry::sentry::SentryRecorder` (feature `sentry`) leaves a
//!   breadcrumb per request.
//!
//! ```
//! use std::time::Duration;
//! use aoai_core::metrics::{InMemoryRecorder, MetricsRecorder, Operation, RequestRecord, TokenUsage};
//!
//! let recorder = InMemoryRecorder::new();
//! let handle = recorder.clone(); // Give one clone to the client, keep the other.
//! recorder.record(
//!     &RequestRecord::new(Operation::Chat)
//!         .with_deployment("gpt-4o")
//!         .with_latency(Duration::from_millis(840))
//!         .with_status(200)
//!         .with_usage(TokenUsage { prompt: 120, completion: 30, ..TokenUsage::default() }),
//! );
//! recorder.record(
//!     &RequestRecord::new(Operation::Chat)
//!         .with_deployment("gpt-4o")
//!         .with_latency(Duration::from_millis(20))
//!         .with_attempts(3)
//!         .with_status(429)
//!         .with_error_kind("rate_limited"),
//! );
//! let summary = handle.summary();
//! assert_eq!((summary.requests, summary.failures, summary.retries), (2, 1, 2));
//! assert_eq!(summary.failures_by_kind["rate_limited"], 1);
//! assert_eq!(summary.prompt_tokens, 120);
//! assert_eq!(summary.error_rate, 0.5);
//! println!("{summary}");
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::ops::{Add, AddAssign};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::{Serialize, Serializer};

/// What kind of operation a record describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Operation {
    /// A chat completion answered in one body.
    Chat,
    /// A streamed chat completion.
    ChatStream,
    /// An embeddings request.
    Embeddings,
    /// Any other operation, by a short stable name (`files.upload`, `batches.create`).
    Other(&'static str),
}

impl Operation {
    /// A short stable name: `chat`, `chat_stream`, `embeddings`, or the name of [`Operation::Other`].
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::ChatStream => "chat_stream",
            Self::Embeddings => "embeddings",
            Self::Other(name) => name,
        }
    }

    /// The OpenTelemetry `gen_ai.operation.name`: streamed and unstreamed chat
    /// are both `chat`.
    #[must_use]
    pub fn gen_ai_name(&self) -> &'static str {
        match self {
            Self::Chat | Self::ChatStream => "chat",
            Self::Embeddings => "embeddings",
            Self::Other(name) => name,
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Operation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Tokens an operation used, as the service reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TokenUsage {
    /// Prompt (input) tokens, cached ones included.
    pub prompt: u64,
    /// Completion (output) tokens, reasoning ones included.
    pub completion: u64,
    /// Prompt tokens served from the prompt cache.
    pub cached: u64,
    /// Completion tokens spent on hidden reasoning.
    pub reasoning: u64,
}

impl TokenUsage {
    /// Prompt plus completion tokens.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.prompt.saturating_add(self.completion)
    }

    /// Whether no token was counted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl Add for TokenUsage {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self {
            prompt: self.prompt.saturating_add(other.prompt),
            completion: self.completion.saturating_add(other.completion),
            cached: self.cached.saturating_add(other.cached),
            reasoning: self.reasoning.saturating_add(other.reasoning),
        }
    }
}

impl AddAssign for TokenUsage {
    fn add_assign(&mut self, other: Self) {
        *self = *self + other;
    }
}

impl From<&crate::chat::Usage> for TokenUsage {
    fn from(usage: &crate::chat::Usage) -> Self {
        Self {
            prompt: usage.prompt_tokens,
            completion: usage.completion_tokens,
            cached: usage.cached_tokens(),
            reasoning: usage.reasoning_tokens(),
        }
    }
}

impl From<&crate::embeddings::EmbeddingsUsage> for TokenUsage {
    /// Embeddings only have prompt tokens; gateways that send only
    /// `total_tokens` are read from that.
    fn from(usage: &crate::embeddings::EmbeddingsUsage) -> Self {
        let prompt = if usage.prompt_tokens == 0 { usage.total_tokens } else { usage.prompt_tokens };
        Self { prompt, ..Self::default() }
    }
}

/// One finished operation, all its attempts included.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RequestRecord {
    /// What was called.
    pub operation: Operation,
    /// The Azure deployment, when the route had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    /// The model: the one requested, or the one the service answered with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Total time from the first attempt's start to the end of the last
    /// (for streams, to the last chunk), back-off waits included.
    #[serde(rename = "latency_ms", serialize_with = "serialize_millis")]
    pub latency: Duration,
    /// For streams: time from the start until the first content chunk.
    #[serde(
        rename = "time_to_first_token_ms",
        serialize_with = "serialize_opt_millis",
        skip_serializing_if = "Option::is_none"
    )]
    pub time_to_first_token: Option<Duration>,
    /// How many attempts were made (1 = no retry).
    pub attempts: u32,
    /// The HTTP status of the last response, when one arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `None` for success; otherwise [`crate::Error::kind_name`] of the error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<&'static str>,
    /// Tokens used, as reported by the service (zero when it reported none).
    pub usage: TokenUsage,
    /// The request id of the last response (`apim-request-id` or `x-request-id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl RequestRecord {
    /// A successful, instant, single-attempt record of `operation`; fill the
    /// rest in with the `with_*` methods.
    #[must_use]
    pub fn new(operation: Operation) -> Self {
        Self {
            operation,
            deployment: None,
            model: None,
            latency: Duration::ZERO,
            time_to_first_token: None,
            attempts: 1,
            status: None,
            error_kind: None,
            usage: TokenUsage::default(),
            request_id: None,
        }
    }

    /// Sets the deployment.
    #[must_use]
    pub fn with_deployment(mut self, deployment: impl Into<String>) -> Self {
        self.deployment = Some(deployment.into());
        self
    }

    /// Sets the model.
    #[must_use]
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Sets the total latency.
    #[must_use]
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Sets the time to the first token of a stream.
    #[must_use]
    pub fn with_time_to_first_token(mut self, time_to_first_token: Duration) -> Self {
        self.time_to_first_token = Some(time_to_first_token);
        self
    }

    /// Sets the number of attempts.
    #[must_use]
    pub fn with_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts;
        self
    }

    /// Sets the HTTP status of the last response.
    #[must_use]
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Marks the operation failed with an error of this kind
    /// ([`crate::Error::kind_name`]).
    #[must_use]
    pub fn with_error_kind(mut self, kind: &'static str) -> Self {
        self.error_kind = Some(kind);
        self
    }

    /// Marks the operation failed with `error`: its kind, its status and
    /// request id when it has them, and its attempt count (0 when nothing was
    /// sent; otherwise the larger of the error's count and the one already set,
    /// since stream and decode errors don't know about earlier retries).
    #[must_use]
    pub fn with_error(mut self, error: &crate::Error) -> Self {
        self.error_kind = Some(error.kind_name());
        self.attempts = match error.attempts() {
            0 => 0,
            attempts => attempts.max(self.attempts),
        };
        if let Some(status) = error.status() {
            self.status = Some(status);
        }
        if let Some(id) = error.request_id() {
            self.request_id = Some(id.to_owned());
        }
        self
    }

    /// Sets the token usage.
    #[must_use]
    pub fn with_usage(mut self, usage: TokenUsage) -> Self {
        self.usage = usage;
        self
    }

    /// Sets the request id.
    #[must_use]
    pub fn with_request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    /// Whether the operation succeeded.
    #[must_use]
    pub fn is_success(&self) -> bool {
        self.error_kind.is_none()
    }
}

/// Receives one record per finished operation.
///
/// Called on the request path: implementations must be quick and must not
/// block on I/O.
pub trait MetricsRecorder: Send + Sync + fmt::Debug {
    /// Takes note of one finished operation.
    fn record(&self, record: &RequestRecord);
}

impl<T: MetricsRecorder + ?Sized> MetricsRecorder for Arc<T> {
    fn record(&self, record: &RequestRecord) {
        (**self).record(record);
    }
}

impl<T: MetricsRecorder + ?Sized> MetricsRecorder for &T {
    fn record(&self, record: &RequestRecord) {
        (**self).record(record);
    }
}

/// A recorder that drops every record.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopRecorder;

impl MetricsRecorder for NoopRecorder {
    fn record(&self, _record: &RequestRecord) {}
}

/// Hands every record to each of several recorders, in order.
///
/// ```
/// use std::sync::Arc;
/// use aoai_core::metrics::{FanoutRecorder, InMemoryRecorder, MetricsRecorder, Operation, RequestRecord};
///
/// let first = InMemoryRecorder::new();
/// let second = InMemoryRecorder::new();
/// let both = FanoutRecorder::new().with(first.clone()).with(second.clone());
/// both.record(&RequestRecord::new(Operation::Embeddings));
/// assert_eq!((first.summary().requests, second.summary().requests), (1, 1));
/// ```
#[derive(Debug, Clone, Default)]
pub struct FanoutRecorder {
    recorders: Vec<Arc<dyn MetricsRecorder>>,
}

impl FanoutRecorder {
    /// A fan-out with no recorder yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a recorder.
    #[must_use]
    pub fn with(mut self, recorder: impl MetricsRecorder + 'static) -> Self {
        self.recorders.push(Arc::new(recorder));
        self
    }

    /// Adds a shared recorder.
    #[must_use]
    pub fn with_shared(mut self, recorder: Arc<dyn MetricsRecorder>) -> Self {
        self.recorders.push(recorder);
        self
    }
}

impl MetricsRecorder for FanoutRecorder {
    fn record(&self, record: &RequestRecord) {
        for recorder in &self.recorders {
            recorder.record(record);
        }
    }
}

/// At most this many deployments get their own row in the summary; records of
/// further ones are counted under [`OTHER_DEPLOYMENTS`], so memory stays bounded.
pub const MAX_TRACKED_DEPLOYMENTS: usize = 64;

/// The summary row for deployments beyond [`MAX_TRACKED_DEPLOYMENTS`].
pub const OTHER_DEPLOYMENTS: &str = "(other)";

/// The summary row for records with neither a deployment nor a model.
pub const UNNAMED_DEPLOYMENT: &str = "(unnamed)";

/// Aggregates records in memory: counters, token totals, failures by kind and
/// latency percentiles, overall and per deployment.
///
/// Memory stays constant however many requests are recorded: latencies go
/// into a log-linear histogram (see [`LatencyHistogram`]) rather than a list.
/// Recording takes one short lock. Clones share the same state, so keep one
/// clone as a handle and give another to the client.
#[derive(Clone, Default)]
pub struct InMemoryRecorder {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    overall: Tally,
    failures_by_kind: BTreeMap<&'static str, u64>,
    retries: u64,
    time_to_first_token: LatencyHistogram,
    by_deployment: BTreeMap<String, Tally>,
}

/// Counters and latencies of a set of records.
#[derive(Debug, Default)]
struct Tally {
    requests: u64,
    failures: u64,
    usage: TokenUsage,
    latency: LatencyHistogram,
}

impl Tally {
    fn add(&mut self, record: &RequestRecord) {
        self.requests += 1;
        if !record.is_success() {
            self.failures += 1;
        }
        self.usage += record.usage;
        self.latency.record(record.latency);
    }
}

impl InMemoryRecorder {
    /// An empty recorder.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything recorded so far.
    #[must_use]
    pub fn summary(&self) -> MetricsSummary {
        let state = self.lock();
        let overall = &state.overall;
        MetricsSummary {
            requests: overall.requests,
            successes: overall.requests - overall.failures,
            failures: overall.failures,
            error_rate: rate(overall.failures, overall.requests),
            retries: state.retries,
            failures_by_kind: state.failures_by_kind.iter().map(|(kind, count)| ((*kind).to_owned(), *count)).collect(),
            prompt_tokens: overall.usage.prompt,
            completion_tokens: overall.usage.completion,
            cached_tokens: overall.usage.cached,
            reasoning_tokens: overall.usage.reasoning,
            latency_p50: overall.latency.quantile(0.50),
            latency_p95: overall.latency.quantile(0.95),
            latency_p99: overall.latency.quantile(0.99),
            latency_mean: overall.latency.mean(),
            latency_max: overall.latency.max(),
            time_to_first_token_p50: state.time_to_first_token.quantile(0.50),
            time_to_first_token_p95: state.time_to_first_token.quantile(0.95),
            by_deployment: state
                .by_deployment
                .iter()
                .map(|(name, tally)| (name.clone(), DeploymentSummary::from_tally(tally)))
                .collect(),
        }
    }

    /// Forgets everything recorded so far.
    pub fn reset(&self) {
        *self.lock() = State::default();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock means a panic elsewhere mid-update of plain counters;
        // the counts are still meaningful.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for InMemoryRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("InMemoryRecorder")
            .field("requests", &state.overall.requests)
            .field("failures", &state.overall.failures)
            .field("deployments", &state.by_deployment.len())
            .finish()
    }
}

impl MetricsRecorder for InMemoryRecorder {
    fn record(&self, record: &RequestRecord) {
        let key = record.deployment.as_deref().or(record.model.as_deref()).unwrap_or(UNNAMED_DEPLOYMENT);
        let mut state = self.lock();
        let state = &mut *state;
        state.overall.add(record);
        state.retries += u64::from(record.attempts.saturating_sub(1));
        if let Some(kind) = record.error_kind {
            *state.failures_by_kind.entry(kind).or_insert(0) += 1;
        }
        if let Some(ttft) = record.time_to_first_token {
            state.time_to_first_token.record(ttft);
        }
        let tally = match state.by_deployment.get_mut(key) {
            Some(tally) => tally,
            None => {
                let key = if state.by_deployment.len() < MAX_TRACKED_DEPLOYMENTS { key } else { OTHER_DEPLOYMENTS };
                state.by_deployment.entry(key.to_owned()).or_default()
            }
        };
        tally.add(record);
    }
}

fn rate(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

/// What an [`InMemoryRecorder`] has seen. `Display` prints a table for people;
/// `Serialize` gives JSON with durations in milliseconds (`latency_p50_ms`, …).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct MetricsSummary {
    /// Operations recorded.
    pub requests: u64,
    /// Operations that succeeded.
    pub successes: u64,
    /// Operations that failed.
    pub failures: u64,
    /// `failures / requests`, 0 when nothing was recorded.
    pub error_rate: f64,
    /// Attempts beyond the first, summed over all operations.
    pub retries: u64,
    /// Failures by [`crate::Error::kind_name`].
    pub failures_by_kind: BTreeMap<String, u64>,
    /// Prompt tokens, cached ones included.
    pub prompt_tokens: u64,
    /// Completion tokens, reasoning ones included.
    pub completion_tokens: u64,
    /// Prompt tokens served from the prompt cache.
    pub cached_tokens: u64,
    /// Completion tokens spent on reasoning.
    pub reasoning_tokens: u64,
    /// Median latency (within 1/128 of the true value, see [`LatencyHistogram`]).
    #[serde(rename = "latency_p50_ms", serialize_with = "serialize_opt_millis")]
    pub latency_p50: Option<Duration>,
    /// 95th-percentile latency.
    #[serde(rename = "latency_p95_ms", serialize_with = "serialize_opt_millis")]
    pub latency_p95: Option<Duration>,
    /// 99th-percentile latency.
    #[serde(rename = "latency_p99_ms", serialize_with = "serialize_opt_millis")]
    pub latency_p99: Option<Duration>,
    /// Mean latency (exact, to the microsecond).
    #[serde(rename = "latency_mean_ms", serialize_with = "serialize_opt_millis")]
    pub latency_mean: Option<Duration>,
    /// Largest latency (exact, to the microsecond).
    #[serde(rename = "latency_max_ms", serialize_with = "serialize_opt_millis")]
    pub latency_max: Option<Duration>,
    /// Median time to first token, over streams.
    #[serde(rename = "time_to_first_token_p50_ms", serialize_with = "serialize_opt_millis")]
    pub time_to_first_token_p50: Option<Duration>,
    /// 95th-percentile time to first token, over streams.
    #[serde(rename = "time_to_first_token_p95_ms", serialize_with = "serialize_opt_millis")]
    pub time_to_first_token_p95: Option<Duration>,
    /// The same figures per deployment. Records without a deployment are
    /// filed under their model, or [`UNNAMED_DEPLOYMENT`]; deployments beyond
    /// [`MAX_TRACKED_DEPLOYMENTS`] under [`OTHER_DEPLOYMENTS`].
    pub by_deployment: BTreeMap<String, DeploymentSummary>,
}

/// One deployment's row of a [`MetricsSummary`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct DeploymentSummary {
    /// Operations recorded.
    pub requests: u64,
    /// Operations that succeeded.
    pub successes: u64,
    /// Operations that failed.
    pub failures: u64,
    /// `failures / requests`.
    pub error_rate: f64,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Cached prompt tokens.
    pub cached_tokens: u64,
    /// Reasoning tokens.
    pub reasoning_tokens: u64,
    /// Median latency.
    #[serde(rename = "latency_p50_ms", serialize_with = "serialize_opt_millis")]
    pub latency_p50: Option<Duration>,
    /// 95th-percentile latency.
    #[serde(rename = "latency_p95_ms", serialize_with = "serialize_opt_millis")]
    pub latency_p95: Option<Duration>,
    /// 99th-percentile latency.
    #[serde(rename = "latency_p99_ms", serialize_with = "serialize_opt_millis")]
    pub latency_p99: Option<Duration>,
}

impl DeploymentSummary {
    fn from_tally(tally: &Tally) -> Self {
        Self {
            requests: tally.requests,
            successes: tally.requests - tally.failures,
            failures: tally.failures,
            error_rate: rate(tally.failures, tally.requests),
            prompt_tokens: tally.usage.prompt,
            completion_tokens: tally.usage.completion,
            cached_tokens: tally.usage.cached,
            reasoning_tokens: tally.usage.reasoning,
            latency_p50: tally.latency.quantile(0.50),
            latency_p95: tally.latency.quantile(0.95),
            latency_p99: tally.latency.quantile(0.99),
        }
    }
}

impl MetricsSummary {
    /// The summary as pretty-printed JSON.
    #[must_use]
    pub fn to_json_pretty(&self) -> String {
        // Serialising plain numbers, strings and maps with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

impl fmt::Display for MetricsSummary {
    /// ```text
    /// requests   1,250  ok 1,200 · failed 50 · error rate 4.00% · retries 75
    /// latency    p50 812.0ms · p95 2.41s · p99 4.02s · mean 950.3ms · max 6.10s
    /// first tok  p50 210.0ms · p95 640.0ms
    /// tokens     prompt 1,234,567 (cached 12,000) · completion 345,678 (reasoning 1,000)
    /// failures   rate_limited 30 · server_error 20
    ///
    /// deployment   requests  failed  error%     p50     p95     p99  prompt tok  compl tok
    /// gpt-4o          1,000      40   4.00% 800.0ms   2.40s   3.90s   1,000,000    300,000
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "requests   {}  ok {} · failed {} · error rate {} · retries {}",
            thousands(self.requests),
            thousands(self.successes),
            thousands(self.failures),
            percent(self.error_rate),
            thousands(self.retries),
        )?;
        if self.latency_p50.is_some() {
            writeln!(
                f,
                "latency    p50 {} · p95 {} · p99 {} · mean {} · max {}",
                human_duration(self.latency_p50),
                human_duration(self.latency_p95),
                human_duration(self.latency_p99),
                human_duration(self.latency_mean),
                human_duration(self.latency_max),
            )?;
        }
        if self.time_to_first_token_p50.is_some() {
            writeln!(
                f,
                "first tok  p50 {} · p95 {}",
                human_duration(self.time_to_first_token_p50),
                human_duration(self.time_to_first_token_p95),
            )?;
        }
        writeln!(
            f,
            "tokens     prompt {} (cached {}) · completion {} (reasoning {})",
            thousands(self.prompt_tokens),
            thousands(self.cached_tokens),
            thousands(self.completion_tokens),
            thousands(self.reasoning_tokens),
        )?;
        if !self.failures_by_kind.is_empty() {
            let kinds: Vec<String> =
                self.failures_by_kind.iter().map(|(kind, count)| format!("{kind} {}", thousands(*count))).collect();
            writeln!(f, "failures   {}", kinds.join(" · "))?;
        }
        if self.by_deployment.is_empty() {
            return Ok(());
        }
        let width = self.by_deployment.keys().map(|name| name.chars().count()).max().unwrap_or(0).max(10);
        writeln!(f)?;
        writeln!(
            f,
            "{:<width$}  {:>8}  {:>6}  {:>7}  {:>7}  {:>7}  {:>7}  {:>10}  {:>10}",
            "deployment", "requests", "failed", "error%", "p50", "p95", "p99", "prompt tok", "compl tok",
        )?;
        for (name, row) in &self.by_deployment {
            writeln!(
                f,
                "{:<width$}  {:>8}  {:>6}  {:>7}  {:>7}  {:>7}  {:>7}  {:>10}  {:>10}",
                name,
                thousands(row.requests),
                thousands(row.failures),
                percent(row.error_rate),
                human_duration(row.latency_p50),
                human_duration(row.latency_p95),
                human_duration(row.latency_p99),
                thousands(row.prompt_tokens),
                thousands(row.completion_tokens),
            )?;
        }
        Ok(())
    }
}

/// `value` with commas between groups of three digits (`1,234,567`), as
/// the summaries here and the command line print counts.
#[must_use]
pub fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn percent(fraction: f64) -> String {
    format!("{:.2}%", fraction * 100.0)
}

fn human_duration(duration: Option<Duration>) -> String {
    let Some(duration) = duration else { return "-".to_owned() };
    let micros = duration.as_micros();
    if micros < 1_000 {
        format!("{micros}µs")
    } else if micros < 1_000_000 {
        format!("{:.1}ms", duration.as_secs_f64() * 1e3)
    } else if micros < 60_000_000 {
        format!("{:.2}s", duration.as_secs_f64())
    } else {
        let seconds = duration.as_secs();
        format!("{}m{:02}s", seconds / 60, seconds % 60)
    }
}

fn serialize_millis<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64() * 1e3)
}

fn serialize_opt_millis<S: Serializer>(duration: &Option<Duration>, serializer: S) -> Result<S::Ok, S::Error> {
    match duration {
        Some(duration) => serialize_millis(duration, serializer),
        None => serializer.serialize_none(),
    }
}

/// Linear sub-buckets per power of two, as a bit count: 2^6 = 64.
const SUB_BUCKET_BITS: u32 = 6;
const SUB_BUCKETS: u64 = 1 << SUB_BUCKET_BITS;
/// The bucket count needed for every `u64`: 64 exact buckets below 64 µs, then
/// 64 per power of two up to 2^64.
const MAX_BUCKETS: usize = ((64 - SUB_BUCKET_BITS as usize) + 1) * SUB_BUCKETS as usize;

/// A histogram of durations with bounded relative error and bounded memory,
/// in the manner of HdrHistogram.
///
/// Durations are counted in whole microseconds. Values below 128 µs are kept
/// exactly; above, each power of two is split into 64 equal buckets, so a
/// bucket is never wider than 1/64 of its lower edge. A quantile is reported
/// as the middle of the bucket that holds it (clamped to the exact minimum and
/// maximum seen; the 0 and 1 quantiles are the exact minimum and maximum), which is within **1/128 (< 0.8 %)** of the true
/// nearest-rank quantile of the recorded values (truncated to microseconds).
///
/// Memory: one counter per bucket in use, at most 3,776 counters (about
/// 30 KiB) for any range of durations; about 2,000 for durations up to a day.
///
/// ```
/// use std::time::Duration;
/// use aoai_core::metrics::LatencyHistogram;
///
/// let mut histogram = LatencyHistogram::new();
/// for millis in 1..=1000 {
///     histogram.record(Duration::from_millis(millis));
/// }
/// let p99 = histogram.quantile(0.99).unwrap().as_secs_f64();
/// assert!((p99 - 0.990).abs() <= 0.990 / 128.0);
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct LatencyHistogram {
    counts: Vec<u64>,
    total: u64,
    min_micros: u64,
    max_micros: u64,
    sum_micros: u128,
}

impl LatencyHistogram {
    /// An empty histogram.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one duration.
    pub fn record(&mut self, duration: Duration) {
        let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
        let index = bucket_index(micros);
        if self.counts.len() <= index {
            self.counts.resize(index + 1, 0);
        }
        self.counts[index] += 1;
        if self.total == 0 {
            self.min_micros = micros;
            self.max_micros = micros;
        } else {
            self.min_micros = self.min_micros.min(micros);
            self.max_micros = self.max_micros.max(micros);
        }
        self.total += 1;
        self.sum_micros += u128::from(micros);
    }

    /// How many durations were counted.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The `q` quantile (0 ≤ q ≤ 1, nearest rank), or `None` when empty.
    /// `q` outside 0..=1 is clamped.
    #[must_use]
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.total == 0 {
            return None;
        }
        let q = if q.is_nan() { 0.5 } else { q.clamp(0.0, 1.0) };
        // Nearest rank: the smallest value with at least q·n values at or below it.
        // The tiny relative slack keeps 0.95 × 100 (= 95.000…01 in floating point) at rank 95.
        let exact = q * self.total as f64;
        let rank = ((exact - exact * 1e-12).ceil() as u64).clamp(1, self.total);
        // The extremes are known exactly.
        if rank == 1 {
            return self.min();
        }
        if rank == self.total {
            return self.max();
        }
        let mut seen = 0u64;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let (low, high) = bucket_bounds(index);
                let middle = low + (high - low) / 2;
                let estimate = middle.clamp(self.min_micros, self.max_micros);
                return Some(Duration::from_micros(estimate));
            }
        }
        self.max()
    }

    /// The exact mean, to the microsecond.
    #[must_use]
    pub fn mean(&self) -> Option<Duration> {
        let total = u128::from(self.total);
        let mean = self.sum_micros.checked_div(total)?;
        Some(Duration::from_micros(u64::try_from(mean).unwrap_or(u64::MAX)))
    }

    /// The exact minimum, to the microsecond.
    #[must_use]
    pub fn min(&self) -> Option<Duration> {
        (self.total > 0).then(|| Duration::from_micros(self.min_micros))
    }

    /// The exact maximum, to the microsecond.
    #[must_use]
    pub fn max(&self) -> Option<Duration> {
        (self.total > 0).then(|| Duration::from_micros(self.max_micros))
    }

    /// Adds every count of `other` to this histogram.
    pub fn merge(&mut self, other: &Self) {
        if other.total == 0 {
            return;
        }
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        if self.total == 0 {
            self.min_micros = other.min_micros;
            self.max_micros = other.max_micros;
        } else {
            self.min_micros = self.min_micros.min(other.min_micros);
            self.max_micros = self.max_micros.max(other.max_micros);
        }
        self.total += other.total;
        self.sum_micros += other.sum_micros;
    }

    /// How many buckets are allocated (for checking that memory stays bounded).
    #[must_use]
    pub fn allocated_buckets(&self) -> usize {
        self.counts.len()
    }

    /// The most buckets a histogram can ever allocate.
    pub const MAX_BUCKETS: usize = MAX_BUCKETS;
}

impl fmt::Debug for LatencyHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LatencyHistogram")
            .field("count", &self.total)
            .field("min", &self.min())
            .field("max", &self.max())
            .field("buckets", &self.counts.len())
            .finish()
    }
}

fn bucket_index(micros: u64) -> usize {
    if micros < SUB_BUCKETS {
        return micros as usize;
    }
    let top_bit = 63 - micros.leading_zeros();
    let shift = top_bit - SUB_BUCKET_BITS;
    let sub_bucket = (micros >> shift) - SUB_BUCKETS;
    ((u64::from(shift) + 1) * SUB_BUCKETS + sub_bucket) as usize
}

/// The inclusive range of microsecond values counted in bucket `index`.
fn bucket_bounds(index: usize) -> (u64, u64) {
    let index = index as u64;
    if index < SUB_BUCKETS {
        return (index, index);
    }
    let shift = index / SUB_BUCKETS - 1;
    let sub_bucket = index % SUB_BUCKETS;
    let low = (SUB_BUCKETS + sub_bucket) << shift;
    (low, low + ((1u64 << shift) - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_tile_the_range_without_gaps() {
        let mut expected_low = 0u64;
        for index in 0..MAX_BUCKETS {
            let (low, high) = bucket_bounds(index);
            assert_eq!(low, expected_low, "bucket {index}");
            assert_eq!(bucket_index(low), index);
            assert_eq!(bucket_index(high), index);
            // Never wider than 1/64 of the lower edge once past the exact range.
            if low >= SUB_BUCKETS {
                assert!((high - low + 1) * SUB_BUCKETS <= low, "bucket {index}: {low}..={high}");
            }
            expected_low = high.wrapping_add(1);
        }
        assert_eq!(expected_low, 0, "the last bucket ends at u64::MAX");
        assert_eq!(bucket_index(u64::MAX), MAX_BUCKETS - 1);
    }

    #[test]
    fn empty_histogram_has_no_quantiles() {
        let histogram = LatencyHistogram::new();
        assert_eq!(histogram.quantile(0.5), None);
        assert_eq!(histogram.mean(), None);
        assert_eq!(histogram.max(), None);
    }

    #[test]
    fn huge_durations_stay_in_bounds() {
        let mut histogram = LatencyHistogram::new();
        histogram.record(Duration::MAX);
        histogram.record(Duration::ZERO);
        assert!(histogram.allocated_buckets() <= LatencyHistogram::MAX_BUCKETS);
        assert_eq!(histogram.quantile(1.0), Some(Duration::from_micros(u64::MAX)));
        assert_eq!(histogram.quantile(0.0), Some(Duration::ZERO));
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(None), "-");
        assert_eq!(human_duration(Some(Duration::from_micros(850))), "850µs");
        assert_eq!(human_duration(Some(Duration::from_micros(812_340))), "812.3ms");
        assert_eq!(human_duration(Some(Duration::from_millis(2_412))), "2.41s");
        assert_eq!(human_duration(Some(Duration::from_secs(125))), "2m05s");
    }
}
