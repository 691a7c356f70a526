//! Guide section 16, error reporting: send Azure OpenAI errors to Sentry with
//! their context (feature `sentry` of `aoai-core`).
//!
//! ```text
//! SENTRY_DSN=https://<key>@<org>.ingest.sentry.io/<project> \
//!     cargo run -p aoai-examples --bin s16_error_reporting
//! cargo run -p aoai-examples --bin s16_error_reporting    # no DSN: a local collector prints the event
//! ```
//!
//! [`SentryRecorder`] leaves a breadcrumb per request; [`capture_error`] sends
//! an error as an event tagged with `aoai.error_kind`, `http.status_code`,
//! `azure.error_code`, `azure.request_id` …, with an `azure_openai` context
//! (retryable, attempts, rate-limit headers) and, for blocked prompts, the
//! content-filter verdicts. Events group by kind and code, not by message. No
//! key, token or prompt is ever sent.
//!
//! Applications normally call `sentry::init(dsn)` from the `sentry` crate,
//! which brings HTTP transports. This example depends on `sentry-core` only,
//! so it binds a client with a small reqwest transport of its own
//! ([`HttpTransport`]) that posts envelopes to the DSN's envelope endpoint.
//!
//! Without `SENTRY_DSN` the same client reports to a [`LocalCollector`]: an
//! HTTP server on loopback that accepts envelopes at the path a DSN names, as
//! Sentry's ingest does. After the event is delivered the program parses what
//! the collector received and prints the event: tags, contexts, breadcrumbs
//! and exception, exactly as they went over the wire. With nothing configured
//! the chat calls go to the embedded emulator (see `aoai_examples::session`).

use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aoai_core::Result;
use aoai_core::chat::{ChatMessage, ChatRequest};
use aoai_core::error::ConfigError;
use aoai_core::telemetry::sentry::{SentryRecorder, capture_error};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use sentry_core::types::Dsn;
use sentry_core::{ClientOptions, Envelope, Hub, Transport, TransportFactory, TransportOptions};
use tokio::sync::mpsc;

#[tokio::main]
async fn main() -> ExitCode {
    aoai_examples::exit(run().await)
}

async fn run() -> Result<()> {
    let session = aoai_examples::session().await?; // the configured endpoint, or the embedded emulator
    let (dsn, collector) = match aoai_examples::setting("SENTRY_DSN") {
        Some(dsn) => (dsn, None),
        None => {
            let collector = LocalCollector::start().await?;
            println!("SENTRY_DSN is not set: reporting to a local collector, {}", collector.dsn);
            (collector.dsn.clone(), Some(collector))
        }
    };
    let reporting = Reporting::start(&dsn)?;
    let client = session.client_builder().metrics(Arc::new(SentryRecorder::new())).build()?;

    // A call that works leaves a breadcrumb; the failing one below carries it.
    let hello = ChatRequest::new(vec![ChatMessage::user("Say hello.")]).max_tokens(10);
    let deployment = aoai_examples::chat_deployment();
    if let Err(error) = client.chat(&deployment, &hello).await {
        println!("the first call failed too: {}", error.summary_line());
    }
    match client.chat("no-such-deployment", &hello).await {
        Ok(_) => println!("`no-such-deployment` answered; nothing to report"),
        Err(error) => {
            println!("{}", error.summary_line());
            let event_id = capture_error(&error);
            println!("sent event {event_id}");
        }
    }
    reporting.finish().await;
    if let Some(collector) = collector {
        collector.print_received();
    }
    Ok(())
}

/// Sentry's ingest, stood in for on loopback: it keeps every envelope posted
/// to `/api/{project}/envelope/`, so the client sends exactly what it would
/// send to Sentry.
struct LocalCollector {
    /// A DSN naming this collector.
    dsn: String,
    /// Each envelope's body, and whether it came with an `x-sentry-auth` header.
    received: Arc<Mutex<Vec<(bool, Bytes)>>>,
    server: tokio::task::JoinHandle<()>,
}

