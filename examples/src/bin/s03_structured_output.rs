//! Guide section 3, structured output: a Rust type becomes a strict JSON
//! schema, the request asks for it, and the answer comes back as that type.
//!
//! ```text
//! cargo run -p aoai-examples --bin s03_structured_output
//! ```
//!
//! 1. [`schema_for`] derives the schema Azure accepts with `strict: true`:
//!    every object closed (`additionalProperties: false`), every property
//!    required, `Option` fields nullable, enums as `enum`/`anyOf`.
//! 2. [`aoai_structured::request`] sends it as `response_format` and parses
//!    the answer: refusal, `finish_reason`, JSON, the schema (locally too),
//!    then serde. The same value also comes from a stream ([`parse_stream`]).
//! 3. The answers that are not a `Review`: a token limit that cuts the JSON
//!    ([`StructuredError::Truncated`]) and a refusal
//!    ([`StructuredError::Refusal`], from a scripted emulator: a model
//!    refuses only when it must, so it is hard to ask for one).

use std::error::Error;
use std::process::ExitCode;

use aoai_core::chat::{ChatMessage, ChatRequest};
use aoai_emulator::Emulator;
use aoai_structured::{StructuredError, parse, parse_stream, response_format, schema_for};
use schemars::JsonSchema;
use serde::Deserialize;

/// What the model extracts from a product review.
#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)] // Read through `Debug`.
struct Review {
    /// The product reviewed.
    product: String,
    sentiment: Sentiment,
    /// Good points, in the reviewer's words.
    pros: Vec<String>,
    /// Bad points, in the reviewer's words.
    cons: Vec<String>,
    /// The reviewer's name, if given.
    reviewer: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Sentiment {
    Positive,
    Mixed,
    Negative,
}

const REVIEW: &str = "The kettle boils fast and looks great, but the lid sticks. -- Ana";

#[tokio::main]
async fn main() -> ExitCode {
    aoai_examples::exit_any(run().await)
}

async fn run() -> Result<(), Box<dyn Error>> {
    // The configured endpoint, or the embedded emulator; keep `session` alive while `client` is used.
    let session = aoai_examples::session().await?;
    let client = session.client()?;
    let deployment = aoai_examples::chat_deployment();

    // 1. The type's strict schema, built once and cached.
    let schema = schema_for::<Review>()?;
    println!("strict schema {}: required {}", schema.name(), schema.schema()["required"]);
    println!("   additionalProperties: {}", schema.schema()["additionalProperties"]);
    println!("   reviewer: {}", schema.schema()["properties"]["reviewer"]["type"]);

    // 2. Ask for a `Review`, get a `Review`.
    let request = ChatRequest::new(vec![ChatMessage::system("Extract the review as JSON."), ChatMessage::user(REVIEW)])
        .max_tokens(400)
        .seed(3)
        .response_format(response_format::<Review>("review")?);
    let answer = aoai_structured::request::<Review, _>(&client, &deployment, &request).await?;
    println!("typed value after {} request(s): {:?}", answer.attempts, answer.value);
    let streamed: Review = parse_stream(client.chat_stream(&deployment, &request).await?).await?;
    println!("streamed, then parsed: {} pro(s), {} con(s)", streamed.pros.len(), streamed.cons.len());

    // 3. A token limit too small for the JSON: the answer is cut, and says so.
    let response = client.chat(&deployment, &request.clone().max_tokens(8)).await?.into_body();
    match parse::<Review>(&response) {
        Err(StructuredError::Truncated { partial }) => {
            println!("truncated (finish_reason length): kept {:?}; raise max_tokens", partial.unwrap_or_default());
        }
        other => println!("unexpected: {other:?}"),
    }

    // A refusal is `message.refusal`, not content: a scripted emulator plays the model.
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/structured.toml");
    let scripted = Emulator::builder().fixtures(fixtures).start().await?;
    let refused = request.messages(vec![ChatMessage::user("How do I pick a lock?")]);
    let response = scripted.client()?.chat("gpt-4o", &refused).await?.into_body();
    match parse::<Review>(&response) {
        Err(StructuredError::Refusal { refusal }) => println!("refusal (message.refusal): {refusal}"),
        other => println!("unexpected: {other:?}"),
    }
    Ok(())
}
