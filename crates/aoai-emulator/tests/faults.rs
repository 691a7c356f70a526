//! Injected faults as the client sees them: error statuses, a reset
//! connection, cut and stalled streams, slow headers; scripted and random.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::time::Duration;

use aoai_core::Timeouts;
use aoai_core::chat::{ChatMessage, ChatRequest, StreamOptions};
use aoai_core::clock::{Clock, ManualClock, SystemClock, Time};
use aoai_core::embeddings::EmbeddingsRequest;
use aoai_core::error::{ApiErrorKind, Error, StreamErrorKind, TimeoutKind};
use aoai_core::retry::RetryPolicy;
use aoai_emulator::config::DeploymentConfig;
use aoai_emulator::faults::{Fault, FaultConfig};
use aoai_emulator::{Emulator, EmulatorHandle};
use futures_util::StreamExt;
use support::{client, raw, sse_data};

fn question() -> ChatRequest {
    ChatRequest::new(vec![ChatMessage::user("Tell me about forests.")]).max_tokens(30)
}

async fn scripted(steps: &[Option<Fault>]) -> EmulatorHandle {
    let faults = FaultConfig::default().sequence(steps.iter().copied()).slow_headers(Duration::from_millis(300));
    Emulator::builder().deployment(DeploymentConfig::new("d", "gpt-4o").faults(faults)).start().await.unwrap()
}

#[tokio::test]
async fn error_statuses_have_azure_bodies() {
    let emulator = scripted(&[
        Some(Fault::InternalServerError),
        Some(Fault::ServiceUnavailable),
        Some(Fault::RequestTimeout),
        None,
    ])
    .await;
    let client = client(&emulator);
    let expected = [
        (500, ApiErrorKind::Server, "InternalServerError"),
        (503, ApiErrorKind::Server, "ServiceUnavailable"),
        (408, ApiErrorKind::RequestTimeout, "Timeout"),
    ];
    for (status, kind, code) in expected {
        let error = client.chat("d", &question()).await.unwrap_err();
        let api = error.as_api().unwrap();
        assert_eq!((api.status(), api.kind(), api.code()), (status, kind, Some(code)));
        assert!(error.is_retryable() && error.may_have_been_sent());
        assert!(api.request_id().is_some());
    }
    assert!(client.chat("d", &question()).await.is_ok(), "the script is over");
    let stats = emulator.stats();
    let stats = stats.deployment("d").unwrap();
    assert_eq!((stats.requests, stats.served, stats.faults), (4, 1, 3));
}

#[tokio::test]
async fn connection_reset_before_the_response() {
    let emulator = scripted(&[Some(Fault::ConnectionReset), Some(Fault::ConnectionReset), None]).await;
    let error = client(&emulator).chat("d", &question()).await.unwrap_err();
    assert!(matches!(error, Error::Connection(_)), "{error:?}");
    assert!(error.may_have_been_sent(), "the request was written before the reset");
    assert!(error.is_retryable());
    assert_eq!(error.status(), None);

    // On the wire: not a single byte of response.
    let body = serde_json::to_vec(&question()).unwrap();
    let outcome = raw(
        emulator.addr(),
        "POST",
        "/openai/deployments/d/chat/completions?api-version=2024-10-01-preview",
        &[("api-key", "k"), ("Content-Type", "application/json")],
        &body,
    )
    .await;
    match outcome {
        Err(error) => assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset, "{error}"),
        Ok(response) => panic!("expected a reset, got HTTP {}", response.status),
    }

    // A retrying client recovers, and the stats show one fault per reset and one answer.
    let emulator = scripted(&[Some(Fault::ConnectionReset), None]).await;
    let retrying = emulator
        .client_builder()
        .retry(RetryPolicy::default().backoff(Duration::from_millis(1), Duration::from_millis(5)))
        .build()
        .unwrap();
    let response = retrying.chat("d", &question()).await.unwrap();
    assert_eq!(response.meta.attempts, 2);
    let stats = emulator.stats();
    let stats = stats.deployment("d").unwrap();
    assert_eq!((stats.requests, stats.faults, stats.served), (2, 1, 1));
    assert_eq!(stats.request_ids, vec![response.meta.request_id.clone().unwrap()]);
}

