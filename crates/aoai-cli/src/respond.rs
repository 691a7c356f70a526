//! `aoai respond` and `aoai responses get|delete|cancel`: the Responses API.
//!
//! `aoai respond` prints the answer (streamed with `--stream`), then the
//! files it cites as numbered sources; `--json` prints the final response
//! JSON instead. The response id goes to stderr (`response: resp_…`) so a
//! script can chain `--previous`. With nothing configured each command starts
//! its own embedded emulator, so ids do not outlive the command: run
//! `aoai emulator` and point `AZURE_OPENAI_ENDPOINT` at it to chain offline.

use aoai_core::responses::{
    Annotation, PollOptions, ResponseEvent, ResponseObject, ResponseRequest, ResponseStatus, ResponseTool,
};
use clap::{Args, Subcommand};
use futures_util::StreamExt;

use crate::{Failure, print, session};

/// Options for `aoai respond`.
#[derive(Debug, Args)]
pub(crate) struct RespondArgs {
    /// Deployment to use (default: AZURE_OPENAI_DEPLOYMENT).
    #[arg(long, short = 'd', env = "AZURE_OPENAI_DEPLOYMENT")]
    deployment: Option<String>,
    /// Instructions (a system message) for this response.
    #[arg(long, short = 'i')]
    instructions: Option<String>,
    /// Continue from a stored response (its id, as printed on stderr).
    #[arg(long, value_name = "ID")]
    previous: Option<String>,
    /// Answer from a vector store with file_search (repeat for several).
    #[arg(long = "vector-store", value_name = "ID")]
    vector_stores: Vec<String>,
    /// Do not store the response (it cannot be chained or read back).
    #[arg(long)]
    no_store: bool,
    /// Run in the background and poll until it ends (stored).
    #[arg(long, conflicts_with = "no_store")]
    background: bool,
    /// Print the answer as it arrives.
    #[arg(long)]
    stream: bool,
    /// Print the final response JSON instead of the text.
    #[arg(long)]
    json: bool,
    /// Largest number of output tokens.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    max_output_tokens: Option<u32>,
    /// The prompt.
    #[arg(required = true)]
    prompt: Vec<String>,
}

/// `aoai responses …`.
#[derive(Debug, Subcommand)]
pub(crate) enum ResponsesCommand {
    /// Print a stored response.
    Get(IdArgs),
    /// Delete a stored response.
    Delete(IdArgs),
    /// Cancel a background response.
    Cancel(IdArgs),
}

