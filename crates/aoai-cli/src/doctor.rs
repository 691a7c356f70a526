//! `aoai doctor`: check the configuration, then make the validation call.
//!
//! The validation call is the guide's: a one-token chat completion on the
//! configured deployment, which proves endpoint, credential, API version and
//! deployment together. Every problem is said in plain words; no key or token
//! is ever printed.

use aoai_core::chat::{ChatMessage, ChatRequest};
use aoai_core::config::{AuthSetting, Config};
use aoai_core::error::ApiErrorKind;
use aoai_core::routing::Endpoint;
use aoai_core::{Client, Error};

use crate::{Failure, print};

pub(crate) async fn run(deployment: Option<String>) -> Result<(), Failure> {
    let config = match Config::from_env_if_configured() {
        Ok(Some(config)) => config,
        Ok(None) => return offline(deployment).await,
        Err(error) => {
            print(&format!("configuration: PROBLEM\n  {}: {}\n", error.setting, error.problem))?;
            return Err(Failure::Usage("configuration is incomplete".to_owned()));
        }
    };
    let mut report = String::from("configuration: ok\n");
    match &config.endpoint {
        Endpoint::Azure { api_version, .. } => {
            report.push_str(&format!(
                "  endpoint: Azure OpenAI at {} (api-version {api_version})\n",
                config.endpoint.host()
            ));
        }
        Endpoint::AzureV1 { .. } => {
            report.push_str(&format!("  endpoint: Azure OpenAI v1 API at {}\n", config.endpoint.host()));
        }
        _ => report.push_str(&format!("  endpoint: OpenAI-compatible server at {}\n", config.endpoint.host())),
    }
    let auth = match &config.auth {
        AuthSetting::ApiKey(_) => "api-key header (key set, not shown)",
        AuthSetting::Bearer(_) => "bearer token (set, not shown)",
        _ => "none",
    };
    report.push_str(&format!("  auth: {auth}\n"));
    let deployment = deployment.filter(|name| !name.trim().is_empty());
    let Some(deployment) = deployment else {
        report.push_str(
            "validation call: SKIPPED\n  no deployment: pass --deployment NAME or set AZURE_OPENAI_DEPLOYMENT\n",
        );
        print(&report)?;
        return Err(Failure::Usage("no deployment to validate".to_owned()));
    };
    report.push_str(&format!("  deployment: {deployment}\n"));
    print(&report)?;

    let client = Client::from_config(config)?;
    match validation_call(&client, &deployment).await {
        Ok(response) => {
            let mut lines = format!(
                "validation call: ok\n  model: {}\n  request id: {}\n",
                if response.model.is_empty() { "(not reported)" } else { response.model.as_str() },
                response.meta.request_id.as_deref().unwrap_or("(none)")
            );
            if let Some(region) = &response.meta.region {
                lines.push_str(&format!("  region: {region}\n"));
            }
            let limits = &response.meta.rate_limits;
            if let (Some(requests), Some(tokens)) = (limits.remaining_requests, limits.remaining_tokens) {
                lines.push_str(&format!("  remaining this minute: {requests} requests, {tokens} tokens\n"));
            }
            print(&lines)
        }
        Err(error) => {
            print(&format!(
                "validation call: PROBLEM\n  {}\n  {}\n",
                explain(&error, &deployment),
                error.summary_line()
            ))?;
            Err(Failure::Other("the validation call failed".to_owned()))
        }
    }
}

/// The guide's validation call: a one-token chat completion (reasoning
/// models, which refuse `max_tokens`, get `max_completion_tokens`).
async fn validation_call(
    client: &Client,
    deployment: &str,
) -> Result<aoai_core::Response<aoai_core::chat::ChatResponse>, Error> {
    let request = ChatRequest::new(vec![ChatMessage::user("ping")]).max_tokens(1);
    match client.chat(deployment, &request).await {
        Err(error) if error.as_api().is_some_and(|api| api.code() == Some("unsupported_parameter")) => {
            let request = ChatRequest::new(vec![ChatMessage::user("ping")]).max_completion_tokens(16);
            client.chat(deployment, &request).await
        }
        other => other,
    }
}

