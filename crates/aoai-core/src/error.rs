//! Errors: one [`Error`] enum of context structs.
//!
//! Every error answers the questions a caller acts on: may the request have
//! reached the service ([`Error::may_have_been_sent`]), is it worth retrying
//! ([`Error::is_retryable`]), how long the server asked to wait
//! ([`Error::retry_after`]), and which request it was ([`Error::request_id`]).
//! `Display` prints only its own level; causes come through `source()`.
//! Errors never carry keys, tokens or keyed URLs.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::filter::{CategoryVerdict, ContentFilterResults};
use crate::response::ResponseMeta;

/// A boxed error cause.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to Azure OpenAI.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid; nothing was sent.
    Config(ConfigError),
    /// The credential could not produce a key or token; nothing was sent.
    Credential(CredentialError),
    /// The request could not be built (bad input); nothing was sent.
    InvalidRequest(InvalidRequestError),
    /// The connection failed.
    Connection(ConnectionError),
    /// An attempt, the whole call, or a stream's wait for its next chunk took too long.
    Timeout(TimeoutError),
    /// The service answered with an error status.
    Api(ApiError),
    /// The service answered success, but the body could not be decoded.
    Decode(DecodeError),
    /// A stream broke its protocol (ended without `[DONE]`, malformed event).
    Stream(StreamError),
    /// A layer wrapping the client (a guard, a policy) refused the request
    /// before sending it, or refused the answer after it arrived. The layer's
    /// own typed error is the [`source`](StdError::source); see
    /// [`RejectedError::downcast_ref`].
    Rejected(RejectedError),
}

impl Error {
    /// A short, stable name for the kind of error, for metrics and messages:
    /// `config`, `credential`, `invalid_request`, `connection`, `timeout`,
    /// `decode`, `stream`, or the [`ApiErrorKind`] name for service errors.
    #[must_use]
    pub fn kind_name(&self) -> &'static str {
        match self {
            Self::Config(_) => "config",
            Self::Credential(_) => "credential",
            Self::InvalidRequest(_) => "invalid_request",
            Self::Connection(_) => "connection",
            Self::Timeout(_) => "timeout",
            Self::Api(error) => error.kind().as_str(),
            Self::Decode(_) => "decode",
            Self::Stream(_) => "stream",
            Self::Rejected(_) => "rejected",
        }
    }

    /// Whether the request may have reached the service. `false` means it
    /// certainly did not, so resending cannot duplicate work.
    #[must_use]
    pub fn may_have_been_sent(&self) -> bool {
        match self {
            Self::Config(_) | Self::Credential(_) | Self::InvalidRequest(_) => false,
            Self::Connection(error) => error.may_have_been_sent,
            Self::Timeout(error) => error.may_have_been_sent,
            Self::Api(_) | Self::Decode(_) | Self::Stream(_) => true,
            Self::Rejected(error) => error.may_have_been_sent,
        }
    }

    /// Whether retrying the same request may succeed.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Connection(_) => true,
            Self::Timeout(error) => error.kind == TimeoutKind::Attempt,
            Self::Api(error) => error.is_retryable(),
            Self::Config(_)
            | Self::Credential(_)
            | Self::InvalidRequest(_)
            | Self::Decode(_)
            | Self::Stream(_)
            | Self::Rejected(_) => false,
        }
    }

    /// The HTTP status, when the service answered.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api(error) => Some(error.status()),
            Self::Decode(error) => Some(error.status),
            _ => None,
        }
    }

    /// Whether the service answered 404: an unknown id (file, vector store,
    /// conversation…), or, on `/conversations`, a resource that does not
    /// serve the operation at all.
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Api(error) if error.status() == 404)
    }

    /// The service's error code (`"429"`, `"content_filter"`, `"DeploymentNotFound"`),
    /// numbers normalised to strings.
    #[must_use]
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api(error) => error.code(),
            _ => None,
        }
    }

    /// The request id (`apim-request-id` or `x-request-id`), when the service answered.
    #[must_use]
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Api(error) => error.request_id(),
            Self::Decode(error) => error.request_id.as_deref(),
            Self::Stream(error) => error.request_id.as_deref(),
            Self::Rejected(error) => error.request_id.as_deref(),
            _ => None,
        }
    }

    /// The delay the server asked for before a retry.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Api(error) => error.retry_after(),
            _ => None,
        }
    }

    /// How many attempts were made before this error was returned (0 when
    /// nothing was sent).
    #[must_use]
    pub fn attempts(&self) -> u32 {
        match self {
            Self::Config(_) | Self::Credential(_) | Self::InvalidRequest(_) => 0,
            Self::Connection(error) => error.attempts,
            Self::Timeout(error) => error.attempts,
            Self::Api(error) => error.inner.meta.attempts,
            Self::Decode(_) | Self::Stream(_) => 1,
            Self::Rejected(error) => u32::from(error.may_have_been_sent),
        }
    }

    /// The service error, if this is one.
    #[must_use]
    pub fn as_api(&self) -> Option<&ApiError> {
        match self {
            Self::Api(error) => Some(error),
            _ => None,
        }
    }

    /// The content-filter results of a filter error.
    #[must_use]
    pub fn content_filter(&self) -> Option<&ContentFilterResults> {
        self.as_api().and_then(ApiError::content_filter)
    }

    /// One line for people and logs: kind, status, code, request id and, for
    /// filter errors, the categories and severities. Never contains secrets.
    #[must_use]
    pub fn summary_line(&self) -> String {
        let mut line = format!("error: {}", self.kind_name());
        let mut facts = Vec::new();
        if let Some(status) = self.status() {
            facts.push(format!("HTTP {status}"));
        }
        if let Some(code) = self.code() {
            facts.push(format!("code {code}"));
        }
        if let Some(id) = self.request_id() {
            facts.push(format!("request id {id}"));
        }
        if !facts.is_empty() {
            line.push_str(&format!(" ({})", facts.join(", ")));
        }
        line.push_str(": ");
        // An API error's Display repeats kind and status, which the facts above already say.
        let detail = match self {
            Self::Api(error) => match (error.message(), error.body().json) {
                (Some(message), _) => message.to_owned(),
                (None, false) if !error.raw_excerpt().is_empty() => {
                    format!("non-JSON body: {}", truncate_chars(error.raw_excerpt(), 120))
                }
                _ => "no message".to_owned(),
            },
            // A layer's refusal says why in its own error.
            Self::Rejected(error) => format!("{error}: {}", error.source),
            other => other.to_string(),
        };
        line.push_str(&one_line(&detail));
        if let Some(results) = self.content_filter() {
            let verdicts = results.categories();
            if !verdicts.is_empty() {
                let described: Vec<String> = verdicts.iter().map(describe_verdict).collect();
                line.push_str(&format!(" [filter: {}]", described.join(", ")));
            }
        }
        line
    }
}

