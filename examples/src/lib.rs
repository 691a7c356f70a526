//! Shared helpers of the example programs in `src/bin/`, one per guide section.
//!
//! Every program gets its client from [`client`] (or [`client_builder`] when it
//! adds metrics, retries or timeouts), its deployments from
//! [`chat_deployment`] and [`embedding_deployment`], and ends through
//! [`exit`], which prints an error as one line and exits non-zero.
//!
//! [`config_if_configured`] is the one place that decides where requests go:
//! today the environment (and `./.env`), see [`aoai_core::config`].
//!
//! ```text
//! export AZURE_OPENAI_ENDPOINT=https://my-resource.openai.azure.com
//! export AZURE_OPENAI_API_KEY=...
//! export AZURE_OPENAI_DEPLOYMENT=gpt-4o                      # default gpt-4o
//! export AZURE_OPENAI_EMBEDDING_DEPLOYMENT=text-embedding-3-small
//! cargo run -p aoai-examples --bin s01_authentication
//! ```

use std::path::Path;
use std::process::ExitCode;

use aoai_core::config::{Config, read_dotenv};
use aoai_core::{Client, ClientBuilder, Result};

/// The chat deployment used when `AZURE_OPENAI_DEPLOYMENT` is not set.
pub const DEFAULT_CHAT_DEPLOYMENT: &str = "gpt-4o";

/// The embeddings deployment used when `AZURE_OPENAI_EMBEDDING_DEPLOYMENT` is not set.
pub const DEFAULT_EMBEDDING_DEPLOYMENT: &str = "text-embedding-3-small";

/// A setting from the process environment, else from `./.env`, trimmed;
/// `None` when it is unset or empty.
///
/// This is the precedence [`Config::from_env`] uses. A `.env` file that
/// cannot be read counts as absent here; [`config`] reports it.
#[must_use]
pub fn setting(name: &str) -> Option<String> {
    let value = match std::env::var(name) {
        Ok(value) => Some(value),
        Err(_) => read_dotenv(Path::new(".env")).ok().and_then(|vars| vars.get(name).cloned()),
    };
    value.map(|value| value.trim().to_owned()).filter(|value| !value.is_empty())
}

/// Where the examples send requests, or `None` when nothing is configured.
///
/// This is the single switch for the examples: it reads the environment and
/// `./.env` ([`Config::from_env_if_configured`]). A wrong value (an endpoint
/// that is not a URL, an empty key) is an error that names the variable.
pub fn config_if_configured() -> Result<Option<Config>> {
    Ok(Config::from_env_if_configured()?)
}

/// Where the examples send requests; an error naming the missing variable
/// when nothing is configured.
pub fn config() -> Result<Config> {
    match config_if_configured()? {
        Some(config) => Ok(config),
        // Reading again yields the error that says what to set.
        None => Ok(Config::from_env()?),
    }
}

/// A client builder for [`config`]: endpoint, credential and default
/// deployment are set; add metrics, retries or timeouts before `build()`.
pub fn client_builder() -> Result<ClientBuilder> {
    Ok(builder_for(config()?))
}

/// A client builder for a given configuration.
pub fn builder_for(config: Config) -> ClientBuilder {
    let mut builder = Client::builder(config.endpoint.clone()).shared_credential(config.auth.credential());
    if let Some(deployment) = config.default_deployment {
        builder = builder.default_deployment(deployment);
    }
    builder
}

/// The client every example uses, from [`config`].
pub fn client() -> Result<Client> {
    client_builder()?.build()
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
