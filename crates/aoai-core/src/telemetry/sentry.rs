//! Sentry reporting (feature `sentry`): errors as events carrying their Azure
//! context, and a breadcrumb per request.
//!
//! [`capture_error`] sends an event for an [`Error`] with tags to search by
//! (`aoai.error_kind`, `http.status_code`, `azure.error_code`,
//! `azure.request_id`, `azure.inner_error`, `azure.region`), an `azure_openai`
//! context (parameter, retry-after, retryable, attempts, rate-limit headers)
//! and, for content-filter errors, a `content_filter` context with each
//! category's verdict and severity. Events of the same kind and code group
//! together however their messages vary. Nothing secret is sent: errors never
//! hold keys, tokens or keyed URLs, and no request body is attached.
//!
//! [`SentryRecorder`] is a [`MetricsRecorder`] that leaves a breadcrumb per
//! request (operation, deployment, status, latency, attempts, tokens), so an
//! error event shows the calls that led to it.
//!
//! ```
//! use aoai_core::metrics::{FanoutRecorder, InMemoryRecorder};
//! use aoai_core::telemetry::sentry::SentryRecorder;
//!
//! let recorder = FanoutRecorder::new().with(InMemoryRecorder::new()).with(SentryRecorder::new());
//! # let _ = recorder;
//! ```

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use sentry_core::protocol::{Breadcrumb, Context, Event, Exception, Level, Map, Value};
use sentry_core::types::Uuid;
use sentry_core::{Hub, parse_type_from_debug};

use crate::Error;
use crate::metrics::{MetricsRecorder, RequestRecord};

/// The breadcrumb category of [`SentryRecorder`]'s breadcrumbs.
pub const BREADCRUMB_CATEGORY: &str = "aoai.request";

/// The exception type every event of this module carries.
pub const EXCEPTION_TYPE: &str = "aoai_core::Error";

/// Sends `error` to Sentry through the current hub; returns the event id
/// (nil when no client is bound or the event was dropped).
pub fn capture_error(error: &Error) -> Uuid {
    Hub::with_active(|hub| hub.capture_event(event_for_error(error)))
}

/// Sends `error` through a given hub.
pub fn capture_error_with_hub(hub: &Hub, error: &Error) -> Uuid {
    hub.capture_event(event_for_error(error))
}

/// The event [`capture_error`] sends, to adjust before sending it yourself.
#[must_use]
pub fn event_for_error(error: &Error) -> Event<'static> {
    let kind = error.kind_name();
    let mut tags = Map::new();
    tags.insert("aoai.error_kind".to_owned(), kind.to_owned());
    tags.insert("aoai.retryable".to_owned(), error.is_retryable().to_string());
    if let Some(status) = error.status() {
        tags.insert("http.status_code".to_owned(), status.to_string());
    }
    if let Some(code) = error.code() {
        tags.insert("azure.error_code".to_owned(), code.to_owned());
    }
    if let Some(id) = error.request_id() {
        tags.insert("azure.request_id".to_owned(), id.to_owned());
    }
    let api = error.as_api();
    if let Some(inner) = api.and_then(|api| api.inner_code()) {
        tags.insert("azure.inner_error".to_owned(), inner.to_owned());
    }
    if let Some(region) = api.and_then(|api| api.meta().region.as_deref()) {
        tags.insert("azure.region".to_owned(), region.to_owned());
    }

    let mut contexts = Map::new();
    contexts.insert("azure_openai".to_owned(), Context::Other(azure_context(error)));
    if let Some(results) = error.content_filter() {
        let mut categories = Map::new();
        for verdict in results.categories() {
            let mut entry = Map::new();
            entry.insert("filtered".to_owned(), Value::Bool(verdict.filtered));
            if let Some(severity) = &verdict.severity {
                entry.insert("severity".to_owned(), Value::String(severity.as_str().to_owned()));
            }
            if let Some(detected) = verdict.detected {
                entry.insert("detected".to_owned(), Value::Bool(detected));
            }
            categories.insert(verdict.category, Value::Object(entry.into_iter().collect()));
        }
        contexts.insert("content_filter".to_owned(), Context::Other(categories));
    }

    let group = error.code().map(str::to_owned).or_else(|| error.status().map(|status| status.to_string()));
    let mut fingerprint: Vec<Cow<'static, str>> = vec![EXCEPTION_TYPE.into(), kind.into()];
    if let Some(group) = group {
        fingerprint.push(group.into());
    }

    Event {
        level: Level::Error,
        logger: Some("aoai_core".to_owned()),
        exception: exceptions(error).into(),
        fingerprint: fingerprint.into(),
        tags,
        contexts,
        ..Event::default()
    }
}

