//! Shared helpers of the example programs in `src/bin/`, one per guide section.
//!
//! # One switch: a configured endpoint, or the embedded emulator
//!
//! Every program starts with [`session`], the one place that decides where
//! requests go:
//!
//! - **Configured** (`AZURE_OPENAI_ENDPOINT`, or `OPENAI_BASE_URL` /
//!   `OPENAI_API_KEY`, in the environment or `./.env`): requests go there,
//!   with the key or token configured beside it ([`Config::from_env_if_configured`]).
//! - **Nothing configured**: an [`aoai_emulator`] is started in-process on a
//!   free loopback port, and one line on stderr says so, worded like the
//!   `aoai` command line's:
//!
//!   ```text
//!   s17_streaming: no endpoint configured (set AZURE_OPENAI_ENDPOINT for Azure); using the embedded emulator at http://127.0.0.1:41234
//!   ```
//!
//!   The emulator serves the deployments the examples use ([`chat_deployment`]
//!   backed by `gpt-4o`, [`embedding_deployment`] backed by
//!   `text-embedding-3-small`) with Azure's wire format, content filter and
//!   error bodies, and a small latency ([`OFFLINE_TIME_TO_FIRST_TOKEN`],
//!   [`OFFLINE_TIME_PER_TOKEN`]) so streams arrive token by token and timeouts
//!   behave as they would against a real service.
//! - **Partly or wrongly configured** (an endpoint without a key, an endpoint
//!   that is not a URL, an empty variable): an error naming the variable to
//!   fix. The emulator is never a silent fallback for a broken configuration.
//!
//! The [`Session`] owns the emulator: keep it alive as long as its clients are
//! used (bind it to a variable in `main`/`run`; dropping it stops the server).
//!
//! ```no_run
//! # async fn run() -> aoai_core::Result<()> {
//! use aoai_core::chat::{ChatMessage, ChatRequest};
//!
//! let session = aoai_examples::session().await?; // configured endpoint, or the emulator
//! let client = session.client()?;
//! let request = ChatRequest::new(vec![ChatMessage::user("Say hello.")]).max_tokens(20);
//! let response = client.chat(&aoai_examples::chat_deployment(), &request).await?;
//! println!("{}", response.text().unwrap_or("(no text)"));
//! # Ok(())
//! # }
//! ```
//!
//! To point the examples at Azure instead:
//!
//! ```text
//! export AZURE_OPENAI_ENDPOINT=https://my-resource.openai.azure.com
//! export AZURE_OPENAI_API_KEY=...                                # or AZURE_OPENAI_AD_TOKEN=...
//! export AZURE_OPENAI_DEPLOYMENT=gpt-4o                          # default gpt-4o
//! export AZURE_OPENAI_EMBEDDING_DEPLOYMENT=text-embedding-3-small # default
//! cargo run -p aoai-examples --bin s01_authentication
//! ```
//!
//! The other helpers: [`Session::client_builder`] for programs that add
//! metrics, retries or timeouts; [`chat_deployment`] and
//! [`embedding_deployment`]; [`setting`] for any other variable; and [`exit`],
//! which prints an error as one line and exits non-zero.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use aoai_core::config::{AuthSetting, Config, read_dotenv};
use aoai_core::error::ConfigError;
use aoai_core::routing::{Endpoint, validate_deployment};
use aoai_core::{Client, ClientBuilder, Result};
use aoai_emulator::config::LatencyModel;
use aoai_emulator::{DeploymentConfig, Emulator, EmulatorHandle};

/// The chat deployment used when `AZURE_OPENAI_DEPLOYMENT` is not set.
pub const DEFAULT_CHAT_DEPLOYMENT: &str = "gpt-4o";

/// The embeddings deployment used when `AZURE_OPENAI_EMBEDDING_DEPLOYMENT` is not set.
pub const DEFAULT_EMBEDDING_DEPLOYMENT: &str = "text-embedding-3-small";

/// How long the embedded emulator takes before the first token.
pub const OFFLINE_TIME_TO_FIRST_TOKEN: Duration = Duration::from_millis(20);

/// How long the embedded emulator takes per further token.
pub const OFFLINE_TIME_PER_TOKEN: Duration = Duration::from_millis(2);

/// A setting from the process environment, else from `./.env`, trimmed;
/// `None` when it is unset or empty.
///
/// This is the precedence [`Config::from_env`] uses. A `.env` file that
/// cannot be read counts as absent here; [`session`] reports it.
#[must_use]
pub fn setting(name: &str) -> Option<String> {
    let value = match std::env::var(name) {
        Ok(value) => Some(value),
        Err(_) => read_dotenv(Path::new(".env")).ok().and_then(|vars| vars.get(name).cloned()),
    };
    value.map(|value| value.trim().to_owned()).filter(|value| !value.is_empty())
}

/// Where the examples send requests: the configured endpoint, or the
/// embedded emulator when nothing is configured. See the [crate] docs.
///
/// Dropping it stops the emulator, so keep it for as long as its clients are
/// used.
#[derive(Debug)]
#[must_use = "dropping the session stops the embedded emulator"]
pub struct Session {
    config: Config,
    emulator: Option<EmulatorHandle>,
}

