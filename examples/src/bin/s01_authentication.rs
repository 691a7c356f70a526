//! Guide section 1, authentication: the ways to authorise requests, each
//! followed by one chat call.
//!
//! ```text
//! cargo run -p aoai-examples --bin s01_authentication            # env, key and token in turn
//! cargo run -p aoai-examples --bin s01_authentication -- env     # as the environment configures
//! cargo run -p aoai-examples --bin s01_authentication -- key     # api-key, built in code
//! cargo run -p aoai-examples --bin s01_authentication -- token   # a static Entra ID token
//! cargo run -p aoai-examples --bin s01_authentication -- cli     # refreshing token from the Azure CLI
//! ```
//!
//! - `env`: the examples' switch, `aoai_examples::session`, reads
//!   `AZURE_OPENAI_ENDPOINT` and `AZURE_OPENAI_API_KEY` (or
//!   `AZURE_OPENAI_AD_TOKEN`, or `OPENAI_BASE_URL`/`OPENAI_API_KEY`) from the
//!   environment or `./.env`, as [`Client::from_env`] does.
//! - `key`: the builder with `.api_key(..)`, sent as the `api-key` header.
//! - `token`: `.bearer_token(..)` with `AZURE_OPENAI_AD_TOKEN`, sent as
//!   `Authorization: Bearer`. Such a token expires after about an hour.
//! - `cli`: a [`RefreshingCredential`] over a custom [`TokenProvider`] that asks
//!   `az account get-access-token` (run `az login` first; your identity needs the
//!   *Cognitive Services OpenAI User* role). The token is cached and fetched
//!   again five minutes before it expires, and once more after a 401.
//!
//! With nothing configured every mode talks to the embedded emulator: `key`
//! sends the key the emulator hands out, and `token` sends the same string as
//! a bearer token (the emulator accepts any non-empty key or token; the
//! headers are the ones Azure gets). `cli` still needs the Azure CLI. Without
//! an argument a mode whose variable is not set is skipped with a note.
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
use aoai_core::config::AuthSetting;
use aoai_core::error::{ConfigError, CredentialError};
use aoai_core::{Client, Error, Result, Secret};
use aoai_examples::Session;

#[tokio::main]
async fn main() -> ExitCode {
    aoai_examples::exit(run().await)
}

async fn run() -> Result<()> {
    // The configured endpoint, or the embedded emulator; keep it alive while its clients are used.
    let session = aoai_examples::session().await?;
    let modes = match std::env::args().nth(1) {
        Some(mode) => vec![mode],
        None => vec!["env".to_owned(), "key".to_owned(), "token".to_owned()],
    };
    let deployment = aoai_examples::chat_deployment();
    let request = ChatRequest::new(vec![ChatMessage::user("Say hello in five words.")]).max_tokens(30);
    for mode in &modes {
        let (client, sent_as) = match client_for(&session, mode) {
            Ok(client) => client,
            Err(Error::Config(missing)) if modes.len() > 1 => {
                println!("auth mode: {mode}: skipped, {}: {}", missing.setting, missing.problem);
                continue;
            }
            Err(error) => return Err(error),
        };
        println!("auth mode: {mode} ({sent_as}), endpoint host: {}", client.endpoint().host());
        let response = client.chat(&deployment, &request).await?;
        println!("  {}", response.text().unwrap_or("(no text)"));
        println!(
            "  model {}, request id {}, attempts {}",
            response.model,
            response.meta.request_id.as_deref().unwrap_or("-"),
            response.meta.attempts
        );
    }
    Ok(())
}

/// A client for one auth mode, and how it sends its credential.
fn client_for(session: &Session, mode: &str) -> Result<(Client, &'static str)> {
    // In your code: `Endpoint::azure("https://my-resource.openai.azure.com")?`.
    let endpoint = session.endpoint();
    Ok(match mode {
        // Everything from the environment (the examples' switch adds nothing else).
        "env" => {
            let sent_as = match session.config().auth {
                AuthSetting::ApiKey(_) => "api-key header",
                AuthSetting::Bearer(_) => "Authorization: Bearer",
                _ => "no credential",
            };
            (session.client()?, sent_as)
        }
        // A resource key, from code.
        "key" => {
            (Client::builder(endpoint).api_key(secret(session, "AZURE_OPENAI_API_KEY")?).build()?, "api-key header")
        }
        // A bearer token you obtained elsewhere (it is not refreshed).
        "token" => (
            Client::builder(endpoint).bearer_token(secret(session, "AZURE_OPENAI_AD_TOKEN")?).build()?,
            "Authorization: Bearer, static",
        ),
        // A token fetched on demand, cached and refreshed before it expires.
        "cli" => (
            Client::builder(endpoint)
                .credential(RefreshingCredential::new(AzureCliTokens).refresh_before(Duration::from_secs(300)))
                .build()?,
            "Authorization: Bearer, refreshed",
        ),
        other => {
            return Err(
                ConfigError::new("argument", format!("unknown mode `{other}`: use env, key, token or cli")).into()
            );
        }
    })
}

/// A key or token from the environment or `./.env`, or an error naming it.
/// With the embedded emulator: the key it hands out (it accepts any
/// non-empty key or token), so no real secret goes to it.
fn secret(session: &Session, name: &str) -> Result<Secret> {
    match session.emulator() {
        Some(emulator) => Ok(emulator.api_key()),
        None => aoai_examples::setting(name)
            .map(Secret::new)
            .ok_or_else(|| ConfigError::new(name, "not set (this auth mode needs it)").into()),
    }
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
/// `entra_client(&session, DeveloperToolsCredential::new(None)?)`.
#[cfg(feature = "entra")]
#[expect(dead_code, reason = "a snippet to copy: calling it needs a credential from azure_identity")]
fn entra_client(
    session: &Session,
    azure: std::sync::Arc<dyn azure_core::credentials::TokenCredential>,
) -> Result<Client> {
    Client::builder(session.endpoint()).credential(aoai_core::auth::entra::credential(azure)).build()
}
