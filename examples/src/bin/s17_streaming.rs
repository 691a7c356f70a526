//! Guide section 17, streaming: print the answer as it is generated, then get
//! the whole message, its usage and its content-filter results.
//!
//! ```text
//! cargo run -p aoai-examples --bin s17_streaming
//! ```
//!
//! [`Client::chat_stream`](aoai_core::Client::chat_stream) returns a stream of
//! chunks once the response headers arrive; retries happen only before that,
//! so a stream is never silently restarted. The first part prints each delta
//! and feeds the chunks to a [`ChatAccumulator`]; the second lets
//! `collect_response()` do both. `stream_options.include_usage` adds a last
//! chunk with the token usage; Azure adds prompt filter results in the first
//! chunk and completion filter results along the way.

use std::io::Write;
use std::process::ExitCode;

use aoai_core::Result;
use aoai_core::chat::{ChatAccumulator, ChatMessage, ChatRequest, ChatResponse, StreamOptions};
use aoai_core::filter::ContentFilterResults;
use futures_util::StreamExt;

#[tokio::main]
async fn main() -> ExitCode {
    aoai_examples::exit(run().await)
}

async fn run() -> Result<()> {
    // The configured endpoint, or the embedded emulator; keep `session` alive while `client` is used.
    let session = aoai_examples::session().await?;
    let client = session.client()?;
    let deployment = aoai_examples::chat_deployment();
    let request = ChatRequest::new(vec![
        ChatMessage::system("You write short poems."),
        ChatMessage::user("Write a four-line poem about rivers."),
    ])
    .max_tokens(120)
    .stream_options(StreamOptions::with_usage());

    // 1. Deltas as they arrive, while an accumulator rebuilds the response.
    let mut stream = client.chat_stream(&deployment, &request).await?;
    println!("streaming (request id {}):\n", stream.meta().request_id.as_deref().unwrap_or("-"));
    let mut accumulator = ChatAccumulator::new();
    let mut stdout = std::io::stdout();
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(error) => {
                // A cut stream, an idle timeout or an error event: what arrived is kept.
                println!("\n\nthe stream broke after {:?}", accumulator.current_text(0).unwrap_or(""));
                return Err(error);
            }
        };
        if let Some(text) = chunk.delta_text() {
            print!("{text}");
            let _ = stdout.flush();
        }
        accumulator.push(&chunk);
    }
    println!("\n");
    describe(&accumulator.finish());

    // 2. The same in one call: read the stream to its end and rebuild the response.
    let request = request.messages(vec![ChatMessage::user("Name three rivers in Europe, comma-separated.")]);
    let (response, meta) = client.chat_stream(&deployment, &request).await?.collect_response().await?;
    println!("\ncollected: {}", response.text().unwrap_or("(no text)"));
    println!("request id {}", meta.request_id.as_deref().unwrap_or("-"));
    describe(&response);
    Ok(())
}

fn describe(response: &ChatResponse) {
    println!(
        "id {}, model {}, finish reason {}",
        response.id,
        response.model,
        response.finish_reason().map_or("-", |reason| reason.as_str())
    );
    match &response.usage {
        Some(usage) => println!(
            "usage: {} prompt + {} completion = {} tokens",
            usage.prompt_tokens, usage.completion_tokens, usage.total_tokens
        ),
        None => println!("usage: none (set stream_options include_usage)"),
    }
    for prompt in response.prompt_filter_results.iter().flatten() {
        if let Some(results) = &prompt.content_filter_results {
            println!("prompt {} filter: {}", prompt.prompt_index, verdicts(results));
        }
    }
    for choice in &response.choices {
        if let Some(results) = &choice.content_filter_results {
            println!("choice {} filter: {}", choice.index, verdicts(results));
        }
    }
}

/// `hate=safe, violence=low, jailbreak=not_detected, …`, marking blocked categories.
fn verdicts(results: &ContentFilterResults) -> String {
    let described: Vec<String> = results
        .categories()
        .iter()
        .map(|verdict| {
            let level = match (&verdict.severity, verdict.detected) {
                (Some(severity), _) => severity.as_str().to_owned(),
                (None, Some(true)) => "detected".to_owned(),
                (None, Some(false)) => "not_detected".to_owned(),
                (None, None) => "-".to_owned(),
            };
            let blocked = if verdict.filtered { " (blocked)" } else { "" };
            format!("{}={level}{blocked}", verdict.category)
        })
        .collect();
    if described.is_empty() { "no categories".to_owned() } else { described.join(", ") }
}
