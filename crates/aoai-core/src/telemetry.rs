//! Tracing spans named after the OpenTelemetry GenAI semantic conventions.
//!
//! The client opens one [`operation_span`] per call (`chat`, `embeddings`, …)
//! and one [`attempt_span`] per HTTP attempt inside it, then fills in what it
//! learns with the `record_*` functions. Any `tracing` subscriber sees them;
//! with `tracing-opentelemetry` they become OpenTelemetry client spans whose
//! attributes follow the GenAI conventions (`otel.name` and `otel.kind` set the
//! span name and kind there).
//!
//! | field | when | example |
//! | --- | --- | --- |
//! | `gen_ai.operation.name` | at creation | `chat`, `embeddings` |
//! | `gen_ai.provider.name` | at creation | `azure.ai.openai` (`openai` for `api.openai.com`) |
//! | `gen_ai.system` | at creation | `az.ai.openai` (the name older consumers read) |
//! | `gen_ai.request.model` | at creation | the model, else the deployment |
//! | `aoai.deployment` | at creation | the Azure deployment |
//! | `server.address` | at creation | `myresource.openai.azure.com` |
//! | `gen_ai.request.max_tokens`, `.temperature`, `.top_p` | [`record_request_params`], [`record_chat_request`] | `256`, `0.2` |
//! | `gen_ai.response.id`, `.model`, `.finish_reasons` | [`record_response`], [`record_chat_response`] | `chatcmpl-…`, `gpt-4o-2024-08-06`, `["stop"]` |
//! | `gen_ai.usage.input_tokens`, `.output_tokens` | [`record_usage`] | `120`, `30` |
//! | `gen_ai.usage.cache_read.input_tokens`, `gen_ai.usage.reasoning.output_tokens` | [`record_usage`] | `64`, `0` |
//! | `http.response.status_code`, `azure.service.request.id` | [`record_http_response`], [`record_status`] | `200`, a GUID |
//! | `error.type`, `otel.status_code` | [`record_error`] | `rate_limited`, `ERROR` |
//! | `aoai.attempts` | [`record_attempts`] | `3` |
//!
//! `azure.service.request.id` is the current name of the Azure request-id
//! attribute (it replaced `az.service_request_id`); `gen_ai.provider.name`
//! replaced `gen_ai.system`, which is still emitted for consumers that only
//! know the old name.
//!
//! Prompt and completion text are **never** recorded unless the caller opts in
//! with [`TelemetryConfig::capture_content`]; then they go into
//! `gen_ai.content.prompt` / `gen_ai.content.completion` events carrying a
//! `gen_ai.prompt` / `gen_ai.completion` field with the messages as JSON.
//!
//! ```
//! use aoai_core::metrics::TokenUsage;
//! use aoai_core::telemetry::{self, TelemetryConfig};
//!
//! let span = telemetry::operation_span("chat", Some("gpt-4o"), None, "myresource.openai.azure.com");
//! let attempt = span.in_scope(|| telemetry::attempt_span(1));
//! telemetry::record_http_response(&attempt, 200, Some("3f1c…"));
//! telemetry::record_http_response(&span, 200, Some("3f1c…"));
//! telemetry::record_usage(&span, &TokenUsage { prompt: 120, completion: 30, ..TokenUsage::default() });
//! TelemetryConfig::default().record_prompt(&span, &["never recorded: capture is off"]);
//! ```

#[cfg(feature = "sentry")]
pub mod sentry;

use serde::Serialize;
use tracing::Span;
use tracing::field::Empty;

use crate::Error;
use crate::chat::{ChatRequest, ChatResponse};
use crate::metrics::{RequestRecord, TokenUsage};

/// `gen_ai.provider.name` for Azure OpenAI.
pub const PROVIDER_AZURE_OPENAI: &str = "azure.ai.openai";
/// `gen_ai.provider.name` for OpenAI itself.
pub const PROVIDER_OPENAI: &str = "openai";
/// The older `gen_ai.system` value for Azure OpenAI.
pub const SYSTEM_AZURE_OPENAI: &str = "az.ai.openai";

