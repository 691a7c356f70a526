//! Guide section 8, system monitoring: request metrics in memory and GenAI
//! tracing spans.
//!
//! ```text
//! cargo run -p aoai-examples --bin s08_system_monitoring
//! RUST_LOG=aoai_core=trace cargo run -p aoai-examples --bin s08_system_monitoring
//! ```
//!
//! An [`InMemoryRecorder`] attached with `.metrics(..)` receives one record per
//! call (latency, time to first token for streams, attempts, status, tokens).
//! After a few chat calls, a stream, an embeddings call and one deliberate
//! failure, the program prints `recorder.summary()` as a table and as JSON.
//!
//! A `tracing-subscriber` fmt layer prints the spans on stderr when they close:
//! `chat gpt-4o` with `gen_ai.operation.name`, `gen_ai.request.model`,
//! `gen_ai.usage.input_tokens`, `azure.service.request.id`, `error.type` …, and
//! an `attempt` span per HTTP attempt. Prompt and completion text are recorded
//! only with `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`.
//! With `tracing-opentelemetry` the same spans become OpenTelemetry spans.

use std::process::ExitCode;
use std::sync::Arc;

use aoai_core::Result;
use aoai_core::chat::{ChatMessage, ChatRequest, StreamOptions};
use aoai_core::embeddings::EmbeddingsRequest;
use aoai_core::metrics::InMemoryRecorder;
use aoai_core::telemetry::TelemetryConfig;
use futures_util::StreamExt;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

#[tokio::main]
async fn main() -> ExitCode {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("aoai_core=info"));
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::CLOSE)
        .with_writer(std::io::stderr)
        .try_init();
    if let Err(error) = subscriber {
        eprintln!("tracing is not set up: {error}");
    }
    aoai_examples::exit(run().await)
}

async fn run() -> Result<()> {
    let recorder = InMemoryRecorder::new();
    let session = aoai_examples::session().await?; // the configured endpoint, or the embedded emulator
    let client =
        session.client_builder().metrics(Arc::new(recorder.clone())).telemetry(TelemetryConfig::from_env()).build()?;
    let deployment = aoai_examples::chat_deployment();

    for question in ["What is 2 + 2?", "Name a prime number above 100.", "Spell 'Azure' backwards."] {
        let request = ChatRequest::new(vec![ChatMessage::user(question)]).max_tokens(30);
        let response = client.chat(&deployment, &request).await?;
        println!("{question} → {}", response.text().unwrap_or("(no text)"));
    }

    // A stream is recorded when it ends, with its time to first token.
    let request = ChatRequest::new(vec![ChatMessage::user("Count from 1 to 5.")])
        .max_tokens(30)
        .stream_options(StreamOptions::with_usage());
    let mut stream = client.chat_stream(&deployment, &request).await?;
    while let Some(chunk) = stream.next().await {
        if let Err(error) = chunk {
            println!("stream failed: {}", error.summary_line());
            break;
        }
    }
    drop(stream);

    let embeddings = EmbeddingsRequest::new(vec!["metrics", "tracing"]);
    match client.embeddings(&aoai_examples::embedding_deployment(), &embeddings).await {
        Ok(response) => println!("embedded {} texts", response.data.len()),
        Err(error) => println!("embeddings failed (set AZURE_OPENAI_EMBEDDING_DEPLOYMENT): {}", error.summary_line()),
    }

    // A failure shows up under `failures` by kind.
    let hello = ChatRequest::new(vec![ChatMessage::user("Hello")]).max_tokens(5);
    if let Err(error) = client.chat("no-such-deployment", &hello).await {
        println!("expected failure: {}", error.summary_line());
    }

    let summary = recorder.summary();
    println!("\n{summary}");
    match serde_json::to_string_pretty(&summary) {
        Ok(json) => println!("{json}"),
        Err(error) => println!("cannot print the summary as JSON: {error}"),
    }
    Ok(())
}