impl LocalCollector {
    async fn start() -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .and_then(|listener| Ok((listener.local_addr()?, listener)))
            .map_err(|problem| ConfigError::new("SENTRY_DSN", format!("not set, and no local collector: {problem}")));
        let (address, listener) = listener?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let store = received.clone();
        let accept = move |headers: HeaderMap, body: Bytes| async move {
            let authenticated = headers.contains_key("x-sentry-auth");
            store.lock().unwrap_or_else(PoisonError::into_inner).push((authenticated, body));
            StatusCode::OK
        };
        let app = axum::Router::new().route("/api/{project}/envelope/", axum::routing::post(accept));
        let server = tokio::spawn(async move {
            if let Err(problem) = axum::serve(listener, app).await {
                eprintln!("the local collector stopped: {problem}");
            }
        });
        Ok(Self { dsn: format!("http://aoai-examples@{address}/1"), received, server })
    }

    /// Stops the server and prints each event it received.
    fn print_received(self) {
        self.server.abort();
        let received = std::mem::take(&mut *self.received.lock().unwrap_or_else(PoisonError::into_inner));
        println!("the local collector received {} envelope(s)", received.len());
        for (authenticated, body) in received {
            let event = match Envelope::from_slice(&body) {
                Ok(envelope) => envelope.event().map(serde_json::to_string_pretty),
                Err(problem) => {
                    println!("an envelope it cannot parse: {problem}");
                    continue;
                }
            };
            match event {
                Some(Ok(json)) => println!("event (x-sentry-auth sent: {authenticated}):\n{json}"),
                Some(Err(problem)) => println!("cannot print the event: {problem}"),
                None => println!("an envelope without an event ({} bytes)", body.len()),
            }
        }
    }
}

/// A Sentry client bound to the main hub, and the task that delivers its events.
struct Reporting {
    client: Arc<sentry_core::Client>,
    delivery: tokio::task::JoinHandle<()>,
}

impl Reporting {
    fn start(dsn: &str) -> Result<Self> {
        let dsn: Dsn =
            dsn.parse().map_err(|problem| ConfigError::new("SENTRY_DSN", format!("not a DSN: {problem}")))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|problem| ConfigError::new("http client", problem.to_string()))?;
        let (queue, envelopes) = mpsc::unbounded_channel();
        let url = dsn.envelope_api_url().to_string();
        let auth = dsn.to_auth(Some(concat!("aoai-examples/", env!("CARGO_PKG_VERSION")))).to_string();
        let delivery = tokio::spawn(deliver(http, url, auth, envelopes));

        let mut options = ClientOptions::new();
        options.dsn = Some(dsn);
        options.transport = Some(Arc::new(HttpTransportFactory { queue: Mutex::new(Some(queue)) }));
        let client = Arc::new(sentry_core::Client::from_config(options));
        Hub::main().bind_client(Some(client.clone()));
        Ok(Self { client, delivery })
    }

    /// Flushes and shuts the client down, then waits for the deliveries.
    async fn finish(self) {
        self.client.close(Some(Duration::from_secs(2)));
        Hub::main().bind_client(None);
        if tokio::time::timeout(Duration::from_secs(15), self.delivery).await.is_err() {
            eprintln!("gave up waiting for Sentry");
        }
    }
}

/// Posts each envelope to the project's envelope endpoint.
async fn deliver(http: reqwest::Client, url: String, auth: String, mut envelopes: mpsc::UnboundedReceiver<Envelope>) {
    while let Some(envelope) = envelopes.recv().await {
        let mut body = Vec::new();
        if envelope.to_writer(&mut body).is_err() {
            continue;
        }
        let sent = http
            .post(&url)
            .header("x-sentry-auth", &auth)
            .header("content-type", "application/x-sentry-envelope")
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => {}
            Ok(response) => eprintln!("Sentry answered HTTP {}", response.status()),
            Err(problem) => eprintln!("cannot reach Sentry: {}", problem.without_url()),
        }
    }
}

/// Hands envelopes to [`deliver`]; shutting down closes the queue.
struct HttpTransport {
    queue: Mutex<Option<mpsc::UnboundedSender<Envelope>>>,
}

impl Transport for HttpTransport {
    fn send_envelope(&self, envelope: Envelope) {
        if let Some(queue) = self.queue.lock().unwrap_or_else(PoisonError::into_inner).as_ref() {
            // A closed queue means the delivery task is gone; the event is dropped.
            let _ = queue.send(envelope);
        }
    }

    fn shutdown(&self, _timeout: Duration) -> bool {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner).take();
        true
    }
}

/// Gives the client its one transport.
struct HttpTransportFactory {
    queue: Mutex<Option<mpsc::UnboundedSender<Envelope>>>,
}

impl TransportFactory for HttpTransportFactory {
    fn create_transport_with_options(&self, _options: TransportOptions) -> Arc<dyn Transport> {
        let queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner).take();
        Arc::new(HttpTransport { queue: Mutex::new(queue) })
    }
}
