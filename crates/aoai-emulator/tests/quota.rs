//! Quotas through the server: admission charges, 429s whose delay is exactly
//! the time until the request would be admitted, the token-cost rules, the
//! gateway profile, and the remaining-quota headers. Time is a manual clock
//! injected into the emulator, so nothing sleeps.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::time::Duration;

use aoai_core::chat::{ChatMessage, ChatRequest};
use aoai_core::clock::{ManualClock, Time};
use aoai_core::embeddings::EmbeddingsRequest;
use aoai_core::error::{ApiErrorKind, Error};
use aoai_core::tokens::Tokenizer;
use aoai_emulator::config::DeploymentConfig;
use aoai_emulator::quota::{RateLimitProfile, RpmWindow, TokenCostRule};
use aoai_emulator::{Emulator, EmulatorHandle};
use support::{client, post_json};

async fn emulator_with(clock: &ManualClock, deployment: DeploymentConfig) -> EmulatorHandle {
    Emulator::builder().time(Time::manual(clock)).deployment(deployment).start().await.unwrap()
}

fn question(max_tokens: u32) -> ChatRequest {
    ChatRequest::new(vec![ChatMessage::user("Name three rivers.")]).max_tokens(max_tokens)
}

fn refusal(error: &Error) -> (Duration, String) {
    let api = error.as_api().unwrap_or_else(|| panic!("expected a 429, got {error:?}"));
    assert_eq!(api.kind(), ApiErrorKind::RateLimited, "{error}");
    assert_eq!(api.status(), 429);
    (api.retry_after().unwrap(), api.message().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn rpm_over_one_second_windows_waits_exactly() {
    let clock = ManualClock::new();
    // 120 RPM over 1 s: 2 requests in any second.
    let emulator =
        emulator_with(&clock, DeploymentConfig::new("d", "gpt-4o-mini").rpm(120).rpm_window(RpmWindow::OneSecond))
            .await;
    let client = client(&emulator);
    let first = client.chat("d", &question(5)).await.unwrap();
    assert_eq!(first.meta.rate_limits.remaining_requests, Some(1));
    assert_eq!(first.meta.rate_limits.remaining_tokens, None, "no TPM, no token header");
    clock.advance(Duration::from_millis(250));
    let second = client.chat("d", &question(5)).await.unwrap();
    assert_eq!(second.meta.rate_limits.remaining_requests, Some(0));

    clock.advance(Duration::from_millis(100));
    let error = client.chat("d", &question(5)).await.unwrap_err();
    let (wait, message) = refusal(&error);
    assert_eq!(wait, Duration::from_millis(650), "the first request leaves the window at t=1000 ms");
    assert!(message.contains("exceeded call rate limit"), "{message}");
    assert!(message.contains("ChatCompletions_Create") && message.contains("2024-10-01-preview"), "{message}");
    assert!(message.contains("Please retry after 1 second."), "{message}");
    assert_eq!(error.as_api().unwrap().meta().rate_limits.remaining_requests, Some(0));

    clock.advance(Duration::from_millis(649));
    assert_eq!(refusal(&client.chat("d", &question(5)).await.unwrap_err()).0, Duration::from_millis(1));
    clock.advance(Duration::from_millis(1));
    assert!(client.chat("d", &question(5)).await.is_ok(), "admitted exactly when promised");

    let stats = emulator.stats();
    let stats = stats.deployment("d").unwrap();
    assert_eq!((stats.requests, stats.served, stats.rate_limited), (5, 3, 2));
}

#[tokio::test]
async fn rpm_over_ten_second_windows() {
    let clock = ManualClock::new();
    // 60 RPM over 10 s: 10 requests in any 10 seconds.
    let emulator = emulator_with(&clock, DeploymentConfig::new("d", "gpt-4o-mini").rpm(60)).await;
    let client = client(&emulator);
    for index in 0..10 {
        let response = client.chat("d", &question(3)).await.unwrap();
        assert_eq!(response.meta.rate_limits.remaining_requests, Some(9 - index));
        clock.advance(Duration::from_millis(100));
    }
    // Now t=1000 ms; the first request (t=0) leaves at t=10 s.
    assert_eq!(refusal(&client.chat("d", &question(3)).await.unwrap_err()).0, Duration::from_secs(9));
    clock.advance(Duration::from_secs(9));
    assert!(client.chat("d", &question(3)).await.is_ok());
}

#[tokio::test]
async fn tpm_charges_the_estimate_at_admission() {
    let clock = ManualClock::new();
    let emulator = emulator_with(&clock, DeploymentConfig::new("d", "gpt-4o").tpm(1_000)).await;
    let client = client(&emulator);
    let request = question(150).n(2);
    let cost = Tokenizer::for_model("gpt-4o").estimate_request(&request).total;
    assert!(cost > 300 && cost < 334, "three fit in 1000, four don't: {cost}");

    let response = client.chat("d", &request).await.unwrap();
    assert_eq!(response.meta.rate_limits.remaining_tokens, Some(1_000 - cost));
    assert_eq!(response.meta.rate_limits.remaining_requests, None);
    clock.advance(Duration::from_secs(15));
    client.chat("d", &request).await.unwrap();
    clock.advance(Duration::from_secs(15));
    let third = client.chat("d", &request).await.unwrap();
    assert_eq!(third.meta.rate_limits.remaining_tokens, Some(1_000 - 3 * cost));

    // A fourth does not fit until the first charge (t=0) leaves at t=60 s: 30 s from now.
    let error = client.chat("d", &request).await.unwrap_err();
    let (wait, message) = refusal(&error);
    assert_eq!(wait, Duration::from_secs(30));
    assert!(message.contains("exceeded token rate limit") && message.contains("retry after 30 seconds"), "{message}");
    assert_eq!(error.as_api().unwrap().meta().rate_limits.remaining_tokens, Some(1_000 - 3 * cost));
    // A smaller request may still fit now: refused requests are not charged.
    let small = question(1);
    let small_cost = Tokenizer::for_model("gpt-4o").estimate_request(&small).total;
    assert!(3 * cost + small_cost <= 1_000);
    client.chat("d", &small).await.unwrap();

    clock.advance(Duration::from_secs(30));
    client.chat("d", &request).await.unwrap();
    let stats = emulator.stats();
    let stats = stats.deployment("d").unwrap();
    assert_eq!(stats.tokens_admitted, 4 * cost + small_cost);
    assert_eq!(stats.rate_limited, 1);
    assert!(stats.tokens_generated < stats.tokens_admitted, "the admission estimate is an upper bound");
}

#[tokio::test]
async fn token_cost_rules() {
    let clock = ManualClock::new();
    let emulator = Emulator::builder()
        .time(Time::manual(&clock))
        .deployment(DeploymentConfig::new("max", "gpt-4o").tpm(10_000).token_cost(TokenCostRule::MaxTokens))
        .deployment(DeploymentConfig::new("estimate", "gpt-4o").tpm(10_000))
        .deployment(DeploymentConfig::new("small-default", "gpt-4o").tpm(10_000).default_max_tokens(50))
        .deployment(DeploymentConfig::new("embed", "text-embedding-3-small").tpm(10_000))
        .start()
        .await
        .unwrap();
    let client = client(&emulator);
    let remaining = |response: &aoai_core::Response<aoai_core::chat::ChatResponse>| {
        response.meta.rate_limits.remaining_tokens.unwrap()
    };

    // max_tokens × n only.
    let response = client.chat("max", &question(100).n(3)).await.unwrap();
    assert_eq!(remaining(&response), 10_000 - 300);

    // Without a maximum the deployment's default output budget is charged.
    let unlimited = ChatRequest::new(vec![ChatMessage::user("Name three rivers.")]);
    let prompt = Tokenizer::for_model("gpt-4o").estimate_request(&unlimited).prompt_tokens;
    let response = client.chat("estimate", &unlimited).await.unwrap();
    assert_eq!(remaining(&response), 10_000 - prompt - 4_096);
    let response = client.chat("small-default", &unlimited).await.unwrap();
    assert_eq!(remaining(&response), 10_000 - prompt - 50);
    // max_completion_tokens wins over max_tokens.
    let both = question(500).max_completion_tokens(20);
    let response = client.chat("estimate", &both).await.unwrap();
    assert_eq!(remaining(&response), 10_000 - prompt - 4_096 - prompt - 20);

    // Embeddings cost their input tokens.
    let input = "The quick brown fox jumps over the lazy dog.";
    let response = client.embeddings("embed", &EmbeddingsRequest::new(vec![input, input])).await.unwrap();
    let tokens = 2 * Tokenizer::for_model("text-embedding-3-small").count(input) as u64;
    assert_eq!(response.body.usage.prompt_tokens, tokens);
    assert_eq!(response.meta.rate_limits.remaining_tokens, Some(10_000 - tokens));
}

#[tokio::test]
async fn a_request_larger_than_the_quota_waits_for_an_empty_window() {
    let clock = ManualClock::new();
    let emulator = emulator_with(&clock, DeploymentConfig::new("d", "gpt-4o").tpm(100)).await;
    let client = client(&emulator);
    assert_eq!(client.chat("d", &question(500)).await.unwrap().meta.rate_limits.remaining_tokens, Some(0));
    clock.advance(Duration::from_secs(20));
    assert_eq!(refusal(&client.chat("d", &question(500)).await.unwrap_err()).0, Duration::from_secs(40));
    clock.advance(Duration::from_secs(40));
    assert!(client.chat("d", &question(500)).await.is_ok());
}

#[tokio::test]
async fn gateway_profile_answers_html() {
    let clock = ManualClock::new();
    let emulator =
        emulator_with(&clock, DeploymentConfig::new("d", "gpt-4o").rpm(6).profile(RateLimitProfile::Gateway)).await;
    let client = client(&emulator);
    client.chat("d", &question(3)).await.unwrap();
    clock.advance(Duration::from_millis(1_500));
    let error = client.chat("d", &question(3)).await.unwrap_err();
    let api = error.as_api().unwrap();
    assert_eq!(api.kind(), ApiErrorKind::RateLimited);
    assert!(!api.body().json);
    assert!(api.raw_excerpt().contains("429 Too Many Requests"));
    assert_eq!(api.retry_after(), Some(Duration::from_secs(9)), "8.5 s rounded up to whole seconds");
    assert!(error.is_retryable());

    let raw = post_json(
        emulator.addr(),
        "/openai/deployments/d/chat/completions?api-version=2024-10-01-preview",
        "k",
        r#"{"messages":[{"role":"user","content":"hi"}]}"#,
    )
    .await;
    assert_eq!(raw.status, 429);
    assert_eq!(raw.header("content-type"), Some("text/html"));
    assert_eq!(raw.header("retry-after"), Some("9"));
    assert_eq!(raw.header("retry-after-ms"), None);
    assert!(raw.header("apim-request-id").is_some());
}

#[tokio::test]
async fn azure_429_headers_on_the_wire() {
    let clock = ManualClock::new();
    let emulator = emulator_with(&clock, DeploymentConfig::new("d", "gpt-4o").rpm(6)).await;
    let path = "/openai/deployments/d/embeddings?api-version=2024-10-01-preview";
    let body = r#"{"input":"hello"}"#;
    // An embeddings call on a chat model works too; it is the quota that matters here.
    assert_eq!(post_json(emulator.addr(), path, "k", body).await.status, 200);
    clock.advance(Duration::from_millis(2_345));
    let raw = post_json(emulator.addr(), path, "k", body).await;
    assert_eq!(raw.status, 429);
    assert_eq!(raw.header("content-type"), Some("application/json"));
    assert_eq!(raw.header("retry-after-ms"), Some("7655"));
    assert_eq!(raw.header("retry-after"), Some("8"));
    assert_eq!(raw.header("x-ratelimit-remaining-requests"), Some("0"));
    let json = raw.json();
    assert_eq!(json["error"]["code"], "429");
    let message = json["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "Requests to the Embeddings_Create Operation under Azure OpenAI API version 2024-10-01-preview"
        ),
        "{message}"
    );
}

#[tokio::test]
async fn a_burst_on_real_time_admits_exactly_the_window() {
    // 600 RPM over 1 s: 10 per second. Thirty concurrent requests arrive well within a second.
    let emulator = Emulator::builder()
        .deployment(DeploymentConfig::new("d", "gpt-4o-mini").rpm(600).rpm_window(RpmWindow::OneSecond))
        .start()
        .await
        .unwrap();
    let client = client(&emulator);
    let calls = (0..30).map(|_| {
        let client = client.clone();
        async move { client.chat("d", &question(2)).await }
    });
    let results = futures_util::future::join_all(calls).await;
    let admitted = results.iter().filter(|result| result.is_ok()).count();
    assert_eq!(admitted, 10);
    for error in results.iter().filter_map(|result| result.as_ref().err()) {
        let (wait, _) = refusal(error);
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1), "{wait:?}");
    }
    let stats = emulator.stats();
    assert_eq!(stats.deployment("d").unwrap().rate_limited, 20);
}