fn describe_verdict(verdict: &CategoryVerdict) -> String {
    let mut text = verdict.category.clone();
    if let Some(severity) = &verdict.severity {
        text.push('=');
        text.push_str(severity.as_str());
    } else if let Some(detected) = verdict.detected {
        text.push_str(if detected { "=detected" } else { "=not_detected" });
    }
    if verdict.filtered {
        text.push_str(" (filtered)");
    }
    text
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(error) => error.fmt(f),
            Self::Credential(error) => error.fmt(f),
            Self::InvalidRequest(error) => error.fmt(f),
            Self::Connection(error) => error.fmt(f),
            Self::Timeout(error) => error.fmt(f),
            Self::Api(error) => error.fmt(f),
            Self::Decode(error) => error.fmt(f),
            Self::Stream(error) => error.fmt(f),
            Self::Rejected(error) => error.fmt(f),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::Config(error) => error.source(),
            Self::Credential(error) => error.source(),
            Self::InvalidRequest(error) => error.source(),
            Self::Connection(error) => error.source(),
            Self::Timeout(_) | Self::Api(_) => None,
            Self::Decode(error) => error.source(),
            Self::Stream(error) => error.source(),
            Self::Rejected(error) => error.source(),
        }
    }
}

macro_rules! from_context {
    ($($variant:ident($ty:ident)),* $(,)?) => {
        $(impl From<$ty> for Error {
            fn from(error: $ty) -> Self {
                Self::$variant(error)
            }
        })*
    };
}

from_context!(
    Config(ConfigError),
    Credential(CredentialError),
    InvalidRequest(InvalidRequestError),
    Connection(ConnectionError),
    Timeout(TimeoutError),
    Api(ApiError),
    Decode(DecodeError),
    Stream(StreamError),
    Rejected(RejectedError),
);

