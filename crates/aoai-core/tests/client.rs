//! The real client against a raw loopback server speaking Azure's wire format.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use aoai_core::auth::{AccessToken, RefreshingCredential, TokenProvider};
use aoai_core::chat::{ChatMessage, ChatRequest};
use aoai_core::clock::{ManualClock, Time};
use aoai_core::embeddings::EmbeddingsRequest;
use aoai_core::error::{ApiErrorKind, CredentialError, TimeoutKind};
use aoai_core::metrics::InMemoryRecorder;
use aoai_core::retry::RetryPolicy;
use aoai_core::routing::Endpoint;
use aoai_core::{Client, Error, Timeouts};
use futures_util::StreamExt;
use support::{RawServer, Reply};

const KEY: &str = "test-key-7f3a9c1e";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/wire/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn azure_client(server: &RawServer, clock: &ManualClock) -> Client {
    Client::builder(Endpoint::azure(&server.base).unwrap())
        .api_key(KEY)
        .time(Time::manual(clock))
        .retry(RetryPolicy::default().jitter(false))
        .build()
        .unwrap()
}

fn hello() -> ChatRequest {
    ChatRequest::new(vec![ChatMessage::system("Be brief."), ChatMessage::user("Hello")]).max_tokens(50)
}

#[tokio::test]
async fn chat_success_routes_authenticates_and_parses_azure_extras() {
    let server = RawServer::start(vec![Reply::json(
        200,
        &[
            ("x-ratelimit-remaining-requests", "119"),
            ("x-ratelimit-remaining-tokens", "119950"),
            ("x-ms-region", "Sweden Central"),
        ],
        &fixture("chat_response_azure.json"),
    )])
    .await;
    let clock = ManualClock::new();
    let response = azure_client(&server, &clock).chat("gpt-4o", &hello()).await.unwrap();

    assert_eq!(response.text(), Some("Hello! How can I help you today?"));
    assert_eq!(response.meta.request_id.as_deref(), Some("req-0001"));
    assert_eq!(response.meta.rate_limits.remaining_tokens, Some(119_950));
    assert_eq!(response.meta.region.as_deref(), Some("Sweden Central"));
    assert_eq!(response.meta.attempts, 1);
    let prompt_filter = response.prompt_filter_results.as_ref().unwrap();
    assert!(!prompt_filter[0].content_filter_results.as_ref().unwrap().is_filtered());
    assert!(response.choices[0].content_filter_results.is_some());
    assert_eq!(response.usage.as_ref().unwrap().total_tokens, 27);

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.target, "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-01-preview");
    assert_eq!(request.header("api-key"), Some(KEY));
    assert_eq!(request.header("authorization"), None);
    let body = request.json();
    assert_eq!(body["max_tokens"], 50);
    assert_eq!(body["messages"][1]["role"], "user");
    assert!(body.get("model").is_none(), "classic Azure routes by path: {body}");
    assert!(body.get("stream").is_none());
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn v1_and_openai_endpoints_put_the_deployment_in_the_body() {
    for (endpoint, path) in [
        (
            Endpoint::azure_v1 as fn(&str) -> Result<Endpoint, aoai_core::error::ConfigError>,
            "/openai/v1/chat/completions",
        ),
        (Endpoint::openai as fn(&str) -> Result<Endpoint, aoai_core::error::ConfigError>, "/v1/chat/completions"),
    ] {
        let server = RawServer::start(vec![Reply::json(200, &[], &fixture("chat_response_azure.json"))]).await;
        let base = if path.starts_with("/v1") { format!("{}/v1", server.base) } else { server.base.clone() };
        let client = Client::builder(endpoint(&base).unwrap()).bearer_token(KEY).build().unwrap();
        client.chat("my-deployment", &hello()).await.unwrap();
        let request = &server.requests()[0];
        assert_eq!(request.target, path);
        assert_eq!(request.json()["model"], "my-deployment");
        assert_eq!(request.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    }
}

#[tokio::test]
async fn retry_after_ms_is_honoured_exactly() {
    let server = RawServer::start(vec![
        Reply::json(429, &[("retry-after-ms", "1250"), ("retry-after", "2")], &fixture("rate_limit_429.json")),
        Reply::json(200, &[], &fixture("chat_response_azure.json")),
    ])
    .await;
    let clock = ManualClock::new();
    let response = azure_client(&server, &clock).chat("gpt-4o", &hello()).await.unwrap();
    assert_eq!(response.meta.attempts, 2);
    assert_eq!(clock.sleeps(), vec![Duration::from_millis(1250)]);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn retry_after_seconds_and_http_date() {
    let clock = ManualClock::new();
    let date = httpdate::fmt_http_date(clock.system_time_for_tests() + Duration::from_secs(4));
    let server = RawServer::start(vec![
        Reply::json(429, &[("retry-after", "3")], &fixture("rate_limit_429.json")),
        Reply::json(503, &[("retry-after", date.as_str())], "{}"),
        Reply::json(200, &[], &fixture("chat_response_azure.json")),
    ])
    .await;
    azure_client(&server, &clock).chat("gpt-4o", &hello()).await.unwrap();
    let sleeps = clock.sleeps();
    assert_eq!(sleeps[0], Duration::from_secs(3));
    // The date is relative to the clock at the second attempt (3 s later): about 1 s.
    assert!(sleeps[1] <= Duration::from_secs(1), "{sleeps:?}");
}

trait SystemTimeForTests {
    fn system_time_for_tests(&self) -> SystemTime;
}

impl SystemTimeForTests for ManualClock {
    fn system_time_for_tests(&self) -> SystemTime {
        aoai_core::clock::Clock::system_time(self)
    }
}

#[tokio::test]
async fn gateway_html_429_is_a_rate_limit_and_backs_off() {
    let html = fixture("gateway_429.html");
    let server = RawServer::start(vec![
        Reply::full(429, &[("content-type", "text/html")], html.as_bytes()),
        Reply::full(429, &[("content-type", "text/html")], html.as_bytes()),
        Reply::full(429, &[("content-type", "text/html")], html.as_bytes()),
    ])
    .await;
    let clock = ManualClock::new();
    let error = azure_client(&server, &clock).chat("gpt-4o", &hello()).await.unwrap_err();
    let api = error.as_api().expect("an API error");
    assert_eq!(api.kind(), ApiErrorKind::RateLimited);
    assert_eq!(api.status(), 429);
    assert!(!api.body().json);
    assert!(api.raw_excerpt().contains("Too Many Requests"));
    assert_eq!(error.attempts(), 3);
    // Exponential back-off without jitter: 0.5 s then 1 s.
    assert_eq!(clock.sleeps(), vec![Duration::from_millis(500), Duration::from_secs(1)]);
}

#[tokio::test]
async fn content_filter_error_is_typed_and_not_retried() {
    let server = RawServer::start(vec![Reply::json(400, &[], &fixture("filter_error_400.json"))]).await;
    let clock = ManualClock::new();
    let error = azure_client(&server, &clock).chat("gpt-4o", &hello()).await.unwrap_err();
    assert_eq!(error.kind_name(), "content_filter");
    assert_eq!(error.status(), Some(400));
    assert_eq!(error.code(), Some("content_filter"));
    assert_eq!(error.request_id(), Some("req-0001"));
    assert!(!error.is_retryable());
    assert!(error.may_have_been_sent());
    let api = error.as_api().unwrap();
    assert_eq!(api.inner_code(), Some("ResponsibleAIPolicyViolation"));
    assert_eq!(api.param(), Some("prompt"));
    let filtered: Vec<String> =
        error.content_filter().unwrap().filtered_categories().into_iter().map(|v| v.category).collect();
    assert_eq!(filtered, ["violence", "jailbreak"]);
    let line = error.summary_line();
    assert!(line.starts_with("error: content_filter (HTTP 400, code content_filter, request id req-0001)"), "{line}");
    assert!(line.contains("violence=medium (filtered)"), "{line}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn numeric_codes_not_found_and_should_retry_header() {
    let server = RawServer::start(vec![
        Reply::json(500, &[("x-should-retry", "false")], &fixture("numeric_code_500.json")),
        Reply::json(404, &[], &fixture("deployment_not_found_404.json")),
    ])
    .await;
    let clock = ManualClock::new();
    let client = azure_client(&server, &clock);
    let error = client.chat("gpt-4o", &hello()).await.unwrap_err();
    assert_eq!(error.code(), Some("500"));
    assert_eq!(error.attempts(), 1, "x-should-retry: false stops the retry");
    let error = client.chat("nope", &hello()).await.unwrap_err();
    assert_eq!(error.as_api().unwrap().kind(), ApiErrorKind::NotFound);
    assert_eq!(error.code(), Some("DeploymentNotFound"));
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn server_errors_retry_then_succeed() {
    let server = RawServer::start(vec![
        Reply::json(500, &[], &fixture("numeric_code_500.json")),
        Reply::json(503, &[], "{}"),
        Reply::json(200, &[], &fixture("chat_response_azure.json")),
    ])
    .await;
    let clock = ManualClock::new();
    let response = azure_client(&server, &clock).chat("gpt-4o", &hello()).await.unwrap();
    assert_eq!(response.meta.attempts, 3);
    assert_eq!(clock.sleeps(), vec![Duration::from_millis(500), Duration::from_secs(1)]);
}

#[tokio::test]
async fn a_day_long_retry_after_is_terminal() {
    let body = r#"{"error":{"code":"429","message":"Please retry after 86400 seconds."}}"#;
    let server = RawServer::start(vec![Reply::json(429, &[("retry-after", "86400")], body)]).await;
    let clock = ManualClock::new();
    let error = azure_client(&server, &clock).chat("gpt-4o", &hello()).await.unwrap_err();
    assert_eq!(error.as_api().unwrap().kind(), ApiErrorKind::QuotaExhausted);
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn deadline_stops_before_a_long_wait() {
    let server =
        RawServer::start(vec![Reply::json(429, &[("retry-after-ms", "5000")], &fixture("rate_limit_429.json"))]).await;
    let clock = ManualClock::new();
    let client = Client::builder(Endpoint::azure(&server.base).unwrap())
        .api_key(KEY)
        .time(Time::manual(&clock))
        .timeouts(Timeouts::default().deadline(Some(Duration::from_secs(3))))
        .build()
        .unwrap();
    let error = client.chat("gpt-4o", &hello()).await.unwrap_err();
    assert_eq!(error.status(), Some(429));
    assert!(clock.sleeps().is_empty(), "a 5 s wait cannot fit a 3 s deadline");
}

#[tokio::test]
async fn connection_refused_was_not_sent_and_is_retried() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let clock = ManualClock::new();
    let client = Client::builder(Endpoint::azure(&base).unwrap())
        .api_key(KEY)
        .time(Time::manual(&clock))
        .retry(RetryPolicy::default().max_retries(1).jitter(false))
        .build()
        .unwrap();
    let error = client.chat("gpt-4o", &hello()).await.unwrap_err();
    assert!(matches!(error, Error::Connection(_)), "{error:?}");
    assert!(!error.may_have_been_sent());
    assert_eq!(error.attempts(), 2);
    assert!(!format!("{error:?} {error}").contains(KEY));
}

#[tokio::test]
async fn connection_closed_without_answer_may_have_been_sent() {
    let server =
        RawServer::start(vec![Reply::Close, Reply::json(200, &[], &fixture("chat_response_azure.json"))]).await;
    let clock = ManualClock::new();
    let client = Client::builder(Endpoint::azure(&server.base).unwrap())
        .api_key(KEY)
        .time(Time::manual(&clock))
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let error = client.chat("gpt-4o", &hello()).await.unwrap_err();
    assert!(matches!(error, Error::Connection(_)), "{error:?}");
    assert!(error.may_have_been_sent());
    assert!(error.is_retryable());
    // With retries on, the same failure is retried and the next answer wins.
    let server =
        RawServer::start(vec![Reply::Close, Reply::json(200, &[], &fixture("chat_response_azure.json"))]).await;
    assert_eq!(azure_client(&server, &clock).chat("gpt-4o", &hello()).await.unwrap().meta.attempts, 2);
}

#[tokio::test]
async fn attempt_timeout_fires_on_a_hanging_server() {
    let server = RawServer::start(vec![Reply::Hang]).await;
    let client = Client::builder(Endpoint::azure(&server.base).unwrap())
        .api_key(KEY)
        .retry(RetryPolicy::none())
        .timeouts(Timeouts::default().attempt(Duration::from_millis(150)))
        .build()
        .unwrap();
    let error = client.chat("gpt-4o", &hello()).await.unwrap_err();
    match &error {
        Error::Timeout(timeout) => {
            assert_eq!(timeout.kind, TimeoutKind::Attempt);
            assert!(timeout.may_have_been_sent);
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(error.is_retryable());
}

#[derive(Debug)]
struct Tokens(AtomicU32);

#[async_trait::async_trait]
impl TokenProvider for Tokens {
    async fn fetch_token(&self) -> Result<AccessToken, CredentialError> {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(AccessToken {
            token: format!("entra-token-{n}").into(),
            expires_at: SystemTime::UNIX_EPOCH + Duration::from_secs(4_000_000_000),
        })
    }
}

#[tokio::test]
async fn a_401_refreshes_the_token_once() {
    let unauthorized =
        r#"{"error":{"code":"401","message":"Access denied due to invalid subscription key or wrong API endpoint."}}"#;
    let server = RawServer::start(vec![
        Reply::json(401, &[], unauthorized),
        Reply::json(200, &[], &fixture("chat_response_azure.json")),
        Reply::json(401, &[], unauthorized),
        Reply::json(401, &[], unauthorized),
    ])
    .await;
    let clock = ManualClock::new();
    let client = Client::builder(Endpoint::azure(&server.base).unwrap())
        .credential(RefreshingCredential::new(Tokens(AtomicU32::new(0))))
        .time(Time::manual(&clock))
        .build()
        .unwrap();
    client.chat("gpt-4o", &hello()).await.unwrap();
    let error = client.chat("gpt-4o", &hello()).await.unwrap_err();
    assert_eq!(error.as_api().unwrap().kind(), ApiErrorKind::Authentication);
    let auth: Vec<String> = server.requests().iter().map(|r| r.header("authorization").unwrap().to_owned()).collect();
    assert_eq!(auth, ["Bearer entra-token-1", "Bearer entra-token-2", "Bearer entra-token-2", "Bearer entra-token-3"]);
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn a_401_with_a_static_key_is_not_retried() {
    let server =
        RawServer::start(vec![Reply::json(401, &[], r#"{"statusCode": 401, "message": "Unauthorized"}"#)]).await;
    let clock = ManualClock::new();
    let error = azure_client(&server, &clock).chat("gpt-4o", &hello()).await.unwrap_err();
    assert_eq!(error.code(), Some("401"));
    assert_eq!(server.requests().len(), 1);
}

fn every_split(body: &[u8], step: usize) -> Vec<usize> {
    (1..body.len()).step_by(step).collect()
}

#[tokio::test]
async fn streaming_over_chunked_http_rebuilds_the_message() {
    let transcript = fixture("chat_stream_azure.sse");
    for step in [1, 7, 64, 100_000] {
        let splits = every_split(transcript.as_bytes(), step);
        let server =
            RawServer::start(vec![Reply::sse_chunked(&[], transcript.as_bytes(), &splits, Duration::ZERO)]).await;
        let clock = ManualClock::new();
        let request = hello().stream_options(aoai_core::chat::StreamOptions { include_usage: true });
        let stream = azure_client(&server, &clock).chat_stream("gpt-4o", &request).await.unwrap();
        assert_eq!(stream.meta().request_id.as_deref(), Some("req-stream"));
        let (response, _meta) = stream.collect_response().await.unwrap();
        assert_eq!(response.text(), Some("Grüße aus 東京 🌸!"), "split step {step}");
        assert_eq!(response.usage.as_ref().unwrap().completion_tokens, 7);
        let filter = response.choices[0].content_filter_results.as_ref().unwrap();
        assert_eq!(filter.violence.as_ref().unwrap().severity, Some(aoai_core::filter::Severity::Low));
        assert!(response.prompt_filter_results.is_some());
        let body = server.requests()[0].json();
        assert_eq!(body["stream"], true);
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert_eq!(server.requests()[0].header("accept"), Some("text/event-stream"));
    }
}

#[tokio::test]
async fn a_stream_cut_before_done_is_an_error() {
    let transcript = fixture("chat_stream_azure.sse");
    let cut = transcript.find("data: [DONE]").unwrap();
    let server =
        RawServer::start(vec![Reply::sse_until_close(&transcript.as_bytes()[..cut], &[300], Duration::ZERO)]).await;
    let clock = ManualClock::new();
    let mut stream = azure_client(&server, &clock).chat_stream("gpt-4o", &hello()).await.unwrap();
    let mut chunks = 0;
    let mut last_error = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(_) => chunks += 1,
            Err(error) => last_error = Some(error),
        }
    }
    assert_eq!(chunks, 7);
    let error = last_error.expect("the cut is reported");
    assert!(
        matches!(&error, Error::Stream(s) if s.kind == aoai_core::error::StreamErrorKind::EndedWithoutDone),
        "{error:?}"
    );
    assert!(error.may_have_been_sent());
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn a_stream_is_retried_only_before_its_headers() {
    let transcript = fixture("chat_stream_azure.sse");
    let server = RawServer::start(vec![
        Reply::json(429, &[("retry-after-ms", "10")], &fixture("rate_limit_429.json")),
        Reply::sse_chunked(&[], transcript.as_bytes(), &[], Duration::ZERO),
    ])
    .await;
    let clock = ManualClock::new();
    let stream = azure_client(&server, &clock).chat_stream("gpt-4o", &hello()).await.unwrap();
    assert_eq!(stream.meta().attempts, 2);
    assert!(stream.collect_response().await.is_ok());
    assert_eq!(clock.sleeps(), vec![Duration::from_millis(10)]);
}

#[tokio::test]
async fn stream_idle_timeout() {
    let transcript = fixture("chat_stream_azure.sse");
    let server =
        RawServer::start(vec![Reply::sse_chunked(&[], transcript.as_bytes(), &[200], Duration::from_secs(5))]).await;
    let client = Client::builder(Endpoint::azure(&server.base).unwrap())
        .api_key(KEY)
        .timeouts(Timeouts::default().stream_idle(Some(Duration::from_millis(200))))
        .build()
        .unwrap();
    let stream = client.chat_stream("gpt-4o", &hello()).await.unwrap();
    let error = stream.collect_response().await.unwrap_err();
    assert!(matches!(&error, Error::Timeout(t) if t.kind == TimeoutKind::StreamIdle), "{error:?}");
}

#[tokio::test]
async fn embeddings_float_and_base64() {
    let floats: [f32; 4] = [0.25, -1.5, 3.0e-3, 42.0];
    let mut bytes = Vec::new();
    for value in floats {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
    let body_b64 = format!(
        r#"{{"object":"list","data":[{{"object":"embedding","index":1,"embedding":"{encoded}"}},{{"object":"embedding","index":0,"embedding":"{encoded}"}}],"model":"text-embedding-3-small","usage":{{"prompt_tokens":4,"total_tokens":4}}}}"#
    );
    let body_float = r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.25,-1.5,0.003,42.0]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":2,"total_tokens":2}}"#;
    let server = RawServer::start(vec![Reply::json(200, &[], &body_b64), Reply::json(200, &[], body_float)]).await;
    let clock = ManualClock::new();
    let client = azure_client(&server, &clock);
    let request = EmbeddingsRequest::new(vec!["first", "second"])
        .dimensions(4)
        .encoding_format(aoai_core::embeddings::EncodingFormat::Base64);
    let response = client.embeddings("text-embedding-3-small", &request).await.unwrap();
    for vector in response.vectors_in_order() {
        assert_eq!(vector, &floats[..]);
    }
    let sent = server.requests()[0].json();
    assert_eq!(sent["input"], serde_json::json!(["first", "second"]));
    assert_eq!(sent["dimensions"], 4);
    assert_eq!(sent["encoding_format"], "base64");
    assert_eq!(
        server.requests()[0].target,
        "/openai/deployments/text-embedding-3-small/embeddings?api-version=2024-10-01-preview"
    );
    let response =
        client.embeddings("text-embedding-3-small", &EmbeddingsRequest::new(vec![1_u32, 2, 3])).await.unwrap();
    assert_eq!(response.data[0].embedding, floats.to_vec());
    assert_eq!(server.requests()[1].json()["input"], serde_json::json!([1, 2, 3]));
}

#[tokio::test]
async fn metrics_record_every_call() {
    let server = RawServer::start(vec![
        Reply::json(200, &[], &fixture("chat_response_azure.json")),
        Reply::json(400, &[], &fixture("filter_error_400.json")),
    ])
    .await;
    let recorder = InMemoryRecorder::new();
    let client = Client::builder(Endpoint::azure(&server.base).unwrap())
        .api_key(KEY)
        .metrics(Arc::new(recorder.clone()))
        .build()
        .unwrap();
    client.chat("gpt-4o", &hello()).await.unwrap();
    client.chat("gpt-4o", &hello()).await.unwrap_err();
    let summary = recorder.summary();
    assert_eq!(summary.requests, 2);
    assert_eq!(summary.successes, 1);
    assert_eq!(summary.failures_by_kind.get("content_filter"), Some(&1));
    assert_eq!(summary.prompt_tokens, 18);
    assert_eq!(summary.completion_tokens, 9);
}

#[tokio::test]
async fn content_safety_route_subscription_key_and_merge_patch() {
    let server = RawServer::start(vec![Reply::json(200, &[], r#"{"blocklistName":"b1","description":"d"}"#)]).await;
    let client = Client::builder(Endpoint::content_safety(&server.base).unwrap())
        .credential(aoai_core::auth::SubscriptionKey::new(KEY))
        .build()
        .unwrap();
    let answer: serde_json::Value = client
        .request_json_with_content_type(
            http::Method::PATCH,
            aoai_core::routing::Route::Resource { path: "text/blocklists/b1" },
            serde_json::json!({"description": "d"}),
            "application/merge-patch+json",
        )
        .await
        .unwrap()
        .body;
    assert_eq!(answer["blocklistName"], "b1");
    let request = &server.requests()[0];
    assert_eq!(request.method, "PATCH");
    assert_eq!(request.target, "/contentsafety/text/blocklists/b1?api-version=2024-09-01");
    assert_eq!(request.header("ocp-apim-subscription-key"), Some(KEY));
    assert_eq!(request.header("api-key"), None);
    assert_eq!(request.header("content-type"), Some("application/merge-patch+json"));
    assert_eq!(request.json()["description"], "d");
}

/// A 409 is retried by default; an operation that names it final
/// (`RequestOptions::final_status`) gets it back after one attempt.
#[tokio::test]
async fn a_final_status_is_returned_at_once_others_are_retried() {
    let conflict =
        r#"{"error":{"code":"invalid_state","message":"Batch batch_1 cannot be cancelled: its status is completed."}}"#;
    let ok = r#"{"id":"batch_1","status":"cancelling"}"#;
    let route = aoai_core::routing::Route::Resource { path: "batches/batch_1/cancel" };

    let server = RawServer::start(vec![Reply::json(409, &[], conflict), Reply::json(200, &[], ok)]).await;
    let clock = ManualClock::new();
    let client = azure_client(&server, &clock);
    let retried: serde_json::Value = client
        .request_json_with(http::Method::POST, route, None, &aoai_core::RequestOptions::new("batches.cancel"))
        .await
        .unwrap()
        .body;
    assert_eq!(retried["status"], "cancelling");
    assert_eq!(server.requests().len(), 2);

    let server = RawServer::start(vec![Reply::json(409, &[], conflict), Reply::json(200, &[], ok)]).await;
    let client = azure_client(&server, &clock);
    let options = aoai_core::RequestOptions::new("batches.cancel").final_status(409);
    let error =
        client.request_json_with::<serde_json::Value>(http::Method::POST, route, None, &options).await.unwrap_err();
    assert_eq!(error.status(), Some(409));
    assert_eq!(error.attempts(), 1);
    assert_eq!(server.requests().len(), 1);
}