/// The names of the fields this module records, for filters and tests.
pub mod fields {
    /// What was called: `chat`, `embeddings`.
    pub const OPERATION_NAME: &str = "gen_ai.operation.name";
    /// The provider (`azure.ai.openai`).
    pub const PROVIDER_NAME: &str = "gen_ai.provider.name";
    /// The provider under its older attribute name (`az.ai.openai`).
    pub const SYSTEM: &str = "gen_ai.system";
    /// The requested model (on Azure, the deployment when no model is known).
    pub const REQUEST_MODEL: &str = "gen_ai.request.model";
    /// The Azure deployment.
    pub const DEPLOYMENT: &str = "aoai.deployment";
    /// The host the request went to.
    pub const SERVER_ADDRESS: &str = "server.address";
    /// `max_tokens` / `max_completion_tokens` of the request.
    pub const REQUEST_MAX_TOKENS: &str = "gen_ai.request.max_tokens";
    /// `temperature` of the request.
    pub const REQUEST_TEMPERATURE: &str = "gen_ai.request.temperature";
    /// `top_p` of the request.
    pub const REQUEST_TOP_P: &str = "gen_ai.request.top_p";
    /// The response's `id`.
    pub const RESPONSE_ID: &str = "gen_ai.response.id";
    /// The model that answered.
    pub const RESPONSE_MODEL: &str = "gen_ai.response.model";
    /// Each choice's finish reason, as a JSON array.
    pub const RESPONSE_FINISH_REASONS: &str = "gen_ai.response.finish_reasons";
    /// Prompt tokens.
    pub const USAGE_INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
    /// Completion tokens.
    pub const USAGE_OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
    /// Prompt tokens read from the prompt cache.
    pub const USAGE_CACHE_READ_INPUT_TOKENS: &str = "gen_ai.usage.cache_read.input_tokens";
    /// Completion tokens spent on reasoning.
    pub const USAGE_REASONING_OUTPUT_TOKENS: &str = "gen_ai.usage.reasoning.output_tokens";
    /// The Azure request id (`apim-request-id` or `x-request-id`).
    pub const AZURE_REQUEST_ID: &str = "azure.service.request.id";
    /// The HTTP status of the (last) response.
    pub const HTTP_STATUS_CODE: &str = "http.response.status_code";
    /// The error kind ([`crate::Error::kind_name`]).
    pub const ERROR_TYPE: &str = "error.type";
    /// Attempts made by an operation.
    pub const ATTEMPTS: &str = "aoai.attempts";
    /// Which attempt an attempt span is (1 = first).
    pub const ATTEMPT: &str = "aoai.attempt";
    /// How many times the request was resent before this attempt.
    pub const RESEND_COUNT: &str = "http.request.resend_count";
    /// The prompt messages, as JSON, on a `gen_ai.content.prompt` event (opt-in).
    pub const PROMPT: &str = "gen_ai.prompt";
    /// The completion choices, as JSON, on a `gen_ai.content.completion` event (opt-in).
    pub const COMPLETION: &str = "gen_ai.completion";
}

/// The span of one operation (all its attempts), at `INFO` level.
///
/// `operation` is the GenAI operation name (`chat`, `embeddings`, or any
/// other short name), `server_address` the host the client talks to. Fields
/// learnt later start empty and are filled with the `record_*` functions.
#[must_use]
pub fn operation_span(operation: &str, deployment: Option<&str>, model: Option<&str>, server_address: &str) -> Span {
    let (provider, system) = provider_for(server_address);
    let request_model = model.or(deployment);
    let otel_name = match request_model {
        Some(model) => format!("{operation} {model}"),
        None => operation.to_owned(),
    };
    macro_rules! span_named {
        ($name:literal) => {
            tracing::info_span!(
                $name,
                otel.name = %otel_name,
                otel.kind = "client",
                otel.status_code = Empty,
                gen_ai.operation.name = operation,
                gen_ai.provider.name = provider,
                gen_ai.system = system,
                gen_ai.request.model = request_model,
                aoai.deployment = deployment,
                server.address = server_address,
                gen_ai.request.max_tokens = Empty,
                gen_ai.request.temperature = Empty,
                gen_ai.request.top_p = Empty,
                gen_ai.response.id = Empty,
                gen_ai.response.model = Empty,
                gen_ai.response.finish_reasons = Empty,
                gen_ai.usage.input_tokens = Empty,
                gen_ai.usage.output_tokens = Empty,
                gen_ai.usage.cache_read.input_tokens = Empty,
                gen_ai.usage.reasoning.output_tokens = Empty,
                azure.service.request.id = Empty,
                http.response.status_code = Empty,
                error.type = Empty,
                aoai.attempts = Empty,
            )
        };
    }
    // Span names are static in `tracing`; the common operations get their own
    // so plain log output reads `chat{…}`, the rest share `gen_ai`.
    match operation {
        "chat" => span_named!("chat"),
        "embeddings" => span_named!("embeddings"),
        _ => span_named!("gen_ai"),
    }
}