/// A configuration value is missing or wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The setting (usually the environment variable) that is wrong.
    pub setting: String,
    /// What is wrong with it, in plain words.
    pub problem: String,
}

impl ConfigError {
    /// A new configuration error.
    pub fn new(setting: impl Into<String>, problem: impl Into<String>) -> Self {
        Self { setting: setting.into(), problem: problem.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}: {}", self.setting, self.problem)
    }
}

impl StdError for ConfigError {}

/// A credential failed to produce a key or token.
#[derive(Debug)]
pub struct CredentialError {
    /// What failed, without any secret.
    pub message: String,
    /// The underlying cause.
    pub source: Option<BoxError>,
}

impl CredentialError {
    /// A new credential error.
    pub fn new(message: impl Into<String>, source: Option<BoxError>) -> Self {
        Self { message: message.into(), source }
    }
}

impl fmt::Display for CredentialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "credential failed: {}", self.message)
    }
}

impl StdError for CredentialError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_deref().map(|error| error as &(dyn StdError + 'static))
    }
}

/// The request could not be built from the input.
#[derive(Debug)]
pub struct InvalidRequestError {
    /// What is wrong with the input.
    pub message: String,
    /// The underlying cause.
    pub source: Option<BoxError>,
}

impl InvalidRequestError {
    /// A new invalid-request error.
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), source: None }
    }
}

impl fmt::Display for InvalidRequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid request: {}", self.message)
    }
}

impl StdError for InvalidRequestError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_deref().map(|error| error as &(dyn StdError + 'static))
    }
}

/// The connection failed.
#[derive(Debug)]
pub struct ConnectionError {
    /// `false` when the failure came before any byte of the request was written
    /// (DNS, connect, TLS); `true` otherwise.
    pub may_have_been_sent: bool,
    /// How many attempts were made.
    pub attempts: u32,
    /// The underlying cause (with any URL removed).
    pub source: BoxError,
}

impl fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.may_have_been_sent {
            write!(f, "connection failed after the request may have been sent")?;
        } else {
            write!(f, "could not connect")?;
        }
        write!(f, " ({} attempt{})", self.attempts, if self.attempts == 1 { "" } else { "s" })
    }
}

impl StdError for ConnectionError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(self.source.as_ref())
    }
}

/// Which limit ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutKind {
    /// One attempt took longer than the per-attempt timeout.
    Attempt,
    /// The whole call, retries included, passed its deadline.
    Deadline,
    /// A stream waited longer than the idle timeout for its next chunk.
    StreamIdle,
}

/// Something took too long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeoutError {
    /// Which limit ran out.
    pub kind: TimeoutKind,
    /// The limit.
    pub limit: Duration,
    /// Whether the request may have reached the service.
    pub may_have_been_sent: bool,
    /// How many attempts were made.
    pub attempts: u32,
}

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            TimeoutKind::Attempt => "attempt timed out",
            TimeoutKind::Deadline => "deadline exceeded",
            TimeoutKind::StreamIdle => "stream idle timeout",
        };
        write!(f, "{what} after {:?}", self.limit)
    }
}

impl StdError for TimeoutError {}

/// What kind of service error this is, derived from status and code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ApiErrorKind {
    /// 400 (other than content filtering).
    BadRequest,
    /// 400 with code `content_filter`: the prompt was blocked.
    ContentFilter,
    /// 401.
    Authentication,
    /// 403.
    PermissionDenied,
    /// 404 (`DeploymentNotFound` and others).
    NotFound,
    /// 408.
    RequestTimeout,
    /// 409.
    Conflict,
    /// 422.
    Unprocessable,
    /// 429 with a usable delay.
    RateLimited,
    /// 429 asking to wait an hour or more: the deployment has no quota left. Terminal.
    QuotaExhausted,
    /// 5xx.
    Server,
    /// Any other status.
    Other,
}

impl ApiErrorKind {
    /// A stable snake_case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::ContentFilter => "content_filter",
            Self::Authentication => "authentication",
            Self::PermissionDenied => "permission_denied",
            Self::NotFound => "not_found",
            Self::RequestTimeout => "request_timeout",
            Self::Conflict => "conflict",
            Self::Unprocessable => "unprocessable",
            Self::RateLimited => "rate_limited",
            Self::QuotaExhausted => "quota_exhausted",
            Self::Server => "server_error",
            Self::Other => "api_error",
        }
    }
}