/// The examples' switch: the configured endpoint, or — with nothing
/// configured — an embedded emulator started in-process, announced by one
/// line on stderr.
///
/// # Errors
///
/// A partial or wrong configuration ([`Config::from_env_if_configured`]), or
/// an unreadable `./.env`: an error naming the variable to fix. When nothing
/// is configured: a deployment name the emulator cannot serve (naming its
/// variable), or an emulator that cannot start.
pub async fn session() -> Result<Session> {
    if let Some(config) = Config::from_env_if_configured()? {
        return Ok(Session { config, emulator: None });
    }
    let (chat, embedding) = (chat_deployment(), embedding_deployment());
    for (variable, name) in [("AZURE_OPENAI_DEPLOYMENT", &chat), ("AZURE_OPENAI_EMBEDDING_DEPLOYMENT", &embedding)] {
        validate_deployment(name).map_err(|error| ConfigError::new(variable, error.message))?;
    }
    let latency = LatencyModel::new(OFFLINE_TIME_TO_FIRST_TOKEN, OFFLINE_TIME_PER_TOKEN);
    let emulator = Emulator::builder()
        .deployment(DeploymentConfig::new(chat, DEFAULT_CHAT_DEPLOYMENT).latency(latency))
        .deployment(DeploymentConfig::new(embedding, DEFAULT_EMBEDDING_DEPLOYMENT).latency(latency))
        .start()
        .await
        .map_err(|error| {
            ConfigError::new(
                "AZURE_OPENAI_ENDPOINT",
                format!("not set, and the embedded emulator cannot start: {}", with_causes(&error)),
            )
        })?;
    eprintln!(
        "{}: no endpoint configured (set AZURE_OPENAI_ENDPOINT for Azure); using the embedded emulator at {}",
        program_name(),
        emulator.base_url()
    );
    let mut config = Config::new(emulator.endpoint(), AuthSetting::ApiKey(emulator.api_key()));
    // As `Config::from_env` does for a configured endpoint.
    config.default_deployment = setting("AZURE_OPENAI_DEPLOYMENT");
    Ok(Session { config, emulator: Some(emulator) })
}

impl Session {
    /// Where requests go and how they are authorised (for the emulator: its
    /// loopback endpoint and a key it accepts).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The endpoint requests go to.
    #[must_use]
    pub fn endpoint(&self) -> Endpoint {
        self.config.endpoint.clone()
    }

    /// The embedded emulator, when nothing is configured.
    #[must_use]
    pub fn emulator(&self) -> Option<&EmulatorHandle> {
        self.emulator.as_ref()
    }

    /// Whether requests go to the embedded emulator.
    #[must_use]
    pub fn is_offline(&self) -> bool {
        self.emulator.is_some()
    }

    /// A client builder with the endpoint, the credential and any default
    /// deployment set; add metrics, retries or timeouts before `build()`.
    pub fn client_builder(&self) -> ClientBuilder {
        let mut builder = Client::builder(self.endpoint()).shared_credential(self.config.auth.credential());
        if let Some(deployment) = &self.config.default_deployment {
            builder = builder.default_deployment(deployment.clone());
        }
        builder
    }

    /// A client with the default settings.
    ///
    /// # Errors
    ///
    /// Only if the HTTP client cannot be built.
    pub fn client(&self) -> Result<Client> {
        self.client_builder().build()
    }
}

/// The chat deployment: `AZURE_OPENAI_DEPLOYMENT`, default [`DEFAULT_CHAT_DEPLOYMENT`].
#[must_use]
pub fn chat_deployment() -> String {
    setting("AZURE_OPENAI_DEPLOYMENT").unwrap_or_else(|| DEFAULT_CHAT_DEPLOYMENT.to_owned())
}

/// The embeddings deployment: `AZURE_OPENAI_EMBEDDING_DEPLOYMENT`, default
/// [`DEFAULT_EMBEDDING_DEPLOYMENT`].
#[must_use]
pub fn embedding_deployment() -> String {
    setting("AZURE_OPENAI_EMBEDDING_DEPLOYMENT").unwrap_or_else(|| DEFAULT_EMBEDDING_DEPLOYMENT.to_owned())
}

/// Ends a program: success, or the error's
/// [`summary_line`](aoai_core::Error::summary_line) on stderr and a non-zero
/// exit code.
#[must_use]
pub fn exit(result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{}", error.summary_line());
            ExitCode::FAILURE
        }
    }
}

/// [`exit`] for programs whose errors come from several crates: an
/// `aoai_core::Error` prints its summary line, any other error its message
/// and causes on one line.
#[must_use]
pub fn exit_any(result: std::result::Result<(), Box<dyn std::error::Error>>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => match error.downcast::<aoai_core::Error>() {
            Ok(error) => exit(Err(*error)),
            Err(error) => {
                eprintln!("error: {}", with_causes(&*error));
                ExitCode::FAILURE
            }
        },
    }
}

/// The running program's file name without extension (`s17_streaming`).
fn program_name() -> String {
    std::env::args_os()
        .next()
        .and_then(|path| Path::new(&path).file_stem().map(|stem| stem.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "aoai-examples".to_owned())
}

/// An error and its causes on one line: `cannot listen on 127.0.0.1:0: Address in use`.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        line.push_str(": ");
        line.push_str(&inner.to_string());
        cause = inner.source();
    }
    line
}