/// A response id and the output form.
#[derive(Debug, Args)]
pub(crate) struct IdArgs {
    /// The response id (`resp_…`).
    id: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(args: RespondArgs) -> Result<(), Failure> {
    let session = session(args.deployment.as_deref(), "gpt-4o").await?;
    let deployment = session.deployment(args.deployment.clone(), "gpt-4o")?;
    let client = &session.client;
    let mut request = ResponseRequest::new(args.prompt.join(" "));
    if let Some(instructions) = &args.instructions {
        request = request.instructions(instructions.clone());
    }
    if let Some(previous) = &args.previous {
        request = request.previous_response_id(previous.clone());
    }
    if !args.vector_stores.is_empty() {
        request = request.tools(vec![ResponseTool::file_search(args.vector_stores.iter().cloned())]);
    }
    if args.no_store {
        request = request.store(false);
    }
    if args.background {
        request = request.background(true);
    }
    if let Some(max) = args.max_output_tokens {
        request = request.max_output_tokens(max);
    }
    let response = if args.stream {
        let mut stream = client.create_response_stream(&deployment, &request).await?;
        let mut accumulator = aoai_core::responses::ResponseAccumulator::new();
        let mut announced = false;
        let mut wrote = false;
        while let Some(event) = stream.next().await {
            let event = event?;
            accumulator.push(&event);
            if !announced && let Some(id) = stream.response_id() {
                eprintln!("response: {id}");
                announced = true;
            }
            if !args.json
                && let ResponseEvent::OutputTextDelta { delta, .. } = &event.event
            {
                wrote |= !delta.is_empty();
                print(delta)?;
            }
        }
        if wrote {
            print("\n")?;
        }
        let response = accumulator.into_response();
        if args.json {
            print_json(&response)?;
        } else {
            print_sources(&response)?;
        }
        return finish(&response);
    } else {
        let created = client.create_response(&deployment, &request).await?.body;
        eprintln!("response: {}", created.id);
        if created.status.is_terminal() {
            created
        } else {
            eprintln!("aoai: {} is {}; polling until it ends", created.id, created.status);
            client.wait_for_response(&created.id, &PollOptions::default()).await?.body
        }
    };
    if args.json {
        print_json(&response)?;
    } else {
        let text = response.output_text();
        if !text.is_empty() {
            print(&format!("{text}\n"))?;
        } else if let Some(refusal) = response.refusal() {
            print(&format!("{refusal}\n"))?;
        }
        print_sources(&response)?;
    }
    finish(&response)
}

/// The exit status of a finished response: failed is an error, incomplete a note.
fn finish(response: &ResponseObject) -> Result<(), Failure> {
    match &response.status {
        ResponseStatus::Failed => {
            let (code, message) = response
                .error
                .as_ref()
                .map(|error| (error.code.as_str(), error.message.as_str()))
                .unwrap_or(("", "no error given"));
            Err(Failure::Other(format!("response {} failed: {message} ({code})", response.id)))
        }
        ResponseStatus::Incomplete => {
            let reason = response.incomplete_details.as_ref().map_or("unknown", |details| details.reason.as_str());
            eprintln!("aoai: the response is incomplete ({reason})");
            Ok(())
        }
        ResponseStatus::Cancelled => {
            eprintln!("aoai: the response was cancelled");
            Ok(())
        }
        _ => Ok(()),
    }
}

fn print_json(response: &ResponseObject) -> Result<(), Failure> {
    let json = serde_json::to_string_pretty(response)
        .map_err(|error| Failure::Other(format!("cannot print the response: {error}")))?;
    print(&format!("{json}\n"))
}

/// The files the answer cites, numbered in order of first citation.
fn print_sources(response: &ResponseObject) -> Result<(), Failure> {
    let mut sources: Vec<(&str, &str)> = Vec::new();
    for annotation in response.annotations() {
        if let Annotation::FileCitation(citation) = annotation
            && !sources.iter().any(|(file_id, _)| *file_id == citation.file_id)
        {
            sources.push((&citation.file_id, &citation.filename));
        }
    }
    if sources.is_empty() {
        return Ok(());
    }
    let mut text = String::from("\nSources:\n");
    for (number, (file_id, filename)) in sources.iter().enumerate() {
        text.push_str(&format!("  [{}] {filename} ({file_id})\n", number + 1));
    }
    print(&text)
}

pub(crate) async fn dispatch(command: ResponsesCommand) -> Result<(), Failure> {
    let session = session(None, "gpt-4o").await?;
    let client = &session.client;
    match command {
        ResponsesCommand::Get(args) => {
            let response = client.get_response(&args.id, &[]).await?.body;
            if args.json {
                print_json(&response)
            } else {
                print(&format!("{} {}\n{}\n", response.id, response.status, response.output_text()))?;
                print_sources(&response)
            }
        }
        ResponsesCommand::Delete(args) => {
            let deleted = client.delete_response(&args.id).await?.body;
            if args.json {
                let json = serde_json::to_string_pretty(&deleted)
                    .map_err(|error| Failure::Other(format!("cannot print: {error}")))?;
                print(&format!("{json}\n"))
            } else {
                print(&format!("deleted {}\n", deleted.id))
            }
        }
        ResponsesCommand::Cancel(args) => {
            let response = client.cancel_response(&args.id).await?.body;
            if args.json { print_json(&response) } else { print(&format!("{} {}\n", response.id, response.status)) }
        }
    }
}
