//! Metrics, tracing spans and (with feature `sentry`) Sentry reporting.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use aoai_core::Error;
use aoai_core::error::ApiError;
use aoai_core::metrics::{
    DeploymentSummary, FanoutRecorder, InMemoryRecorder, LatencyHistogram, MAX_TRACKED_DEPLOYMENTS, MetricsRecorder,
    NoopRecorder, OTHER_DEPLOYMENTS, Operation, RequestRecord, TokenUsage,
};
use aoai_core::response::ResponseMeta;
use aoai_core::telemetry::{self, TelemetryConfig, fields};
use proptest::prelude::*;
use tracing_subscriber::fmt::format::FmtSpan;

// ---------------------------------------------------------------- histogram

/// The exact nearest-rank quantile of `values` (microseconds).
fn exact_quantile(values: &[u64], q: f64) -> u64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let n = sorted.len() as f64;
    let rank = ((q * n - q * n * 1e-12).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn assert_within_bound(estimate: Duration, exact_micros: u64) {
    let estimate = estimate.as_micros() as f64;
    let exact = exact_micros as f64;
    assert!((estimate - exact).abs() <= exact / 128.0, "estimate {estimate}µs is more than 1/128 from {exact}µs");
}

#[test]
fn percentiles_of_known_data() {
    let mut histogram = LatencyHistogram::new();
    // 1 ms … 10 s in 1 ms steps, recorded in a scrambled order.
    let mut values: Vec<u64> = (1..=10_000).collect();
    values.sort_by_key(|value| (value * 7919) % 10_007);
    for millis in &values {
        histogram.record(Duration::from_millis(*millis));
    }
    assert_eq!(histogram.count(), 10_000);
    for (q, exact_millis) in [(0.50, 5_000u64), (0.95, 9_500), (0.99, 9_900), (0.999, 9_990)] {
        let estimate = histogram.quantile(q).unwrap();
        assert_within_bound(estimate, exact_millis * 1_000);
    }
    assert_eq!(histogram.quantile(0.0), Some(Duration::from_millis(1)));
    assert_eq!(histogram.quantile(1.0), Some(Duration::from_millis(10_000)));
    assert_eq!(histogram.min(), Some(Duration::from_millis(1)));
    assert_eq!(histogram.max(), Some(Duration::from_secs(10)));
    assert_eq!(histogram.mean(), Some(Duration::from_micros(5_000_500)));
}

#[test]
fn small_latencies_are_exact() {
    let mut histogram = LatencyHistogram::new();
    for micros in 1..=100u64 {
        histogram.record(Duration::from_micros(micros));
    }
    assert_eq!(histogram.quantile(0.5), Some(Duration::from_micros(50)));
    assert_eq!(histogram.quantile(0.95), Some(Duration::from_micros(95)));
    assert_eq!(histogram.quantile(0.99), Some(Duration::from_micros(99)));
}

#[test]
fn skewed_data_with_outliers() {
    // 98 fast answers and 2 very slow ones: p95 must stay fast, p99 must see the outlier.
    let mut histogram = LatencyHistogram::new();
    for _ in 0..98 {
        histogram.record(Duration::from_millis(200));
    }
    histogram.record(Duration::from_secs(30));
    histogram.record(Duration::from_secs(60));
    assert_within_bound(histogram.quantile(0.95).unwrap(), 200_000);
    assert_within_bound(histogram.quantile(0.99).unwrap(), 30_000_000);
    assert_eq!(histogram.quantile(1.0), Some(Duration::from_secs(60)));
}

#[test]
fn memory_stays_bounded_over_a_million_requests() {
    let mut histogram = LatencyHistogram::new();
    let mut value: u64 = 1;
    for _ in 0..1_000_000 {
        // A cheap deterministic spread from 1 µs to ~1 hour.
        value = value.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        histogram.record(Duration::from_micros(value % 3_600_000_000));
    }
    assert_eq!(histogram.count(), 1_000_000);
    assert!(histogram.allocated_buckets() <= 2_000, "{} buckets", histogram.allocated_buckets());
    const { assert!(LatencyHistogram::MAX_BUCKETS < 4_000) };
}

#[test]
fn merged_histograms_match_one_histogram() {
    let mut left = LatencyHistogram::new();
    let mut right = LatencyHistogram::new();
    let mut both = LatencyHistogram::new();
    for millis in 1..=500u64 {
        let duration = Duration::from_millis(millis * 3);
        if millis % 2 == 0 {
            left.record(duration)
        } else {
            right.record(duration)
        }
        both.record(duration);
    }
    left.merge(&right);
    assert_eq!(left, both);
}

proptest! {
    #[test]
    fn quantiles_are_within_one_128th(
        values in proptest::collection::vec(0u64..50_000_000_000, 1..400),
        q in 0.0f64..=1.0,
    ) {
        let mut histogram = LatencyHistogram::new();
        for micros in &values {
            histogram.record(Duration::from_micros(*micros));
        }
        let estimate = histogram.quantile(q).unwrap().as_micros() as f64;
        let exact = exact_quantile(&values, q) as f64;
        prop_assert!((estimate - exact).abs() <= exact / 128.0, "q {} estimate {} exact {}", q, estimate, exact);
    }
}

// ---------------------------------------------------------------- recorder

fn api_error(status: u16, body: &str) -> Error {
    let meta = ResponseMeta { status, request_id: Some("req-42".into()), attempts: 3, ..ResponseMeta::default() };
    Error::Api(ApiError::from_response(meta, body.as_bytes()))
}

fn chat(deployment: &str, millis: u64) -> RequestRecord {
    RequestRecord::new(Operation::Chat)
        .with_deployment(deployment)
        .with_latency(Duration::from_millis(millis))
        .with_status(200)
}

#[test]
fn summary_counts_tokens_failures_and_deployments() {
    let recorder = InMemoryRecorder::new();
    let handle = recorder.clone();
    let usage = TokenUsage { prompt: 1_000, completion: 200, cached: 300, reasoning: 50 };
    for millis in [100, 200, 300, 400] {
        recorder.record(&chat("gpt-4o", millis).with_usage(usage));
    }
    recorder.record(
        &RequestRecord::new(Operation::ChatStream)
            .with_deployment("gpt-4o-mini")
            .with_latency(Duration::from_secs(2))
            .with_time_to_first_token(Duration::from_millis(250))
            .with_usage(TokenUsage { prompt: 10, completion: 5, ..TokenUsage::default() }),
    );
    let throttled =
        api_error(429, r#"{"error":{"code":"429","message":"Rate limit is exceeded. Try again in 5 seconds."}}"#);
    recorder.record(&RequestRecord::new(Operation::Chat).with_deployment("gpt-4o").with_error(&throttled));
    recorder.record(
        &RequestRecord::new(Operation::Embeddings).with_model("text-embedding-3-small").with_error_kind("timeout"),
    );

    let summary = handle.summary();
    assert_eq!(summary.requests, 7);
    assert_eq!(summary.successes, 5);
    assert_eq!(summary.failures, 2);
    assert!((summary.error_rate - 2.0 / 7.0).abs() < 1e-12);
    assert_eq!(summary.retries, 2, "the 429 took 3 attempts");
    assert_eq!(summary.failures_by_kind.get("rate_limited"), Some(&1));
    assert_eq!(summary.failures_by_kind.get("timeout"), Some(&1));
    assert_eq!(summary.prompt_tokens, 4_010);
    assert_eq!(summary.completion_tokens, 805);
    assert_eq!(summary.cached_tokens, 1_200);
    assert_eq!(summary.reasoning_tokens, 200);
    assert_eq!(summary.time_to_first_token_p50, Some(Duration::from_millis(250)));
    assert_eq!(summary.latency_max, Some(Duration::from_secs(2)));

    let gpt4o: &DeploymentSummary = &summary.by_deployment["gpt-4o"];
    assert_eq!((gpt4o.requests, gpt4o.failures), (5, 1));
    assert_eq!(gpt4o.prompt_tokens, 4_000);
    assert_within_bound(gpt4o.latency_p50.unwrap(), 200_000);
    assert_eq!(summary.by_deployment["gpt-4o-mini"].requests, 1);
    // No deployment: filed under the model.
    assert_eq!(summary.by_deployment["text-embedding-3-small"].failures, 1);

    let table = summary.to_string();
    for expected in
        ["requests   7", "error rate 28.57%", "retries 2", "rate_limited 1", "timeout 1", "gpt-4o-mini", "prompt 4,010"]
    {
        assert!(table.contains(expected), "{expected:?} missing from\n{table}");
    }

    let json: serde_json::Value = serde_json::from_str(&summary.to_json_pretty()).unwrap();
    assert_eq!(json["requests"], 7);
    assert_eq!(json["failures_by_kind"]["rate_limited"], 1);
    assert_eq!(json["latency_max_ms"], 2000.0);
    assert_eq!(json["by_deployment"]["gpt-4o"]["requests"], 5);
    assert!(json["latency_p95_ms"].is_number());

    recorder.reset();
    let empty = handle.summary();
    assert_eq!(empty.requests, 0);
    assert_eq!(empty.latency_p50, None);
    assert_eq!(empty.error_rate, 0.0);
    assert!(empty.by_deployment.is_empty());
}

#[test]
fn with_error_takes_kind_status_request_id_and_attempts() {
    let error = api_error(
        404,
        r#"{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist."}}"#,
    );
    let record = RequestRecord::new(Operation::Chat).with_error(&error);
    assert_eq!(record.error_kind, Some("not_found"));
    assert_eq!(record.status, Some(404));
    assert_eq!(record.request_id.as_deref(), Some("req-42"));
    assert_eq!(record.attempts, 3);
    assert!(!record.is_success());

    // Nothing sent: no attempt.
    let config = Error::Config(aoai_core::error::ConfigError::new("AZURE_OPENAI_ENDPOINT", "missing"));
    assert_eq!(RequestRecord::new(Operation::Chat).with_error(&config).attempts, 0);
    // A stream error knows of one attempt; the retries before the headers are kept.
    let broken = Error::Stream(aoai_core::error::StreamError {
        kind: aoai_core::error::StreamErrorKind::EndedWithoutDone,
        message: String::new(),
        request_id: None,
        source: None,
    });
    let record = RequestRecord::new(Operation::ChatStream).with_attempts(2).with_error(&broken);
    assert_eq!((record.attempts, record.error_kind), (2, Some("stream")));
}

#[test]
fn recording_from_many_threads() {
    let recorder = InMemoryRecorder::new();
    let shared: Arc<dyn MetricsRecorder> = Arc::new(recorder.clone());
    let workers: Vec<_> = (0..8)
        .map(|worker| {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                for index in 0..1_000u64 {
                    let usage = TokenUsage { prompt: 2, completion: 1, ..TokenUsage::default() };
                    shared.record(&chat(&format!("d{}", worker % 2), 1 + index % 50).with_usage(usage));
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let summary = recorder.summary();
    assert_eq!(summary.requests, 8_000);
    assert_eq!(summary.prompt_tokens, 16_000);
    assert_eq!(summary.by_deployment.len(), 2);
    assert_eq!(summary.by_deployment["d0"].requests, 4_000);
}

#[test]
fn deployments_beyond_the_cap_share_one_row() {
    let recorder = InMemoryRecorder::new();
    for index in 0..(MAX_TRACKED_DEPLOYMENTS + 10) {
        recorder.record(&chat(&format!("deployment-{index:03}"), 10));
    }
    // A deployment already tracked keeps its row.
    recorder.record(&chat("deployment-000", 10));
    let summary = recorder.summary();
    assert_eq!(summary.by_deployment.len(), MAX_TRACKED_DEPLOYMENTS + 1);
    assert_eq!(summary.by_deployment[OTHER_DEPLOYMENTS].requests, 10);
    assert_eq!(summary.by_deployment["deployment-000"].requests, 2);
}

#[test]
fn fanout_and_noop() {
    let first = InMemoryRecorder::new();
    let second = InMemoryRecorder::new();
    let fanout = FanoutRecorder::new().with(first.clone()).with(NoopRecorder).with_shared(Arc::new(second.clone()));
    fanout.record(&chat("gpt-4o", 5));
    assert_eq!(first.summary().requests, 1);
    assert_eq!(second.summary().requests, 1);
}

#[test]
fn operation_names() {
    assert_eq!(Operation::Chat.as_str(), "chat");
    assert_eq!(Operation::ChatStream.as_str(), "chat_stream");
    assert_eq!(Operation::ChatStream.gen_ai_name(), "chat");
    assert_eq!(Operation::Embeddings.gen_ai_name(), "embeddings");
    assert_eq!(Operation::Other("files.upload").to_string(), "files.upload");
    let json = serde_json::to_value(chat("gpt-4o", 1500)).unwrap();
    assert_eq!(json["operation"], "chat");
    assert_eq!(json["latency_ms"], 1500.0);
}

#[test]
fn token_usage_from_wire_usage() {
    let usage: aoai_core::chat::Usage = serde_json::from_str(
        r#"{"prompt_tokens":1200,"completion_tokens":300,"total_tokens":1500,
            "prompt_tokens_details":{"cached_tokens":1024},"completion_tokens_details":{"reasoning_tokens":128}}"#,
    )
    .unwrap();
    let tokens = TokenUsage::from(&usage);
    assert_eq!(tokens, TokenUsage { prompt: 1200, completion: 300, cached: 1024, reasoning: 128 });
    assert_eq!(tokens.total(), 1500);

    let embeddings: aoai_core::embeddings::EmbeddingsUsage =
        serde_json::from_str(r#"{"prompt_tokens":8,"total_tokens":8}"#).unwrap();
    assert_eq!(TokenUsage::from(&embeddings), TokenUsage { prompt: 8, ..TokenUsage::default() });
    let gateway: aoai_core::embeddings::EmbeddingsUsage = serde_json::from_str(r#"{"total_tokens":5}"#).unwrap();
    assert_eq!(TokenUsage::from(&gateway).prompt, 5);
}

// ---------------------------------------------------------------- tracing

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Runs `body` under a fmt subscriber that logs every event and every span
/// close (with all its fields) at DEBUG and above; returns the output.
fn capture(body: impl FnOnce()) -> String {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .with_span_events(FmtSpan::CLOSE)
        .finish();
    tracing::subscriber::with_default(subscriber, body);
    captured.text()
}

const PROMPT: &str = "my card number is 4111 1111 1111 1111";
const COMPLETION: &str = "I cannot help with card numbers";

fn traced_chat(config: TelemetryConfig) {
    let span = telemetry::operation_span("chat", Some("gpt-4o-prod"), Some("gpt-4o"), "myresource.openai.azure.com");
    telemetry::record_request_params(&span, Some(256), Some(0.2), None);
    config.record_prompt(&span, &serde_json::json!([{"role": "user", "content": PROMPT}]));
    let throttled = api_error(429, r#"{"error":{"code":"429","message":"Rate limit is exceeded."}}"#);
    {
        let attempt = telemetry::attempt_span_in(&span, 1);
        telemetry::record_http_response(&attempt, 429, Some("req-first"));
        telemetry::record_error(&attempt, &throttled);
    }
    {
        let attempt = span.in_scope(|| telemetry::attempt_span(2));
        telemetry::record_http_response(&attempt, 200, Some("req-second"));
    }
    telemetry::record_response(&span, Some("chatcmpl-123"), Some("gpt-4o-2024-08-06"), &["stop", "length"]);
    config.record_completion(&span, &[COMPLETION]);
    let record = RequestRecord::new(Operation::Chat)
        .with_status(200)
        .with_attempts(2)
        .with_request_id("req-second")
        .with_usage(TokenUsage { prompt: 120, completion: 30, cached: 64, reasoning: 0 });
    telemetry::record_outcome(&span, &record);
}

#[test]
fn spans_carry_gen_ai_fields_and_no_prompt_by_default() {
    let output = capture(|| traced_chat(TelemetryConfig::default()));
    for field in [
        fields::OPERATION_NAME,
        fields::PROVIDER_NAME,
        fields::SYSTEM,
        fields::REQUEST_MODEL,
        fields::DEPLOYMENT,
        fields::SERVER_ADDRESS,
        fields::REQUEST_MAX_TOKENS,
        fields::REQUEST_TEMPERATURE,
        fields::RESPONSE_ID,
        fields::RESPONSE_MODEL,
        fields::RESPONSE_FINISH_REASONS,
        fields::USAGE_INPUT_TOKENS,
        fields::USAGE_OUTPUT_TOKENS,
        fields::USAGE_CACHE_READ_INPUT_TOKENS,
        fields::AZURE_REQUEST_ID,
        fields::HTTP_STATUS_CODE,
        fields::ERROR_TYPE,
        fields::ATTEMPTS,
        fields::ATTEMPT,
        fields::RESEND_COUNT,
    ] {
        assert!(output.contains(&format!("{field}=")), "{field} missing from\n{output}");
    }
    for value in [
        "gen_ai.operation.name=\"chat\"",
        "gen_ai.provider.name=\"azure.ai.openai\"",
        "gen_ai.system=\"az.ai.openai\"",
        "gen_ai.request.model=\"gpt-4o\"",
        "server.address=\"myresource.openai.azure.com\"",
        "gen_ai.request.max_tokens=256",
        "gen_ai.usage.input_tokens=120",
        "gen_ai.usage.output_tokens=30",
        "gen_ai.usage.cache_read.input_tokens=64",
        "gen_ai.response.id=\"chatcmpl-123\"",
        "error.type=\"rate_limited\"",
        "azure.service.request.id=\"req-first\"",
        "azure.service.request.id=\"req-second\"",
        "http.request.resend_count=1",
        "aoai.attempts=2",
    ] {
        assert!(output.contains(value), "{value} missing from\n{output}");
    }
    // Reasoning tokens were zero, so not recorded; content capture is off.
    assert!(!output.contains(fields::USAGE_REASONING_OUTPUT_TOKENS), "{output}");
    assert!(!output.contains("4111"), "prompt text leaked:\n{output}");
    assert!(!output.contains(COMPLETION), "completion text leaked:\n{output}");
    assert!(!output.contains(fields::PROMPT), "{output}");
}

#[test]
fn content_is_recorded_only_when_opted_in() {
    let config = TelemetryConfig::new().with_capture_content(true);
    assert!(config.capture_content);
    let output = capture(|| traced_chat(config));
    assert!(output.contains("gen_ai.prompt="), "{output}");
    assert!(output.contains(PROMPT), "{output}");
    assert!(output.contains("gen_ai.completion="), "{output}");
    assert!(output.contains(COMPLETION), "{output}");
}

#[test]
fn error_recording_never_includes_the_message() {
    let error = api_error(
        400,
        r#"{"error":{"code":"context_length_exceeded","message":"This model's maximum context length is 8192 tokens: secret-ish detail","param":"messages"}}"#,
    );
    let output = capture(|| {
        let span = telemetry::operation_span("embeddings", Some("ada"), None, "api.openai.com");
        telemetry::record_error(&span, &error);
    });
    assert!(output.contains("error.type=\"bad_request\""), "{output}");
    assert!(output.contains("gen_ai.provider.name=\"openai\""), "{output}");
    assert!(output.contains("http.response.status_code=400"), "{output}");
    assert!(!output.contains("secret-ish"), "{output}");
}

// ---------------------------------------------------------------- sentry

#[cfg(feature = "sentry")]
mod sentry_reporting {
    use aoai_core::telemetry::sentry::{BREADCRUMB_CATEGORY, EXCEPTION_TYPE, SentryRecorder, capture_error};
    use sentry_core::protocol::{Context, Level};
    use sentry_core::test::with_captured_events;

    use super::*;

    const FILTER_BODY: &str = r#"{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
        "type":null,"param":"prompt","code":"content_filter","status":400,
        "innererror":{"code":"ResponsibleAIPolicyViolation","content_filter_result":{
          "hate":{"filtered":false,"severity":"safe"},"jailbreak":{"filtered":true,"detected":true},
          "violence":{"filtered":true,"severity":"medium"}}}}}"#;

    #[test]
    fn filter_error_event_has_azure_tags_and_filter_context() {
        let error = api_error(400, FILTER_BODY);
        let events = with_captured_events(|| {
            let id = capture_error(&error);
            assert!(!id.is_nil());
        });
        assert_eq!(events.len(), 1);
        let event = &events[0];
        assert_eq!(event.level, Level::Error);
        assert_eq!(event.tags["aoai.error_kind"], "content_filter");
        assert_eq!(event.tags["http.status_code"], "400");
        assert_eq!(event.tags["azure.error_code"], "content_filter");
        assert_eq!(event.tags["azure.request_id"], "req-42");
        assert_eq!(event.tags["azure.inner_error"], "ResponsibleAIPolicyViolation");
        assert_eq!(event.tags["aoai.retryable"], "false");
        assert_eq!(event.exception.values[0].ty, EXCEPTION_TYPE);
        assert!(event.exception.values[0].value.as_deref().unwrap().contains("content_filter"));

        let Context::Other(filter) = &event.contexts["content_filter"] else { panic!("{:?}", event.contexts) };
        assert_eq!(filter["violence"]["severity"], "medium");
        assert_eq!(filter["violence"]["filtered"], true);
        assert_eq!(filter["jailbreak"]["detected"], true);
        assert_eq!(filter["hate"]["filtered"], false);
        let Context::Other(azure) = &event.contexts["azure_openai"] else { panic!("{:?}", event.contexts) };
        assert_eq!(azure["param"], "prompt");
        assert_eq!(azure["attempts"], 3);
        assert_eq!(event.fingerprint.len(), 3);
        assert_eq!(event.fingerprint[1], "content_filter");
    }

    #[test]
    fn rate_limit_event_has_retry_after() {
        let meta = ResponseMeta {
            status: 429,
            request_id: Some("req-7".into()),
            retry_after: Some(Duration::from_millis(1500)),
            region: Some("swedencentral".into()),
            attempts: 3,
            ..ResponseMeta::default()
        };
        let error = Error::Api(ApiError::from_response(
            meta,
            br#"{"error":{"code":"429","message":"Rate limit is exceeded."}}"#,
        ));
        let events = with_captured_events(|| {
            capture_error(&error);
        });
        let event = &events[0];
        assert_eq!(event.tags["aoai.error_kind"], "rate_limited");
        assert_eq!(event.tags["azure.error_code"], "429");
        assert_eq!(event.tags["azure.region"], "swedencentral");
        assert_eq!(event.tags["aoai.retryable"], "true");
        let Context::Other(azure) = &event.contexts["azure_openai"] else { panic!() };
        assert_eq!(azure["retry_after_seconds"], 1.5);
        assert!(!event.contexts.contains_key("content_filter"));
    }

    #[test]
    fn event_holds_no_key() {
        // The credential's key must not reach Sentry by any route: an error
        // built from a response has no access to it, and the event carries no
        // request body or headers.
        let key = "sk-this-key-must-never-leave";
        let error =
            api_error(401, r#"{"error":{"code":"401","message":"Access denied due to invalid subscription key."}}"#);
        let events = with_captured_events(|| {
            capture_error(&error);
        });
        let json = serde_json::to_string(&events[0]).unwrap();
        assert!(!json.contains(key));
        assert!(!json.contains("api-key"), "{json}");
        assert!(events[0].request.is_none());
    }

    #[test]
    fn recorder_leaves_breadcrumbs() {
        let recorder = SentryRecorder::new();
        let events = with_captured_events(|| {
            recorder.record(&chat("gpt-4o", 840).with_usage(TokenUsage {
                prompt: 100,
                completion: 20,
                ..TokenUsage::default()
            }));
            recorder.record(
                &RequestRecord::new(Operation::Chat)
                    .with_deployment("gpt-4o")
                    .with_error(&api_error(500, r#"{"error":{"code":"InternalServerError","message":"oops"}}"#)),
            );
            sentry_core::capture_message("after two requests", Level::Error);
        });
        assert_eq!(events.len(), 1);
        let crumbs: Vec<_> = events[0]
            .breadcrumbs
            .values
            .iter()
            .filter(|crumb| crumb.category.as_deref() == Some(BREADCRUMB_CATEGORY))
            .collect();
        assert_eq!(crumbs.len(), 2);
        assert_eq!(crumbs[0].level, Level::Info);
        assert_eq!(crumbs[0].data["deployment"], "gpt-4o");
        assert_eq!(crumbs[0].data["status_code"], 200);
        assert_eq!(crumbs[0].data["latency_ms"], 840.0);
        assert_eq!(crumbs[0].data["prompt_tokens"], 100);
        assert_eq!(crumbs[0].message.as_deref(), Some("chat gpt-4o 200 in 840ms"));
        assert_eq!(crumbs[1].level, Level::Warning);
        assert_eq!(crumbs[1].data["error_kind"], "server_error");
        assert_eq!(crumbs[1].data["attempts"], 3);
        assert_eq!(crumbs[1].message.as_deref(), Some("chat gpt-4o 500 server_error in 0ms after 3 attempts"));
    }
}