/// The error and its causes, root cause first as Sentry expects.
fn exceptions(error: &Error) -> Vec<Exception> {
    let mut chain =
        vec![Exception { ty: EXCEPTION_TYPE.to_owned(), value: Some(error.to_string()), ..Exception::default() }];
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        // Only the leading type name of `Debug` is kept, never its fields.
        let debug = format!("{cause:?}");
        chain.push(Exception {
            ty: parse_type_from_debug(&debug).to_owned(),
            value: Some(cause.to_string()),
            ..Exception::default()
        });
        source = cause.source();
    }
    chain.reverse();
    chain
}

fn azure_context(error: &Error) -> Map<String, Value> {
    let mut context = Map::new();
    context.insert("error_kind".to_owned(), Value::from(error.kind_name()));
    context.insert("retryable".to_owned(), Value::Bool(error.is_retryable()));
    context.insert("may_have_been_sent".to_owned(), Value::Bool(error.may_have_been_sent()));
    if error.attempts() > 0 {
        context.insert("attempts".to_owned(), Value::from(error.attempts()));
    }
    if let Some(delay) = error.retry_after() {
        context.insert("retry_after_seconds".to_owned(), Value::from(delay.as_secs_f64()));
    }
    let Some(api) = error.as_api() else { return context };
    if let Some(param) = api.param() {
        context.insert("param".to_owned(), Value::from(param));
    }
    if let Some(error_type) = &api.body().error_type {
        context.insert("error_type".to_owned(), Value::from(error_type.as_str()));
    }
    let meta = api.meta();
    let limits = &meta.rate_limits;
    let numbers = [
        ("remaining_requests", limits.remaining_requests),
        ("remaining_tokens", limits.remaining_tokens),
        ("limit_requests", limits.limit_requests),
        ("limit_tokens", limits.limit_tokens),
    ];
    for (name, value) in numbers {
        if let Some(value) = value {
            context.insert(format!("ratelimit.{name}"), Value::from(value));
        }
    }
    context
}

/// A [`MetricsRecorder`] that adds a Sentry breadcrumb per request: category
/// `aoai.request`, level `info` for successes and `warning` for failures, a
/// one-line message and the record's figures as data.
#[derive(Clone, Default)]
pub struct SentryRecorder {
    hub: Option<Arc<Hub>>,
}

impl SentryRecorder {
    /// Adds breadcrumbs to the hub current where each request finishes.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds breadcrumbs to a given hub.
    #[must_use]
    pub fn with_hub(hub: Arc<Hub>) -> Self {
        Self { hub: Some(hub) }
    }
}

impl fmt::Debug for SentryRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SentryRecorder").field("own_hub", &self.hub.is_some()).finish()
    }
}

impl MetricsRecorder for SentryRecorder {
    fn record(&self, record: &RequestRecord) {
        let crumb = breadcrumb_for(record);
        match &self.hub {
            Some(hub) => hub.add_breadcrumb(crumb),
            None => Hub::with_active(|hub| hub.add_breadcrumb(crumb)),
        }
    }
}

/// The breadcrumb [`SentryRecorder`] adds for a record.
#[must_use]
pub fn breadcrumb_for(record: &RequestRecord) -> Breadcrumb {
    let mut data = Map::new();
    data.insert("operation".to_owned(), Value::from(record.operation.as_str()));
    if let Some(deployment) = &record.deployment {
        data.insert("deployment".to_owned(), Value::from(deployment.as_str()));
    }
    if let Some(model) = &record.model {
        data.insert("model".to_owned(), Value::from(model.as_str()));
    }
    if let Some(status) = record.status {
        data.insert("status_code".to_owned(), Value::from(status));
    }
    data.insert("latency_ms".to_owned(), Value::from(millis(record.latency)));
    if let Some(ttft) = record.time_to_first_token {
        data.insert("time_to_first_token_ms".to_owned(), Value::from(millis(ttft)));
    }
    data.insert("attempts".to_owned(), Value::from(record.attempts));
    if let Some(kind) = record.error_kind {
        data.insert("error_kind".to_owned(), Value::from(kind));
    }
    if let Some(id) = &record.request_id {
        data.insert("request_id".to_owned(), Value::from(id.as_str()));
    }
    if !record.usage.is_empty() {
        data.insert("prompt_tokens".to_owned(), Value::from(record.usage.prompt));
        data.insert("completion_tokens".to_owned(), Value::from(record.usage.completion));
    }

    let target = record.deployment.as_deref().or(record.model.as_deref()).unwrap_or("-");
    let mut message = format!("{} {target}", record.operation);
    if let Some(status) = record.status {
        message.push_str(&format!(" {status}"));
    }
    if let Some(kind) = record.error_kind {
        message.push_str(&format!(" {kind}"));
    }
    message.push_str(&format!(" in {:.0}ms", millis(record.latency)));
    if record.attempts > 1 {
        message.push_str(&format!(" after {} attempts", record.attempts));
    }

    Breadcrumb {
        ty: "default".to_owned(),
        category: Some(BREADCRUMB_CATEGORY.to_owned()),
        level: if record.is_success() { Level::Info } else { Level::Warning },
        message: Some(message),
        data,
        ..Breadcrumb::default()
    }
}

fn millis(duration: std::time::Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}