/// A 429 asking to wait this long or longer means no quota is left.
pub const QUOTA_EXHAUSTED_AFTER: Duration = Duration::from_secs(3600);

/// The service answered with an error status.
#[derive(Debug, Clone)]
pub struct ApiError {
    // Boxed so `Error` stays small on the happy path's `Result`.
    inner: Box<ApiErrorInner>,
}

#[derive(Debug, Clone)]
struct ApiErrorInner {
    kind: ApiErrorKind,
    body: ErrorBody,
    meta: ResponseMeta,
    raw_excerpt: String,
}

/// The parsed error body; every field optional because gateways send anything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ErrorBody {
    /// `error.code`, numbers normalised to strings.
    pub code: Option<String>,
    /// `error.message` (or a gateway's `message`).
    pub message: Option<String>,
    /// `error.param`.
    pub param: Option<String>,
    /// `error.type`.
    pub error_type: Option<String>,
    /// `inner_error.code` / `innererror.code` (`ResponsibleAIPolicyViolation`).
    pub inner_code: Option<String>,
    /// Filter results from `inner_error.content_filter_results` or
    /// `innererror.content_filter_result`.
    pub content_filter: Option<ContentFilterResults>,
    /// Whether the body was JSON at all.
    pub json: bool,
}

const RAW_EXCERPT_LIMIT: usize = 512;

impl ApiError {
    /// Builds the error from a response's status, metadata and raw body.
    #[must_use]
    pub fn from_response(meta: ResponseMeta, body: &[u8]) -> Self {
        let parsed = parse_error_body(body);
        let kind = classify(meta.status, &parsed, meta.retry_after);
        let text = String::from_utf8_lossy(body);
        let raw_excerpt = truncate_chars(text.trim(), RAW_EXCERPT_LIMIT);
        Self { inner: Box::new(ApiErrorInner { kind, body: parsed, meta, raw_excerpt }) }
    }

    /// What kind of error this is.
    #[must_use]
    pub fn kind(&self) -> ApiErrorKind {
        self.inner.kind
    }

    /// HTTP status.
    #[must_use]
    pub fn status(&self) -> u16 {
        self.inner.meta.status
    }

    /// The error code as a string.
    #[must_use]
    pub fn code(&self) -> Option<&str> {
        self.inner.body.code.as_deref()
    }

    /// The service's message.
    #[must_use]
    pub fn message(&self) -> Option<&str> {
        self.inner.body.message.as_deref()
    }

    /// The request parameter the error concerns.
    #[must_use]
    pub fn param(&self) -> Option<&str> {
        self.inner.body.param.as_deref()
    }

    /// The inner error code (`ResponsibleAIPolicyViolation`).
    #[must_use]
    pub fn inner_code(&self) -> Option<&str> {
        self.inner.body.inner_code.as_deref()
    }

    /// Filter results of a content-filter error.
    #[must_use]
    pub fn content_filter(&self) -> Option<&ContentFilterResults> {
        self.inner.body.content_filter.as_ref()
    }

    /// The whole parsed body.
    #[must_use]
    pub fn body(&self) -> &ErrorBody {
        &self.inner.body
    }

    /// The first 512 characters of the raw body, for bodies that weren't JSON.
    #[must_use]
    pub fn raw_excerpt(&self) -> &str {
        &self.inner.raw_excerpt
    }

    /// Response metadata (request id, rate limits, retry hints).
    #[must_use]
    pub fn meta(&self) -> &ResponseMeta {
        &self.inner.meta
    }

    /// The request id.
    #[must_use]
    pub fn request_id(&self) -> Option<&str> {
        self.inner.meta.request_id.as_deref()
    }