/// Nothing configured: every command runs against the embedded emulator.
/// Says so, says how to point them at Azure, and makes the validation call
/// against an embedded emulator to show the offline path works (exit 0:
/// the commands will work, offline).
async fn offline(deployment: Option<String>) -> Result<(), Failure> {
    // Azure settings without an endpoint are most likely a mistake: the
    // commands ignore them.
    let dotenv = aoai_core::config::read_dotenv(std::path::Path::new(".env")).unwrap_or_default();
    let stray: Vec<&str> =
        ["AZURE_OPENAI_API_KEY", "AZURE_OPENAI_KEY", "AZURE_OPENAI_AD_TOKEN", "AZURE_OPENAI_API_VERSION"]
            .into_iter()
            .filter(|name| {
                std::env::var(name).ok().or_else(|| dotenv.get(*name).cloned()).is_some_and(|v| !v.trim().is_empty())
            })
            .collect();
    if !stray.is_empty() {
        print(&format!(
            "configuration: PROBLEM\n  AZURE_OPENAI_ENDPOINT: is not set, but {} is: commands ignore it and run \
             against the embedded emulator; set AZURE_OPENAI_ENDPOINT=https://YOUR-RESOURCE.openai.azure.com\n",
            stray.join(" and ")
        ))?;
        return Err(Failure::Usage("AZURE_OPENAI_ENDPOINT is not set".to_owned()));
    }
    print(
        "configuration: none, so commands run offline against the embedded emulator\n           no AZURE_OPENAI_ENDPOINT (nor OPENAI_BASE_URL or OPENAI_API_KEY) is set in the environment or ./.env, so\n           `aoai chat`, `aoai rag`, `aoai batch run` and the rest each start a local Azure-compatible emulator:\n           answers are simulated and nothing leaves this machine.\n\
         to use Azure OpenAI, set (in the environment or ./.env):\n           AZURE_OPENAI_ENDPOINT=https://YOUR-RESOURCE.openai.azure.com\n           AZURE_OPENAI_API_KEY=...   (or AZURE_OPENAI_AD_TOKEN=... for a Microsoft Entra ID token)\n           AZURE_OPENAI_DEPLOYMENT=YOUR-CHAT-DEPLOYMENT\n\
         then run `aoai doctor` again to check them. (An OpenAI-compatible server: OPENAI_BASE_URL and OPENAI_API_KEY.)\n",
    )?;
    let deployment = deployment.filter(|name| !name.trim().is_empty());
    let session = crate::session(deployment.as_deref(), "gpt-4o").await?;
    let deployment = deployment.unwrap_or_else(|| "gpt-4o".to_owned());
    match validation_call(&session.client, &deployment).await {
        Ok(_) => print(&format!("validation call (embedded emulator, deployment {deployment}): ok\n")),
        Err(error) => {
            print(&format!("validation call (embedded emulator): PROBLEM\n  {}\n", error.summary_line()))?;
            Err(Failure::Other("the embedded emulator's validation call failed".to_owned()))
        }
    }
}

/// What an error most likely means for someone setting up.
fn explain(error: &Error, deployment: &str) -> String {
    if let Some(api) = error.as_api() {
        return match api.kind() {
            ApiErrorKind::Authentication => {
                "the key or token was refused: check AZURE_OPENAI_API_KEY belongs to this resource, or that the token is for https://cognitiveservices.azure.com and not expired".to_owned()
            }
            ApiErrorKind::PermissionDenied => {
                "the identity is known but lacks access: grant it the 'Cognitive Services OpenAI User' role on the resource".to_owned()
            }
            ApiErrorKind::NotFound => format!(
                "not found: is there a deployment named {deployment:?} on this resource, and is AZURE_OPENAI_ENDPOINT the resource's endpoint? (deployments can take a few minutes to appear)"
            ),
            ApiErrorKind::RateLimited => "the deployment is at its rate limit right now; the configuration itself works".to_owned(),
            ApiErrorKind::QuotaExhausted => "the deployment has no quota left; raise its tokens-per-minute in the portal".to_owned(),
            ApiErrorKind::BadRequest if api.code() == Some("OperationNotSupported") => {
                format!("deployment {deployment:?} is not a chat model")
            }
            ApiErrorKind::BadRequest => "the service rejected the request: is AZURE_OPENAI_API_VERSION supported by this resource?".to_owned(),
            ApiErrorKind::ContentFilter => "the content filter blocked the validation prompt (unexpected); the configuration works".to_owned(),
            ApiErrorKind::Server => "the service had an internal error; try again shortly".to_owned(),
            _ => "the service answered with an error".to_owned(),
        };
    }
    match error {
        Error::Connection(_) => {
            "cannot reach the endpoint: check AZURE_OPENAI_ENDPOINT's host name and your network".to_owned()
        }
        Error::Timeout(_) => "the endpoint did not answer in time".to_owned(),
        Error::Credential(_) => "the credential could not produce a token".to_owned(),
        Error::Decode(_) => {
            "the endpoint answered, but not like Azure OpenAI: is AZURE_OPENAI_ENDPOINT right?".to_owned()
        }
        _ => "the call failed".to_owned(),
    }
}
