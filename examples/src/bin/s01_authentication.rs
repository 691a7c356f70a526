//! Guide section 1, authentication: four ways to authorise requests, then one chat call.
//!
//! ```text
//! cargo run -p aoai-examples --bin s01_authentication            # from the environment
//! cargo run -p aoai-examples --bin s01_authentication -- key     # api-key, built in code
//! cargo run -p aoai-examples --bin s01_authentication -- token   # a static Entra ID token
//! cargo run -p aoai-examples --bin s01_authentication -- cli     # refreshing token from the Azure CLI
//! ```
//!
//! - `env` (default): [`aoai_core::Client::from_env`] reads `AZURE_OPENAI_ENDPOINT`
//!   and `AZURE_OPENAI_API_KEY` (or `AZURE_OPENAI_AD_TOKEN`, or
//!   `OPENAI_BASE_URL`/`OPENAI_API_KEY`) from the environment or `./.env`.
//! - `key`: the builder with [`Endpoint::azure`] and `.api_key(..)`, sent as the `api-key` header.
//! - `token`: `.bearer_token(..)` with `AZURE_OPENAI_AD_TOKEN`, sent as
//!   `Authorization: Bearer`. Such a token expires after about an hour.
//! - `cli`: a [`RefreshingCredential`] over a custom [`TokenProvider`] that asks
//!   `az account get-access-token` (run `az login` first; your identity needs the
//!   *Cognitive Services OpenAI User* role). The token is cached and fetched
//!   again five minutes before it expires, and once more after a 401.
//!
//! Entra ID with the Azure SDK: enable the `entra` feature of `aoai-core` and
//! pass any `azure_core` `TokenCredential` (`DeveloperToolsCredential`,
//! `ManagedIdentityCredential`, … from `azure_identity`) to
//! `aoai_core::auth::entra::credential(Arc<dyn TokenCredential>)`; see
//! `entra_client` below (compiled with `--features entra`).
//!
//! The chat deployment is `AZURE_OPENAI_DEPLOYMENT` (default `gpt-4o`).

use std::process::{Command, ExitCode};
use std::time::{Duration, SystemTime};

use aoai_core::auth::{AccessToken, COGNITIVE_SERVICES_SCOPE, RefreshingCredential, TokenProvider};
use aoai_core::chat::{ChatMessage, ChatRequest};
use aoai_core::error::{ConfigError, CredentialError};
use aoai_core::routing::Endpoint;
use aoai_core::{Client, Result, Secret};
use aoai_examples::setting;

#[tokio::main]
async fn main() -> ExitCode {
    aoai_examples::exit(run().await)
}

async fn run() -> Result<()> {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "env".to_owned());
    let client = match mode.as_str() {
        // Everything from the environment (the examples' shared helper adds nothing else).
        "env" => aoai_examples::client()?,
        // An Azure resource and its key, from code.
        "key" => Client::builder(Endpoint::azure(&required("AZURE_OPENAI_ENDPOINT")?)?)
            .api_key(required("AZURE_OPENAI_API_KEY")?)
            .build()?,
        // A bearer token you obtained elsewhere (it is not refreshed).
        "token" => Client::builder(Endpoint::azure(&required("AZURE_OPENAI_ENDPOINT")?)?)
            .bearer_token(required("AZURE_OPENAI_AD_TOKEN")?)
            .build()?,
        // A token fetched on demand, cached and refreshed before it expires.
        "cli" => Client::builder(Endpoint::azure(&required("AZURE_OPENAI_ENDPOINT")?)?)
            .credential(RefreshingCredential::new(AzureCliTokens).refresh_before(Duration::from_secs(300)))
            .build()?,
        other => {
            return Err(
                ConfigError::new("argument", format!("unknown mode `{other}`: use env, key, token or cli")).into()
            );
        }
    };
    println!("auth mode: {mode}, endpoint host: {}", client.endpoint().host());

    let deployment = aoai_examples::chat_deployment();
    let request = ChatRequest::new(vec![ChatMessage::user("Say hello in five words.")]).max_tokens(30);
    let response = client.chat(&deployment, &request).await?;
    println!("{}", response.text().unwrap_or("(no text)"));
    println!(
        "model {}, request id {}, attempts {}",
        response.model,
        response.meta.request_id.as_deref().unwrap_or("-"),
        response.meta.attempts
    );
    Ok(())
}

/// A setting that must be present, or an error naming it.
fn required(name: &str) -> Result<String> {
    setting(name).ok_or_else(|| ConfigError::new(name, "not set (this auth mode needs it)").into())
}

/// Tokens from the Azure CLI: `az account get-access-token` for the Cognitive
/// Services scope. Any source of expiring tokens fits the same trait.
#[derive(Debug)]
struct AzureCliTokens;

#[async_trait::async_trait]
impl TokenProvider for AzureCliTokens {
    async fn fetch_token(&self) -> Result<AccessToken, CredentialError> {
        let output = tokio::task::spawn_blocking(|| {
            Command::new("az")
                .args(["account", "get-access-token", "--scope", COGNITIVE_SERVICES_SCOPE])
                .args(["--query", "[accessToken, expires_on]", "--output", "tsv"])
                .output()
        })
        .await
        .map_err(|error| CredentialError::new("the Azure CLI task failed", Some(Box::new(error))))?
        .map_err(|error| {
            CredentialError::new("cannot run `az` (is the Azure CLI installed?)", Some(Box::new(error)))
        })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let reason = stderr.lines().find(|line| !line.trim().is_empty()).unwrap_or("no message");
            return Err(CredentialError::new(format!("`az account get-access-token` failed: {reason}"), None));
        }
        // Two fields, tab- or newline-separated: the token and its expiry in Unix seconds.
        let stdout = String::from_utf8_lossy(&output.stdout);
        let mut fields = stdout.split_whitespace();
        let token = fields.next().unwrap_or_default();
        let expires_on = fields
            .next()
            .and_then(|field| field.parse::<u64>().ok())
            .ok_or_else(|| CredentialError::new("`az` printed no expiry (Azure CLI 2.54 or later is needed)", None))?;
        Ok(AccessToken {
            token: Secret::new(token),
            expires_at: SystemTime::UNIX_EPOCH + Duration::from_secs(expires_on),
        })
    }
}

/// Entra ID through the Azure SDK: any `TokenCredential` becomes a refreshing
/// credential for the Cognitive Services scope. With `azure_identity`:
/// `entra_client(DeveloperToolsCredential::new(None)?)`.
#[cfg(feature = "entra")]
#[expect(dead_code, reason = "a snippet to copy: calling it needs a credential from azure_identity")]
fn entra_client(azure: std::sync::Arc<dyn azure_core::credentials::TokenCredential>) -> Result<Client> {
    Client::builder(Endpoint::azure(&required("AZURE_OPENAI_ENDPOINT")?)?)
        .credential(aoai_core::auth::entra::credential(azure))
        .build()
}