    /// The delay the server asked for, or for a 429 without a header, the one
    /// stated in its message ("retry after 5 seconds").
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner
            .meta
            .retry_after
            .or_else(|| (self.inner.meta.status == 429).then(|| self.message().and_then(delay_in_message)).flatten())
    }

    /// Whether a retry may succeed. `x-should-retry` decides when present;
    /// otherwise 408, 409, 429 (unless the quota is exhausted) and 5xx are retryable.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        if self.inner.kind == ApiErrorKind::QuotaExhausted {
            return false;
        }
        if let Some(hint) = self.inner.meta.should_retry {
            return hint;
        }
        matches!(self.inner.meta.status, 408 | 409 | 429) || self.inner.meta.status >= 500
    }

    pub(crate) fn set_attempts(&mut self, attempts: u32) {
        self.inner.meta.attempts = attempts;
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (HTTP {})", self.inner.kind.as_str(), self.inner.meta.status)?;
        match (&self.inner.body.message, self.inner.body.json) {
            (Some(message), _) => write!(f, ": {message}"),
            (None, false) if !self.inner.raw_excerpt.is_empty() => {
                write!(f, ": non-JSON body: {}", truncate_chars(&self.inner.raw_excerpt, 120))
            }
            _ => Ok(()),
        }
    }
}

impl StdError for ApiError {}

fn truncate_chars(text: &str, limit: usize) -> String {
    match text.char_indices().nth(limit) {
        Some((index, _)) => format!("{}…", &text[..index]),
        None => text.to_owned(),
    }
}

fn classify(status: u16, body: &ErrorBody, retry_after: Option<Duration>) -> ApiErrorKind {
    let is_filter = body.code.as_deref() == Some("content_filter")
        || body.inner_code.as_deref() == Some("ResponsibleAIPolicyViolation");
    match status {
        400 if is_filter => ApiErrorKind::ContentFilter,
        400 => ApiErrorKind::BadRequest,
        401 => ApiErrorKind::Authentication,
        403 => ApiErrorKind::PermissionDenied,
        404 => ApiErrorKind::NotFound,
        408 => ApiErrorKind::RequestTimeout,
        409 => ApiErrorKind::Conflict,
        422 => ApiErrorKind::Unprocessable,
        429 => {
            let delay = retry_after.or_else(|| body.message.as_deref().and_then(delay_in_message));
            match delay {
                Some(delay) if delay >= QUOTA_EXHAUSTED_AFTER => ApiErrorKind::QuotaExhausted,
                _ => ApiErrorKind::RateLimited,
            }
        }
        500..=599 => ApiErrorKind::Server,
        _ if is_filter => ApiErrorKind::ContentFilter,
        _ => ApiErrorKind::Other,
    }
}

/// Finds "retry after N second(s)" in Azure's 429 messages.
fn delay_in_message(message: &str) -> Option<Duration> {
    let lower = message.to_ascii_lowercase();
    let start = lower.find("retry after ")? + "retry after ".len();
    let rest = &lower[start..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let seconds: u64 = digits.parse().ok()?;
    rest[digits.len()..].trim_start().starts_with("second").then(|| Duration::from_secs(seconds))
}

/// Parses any error body Azure or a gateway may send.
#[must_use]
pub fn parse_error_body(body: &[u8]) -> ErrorBody {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return ErrorBody::default();
    };
    let mut parsed = ErrorBody { json: true, ..ErrorBody::default() };
    // Azure and OpenAI: {"error": {...}}; gateways: {"statusCode": 401, "message": "..."}
    // or a bare {"code": ..., "message": ...}.
    let error = match value.get("error") {
        Some(inner @ Value::Object(_)) => inner,
        Some(Value::String(message)) => {
            parsed.message = Some(message.clone());
            &value
        }
        _ => &value,
    };
    parsed.code = error.get("code").and_then(value_to_code).or_else(|| value.get("statusCode").and_then(value_to_code));
    if parsed.message.is_none() {
        parsed.message = error.get("message").and_then(Value::as_str).map(str::to_owned);
    }
    parsed.param = error.get("param").and_then(Value::as_str).map(str::to_owned);
    parsed.error_type = error.get("type").and_then(Value::as_str).map(str::to_owned);
    let inner = error.get("inner_error").or_else(|| error.get("innererror"));
    if let Some(inner) = inner {
        parsed.inner_code = inner.get("code").and_then(value_to_code);
        let results = inner.get("content_filter_results").or_else(|| inner.get("content_filter_result"));
        parsed.content_filter = results.and_then(|results| serde_json::from_value(results.clone()).ok());
    }
    parsed
}

fn value_to_code(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// Deserialises an error code that may be a string, a number or null.
pub(crate) fn code_from_any<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let value = Option::<Value>::deserialize(deserializer)?;
    Ok(value.as_ref().and_then(value_to_code))
}

