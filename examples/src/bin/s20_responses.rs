//! Responses API (Azure's current generation, the successor of chat
//! completions and of the retired Assistants API): an answer, a stream, a
//! chained follow-up, a structured output and a function tool.
//!
//! ```text
//! cargo run -p aoai-examples --bin s20_responses
//! ```
//!
//! The calls go to the resource-scoped `/openai/v1/responses` (or
//! `/openai/responses?api-version=…` on a classic endpoint); the deployment is
//! the `model` of the body. A stored response (the default) can be continued
//! with `previous_response_id`, so the service keeps the conversation.

use std::io::Write;
use std::process::ExitCode;

use aoai_core::responses::{
    InputItem, ResponseEvent, ResponseObject, ResponseRequest, ResponseTool, ResponseToolChoice, TextFormat,
};
use aoai_core::{Client, ResponsesApi};
use futures_util::StreamExt;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

/// The structured answer of part 4.
#[derive(Debug, Deserialize, JsonSchema)]
struct Trip {
    city: String,
    days: u32,
    sights: Vec<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    aoai_examples::exit_any(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    // The configured endpoint, or the embedded emulator; keep `session` alive while `client` is used.
    let session = aoai_examples::session().await?;
    let client = session.client()?;
    let deployment = aoai_examples::chat_deployment();

    // 1. One answer.
    let request = ResponseRequest::new("My name is Ada. Suggest a name for a lighthouse.")
        .instructions("Answer in two sentences.")
        .max_output_tokens(200);
    let first = client.create_response(&deployment, &request).await?;
    println!("1. answer ({}, {}): {}", first.body.id, first.body.status, first.body.output_text());
    print_usage(&first.body);

    // 2. A chained follow-up: the service supplies the earlier turn.
    let follow_up = ResponseRequest::new("What did I say before?").previous_response_id(first.body.id.clone());
    let second = client.create_response(&deployment, &follow_up).await?;
    println!("2. follow-up of {}: {}", first.body.id, second.body.output_text());

    // 3. A stream of typed events; no [DONE]: it ends at response.completed.
    let mut stream = client.create_response_stream(&deployment, &ResponseRequest::new("Describe a river.")).await?;
    print!("3. streamed: ");
    let mut deltas = 0;
    let mut last = None;
    while let Some(event) = stream.next().await {
        let event = event?;
        match &event.event {
            ResponseEvent::OutputTextDelta { delta, .. } => {
                deltas += 1;
                print!("{delta}");
                let _ = std::io::stdout().flush();
            }
            ResponseEvent::Completed(response) => last = Some(response.status.clone()),
            _ => {}
        }
    }
    println!(
        "\n   {deltas} deltas, ended {}, last sequence number {:?}",
        last.map_or("-".into(), |status| status.to_string()),
        stream.last_sequence_number()
    );

    // 4. Structured output: a strict JSON schema made from a Rust type.
    let schema = aoai_structured::schema_for::<Trip>()?;
    let request = ResponseRequest::new("Plan a short trip to Lisbon.")
        .text_format(TextFormat::json_schema(schema.name(), schema.schema().clone()));
    let answer = client.create_response(&deployment, &request).await?;
    let trip: Trip = serde_json::from_str(&answer.body.output_text())?;
    println!("4. structured: {} for {} day(s), {} sight(s)", trip.city, trip.days, trip.sights.len());

    // 5. A function tool: the model asks, we run it, the model answers with the result.
    let answer = function_round(&client, &deployment).await?;
    println!("5. with the tool's result: {}", answer.output_text());
    Ok(())
}

async fn function_round(client: &Client, deployment: &str) -> Result<ResponseObject, Box<dyn std::error::Error>> {
    let tool = ResponseTool::function(
        "get_weather",
        "Current weather for a city",
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false}),
    );
    let request = ResponseRequest::new("What is the weather in Paris?")
        .tools(vec![tool.clone()])
        .tool_choice(ResponseToolChoice::function("get_weather"));
    let asked = client.create_response(deployment, &request).await?.body;
    let mut outputs = Vec::new();
    for call in asked.function_calls() {
        let arguments: serde_json::Value = serde_json::from_str(&call.arguments)?;
        println!("5. the model calls {}({arguments})", call.name);
        let result = json!({"city": arguments["city"], "temperature_c": 18, "sky": "clear"});
        outputs.push(InputItem::function_call_output(call.call_id.clone(), result.to_string()));
    }
    // Through the trait, as a layer (cache, guard, metrics) would see it.
    let api: &dyn ResponsesApi = client;
    let request = ResponseRequest::new(outputs).previous_response_id(asked.id.clone()).tools(vec![tool]);
    Ok(api.create_response(deployment, &request).await?.body)
}

fn print_usage(response: &ResponseObject) {
    if let Some(usage) = &response.usage {
        println!(
            "   usage: {} input, {} output, {} total tokens",
            usage.input_tokens, usage.output_tokens, usage.total_tokens
        );
    }
    for filter in response.content_filters.iter().flatten() {
        let verdicts =
            filter.content_filter_results.hate.as_ref().map_or("-".to_owned(), |hate| format!("{:?}", hate.severity));
        println!("   {} filter: blocked {}, hate {verdicts}", filter.source_type, filter.blocked);
    }
}
