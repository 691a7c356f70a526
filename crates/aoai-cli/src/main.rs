//! `aoai`: chat, embeddings, token counting, retrieval (`aoai rag`), assistants (`aoai ask`) and a configuration doctor for
//! Azure OpenAI and OpenAI-compatible endpoints.
//!
//! Exit codes: 0 success, 1 an API or transport error, 2 bad usage or configuration, 3 the
//! content filter cut the answer (`aoai chat`, `aoai rag ask`: the text so far is printed).

use std::io::{Read, Write};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod ask;
mod batch;
mod chat;
mod doctor;
mod embed;
mod paths;
mod progress;
mod rag;
mod respond;
mod stores;
mod tokens;
mod verdict;

/// Command line for Azure OpenAI.
#[derive(Debug, Parser)]
#[command(name = "aoai", version, about = "Azure OpenAI from the command line", propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Ask a deployment something and print the answer.
    Chat(chat::ChatArgs),
    /// Print embeddings of the given texts as JSON vectors.
    Embed(embed::EmbedArgs),
    /// Count or truncate tokens.
    #[command(subcommand)]
    Tokens(tokens::TokensCommand),
    /// Check the configuration and make a validation call.
    Doctor(DoctorArgs),
    /// Run JSONL batches at the quota ceiling, or through Azure's Batch API.
    #[command(subcommand)]
    Batch(batch::BatchCommand),
    /// Index files, search them, and answer questions from them with citations.
    #[command(subcommand)]
    Rag(rag::RagCommand),
    /// Ask an assistant: an answer with numbered sources, from vector stores, files or a local index; threads continue with --thread.
    Ask(ask::AskArgs),
    /// Answer a prompt with the Responses API (chain with --previous, search vector stores with --vector-store).
    Respond(respond::RespondArgs),
    /// Read, delete or cancel stored responses.
    #[command(subcommand)]
    Responses(respond::ResponsesCommand),
    /// Upload, list and delete files.
    #[command(subcommand)]
    Files(stores::FilesCommand),
    /// Create, fill, search and delete vector stores (what file_search searches).
    #[command(subcommand, name = "vector-stores")]
    VectorStores(stores::VectorStoresCommand),
    /// Run the local Azure OpenAI-compatible emulator (same options as `aoai-emulator`).
    Emulator(aoai_emulator::cli::EmulatorArgs),
}

/// Options for `aoai doctor`.
#[derive(Debug, Args)]
struct DoctorArgs {
    /// Deployment to validate against (default: AZURE_OPENAI_DEPLOYMENT).
    #[arg(long, short = 'd', env = "AZURE_OPENAI_DEPLOYMENT")]
    deployment: Option<String>,
}

/// How a command failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Bad usage or configuration (exit 2).
    Usage(String),
    /// The service or the transport failed (exit 1).
    Api(aoai_core::Error),
    /// Any other failure (exit 1).
    Other(String),
    /// The content filter cut the answer (exit 3); the line names the
    /// filtered categories. The text so far was printed.
    Filtered(String),
    /// A documented exit code of one command (`aoai batch status`: 4–6),
    /// with the line to end with.
    Exit(u8, String),
}

