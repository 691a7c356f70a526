//! `aoai chat`.

use aoai_core::chat::{ChatMessage, ChatRequest};
use clap::Args;
use futures_util::StreamExt;

use crate::{Failure, print, session, verdict};

/// Options for `aoai chat`.
#[derive(Debug, Args)]
pub(crate) struct ChatArgs {
    /// Deployment to use (default: AZURE_OPENAI_DEPLOYMENT).
    #[arg(long, short = 'd', env = "AZURE_OPENAI_DEPLOYMENT")]
    deployment: Option<String>,
    /// A system message.
    #[arg(long, short = 's')]
    system: Option<String>,
    /// Print the answer token by token as it arrives.
    #[arg(long)]
    stream: bool,
    /// Print the full response JSON (with --stream: one JSON chunk per line).
    #[arg(long)]
    json: bool,
    /// Largest number of tokens to generate.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    max_tokens: Option<u32>,
    /// The prompt.
    #[arg(required = true)]
    prompt: Vec<String>,
}

pub(crate) async fn run(args: ChatArgs) -> Result<(), Failure> {
    let session = session(args.deployment.as_deref(), "gpt-4o").await?;
    let deployment = session.deployment(args.deployment, "gpt-4o")?;
    let client = &session.client;
    let mut messages = Vec::new();
    if let Some(system) = args.system {
        messages.push(ChatMessage::system(system));
    }
    messages.push(ChatMessage::user(args.prompt.join(" ")));
    let mut request = ChatRequest::new(messages);
    if let Some(max) = args.max_tokens {
        request = request.max_tokens(max);
    }
    if args.stream {
        stream(client, &deployment, request, args.json).await
    } else {
        let response = match client.chat(&deployment, &request).await {
            Err(error) if rejects_max_tokens(&error) => client.chat(&deployment, &reasoning_form(request)).await?,
            other => other?,
        };
        if args.json {
            let json = serde_json::to_string_pretty(&response.body)
                .map_err(|error| Failure::Other(format!("cannot print the response: {error}")))?;
            print(&format!("{json}\n"))?;
        } else {
            let text = response.text().or_else(|| response.choices.first().and_then(|c| c.message.refusal.as_deref()));
            print(&format!("{}\n", text.unwrap_or("")))?;
        }
        let first = response.choices.first();
        match verdict::finish(
            first.and_then(|choice| choice.finish_reason.as_ref()),
            first.and_then(|choice| choice.content_filter_results.as_deref()),
        ) {
            Some(line) => Err(Failure::Filtered(line)),
            None => Ok(()),
        }
    }
}

async fn stream(client: &aoai_core::Client, deployment: &str, request: ChatRequest, json: bool) -> Result<(), Failure> {
    let mut stream = match client.chat_stream(deployment, &request).await {
        Err(error) if rejects_max_tokens(&error) => client.chat_stream(deployment, &reasoning_form(request)).await?,
        other => other?,
    };
    let mut wrote_text = false;
    let mut end = verdict::StreamEnd::default();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        for choice in chunk.choices.iter().filter(|choice| choice.index == 0) {
            end.observe(choice.finish_reason.as_ref(), choice.content_filter_results.as_deref());
        }
        if json {
            let line = serde_json::to_string(&chunk)
                .map_err(|error| Failure::Other(format!("cannot print a chunk: {error}")))?;
            print(&format!("{line}\n"))?;
            continue;
        }
        for choice in chunk.choices.iter().filter(|choice| choice.index == 0) {
            if let Some(text) = choice.delta.as_ref().and_then(|delta| delta.content.as_deref()) {
                wrote_text |= !text.is_empty();
                print(text)?;
            }
        }
    }
    if !json && wrote_text {
        print("\n")?;
    }
    match end.finish() {
        Some(line) => Err(Failure::Filtered(line)),
        None => Ok(()),
    }
}

/// Reasoning models reject `max_tokens` with `unsupported_parameter`.
fn rejects_max_tokens(error: &aoai_core::Error) -> bool {
    error.as_api().is_some_and(|api| api.code() == Some("unsupported_parameter") && api.param() == Some("max_tokens"))
}

fn reasoning_form(mut request: ChatRequest) -> ChatRequest {
    if let Some(max) = request.max_tokens.take() {
        request.max_completion_tokens = Some(max);
    }
    request
}