/// The span of one HTTP attempt, at `DEBUG` level, a child of the current
/// span (enter the operation span, or run inside a future instrumented with
/// it, before calling).
#[must_use]
pub fn attempt_span(attempt: u32) -> Span {
    let resend_count = (attempt > 1).then(|| attempt - 1);
    tracing::debug_span!(
        "attempt",
        aoai.attempt = attempt,
        http.request.resend_count = resend_count,
        http.response.status_code = Empty,
        azure.service.request.id = Empty,
        error.type = Empty,
        otel.status_code = Empty,
    )
}

/// Like [`attempt_span`], with an explicit parent.
#[must_use]
pub fn attempt_span_in(parent: &Span, attempt: u32) -> Span {
    parent.in_scope(|| attempt_span(attempt))
}

/// Records the request's sampling parameters that were set.
pub fn record_request_params(span: &Span, max_tokens: Option<u32>, temperature: Option<f64>, top_p: Option<f64>) {
    if let Some(max_tokens) = max_tokens {
        span.record("gen_ai.request.max_tokens", max_tokens);
    }
    if let Some(temperature) = temperature {
        span.record("gen_ai.request.temperature", temperature);
    }
    if let Some(top_p) = top_p {
        span.record("gen_ai.request.top_p", top_p);
    }
}

/// Records what the response said about itself. `finish_reasons` holds one
/// entry per choice and is recorded as a JSON array (`["stop","length"]`).
pub fn record_response(span: &Span, response_id: Option<&str>, response_model: Option<&str>, finish_reasons: &[&str]) {
    if let Some(id) = response_id.filter(|id| !id.is_empty()) {
        span.record("gen_ai.response.id", id);
    }
    if let Some(model) = response_model.filter(|model| !model.is_empty()) {
        span.record("gen_ai.response.model", model);
    }
    if !finish_reasons.is_empty() {
        // Serialising a list of strings cannot fail.
        let reasons = serde_json::to_string(finish_reasons).unwrap_or_default();
        span.record("gen_ai.response.finish_reasons", reasons.as_str());
    }
}

/// Records a chat request's parameters: `max_tokens` (or
/// `max_completion_tokens`), `temperature` and `top_p`, when set.
pub fn record_chat_request(span: &Span, request: &ChatRequest) {
    record_request_params(
        span,
        request.max_tokens.or(request.max_completion_tokens),
        request.temperature,
        request.top_p,
    );
}

/// Records a chat response: id, model, each choice's finish reason (in choice
/// order) and, when reported, usage.
pub fn record_chat_response(span: &Span, response: &ChatResponse) {
    let mut choices: Vec<_> = response.choices.iter().collect();
    choices.sort_by_key(|choice| choice.index);
    let reasons: Vec<&str> =
        choices.iter().filter_map(|choice| choice.finish_reason.as_ref().map(|reason| reason.as_str())).collect();
    record_response(span, Some(&response.id), Some(&response.model), &reasons);
    if let Some(usage) = &response.usage {
        record_usage(span, &TokenUsage::from(usage));
    }
}

/// Records token usage. Cached and reasoning tokens are recorded only when
/// non-zero (most models report neither).
pub fn record_usage(span: &Span, usage: &TokenUsage) {
    span.record("gen_ai.usage.input_tokens", usage.prompt);
    span.record("gen_ai.usage.output_tokens", usage.completion);
    if usage.cached > 0 {
        span.record("gen_ai.usage.cache_read.input_tokens", usage.cached);
    }
    if usage.reasoning > 0 {
        span.record("gen_ai.usage.reasoning.output_tokens", usage.reasoning);
    }
}

/// Records an HTTP response's status and request id (on an attempt span, and
/// the last one on the operation span).
pub fn record_http_response(span: &Span, status: u16, request_id: Option<&str>) {
    span.record("http.response.status_code", status);
    if let Some(id) = request_id {
        span.record("azure.service.request.id", id);
    }
}

/// Records an HTTP status alone.
pub fn record_status(span: &Span, status: u16) {
    span.record("http.response.status_code", status);
}

/// Records how many attempts an operation took.
pub fn record_attempts(span: &Span, attempts: u32) {
    span.record("aoai.attempts", attempts);
}

/// Records a failure: `error.type` (the error's [`Error::kind_name`]),
/// `otel.status_code = ERROR`, and the status and request id when the service
/// answered. The error's message is not recorded.
pub fn record_error(span: &Span, error: &Error) {
    span.record("error.type", error.kind_name());
    span.record("otel.status_code", "ERROR");
    if let Some(status) = error.status() {
        span.record("http.response.status_code", status);
    }
    if let Some(id) = error.request_id() {
        span.record("azure.service.request.id", id);
    }
}