/// A success response whose body could not be decoded.
#[derive(Debug)]
pub struct DecodeError {
    /// HTTP status.
    pub status: u16,
    /// The request id.
    pub request_id: Option<String>,
    /// What could not be decoded.
    pub message: String,
    /// The underlying cause.
    pub source: Option<BoxError>,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not decode response: {}", self.message)
    }
}

impl StdError for DecodeError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_deref().map(|error| error as &(dyn StdError + 'static))
    }
}

/// What went wrong in a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamErrorKind {
    /// The connection closed before `data: [DONE]`.
    EndedWithoutDone,
    /// An event's data was not valid JSON for a chunk.
    MalformedEvent,
    /// The service sent an `error` object inside the stream.
    ServiceError,
    /// Reading the body failed mid-stream.
    Read,
}

/// A stream broke its protocol.
#[derive(Debug)]
pub struct StreamError {
    /// What went wrong.
    pub kind: StreamErrorKind,
    /// Details.
    pub message: String,
    /// The request id of the stream.
    pub request_id: Option<String>,
    /// The underlying cause.
    pub source: Option<BoxError>,
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            StreamErrorKind::EndedWithoutDone => "stream ended without [DONE]",
            StreamErrorKind::MalformedEvent => "malformed stream event",
            StreamErrorKind::ServiceError => "error inside stream",
            StreamErrorKind::Read => "stream read failed",
        };
        if self.message.is_empty() { f.write_str(what) } else { write!(f, "{what}: {}", self.message) }
    }
}

impl StdError for StreamError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_deref().map(|error| error as &(dyn StdError + 'static))
    }
}

/// A layer wrapping the client refused a request or its answer.
///
/// aoai-core knows nothing of the layer: it carries the layer's name, whether
/// the request may have reached the service (`false` when the request was
/// refused before sending), the request id of an answer that was refused, and
/// the layer's own error as the source, which callers get back with
/// [`downcast_ref`](Self::downcast_ref).
#[derive(Debug)]
pub struct RejectedError {
    /// The layer that refused (`aoai-safety`, …).
    pub layer: &'static str,
    /// Whether the request may have reached the service.
    pub may_have_been_sent: bool,
    /// The request id of the refused answer, when there was one.
    pub request_id: Option<String>,
    /// The layer's own error.
    pub source: BoxError,
}

impl RejectedError {
    /// The layer's error as `E`, if it is one.
    #[must_use]
    pub fn downcast_ref<E: StdError + 'static>(&self) -> Option<&E> {
        self.source.downcast_ref::<E>()
    }
}

impl fmt::Display for RejectedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rejected by {}", self.layer)
    }
}

