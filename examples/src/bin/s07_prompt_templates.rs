//! Guide section 7, prompt templates: a library of TOML templates, rendered
//! with checked variables, their generation settings applied, then sent.
//!
//! ```text
//! cargo run -p aoai-examples --bin s07_prompt_templates
//! ```
//!
//! The templates live in `examples/prompts/` (one `*.toml` file each; the
//! format is in [`aoai_structured::template`]); the path is fixed at build
//! time, so the program runs from any directory. A template's variables are
//! checked twice: the syntax when it is built or loaded, the values when it
//! is rendered (a missing or an unknown variable is an error, never an empty
//! hole in the prompt). Each template carries its [`GenerationSettings`],
//! the guide's configuration object; a caller may override them.

use std::error::Error;
use std::process::ExitCode;

use aoai_structured::{GenerationSettings, PromptTemplate, TemplateLibrary};
use schemars::JsonSchema;
use serde::Deserialize;

/// The templates shipped with the examples.
const PROMPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/prompts");

/// The answer of the `classify_ticket` template.
#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)] // Read through `Debug`.
struct Ticket {
    category: Category,
    urgent: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Category {
    Billing,
    Outage,
    Account,
    Other,
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

    // 1. The library: every `*.toml` file of the directory, checked at load time.
    let library = TemplateLibrary::load_dir(PROMPTS)?;
    println!("loaded {} templates: {}", library.len(), library.names().collect::<Vec<_>>().join(", "));
    let summarize = library.get("summarize").ok_or("no template `summarize`")?;
    println!("summarize: variables {}", summarize.variables().collect::<Vec<_>>().join(", "));

    // 2. Variables are checked when rendering...
    let error = summarize.render([("text", "Rivers flow.")]).err().ok_or("rendered without every variable")?;
    println!("missing variables: {error}");
    let error = summarize
        .render([("audience", "kids"), ("n_words", "10"), ("text", "Rivers flow."), ("tone", "warm")])
        .err()
        .ok_or("rendered with an unknown variable")?;
    println!("unknown variable: {error}");
    // ...and their syntax when building.
    let error =
        PromptTemplate::builder("broken").user("Hello {{name").build().err().ok_or("built a broken template")?;
    println!("syntax: {error}");

    // 3. Render a request: roles as written, the template's settings applied.
    let text = "Azure OpenAI throttles a deployment when it exceeds its tokens-per-minute quota; \
                clients should honour the retry-after header and back off.";
    let request = summarize.render_request([("audience", "new engineers"), ("n_words", "25"), ("text", text)])?;
    let roles: Vec<&str> = request.messages.iter().map(|message| message.role()).collect();
    println!("roles: {}", roles.join(", "));
    println!(
        "settings: temperature {:?}, max_tokens {:?}, seed {:?}",
        request.temperature, request.max_tokens, request.seed
    );
    // A caller's settings override the template's, field by field.
    let request = GenerationSettings::new().temperature(0.7).apply(request);
    println!("overridden: temperature {:?}, max_tokens {:?}", request.temperature, request.max_tokens);
    let response = client.chat(&deployment, &request).await?.into_body();
    println!(
        "summary (finish reason {}): {}",
        response.finish_reason().map_or("-", |reason| reason.as_str()),
        response.text().unwrap_or("(no text)")
    );

    // 4. A template with few-shot messages, answered as a Rust type.
    let classify = library.get("classify_ticket").ok_or("no template `classify_ticket`")?;
    let request = classify.render_request([("product", "Contoso Cloud"), ("ticket", "Nothing loads since 9:00!")])?;
    let ticket = aoai_structured::request::<Ticket, _>(&client, &deployment, &request).await?;
    println!("ticket: {:?} ({} message(s) sent)", ticket.value, request.messages.len());
    Ok(())
}