/// Records everything a finished operation's [`RequestRecord`] knows: usage,
/// status, request id, attempts and, for failures, `error.type`.
pub fn record_outcome(span: &Span, record: &RequestRecord) {
    if !record.usage.is_empty() {
        record_usage(span, &record.usage);
    }
    if let Some(status) = record.status {
        span.record("http.response.status_code", status);
    }
    if let Some(id) = &record.request_id {
        span.record("azure.service.request.id", id.as_str());
    }
    record_attempts(span, record.attempts);
    if let Some(kind) = record.error_kind {
        span.record("error.type", kind);
        span.record("otel.status_code", "ERROR");
    }
}

/// Which provider names a server address stands for.
fn provider_for(server_address: &str) -> (&'static str, &'static str) {
    let host = server_address.trim_end_matches('.').to_ascii_lowercase();
    if host == "api.openai.com" {
        (PROVIDER_OPENAI, PROVIDER_OPENAI)
    } else {
        (PROVIDER_AZURE_OPENAI, SYSTEM_AZURE_OPENAI)
    }
}

/// What telemetry may record beyond metadata.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TelemetryConfig {
    /// Record prompt and completion text in `gen_ai.content.*` events. Off by
    /// default: prompts often hold personal or confidential data.
    pub capture_content: bool,
}

impl TelemetryConfig {
    /// The environment variable OpenTelemetry GenAI instrumentations read to
    /// opt in to content capture.
    pub const CAPTURE_CONTENT_ENV: &'static str = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT";

    /// Metadata only.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets whether prompt and completion text are recorded.
    #[must_use]
    pub fn with_capture_content(mut self, capture_content: bool) -> Self {
        self.capture_content = capture_content;
        self
    }

    /// Reads [`Self::CAPTURE_CONTENT_ENV`]: `true` or `1` (any case, trimmed)
    /// opts in; anything else, or no variable, leaves capture off.
    #[must_use]
    pub fn from_env() -> Self {
        let value = std::env::var(Self::CAPTURE_CONTENT_ENV).ok();
        Self::from_env_value(value.as_deref())
    }

    /// What [`Self::from_env`] makes of a value of [`Self::CAPTURE_CONTENT_ENV`].
    #[must_use]
    pub fn from_env_value(value: Option<&str>) -> Self {
        let capture_content = value.is_some_and(|value| {
            let value = value.trim();
            value.eq_ignore_ascii_case("true") || value == "1"
        });
        Self { capture_content }
    }

    /// When capture is on, emits a `gen_ai.content.prompt` event in `span`
    /// with the prompt messages serialised as JSON in `gen_ai.prompt`.
    /// When it is off, does nothing (and serialises nothing).
    pub fn record_prompt<T: Serialize + ?Sized>(&self, span: &Span, messages: &T) {
        if !self.capture_content {
            return;
        }
        let Ok(json) = serde_json::to_string(messages) else { return };
        tracing::event!(
            name: "gen_ai.content.prompt",
            target: module_path!(),
            parent: span,
            tracing::Level::INFO,
            gen_ai.prompt = json.as_str(),
        );
    }

    /// When capture is on, emits a `gen_ai.content.completion` event in `span`
    /// with the completion (choices or text) serialised as JSON in
    /// `gen_ai.completion`. When it is off, does nothing.
    pub fn record_completion<T: Serialize + ?Sized>(&self, span: &Span, completion: &T) {
        if !self.capture_content {
            return;
        }
        let Ok(json) = serde_json::to_string(completion) else { return };
        tracing::event!(
            name: "gen_ai.content.completion",
            target: module_path!(),
            parent: span,
            tracing::Level::INFO,
            gen_ai.completion = json.as_str(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_flag_parsing() {
        assert!(!TelemetryConfig::from_env_value(None).capture_content);
        assert!(!TelemetryConfig::from_env_value(Some("false")).capture_content);
        assert!(!TelemetryConfig::from_env_value(Some("yes please")).capture_content);
        assert!(TelemetryConfig::from_env_value(Some(" TRUE ")).capture_content);
        assert!(TelemetryConfig::from_env_value(Some("1")).capture_content);
    }

    #[test]
    fn provider_by_host() {
        assert_eq!(provider_for("myresource.openai.azure.com"), (PROVIDER_AZURE_OPENAI, SYSTEM_AZURE_OPENAI));
        assert_eq!(provider_for("API.openai.com."), (PROVIDER_OPENAI, PROVIDER_OPENAI));
        assert_eq!(provider_for("127.0.0.1"), (PROVIDER_AZURE_OPENAI, SYSTEM_AZURE_OPENAI));
    }
}