impl StdError for RejectedError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(self.source.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::Severity;

    fn meta(status: u16) -> ResponseMeta {
        ResponseMeta { status, request_id: Some("req-1".into()), attempts: 1, ..ResponseMeta::default() }
    }

    #[test]
    fn wire_filter_error_singular_innererror() {
        let body = br#"{"error":{"message":"The response was filtered","type":null,"param":"prompt","code":"content_filter","status":400,
            "innererror":{"code":"ResponsibleAIPolicyViolation","content_filter_result":{
              "hate":{"filtered":false,"severity":"safe"},"jailbreak":{"filtered":true,"detected":true},
              "self_harm":{"filtered":false,"severity":"safe"},"sexual":{"filtered":false,"severity":"safe"},
              "violence":{"filtered":true,"severity":"medium"}}}}}"#;
        let error = Error::Api(ApiError::from_response(meta(400), body));
        assert_eq!(error.kind_name(), "content_filter");
        assert_eq!(error.code(), Some("content_filter"));
        let results = error.content_filter().unwrap();
        assert_eq!(results.violence.as_ref().unwrap().severity, Some(Severity::Medium));
        let line = error.summary_line();
        assert!(line.contains("HTTP 400") && line.contains("request id req-1"), "{line}");
        assert!(
            line.contains("violence=medium (filtered)") && line.contains("jailbreak=detected (filtered)"),
            "{line}"
        );
        assert!(!error.is_retryable());
    }

    #[test]
    fn spec_filter_error_plural_inner_error() {
        let body =
            br#"{"error":{"code":"content_filter","message":"m","inner_error":{"code":"ResponsibleAIPolicyViolation",
            "content_filter_results":{"hate":{"filtered":true,"severity":"high"}}}}}"#;
        let error = ApiError::from_response(meta(400), body);
        assert_eq!(error.kind(), ApiErrorKind::ContentFilter);
        assert_eq!(error.inner_code(), Some("ResponsibleAIPolicyViolation"));
        assert!(error.content_filter().unwrap().is_filtered());
    }

    #[test]
    fn numeric_code_and_gateway_shapes() {
        let error = ApiError::from_response(
            meta(429),
            br#"{"error":{"code":429,"message":"Rate limit is exceeded. Try again in 5 seconds."}}"#,
        );
        assert_eq!(error.code(), Some("429"));
        assert_eq!(error.kind(), ApiErrorKind::RateLimited);
        assert!(error.is_retryable());
        let error = ApiError::from_response(
            meta(401),
            br#"{"statusCode": 401, "message": "Unauthorized. Access token is missing"}"#,
        );
        assert_eq!(error.code(), Some("401"));
        assert_eq!(error.kind(), ApiErrorKind::Authentication);
        assert_eq!(error.message(), Some("Unauthorized. Access token is missing"));
    }

    #[test]
    fn html_429_is_still_rate_limit() {
        let error = ApiError::from_response(meta(429), b"<html><body><h1>429 Too Many Requests</h1></body></html>");
        assert_eq!(error.kind(), ApiErrorKind::RateLimited);
        assert!(error.is_retryable());
        assert!(!error.body().json);
        assert!(error.to_string().contains("non-JSON body"), "{error}");
    }

    #[test]
    fn day_long_retry_is_terminal() {
        let body = br#"{"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-01-preview have exceeded call rate limit of your current OpenAI S0 pricing tier. Please retry after 86400 seconds."}}"#;
        let error = ApiError::from_response(meta(429), body);
        assert_eq!(error.kind(), ApiErrorKind::QuotaExhausted);
        assert!(!error.is_retryable());
        assert_eq!(error.retry_after(), Some(Duration::from_secs(86400)));
    }

    #[test]
    fn should_retry_header_wins() {
        let mut m = meta(500);
        m.should_retry = Some(false);
        assert!(!ApiError::from_response(m, b"{}").is_retryable());
        let mut m = meta(400);
        m.should_retry = Some(true);
        assert!(ApiError::from_response(m, b"{}").is_retryable());
    }

    #[test]
    fn sent_and_retryable_matrix() {
        let not_sent =
            Error::Connection(ConnectionError { may_have_been_sent: false, attempts: 1, source: "refused".into() });
        assert!(!not_sent.may_have_been_sent() && not_sent.is_retryable());
        let config = Error::Config(ConfigError::new("AZURE_OPENAI_ENDPOINT", "missing"));
        assert!(!config.may_have_been_sent() && !config.is_retryable());
        let deadline = Error::Timeout(TimeoutError {
            kind: TimeoutKind::Deadline,
            limit: Duration::from_secs(1),
            may_have_been_sent: true,
            attempts: 2,
        });
        assert!(deadline.may_have_been_sent() && !deadline.is_retryable());
    }

    #[test]
    fn rejected_keeps_the_layers_error() {
        #[derive(Debug, PartialEq)]
        struct Refusal(u8);
        impl fmt::Display for Refusal {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "refused {}", self.0)
            }
        }
        impl StdError for Refusal {}
        let error = Error::Rejected(RejectedError {
            layer: "test-layer",
            may_have_been_sent: false,
            request_id: None,
            source: Box::new(Refusal(7)),
        });
        assert_eq!(error.kind_name(), "rejected");
        assert!(!error.may_have_been_sent() && !error.is_retryable());
        assert_eq!(error.attempts(), 0);
        assert_eq!(error.to_string(), "rejected by test-layer");
        assert_eq!(error.source().map(ToString::to_string).as_deref(), Some("refused 7"));
        let Error::Rejected(inner) = &error else { unreachable!() };
        assert_eq!(inner.downcast_ref::<Refusal>(), Some(&Refusal(7)));
        let sent = Error::Rejected(RejectedError {
            layer: "test-layer",
            may_have_been_sent: true,
            request_id: Some("req-9".into()),
            source: Box::new(Refusal(1)),
        });
        assert!(sent.may_have_been_sent());
        assert_eq!(sent.request_id(), Some("req-9"));
        assert_eq!(sent.summary_line(), "error: rejected (request id req-9): rejected by test-layer: refused 1");
    }
}
