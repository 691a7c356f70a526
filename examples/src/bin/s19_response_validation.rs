//! Guide section 19, response validation: check every answer before using
//! it — why it finished, what the content filter said, whether it follows
//! the schema — and ask once more when it does not.
//!
//! ```text
//! cargo run -p aoai-examples --bin s19_response_validation
//! ```
//!
//! 1. A complete answer: `finish_reason` `stop`, the prompt's and the
//!    answer's filter results, then [`parse`] into the type.
//! 2. A schema violation, each reported with its JSON path
//!    ([`StrictSchema::validate`](aoai_structured::StrictSchema::validate)
//!    also checks the bounds strict mode does not send, like `minimum`).
//! 3. One bounded repair: [`aoai_structured::request`] re-asks once with the
//!    violations, and reports how many requests it took.
//! 4. The answers no repair fixes: cut by the token limit, cut by the
//!    content filter.
//!
//! Parts 2 to 4 use a scripted emulator (`examples/fixtures/structured.toml`)
//! for answers a model gives only by accident.

use std::error::Error;
use std::process::ExitCode;

use aoai_core::chat::{ChatMessage, ChatRequest, ChatResponse, FinishReason};
use aoai_emulator::Emulator;
use aoai_structured::{StructuredError, parse, response_format};
use schemars::JsonSchema;
use serde::Deserialize;

/// An order, as the model must answer it.
#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)] // Read through `Debug`.
struct Order {
    id: String,
    items: Vec<Item>,
    note: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)] // Read through `Debug`.
struct Item {
    name: String,
    /// Checked locally: strict mode does not send `minimum`.
    #[schemars(range(min = 0))]
    quantity: i64,
}

#[tokio::main]
async fn main() -> ExitCode {
    aoai_examples::exit_any(run().await)
}

async fn run() -> Result<(), Box<dyn Error>> {
    // The configured endpoint, or the embedded emulator; keep `session` alive while `client` is used.
    let session = aoai_examples::session().await?;
    let client = session.client()?;
    let deployment = aoai_examples::chat_deployment();
    let ask = |prompt: &str| -> Result<ChatRequest, Box<dyn Error>> {
        Ok(ChatRequest::new(vec![ChatMessage::system("Answer with the order as JSON."), ChatMessage::user(prompt)])
            .max_tokens(300)
            .response_format(response_format::<Order>("order")?))
    };

    // 1. A complete answer: why it finished, the filter's verdicts, then the type.
    let response = client.chat(&deployment, &ask("Order two pens and a bottle of ink.")?).await?.into_body();
    describe(&response);
    let order: Order = parse(&response)?;
    println!("valid: {} item(s)", order.items.len());

    // 2. An answer that breaks the schema: every violation, with its JSON path.
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/structured.toml");
    let scripted = Emulator::builder().fixtures(fixtures).start().await?;
    let scripted_client = scripted.client()?;
    let request = ask("Give me order A-17.")?;
    let response = scripted_client.chat("gpt-4o", &request).await?.into_body();
    match parse::<Order>(&response) {
        Err(error @ StructuredError::SchemaViolations { .. }) => {
            println!("{} violation(s):", error.violations().len());
            for violation in error.violations() {
                println!("   at {}: {}", display_path(&violation.instance_path), violation.message);
            }
        }
        other => println!("unexpected: {other:?}"),
    }

    // 3. Repair once: the violations go back to the model as a user message.
    let repaired = aoai_structured::request::<Order, _>(&scripted_client, "gpt-4o", &request).await?;
    println!("repaired after {} requests: {:?}", repaired.attempts, repaired.value);

    // 4. Answers no repair fixes.
    let response = client.chat(&deployment, &ask("Order a pen.")?.max_tokens(5)).await?.into_body();
    describe(&response);
    if let Err(error @ StructuredError::Truncated { .. }) = parse::<Order>(&response) {
        println!("not repairable ({}): {error}", error.is_repairable());
    }
    let response = scripted_client.chat("gpt-4o", &ask("An order that gets filtered.")?).await?.into_body();
    describe(&response);
    if let Err(error @ StructuredError::ContentFiltered { .. }) = parse::<Order>(&response) {
        println!("not repairable ({}): {error}; kept {:?}", error.is_repairable(), error.content().unwrap_or(""));
    }
    Ok(())
}

/// The finish reason and the filter results of a response.
fn describe(response: &ChatResponse) {
    let reason = response.finish_reason();
    let meaning = match reason {
        Some(FinishReason::Stop) => "complete",
        Some(FinishReason::Length) => "cut by max_tokens",
        Some(FinishReason::ContentFilter) => "cut by the content filter",
        Some(FinishReason::ToolCalls) => "tool calls",
        _ => "unknown",
    };
    println!("finish reason {}: {meaning}", reason.map_or("-", |reason| reason.as_str()));
    for prompt in response.prompt_filter_results.iter().flatten() {
        if let Some(results) = &prompt.content_filter_results {
            println!("   prompt filter: {}", if results.is_filtered() { "blocked" } else { "passed" });
        }
    }
    for choice in &response.choices {
        if let Some(results) = &choice.content_filter_results {
            let filtered: Vec<String> =
                results.filtered_categories().iter().map(|verdict| verdict.category.to_string()).collect();
            println!(
                "   answer filter: {}",
                if filtered.is_empty() { "passed".to_owned() } else { filtered.join(", ") }
            );
        }
    }
}

fn display_path(pointer: &str) -> &str {
    if pointer.is_empty() { "/" } else { pointer }
}
