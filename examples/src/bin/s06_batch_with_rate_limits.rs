//! Guide section 6, batch with rate limits: run a JSONL file of chat and
//! embeddings requests (Azure Batch format) at a deployment's quota with
//! `aoai-batch`, with nothing lost: one line per item, malformed lines
//! reported by number, and a journal that makes a second run a resume.
//!
//! ```text
//! AZURE_OPENAI_DEPLOYMENT=gpt-4o-mini AOAI_EXAMPLE_TPM=30000 \
//!     cargo run -p aoai-examples --bin s06_batch_with_rate_limits
//! ```
//!
//! The quota is yours to state (`AOAI_EXAMPLE_TPM`, default 30,000 tokens
//! per minute with Azure's 6 requests per minute per 1,000 tokens): the
//! scheduler admits a request only when Azure would, so the run draws no
//! 429s, and a request larger than the whole quota fails at once. The
//! same run from the command line is `aoai batch run INPUT -o OUTPUT --tpm N`.

use std::process::ExitCode;
use std::sync::Arc;

use aoai_batch::Scheduler;
use aoai_batch::limiter::QuotaSpec;
use aoai_batch::run::{RunConfig, Runner};
use serde_json::json;

#[tokio::main]
async fn main() -> ExitCode {
    aoai_examples::exit_any(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    // The configured endpoint, or the embedded emulator; keep `session` alive while `client` is used.
    let session = aoai_examples::session().await?;
    let client = session.client()?;
    let chat = aoai_examples::chat_deployment();
    let embedding = aoai_examples::embedding_deployment();
    let tpm = aoai_examples::setting("AOAI_EXAMPLE_TPM").and_then(|text| text.parse().ok()).unwrap_or(30_000);

    // An input file: 12 questions, 8 texts to embed, one broken line, and one
    // request whose output budget exceeds the whole quota.
    let dir = std::env::temp_dir().join(format!("aoai-s06-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let input = dir.join("input.jsonl");
    let mut lines = Vec::new();
    for index in 0..12 {
        lines.push(json!({"custom_id": format!("q{index}"), "method": "POST", "url": "/chat/completions",
            "body": {"model": chat, "max_tokens": 60,
                "messages": [{"role": "user", "content": format!("Name a river in country number {index}.")}]}}));
    }
    for index in 0..8 {
        lines.push(json!({"custom_id": format!("e{index}"), "method": "POST", "url": "/embeddings",
            "body": {"model": embedding, "input": format!("document number {index}")}}));
    }
    lines.push(json!({"custom_id": "too-big", "method": "POST", "url": "/chat/completions",
        "body": {"model": chat, "max_tokens": tpm + 1, "messages": [{"role": "user", "content": "Write a novel."}]}}));
    let mut text: String = lines.iter().map(|line| format!("{line}\n")).collect();
    text.push_str("{\"custom_id\": \"broken\", \"method\": \n");
    std::fs::write(&input, text)?;

    // One scheduler over both deployments, each with the stated quota.
    let spec = QuotaSpec::from_tpm(tpm);
    let scheduler =
        Scheduler::builder(client.time().clone()).deployment(&chat, spec).deployment(&embedding, spec).build()?;
    let gate = Arc::new(scheduler);
    let output = dir.join("output.jsonl");
    let config = || RunConfig::new(&input, &output).quota(spec.tokens_per_minute(), spec.requests_per_minute());

    let report = Runner::new(&client, gate.clone(), config()).run().await?;
    println!(
        "{} items: {} succeeded, failed {:?}, {} malformed line(s); {} requests, {} answered 429",
        report.items, report.succeeded, report.failed, report.malformed, report.requests_sent, report.rate_limited
    );
    println!(
        "tokens: {} charged at admission in {:.2} s (the quota allows {tpm} in any minute), {} prompt + {} completion billed",
        report.charged_tokens, report.elapsed_seconds, report.prompt_tokens, report.completion_tokens
    );
    let errors = std::fs::read_to_string(dir.join("output.errors.jsonl"))?;
    for line in errors.lines() {
        let value: serde_json::Value = serde_json::from_str(line)?;
        let who = value.get("custom_id").and_then(|id| id.as_str()).map_or_else(
            || format!("line {}", value.get("line").and_then(serde_json::Value::as_u64).unwrap_or(0)),
            str::to_owned,
        );
        println!("error file: {who}: {}", value.pointer("/error/code").and_then(|code| code.as_str()).unwrap_or("?"));
    }
    let answered = std::fs::read_to_string(&output)?.lines().count();
    println!("output file: {answered} line(s), one per succeeded item");

    // Running again with `resume` finds every item done and sends nothing.
    let again = Runner::new(&client, gate, config().resume(true)).run().await?;
    println!("resumed: {} line(s) already recorded, {} request(s) sent", again.resumed, again.requests_sent);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