impl From<aoai_core::Error> for Failure {
    fn from(error: aoai_core::Error) -> Self {
        match error {
            aoai_core::Error::Config(config) => Self::Usage(config.to_string()),
            other => Self::Api(other),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("AOAI_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Ask(args) => ask::run(args).await,
            Command::Batch(command) => batch::dispatch(command).await,
            Command::Chat(args) => chat::run(args).await,
            Command::Rag(command) => rag::dispatch(command).await,
            Command::Respond(args) => respond::run(args).await,
            Command::Responses(command) => respond::dispatch(command).await,
            Command::Files(command) => stores::files(command).await,
            Command::VectorStores(command) => stores::vector_stores(command).await,
            Command::Embed(args) => embed::run(args).await,
            Command::Tokens(command) => tokens::run(command),
            Command::Doctor(args) => doctor::run(args.deployment).await,
            Command::Emulator(args) => {
                aoai_emulator::cli::serve(args).await.map_err(|error| Failure::Other(format!("emulator: {error}")))
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Api(error)) => {
            eprintln!("{}", error.summary_line());
            ExitCode::from(1)
        }
        Err(Failure::Other(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
        Err(Failure::Filtered(line)) => {
            eprintln!("{line}");
            ExitCode::from(verdict::FILTERED_EXIT)
        }
        Err(Failure::Exit(code, line)) => {
            eprintln!("{line}");
            ExitCode::from(code)
        }
    }
}

/// A client for the configured endpoint, or — when no endpoint is configured
/// at all — for an embedded emulator started in-process for this command.
pub(crate) struct Session {
    pub(crate) client: aoai_core::Client,
    /// Keeps the embedded emulator running while the command uses it.
    emulator: Option<aoai_emulator::EmulatorHandle>,
}

impl Session {
    /// Whether this command talks to the embedded emulator (nothing configured).
    pub(crate) fn is_embedded(&self) -> bool {
        self.emulator.is_some()
    }

    /// The deployment from the flag or environment; with the embedded
    /// emulator, `offline_default` when none is named.
    pub(crate) fn deployment(&self, flag: Option<String>, offline_default: &str) -> Result<String, Failure> {
        match flag.filter(|name| !name.trim().is_empty()) {
            Some(name) => Ok(name),
            None if self.emulator.is_some() => Ok(offline_default.to_owned()),
            None => {
                Err(Failure::Usage("no deployment: pass --deployment NAME or set AZURE_OPENAI_DEPLOYMENT".to_owned()))
            }
        }
    }
}

/// The configured client; with nothing configured, the embedded emulator
/// (one line on stderr says so). A partial or wrong configuration is a usage
/// failure that names the variable to fix.
///
/// `named` is the deployment the command will call (flag or
/// `AZURE_OPENAI_DEPLOYMENT`): offline, the emulator serves it too, backed by
/// `model`, besides its default deployments.
pub(crate) async fn session(named: Option<&str>, model: &str) -> Result<Session, Failure> {
    if let Some(config) =
        aoai_core::config::Config::from_env_if_configured().map_err(|error| Failure::Usage(error.to_string()))?
    {
        return Ok(Session { client: aoai_core::Client::from_config(config)?, emulator: None });
    }
    let mut builder = aoai_emulator::Emulator::builder();
    if let Some(name) = named.map(str::trim).filter(|name| !name.is_empty())
        && !aoai_emulator::config::DEFAULT_DEPLOYMENTS.contains(&name)
    {
        for default in aoai_emulator::config::DEFAULT_DEPLOYMENTS {
            builder = builder.deployment(aoai_emulator::DeploymentConfig::azure(default, default));
        }
        builder = builder.deployment(aoai_emulator::DeploymentConfig::azure(name, model));
    }
    let emulator = builder
        .start()
        .await
        .map_err(|error| Failure::Other(format!("cannot start the embedded emulator: {error}")))?;
    eprintln!(
        "aoai: no endpoint configured (set AZURE_OPENAI_ENDPOINT for Azure); using the embedded emulator at {}",
        emulator.base_url()
    );
    Ok(Session { client: emulator.client()?, emulator: Some(emulator) })
}

/// Reads a file, or standard input for `-` or no path.
pub(crate) fn read_input(path: Option<&str>) -> Result<String, Failure> {
    match path {
        None | Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|error| Failure::Other(format!("cannot read standard input: {error}")))?;
            Ok(text)
        }
        Some(path) => {
            std::fs::read_to_string(path).map_err(|error| Failure::Usage(format!("cannot read {path}: {error}")))
        }
    }
}

/// Writes to stdout, treating a closed pipe as the end rather than an error.
pub(crate) fn print(text: &str) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(error) => Err(Failure::Other(format!("cannot write output: {error}"))),
    }
}
