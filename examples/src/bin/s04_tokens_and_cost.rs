//! Guide section 4, tokens and cost: count, estimate and truncate offline, then
//! price what a real call used.
//!
//! ```text
//! cargo run -p aoai-examples --bin s04_tokens_and_cost
//! ```
//!
//! Everything up to the live call runs without a service: the encodings are
//! embedded in the binary. The live call then compares the estimate with the
//! `usage` the service reports (which is what is billed) and prices it with
//! [`PriceTable`]. It goes to the configured endpoint, or with nothing
//! configured to the embedded emulator (see `aoai_examples::session`).

use std::process::ExitCode;

use aoai_core::Result;
use aoai_core::chat::{ChatMessage, ChatRequest, Tool, Usage};
use aoai_core::tokens::{DEFAULT_PRICES_AS_OF, Price, PriceTable, Tokenizer};
use serde_json::json;

#[tokio::main]
async fn main() -> ExitCode {
    aoai_examples::exit(run().await)
}

async fn run() -> Result<()> {
    let deployment = aoai_examples::chat_deployment();
    // The encoding follows the model name; a deployment named after its model
    // (`gpt-4o`, `gpt-35-turbo`) picks the right one, others get o200k_base.
    let tokenizer = Tokenizer::for_model(&deployment);
    println!("deployment {deployment}: encoding {}", tokenizer.encoding());

    // 1. Text.
    for text in
        ["Hello, world!", "Größenwahn ist ansteckend.", "東京は日本の首都です。", "fn main() { println!(\"hi\"); }"]
    {
        println!("{:>3} tokens  {text}", tokenizer.count(text));
    }
    let ids = tokenizer.encode("tiktoken is great!");
    println!("ids of \"tiktoken is great!\": {ids:?}");
    let long_text = "Azure OpenAI counts tokens, not characters. ".repeat(200);
    match tokenizer.count_up_to(&long_text, 500) {
        Some(count) => println!("the long text fits in 500 tokens ({count})"),
        None => println!("the long text needs more than 500 tokens ({} in all)", tokenizer.count(&long_text)),
    }

    // 2. Truncation: keep the head of a document, or the tail of a log.
    let head = tokenizer.truncate(&long_text, 12);
    let tail = tokenizer.truncate_end(&long_text, 12);
    println!("first 12 tokens: {head:?}");
    println!("last 12 tokens:  {tail:?} ({} tokens)", tokenizer.count(tail));

    // 3. Chat messages and tools: framing and tool definitions cost tokens too.
    let messages = vec![
        ChatMessage::system("You are a concise assistant. Answer in one sentence."),
        ChatMessage::user("Why is the sky blue?"),
    ];
    let weather = Tool::function(
        "get_weather",
        "Current weather for a city.",
        json!({"type": "object", "properties": {"city": {"type": "string", "description": "City name"}}, "required": ["city"]}),
    );
    let text_only: usize = messages.iter().filter_map(ChatMessage::text).map(|text| tokenizer.count(&text)).sum();
    println!(
        "messages: {} tokens of text, {} with framing; the tool adds {}",
        text_only,
        tokenizer.count_messages(&messages),
        tokenizer.count_tools(std::slice::from_ref(&weather))
    );
    let request = ChatRequest::new(messages).max_tokens(60);
    // What Azure charges against the deployment's tokens-per-minute quota at admission.
    let estimate = tokenizer.estimate_request(&request);
    let with_tool = tokenizer.estimate_request(&request.clone().tool(weather));
    println!(
        "estimate: {} prompt + {} max output = {} (with the tool: {})",
        estimate.prompt_tokens, estimate.max_output_tokens, estimate.total, with_tool.total
    );

    // 4. Cost: list prices per million tokens, keyed by model-name prefix.
    let mut prices = PriceTable::default();
    // Data-zone and regional deployments cost more: override what you pay.
    prices.insert("my-finetune", Price::new(3.3, 3.3, 13.2));
    let worst_case = Usage::new(estimate.prompt_tokens, estimate.max_output_tokens);
    match prices.estimate_cost(&deployment, &worst_case) {
        Some(cost) => {
            println!("at most ${:.6} for this request (list prices as of {DEFAULT_PRICES_AS_OF})", cost.total())
        }
        None => println!("no list price for `{deployment}`; prices are looked up by model name"),
    }

    // 5. The live call: the configured endpoint, or the embedded emulator,
    // which counts `usage` with the same tokenizer.
    let session = aoai_examples::session().await?;
    let client = session.client()?;
    let response = client.chat(&deployment, &request).await?;
    println!("answer: {}", response.text().unwrap_or("(no text)"));
    let Some(usage) = &response.usage else {
        println!("the server reported no usage");
        return Ok(());
    };
    println!(
        "usage: {} prompt (estimated {}), {} completion, {} cached",
        usage.prompt_tokens,
        estimate.prompt_tokens,
        usage.completion_tokens,
        usage.cached_tokens()
    );
    // Price by the model the response names (`gpt-4o-2024-11-20`), not the deployment.
    match prices.estimate_cost(&response.model, usage) {
        Some(cost) => println!(
            "cost on {}: ${:.6} (input ${:.6}, cached ${:.6}, output ${:.6})",
            response.model,
            cost.total(),
            cost.input,
            cost.cached_input,
            cost.output
        ),
        None => println!("no price for model `{}`: add one with PriceTable::insert", response.model),
    }
    Ok(())
}
