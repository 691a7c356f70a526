//! Guide section 9, dynamic prompts: build each request from its context
//! (a template, its variables and settings, the tools the caller may use),
//! let the model work with the tools, then pull a typed record out of the
//! conversation with a forced tool call.
//!
//! ```text
//! cargo run -p aoai-examples --bin s09_dynamic_prompts
//! ```
//!
//! For each support ticket:
//!
//! 1. the customer's tier picks the template's tone, the generation settings
//!    and the tools on offer (enterprise customers may be escalated);
//! 2. [`ToolLoop`] runs the tool calls until the model answers;
//! 3. [`aoai_structured::extract`] forces a call of `record_resolution`, whose
//!    parameters are the strict schema of [`Resolution`], and returns that
//!    type, validated.

use std::error::Error;
use std::process::ExitCode;

use aoai_core::chat::{ChatMessage, ToolChoice};
use aoai_structured::{GenerationSettings, PromptTemplate, TemplateError};
use aoai_tools::{ToolContext, ToolError, ToolLoop, ToolRegistry, typed_tool};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

#[tokio::main]
async fn main() -> ExitCode {
    aoai_examples::exit_any(run().await)
}

/// One incoming ticket: the context the prompt is built from.
struct Ticket {
    customer: &'static str,
    tier: &'static str,
    question: &'static str,
}

/// Arguments of `lookup_order`.
#[derive(Debug, Deserialize, JsonSchema)]
struct OrderQuery {
    /// The order number, e.g. A-1001.
    order_id: String,
}

/// Arguments of `escalate`.
#[derive(Debug, Deserialize, JsonSchema)]
struct Escalation {
    /// Why a human should take over.
    reason: String,
}

/// How the ticket was resolved: the typed record extracted at the end.
#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)] // Fields are read through `Debug`.
struct Resolution {
    /// What the ticket is about.
    category: Category,
    /// Whether the customer gets money back.
    refund: bool,
    /// A one-sentence reply to send to the customer.
    reply: String,
    /// The order the ticket is about, when there is one.
    order_id: Option<String>,
}

/// Ticket categories.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Category {
    Delivery,
    Billing,
    Product,
    Other,
}

/// The template: its variables are checked when it is built and when it is rendered.
fn template() -> Result<PromptTemplate, TemplateError> {
    PromptTemplate::builder("support_ticket")
        .description("A support agent answering one ticket")
        .system(
            "You are a {{tone}} support agent for Contoso. The customer is {{customer}} ({{tier}} tier). {{policy}}",
        )
        .user("{{question}}")
        .build()
}

/// What a ticket's context decides: the template's variables, the settings and the tools.
struct Context {
    variables: Vec<(&'static str, String)>,
    settings: GenerationSettings,
    tools: ToolRegistry,
}

/// The tier decides tone, policy, settings and tools.
fn context(ticket: &Ticket) -> Result<Context, Box<dyn Error>> {
    let enterprise = ticket.tier == "enterprise";
    let (tone, policy) = if enterprise {
        ("formal", "Refund without asking when an order is late; escalate anything you cannot solve.")
    } else {
        ("friendly", "Offer a refund only when the order is lost.")
    };
    let variables = vec![
        ("tone", tone.to_owned()),
        ("customer", ticket.customer.to_owned()),
        ("tier", ticket.tier.to_owned()),
        ("policy", policy.to_owned()),
        ("question", ticket.question.to_owned()),
    ];
    let settings = GenerationSettings::new()
        .temperature(if enterprise { 0.2 } else { 0.7 })
        .max_tokens(if enterprise { 400 } else { 200 })
        .seed(9);

    let mut tools = ToolRegistry::new();
    tools.register(typed_tool(
        "lookup_order",
        "Status of an order by its number",
        |query: OrderQuery, _context: ToolContext| async move {
            let id = query.order_id.trim().to_owned();
            if id.is_empty() {
                return Err(ToolError::failed("an order number is required"));
            }
            let late = id.bytes().map(u32::from).sum::<u32>() % 2 == 0;
            Ok(json!({"order_id": id, "status": if late { "late" } else { "in transit" }, "eta_days": 3}))
        },
    ))?;
    if enterprise {
        tools.register(typed_tool(
            "escalate",
            "Hand the ticket to a human agent",
            |escalation: Escalation, _context: ToolContext| async move {
                Ok(json!({"queue": "enterprise", "reason": escalation.reason, "ticket": "T-42"}))
            },
        ))?;
    }
    Ok(Context { variables, settings, tools })
}

async fn run() -> Result<(), Box<dyn Error>> {
    // The configured endpoint, or the embedded emulator; keep `session` alive while `client` is used.
    let session = aoai_examples::session().await?;
    let client = session.client()?;
    let deployment = aoai_examples::chat_deployment();
    let template = template()?;
    println!("template {} with variables: {}", template.name(), template.variables().collect::<Vec<_>>().join(", "));

    // A missing variable is an error before anything is sent.
    match template.render([("question", "Where is my order?")]) {
        Ok(_) => return Err("rendering without every variable should fail".into()),
        Err(error) => println!("render with one variable: {error}"),
    }

    let tickets = [
        Ticket { customer: "Fabrikam", tier: "enterprise", question: "Order A-1001 is late again. What now?" },
        Ticket { customer: "Ana", tier: "basic", question: "Has my order B-77 shipped?" },
    ];
    for ticket in &tickets {
        let Context { variables, settings, tools } = context(ticket)?;
        let request = settings.apply(template.render_request(variables)?);
        println!(
            "\nticket from {} ({}): temperature {:?}, max_tokens {:?}, tools {}",
            ticket.customer,
            ticket.tier,
            request.temperature,
            request.max_tokens,
            tools.names().collect::<Vec<_>>().join(", ")
        );

        // The model calls the tools it needs, then answers.
        let output = ToolLoop::new(tools)
            .tool_choice(ToolChoice::Required)
            .max_rounds(4)
            .run(&client, &deployment, request.clone())
            .await?;
        for call in output.tool_calls() {
            println!("   tool {}({}) -> {}", call.name, call.arguments, call.content());
        }
        println!("   answer after {} round(s): {}", output.rounds.len(), output.text().unwrap_or("-"));

        // The whole conversation, then a forced call that returns the typed record.
        let mut transcript = request;
        transcript.messages = output.messages;
        transcript.messages.push(ChatMessage::user("Record how this ticket was resolved."));
        transcript.tools = None;
        transcript.tool_choice = None;
        let resolution: Resolution = aoai_structured::extract(
            &client,
            &deployment,
            transcript,
            "record_resolution",
            "Record the ticket's resolution",
        )
        .await?;
        println!("   resolution: {resolution:?}");
        println!("   usage: {} tokens over the tool loop", output.usage.total_tokens);
    }
    Ok(())
}