#[tokio::test]
async fn a_cut_stream_ends_without_done() {
    let emulator = scripted(&[Some(Fault::StreamCut), Some(Fault::StreamCut), Some(Fault::StreamCut)]).await;
    let client = client(&emulator);
    let request = question().stream_options(StreamOptions::with_usage());
    let mut stream = client.chat_stream("d", &request).await.unwrap();
    let mut chunks = 0;
    let error = loop {
        match stream.next().await {
            Some(Ok(_)) => chunks += 1,
            Some(Err(error)) => break error,
            None => panic!("the stream ended cleanly"),
        }
    };
    assert!(chunks >= 2, "some chunks arrive first");
    match &error {
        Error::Stream(stream_error) => assert_eq!(stream_error.kind, StreamErrorKind::EndedWithoutDone),
        other => panic!("expected a stream error, got {other:?}"),
    }

    // The raw body simply stops: no [DONE].
    let mut body = serde_json::to_value(&request).unwrap();
    body["stream"] = serde_json::json!(true);
    let response = support::post_json(
        emulator.addr(),
        "/openai/deployments/d/chat/completions?api-version=2024-10-01-preview",
        "k",
        &body.to_string(),
    )
    .await;
    assert_eq!(response.status, 200);
    let data = sse_data(&response.text());
    assert!(!data.is_empty() && !data.contains(&"[DONE]".to_owned()));

    // A whole answer loses its connection mid-body.
    let error = client.chat("d", &question()).await.unwrap_err();
    assert!(matches!(error, Error::Connection(_)), "{error:?}");
    assert!(error.may_have_been_sent());
    let stats = emulator.stats();
    let stats = stats.deployment("d").unwrap();
    assert_eq!((stats.faults, stats.served), (3, 0));
}

#[tokio::test]
async fn a_stalled_stream_times_out_on_idle() {
    let emulator = scripted(&[Some(Fault::StalledStream), Some(Fault::StalledStream)]).await;
    let client = emulator
        .client_builder()
        .retry(RetryPolicy::none())
        .timeouts(Timeouts::default().stream_idle(Some(Duration::from_millis(300))).attempt(Duration::from_millis(300)))
        .build()
        .unwrap();
    let stream = client.chat_stream("d", &question()).await.unwrap();
    let error = stream.collect_response().await.unwrap_err();
    match &error {
        Error::Timeout(timeout) => assert_eq!(timeout.kind, TimeoutKind::StreamIdle),
        other => panic!("expected an idle timeout, got {other:?}"),
    }
    // A whole answer sends its headers and never its body: the attempt times out.
    let error = client.chat("d", &question()).await.unwrap_err();
    match &error {
        Error::Timeout(timeout) => assert_eq!(timeout.kind, TimeoutKind::Attempt),
        other => panic!("expected an attempt timeout, got {other:?}"),
    }
    assert!(error.may_have_been_sent());
}

#[tokio::test]
async fn slow_headers_delay_the_answer() {
    let emulator = scripted(&[Some(Fault::SlowHeaders), Some(Fault::SlowHeaders)]).await;
    let impatient = emulator
        .client_builder()
        .retry(RetryPolicy::none())
        .timeouts(Timeouts::default().attempt(Duration::from_millis(100)))
        .build()
        .unwrap();
    let error = impatient.chat("d", &question()).await.unwrap_err();
    assert!(matches!(&error, Error::Timeout(timeout) if timeout.kind == TimeoutKind::Attempt), "{error:?}");

    let started = SystemClock.now();
    let response = client(&emulator).chat("d", &question()).await.unwrap();
    assert!(SystemClock.now() - started >= Duration::from_millis(300));
    assert!(response.text().is_some());

    // With an injected clock the delay is exact and nothing waits.
    let clock = ManualClock::new();
    let faults = FaultConfig::default().sequence([Some(Fault::SlowHeaders)]).slow_headers(Duration::from_secs(42));
    let emulator = Emulator::builder()
        .time(Time::manual(&clock))
        .deployment(DeploymentConfig::new("e", "text-embedding-3-small").faults(faults))
        .start()
        .await
        .unwrap();
    client(&emulator).embeddings("e", &EmbeddingsRequest::new("slow")).await.unwrap();
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(42)]);
}

#[tokio::test]
async fn random_faults_follow_their_probability() {
    let faults = FaultConfig::default().probability(Fault::ServiceUnavailable, 0.5).seed(11);
    let emulator =
        Emulator::builder().deployment(DeploymentConfig::new("d", "gpt-4o-mini").faults(faults)).start().await.unwrap();
    let client = client(&emulator);
    let mut outcomes = Vec::new();
    for _ in 0..40 {
        outcomes.push(client.chat("d", &question()).await.map(|_| ()).map_err(|error| error.status()));
    }
    let failed = outcomes.iter().filter(|outcome| outcome.is_err()).count();
    assert!((8..=32).contains(&failed), "{failed} of 40");
    assert!(outcomes.iter().all(|outcome| matches!(outcome, Ok(()) | Err(Some(503)))));
    let stats = emulator.stats();
    assert_eq!(stats.deployment("d").unwrap().faults, failed as u64);

    // The same seed replays the same faults.
    let faults = FaultConfig::default().probability(Fault::ServiceUnavailable, 0.5).seed(11);
    let again =
        Emulator::builder().deployment(DeploymentConfig::new("d", "gpt-4o-mini").faults(faults)).start().await.unwrap();
    let again_client = support::client(&again);
    for expected in &outcomes {
        let outcome = again_client.chat("d", &question()).await.map(|_| ()).map_err(|error| error.status());
        assert_eq!(&outcome, expected);
    }
}
