//! Keys and tokens never appear in `Debug`, `Display`, errors, URLs or traces.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aoai_core::Client;
use aoai_core::chat::{ChatMessage, ChatRequest};
use aoai_core::clock::{ManualClock, Time};
use aoai_core::config::Config;
use aoai_core::metrics::InMemoryRecorder;
use aoai_core::retry::RetryPolicy;
use aoai_core::routing::Endpoint;
use aoai_core::telemetry::TelemetryConfig;
use support::{RawServer, Reply};

const KEY: &str = "KEY-d41d8cd98f00b204e9800998ecf8427e";
const TOKEN: &str = "TOKEN-eyJhbGciOiJSUzI1NiJ9.secret";

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn assert_clean(what: &str, text: &str) {
    for secret in [KEY, TOKEN] {
        assert!(!text.contains(secret), "{what} leaks a secret:\n{text}");
    }
}

#[tokio::test]
async fn no_secret_in_traces_errors_debug_or_urls() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let response =
        std::fs::read_to_string(format!("{}/tests/fixtures/wire/chat_response_azure.json", env!("CARGO_MANIFEST_DIR")))
            .unwrap();
    let stream =
        std::fs::read_to_string(format!("{}/tests/fixtures/wire/chat_stream_azure.sse", env!("CARGO_MANIFEST_DIR")))
            .unwrap();
    let unauthorized =
        r#"{"error":{"code":"401","message":"Access denied due to invalid subscription key or wrong API endpoint."}}"#;
    let server = RawServer::start(vec![
        Reply::json(429, &[("retry-after-ms", "5")], "{}"),
        Reply::json(200, &[], &response),
        Reply::sse_chunked(&[], stream.as_bytes(), &[10, 500], Duration::ZERO),
        Reply::json(401, &[], unauthorized),
        Reply::json(401, &[], unauthorized),
    ])
    .await;
    let clock = ManualClock::new();
    let recorder = InMemoryRecorder::new();
    let keyed = Client::builder(Endpoint::azure(&server.base).unwrap())
        .api_key(KEY)
        .time(Time::manual(&clock))
        .retry(RetryPolicy::default().max_retries(1))
        .metrics(Arc::new(recorder.clone()))
        .telemetry(TelemetryConfig::default().with_capture_content(true))
        .build()
        .unwrap();
    let bearer = Client::builder(Endpoint::azure(&server.base).unwrap())
        .bearer_token(TOKEN)
        .time(Time::manual(&clock))
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let request = ChatRequest::new(vec![ChatMessage::user("hi")]);

    keyed.chat("gpt-4o", &request).await.unwrap();
    keyed.chat_stream("gpt-4o", &request).await.unwrap().collect_response().await.unwrap();
    let error_keyed = keyed.chat("gpt-4o", &request).await.unwrap_err();
    let error_bearer = bearer.chat("gpt-4o", &request).await.unwrap_err();
    // A connection error carries a reqwest cause: it must not carry the URL's secrets either.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let error_connect = Client::builder(Endpoint::azure(&dead).unwrap())
        .api_key(KEY)
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
        .chat("gpt-4o", &request)
        .await
        .unwrap_err();

    for (name, error) in [("401 keyed", &error_keyed), ("401 bearer", &error_bearer), ("connect", &error_connect)] {
        assert_clean(name, &format!("{error:?}"));
        assert_clean(name, &format!("{error}"));
        assert_clean(name, &error.summary_line());
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            assert_clean(name, &format!("{cause} {cause:?}"));
            source = cause.source();
        }
    }
    assert_clean("client debug", &format!("{keyed:?} {bearer:?}"));
    assert_clean("metrics", &format!("{:?} {}", recorder.summary(), recorder.summary()));
    let config = Config::from_lookup(|name| match name {
        "AZURE_OPENAI_ENDPOINT" => Some("https://r.openai.azure.com".into()),
        "AZURE_OPENAI_API_KEY" => Some(KEY.into()),
        _ => None,
    })
    .unwrap();
    assert_clean("config debug", &format!("{config:?}"));
    for recorded in server.requests() {
        assert_clean("request target", &recorded.target);
    }
    let traces = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(traces.contains("gen_ai"), "tracing captured nothing: {traces}");
    assert_clean("traces", &traces);
}
